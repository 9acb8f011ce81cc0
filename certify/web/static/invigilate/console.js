// The invigilator's console: the room's status every 3 s, actions posted with the form's CSRF
// token. Data goes into the page with textContent only.
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) { return; }
  var tbody = document.querySelector("#seats tbody");
  var template = document.getElementById("row-actions");
  var message = document.getElementById("message");
  var busy = false;

  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    tr.appendChild(td);
    return td;
  }

  function clock(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function connection(seat) {
    if (seat.status !== "active") { return ""; }
    if (seat.lost_s) { return "断线 " + seat.lost_s + " 秒"; }
    return seat.last_seen_s === null ? "" : "在线";
  }

  function render(status) {
    var c = status.counts;
    document.getElementById("summary").textContent =
      "应到 " + status.seats.length + "　作答中 " + c.active + "　未入场 " + c.waiting +
      "　已交卷 " + c.handed_in + "　缺考 " + c.absent + "　断线 " + status.lost;
    document.getElementById("refreshed").textContent = "刷新于 " + new Date().toLocaleTimeString();
    if (document.activeElement && tbody.contains(document.activeElement)) { return; }
    tbody.textContent = "";
    status.seats.forEach(function (seat) {
      var tr = document.createElement("tr");
      tr.dataset.attempt = seat.attempt;
      tr.dataset.status = seat.status;
      cell(tr, seat.seat);
      cell(tr, seat.admission_no);
      cell(tr, seat.name);
      cell(tr, seat.status_zh + (seat.paused ? "（暂停）" : "") + (seat.move_allowed ? "（可换机）" : ""));
      var conn = cell(tr, connection(seat));
      if (seat.lost_s) { conn.className = "fail"; }
      cell(tr, seat.answered);
      var e = seat.events || {};
      cell(tr, (e.blur || 0) + " / " + (e.paste || 0) + " / " + (e.fullscreen_exit || 0));
      cell(tr, seat.extra_minutes ? "+" + seat.extra_minutes + " 分" : "");
      cell(tr, seat.status === "active" ? clock(seat.remaining_s) : "");
      var td = document.createElement("td");
      var form = template.content.firstElementChild.cloneNode(true);
      form.dataset.attempt = seat.attempt;
      td.appendChild(form);
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
  }

  function refresh() {
    fetch(root.dataset.status, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(render)
      .catch(function () {
        document.getElementById("refreshed").textContent = "网络中断，正在重试…";
      });
  }

  function restored(body) {
    var text = "已导入 " + body.admission_no + "：保存 " + body.stored.length + " 条，已有 " +
      body.already.length + " 条，未接受 " + body.refused.length + " 条";
    body.refused.forEach(function (r) { text += "\n　序号 " + r.seq + "：" + r.message_zh; });
    if (body.regrade) { text += "\n该考次已评分：请重新评分以计入导入的答案。"; }
    return text;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id === "restore") {
      event.preventDefault();
      if (busy) { return; }
      var out = document.getElementById("restore-result");
      var upload = new FormData(form);
      upload.set("csrf_token", root.dataset.csrf);
      busy = true;
      fetch(root.dataset.restore, { method: "POST", body: upload, credentials: "same-origin" })
        .then(function (r) {
          if ((r.headers.get("Content-Type") || "").indexOf("application/json") !== 0) {
            return [false, { message_zh: "导入未完成（服务器返回 " + r.status + "），请刷新页面后重试" }];
          }
          return r.json().then(function (body) { return [r.ok, body]; });
        })
        .then(function (pair) {
          out.textContent = pair[0] ? restored(pair[1]) : pair[1].message_zh;
          out.className = pair[0] ? "ok" : "fail";
          out.style.whiteSpace = "pre-line";
          if (pair[0]) { form.reset(); refresh(); }
        })
        .catch(function () { out.textContent = "导入未完成：网络中断"; out.className = "fail"; })
        .then(function () { busy = false; });
      return;
    }
    if (!form.classList.contains("act")) { return; }
    event.preventDefault();
    if (busy) { return; }
    var data = new FormData(form);
    if (event.submitter && event.submitter.name === "action") {
      data.set("action", event.submitter.value);
    }
    if (form.dataset.attempt) { data.set("attempt", form.dataset.attempt); }
    data.set("csrf_token", root.dataset.csrf);
    busy = true;
    fetch(root.dataset.act, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return [r.ok, body]; }); })
      .then(function (pair) {
        message.textContent = pair[0] ? "已执行（" + pair[1].touched + " 人）" : pair[1].message_zh;
        message.className = pair[0] ? "ok" : "fail";
        if (document.activeElement) { document.activeElement.blur(); }
        refresh();
      })
      .catch(function () { message.textContent = "操作未完成：网络中断"; message.className = "fail"; })
      .then(function () { busy = false; });
  });

  refresh();
  setInterval(refresh, 3000);
}());
