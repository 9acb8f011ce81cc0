"""A real browser (Debian's Chromium, driven by Selenium) opens the URL decoded from the QR code
of a real issued certificate PDF, sees the valid verdict, and after revocation the same URL
shows revoked. Screenshots go to ``test-output/browser/``."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

from certify.certificates.revocation import change_status
from certify.signing.reader import decode_picture
from tests.conftest import Database
from tests.web.browser_helpers import free_port
from tests.web.conftest import Site, build_site

SCREENSHOTS = Path(os.environ.get("CERTIFY_TEST_OUTPUT", "test-output")) / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def live(database: Database, tmp_path: Path) -> Iterator[tuple[Site, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    site = build_site(database, tmp_path, site_url=base)
    server = make_server("127.0.0.1", port, site.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, base
    finally:
        server.shutdown()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    os.environ.setdefault("SE_OFFLINE", "true")  # never download a browser or a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument("--window-size=390,900")  # a phone's width
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def qr_url(pdf: Path, folder: Path) -> str:
    """Render the certificate with pdftoppm and decode its QR code from the picture."""
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(folder / "page")], check=True
    )
    return decode_picture(folder / "page.png")


def test_the_qr_url_in_a_real_browser_before_and_after_revocation(
    live: tuple[Site, str], browser: webdriver.Chrome, tmp_path: Path
) -> None:
    site, base = live
    cert = site.certificates[0]
    url = qr_url(site.out / "certs" / f"{cert.serial}.pdf", tmp_path)
    assert url.startswith(base.upper()) and cert.token in url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    browser.get(url)
    verdict = browser.find_element(By.ID, "verdict")
    assert verdict.get_attribute("data-verdict") == "genuine"
    assert "真实有效" in verdict.text and cert.holder_name in browser.page_source
    assert site.id_numbers[cert.serial] not in browser.page_source
    browser.save_screenshot(str(SCREENSHOTS / "valid.png"))

    browser.get(url + "?lang=en")
    assert "Genuine and valid" in browser.find_element(By.ID, "verdict").text
    browser.save_screenshot(str(SCREENSHOTS / "valid-en.png"))

    change_status(site.database.engine, cert.serial, "revoke", "考试违纪")
    browser.get(url + "?lang=zh")
    verdict = browser.find_element(By.ID, "verdict")
    assert verdict.get_attribute("data-verdict") == "revoked" and "已吊销" in verdict.text
    assert "考试违纪" in browser.page_source
    browser.save_screenshot(str(SCREENSHOTS / "revoked.png"))
    assert (SCREENSHOTS / "revoked.png").stat().st_size > 10_000
