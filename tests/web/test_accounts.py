"""Accounts in the browser: creating (a generated password shown once, changed at the first
sign-in), disabling (sessions and tokens stop at once), roles, password resets, the sign-in
history and the downloads — each change by the service ``certify users`` calls, audited under
the admin, and no admin able to lock the institution or themselves out."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select, update

from certify.accounts import (
    AccountError,
    LastAdmin,
    OwnAccount,
    create_account,
    create_token,
    reset_password,
    set_active,
    set_role,
)
from certify.accounts.directory import AccountSearch, search_accounts
from certify.infra.errors import Error
from certify.infra.settings import Settings
from certify.web import create_app
from schemas.enums import ROLES, Role
from schemas.tables import Account, AuditEntry, LoginAttempt
from tests.certify.exam_helpers import run
from tests.conftest import Database
from tests.web.conftest import PASSWORDS, REGIONS, Site
from tests.web.test_uploads import page_text

HOSTILE = "<script>alert('x')</script>'; DROP TABLE account; --"


@pytest.fixture
def accounts_site(database: Database, tmp_path: Path) -> Site:
    """The app with an account of every role (no sitting: quick)."""
    for role, password in PASSWORDS.items():
        create_account(database.engine, role, role, password, region=REGIONS.get(role))
    settings = Settings.load({}, web_secret="test-secret", data_dir=tmp_path, sweep_seconds=0)
    app = create_app(settings, engine=database.engine, trust_document=None)
    app.config["TESTING"] = True
    return Site(database, app, [], [], {}, {}, {}, tmp_path)


def sign_in(site: Site, username: str, password: str) -> tuple[FlaskClient, Any]:
    client = site.client()
    client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": site.csrf(client)},
    )
    return client, response


def post(site: Site, client: FlaskClient, url: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": site.csrf(client), **data})


def account(site: Site, username: str) -> Account:
    with Session(site.database.engine) as session:
        found = session.exec(select(Account).where(Account.username == username)).one()
        session.expunge(found)
        return found


def audit(site: Site, action: str) -> list[AuditEntry]:
    with Session(site.database.engine) as session:
        return list(
            session.exec(
                select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
            )
        )


def shown_password(response: Any) -> str:
    found = re.search(r'id="temporary-password"[^>]*>([^<]+)<', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)
    return found.group(1)


def create(site: Site, client: FlaskClient, **fields: str) -> Any:
    return post(site, client, "/admin/accounts/new", **fields)


# --- creating --------------------------------------------------------------------------------


def test_an_account_made_in_the_browser_gets_a_password_shown_once_and_changed_at_first_sign_in(
    accounts_site: Site,
) -> None:
    site = accounts_site
    admin = site.signed_in("admin")
    response = create(site, admin, username="wang.fang", display_name="王芳", role="rater")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    password = shown_password(response)
    assert len(password) == 16
    made = account(site, "wang.fang")
    assert made.role == "rater" and made.active and made.must_change_password
    assert made.display_name == "王芳" and password not in made.password_hash
    [entry] = audit(site, "account.create")[-1:]
    assert entry.actor == "web:admin" and entry.subject == "wang.fang"
    # The account page never shows it again.
    assert password not in admin.get(f"/admin/accounts/{made.id}").get_data(as_text=True)

    client, signed = sign_in(site, "wang.fang", password)
    assert signed.status_code == 302
    # Every page leads to the password page until a new one is chosen.
    for url in ("/rater/", signed.location):
        answered = client.get(url)
        assert answered.status_code == 302 and answered.location == "/account/password"
    assert "管理员设置" in client.get("/account/password").get_data(as_text=True)
    wrong = post(
        site, client, "/account/password", current="not it", password="x" * 12, confirm="x" * 12
    )
    assert wrong.status_code == 400 and 'id="current-error"' in wrong.get_data(as_text=True)
    differ = post(
        site, client, "/account/password", current=password, password="a" * 12, confirm="b" * 12
    )
    assert differ.status_code == 400 and "两次输入的新密码不一致" in page_text(differ)
    done = post(
        site,
        client,
        "/account/password",
        current=password,
        password="my own password",
        confirm="my own password",
    )
    assert done.status_code == 302 and done.location == "/rater/"
    assert client.get("/rater/").status_code == 200
    assert not account(site, "wang.fang").must_change_password
    assert audit(site, "account.password_change")[-1].actor == "web:wang.fang"
    assert sign_in(site, "wang.fang", "my own password")[1].status_code == 302
    assert sign_in(site, "wang.fang", password)[1].status_code == 401


def test_a_password_the_admin_types_is_not_shown_and_must_be_changed_too(
    accounts_site: Site,
) -> None:
    site = accounts_site
    admin = site.signed_in("admin")
    response = create(site, admin, username="li", role="committee", password="typed by the admin")
    assert response.status_code == 302
    assert "typed by the admin" not in admin.get(response.location).get_data(as_text=True)
    assert account(site, "li").must_change_password
    client, _ = sign_in(site, "li", "typed by the admin")
    assert client.get("/committee/").location == "/account/password"


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"username": "", "role": "rater"}, "username", "用户名须为"),
        ({"username": " padded", "role": "rater"}, "username", "首尾不能有空格"),
        ({"username": "admin", "role": "rater"}, "username", "已存在"),
        ({"username": "new1", "role": "superuser"}, "role", "角色应为"),
        ({"username": "new1", "role": "rater", "password": "short"}, "password", "密码须为"),
        ({"username": "new1", "role": "rater", "display_name": "x" * 101}, "display_name", "100"),
    ],
)
def test_a_refused_account_keeps_what_was_typed_but_the_password(
    accounts_site: Site, fields: dict[str, str], field: str, says: str
) -> None:
    site = accounts_site
    admin = site.signed_in("admin")
    before = len(search_accounts(site.database.engine, AccountSearch()).rows)
    typed = {"display_name": "赵六", **fields}
    response = create(site, admin, **typed)
    page = page_text(response)
    assert response.status_code == 400 and says in page
    assert f'id="{field}-error"' in page and 'aria-invalid="true"' in page
    if typed["username"].strip():
        assert f'value="{typed["username"]}"' in page
    if fields.get("password"):
        assert fields["password"] not in page
    assert len(search_accounts(site.database.engine, AccountSearch()).rows) == before


def test_hostile_names_are_stored_as_typed_and_shown_inert(accounts_site: Site) -> None:
    site = accounts_site
    admin = site.signed_in("admin")
    username = "<b>x</b>'--"
    assert create(site, admin, username=username, display_name=HOSTILE, role="rater").status_code
    made = account(site, username)
    assert made.display_name == HOSTILE
    for url in (
        "/admin/accounts/",
        f"/admin/accounts/{made.id}",
        "/admin/accounts/?q=%3Cb%3E",
        f"/admin/accounts/sign-ins?username={username}",
    ):
        page = admin.get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "<b>x</b>" not in page, url
    assert "&lt;script&gt;alert(" in admin.get("/admin/accounts/").get_data(as_text=True)
    workbook = openpyxl.load_workbook(io.BytesIO(admin.get("/admin/accounts/accounts.xlsx").data))
    cells = [c.value for row in workbook.active.iter_rows() for c in row]
    assert HOSTILE in cells and username in cells


# --- disabling, roles, resets ----------------------------------------------------------------


def test_disabling_ends_the_accounts_sessions_and_tokens_at_once(accounts_site: Site) -> None:
    site = accounts_site
    admin = site.signed_in("admin")
    committee = site.signed_in("committee")
    token = create_token(site.database.engine, "committee")
    bearer = {"Authorization": f"Bearer {token}"}
    api = site.client()
    assert api.post("/api/v1/verify", json={"serial": "1"}, headers=bearer).status_code != 401
    target = account(site, "committee")
    response = post(site, admin, f"/admin/accounts/{target.id}/active", action="disable")
    assert response.status_code == 302
    assert committee.get("/committee/").status_code == 302
    assert api.post("/api/v1/verify", json={"serial": "1"}, headers=bearer).status_code == 401
    assert sign_in(site, "committee", PASSWORDS["committee"])[1].status_code == 401
    [entry] = audit(site, "account.disable")
    assert (entry.actor, entry.subject) == ("web:admin", "committee")
    assert "停用" in page_text(admin.get(f"/admin/accounts/{target.id}"))
    post(site, admin, f"/admin/accounts/{target.id}/active", action="enable")
    assert sign_in(site, "committee", PASSWORDS["committee"])[1].status_code == 302


def test_an_admin_cannot_disable_demote_or_reset_themselves(accounts_site: Site) -> None:
    site = accounts_site
    admin = site.signed_in("admin")
    me = account(site, "admin").id
    page = page_text(admin.get(f"/admin/accounts/{me}"))
    assert "停用账户" not in page and "这是您自己的账户" in page
    for url, data in [
        (f"/admin/accounts/{me}/active", {"action": "disable"}),
        (f"/admin/accounts/{me}/role", {"role": "rater"}),
        (f"/admin/accounts/{me}/password", {}),
    ]:
        response = post(site, admin, url, **data)
        assert response.status_code == 400, url
        assert "不能" in page_text(response) and "another admin" in page_text(response)
    mine = account(site, "admin")
    assert mine.active and mine.role == "admin" and not mine.must_change_password
    assert admin.get("/admin/").status_code == 200


def test_the_last_active_admin_stays_whoever_asks(accounts_site: Site) -> None:
    engine = accounts_site.database.engine
    create_account(engine, "admin2", "admin", "admin2-password")
    set_active(engine, "admin2", False, acting="admin")
    with pytest.raises(LastAdmin):
        set_active(engine, "admin", False)  # the command line has no account of its own
    with pytest.raises(LastAdmin):
        set_role(engine, "admin", "rater")
    set_active(engine, "admin2", True)
    set_role(engine, "admin", "rater", acting="admin2")
    with pytest.raises(OwnAccount):
        set_active(engine, "admin2", False, acting="admin2")
    with pytest.raises(LastAdmin):
        set_active(engine, "admin2", False, acting="someone")


def test_the_command_line_lists_changes_roles_resets_and_shows_sign_ins(
    accounts_site: Site,
) -> None:
    database = accounts_site.database
    refused = run(database, "users", "disable", "admin", code=1)
    assert "only active admin" in refused and account(accounts_site, "admin").active
    assert "only active admin" in run(database, "users", "role", "admin", "rater", code=1)
    assert "rater: invigilator" in run(database, "users", "role", "rater", "invigilator")
    password = run(database, "users", "reset-password", "committee").strip()
    assert len(password) == 16 and account(accounts_site, "committee").must_change_password
    listed = run(database, "users", "list")
    assert "committee\tcommittee\tactive (must change password)" in listed
    assert "rater\tinvigilator" in listed and "scrypt" not in listed
    sign_in(accounts_site, "committee", password)
    sign_in(accounts_site, "nobody-here", "x")
    history = run(database, "users", "sign-ins")
    assert "committee\t127.0.0.1\tok" in history
    assert "(no such account)\t127.0.0.1\tunknown_account" in history
    assert "nobody-here" not in history
    assert run(database, "users", "sign-ins", "rater").strip() == ""
    [entry] = audit(accounts_site, "account.password_reset")
    assert entry.actor == "cli" and password not in str(entry.detail)


def test_two_admins_disabling_each_other_at_once_leave_one(accounts_site: Site) -> None:
    engine = accounts_site.database.engine
    create_account(engine, "admin2", "admin", "admin2-password")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def disable(target: str, acting: str) -> None:
        start.wait()
        try:
            set_active(engine, target, False, acting=acting)
            outcomes.append("done")
        except Error as exc:
            outcomes.append(type(exc).__name__)

    threads = [
        threading.Thread(target=disable, args=("admin", "admin2")),
        threading.Thread(target=disable, args=("admin2", "admin")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("done") <= 1
    with Session(engine) as session:
        active = session.exec(
            select(Account).where(Account.role == "admin", col(Account.active).is_(True))
        ).all()
    assert len(active) >= 1


def test_a_role_change_is_audited_and_ends_the_accounts_sessions(accounts_site: Site) -> None:
    site = accounts_site
    admin = site.signed_in("admin")
    rater = site.signed_in("rater")
    target = account(site, "rater")
    response = post(site, admin, f"/admin/accounts/{target.id}/role", role="invigilator")
    assert response.status_code == 302
    assert rater.get("/rater/").status_code == 302
    assert account(site, "rater").role == "invigilator"
    [entry] = audit(site, "account.role")
    assert entry.actor == "web:admin" and entry.detail == {"from": "rater", "to": "invigilator"}
    client, _ = sign_in(site, "rater", PASSWORDS["rater"])
    assert client.get("/invigilate/").status_code == 200
    assert client.get("/rater/").status_code == 403
    refused = post(site, admin, f"/admin/accounts/{target.id}/role", role="owner")
    assert refused.status_code == 400 and 'id="role-error"' in refused.get_data(as_text=True)
    assert 'value="owner"' not in refused.get_data(as_text=True)


def test_a_reset_password_is_shown_once_and_the_old_one_stops(accounts_site: Site) -> None:
    site = accounts_site
    admin = site.signed_in("admin")
    committee = site.signed_in("committee")
    target = account(site, "committee")
    response = post(site, admin, f"/admin/accounts/{target.id}/password")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = shown_password(response)
    assert committee.get("/committee/").status_code == 302
    assert sign_in(site, "committee", PASSWORDS["committee"])[1].status_code == 401
    client, signed = sign_in(site, "committee", password)
    assert signed.status_code == 302
    assert client.get("/committee/").location == "/account/password"
    [entry] = audit(site, "account.password_reset")
    assert entry.actor == "web:admin" and entry.detail == {"generated": True}
    assert password not in str(entry.detail)
    short = post(site, admin, f"/admin/accounts/{target.id}/password", password="short")
    assert short.status_code == 400 and 'id="password-error"' in short.get_data(as_text=True)
    assert 'value="short"' not in short.get_data(as_text=True)


def test_an_api_token_keeps_working_while_a_password_change_is_due(accounts_site: Site) -> None:
    engine = accounts_site.database.engine
    token = create_token(engine, "committee")
    reset_password(engine, "committee", password="temporary-pass-1")
    response = accounts_site.client().post(
        "/api/v1/verify", json={"serial": "1"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code not in (302, 401, 403)


def test_unknown_accounts_are_404(accounts_site: Site) -> None:
    admin = accounts_site.signed_in("admin")
    assert admin.get("/admin/accounts/999999").status_code == 404
    response = post(accounts_site, admin, "/admin/accounts/999999/active", action="disable")
    assert response.status_code == 404


def test_every_new_form_needs_the_csrf_token(accounts_site: Site) -> None:
    admin = accounts_site.signed_in("admin")
    target = account(accounts_site, "rater").id
    for url, data in [
        ("/admin/accounts/new", {"username": "x1", "role": "rater"}),
        (f"/admin/accounts/{target}/active", {"action": "disable"}),
        (f"/admin/accounts/{target}/role", {"role": "admin"}),
        (f"/admin/accounts/{target}/password", {}),
        ("/account/password", {"current": "x", "password": "y" * 12, "confirm": "y" * 12}),
    ]:
        assert admin.post(url, data=data).status_code == 400, url
        assert admin.post(url, data={**data, "csrf_token": "x" * 43}).status_code == 400, url
    rater = account(accounts_site, "rater")
    assert rater.active and rater.role == "rater" and not rater.must_change_password


# --- lists and history -----------------------------------------------------------------------


def test_the_account_list_pages_sorts_and_filters_on_the_server(accounts_site: Site) -> None:
    site = accounts_site
    with Session(site.database.engine) as session:
        for n in range(120):
            session.add(
                Account(
                    username=f"user{n:03d}",
                    display_name=f"用户{n}",
                    role=ROLES[n % 4],
                    password_hash="scrypt:not-a-password",
                    active=n % 5 != 0,
                )
            )
        session.commit()
    admin = site.signed_in("admin")
    first = page_text(admin.get("/admin/accounts/?per_page=20"))
    assert f"共 {120 + len(PASSWORDS)} 个账户" in first and "第 1 / 7 页" in first
    last = page_text(admin.get("/admin/accounts/?sort=username&dir=desc&per_page=20"))
    assert last.index("user119") < last.index("user118")
    raters = search_accounts(
        site.database.engine, AccountSearch(role=Role.RATER, active=False, per_page=200)
    )
    assert raters.total == len([n for n in range(120) if n % 4 == 1 and n % 5 == 0])
    filtered = page_text(admin.get("/admin/accounts/?role=rater&status=disabled"))
    assert f"共 {raters.total} 个账户" in filtered
    beyond = admin.get("/admin/accounts/?page=99&per_page=20")
    assert beyond.status_code == 302 and "page=7" in beyond.location
    wrong = admin.get("/admin/accounts/?role=owner&sort=password_hash&q=%25")
    assert wrong.status_code == 400 and "role, sort" in page_text(wrong)
    assert "scrypt:" not in admin.get("/admin/accounts/?per_page=200").get_data(as_text=True)
    sheet = openpyxl.load_workbook(
        io.BytesIO(admin.get("/admin/accounts/accounts.xlsx?status=disabled").data)
    ).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "用户名 username" and len(rows) == 1 + 24


def test_the_sign_in_history_records_how_each_ended_and_never_a_password(
    accounts_site: Site,
) -> None:
    site = accounts_site
    sign_in(site, "rater", PASSWORDS["rater"])
    sign_in(site, "rater", "wrong-password-1")
    sign_in(site, "rater-password-typed-as-name", "x")
    set_active(site.database.engine, "committee", False)
    sign_in(site, "committee", PASSWORDS["committee"])
    admin = site.signed_in("admin")
    page = page_text(admin.get("/admin/accounts/sign-ins"))
    for said in ("成功", "密码错误", "无此账户", "账户已停用"):
        assert said in page
    assert "rater-password-typed-as-name" not in page
    only = page_text(admin.get("/admin/accounts/sign-ins?outcome=wrong_password"))
    assert "共 1 次登录" in only
    rater_id = account(site, "rater").id
    mine = page_text(admin.get(f"/admin/accounts/{rater_id}"))
    assert "密码错误" in mine and "成功" in mine
    with Session(site.database.engine) as session:
        stored = " ".join(
            f"{a.username} {a.address} {a.outcome}" for a in session.exec(select(LoginAttempt))
        )
        logged = " ".join(str(e.detail) for e in session.exec(select(AuditEntry)))
    for password in (*PASSWORDS.values(), "wrong-password-1"):
        assert password not in stored and password not in logged
    sheet = openpyxl.load_workbook(
        io.BytesIO(admin.get("/admin/accounts/sign-ins.xlsx").data)
    ).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("时间 time (UTC)", "用户名 username", "地址 address", "结果 outcome")
    assert len(rows) == 1 + 5 and "rater-password-typed-as-name" not in str(rows)
    assert admin.get("/admin/accounts/sign-ins?sort=address&dir=asc").status_code == 200
    assert admin.get("/admin/accounts/sign-ins?outcome=maybe").status_code == 400


def test_a_candidates_exam_sign_ins_are_not_account_history(accounts_site: Site) -> None:
    with Session(accounts_site.database.engine) as session:
        session.add(LoginAttempt(username="exam:A001", address="10.0.0.9", ok=False))
        session.commit()
    admin = accounts_site.signed_in("admin")
    assert "10.0.0.9" not in admin.get("/admin/accounts/sign-ins").get_data(as_text=True)


# --- the invariant ---------------------------------------------------------------------------

PEOPLE = ("admin", "rater", "committee", "invigilator")
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["disable", "enable", "role"]),
        st.sampled_from(PEOPLE),
        st.sampled_from(ROLES),
        st.sampled_from((*PEOPLE, None)),
    ),
    max_size=12,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=OPERATIONS)
def test_whatever_admins_do_an_active_admin_remains(
    accounts_site: Site, operations: list[tuple[str, str, str, str | None]]
) -> None:
    engine = accounts_site.database.engine
    with Session(engine) as session:  # every example starts from one admin of each role
        for name in PEOPLE:
            session.exec(
                update(Account).where(col(Account.username) == name).values(role=name, active=True)
            )
        session.commit()
    for action, target, role, acting in operations:
        before = account(accounts_site, target)
        try:
            if action == "role":
                set_role(engine, target, role, acting=acting)
            else:
                set_active(engine, target, action == "enable", acting=acting)
        except AccountError:
            pass
        after = account(accounts_site, target)
        if acting == target and action != "enable":  # nobody locks themselves out
            assert (after.active, after.role) == (before.active, before.role)
        with Session(engine) as session:
            admins = session.exec(
                select(Account).where(Account.role == "admin", col(Account.active).is_(True))
            ).all()
        assert admins, (action, target, role, acting)


def test_no_account_page_or_download_shows_a_hash_a_token_or_a_password(
    accounts_site: Site,
) -> None:
    """Every GET route of the account pages, as the admin, after sign-ins of every kind."""
    site = accounts_site
    token = create_token(site.database.engine, "rater")
    for role, password in PASSWORDS.items():
        sign_in(site, role, password)
        sign_in(site, role, password + "-wrong")
    admin = site.signed_in("admin")
    with Session(site.database.engine) as session:
        hashes = [a.password_hash for a in session.exec(select(Account))]
        ids = [a.id for a in session.exec(select(Account))]
    secrets = [*PASSWORDS.values(), token, *hashes, "scrypt:"]
    from tests.web.test_roles import SAMPLE

    urls = []
    for rule in site.app.url_map.iter_rules():
        if rule.endpoint.startswith("accounts.") and "GET" in (rule.methods or ()):
            urls += [re.sub(r"<int:account_id>", str(i), rule.rule) for i in ids]
    assert len(set(urls)) >= 6 and SAMPLE["account_id"] in ids
    for url in set(urls):
        response = admin.get(url)
        assert response.status_code == 200, url
        body = response.data.decode("latin-1")
        if url.endswith(".xlsx"):
            body = " ".join(
                str(c.value)
                for row in openpyxl.load_workbook(io.BytesIO(response.data)).active.iter_rows()
                for c in row
            )
        assert not [s for s in secrets if s in body], url
