"""A real browser (Chromium through Selenium), by keyboard, takes a certified sitting through a
regrade: replaces a holder's answer sheet, works out the differences as a background job (the
web process's own job thread does the work), reads them, ticks the confirmation and applies
them, then finds the result changed. Screenshots of each step go to ``test-output/browser/``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait
from sqlmodel import Session, col, select
from werkzeug.serving import make_server

from schemas.tables import AuditEntry, Certificate
from tests.conftest import Database
from tests.web.browser_helpers import free_port
from tests.web.conftest import PASSWORDS, Site, build_site
from tests.web.test_bank_browser import heading, keys
from tests.web.test_browser import SCREENSHOTS, browser  # noqa: F401 (a fixture)
from tests.web.test_sittings import worse_sheet


@pytest.fixture
def live_site(database: Database, tmp_path: Path) -> Iterator[tuple[Site, str]]:
    site = build_site(database, tmp_path, job_seconds=0.5)
    port = free_port()
    server = make_server("127.0.0.1", port, site.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield site, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


def shot(browser: webdriver.Chrome, name: str) -> None:  # noqa: F811
    browser.save_screenshot(str(SCREENSHOTS / f"sittings-{name}.png"))


def test_a_regrade_is_read_confirmed_and_applied_by_keyboard(
    live_site: tuple[Site, str],
    browser: webdriver.Chrome,  # noqa: F811
    tmp_path: Path,
) -> None:
    site, base = live_site
    admission, serial, sheet = worse_sheet(site, tmp_path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 1000)
    wait = WebDriverWait(browser, 60)
    browser.get(f"{base}/admin/sittings/S1/sheets")
    browser.find_element(By.ID, "username").click()
    keys(browser, "admin", Keys.TAB, PASSWORDS["admin"], Keys.ENTER)
    wait.until(lambda b: "/login" not in b.current_url)
    assert heading(browser) == "S1 · 答题卡"
    # The replaced sheet: the file, then the box ticked with the space bar, then Enter.
    browser.find_element(By.ID, "file").send_keys(str(sheet))
    browser.find_element(By.ID, "replace").send_keys(Keys.SPACE)
    assert browser.find_element(By.ID, "replace").is_selected()
    browser.find_element(By.CSS_SELECTOR, "form.card button.primary").send_keys(Keys.ENTER)
    wait.until(lambda b: b.current_url.endswith("/admin/sittings/S1/roster"))
    shot(browser, "1-roster")
    browser.find_element(By.LINK_TEXT, "复核重评").send_keys(Keys.ENTER)
    wait.until(lambda b: b.current_url.endswith("/admin/sittings/S1/regrade"))
    browser.find_element(By.CSS_SELECTOR, "form.card button.primary").send_keys(Keys.ENTER)
    # The job's page (however briefly) opens the differences once the job is done.
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "table.regrade tbody tr"))
    assert browser.current_url.endswith("/admin/sittings/S1/regrade")
    (row,) = browser.find_elements(By.CSS_SELECTOR, "table.regrade tbody tr")
    assert admission in row.text and serial in row.text and "跨越合格线" in row.text
    shot(browser, "2-differences")
    browser.find_element(By.ID, "confirm").send_keys(Keys.SPACE)
    keys(browser, Keys.TAB, Keys.ENTER)
    wait.until(lambda b: "/admin/sittings/S1/results" in b.current_url)
    assert heading(browser) == "S1 · 成绩"
    shot(browser, "3-results")
    with Session(site.database.engine) as session:
        status = session.exec(select(Certificate.status).where(Certificate.serial == serial)).one()
        actions = [
            (e.action, e.actor)
            for e in session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))
            if e.action in ("sheets.import", "regrade", "certificate.suspend")
            and e.actor.startswith("web:")
        ]
    assert status == "suspended"
    assert actions == [
        ("sheets.import", "web:admin"),
        ("regrade", "web:admin"),
        ("certificate.suspend", "web:admin"),
    ]
