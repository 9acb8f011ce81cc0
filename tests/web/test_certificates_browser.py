"""A real browser (Chromium through Selenium) issues a sitting's certificates: signs in, opens
the sitting's certificate page, types the key's passphrase with the keyboard, is refused for a
wrong one with what it typed kept, then follows the job's page until the run is done and the
list shows every certificate. Screenshots go to ``test-output/browser/``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait
from werkzeug.serving import make_server

from tests.certify.signing_helpers import PASS
from tests.conftest import Database
from tests.web.browser_helpers import free_port
from tests.web.conftest import PASSWORDS, Site
from tests.web.test_bank_browser import heading, keys
from tests.web.test_browser import SCREENSHOTS, browser  # noqa: F401 (a fixture)
from tests.web.test_certificates import certificates, certificates_app


@pytest.fixture
def live_certificates(database: Database, tmp_path: Path) -> Iterator[tuple[Site, str]]:
    site = certificates_app(database, tmp_path)
    port = free_port()
    server = make_server("127.0.0.1", port, site.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield site, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


def test_a_sitting_is_issued_from_the_browser_with_its_progress(
    live_certificates: tuple[Site, str],
    browser: webdriver.Chrome,  # noqa: F811
) -> None:
    site, base = live_certificates
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 1000)
    wait = WebDriverWait(browser, 120)
    browser.get(f"{base}/admin/sittings/S1/certificates")
    browser.find_element(By.ID, "username").click()
    keys(browser, "admin", Keys.TAB, PASSWORDS["admin"], Keys.ENTER)
    wait.until(lambda b: "/login" not in b.current_url)
    assert heading(browser) == "S1 · 证书"
    site_field = browser.find_element(By.ID, "site")
    site_field.clear()
    site_field.send_keys("https://verify.example.cn")
    browser.find_element(By.ID, "passphrase").click()
    keys(browser, "not the passphrase", Keys.ENTER)
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "[role=alert]"))
    assert "wrong passphrase" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert browser.find_element(By.ID, "site").get_attribute("value") == "https://verify.example.cn"
    assert browser.find_element(By.ID, "passphrase").get_attribute("value") == ""
    browser.save_screenshot(str(SCREENSHOTS / "certificates-1-refused.png"))
    browser.find_element(By.ID, "passphrase").click()
    keys(browser, PASS, Keys.ENTER)
    wait.until(lambda b: "/admin/jobs/" in b.current_url or "/certificates" in b.current_url)
    browser.save_screenshot(str(SCREENSHOTS / "certificates-2-job.png"))
    # job.js follows the run and opens the certificate list once it is done.
    wait.until(lambda b: b.current_url.endswith("/admin/sittings/S1/certificates"))
    issued = certificates(site)
    wait.until(lambda b: f"共 {len(issued)} 张" in b.find_element(By.TAG_NAME, "main").text)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.certificates tbody tr")
    assert issued and len(rows) == len(issued)
    assert "已完成" in browser.find_element(By.ID, "job-h").find_element(By.XPATH, "..").text
    browser.save_screenshot(str(SCREENSHOTS / "certificates-3-done.png"))
