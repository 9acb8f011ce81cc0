"""A real browser (Chromium through Selenium) works the account pages with the keyboard: an
admin creates an account and is shown its password once; the new account signs in, must choose
its own password and reaches its pages; the admin disables it, and the session it still holds
stops working. Screenshots go to ``test-output/browser/``."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait
from sqlmodel import Session, select
from werkzeug.serving import make_server

from schemas.tables import Account, AuditEntry
from tests.web.browser_helpers import free_port
from tests.web.conftest import PASSWORDS, Site
from tests.web.test_accounts import accounts_site  # noqa: F401 (a fixture)
from tests.web.test_bank_browser import heading, keys
from tests.web.test_browser import SCREENSHOTS, browser  # noqa: F401 (a fixture)


@pytest.fixture
def live_accounts(accounts_site: Site) -> Iterator[tuple[Site, str]]:  # noqa: F811
    port = free_port()
    server = make_server("127.0.0.1", port, accounts_site.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield accounts_site, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


def sign_in(browser: webdriver.Chrome, base: str, username: str, password: str) -> None:  # noqa: F811
    browser.get(f"{base}/login")
    browser.find_element(By.ID, "username").click()
    keys(browser, username, Keys.TAB, password, Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "/login" not in b.current_url)


def test_an_account_is_created_signed_in_with_and_disabled_in_the_browser(
    live_accounts: tuple[Site, str],
    browser: webdriver.Chrome,  # noqa: F811
) -> None:
    site, base = live_accounts
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 900)
    sign_in(browser, base, "admin", PASSWORDS["admin"])
    browser.get(f"{base}/admin/accounts/new")
    assert heading(browser) == "新建账户"
    # Username, name, role (chosen by typing), password left empty: one is generated.
    browser.find_element(By.ID, "username").click()
    keys(browser, "zhang.wei", Keys.TAB, "张伟", Keys.TAB, "评")
    browser.find_element(By.ID, "password").send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.ID, "temporary-password"))
    assert heading(browser) == "已创建账户: zhang.wei"
    password = browser.find_element(By.ID, "temporary-password").text
    assert len(password) == 16
    browser.save_screenshot(str(SCREENSHOTS / "accounts-created.png"))

    # The new account signs in and must first choose its own password.
    browser.delete_all_cookies()
    sign_in(browser, base, "zhang.wei", password)
    assert browser.current_url.endswith("/account/password")
    assert heading(browser) == "修改密码"
    browser.save_screenshot(str(SCREENSHOTS / "accounts-must-change.png"))
    browser.find_element(By.ID, "current").click()
    chosen = "zhang-wei-own-password"
    keys(browser, password, Keys.TAB, chosen, Keys.TAB, chosen, Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith("/rater/"))
    assert "密码已修改" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    raters_session = browser.get_cookies()

    # The admin (in another session) disables it from the account list.
    browser.delete_all_cookies()
    sign_in(browser, base, "admin", PASSWORDS["admin"])
    browser.get(f"{base}/admin/accounts/?q=zhang")
    browser.find_element(By.LINK_TEXT, "zhang.wei").send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "/admin/accounts/" in b.current_url)
    assert heading(browser).startswith("zhang.wei")
    browser.find_element(By.XPATH, "//button[text()='停用账户']").send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".flash"))
    assert "已停用" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    browser.save_screenshot(str(SCREENSHOTS / "accounts-disabled.png"))
    browser.get(f"{base}/admin/accounts/sign-ins?username=zhang.wei")
    assert browser.find_elements(By.CSS_SELECTOR, "table.sign-ins tbody tr")
    browser.save_screenshot(str(SCREENSHOTS / "accounts-sign-ins.png"))

    # The session the account still holds stops working.
    browser.delete_all_cookies()
    for cookie in raters_session:
        browser.add_cookie({k: cookie[k] for k in ("name", "value", "path")})
    browser.get(f"{base}/rater/")
    WebDriverWait(browser, 10).until(lambda b: "/login" in b.current_url)
    with Session(site.database.engine) as session:
        made = session.exec(select(Account).where(Account.username == "zhang.wei")).one()
        actions = [
            (e.actor, e.action)
            for e in session.exec(select(AuditEntry).where(AuditEntry.subject == "zhang.wei"))
        ]
    assert made.role == "rater" and not made.active and not made.must_change_password
    assert actions == [
        ("web:admin", "account.create"),
        ("web:zhang.wei", "account.password_change"),
        ("web:admin", "account.disable"),
    ]
