"""A real browser (Chromium through Selenium) works the question bank with the keyboard only:
signs in, uploads a bad file and reads its problems, uploads the sample bank, searches, and
retires an item. Screenshots go to ``test-output/browser/``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait
from werkzeug.serving import make_server

from question_bank.bank import bank_items
from question_bank.samples import sample_files
from schemas.enums import ItemStatus
from tests.web.browser_helpers import free_port
from tests.web.conftest import PASSWORDS, Site
from tests.web.test_bank import bad_bank, bank_site  # noqa: F401 (a fixture)
from tests.web.test_browser import SCREENSHOTS, browser  # noqa: F401 (a fixture)


@pytest.fixture
def live_bank(bank_site: Site) -> Iterator[tuple[Site, str]]:  # noqa: F811
    port = free_port()
    server = make_server("127.0.0.1", port, bank_site.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield bank_site, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


def keys(browser: webdriver.Chrome, *typed: str) -> None:  # noqa: F811
    ActionChains(browser).send_keys(*typed).perform()


def heading(browser: webdriver.Chrome) -> str:  # noqa: F811
    """The page's h1 once the page that has it is shown: read again while a navigation replaces
    the page under it (the old page's heading goes stale)."""
    found: list[str] = []

    def read(b: webdriver.Chrome) -> bool:
        found[:] = [b.find_element(By.TAG_NAME, "h1").text]
        return True

    WebDriverWait(
        browser,
        10,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(read)
    return found[0]


def choose(browser: webdriver.Chrome, path: Path) -> None:  # noqa: F811
    """Choose the file (a file dialog is the system's), then press Enter on Import."""
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.CSS_SELECTOR, "form[enctype] button").send_keys(Keys.ENTER)


def test_the_bank_works_from_the_keyboard(
    live_bank: tuple[Site, str],
    browser: webdriver.Chrome,  # noqa: F811
    tmp_path: Path,
) -> None:
    site, base = live_bank
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 900)
    browser.get(f"{base}/admin/bank/upload")
    browser.find_element(By.ID, "username").click()
    keys(browser, "admin", Keys.TAB, PASSWORDS["admin"], Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "/login" not in b.current_url)
    assert heading(browser) == "导入题目"
    # A bad file: every problem by row and field, on the page.
    bad = tmp_path / "有误.csv"
    bad.write_bytes(bad_bank(tmp_path))
    choose(browser, bad)
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, "[role=alert]"))
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    rows = [r.text for r in alert.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert len(rows) == 3 and rows[0].startswith("有误.csv 3 level")
    assert "下载退回的题目" in browser.page_source
    browser.save_screenshot(str(SCREENSHOTS / "bank-refused.png"))
    assert bank_items(site.database.engine) == []
    # The sample bank imports.
    sample = next(p for p in sample_files() if p.name == "ai-junior.json")
    choose(browser, sample)
    WebDriverWait(browser, 10).until(lambda b: "/admin/bank/?" in b.current_url)
    assert "新增 66" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    # Search by typing and Enter; open the first item by keyboard.
    browser.find_element(By.ID, "q").click()
    keys(browser, "个人信息", Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "q=" in b.current_url)
    first = browser.find_element(By.CSS_SELECTOR, "table.bank-items tbody a")
    code = first.text
    first.send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "/items/" in b.current_url)
    assert heading(browser).startswith(code)
    browser.find_element(By.ID, "reason").click()
    keys(browser, "题干需要修订", Keys.TAB, Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".flash"))
    assert "已停用" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    browser.save_screenshot(str(SCREENSHOTS / "bank-item.png"))
    retired = [i for i in bank_items(site.database.engine) if i.item_id == code]
    assert retired[0].status is ItemStatus.RETIRED
    browser.get(f"{base}/admin/bank/summary")
    assert browser.find_element(By.CSS_SELECTOR, "svg title").get_attribute("textContent")
    browser.save_screenshot(str(SCREENSHOTS / "bank-summary.png"))
