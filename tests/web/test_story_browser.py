"""The institution's whole story in a real browser (Chromium through Selenium), as a new staff
member would walk it, from an empty database: sign in, upload the sample bank, upload a
blueprint, check and assemble it, freeze its forms, create the raters' accounts, create a
sitting, upload the applications and accept one refusal on override, upload the answer sheets,
let each rater sign in and upload their own round of blind marks, grade, publish the pass list,
create the institution's signing key, download the trust list signed with the root key, issue
the certificates, download one, read its QR code and verify it — against the downloaded trust
list, and on the verification page once both lists are published from the keys page. After each step the
test reads the page and the database; a screenshot of each step goes to
``test-output/browser/story-NN-<step>.png``.

Two steps are not the browser's, and are marked where they happen: the province's root key is
made on the server only (``certify keys root``), so the fixture makes it as a real deployment
has it before staff start; the notice period (公示) is real time that a test cannot wait for, so
its dates are moved into the past in the database after the browser published it. The trust and
revocation lists are published on the site from the keys page, and the QR's page verifies
against them at once, with no restart. The files staff upload —
applications, scanned answer sheets, raters' marks — are simulated as ``certify demo`` makes
them (:mod:`certify.grading.simulate`), reading the copies and the anonymous marking list the
scanner and the raters would have."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait
from sqlmodel import Session, col, func, select
from werkzeug.serving import BaseWSGIServer, make_server

from certify.accounts import create_account
from certify.grading import simulate
from certify.grading.marks import marking_list
from certify.grading.sheets import candidate_copies
from certify.infra.settings import Settings
from certify.keys.store import create_key
from certify.signing.trust import load_trust_list
from certify.signing.verify import load_revocation_list, verify_token
from certify.web import create_app
from question_bank.bank import bank_items
from question_bank.samples import sample_blueprints, sample_files
from schemas.enums import JobState
from schemas.tables import (
    Account,
    Application,
    AuditEntry,
    Certificate,
    Job,
    Mark,
    Paper,
    Publication,
    PublishedList,
    Registration,
    Response,
    Result,
    SigningKey,
    Sitting,
)
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.web.browser_helpers import free_port
from tests.web.conftest import PASSWORDS
from tests.web.test_bank_browser import heading, keys
from tests.web.test_browser import SCREENSHOTS, browser, qr_url  # noqa: F401 (a fixture)

SITTING = "STORY-2026-AI-J"
BLUEPRINT = "ai-junior-sample"
INSTITUTION = "SD-EVAL-STORY"
ROOT_PASS = "province root passphrase 2026"
KEY_PASS = "institution key passphrase 2026"
APPLICANTS = 36
SHORT = 3
"""Applicants who fall short of the application conditions; one is accepted on override."""
RATERS = ("rater-a", "rater-b", "rater-c")
RATER_FIRST = "first-password-1"
RATER_OWN = "my-own-password-1"


def gone(element: Any) -> bool:
    """Has the page ``element`` belonged to been replaced? Chromium answers a node of a page
    that is gone either as stale or as one that "does not belong to the document"."""
    try:
        element.is_enabled()
    except WebDriverException:  # StaleElementReferenceException is one
        return True
    return False


def page_status(url: str) -> int:
    """The HTTP status a plain GET of ``url`` answers with."""
    try:
        with urllib.request.urlopen(url) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


@dataclass
class Story:
    """The live site over one database, served on a free port of this machine."""

    database: Database
    folder: Path
    app: Flask
    server: BaseWSGIServer | None = None
    shots: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, database: Database, folder: Path) -> Story:
        live = cls(database, folder, _app(database, folder, None, None))
        live.server = make_server("127.0.0.1", free_port(), live.dispatch, threaded=True)
        threading.Thread(target=live.server.serve_forever, daemon=True).start()
        return live

    def dispatch(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def engine(self) -> Any:
        return self.database.engine

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
        self.app.extensions["certify"].jobs.stop()  # before the database goes


def _app(
    database: Database,
    folder: Path,
    trust: dict[str, Any] | None,
    revocations: dict[str, Any] | None,
) -> Flask:
    settings = Settings.load(
        {},
        web_secret="test-secret",
        data_dir=folder / "data",
        rate_limit=100_000,
        sweep_seconds=0,
        job_seconds=0.5,  # the web process's own job thread runs the background jobs
    )
    return create_app(
        settings,
        engine=database.engine,
        vault=VAULT,
        trust_document=trust,
        revocations_document=revocations,
    )


@pytest.fixture
def story(database: Database, tmp_path: Path) -> Iterator[Story]:
    # What a deployment holds before its staff first sign in: the admin account (made with
    # `certify accounts create`) and the province's root key, which is made on the server only
    # (`certify keys root`; the keys page says so and offers no form for it). Nothing else.
    create_account(database.engine, "admin", "admin", PASSWORDS["admin"])
    create_key(
        database.engine,
        role="root",
        issuer="SD-HRSS",
        name="山东省人力资源和社会保障厅",
        passphrase=ROOT_PASS,
        actor="cli",
    )
    live = Story.open(database, tmp_path)
    try:
        yield live
    finally:
        live.close()


def count(story: Story, table: Any, *where: Any) -> int:
    with Session(story.engine) as session:
        return int(session.exec(select(func.count()).select_from(table).where(*where)).one())


def test_the_whole_story_from_an_empty_database(
    story: Story,
    browser: webdriver.Chrome,  # noqa: F811
    tmp_path: Path,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.set_window_size(1280, 1000)
    # A condition that reads a page while it is being replaced meets the old page's nodes,
    # which Chromium answers as stale or as "does not belong to the document" (a plain
    # WebDriverException); the wait asks again rather than fail on either.
    wait = WebDriverWait(browser, 120, ignored_exceptions=(WebDriverException,))
    base = story.base
    steps = iter(range(1, 100))

    def shot(name: str) -> None:
        path = SCREENSHOTS / f"story-{next(steps):02d}-{name}.png"
        browser.save_screenshot(str(path))
        story.shots.append(path.name)

    def at(path: str) -> Callable[[webdriver.Chrome], bool]:
        return lambda b: b.current_url.split("?")[0].endswith(path)

    def press(css: str) -> None:
        browser.find_element(By.CSS_SELECTOR, css).send_keys(Keys.ENTER)

    def link(text: str) -> None:
        browser.find_element(By.LINK_TEXT, text).send_keys(Keys.ENTER)

    def flash() -> str:
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, ".flash"))
        return str(browser.find_element(By.CSS_SELECTOR, ".flash").text)

    def main_text() -> str:
        return str(browser.find_element(By.TAG_NAME, "main").text)

    def sign_in(username: str, password: str) -> None:
        wait.until(lambda b: "/login" in b.current_url)
        browser.find_element(By.ID, "username").click()
        keys(browser, username, Keys.TAB, password, Keys.ENTER)
        wait.until(lambda b: "/login" not in b.current_url)

    def sign_out() -> None:
        browser.find_element(
            By.XPATH, "//header//form[contains(@action, '/logout')]//button"
        ).click()
        wait.until(lambda b: b.find_elements(By.ID, "username") or "/login" not in b.current_url)
        browser.delete_all_cookies()  # a new person at the same computer

    def follow_job(submit: Callable[[], None], destination: str) -> Job:
        """Submit a form that starts a background job; the browser follows the job's page
        until job.js opens ``destination`` once the job is done (a quick job's page may come
        and go between two polls of the driver, so the job is read from the database)."""
        before = count(story, Job)
        page = browser.find_element(By.TAG_NAME, "html")
        submit()
        wait.until(lambda b: gone(page))
        wait.until(lambda b: at(destination)(b) and "/admin/jobs/" not in b.current_url)
        with Session(story.engine) as session:
            (job,) = session.exec(select(Job).where(col(Job.id) > before)).all()
        assert job.state is JobState.DONE and job.done == job.total, job
        return job

    def downloaded(name: str) -> Path:
        path = downloads / name
        WebDriverWait(browser, 60).until(
            lambda b: path.exists() and not list(downloads.glob("*.crdownload"))
        )
        return path

    # 1. A new staff member signs in as the institution's admin.
    browser.get(f"{base}/admin/")
    sign_in("admin", PASSWORDS["admin"])
    assert heading(browser) == "考试场次"
    shot("signed-in")

    # 2. The sample bank, file by file, through the upload page.
    expected = 0
    for sample in sample_files():
        browser.get(f"{base}/admin/bank/upload")
        browser.find_element(By.ID, "file").send_keys(str(sample))
        press("form[enctype] button")
        wait.until(lambda b: "/admin/bank/?" in b.current_url)
        added = json.loads(sample.read_text("utf-8"))
        items = added if isinstance(added, list) else added["items"]
        expected += len(items)
        assert f"新增 {len(items)}" in flash()
    assert len(bank_items(story.engine)) == expected
    shot("bank")

    # 3. The sample blueprint, checked and assembled in the background, its forms frozen.
    browser.get(f"{base}/admin/blueprints/new")
    blueprint = next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")
    browser.find_element(By.ID, "file").send_keys(str(blueprint))
    press("form.blueprint-editor button")
    wait.until(at(f"/admin/blueprints/{BLUEPRINT}"))
    link("检查能否满足")
    wait.until(at("/check"))
    assert "蓝图可满足" in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    shot("blueprint-check")
    browser.back()
    wait.until(at(f"/admin/blueprints/{BLUEPRINT}"))
    browser.find_element(By.ID, "seed").click()
    follow_job(lambda: keys(browser, Keys.ENTER), f"/admin/blueprints/{BLUEPRINT}")
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "table.forms tbody tr"))
    forms = [f"{BLUEPRINT}-1A", f"{BLUEPRINT}-1B"]
    rows = browser.find_elements(By.CSS_SELECTOR, "table.forms tbody tr")
    assert [r.text.split()[0] for r in rows] == forms
    shot("assembled")
    for paper in forms:
        browser.get(f"{base}/admin/papers/{paper}")
        link("锁定试卷…")
        wait.until(at("/freeze"))
        browser.find_element(By.ID, "confirm").click()
        keys(browser, paper, Keys.ENTER)
        wait.until(at(f"/admin/papers/{paper}"))
        assert "已锁定" in browser.find_element(By.CSS_SELECTOR, ".paper-status").text
    shot("frozen")
    with Session(story.engine) as session:
        assert {p.code: p.status for p in session.exec(select(Paper))} == dict.fromkeys(
            forms, "frozen"
        )

    # 4. The raters' accounts, each with a first password it must change.
    for rater in RATERS:
        browser.get(f"{base}/admin/accounts/new?role=rater")
        browser.find_element(By.ID, "username").send_keys(rater)
        browser.find_element(By.ID, "display_name").send_keys(f"评分员 {rater[-1].upper()}")
        Select(browser.find_element(By.ID, "role")).select_by_value("rater")
        browser.find_element(By.ID, "password").send_keys(RATER_FIRST, Keys.ENTER)
        wait.until(lambda b: "/admin/accounts/new" not in b.current_url)
        assert f"已创建账户 {rater}" in flash()
    shot("raters")
    with Session(story.engine) as session:
        made = session.exec(select(Account).where(col(Account.role) == "rater")).all()
    assert sorted(a.username for a in made) == list(RATERS)
    assert all(a.must_change_password for a in made)

    # 5. The institution, authorised for the junior AI exam since last year; then the sitting,
    # on the assembled blueprint.
    browser.get(f"{base}/admin/institutions/")
    browser.find_element(By.CSS_SELECTOR, "details.card summary").click()
    browser.find_element(By.ID, "code").send_keys(INSTITUTION)
    browser.find_element(By.ID, "name").send_keys("山东示例评价机构")
    browser.find_element(By.ID, "region").send_keys("山东省济南市", Keys.ENTER)
    assert f"机构 {INSTITUTION} 已登记" in flash()
    browser.find_elements(By.CSS_SELECTOR, "details.card summary")[1].click()
    browser.find_element(By.CSS_SELECTOR, "input[name=occupation][value=ai]").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=level][value=junior]").click()
    last_year = (date.today() - timedelta(days=365)).isoformat()
    browser.execute_script(f"document.getElementById('valid_from').value = '{last_year}'")
    added = browser.find_element(By.CSS_SELECTOR, ".flash")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/authorise'] button").click()
    wait.until(staleness_of(added))  # the page that answers, not the one before it
    assert "已授权 1 项" in flash()
    assert f"评价 ai/junior {last_year}" in main_text()
    shot("institution")
    browser.get(f"{base}/admin/")
    browser.find_element(By.CSS_SELECTOR, "details.card summary").click()
    browser.find_element(By.ID, "code").send_keys(SITTING)
    browser.find_element(By.ID, "blueprint").send_keys(BLUEPRINT)
    browser.find_element(By.ID, "institution").send_keys("山东示例评价机构")
    starts = (date.today() - timedelta(days=20)).isoformat()
    browser.find_element(By.ID, "starts_at").send_keys(f"{starts} 09:00", Keys.ENTER)
    wait.until(at(f"/admin/sittings/{SITTING}"))
    assert f"考试场次 {SITTING} 已创建" in flash()
    assert heading(browser).startswith(f"{SITTING} · ai/junior")
    shot("sitting")
    assert count(story, Sitting, col(Sitting.code) == SITTING) == 1

    # 6. Applications: the refusals with their reasons on the page, one accepted on override.
    rng = np.random.default_rng(20261201)
    people = simulate.candidates(APPLICANTS, ["A", "B"], rng)
    applicants = simulate.write_applicants(
        tmp_path / "申报名单.csv", people, "junior", date.today(), rng, short=SHORT
    )
    link("申报审核")
    wait.until(at(f"/admin/sittings/{SITTING}/applications"))
    browser.find_element(By.ID, "file").send_keys(str(applicants))
    press("form[enctype] button.primary")
    wait.until(lambda b: "decision=refused" in b.current_url)
    assert f"受理 {APPLICANTS - SHORT} 人，不予受理 {SHORT} 人" in flash()
    reasons = browser.find_elements(By.CSS_SELECTOR, "input[id^=reason-]")
    assert len(reasons) == SHORT
    assert f"共 {SHORT} 份申请" in main_text()
    assert "培训学时 64，不足 128" in main_text()  # each refusal's reason, route by route
    browser.execute_script("arguments[0].scrollIntoView()", reasons[0])
    shot("applications-refused")
    reasons[-1].send_keys("经评价机构集体研究，同意破格受理", Keys.ENTER)
    wait.until(lambda b: "decision=refused" not in b.current_url)
    assert "已破格受理" in flash()
    shot("applications-override")
    registered = APPLICANTS - SHORT + 1
    assert count(story, Application) == APPLICANTS
    assert count(story, Registration) == registered
    link("考生名册")
    wait.until(at(f"/admin/sittings/{SITTING}/roster"))
    assert f"{registered}" in main_text()

    # 7. The scanned answer sheets of everyone registered.
    _, copies = candidate_copies(story.engine, SITTING)
    ability = {p.admission_no: p.ability for p in people}
    views = {a: view for a, (_, view) in copies.items()}
    sheets = simulate.write_sheets(tmp_path / "答题卡.csv", views, ability, rng)
    link("答题卡")
    wait.until(at(f"/admin/sittings/{SITTING}/sheets"))
    browser.find_element(By.ID, "file").send_keys(str(sheets))
    press("form.card button.primary")
    wait.until(at(f"/admin/sittings/{SITTING}/roster"))
    # The 40 objective answers of each sheet are stored; the 4 written answers go to raters.
    assert f"{registered} 份答题卡，{registered * 40} 个作答" in flash()
    shot("sheets")
    assert count(story, Response) == registered * 40
    link("评分进度")
    wait.until(at(f"/admin/sittings/{SITTING}/marking"))
    shot("marking-before")

    # 8. Blind double marking: each rater signs in, chooses a password, uploads their round.
    admissions = {reg.id: a for a, (reg, _) in copies.items()}
    scripts = [
        (s.code, s.maximum, ability[admissions[s.registration_id]])
        for s in marking_list(story.engine, SITTING)
    ]
    assert len(scripts) == registered * 4
    rounds = simulate.write_marks(tmp_path, scripts, rng)
    sign_out()
    for n, (rater, path) in enumerate(zip(RATERS, rounds, strict=False), start=1):
        named = path.read_bytes()
        for simulated, account in zip(("评分员甲", "评分员乙", "评分员丙"), RATERS, strict=True):
            named = named.replace(simulated.encode(), account.encode())
        mine = tmp_path / f"{rater}.csv"
        mine.write_bytes(named)
        browser.get(f"{base}/rater/")
        sign_in(rater, RATER_FIRST)
        wait.until(at("/account/password"))
        browser.find_element(By.ID, "current").click()
        keys(browser, RATER_FIRST, Keys.TAB, RATER_OWN, Keys.TAB, RATER_OWN, Keys.ENTER)
        wait.until(lambda b: "/account/password" not in b.current_url)
        browser.get(f"{base}/rater/")
        assert heading(browser) == "评分"
        upload = f"form[action$='/sittings/{SITTING}/marks']"
        browser.find_element(By.CSS_SELECTOR, f"{upload} input[type=file]").send_keys(str(mine))
        press(f"{upload} button")
        stored = len(named.decode("utf-8-sig").strip().splitlines()) - 1
        assert f"已导入评分 {stored} 个" in flash()
        shot(f"marks-round-{n}")
        assert count(story, Mark, col(Mark.round) == n, col(Mark.rater) == rater) == stored
        sign_out()
    assert count(story, Mark) == sum(
        len(p.read_text("utf-8-sig").strip().splitlines()) - 1 for p in rounds
    )

    # 9. The admin again: the marking is complete; grading runs as a background job.
    browser.get(f"{base}/admin/sittings/{SITTING}/marking")
    sign_in("admin", PASSWORDS["admin"])
    wait.until(at(f"/admin/sittings/{SITTING}/marking"))
    marked = len(scripts)
    assert f"主观题答卷 {marked} 份，已有最终分 {marked} 份，待三评 0 份" in main_text()
    shot("marking-done")
    link("阅卷")
    wait.until(at(f"/admin/sittings/{SITTING}/grading"))
    grading = follow_job(
        lambda: press("form.card button.primary"), f"/admin/sittings/{SITTING}/grading"
    )
    with Session(story.engine) as session:
        results = session.exec(select(Result)).all()
    passed = sum(1 for r in results if r.passed)
    assert len(results) == registered and 0 < passed < registered
    assert f"#{grading.id} · 已完成" in main_text()
    terms = browser.find_elements(By.CSS_SELECTOR, "main dl dt")
    values = browser.find_elements(By.CSS_SELECTOR, "main dl dd")
    summary = {t.text: v.text for t, v in zip(terms, values, strict=True)}
    assert (summary["评定"], summary["合格"], summary["待评分"]) == (
        str(registered),
        str(passed),
        "0",
    )
    shot("graded")
    browser.get(f"{base}/admin/sittings/{SITTING}/results")
    assert heading(browser) == f"{SITTING} · 成绩"
    shot("results")
    link("统计")  # the statistics, computed in the background, then their report
    wait.until(at(f"/admin/sittings/{SITTING}/stats"))
    assert "尚未统计" in main_text()
    follow_job(lambda: press("form.card button.primary"), f"/admin/sittings/{SITTING}/stats")
    assert f"{registered} · 合格 {passed}" in main_text() and "已过时" not in main_text()
    assert browser.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    shot("statistics")
    link("统计分析报告（PDF）")
    assert downloaded(f"{SITTING}-统计分析-report.pdf").read_bytes().startswith(b"%PDF")

    # 10. The pass list published (公示) from the sitting's page.
    browser.get(f"{base}/admin/sittings/{SITTING}")
    days = browser.find_element(By.ID, "days")
    days.clear()
    days.send_keys("7", Keys.ENTER)
    assert f"已公示 {passed} 人" in flash()
    assert "公示期内" in main_text()
    shot("published")
    with Session(story.engine) as session:
        publication = session.exec(select(Publication)).one()
        assert (publication.listed, publication.opened_on) == (passed, date.today())
        # The notice period is seven real days the test cannot wait for, and the publish form
        # (rightly) opens a notice today only: move it into the past, as time would.
        publication.opened_on = date.today() - timedelta(days=10)
        publication.closes_on = date.today() - timedelta(days=4)
        session.add(publication)
        session.commit()
    browser.refresh()
    assert "公示期已满，可发证" in main_text()
    shot("notice-over")

    # 11. The institution's signing key, and the trust list signed with the root key.
    browser.get(f"{base}/admin/keys/")
    assert heading(browser) == "签名密钥"
    Select(browser.find_element(By.ID, "new-issuer")).select_by_value(INSTITUTION)
    Select(browser.find_element(By.ID, "new-occupations")).select_by_value("ai")
    browser.find_element(By.ID, "new-passphrase").send_keys(KEY_PASS)
    browser.find_element(By.ID, "new-confirm").send_keys(KEY_PASS, Keys.ENTER)
    assert INSTITUTION in flash()
    rows = browser.find_elements(By.CSS_SELECTOR, "table.keys tbody tr")
    assert len(rows) == 2 and any(INSTITUTION in r.text for r in rows)
    with Session(story.engine) as session:
        key = session.exec(select(SigningKey).where(col(SigningKey.issuer) == INSTITUTION)).one()
    assert key.role == "institution" and key.scope["occupations"] == ["ai"]
    browser.find_element(By.ID, "trust-passphrase").send_keys(ROOT_PASS, Keys.ENTER)
    trust_document = json.loads(downloaded("trust-list.json").read_text("utf-8"))
    assert {k["kid"] for k in trust_document["keys"]} >= {key.kid}
    shot("keys")

    # 12. The certificates, issued in the background with the passphrase typed here.
    browser.get(f"{base}/admin/sittings/{SITTING}/certificates")
    assert heading(browser) == f"{SITTING} · 证书"
    Select(browser.find_element(By.ID, "issuer")).select_by_value(INSTITUTION)
    assert browser.find_element(By.ID, "site").get_attribute("value") == base
    browser.find_element(By.ID, "passphrase").click()
    follow_job(
        lambda: keys(browser, KEY_PASS, Keys.ENTER), f"/admin/sittings/{SITTING}/certificates"
    )
    wait.until(lambda b: f"共 {passed} 张" in main_text())
    assert f"已完成 · {passed} / {passed}" in main_text()
    listed = browser.find_elements(By.CSS_SELECTOR, "table.certificates tbody tr")
    assert len(listed) == passed
    browser.execute_script("arguments[0].scrollIntoView()", listed[0])
    shot("issued")
    with Session(story.engine) as session:
        issued = session.exec(select(Certificate).order_by(col(Certificate.serial))).all()
    assert len(issued) == passed and {c.kid for c in issued} == {key.kid}

    # 13. One certificate's PDF, downloaded by the browser; its QR code read back and verified.
    first = issued[0]
    browser.find_element(By.CSS_SELECTOR, f"a[href$='/{first.serial}.pdf']").send_keys(Keys.ENTER)
    pdf = downloaded(f"{first.serial}.pdf")
    url = qr_url(pdf, tmp_path)
    assert url.upper().startswith(base.upper()) and first.token in url
    # A fresh revocation list, signed with the root key on the keys page, gives the status.
    browser.get(f"{base}/admin/keys/")
    browser.find_element(By.ID, "revocations-passphrase").send_keys(ROOT_PASS, Keys.ENTER)
    revocations_document = json.loads(downloaded("revocations.json").read_text("utf-8"))
    shot("lists")
    trust = load_trust_list(trust_document, pinned_root_kid=trust_document["root_kid"])
    revocations = load_revocation_list(revocations_document, trust)
    verdict = verify_token(url, trust, revocations)
    assert verdict.verdict.value == "genuine", verdict

    # 14. Both lists published on the site from the keys page (no restart): the QR's page in
    # the browser says genuine.
    browser.get(f"{base}/admin/keys/")
    assert page_status(f"{base}/V/{first.token}") == 503  # nothing to verify against yet
    browser.find_element(By.ID, "trust-passphrase").send_keys(ROOT_PASS)
    browser.find_element(
        By.CSS_SELECTOR, "form[action$='trust-list.json'] input[name=publish]"
    ).click()
    browser.find_element(By.ID, "trust-passphrase").send_keys(Keys.ENTER)
    wait.until(lambda b: "已发布" in flash())
    browser.find_element(By.ID, "revocations-passphrase").send_keys(ROOT_PASS)
    browser.find_element(
        By.CSS_SELECTOR, "form[action$='revocations.json'] input[name=publish]"
    ).click()
    browser.find_element(By.ID, "revocations-passphrase").send_keys(Keys.ENTER)
    wait.until(lambda b: "revocations #" in main_text())
    shot("published")
    with Session(story.engine) as session:
        kinds = [row.kind for row in session.exec(select(PublishedList))]
    assert sorted(kinds) == ["revocations", "trust_list"]
    browser.get(url)
    found = browser.find_element(By.ID, "verdict")
    assert found.get_attribute("data-verdict") == "genuine" and "真实有效" in found.text
    shot("verified")

    # Every change was made in the browser, audited under the account that made it.
    with Session(story.engine) as session:
        entries = [(e.action, e.actor) for e in session.exec(select(AuditEntry))]
    assert {actor for action, actor in entries if action == "marks.import"} == {
        f"web:{rater}" for rater in RATERS
    }
    assert {action for action, actor in entries if actor == "web:admin"} == {
        "account.create",
        "institution.add",
        "institution.authorise",
        "application.override",
        "bank.import",
        "blueprint.save",
        "certificate.download",
        "certificate.issue",
        "grade",
        "key.create",
        "papers.assemble",
        "papers.freeze",
        "publication.open",
        "revocations.sign",
        "sheets.import",
        "sitting.create",
        "sitting.register",
        "trust_list.sign",
        "trust_list.publish",
        "revocations.publish",
    }
    assert {actor for action, actor in entries if not actor.startswith("web:")} == {"cli"}
    assert len(story.shots) == len(set(story.shots)) >= 14
