"""A real browser (Chromium through Selenium), by keyboard, equates a sitting's forms (the web
process's own job thread does the work), reads the run's pass marks and decision consistency,
ticks the confirmation and switches the pass rule to the equated marks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait
from sqlmodel import Session, select
from werkzeug.serving import make_server

from certify.accounts import create_account
from certify.infra.settings import Settings
from certify.web import create_app
from schemas.tables import AuditEntry, EquatingRun, Sitting
from tests.certify.exam_helpers import VAULT, graded_sitting
from tests.conftest import Database
from tests.web.browser_helpers import free_port
from tests.web.conftest import PASSWORDS
from tests.web.test_bank_browser import heading, keys
from tests.web.test_browser import SCREENSHOTS, browser  # noqa: F401 (a fixture)


@pytest.fixture
def live(database: Database, tmp_path: Path) -> Iterator[str]:
    graded_sitting(database, tmp_path, "S1", count=300, strength=0.0)
    create_account(database.engine, "admin", "admin", PASSWORDS["admin"])
    settings = Settings.load(
        {}, web_secret="test-secret", data_dir=tmp_path, rate_limit=100_000, sweep_seconds=0,
        job_seconds=0.5,
    )  # fmt: skip
    app = create_app(settings, engine=database.engine, vault=VAULT)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        app.extensions["certify"].jobs.stop()  # before the scratch database goes


def test_forms_are_equated_and_the_rule_switched_by_keyboard(
    live: str,
    database: Database,
    browser: webdriver.Chrome,  # noqa: F811
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 1000)
    wait = WebDriverWait(browser, 90)
    browser.get(f"{live}/admin/sittings/S1/equating")
    browser.find_element(By.ID, "username").click()
    keys(browser, "admin", Keys.TAB, PASSWORDS["admin"], Keys.ENTER)
    wait.until(lambda b: "/login" not in b.current_url)
    assert heading(browser) == "S1 · 分数等值与合格判定"
    replications = browser.find_element(By.ID, "replications")
    replications.send_keys(Keys.CONTROL, "a")
    replications.send_keys("20", Keys.ENTER)  # Enter in a field submits its form
    # The job's page opens the equating page once the job is done.
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "table.equating tbody tr"))
    assert "/admin/sittings/S1/equating?run=" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "table.equating tbody tr")
    assert {r.text.split()[1] for r in rows} == {"B"}
    candidates = browser.find_element(By.CSS_SELECTOR, 'dd[data-count="candidates"]').text
    assert candidates == "300"
    browser.save_screenshot(str(SCREENSHOTS / "equating-1-run.png"))
    browser.find_element(By.ID, "confirm").send_keys(Keys.SPACE)
    assert browser.find_element(By.ID, "confirm").is_selected()
    keys(browser, Keys.TAB, Keys.ENTER)
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, 'strong[data-rule="equated"]'))
    browser.save_screenshot(str(SCREENSHOTS / "equating-2-rule.png"))
    with Session(database.engine) as session:
        sitting = session.exec(select(Sitting)).one()
        run = session.exec(select(EquatingRun)).one()
        actors = {
            e.action: e.actor
            for e in session.exec(select(AuditEntry))
            if e.action in ("equate", "pass-rule")
        }
    assert (sitting.pass_rule, sitting.equating_run_id) == ("equated", run.id)
    assert run.replications == 20  # as typed
    assert actors == {"equate": "web:admin", "pass-rule": "web:admin"}
