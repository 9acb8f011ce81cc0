/* The candidate's exam page (机考): sign-in, countdown, paper, answer journal, hand-in.
 *
 * Every answer change gets the next sequence number and is written to a journal in
 * localStorage before it is sent; entries leave the journal only when the server has
 * acknowledged (or refused) them. The countdown is the server's remaining_ms counted down
 * with performance.now(); the device clock is never read for the remaining time.
 * Texts from the server are inserted with textContent only; an item's image marker becomes an
 * <img> whose address is the data:image/… the paper itself carries (never markup, never a URL). */
(function () {
  "use strict";

  var API = (document.body && document.body.getAttribute("data-api")) || "/exam/api";
  var HEARTBEAT_MS = 4000;  // a save's answer carries the state too: no heartbeat after one
  var TYPING_DEBOUNCE_MS = 300;   // a pause in typing this long commits the text
  var TYPING_MAX_WAIT_MS = 600;   // continuous typing commits at least this often (+ send < 1 s)
  var REQUEST_TIMEOUT_MS = 10000;
  var SAVE_BATCH = 200;
  var MAX_TEXT = 20000;
  var SEPARATOR = /[;；]/;          // what separates the blanks of a fill answer
  var SEPARATORS = /[;；]/g;
  var TOKEN_KEY = "certify.exam.token";
  var ADMISSION_KEY = "certify.exam.admission";
  var JOURNAL_PREFIX = "certify.exam.journal.";
  var BACKUP_PREFIX = "certify.exam.backup.";  // the backup key and the attempt's secret
  var BACKUP_AFTER_MS = 20000;    // unsaved this long (or offline): offer the answer backup
  var TYPE_NAMES = { single: "单选题", multiple: "多选题", true_false: "判断题", fill: "填空题", matching: "配对题", subjective: "主观题" };

  var $ = function (id) { return document.getElementById(id); };

  // ------------------------------------------------------------------ state
  var token = storageGet(TOKEN_KEY);
  var admission = storageGet(ADMISSION_KEY) || "";
  var journal = null;             // {exam, lastSeq, entries: [{seq, number, value, flagged, client_at}]}
  var serverLastSeq = 0;
  var state = null;               // the last STATE from the server
  var paper = null;
  var questions = [];             // flat, in paper order
  var byNumber = {};              // number -> {q, el, answer: {value, flagged}, attachments: []}
  var current = 0;                // index into questions
  var remainingAt = null;         // {ms, t}: remaining_ms and performance.now() when it arrived
  var startsAt = null;            // same for starts_in_ms
  var paused = false;
  var timeUp = false;
  var online = true;
  var saving = false;
  var saveAgain = false;
  var refusals = [];              // messages of refused entries, shown under the save state
  var heartbeatTimer = null;
  var tickTimer = null;
  var typing = {};                // number -> {debounce, maxWait}
  var composing = false;
  var events = { blur: 0, paste: 0, fullscreen_exit: 0 };
  var eventsSending = false;
  var away = false;
  var wasFullscreen = false;
  var screen_ = null;             // which section is shown
  var handingIn = false;
  var handedInHere = false;       // this page's hand-in was confirmed by the server
  var lastExtra = null;
  var announced = {};

  // ---------------------------------------------------------------- storage
  function storageGet(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function storageSet(key, value) {
    try { window.localStorage.setItem(key, value); return true; } catch (e) { return false; }
  }
  function storageRemove(key) {
    try { window.localStorage.removeItem(key); } catch (e) { /* nothing to do */ }
  }

  function journalKey() { return JOURNAL_PREFIX + admission; }

  function examTag(s) {
    // What identifies the exam the journal's question numbers belong to.
    if (s.session) return String(s.session);
    return String(s.title || "") + "|" + String(s.part_title || "");
  }

  function openJournal() {
    var tag = examTag(state);
    var loaded = null;
    try { loaded = JSON.parse(storageGet(journalKey()) || "null"); } catch (e) { loaded = null; }
    if (loaded && loaded.exam !== tag) {
      // A journal of another exam (e.g. this morning's part): its numbers mean other
      // questions here. Keep it aside, never send it to this exam.
      if (loaded.entries && loaded.entries.length) {
        storageSet(journalKey() + "." + loaded.exam, JSON.stringify(loaded));
      }
      loaded = null;
    }
    if (!loaded || !Array.isArray(loaded.entries)) loaded = { exam: tag, lastSeq: 0, entries: [] };
    loaded.lastSeq = Number(loaded.lastSeq) || 0;
    loaded.entries.sort(function (a, b) { return a.seq - b.seq; });
    journal = loaded;
  }

  function writeJournal() {
    if (!journal) return;
    if (!storageSet(journalKey(), JSON.stringify(journal))) {
      showNotice("本机存储空间不足，答案暂存失败，请举手示意监考老师。", true);
    }
  }

  function clearJournal() {
    storageRemove(journalKey());
    storageRemove(BACKUP_PREFIX + admission);  // nothing left to back up: the secret goes too
    journal = { exam: journal ? journal.exam : "", lastSeq: 0, entries: [] };
  }

  function pendingCount() { return journal ? journal.entries.length : 0; }

  function pendingNumbers() {
    var seen = {};
    (journal ? journal.entries : []).forEach(function (e) { seen[e.number] = true; });
    return Object.keys(seen).length;
  }

  function nextSeq() {
    var seq = Math.max(journal.lastSeq, serverLastSeq) + 1;
    journal.lastSeq = seq;
    return seq;
  }

  // -------------------------------------------------------------------- api
  function api(method, path, body, isForm) {
    var headers = {};
    if (token) headers.Authorization = "Exam " + token;
    var init = { method: method, headers: headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      if (isForm) {
        init.body = body;
      } else {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
    }
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = null;
    if (controller) {
      init.signal = controller.signal;
      timer = setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS);
    }
    return fetch(API + path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = {}; }
        // A proxy's 502/503/504 is the network failing, not the exam server answering.
        var down = response.status === 502 || response.status === 503 || response.status === 504;
        setOnline(!down);
        return { status: down ? 0 : response.status, data: data || {} };
      });
    }, function () {
      setOnline(false);
      return { status: 0, data: {} };
    }).then(function (result) {
      if (timer) clearTimeout(timer);
      if (result.status === 401 && path !== "/sign-in") signedOut();
      return result;
    });
  }

  function errorText(result, fallback) {
    if (result.data && result.data.message_zh) return String(result.data.message_zh);
    if (result.status === 0) return "无法连接考试服务器，请检查网络连接或举手示意监考老师。";
    return fallback || "操作未成功，请举手示意监考老师。";
  }

  function setOnline(value) {
    if (online === value) return;
    online = value;
    renderSaveState();
  }

  // ---------------------------------------------------------------- screens
  function show(name) {
    screen_ = name;
    ["signin", "waiting", "exam", "done", "absent"].forEach(function (id) { $(id).hidden = id !== name; });
    $("handin").hidden = name !== "exam";
    $("fullscreen").hidden = name === "signin";
    document.body.setAttribute("data-screen", name);
  }

  function showSignIn(message) {
    stopHeartbeat();
    show("signin");
    $("candidate").hidden = true;
    $("paused-banner").hidden = true;
    $("timeup-banner").hidden = true;
    if (admission && !$("admission_no").value) $("admission_no").value = admission;
    var error = $("signin-error");
    error.textContent = message || "";
    error.hidden = !message;
    renderSaveState();
    ($("admission_no").value ? $("id_number") : $("admission_no")).focus();
  }

  function signedOut() {
    if (screen_ === "signin") return;
    token = null;
    storageRemove(TOKEN_KEY);
    // The journal stays: it is re-sent after signing in again.
    showSignIn(pendingCount()
      ? "登录已失效，请重新登录。本机暂存的 " + pendingCount() + " 条答案会在登录后自动提交。"
      : "登录已失效（可能已在其他设备登录），请重新登录。");
  }

  // ---------------------------------------------------------------- sign-in
  function deviceLabel() {
    var ua = navigator.userAgent || "";
    var os = /Windows/.test(ua) ? "Windows" : /Mac OS X/.test(ua) ? "macOS" : /Android/.test(ua) ? "Android"
      : /Linux/.test(ua) ? "Linux" : "设备";
    var browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom(e|ium)\//.test(ua) ? "Chrome"
      : /Safari\//.test(ua) ? "Safari" : "浏览器";
    return (os + " · " + browser + " · " + window.screen.width + "×" + window.screen.height).slice(0, 80);
  }

  function onSignIn(event) {
    event.preventDefault();
    var body = {
      admission_no: $("admission_no").value.trim(),
      id_number: $("id_number").value.trim().toUpperCase(),
      room_code: $("room_code").value.trim(),
      device_label: deviceLabel()
    };
    var error = $("signin-error");
    if (!body.admission_no || !body.id_number || !body.room_code) {
      error.textContent = "请填写准考证号、身份证号和考场口令。";
      error.hidden = false;
      return;
    }
    $("signin-submit").disabled = true;
    error.hidden = true;
    var sent = performance.now();
    api("POST", "/sign-in", body).then(function (result) {
      $("signin-submit").disabled = false;
      if (result.status === 200 && result.data.token) {
        paced(performance.now() - sent);
        token = String(result.data.token);
        storageSet(TOKEN_KEY, token);
        var s = result.data.state || {};
        if (result.data.state) lastState = performance.now();  // the state, as a heartbeat's
        var no = (s.candidate && s.candidate.admission_no) || body.admission_no;
        if (no !== admission) { journal = null; paper = null; }
        admission = String(no);
        storageSet(ADMISSION_KEY, admission);
        $("id_number").value = "";
        $("room_code").value = "";
        paper = null;           // answers as the server has them now, the journal laid over
        applyState(s);
        flush();
        return;
      }
      var code = result.data.error;
      var text;
      if (code === "device_in_use") {
        text = "该准考证已在另一台设备上登录。如需更换设备，请举手示意监考老师在监考台上“允许换机”，然后重新登录。";
      } else if (code === "bad_credentials") {
        text = errorText(result, "准考证号、身份证号或考场口令有误，请核对后重试。");
      } else {
        text = errorText(result);
      }
      error.textContent = text;
      error.hidden = false;
    });
  }

  // ------------------------------------------------------------------ state
  function applyState(s) {
    if (!s || typeof s !== "object") return;
    state = s;
    if (typeof s.last_seq === "number") serverLastSeq = Math.max(serverLastSeq, s.last_seq);
    renderCandidate(s);
    var now = performance.now();
    if (typeof s.remaining_ms === "number") remainingAt = { ms: s.remaining_ms, t: now };
    if (typeof s.starts_in_ms === "number") startsAt = { ms: s.starts_in_ms, t: now };
    renderExtra(s.extra_seconds);

    if (s.status === "handed_in") { finish(); return; }
    if (s.status === "absent") { stopHeartbeat(); show("absent"); return; }
    if (!journal) openJournal();
    setPaused(!!s.paused);
    var handin = $("handin");
    handin.disabled = !s.can_hand_in || paused || timeUp;
    handin.title = s.can_hand_in ? "" : (s.handin_in_ms > 0
      ? "还需 " + formatDuration(s.handin_in_ms) + " 才能交卷" : "暂不能交卷");
    startHeartbeat();
    startTicking();
    if (startsAt && startsAt.ms > 0 && !paper) {
      $("waiting-title").textContent = "考试尚未开始";
      show("waiting");
    } else if (!paper) {
      loadPaper();
    } else if (screen_ !== "exam") {
      show("exam");
    }
    tick();
  }

  function renderCandidate(s) {
    var c = s.candidate || {};
    var box = $("candidate");
    box.textContent = "";
    [["姓名", c.name], ["准考证号", c.admission_no], ["考场", c.room], ["座位", c.seat]].forEach(function (pair) {
      if (pair[1] === undefined || pair[1] === null || pair[1] === "") return;
      var span = document.createElement("span");
      var label = document.createElement("span");
      label.className = "label";
      label.textContent = pair[0];
      span.appendChild(label);
      span.appendChild(document.createTextNode(" " + String(pair[1])));
      box.appendChild(span);
    });
    box.hidden = false;
    if (s.title) $("exam-title").textContent = String(s.title);
    $("part-title").textContent = s.part_title ? String(s.part_title) : "";
    document.title = (s.title ? String(s.title) + " · " : "") + "机考";
  }

  function renderExtra(seconds) {
    var extra = Number(seconds) || 0;
    var el = $("timer-extra");
    el.hidden = extra <= 0;
    el.textContent = extra > 0 ? "含延时 " + Math.round(extra / 60) + " 分钟" : "";
    if (lastExtra !== null && extra > lastExtra) {
      showNotice("监考老师已为您延长考试时间 " + Math.round((extra - lastExtra) / 60) + " 分钟。");
    }
    lastExtra = extra;
  }

  function setPaused(value) {
    if (paused !== value) {
      paused = value;
      if (!value) showNotice("考试已恢复，请继续作答。");
    }
    $("paused-banner").hidden = !paused;
    document.body.classList.toggle("is-paused", paused);
    lockInputs();
  }

  function lockInputs() {
    var locked = paused || timeUp;
    $("answer-area").disabled = locked;
    $("flag").disabled = locked;
    if (locked) $("handin").disabled = true;
  }

  // -------------------------------------------------------------- heartbeat
  function startHeartbeat() {
    if (heartbeatTimer === null) heartbeatTimer = setInterval(heartbeat, HEARTBEAT_MS);
  }

  function stopHeartbeat() {
    if (heartbeatTimer !== null) clearInterval(heartbeatTimer);
    heartbeatTimer = null;
  }

  var lastState = 0;  // performance.now() when the server last told us the state
  // How often to ask: every HEARTBEAT_MS while the server answers quickly; when it answers
  // slowly (a sign-in, the paper, a save or a heartbeat over 1 s: a start of thousands at
  // once), less often — 8, then 16 s — until an answer is quick again, so that the pages of a
  // busy server do not make it busier. A save's answer brings the state as before.
  var heartbeatEvery = HEARTBEAT_MS;
  var SLOW_MS = 1000, QUICK_MS = 300, HEARTBEAT_MAX_MS = 4 * HEARTBEAT_MS;

  function paced(ms) {
    if (ms > SLOW_MS) heartbeatEvery = Math.min(heartbeatEvery * 2, HEARTBEAT_MAX_MS);
    else if (ms < QUICK_MS) heartbeatEvery = HEARTBEAT_MS;
  }

  function heartbeat(force) {
    if (!token) return;
    if (force !== true && performance.now() - lastState < heartbeatEvery - 250) {
      // A save answered within the interval brought the state: nothing to ask for.
      if (screen_ !== "done") { flush(); sendEvents(); }
      return;
    }
    // One heartbeat in flight at a time: a slow server gets no pile of them from one page.
    if (heartbeat.busy) return;
    heartbeat.busy = true;
    var sent = performance.now();
    api("GET", "/state").then(function (result) {
      heartbeat.busy = false;
      if (result.status === 200) {
        lastState = performance.now();
        paced(lastState - sent);
        applyState(result.data);
      }
      if (token && screen_ !== "done") { flush(); sendEvents(); }
    });
  }

  // ------------------------------------------------------------------ clock
  function leftMs() {
    // The server's time left when a change is made (negative after the deadline): the answer
    // backup carries it, and the import takes only changes made within the time.
    if (!remainingAt) return null;
    return Math.round(remainingAt.ms - (paused ? 0 : performance.now() - remainingAt.t));
  }

  function currentRemaining() {
    if (!remainingAt) return null;
    if (paused) return Math.max(0, remainingAt.ms);
    return Math.max(0, remainingAt.ms - (performance.now() - remainingAt.t));
  }

  function startTicking() {
    if (tickTimer === null) tickTimer = setInterval(tick, 250);
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function formatClock(ms) {
    var total = Math.ceil(ms / 1000);
    return pad(Math.floor(total / 3600)) + ":" + pad(Math.floor(total / 60) % 60) + ":" + pad(total % 60);
  }

  function formatDuration(ms) {
    var minutes = Math.ceil(ms / 60000);
    return minutes >= 60 ? Math.floor(minutes / 60) + " 小时 " + (minutes % 60) + " 分钟" : minutes + " 分钟";
  }

  function tick() {
    offerBackup();
    var timer = $("timer");
    if (screen_ === "waiting" && startsAt) {
      var left = Math.max(0, startsAt.ms - (performance.now() - startsAt.t));
      $("starts-in").textContent = formatClock(left);
      if (left <= 0 && !paper) loadPaper();
    }
    var remaining = currentRemaining();
    if (remaining === null) return;
    timer.textContent = formatClock(remaining);
    timer.setAttribute("data-remaining-ms", String(Math.round(remaining)));
    timer.classList.toggle("low", remaining <= 5 * 60000);
    if (screen_ === "exam") {
      [15, 5].forEach(function (m) {
        if (remaining <= m * 60000 && remaining > (m - 1) * 60000 && !announced[m]) {
          announced[m] = true;
          showNotice("距考试结束还有 " + m + " 分钟，请注意时间。");
        }
      });
    }
    var up = screen_ === "exam" && remaining <= 0 && !paused;
    if (up !== timeUp) {
      timeUp = up;
      $("timeup-banner").hidden = !timeUp;
      if (timeUp) { commitAllTyping(); flush(); }
      lockInputs();
      if (!timeUp && state) $("handin").disabled = !state.can_hand_in || paused;
    }
  }

  // ------------------------------------------------------------------ paper
  function loadPaper() {
    var now = performance.now();
    if (loadPaper.busy || now < (loadPaper.after || 0)) return;
    loadPaper.busy = true;
    loadPaper.after = now + 1000;
    var sent = performance.now();
    api("GET", "/paper").then(function (result) {
      loadPaper.busy = false;
      if (result.status === 200) { paced(performance.now() - sent); renderPaper(result.data); return; }
      if (result.status === 403 && result.data.error === "not_started") {
        show("waiting");
        return;  // the heartbeat brings starts_in_ms; the tick asks again at the start
      }
      if (result.status === 403 && result.data.error === "handed_in") { finish(); return; }
      if (result.status === 401) return;
      showNotice(errorText(result, "试卷加载失败，正在重试…"), true);
      setTimeout(loadPaper, HEARTBEAT_MS);
    });
  }

  function renderPaper(data) {
    paper = data;
    if (data.backup) storageSet(BACKUP_PREFIX + admission, JSON.stringify(data.backup));
    if (typeof data.last_seq === "number") serverLastSeq = Math.max(serverLastSeq, data.last_seq);
    questions = [];
    byNumber = {};
    var answers = data.answers || {};
    var attachments = data.attachments || {};
    (data.parts || []).forEach(function (part) {
      (part.questions || []).forEach(function (q) {
        var saved = answers[String(q.number)] || {};
        var entry = {
          q: q, part: part, el: null, cell: null,
          answer: { value: saved.value == null ? "" : String(saved.value), flagged: !!saved.flagged },
          seq: Number(saved.seq) || 0,
          attachments: (attachments[String(q.number)] || []).slice()
        };
        questions.push(entry);
        byNumber[String(q.number)] = entry;
      });
    });
    // Overlay the journal's unacknowledged entries: the newest wins, so a reload never
    // shows an answer older than the last one given on this device.
    journal.entries.forEach(function (e) {
      var entry = byNumber[String(e.number)];
      if (entry && e.seq > entry.seq) {
        entry.answer = { value: String(e.value), flagged: !!e.flagged };
        entry.seq = e.seq;
      }
    });

    var container = $("question");
    container.textContent = "";
    questions.forEach(function (entry) {
      entry.el = buildQuestion(entry);
      entry.el.hidden = true;
      container.appendChild(entry.el);
      setInputs(entry);
    });
    buildGrid();
    show("exam");
    current = Math.min(current, Math.max(0, questions.length - 1));
    goTo(current, false);
    lockInputs();
    flush();
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // An image in a question's text: ![alt](sha256:<hash>) (question_bank/images.py). Its bytes
  // come with the paper as a data: address; text stays text (textContent), never markup.
  var IMAGE_MARKER = /!\[([^\[\]\n<>&"]{0,100})\]\(sha256:([0-9a-f]{64})\)/g;

  function rich(tag, className, text) {
    var node = el(tag, className);
    var source = String(text === undefined || text === null ? "" : text);
    var images = (paper && paper.images) || {};
    var at = 0;
    source.replace(IMAGE_MARKER, function (found, alt, sha, offset) {
      if (offset > at) node.appendChild(document.createTextNode(source.slice(at, offset)));
      var address = images[sha];
      if (typeof address === "string" && address.indexOf("data:image/") === 0) {
        var picture = document.createElement("img");
        picture.className = "q-image";
        picture.src = address;
        picture.alt = alt || "图片";
        node.appendChild(picture);
      } else {
        node.appendChild(document.createTextNode("[图：" + (alt || "图片") + "]"));
      }
      at = offset + found.length;
      return found;
    });
    if (at < source.length) node.appendChild(document.createTextNode(source.slice(at)));
    return node;
  }

  function buildQuestion(entry) {
    var q = entry.q;
    var n = String(q.number);
    var article = el("article", "q");
    article.id = "q-" + n;
    article.setAttribute("data-number", n);
    article.setAttribute("data-type", q.type);
    var heading = el("h2", "q-head");
    heading.tabIndex = -1;
    heading.appendChild(el("span", "q-no", "第 " + n + " 题"));
    heading.appendChild(el("span", "q-type", TYPE_NAMES[q.type] || q.type));
    if (q.points !== undefined && q.points !== null) heading.appendChild(el("span", "q-points", q.points + " 分"));
    if (entry.part && entry.part.title) heading.appendChild(el("span", "q-part", entry.part.title));
    article.appendChild(heading);
    var stem = rich("div", "stem", q.stem);
    stem.id = "stem-" + n;
    article.appendChild(stem);

    var name = "q" + n;
    if (q.type === "single" || q.type === "multiple" || q.type === "true_false") {
      var group = el("div", "options");
      group.setAttribute("role", q.type === "multiple" ? "group" : "radiogroup");
      group.setAttribute("aria-labelledby", stem.id);
      var options = q.type === "true_false" ? [["T", "对"], ["F", "错"]]
        : Object.keys(q.options || {}).sort().map(function (k) { return [k, q.options[k]]; });
      options.forEach(function (pair) {
        var label = el("label", "opt");
        var input = document.createElement("input");
        input.type = q.type === "multiple" ? "checkbox" : "radio";
        input.name = name;
        input.value = pair[0];
        input.addEventListener("change", function () { commit(entry); });
        label.appendChild(input);
        if (q.type !== "true_false") label.appendChild(el("span", "letter", pair[0]));
        label.appendChild(rich("span", "opt-text", pair[1]));
        group.appendChild(label);
      });
      if (q.type === "multiple") article.appendChild(el("p", "muted hint", "本题为多选题，可选择多个选项。"));
      article.appendChild(group);
    } else if (q.type === "fill") {
      var blanks = Math.max(1, Number(q.blanks) || 1);
      var list = el("div", "blanks");
      for (var i = 0; i < blanks; i += 1) {
        var label = el("label", "blank");
        label.appendChild(el("span", "blank-no", "第 " + (i + 1) + " 空"));
        var input = document.createElement("input");
        input.type = "text";
        input.name = name;
        input.setAttribute("data-blank", String(i));
        input.autocomplete = "off";
        input.spellcheck = false;
        input.maxLength = MAX_TEXT;
        wireText(entry, input, true);
        label.appendChild(input);
        list.appendChild(label);
      }
      article.appendChild(list);
      article.appendChild(el("p", "muted hint",
        "分号（“;”或“；”）用于分隔各空，不能出现在答案中；输入的分号会被去掉。"));
    } else if (q.type === "matching") {
      // The options, then one choice per premise: "—" leaves it unmatched.
      var letters = Object.keys(q.options || {}).sort();
      var choices = el("ol", "match-options");
      letters.forEach(function (k) {
        var item = el("li", "opt");
        item.appendChild(el("span", "letter", k));
        item.appendChild(rich("span", "opt-text", q.options[k]));
        choices.appendChild(item);
      });
      article.appendChild(choices);
      var pairs = el("div", "match-premises");
      pairs.setAttribute("role", "group");
      pairs.setAttribute("aria-labelledby", stem.id);
      (q.premises || []).forEach(function (premise, i) {
        var label = el("label", "premise");
        label.appendChild(el("span", "premise-no", (i + 1) + "."));
        label.appendChild(rich("span", "premise-text", premise));
        var select = document.createElement("select");
        select.name = name;
        select.setAttribute("data-premise", String(i));
        var none = document.createElement("option");
        none.value = "-";
        none.textContent = "—";
        select.appendChild(none);
        letters.forEach(function (k) {
          var option = document.createElement("option");
          option.value = k;
          option.textContent = k;
          select.appendChild(option);
        });
        select.addEventListener("change", function () { commit(entry); });
        label.appendChild(select);
        pairs.appendChild(label);
      });
      article.appendChild(pairs);
      article.appendChild(el("p", "muted hint", "为每个题项选择一个对应的选项；同一选项可以使用多次，也可能有选项不用。"));
    } else if (q.type === "subjective") {
      var area = document.createElement("textarea");
      area.name = name;
      area.rows = 10;
      area.maxLength = MAX_TEXT;
      area.spellcheck = false;
      area.setAttribute("aria-labelledby", stem.id);
      wireText(entry, area, false);
      article.appendChild(area);
      var counter = el("p", "muted counter", "");
      entry.counter = counter;
      article.appendChild(counter);
      article.appendChild(buildUpload(entry));
    } else {
      article.appendChild(el("p", "error", "本题题型无法显示，请举手示意监考老师。"));
    }
    return article;
  }

  function buildUpload(entry) {
    var n = String(entry.q.number);
    var limits = (paper && paper.limits) || {};
    var box = el("div", "upload");
    var label = el("label", "upload-label", "上传附件");
    var input = document.createElement("input");
    input.type = "file";
    input.name = "q" + n + "-file";
    input.id = "file-" + n;
    label.htmlFor = input.id;
    var types = limits.attachment_types || [];
    if (types.length) input.accept = types.join(",");
    box.appendChild(label);
    box.appendChild(input);
    var rules = [];
    if (limits.attachment_bytes) rules.push("单个文件不超过 " + formatSize(limits.attachment_bytes));
    if (types.length) rules.push("类型：" + types.join("、"));
    rules.push("可多次上传，以最后上传的文件为准");
    box.appendChild(el("p", "muted hint", rules.join("；") + "。"));
    var status = el("p", "upload-status", "");
    status.setAttribute("role", "status");
    box.appendChild(status);
    var list = el("ul", "files");
    list.id = "files-" + n;
    box.appendChild(list);
    entry.fileList = list;
    entry.uploadStatus = status;
    renderFiles(entry);
    input.addEventListener("click", function () { picking = true; });
    input.addEventListener("cancel", function () { picking = false; });
    input.addEventListener("change", function () {
      picking = false;
      var file = input.files && input.files[0];
      if (!file) return;
      if (limits.attachment_bytes && file.size > limits.attachment_bytes) {
        status.textContent = "文件过大（" + formatSize(file.size) + "），不能超过 " + formatSize(limits.attachment_bytes) + "。";
        status.className = "upload-status error";
        input.value = "";
        return;
      }
      var form = new FormData();
      form.append("number", n);
      form.append("file", file, file.name);
      status.textContent = "正在上传 " + file.name + " …";
      status.className = "upload-status";
      input.disabled = true;
      api("POST", "/attachments", form, true).then(function (result) {
        input.disabled = false;
        input.value = "";
        if (result.status === 200) {
          entry.attachments.push({ id: result.data.id, name: result.data.name, size: result.data.size });
          renderFiles(entry);
          updateCell(entry);
          status.textContent = "已上传：" + String(result.data.name);
          status.className = "upload-status ok";
        } else {
          status.textContent = "上传失败：" + errorText(result);
          status.className = "upload-status error";
        }
      });
    });
    return box;
  }

  function renderFiles(entry) {
    var list = entry.fileList;
    if (!list) return;
    list.textContent = "";
    entry.attachments.forEach(function (file, i) {
      var item = el("li", i === entry.attachments.length - 1 ? "newest" : "",
        String(file.name) + "（" + formatSize(Number(file.size) || 0) + "）");
      if (i === entry.attachments.length - 1) item.appendChild(el("span", "tag", "有效"));
      list.appendChild(item);
    });
  }

  function formatSize(bytes) {
    if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " B";
  }

  // ---------------------------------------------------------------- answers
  function inputsOf(entry) {
    return entry.el.querySelectorAll('[name="q' + entry.q.number + '"]');
  }

  function readValue(entry) {
    var inputs = Array.prototype.slice.call(inputsOf(entry));
    var type = entry.q.type;
    if (type === "single" || type === "true_false") {
      var checked = inputs.filter(function (i) { return i.checked; })[0];
      return checked ? checked.value : "";
    }
    if (type === "multiple") {
      return inputs.filter(function (i) { return i.checked; }).map(function (i) { return i.value; }).sort().join("");
    }
    if (type === "fill") {
      var parts = inputs.map(function (i) { return i.value.replace(SEPARATORS, ""); });
      return parts.some(function (p) { return p.trim() !== ""; }) ? parts.join(";") : "";
    }
    if (type === "matching") {
      // One letter per premise in their order, "-" for one left unmatched (certify/grading/scoring.py).
      var letters = inputs.map(function (i) { return i.value || "-"; });
      return letters.some(function (l) { return l !== "-"; }) ? letters.join("") : "";
    }
    if (type === "subjective") return inputs[0] ? inputs[0].value : "";
    return entry.answer.value;
  }

  function setInputs(entry) {
    var value = entry.answer.value || "";
    var inputs = Array.prototype.slice.call(inputsOf(entry));
    var type = entry.q.type;
    if (type === "single" || type === "true_false") {
      inputs.forEach(function (i) { i.checked = i.value === value; });
    } else if (type === "multiple") {
      inputs.forEach(function (i) { i.checked = value.indexOf(i.value) >= 0; });
    } else if (type === "fill") {
      // Split as grading splits (certify/grading/fill.py): at ";" and at "；".
      var parts = value === "" ? [] : value.split(SEPARATORS);
      inputs.forEach(function (input, i) {
        // More parts than blanks: keep the rest in the last blank rather than lose it.
        var text = i === inputs.length - 1 ? parts.slice(i).join(" ") : (parts[i] || "");
        input.value = text;
      });
    } else if (type === "matching") {
      inputs.forEach(function (input, i) {
        var letter = value.charAt(i);
        input.value = letter && letter !== "_" ? letter : "-";
        if (input.value === "") input.value = "-";  // a letter the copy does not have
      });
    } else if (type === "subjective" && inputs[0]) {
      inputs[0].value = value;
      updateCounter(entry);
    }
  }

  function updateCounter(entry) {
    if (!entry.counter) return;
    var length = readValue(entry).length;
    entry.counter.textContent = length + " / " + MAX_TEXT + " 字";
  }

  function wireText(entry, input, isBlank) {
    var n = String(entry.q.number);
    input.addEventListener("compositionstart", function () { composing = true; });
    input.addEventListener("compositionend", function () {
      composing = false;
      if (isBlank) dropSeparators(input);
      scheduleTyping(entry);
    });
    input.addEventListener("input", function (event) {
      if (event.isComposing || composing) return;
      if (isBlank) dropSeparators(input);
      if (!isBlank) updateCounter(entry);
      scheduleTyping(entry);
    });
    input.addEventListener("change", function () { commitTyping(n); });
    input.addEventListener("blur", function () { commitTyping(n); });
  }

  function dropSeparators(input) {
    // ";" and "；" both separate blanks (the server and grading split at either), so neither
    // can be part of one blank's answer: they are taken out as typed, the caret kept in place.
    if (!SEPARATOR.test(input.value)) return;
    var start = input.selectionStart;
    var end = input.selectionEnd;
    var value = input.value;
    var before = function (at) { return at === null ? null : at - (value.slice(0, at).match(SEPARATORS) || []).length; };
    input.value = value.replace(SEPARATORS, "");
    try { input.setSelectionRange(before(start), before(end)); } catch (e) { /* not focused */ }
    showNotice("填空题中的分号（“;”或“；”）用于分隔各空，不能出现在答案中，已去掉。");
  }

  function scheduleTyping(entry) {
    var n = String(entry.q.number);
    var t = typing[n] || (typing[n] = { debounce: null, maxWait: null, entry: entry });
    if (t.debounce) clearTimeout(t.debounce);
    t.debounce = setTimeout(function () { commitTyping(n); }, TYPING_DEBOUNCE_MS);
    if (!t.maxWait) t.maxWait = setTimeout(function () { commitTyping(n); }, TYPING_MAX_WAIT_MS);
  }

  function commitTyping(n) {
    var t = typing[n];
    if (t) {
      if (t.debounce) clearTimeout(t.debounce);
      if (t.maxWait) clearTimeout(t.maxWait);
      delete typing[n];
    }
    var entry = byNumber[n];
    if (entry) commit(entry);
  }

  function commitAllTyping() {
    Object.keys(typing).forEach(commitTyping);
  }

  function commit(entry, flagged) {
    if (!journal) return;
    var value = readValue(entry);
    var flag = flagged === undefined ? entry.answer.flagged : flagged;
    if (value === entry.answer.value && flag === entry.answer.flagged) return;
    if (value.length > MAX_TEXT) value = value.slice(0, MAX_TEXT);
    entry.answer = { value: value, flagged: flag };
    var number = entry.q.number;
    var record = { seq: nextSeq(), number: number, value: value, flagged: flag, client_at: Date.now(),
                   left_ms: leftMs() };
    entry.seq = record.seq;
    // An older unacknowledged entry for the same question is superseded: the server never
    // lets an older seq overwrite a newer one, so only the newest needs to travel.
    journal.entries = journal.entries.filter(function (e) { return String(e.number) !== String(number); });
    journal.entries.push(record);
    writeJournal();             // in the journal before it is sent
    entry.refused = false;
    clearRefusal(number);
    updateCell(entry);
    updateFlagButton();
    renderSaveState();
    flush();
  }

  // ------------------------------------------------------------------- save
  function flush() {
    if (!token || !journal || !journal.entries.length) { renderSaveState(); return; }
    if (saving) { saveAgain = true; return; }
    saving = true;
    saveAgain = false;
    renderSaveState();
    var batch = journal.entries.slice(0, SAVE_BATCH).map(function (e) {
      return { seq: e.seq, number: e.number, value: e.value, flagged: e.flagged, client_at: e.client_at };
    });
    var sent = performance.now();
    api("POST", "/save", { entries: batch }).then(function (result) {
      saving = false;
      if (result.status === 200) {
        paced(performance.now() - sent);
        handleSaved(result.data);
        // More waiting: a change made during the request, or over 200 entries.
        var last = batch[batch.length - 1].seq;
        var more = journal.entries.some(function (e) { return e.seq > last; });
        if (token && (saveAgain || more)) { flush(); return; }
      } else if (result.status === 409 && result.data.error === "paused") {
        setPaused(true);
      } else if (result.status === 403 && result.data.error === "handed_in") {
        heartbeat(true);
      } else if (result.status !== 0 && result.status !== 401) {
        showRefusal(null, errorText(result, "保存未成功，将自动重试。"));
      }
      renderSaveState();
    });
  }

  function handleSaved(data) {
    if (typeof data.last_seq === "number") serverLastSeq = Math.max(serverLastSeq, data.last_seq);
    if (data.state) { lastState = performance.now(); applyState(data.state); }
    var acked = {};
    (data.acked || []).forEach(function (seq) { acked[seq] = true; });
    var refused = {};
    var requeue = [];
    (data.refused || []).forEach(function (r) {
      refused[r.seq] = r;
    });
    journal.entries = journal.entries.filter(function (e) {
      if (acked[e.seq]) return false;
      var r = refused[e.seq];
      if (!r) return true;
      if (r.error === "paused" || r.error === "not_started") {
        requeue.push(e);          // refused for now, not for good: give it again later
      } else {
        // Refused for good (deadline passed, bad value…): the value stays on screen, the
        // question is marked in the grid and the reason shown under the save state.
        var refusedEntry = byNumber[String(e.number)];
        if (refusedEntry) refusedEntry.refused = true;
        showRefusal(e.number, "第 " + e.number + " 题的答案未被接受：" +
          (r.message_zh ? String(r.message_zh) : String(r.error)));
      }
      return false;
    });
    requeue.forEach(function (e) {
      var record = { seq: nextSeq(), number: e.number, value: e.value, flagged: e.flagged, client_at: e.client_at,
                     left_ms: e.left_ms };
      journal.entries = journal.entries.filter(function (x) { return String(x.number) !== String(e.number); });
      journal.entries.push(record);
      var entry = byNumber[String(e.number)];
      if (entry) entry.seq = record.seq;
    });
    if (requeue.length && refused[requeue[0].seq].error === "paused") setPaused(true);
    writeJournal();
    updateAllCells();
  }

  function showRefusal(number, message) {
    refusals = refusals.filter(function (r) { return r.number !== number; });
    refusals.push({ number: number, message: message });
    renderSaveState();
  }

  function clearRefusal(number) {
    var before = refusals.length;
    refusals = refusals.filter(function (r) { return r.number !== number && r.number !== null; });
    if (refusals.length !== before) renderSaveState();
  }

  function renderSaveState() {
    var box = $("save-state");
    if (!box) return;
    var n = pendingNumbers();
    var stateName;
    var text;
    if (!online) {
      stateName = "offline";
      text = "网络中断，答案已暂存在本机，恢复后自动提交";
    } else if (saving) {
      stateName = "pending";
      text = "正在保存…";
    } else if (n > 0) {
      stateName = "pending";
      text = "未保存 " + n + " 题";
    } else {
      stateName = "saved";
      text = "已保存";
    }
    if (box.textContent !== text) box.textContent = text;
    box.setAttribute("data-save-state", stateName);
    var detail = $("save-detail");
    var message = refusals.map(function (r) { return r.message; }).join("\n");
    detail.textContent = message;
    detail.hidden = !message;
  }

  // -------------------------------------------------------------- navigation
  function isAnswered(entry) {
    if (entry.q.type === "subjective") {
      return entry.answer.value.trim() !== "" || entry.attachments.length > 0;
    }
    if (entry.q.type === "fill") return entry.answer.value.replace(/;/g, "").trim() !== "";
    return entry.answer.value !== "";
  }

  function buildGrid() {
    var grid = $("grid");
    grid.textContent = "";
    var lastPart = null;
    var row = null;
    questions.forEach(function (entry, index) {
      if (entry.part !== lastPart) {
        lastPart = entry.part;
        if (entry.part.title) grid.appendChild(el("h3", "grid-part", entry.part.title));
        row = el("div", "cells");
        grid.appendChild(row);
      }
      var cell = el("button", "cell", String(entry.q.number));
      cell.type = "button";
      cell.id = "grid-q" + entry.q.number;
      cell.setAttribute("data-number", String(entry.q.number));
      cell.addEventListener("click", function () { goTo(index, true); });
      entry.cell = cell;
      row.appendChild(cell);
      updateCell(entry);
    });
  }

  function updateCell(entry) {
    var cell = entry.cell;
    if (!cell) return;
    var answered = isAnswered(entry);
    var pendingHere = journal && journal.entries.some(function (e) { return String(e.number) === String(entry.q.number); });
    cell.classList.toggle("answered", answered);
    cell.classList.toggle("flagged", entry.answer.flagged);
    cell.classList.toggle("unsaved", !!pendingHere);
    cell.classList.toggle("refused", !!entry.refused);
    var isCurrent = questions[current] === entry;
    cell.classList.toggle("current", isCurrent);
    if (isCurrent) cell.setAttribute("aria-current", "true"); else cell.removeAttribute("aria-current");
    var words = ["第 " + entry.q.number + " 题", answered ? "已答" : "未答"];
    if (entry.answer.flagged) words.push("已标记");
    if (pendingHere) words.push("未保存");
    if (entry.refused) words.push("答案未被接受");
    cell.setAttribute("aria-label", words.join("，"));
    cell.setAttribute("data-state", (answered ? "answered" : "unanswered") + (entry.answer.flagged ? " flagged" : ""));
    updateProgress();
  }

  function updateAllCells() { questions.forEach(updateCell); }

  function updateProgress() {
    var done = questions.filter(isAnswered).length;
    $("progress").textContent = "已答 " + done + " / " + questions.length;
  }

  function goTo(index, focus) {
    if (!questions.length) return;
    index = Math.max(0, Math.min(questions.length - 1, index));
    var leaving = questions[current];
    if (leaving && leaving !== questions[index]) commitTyping(String(leaving.q.number));
    current = index;
    questions.forEach(function (entry, i) { entry.el.hidden = i !== index; });
    updateAllCells();
    updateFlagButton();
    $("prev").disabled = index === 0;
    $("next").disabled = index === questions.length - 1;
    var entry = questions[index];
    $("question").setAttribute("data-number", String(entry.q.number));
    if (focus) {
      var heading = entry.el.querySelector(".q-head");
      if (heading) heading.focus();
    }
    window.scrollTo(0, 0);
  }

  function updateFlagButton() {
    var entry = questions[current];
    if (!entry) return;
    var button = $("flag");
    button.setAttribute("aria-pressed", entry.answer.flagged ? "true" : "false");
    button.textContent = entry.answer.flagged ? "取消标记" : "标记本题";
  }

  function toggleFlag() {
    var entry = questions[current];
    if (!entry || paused || timeUp) return;
    commitTyping(String(entry.q.number));
    commit(entry, !entry.answer.flagged);
  }

  function onKey(event) {
    if (screen_ !== "exam" || !event.altKey || event.ctrlKey || event.metaKey) return;
    if ($("handin-dialog").open) return;
    if (event.key === "ArrowLeft") { event.preventDefault(); goTo(current - 1, true); }
    if (event.key === "ArrowRight") { event.preventDefault(); goTo(current + 1, true); }
  }

  // ---------------------------------------------------------------- hand-in
  function openHandIn() {
    if (!state || !state.can_hand_in || paused || timeUp) return;
    commitAllTyping();
    flush();
    var unanswered = questions.filter(function (e) { return !isAnswered(e); }).map(function (e) { return e.q.number; });
    $("handin-unanswered").textContent = unanswered.length
      ? "还有 " + unanswered.length + " 题未作答：第 " + unanswered.join("、") + " 题。"
      : "所有题目均已作答。";
    renderHandInUnsaved();
    $("handin-error").hidden = true;
    $("handin-confirm").disabled = false;
    var dialog = $("handin-dialog");
    if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
  }

  function renderHandInUnsaved() {
    var n = pendingCount();
    $("handin-unsaved").textContent = n
      ? "本机还有 " + n + " 条答案尚未保存到服务器，交卷前会先提交。"
      : "所有答案均已保存到服务器。";
  }

  function waitForSaved(deadline) {
    // Resolves true when the journal is empty, false when it is not by the deadline.
    var tries = 0;
    return new Promise(function (resolve) {
      (function poll() {
        if (!pendingCount()) { resolve(true); return; }
        // Offline after a try, or out of time: say so rather than keep the candidate waiting.
        if (performance.now() > deadline || (!online && tries > 0 && !saving)) { resolve(false); return; }
        if (!saving) { tries += 1; flush(); }
        setTimeout(poll, 200);
      })();
    });
  }

  function confirmHandIn() {
    if (handingIn) return;
    handingIn = true;
    var button = $("handin-confirm");
    var error = $("handin-error");
    button.disabled = true;
    error.hidden = true;
    commitAllTyping();
    waitForSaved(performance.now() + 8000).then(function (allSaved) {
      renderHandInUnsaved();
      if (!allSaved) {
        handingIn = false;
        button.disabled = false;
        error.textContent = "还有 " + pendingCount() + " 条答案未能保存到服务器（网络中断？），暂不能交卷。" +
          "答案已暂存在本机，网络恢复后会自动提交；请稍后再试或举手示意监考老师。";
        error.hidden = false;
        return null;
      }
      return api("POST", "/hand-in", { confirm: true }).then(function (result) {
        handingIn = false;
        button.disabled = false;
        if (result.status === 200) {
          handedInHere = result.data.status === "handed_in";
          closeDialog();
          applyState(result.data);
          if (result.data.status !== "handed_in") heartbeat(true);
          return;
        }
        if (result.status === 401) { closeDialog(); return; }
        error.textContent = result.data.error === "too_early"
          ? errorText(result, "开考后一段时间内不能交卷。")
          : errorText(result, "交卷未成功，请重试或举手示意监考老师。");
        error.hidden = false;
      });
    });
  }

  function closeDialog() {
    var dialog = $("handin-dialog");
    if (dialog.open && typeof dialog.close === "function") dialog.close(); else dialog.removeAttribute("open");
  }

  function finish() {
    stopHeartbeat();
    closeDialog();
    commitAllTyping();
    show("done");
    $("paused-banner").hidden = true;
    $("timeup-banner").hidden = true;
    $("handin").hidden = true;
    var left = pendingCount();
    if (journal && !left) {
      clearJournal();
      // Nothing left to send: the next session on this device starts from the sign-in form.
      token = null;
      storageRemove(TOKEN_KEY);
    } else if (left) {
      // Kept on this device: evidence for the invigilator, never silently dropped.
      $("done-pending").textContent = "本机还有 " + left + " 条答案在交卷前未能提交到服务器，已保留在本机。请举手告知监考老师。";
      $("done-pending").hidden = false;
    }
    offerBackup();
    if (!handedInHere && timeUp) {
      $("done-text").textContent = "考试时间已到，截止时间前已保存的答案已由系统提交。请听从监考老师的指示离开考场。";
    }
    renderSaveState();
    sendEvents();
  }

  // ----------------------------------------------------------------- backup
  // 答案备份: when the server stays out of reach, the answers it has not acknowledged can be
  // downloaded as one file for the invigilator to import. It is encrypted for the server
  // (ECDH P-256 with a fresh key, HKDF-SHA-256 salted with this attempt's own secret,
  // AES-256-GCM with the header as authenticated data): nobody else reads it, and no other
  // page could have made it. See certify/delivery/backup.py.
  function backupKeys() {
    var keys = null;
    try { keys = JSON.parse(storageGet(BACKUP_PREFIX + admission) || "null"); } catch (e) { keys = null; }
    return keys && keys.format && keys.server_key && keys.secret ? keys : null;
  }

  function canEncrypt() {
    return !!(window.crypto && window.crypto.subtle && window.TextEncoder);
  }

  function hasUnsaved() { return !!(journal && journal.entries.length); }

  function offerBackup() {
    var oldest = journal && journal.entries.length
      ? Math.min.apply(null, journal.entries.map(function (e) { return e.client_at || Date.now(); }))
      : null;
    // Offered whenever changes are stuck — also where it cannot be made (plain HTTP), so the
    // click can say why rather than the page staying silent.
    var offer = oldest !== null && (!online || Date.now() - oldest > BACKUP_AFTER_MS);
    if ($("backup").hidden === offer) $("backup").hidden = !offer;
    var onDone = screen_ === "done" && hasUnsaved();
    if ($("done-backup").hidden === onDone) $("done-backup").hidden = !onDone;
  }

  function bytesToBase64(bytes) {
    var a = new Uint8Array(bytes);
    var text = "";
    for (var i = 0; i < a.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, a.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  function base64ToBytes(text) {
    var raw = atob(text);
    var a = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) a[i] = raw.charCodeAt(i);
    return a;
  }

  function downloadBackup() {
    var keys = backupKeys();
    if (!hasUnsaved()) {
      showNotice("所有答案均已保存到服务器，无需备份。");
      return;
    }
    if (!canEncrypt()) {
      showNotice("此连接不能生成加密备份（考试页面须通过 HTTPS 打开）。答案仍保留在本机，请勿关闭本页，举手示意监考老师。", true);
      return;
    }
    if (!keys) {
      showNotice("本机没有本场考试的备份密钥（试卷未在本机加载过），不能生成备份。答案仍保留在本机，请举手示意监考老师。", true);
      return;
    }
    var subtle = window.crypto.subtle;
    var encode = function (text) { return new TextEncoder().encode(text); };
    var entries = journal.entries.map(function (e) {
      return { seq: e.seq, number: e.number, value: e.value, flagged: e.flagged,
               client_at: e.client_at, left_ms: typeof e.left_ms === "number" ? e.left_ms : null };
    });
    var header = { format: keys.format, attempt: keys.attempt, admission_no: admission, key_id: keys.key_id };
    var iv = window.crypto.getRandomValues(new Uint8Array(12));
    var mine = null;
    subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]).then(function (pair) {
      mine = pair;
      return subtle.exportKey("raw", pair.publicKey);
    }).then(function (raw) {
      header.epk = bytesToBase64(raw);
      return subtle.importKey("raw", base64ToBytes(keys.server_key), { name: "ECDH", namedCurve: "P-256" }, false, []);
    }).then(function (server) {
      return subtle.deriveBits({ name: "ECDH", public: server }, mine.privateKey, 256);
    }).then(function (shared) {
      return subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
    }).then(function (secret) {
      return subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: base64ToBytes(keys.secret), info: encode("certify exam backup v1") },
        secret, { name: "AES-GCM", length: 256 }, false, ["encrypt"]);
    }).then(function (aes) {
      var aad = encode(keys.format + "\n" + keys.attempt + "\n" + admission);
      return subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: aad }, aes,
                            encode(JSON.stringify({ made_at: new Date().toISOString(), entries: entries })));
    }).then(function (sealed) {
      header.iv = bytesToBase64(iv);
      header.data = bytesToBase64(sealed);
      var link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([JSON.stringify(header)], { type: "application/json" }));
      var at = new Date();
      link.download = "答案备份-" + admission + "-" + pad(at.getHours()) + pad(at.getMinutes()) + pad(at.getSeconds()) + ".certify";
      document.body.appendChild(link);
      link.click();
      setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
      showNotice("答案备份已保存到本机的“下载”文件夹（" + link.download + "，" + entries.length +
        " 条未保存的答案，已加密）。请勿关闭本页，举手请监考老师取走导入；之后如再修改答案，请重新下载。联网后本机仍会自动提交。");
    }, function () {
      showNotice("生成答案备份失败，请举手示意监考老师。", true);
    });
  }

  // ------------------------------------------------------------------ events
  function countEvent(kind) {
    if (screen_ !== "exam") return;
    events[kind] += 1;
  }

  function sendEvents() {
    if (!token || eventsSending) return;
    var batch = { blur: events.blur, paste: events.paste, fullscreen_exit: events.fullscreen_exit };
    if (!batch.blur && !batch.paste && !batch.fullscreen_exit) return;
    eventsSending = true;
    api("POST", "/events", batch).then(function (result) {
      eventsSending = false;
      if (result.status === 200) {
        Object.keys(batch).forEach(function (k) { events[k] -= batch[k]; });
      }
    });
  }

  var picking = false;            // a file chooser is open: not the candidate leaving
  function leave() {
    if (picking) return;
    if (away) return;
    away = true;
    countEvent("blur");
  }

  function back() { away = false; picking = false; }

  function enterFullscreen() {
    var root = document.documentElement;
    if (document.fullscreenElement) return;
    if (root.requestFullscreen) {
      root.requestFullscreen().catch(function () { showNotice("无法进入全屏模式。", true); });
    }
  }

  function onFullscreenChange() {
    var now = !!document.fullscreenElement;
    if (wasFullscreen && !now) countEvent("fullscreen_exit");
    wasFullscreen = now;
    $("fullscreen").hidden = now || screen_ === "signin";
  }

  // ------------------------------------------------------------------ notice
  var noticeTimer = null;
  function showNotice(text, isError) {
    var box = $("notice");
    box.textContent = text;
    box.classList.toggle("error", !!isError);
    box.hidden = false;
    if (noticeTimer) clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { box.hidden = true; }, 8000);
  }

  // -------------------------------------------------------------------- start
  function start() {
    $("signin-form").addEventListener("submit", onSignIn);
    $("prev").addEventListener("click", function () { goTo(current - 1, true); });
    $("next").addEventListener("click", function () { goTo(current + 1, true); });
    $("flag").addEventListener("click", toggleFlag);
    $("handin").addEventListener("click", openHandIn);
    $("handin-confirm").addEventListener("click", confirmHandIn);
    $("fullscreen").addEventListener("click", enterFullscreen);
    $("backup").addEventListener("click", downloadBackup);
    $("done-backup").addEventListener("click", downloadBackup);
    $("done-signin").addEventListener("click", function () {
      token = null;
      storageRemove(TOKEN_KEY);
      // The next person at this computer must not find this candidate's backup secret (a
      // backup was offered on the closing screen; the journal itself stays as evidence).
      storageRemove(BACKUP_PREFIX + admission);
      state = null; paper = null; journal = null; handedInHere = false;
      showSignIn();
    });
    document.addEventListener("keydown", onKey);
    document.addEventListener("fullscreenchange", onFullscreenChange);
    document.addEventListener("paste", function () { countEvent("paste"); }, true);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") leave(); else back();
    });
    window.addEventListener("blur", leave);
    window.addEventListener("focus", back);
    window.addEventListener("online", function () { setOnline(true); if (token) { heartbeat(true); } });
    window.addEventListener("offline", function () { setOnline(false); });
    window.addEventListener("pagehide", commitAllTyping);

    window.certifyExam = {
      pending: pendingCount,
      lastSeq: function () { return journal ? journal.lastSeq : 0; },
      remainingMs: function () { var r = currentRemaining(); return r === null ? 0 : Math.round(r); }
    };

    renderSaveState();
    if (!token) { showSignIn(); return; }
    show("waiting");
    $("waiting-title").textContent = "正在连接考试服务器…";
    (function first() {
      api("GET", "/state").then(function (result) {
        if (result.status === 200) { applyState(result.data); return; }
        if (result.status === 401 || !token) return;  // signedOut() showed the form
        showNotice(errorText(result, "正在连接考试服务器…"), true);
        setTimeout(first, HEARTBEAT_MS);
      });
    })();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
