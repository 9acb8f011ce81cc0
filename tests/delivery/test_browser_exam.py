"""The candidate's exam page in a real browser against a real server, with real faults.

Debian's Chromium (headless, driven by Selenium, as in ``tests/web/test_browser.py``) opens
``/exam/`` served by gunicorn — one worker, a few threads, a subprocess on its own port — over a
database prepared with :func:`ready_exam`. The faults are the browser's and the operating
system's own: Chromium's network emulation takes the page offline, its URL blocking holds the
saves back over a reload, the server is killed with SIGKILL and started again on the same port,
and the page's clock is set an hour off before its scripts run. What the page shows is then
compared with what the database holds.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from certify.delivery import attempts, backup, console
from certify.delivery.copies import Copies, Copy
from certify.grading import simulate
from certify.infra import db
from question_bank.images import check_image, marker
from schemas.enums import AttemptStatus, FinishReason
from schemas.tables import (
    AnswerEvent,
    Attempt,
    AttemptAnswer,
    ItemImage,
    ItemVersion,
    Registration,
    Response,
)
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database, PostgresServer
from tests.delivery.delivery_helpers import Exam, copy_of, ready_exam
from tests.web.browser_helpers import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REPO = Path(__file__).resolve().parents[2]

HEARTBEAT_S = 3
"""The page asks for its state this often (exam.js); what the server changes shows within it."""


# --- a real server --------------------------------------------------------------------------


@dataclass
class Server:
    """``gunicorn 'certify.web:create_app()'`` on a fixed port, as production runs it: started,
    killed (SIGKILL, the whole process group: master and worker) and started again."""

    database_url: str
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(paths),
            "CERTIFY_DATABASE_URL": self.database_url,
            "CERTIFY_SECRET_KEY": base64.b64encode(VAULT.secret).decode(),
            "CERTIFY_WEB_SECRET": "browser-exam-test-secret",
            "CERTIFY_SWEEP_SECONDS": "0",  # the tests close attempts themselves
        }
        self.starts += 1
        log = (self.folder / f"gunicorn-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers=1",
                "--worker-class=gthread",
                "--threads=4",
                f"--bind=127.0.0.1:{self.port}",
                "--graceful-timeout=2",
                "--log-level=warning",
                "certify.web:create_app()",
            ],
            env=env,
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill takes the worker too
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"gunicorn did not start:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL to the master and its worker: no shutdown, no reply to anything in flight."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.folder.glob("gunicorn-*.log"))
        )


@dataclass
class Live:
    """A sitting under way (started a few minutes ago, hand-in open) served by gunicorn, and the
    candidate a test plays."""

    exam: Exam
    server: Server
    person: simulate.SimulatedCandidate

    @property
    def engine(self) -> Any:
        return self.exam.database.engine

    def attempt(self) -> Attempt:
        with Session(self.engine) as s:
            return s.exec(
                select(Attempt)
                .join(Registration, col(Registration.id) == col(Attempt.registration_id))
                .where(Registration.admission_no == self.person.admission_no)
            ).one()

    def copy(self) -> Copy:
        """The candidate's copy, built afresh (the process's cache is keyed without a database)."""
        return Copies().get(self.engine, self.attempt().registration_id, "")

    def remaining_ms(self) -> float:
        """The server's truth: the attempt's deadline less the time now."""
        deadline = attempts.utc(self.attempt().deadline_at)
        return (deadline - datetime.now(UTC)).total_seconds() * 1000

    def handed_in_responses(self) -> dict[int, str]:
        """The hand-in's ``response`` rows by printed number, the empty ones left out; every
        question of the copy has one."""
        a = self.attempt()
        with Session(self.engine) as s:
            raw = {
                r.item_version_id: r.raw
                for r in s.exec(
                    select(Response).where(Response.registration_id == a.registration_id)
                )
            }
        questions = self.copy().questions
        assert {q.item_version_pk for q in questions} <= set(raw)
        return {q.number: raw[q.item_version_pk] for q in questions if raw[q.item_version_pk]}

    def stored(self) -> dict[int, str]:
        """The attempt's saved answers by printed number."""
        a = self.attempt()
        number = {q.item_version_pk: q.number for q in self.copy().questions}
        with Session(self.engine) as s:
            rows = s.exec(select(AttemptAnswer).where(AttemptAnswer.attempt_id == a.id)).all()
        return {number[r.item_version_id]: r.value for r in rows}


