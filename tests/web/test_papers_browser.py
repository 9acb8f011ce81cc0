"""A real browser (Chromium through Selenium) takes a blueprint from upload to a frozen paper:
signs in, uploads a blueprint with mistakes and reads them by line, uploads the sample, checks it,
assembles it while the job's page shows the progress (the web process's own job thread does the
work), reads the forms side by side, opens a paper and freezes it. Screenshots of each step go to
``test-output/browser/``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait
from sqlmodel import Session, select
from werkzeug.serving import make_server

from question_bank.assembly_job import ASSEMBLE
from schemas.enums import JobState
from schemas.tables import AuditEntry, Job, Paper
from tests.conftest import Database
from tests.web.browser_helpers import free_port
from tests.web.conftest import PASSWORDS, Site
from tests.web.test_bank_browser import heading, keys
from tests.web.test_browser import SCREENSHOTS, browser  # noqa: F401 (a fixture)
from tests.web.test_papers import CODE, JUNIOR, papers_app


@pytest.fixture
def live_papers(database: Database, tmp_path: Path) -> Iterator[tuple[Site, str]]:
    site = papers_app(database, tmp_path, job_seconds=0.5)
    port = free_port()
    server = make_server("127.0.0.1", port, site.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield site, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        site.app.extensions["certify"].jobs.stop()  # before the database goes


def shot(browser: webdriver.Chrome, name: str) -> None:  # noqa: F811
    browser.save_screenshot(str(SCREENSHOTS / f"papers-{name}.png"))


def test_a_blueprint_goes_from_upload_to_a_frozen_paper(
    live_papers: tuple[Site, str],
    browser: webdriver.Chrome,  # noqa: F811
    tmp_path: Path,
) -> None:
    site, base = live_papers
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 1000)
    wait = WebDriverWait(browser, 30)
    browser.get(f"{base}/admin/blueprints/new")
    browser.find_element(By.ID, "username").click()
    keys(browser, "admin", Keys.TAB, PASSWORDS["admin"], Keys.ENTER)
    wait.until(lambda b: "/login" not in b.current_url)
    assert heading(browser) == "上传或新建蓝图"
    # A file with mistakes: each problem with its line and field, nothing saved.
    bad = tmp_path / "有误.yaml"
    bad.write_text(JUNIOR.replace("forms: 2", "forms: 0"), "utf-8")
    browser.find_element(By.ID, "file").send_keys(str(bad))
    browser.find_element(By.CSS_SELECTOR, "form.blueprint-editor button").send_keys(Keys.ENTER)
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "[role=alert] tbody tr"))
    row = browser.find_element(By.CSS_SELECTOR, "[role=alert] tbody tr").text
    assert row.startswith("有误.yaml 6 forms")
    assert "forms: 0" in browser.find_element(By.ID, "text").get_attribute("value")  # type: ignore[operator]
    shot(browser, "1-refused")
    # The sample blueprint.
    good = tmp_path / "ai-junior.yaml"
    good.write_text(JUNIOR, "utf-8")
    browser.find_element(By.ID, "file").send_keys(str(good))
    browser.find_element(By.CSS_SELECTOR, "form.blueprint-editor button").send_keys(Keys.ENTER)
    wait.until(lambda b: b.current_url.endswith(f"/admin/blueprints/{CODE}"))
    assert heading(browser) == CODE
    shot(browser, "2-blueprint")
    browser.find_element(By.LINK_TEXT, "检查能否满足").send_keys(Keys.ENTER)
    wait.until(lambda b: b.current_url.endswith("/check"))
    assert "蓝图可满足" in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    shot(browser, "3-check")
    browser.back()
    # Assemble: the job's page shows the progress until the work is done, then the forms.
    wait.until(lambda b: b.current_url.endswith(f"/admin/blueprints/{CODE}"))
    browser.find_element(By.ID, "seed").click()
    before = browser.find_element(By.TAG_NAME, "html")
    keys(browser, Keys.ENTER)

    # The post has answered once the page it was typed on is gone (its URL alone cannot say:
    # the forms page the job leads to has the same one). Chromium may answer a read of a node
    # of a page being replaced with "Node … does not belong to the document", a plain
    # WebDriverException: gone all the same.
    def gone(_: object) -> bool:
        try:
            before.is_enabled()
        except WebDriverException:  # StaleElementReferenceException is one too
            return True
        return False

    wait.until(gone)
    # The job's page, unless the job ended before the browser looked (it then leads on at
    # once): either way the forms page follows, and the job is done in the database.
    wait.until(
        lambda b: (
            "/admin/jobs/" in b.current_url or b.current_url.endswith(f"/admin/blueprints/{CODE}")
        )
    )
    if "/admin/jobs/" in browser.current_url:
        shown = browser.find_elements(By.ID, "job-progress")
        assert not shown or shown[0].tag_name == "progress"
        shot(browser, "4-job")
    wait.until(lambda b: b.current_url.endswith(f"/admin/blueprints/{CODE}"))
    with Session(site.database.engine) as session:
        assert session.exec(select(Job.state).where(Job.kind == ASSEMBLE)).all() == [JobState.DONE]
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "table.forms tbody tr"))
    forms = browser.find_elements(By.CSS_SELECTOR, "table.forms tbody tr")
    assert [f.text.split()[0] for f in forms] == [f"{CODE}-1A", f"{CODE}-1B"]
    chart = browser.find_element(By.CSS_SELECTOR, "figure svg")
    assert len(chart.find_elements(By.TAG_NAME, "rect")) == 4
    browser.execute_script("arguments[0].scrollIntoView()", chart)
    shot(browser, "5-forms")
    # A paper, then freezing it after typing its code.
    browser.find_element(By.LINK_TEXT, f"{CODE}-1A").send_keys(Keys.ENTER)
    wait.until(lambda b: b.current_url.endswith(f"/admin/papers/{CODE}-1A"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.questions tbody tr")) == 44
    shot(browser, "6-paper")
    browser.find_element(By.LINK_TEXT, "锁定试卷…").send_keys(Keys.ENTER)
    wait.until(lambda b: b.current_url.endswith("/freeze"))
    browser.find_element(By.ID, "confirm").click()
    keys(browser, f"{CODE}-1A", Keys.ENTER)
    wait.until(lambda b: b.current_url.endswith(f"/admin/papers/{CODE}-1A"))
    assert "已锁定" in browser.find_element(By.CSS_SELECTOR, ".paper-status").text
    shot(browser, "7-frozen")
    with Session(site.database.engine) as session:
        papers = {p.code: p.status for p in session.exec(select(Paper))}
        actions = [
            (e.action, e.actor) for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))
        ]
    assert papers == {f"{CODE}-1A": "frozen", f"{CODE}-1B": "draft"}
    assert [a for a in actions if not a[0].startswith(("account.", "bank."))] == [
        ("blueprint.save", "web:admin"),
        ("papers.assemble", "web:admin"),
        ("papers.freeze", "web:admin"),
    ]