def exam_under_way(database: Database, folder: Path, count: int) -> Exam:
    return ready_exam(
        database,
        folder,
        count=count,
        rooms=1,
        part="",  # every part: single, multiple, true/false, fill and subjective questions
        start=datetime.now(UTC) - timedelta(minutes=3),
        entry_minutes=60,
        handin_minutes=0,
    )


@pytest.fixture
def own(database: Database, tmp_path: Path) -> Iterator[Live]:
    """A server of its own, for the test that kills it."""
    exam = exam_under_way(database, tmp_path, 2)
    server = Server(database.url, free_port(), tmp_path)
    server.start()
    try:
        yield Live(exam, server, exam.people[0])
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared(
    migrated_template: str,
    postgres: PostgresServer | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Exam, Server, Iterator[int]]]:
    """One sitting and one server for the tests that leave the server alone (starting gunicorn
    takes seconds); each test signs in its own candidate."""
    folder = tmp_path_factory.mktemp("browser-exam")
    if postgres is None:
        path = folder / "certify.db"
        shutil.copy(make_url(migrated_template).database or "", path)
        url = f"sqlite:///{path}"
    else:
        url = postgres.create()
    engine = db.make_engine(url)
    if postgres is not None:
        db.upgrade(engine)
    exam = exam_under_way(Database(url, engine), folder, 8)
    server = Server(url, free_port(), folder)
    server.start()
    try:
        yield exam, server, iter(range(len(exam.people)))
    finally:
        server.stop()
        engine.dispose()


@pytest.fixture
def live(shared: tuple[Exam, Server, Iterator[int]]) -> Live:
    exam, server, unused = shared
    return Live(exam, server, exam.people[next(unused)])


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    os.environ.setdefault("SE_OFFLINE", "true")  # never download a browser or a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument("--window-size=1366,768")  # an exam room's laptop
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


# --- driving the page -----------------------------------------------------------------------


def wait(driver: webdriver.Chrome, what: str, until: Callable[[], Any], seconds: float = 8) -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda _: until(), what)


def sign_in(driver: webdriver.Chrome, live: Live) -> None:
    """Through the form, as a candidate does; returns when the paper is shown."""
    person = live.person
    driver.get(f"{live.server.base}/exam/")
    wait(
        driver, "the sign-in form", lambda: driver.find_element(By.ID, "signin-form").is_displayed()
    )
    driver.find_element(By.ID, "admission_no").send_keys(person.admission_no)
    driver.find_element(By.ID, "id_number").send_keys(person.id_number)
    room_code = live.exam.room_of(person.admission_no).room_code
    driver.find_element(By.ID, "room_code").send_keys(room_code + Keys.ENTER)
    wait_for_paper(driver)


def wait_for_paper(driver: webdriver.Chrome) -> None:
    wait(
        driver,
        "the paper",
        lambda: driver.execute_script(
            "return document.body.getAttribute('data-screen') === 'exam'"
            " && document.querySelectorAll('#question article').length > 0"
        ),
    )


def js(driver: webdriver.Chrome, script: str) -> Any:
    return driver.execute_script(script)


def pending(driver: webdriver.Chrome) -> int:
    return int(js(driver, "return window.certifyExam.pending()"))


def save_state(driver: webdriver.Chrome) -> str:
    return str(driver.find_element(By.ID, "save-state").get_attribute("data-save-state"))


def wait_saved(driver: webdriver.Chrome, seconds: float = 8) -> None:
    wait(
        driver,
        "everything saved",
        lambda: save_state(driver) == "saved" and pending(driver) == 0,
        seconds,
    )


def go_to(driver: webdriver.Chrome, number: int) -> None:
    driver.find_element(By.ID, f"grid-q{number}").click()
    wait(
        driver,
        f"question {number}",
        lambda: driver.find_element(By.ID, "question").get_attribute("data-number") == str(number),
    )


def inputs(driver: webdriver.Chrome, number: int) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, f'#q-{number} [name="q{number}"]')


def option(driver: webdriver.Chrome, number: int, letter: str) -> WebElement:
    return driver.find_element(
        By.CSS_SELECTOR, f'#q-{number} input[name="q{number}"][value="{letter}"]'
    )


def numbers_by_type(driver: webdriver.Chrome) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for article in driver.find_elements(By.CSS_SELECTOR, "#question article.q"):
        kind = str(article.get_attribute("data-type"))
        found.setdefault(kind, []).append(int(str(article.get_attribute("data-number"))))
    return found


SHOWN = """
var out = {};
document.querySelectorAll('#question article.q').forEach(function (a) {
  var n = a.getAttribute('data-number'), type = a.getAttribute('data-type');
  var inputs = Array.prototype.slice.call(a.querySelectorAll('[name="q' + n + '"]'));
  var chosen = inputs.filter(function (i) { return i.checked; });
  var value, texts = {};
  if (type === 'single' || type === 'true_false' || type === 'multiple') {
    value = chosen.map(function (i) { return i.value; }).sort().join('');
    chosen.forEach(function (i) {
      var text = i.parentNode.querySelector('.opt-text');
      texts[i.value] = text ? text.textContent : '';
    });
  } else if (type === 'fill') {
    var parts = inputs.map(function (i) { return i.value; });
    value = parts.some(function (p) { return p.trim() !== ''; }) ? parts.join(';') : '';
  } else if (type === 'matching') {
    var letters = inputs.map(function (i) { return i.value; });
    value = letters.some(function (l) { return l !== '-'; }) ? letters.join('') : '';
    letters.forEach(function (l) {
      var item = Array.prototype.slice.call(a.querySelectorAll('.match-options li')).filter(
        function (li) { return li.querySelector('.letter').textContent === l; })[0];
      if (item) texts[l] = item.querySelector('.opt-text').textContent;
    });
  } else {
    value = inputs[0].value;
  }
  out[n] = {type: type, value: value, texts: texts};
});
return out;
"""
"""What the page shows for every question, read from its inputs (not from the page's script):
the checked letters, the blanks joined by ``;``, the text — and the text beside each letter."""


def shown(driver: webdriver.Chrome) -> dict[int, dict[str, Any]]:
    return {int(n): v for n, v in js(driver, SHOWN).items()}


def script_errors(driver: webdriver.Chrome) -> list[str]:
    """SEVERE lines of the browser's console other than failed requests (expected while the
    page is offline or the server is down)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]


def network(driver: webdriver.Chrome, *, offline: bool) -> None:
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def block_saves(driver: webdriver.Chrome, blocked: bool) -> None:
    """Hold saves back in the browser (or let them through again). Holding returns only once the
    browser's network process applies it: the list reaches it asynchronously, and a save sent in
    between would slip through (a probe without a token changes nothing on the server). Letting
    through needs no wait: the page re-sends until a save is acknowledged."""
    driver.execute_cdp_cmd(
        "Network.setBlockedURLs", {"urls": ["*/exam/api/save*"] if blocked else []}
    )
    if not blocked:
        return
    probe = """
      var done = arguments[arguments.length - 1];
      fetch('/exam/api/save', {method: 'POST', credentials: 'omit'})
        .then(function () { done('through'); }, function () { done('blocked'); });
    """
    wait(driver, "saves held back", lambda: driver.execute_async_script(probe) == "blocked")


ACK_RECORDER = """
(function () {
  var real = window.fetch;
  window.fetch = function (input, init) {
    var answer = real.apply(this, arguments);
    if (String(input).indexOf('/exam/api/save') >= 0) {
      answer.then(function (response) {
        response.clone().json().then(function (data) {
          var log = JSON.parse(sessionStorage.getItem('test.acked') || '[]');
          log.push.apply(log, data.acked || []);
          sessionStorage.setItem('test.acked', JSON.stringify(log));
        }, function () {});
      }, function () {});
    }
    return answer;
  };
})();
"""
"""Records, across reloads, every seq a save reply acknowledged (the page is not changed)."""


# --- 1. the whole exam ----------------------------------------------------------------------


def test_the_whole_exam_through_offline_a_reload_and_a_killed_server(
    own: Live, browser: webdriver.Chrome
) -> None:
    driver, live = browser, own
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ACK_RECORDER})
    sign_in(driver, live)
    kinds = numbers_by_type(driver)
    assert set(kinds) == {"single", "multiple", "true_false", "fill", "matching", "subjective"}
    single, other_single = kinds["single"][:2]
    multiple, tf, fill, matching, essay = (
        kinds[k][0] for k in ("multiple", "true_false", "fill", "matching", "subjective")
    )
    premises = len(inputs(driver, matching))
    assert premises >= 2
    blanks = len(inputs(driver, fill))
    assert blanks >= 1

    # Online: one answer of every type, one question flagged; all reach the server.
    go_to(driver, single)
    option(driver, single, "B").click()
    go_to(driver, multiple)
    option(driver, multiple, "A").click()
    option(driver, multiple, "C").click()
    go_to(driver, tf)
    option(driver, tf, "T").click()
    driver.find_element(By.ID, "flag").click()
    go_to(driver, fill)
    inputs(driver, fill)[0].send_keys("过拟合")
    go_to(driver, essay)
    inputs(driver, essay)[0].send_keys("第一稿：先划分训练集与测试集。")
    go_to(driver, matching)  # one drop-down per premise, by keyboard: the second gets B
    inputs(driver, matching)[1].send_keys("B")
    go_to(driver, other_single)
    option(driver, other_single, "A").click()
    wait_saved(driver)
    saved = live.stored()
    assert saved[single] == "B" and saved[multiple] == "AC" and saved[tf] == "T"
    assert saved[matching] == "-B" + "-" * (premises - 2)
    assert saved[fill].split(";")[0] == "过拟合" and saved[essay].startswith("第一稿")

    # Offline: changes stay on the page and in its journal, and the page says so.
    network(driver, offline=True)
    go_to(driver, single)
    option(driver, single, "D").click()
    go_to(driver, essay)
    inputs(driver, essay)[0].send_keys("\n再用交叉验证调参。")
    wait(
        driver,
        "both kept offline",
        lambda: save_state(driver) == "offline" and pending(driver) == 2,
    )
    assert "网络中断" in driver.find_element(By.ID, "save-state").text
    assert "unsaved" in str(driver.find_element(By.ID, f"grid-q{single}").get_attribute("class"))
    assert live.stored()[single] == "B"
    network(driver, offline=False)  # the `online` event sends the journal at once
    wait_saved(driver, HEARTBEAT_S + 3)
    assert live.stored()[single] == "D" and "交叉验证" in live.stored()[essay]

    # Saves held back, then a reload: the journal survives it, is shown, and is sent later.
    block_saves(driver, True)
    go_to(driver, tf)
    option(driver, tf, "F").click()
    go_to(driver, matching)
    Select(inputs(driver, matching)[0]).select_by_value("A")
    go_to(driver, fill)
    # ";" and "；" separate blanks (grading splits at either): typed into a blank, both go.
    inputs(driver, fill)[-1].send_keys("；w;v")
    assert "已去掉" in driver.find_element(By.ID, "notice").text
    wait(driver, "changes pending", lambda: pending(driver) == 3 and save_state(driver) != "saved")
    driver.refresh()
    wait_for_paper(driver)
    assert pending(driver) == 3, "the journal did not survive the reload"
    after_reload = shown(driver)
    assert after_reload[tf]["value"] == "F" and after_reload[fill]["value"].endswith("wv")
    assert after_reload[matching]["value"] == "AB" + "-" * (premises - 2)
    assert (
        after_reload[fill]["value"].count(";") == blanks - 1
        and "；" not in after_reload[fill]["value"]
    )
    assert live.stored()[tf] == "T"
    block_saves(driver, False)  # nothing else changes: the heartbeat re-sends the journal
    wait_saved(driver, HEARTBEAT_S + 3)
    assert live.stored()[tf] == "F" and live.stored()[fill] == after_reload[fill]["value"]
    assert live.stored()[matching] == after_reload[matching]["value"]

    # The server is killed (SIGKILL) with answers pending, changed again while it is down, and
    # started again on the same port: the page re-sends by itself and reaches "saved".
    block_saves(driver, True)
    go_to(driver, multiple)
    option(driver, multiple, "C").click()
    option(driver, multiple, "B").click()
    wait(driver, "changes pending", lambda: pending(driver) == 1)
    live.server.kill()
    block_saves(driver, False)
    go_to(driver, essay)
    inputs(driver, essay)[0].send_keys("\n服务器重启期间写下的一句。")
    wait(
        driver,
        "both kept while the server is down",
        lambda: save_state(driver) == "offline" and pending(driver) == 2,
        HEARTBEAT_S + 5,
    )
    live.server.start()
    wait_saved(driver, HEARTBEAT_S + 5)
    assert live.stored()[multiple] == "AB" and "重启期间" in live.stored()[essay]

    # Hand-in through the dialog: it lists exactly the questions left unanswered.
    page = shown(driver)
    unanswered = sorted(n for n, v in page.items() if v["value"] == "")
    assert unanswered and single not in unanswered and kinds["single"][2] in unanswered
    driver.find_element(By.ID, "handin").click()
    dialog = driver.find_element(By.ID, "handin-dialog")
    wait(driver, "the hand-in dialog", dialog.is_displayed)
    listed = driver.find_element(By.ID, "handin-unanswered").text
    assert f"还有 {len(unanswered)} 题未作答" in listed
    numbers = re.search(r"第 (.*) 题", listed)
    assert numbers and [int(n) for n in numbers.group(1).split("、")] == unanswered
    driver.find_element(By.ID, "handin-confirm").click()
    wait(driver, "the hand-in", lambda: driver.find_element(By.ID, "done").is_displayed())
    assert (
        js(driver, "return Object.keys(localStorage).filter(k => k.indexOf('journal') >= 0)") == []
    )
    acked = json.loads(js(driver, "return sessionStorage.getItem('test.acked') || '[]'"))
    assert not driver.find_element(By.ID, "save-detail").is_displayed()  # nothing refused
    assert script_errors(driver) == []

    # The database: the responses are what the page showed, in the copy's printed letters…
    attempt = live.attempt()
    assert attempt.status is AttemptStatus.HANDED_IN
    assert attempt.finish_reason is FinishReason.CANDIDATE
    copy = live.copy()
    with Session(live.engine) as s:
        responses = {
            r.item_version_id: r.raw
            for r in s.exec(
                select(Response).where(Response.registration_id == attempt.registration_id)
            )
        }
        answers = s.exec(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt.id)).all()
        events = s.exec(select(AnswerEvent).where(AnswerEvent.attempt_id == attempt.id)).all()
    assert {q.number: responses[q.item_version_pk] for q in copy.questions} == {
        n: v["value"] for n, v in page.items()
    }
    for q in copy.questions:
        for letter, text in page[q.number]["texts"].items():
            if q.options:  # true/false shows 对/错 for T/F
                assert text == q.options[letter], (q.number, letter)
    assert [
        a.flagged for a in answers if a.item_version_id == copy.by_number[tf].item_version_pk
    ] == [True]
    # …and every acknowledged seq is in the history once; each answer is its question's newest.
    seqs = Counter(e.seq for e in events)
    assert set(seqs) == set(acked) and max(seqs.values()) == 1
    assert attempt.last_seq == max(seqs)
    for a in answers:
        newest = max(
            (e for e in events if e.item_version_id == a.item_version_id), key=lambda e: e.seq
        )
        assert (a.seq, a.value, a.flagged) == (newest.seq, newest.value, newest.flagged)


# --- 2. the device's clock is an hour off ---------------------------------------------------

SKEWED_CLOCK = """
(function () {
  var Real = Date, offset = %d;
  class Skewed extends Real {
    constructor(...args) { if (args.length) super(...args); else super(Real.now() + offset); }
    static now() { return Real.now() + offset; }
  }
  window.Date = Skewed;
})();
"""
"""The page's Date (and Date.now) an hour off, in place before any of the page's scripts run."""


def clock_text_ms(driver: webdriver.Chrome) -> int:
    hours, minutes, seconds = (
        int(p) for p in driver.find_element(By.ID, "timer").text.strip().split(":")
    )
    return ((hours * 60 + minutes) * 60 + seconds) * 1000


@pytest.mark.parametrize("offset_hours", [1, -1], ids=["ahead", "behind"])
def test_a_clock_an_hour_off_does_not_move_the_countdown(
    live: Live, browser: webdriver.Chrome, offset_hours: int
) -> None:
    driver = browser
    offset_ms = offset_hours * 3_600_000
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": SKEWED_CLOCK % offset_ms}
    )
    sign_in(driver, live)
    skew = js(driver, "return Date.now() - (performance.timeOrigin + performance.now())")
    assert abs(skew - offset_ms) < 1000, "the page's clock is not off"
    time.sleep(0.5)  # the countdown has ticked since the state arrived
    truth = live.remaining_ms()
    shown_ms = int(str(driver.find_element(By.ID, "timer").get_attribute("data-remaining-ms")))
    assert abs(shown_ms - truth) < 2000
    assert abs(clock_text_ms(driver) - shown_ms) < 2000  # the visible text says the same
    assert 110 * 60_000 < shown_ms < 120 * 60_000  # 120 minutes from three minutes ago
    assert script_errors(driver) == []


# --- 3. extra time, pause and resume without a reload ---------------------------------------


def test_extra_time_pause_and_resume_reach_the_page_without_a_reload(
    live: Live, browser: webdriver.Chrome
) -> None:
    driver = browser
    sign_in(driver, live)
    js(driver, "window.notReloaded = true;")
    attempt = live.attempt()
    staff = console.Staff("inv1", "invigilator")
    before = js(driver, "return window.certifyExam.remainingMs()")

    console.act(
        live.engine, attempt.room_id, staff, "extra_time", attempt_id=attempt.id, minutes=10
    )
    asked = time.monotonic()
    wait(
        driver,
        "ten more minutes on the timer",
        lambda: js(driver, "return window.certifyExam.remainingMs()") > before + 9 * 60_000,
        5,
    )
    assert time.monotonic() - asked < 5
    assert abs(js(driver, "return window.certifyExam.remainingMs()") - live.remaining_ms()) < 2000
    assert "延时 10 分钟" in driver.find_element(By.ID, "timer-extra").text
    assert js(driver, "return window.notReloaded === true")

    kinds = numbers_by_type(driver)
    single = kinds["single"][0]
    go_to(driver, single)
    console.act(live.engine, attempt.room_id, staff, "pause", attempt_id=attempt.id)
    banner = driver.find_element(By.ID, "paused-banner")
    wait(driver, "the paused banner", banner.is_displayed, 5)
    assert "暂停" in banner.text
    assert not option(driver, single, "A").is_enabled()  # the answer area is locked
    assert not driver.find_element(By.ID, "flag").is_enabled()
    assert not driver.find_element(By.ID, "handin").is_enabled()
    option(driver, single, "A").click()  # a click on a locked option does nothing
    assert shown(driver)[single]["value"] == "" and pending(driver) == 0
    frozen = js(driver, "return window.certifyExam.remainingMs()")
    time.sleep(1.2)
    assert js(driver, "return window.certifyExam.remainingMs()") == frozen  # the clock stopped

    console.act(live.engine, attempt.room_id, staff, "resume", attempt_id=attempt.id)
    wait(driver, "the banner gone", lambda: not banner.is_displayed(), 5)
    assert (
        option(driver, single, "A").is_enabled()
        and driver.find_element(By.ID, "handin").is_enabled()
    )
    option(driver, single, "A").click()
    wait_saved(driver)
    assert live.stored()[single] == "A"
    assert abs(js(driver, "return window.certifyExam.remainingMs()") - live.remaining_ms()) < 2000
    assert js(driver, "return window.notReloaded === true")
    assert script_errors(driver) == []


# --- 4. the browser closed: the sweeper hands in at the deadline ----------------------------


def test_a_closed_browser_is_handed_in_at_the_deadline_with_its_saved_answers(
    live: Live, browser: webdriver.Chrome
) -> None:
    driver = browser
    driver.execute_cdp_cmd("Network.enable", {})
    sign_in(driver, live)
    kinds = numbers_by_type(driver)
    single, tf = kinds["single"][0], kinds["true_false"][0]
    go_to(driver, single)
    option(driver, single, "C").click()
    go_to(driver, tf)
    option(driver, tf, "F").click()
    wait_saved(driver)
    # A last change that never reaches the server: it is not part of the hand-in.
    network(driver, offline=True)
    option(driver, tf, "T").click()
    wait(driver, "the change kept offline", lambda: pending(driver) == 1)
    driver.quit()  # the candidate closes the browser

    attempt = live.attempt()
    deadline = datetime.now(UTC) + timedelta(seconds=1)
    with Session(live.engine) as s:  # the session is nearly over
        s.execute(update(Attempt).where(col(Attempt.id) == attempt.id).values(deadline_at=deadline))
        s.commit()
    assert attempts.sweep(live.engine) == attempts.Swept(0, 0)  # not yet
    time.sleep((deadline + attempts.SAVE_GRACE - datetime.now(UTC)).total_seconds() + 0.2)
    assert attempts.sweep(live.engine) == attempts.Swept(1, 0)

    closed = live.attempt()
    assert closed.status is AttemptStatus.HANDED_IN
    assert closed.finish_reason is FinishReason.DEADLINE
    assert attempts.utc(closed.handed_in_at) == deadline  # type: ignore[arg-type]
    saved = live.stored()
    assert saved == {single: "C", tf: "F"}
    assert live.handed_in_responses() == saved


def test_a_page_cut_off_at_the_deadline_downloads_its_backup_and_the_import_completes_it(
    live: Live, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """The last resort: the network never comes back. The page offers its unsaved answers as an
    encrypted file; the sweeper hands in what the server has; the invigilator's import of the
    file brings the rest into the hand-in."""
    driver = browser
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.execute_cdp_cmd("Network.enable", {})
    sign_in(driver, live)
    kinds = numbers_by_type(driver)
    single, tf, fill = kinds["single"][0], kinds["true_false"][0], kinds["fill"][0]
    go_to(driver, single)
    option(driver, single, "B").click()
    wait_saved(driver)
    assert driver.find_element(By.ID, "backup").is_displayed() is False  # nothing to back up
    network(driver, offline=True)
    go_to(driver, tf)
    option(driver, tf, "T").click()
    go_to(driver, fill)
    blank = inputs(driver, fill)[0]
    blank.send_keys("交换机")
    blank.send_keys(Keys.TAB)
    wait(driver, "both kept offline", lambda: pending(driver) == 2)
    on_screen = {n: v["value"] for n, v in shown(driver).items() if v["value"]}
    assert on_screen[tf] == "T" and on_screen[fill].startswith("交换机")
    button = wait(
        driver, "the backup offered", lambda: driver.find_element(By.ID, "backup").is_displayed()
    )
    assert button
    driver.find_element(By.ID, "backup").click()
    files = wait(driver, "the file downloaded", lambda: list(downloads.glob("*.certify")))
    data = files[0].read_bytes()
    assert live.person.admission_no in files[0].name
    text = data.decode()
    assert "交换机" not in text and '"T"' not in text  # the answers travel encrypted
    assert live.person.id_number not in text
    # Opened as the server opens it: the page's two changes, each with the time it had left.
    a = live.attempt()
    opened = backup.open_backup(VAULT, data, backup.Whose(a.id or 0, a.registration_id, ""))
    assert {e.number: e.value for e in opened.entries} == {tf: "T", fill: on_screen[fill]}
    left = [opened.left_ms.get(e.seq) for e in opened.entries]
    assert all(isinstance(x, int) and 0 < x <= live.remaining_ms() + 60_000 for x in left), left
    driver.quit()  # the candidate leaves; the page never reaches the server again

    attempt = live.attempt()
    deadline = datetime.now(UTC) + timedelta(seconds=1)
    with Session(live.engine) as s:
        s.execute(update(Attempt).where(col(Attempt.id) == attempt.id).values(deadline_at=deadline))
        s.commit()
    time.sleep((deadline + attempts.SAVE_GRACE - datetime.now(UTC)).total_seconds() + 0.2)
    assert attempts.sweep(live.engine) == attempts.Swept(1, 0)
    assert live.stored() == {single: "B"}

    staff = console.Staff("inv1", "invigilator")
    done = backup.restore(live.engine, VAULT, attempt.room_id, staff, data)
    assert (len(done.stored), done.refused, done.handed_in) == (2, [], True)
    assert live.stored() == on_screen  # what the page showed, all of it in the database
    closed = live.attempt()
    assert attempts.utc(closed.handed_in_at) == deadline  # type: ignore[arg-type]
    assert live.handed_in_responses() == on_screen


# --- 5. keyboard, layout, nothing from elsewhere, no script errors --------------------------


def test_keyboard_and_layout_at_1366_by_768(live: Live, browser: webdriver.Chrome) -> None:
    driver = browser
    sign_in(driver, live)
    assert js(driver, "return [window.outerWidth, window.outerHeight]") == [1366, 768]
    for name in ("timer", "save-state", "grid", "handin"):
        box = js(
            driver,
            "var r = document.getElementById(arguments[0]).getBoundingClientRect();"
            "return [r.left, r.top, r.right, r.bottom, innerWidth, innerHeight];".replace(
                "arguments[0]", repr(name)
            ),
        )
        left, top, right, bottom, width, height = box
        assert right > left and bottom > top, name
        assert left >= 0 and top >= 0 and right <= width and bottom <= height, (name, box)
    assert js(driver, "return [scrollX, scrollY]") == [0, 0]
    assert js(driver, "return document.documentElement.scrollWidth <= innerWidth")

    # Tab from the question's heading reaches its options; arrows choose, Space ticks.
    kinds = numbers_by_type(driver)
    first = int(str(driver.find_element(By.ID, "question").get_attribute("data-number")))
    assert first == 1 and 1 in kinds["single"] and 2 in kinds["single"]
    go_to(driver, 1)  # focuses the heading, as a click on the grid does
    for _ in range(10):
        if js(driver, "return document.activeElement.name") == "q1":
            break
        ActionChains(driver).send_keys(Keys.TAB).perform()
    assert js(driver, "return document.activeElement.name") == "q1", "Tab never reached an option"
    ActionChains(driver).send_keys(Keys.SPACE).perform()
    chosen = shown(driver)[1]["value"]
    assert chosen
    ActionChains(driver).send_keys(Keys.ARROW_DOWN).perform()
    moved = shown(driver)[1]["value"]
    assert moved and moved != chosen
    wait_saved(driver)
    assert live.stored()[1] == moved

    # Alt+→ and Alt+← page through the questions.
    ActionChains(driver).key_down(Keys.ALT).send_keys(Keys.ARROW_RIGHT).key_up(Keys.ALT).perform()
    wait(
        driver,
        "question 2",
        lambda: js(driver, "return document.getElementById('question').dataset.number") == "2",
    )
    assert shown(driver)[1]["value"] == moved  # the option did not move with the keys
    ActionChains(driver).key_down(Keys.ALT).send_keys(Keys.ARROW_LEFT).key_up(Keys.ALT).perform()
    wait(
        driver,
        "question 1",
        lambda: js(driver, "return document.getElementById('question').dataset.number") == "1",
    )

    base = live.server.base
    loaded = js(driver, "return performance.getEntriesByType('resource').map(e => e.name)")
    assert any(u.endswith("/static/exam/exam.js") for u in loaded)
    assert any(u.endswith("/static/exam/exam.css") for u in loaded)
    assert [u for u in loaded if not u.startswith(base + "/")] == []
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []


def test_a_question_shows_its_picture_from_the_paper_itself(
    database: Database, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    """An item's image comes with the paper as a ``data:`` image (no request of its own, none
    to elsewhere); the words around it stay text."""
    exam = exam_under_way(database, tmp_path, 2)
    person = exam.people[0]
    first = next(q for q in copy_of(exam, person).questions if q.type.value == "single")
    data = io.BytesIO()
    PILImage.new("RGB", (120, 60), (30, 90, 200)).save(data, "PNG")
    image = check_image(data.getvalue())
    with Session(database.engine) as s, s.begin():
        s.add(ItemImage(sha256=image.sha256, media_type=image.media_type, width=120, height=60,
                        size=len(image.data), data=image.data))  # fmt: skip
        s.execute(
            update(ItemVersion).where(col(ItemVersion.id) == first.item_version_pk)
            .values(stem="<b>如图</b>：" + marker(image.sha256, "蓝色方块") + "是什么颜色？")
        )  # fmt: skip
    server = Server(database.url, free_port(), tmp_path)
    server.start()
    try:
        sign_in(browser, Live(exam, server, person))
        go_to(browser, first.number)
        picture = browser.find_element(By.CSS_SELECTOR, f"#stem-{first.number} img.q-image")
        loaded = "return arguments[0].complete && arguments[0].naturalWidth"
        wait(browser, "the picture", lambda: browser.execute_script(loaded, picture) == 120)
        assert picture.get_attribute("alt") == "蓝色方块"
        assert str(picture.get_attribute("src")).startswith("data:image/png;base64,")
        stem = browser.find_element(By.ID, f"stem-{first.number}").text
        assert "<b>如图</b>：" in stem and "是什么颜色？" in stem and "sha256" not in stem
        assert script_errors(browser) == []
    finally:
        server.stop()
