"""Accounts and roles: every non-public route refuses anonymous and wrong-role requests;
passwords and tokens are hashed at rest; sign-in is CSRF-protected and throttled."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session, select

from certify.accounts import MAX_FAILURES_USER, AccountError, create_account
from certify.web import answers
from schemas.tables import Account, ApiToken, AuditEntry, LoginAttempt
from tests.web.conftest import PASSWORDS, Site

PUBLIC = {"public", "auth", "static"}
CANDIDATE = "exam"
"""The candidate's calls: a device token in a header, never an account (walked below)."""
SAMPLE = {
    "code": "S1",
    "check_id": 1,
    "fmt": "csv",
    "serial": "0",
    "objection_id": 1,
    "token": "A",
    "script": "0000000000",
    "attachment_id": 1,
    "room_id": 1,
    "item_code": "AI-J-001",
    "account_id": 1,
    "job_id": 1,
    "doc": "paper",
    "application_id": 1,
    "run_id": 1,
    "plan": "SD-2026-Q4",
    "target": "S1",
    "evidence_id": 1,
    "seal_id": 1,
}


def protected_routes(site: Site) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, URL, roles allowed) of every route outside the public blueprints."""
    found = []
    for rule in site.app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".")[0]
        if blueprint in PUBLIC | {CANDIDATE} or rule.endpoint == "api.openapi":
            continue
        view = site.app.view_functions[rule.endpoint]
        roles = getattr(view, "roles", None)
        assert roles, f"{rule.endpoint} has no role check"
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[a-z]+:)?{name}>", str(SAMPLE[name]), url)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, url, roles))
    return found


def call(client: Any, method: str, url: str, **kwargs: Any) -> Any:
    return client.open(url, method=method, **kwargs)


def test_the_url_map_has_protected_routes_for_every_role(site: Site) -> None:
    routes = protected_routes(site)
    assert len(routes) >= 15
    blueprints = {url.split("/")[1] for _, url, _ in routes}
    assert blueprints == {
        "admin",
        "committee",
        "rater",
        "api",
        "invigilate",
        "account",
        "supervise",
    }


def candidate_routes(site: Site) -> list[tuple[str, str]]:
    """(method, URL) of every call of the candidate's exam but signing in and the page: the
    exam blueprint's, and those answered in front of Flask (certify.web.answers)."""
    return [
        (method, rule.rule)
        for rule in site.app.url_map.iter_rules()
        if rule.endpoint.startswith(f"{CANDIDATE}.")
        and rule.endpoint not in ("exam.sign_in", "exam.page")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ] + list(answers.ROUTES)


def test_the_candidates_calls_take_a_device_token_and_nothing_else(site: Site) -> None:
    """No token, a forged one, an account's API token or a signed-in account's session: each
    is 401 ``signed_out`` on every call — an account of any role is not a candidate."""
    routes = candidate_routes(site)
    assert {url for _, url in routes} >= {
        "/exam/api/state",
        "/exam/api/paper",
        "/exam/api/save",
        "/exam/api/hand-in",
        "/exam/api/attachments",
        "/exam/api/events",
    }
    tries: list[tuple[Any, dict[str, str]]] = [
        (site.client(), {}),
        (site.client(), {"Authorization": "Exam " + "A" * 43}),
        (site.client(), site.bearer("admin")),
    ]
    tries += [(site.signed_in(role), {}) for role in PASSWORDS]
    for client, headers in tries:
        for method, url in routes:
            response = call(client, method, url, json={"entries": []}, headers=headers)
            assert response.status_code in (401, 415), (method, url, headers)
            if response.status_code == 401:
                assert response.json["error"] == "signed_out"


def test_anonymous_requests_are_refused_everywhere(site: Site) -> None:
    client = site.client()
    for method, url, _ in protected_routes(site):
        response = call(client, method, url, json={} if url.startswith("/api/") else None)
        if url.startswith("/api/"):
            assert response.status_code == 401, (method, url)
            assert response.json["error"]["status"] == 401
        else:
            assert response.status_code == 302 and "/login" in response.location, (method, url)


def test_wrong_roles_are_refused_everywhere(site: Site) -> None:
    for role in PASSWORDS:
        client = site.signed_in(role)
        for method, url, roles in protected_routes(site):
            if role in roles:
                continue
            if url.startswith("/api/"):
                response = call(site.client(), method, url, json={}, headers=site.bearer(role))
            else:
                response = call(client, method, url, data={"csrf_token": site.csrf(client)})
            assert response.status_code == 403, (role, method, url, response.status_code)


def test_the_right_role_gets_through(site: Site) -> None:
    for role in PASSWORDS:
        client = site.signed_in(role)
        for method, url, roles in protected_routes(site):
            if role not in roles or method != "GET":
                continue
            response = client.get(url)
            assert response.status_code not in (401, 403), (role, url)
            # a page may send on to another (the report PDF before any statistics), never to sign in
            assert response.status_code != 302 or "/login" not in response.location, (role, url)


def test_secrets_are_hashed_at_rest(site: Site) -> None:
    with Session(site.database.engine) as session:
        accounts = session.exec(select(Account)).all()
        tokens = session.exec(select(ApiToken)).all()
        audit = " ".join(str(e.detail) for e in session.exec(select(AuditEntry)))
    for account in accounts:
        assert account.password_hash.startswith("scrypt:")
        assert PASSWORDS[account.username] not in account.password_hash
    stored = {t.token_hash for t in tokens}
    for token in site.tokens.values():
        assert token not in stored and token not in audit and len(next(iter(stored))) == 64


def test_sign_in_needs_the_forms_csrf_token(site: Site) -> None:
    client = site.client()
    client.get("/login")
    forged = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"]})
    assert forged.status_code == 400 and "表单已过期" in forged.data.decode()
    wrong = client.post(
        "/login", data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": "x" * 43}
    )
    assert wrong.status_code == 400
    signed = site.signed_in("admin")
    # A form post inside the app without the token is refused too.
    response = signed.post("/admin/certificates/0/status", data={"action": "revoke", "reason": "x"})
    assert response.status_code == 400


def test_repeated_failures_throttle_sign_in(site: Site) -> None:
    client = site.client()
    client.get("/login")
    csrf = site.csrf(client)
    for _ in range(MAX_FAILURES_USER):
        failed = client.post(
            "/login", data={"username": "admin", "password": "wrong", "csrf_token": csrf}
        )
        assert failed.status_code == 401
    blocked = client.post(
        "/login", data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": csrf}
    )
    assert blocked.status_code == 429 and "15 分钟" in blocked.data.decode()
    # Another account from elsewhere is not affected.
    assert site.signed_in("rater").get("/rater/").status_code == 200
    with Session(site.database.engine) as session:
        attempts = session.exec(select(LoginAttempt).where(LoginAttempt.username == "admin")).all()
    # The refused attempt never reached the password check, so it is not counted.
    assert len(attempts) == MAX_FAILURES_USER and not any(a.ok for a in attempts)


def test_signing_out_ends_the_session(site: Site) -> None:
    client = site.signed_in("committee")
    assert client.get("/committee/").status_code == 200
    client.post("/logout", data={"csrf_token": site.csrf(client)})
    assert client.get("/committee/").status_code == 302


def test_open_redirects_are_refused(site: Site) -> None:
    client = site.client()
    client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": "committee",
            "password": PASSWORDS["committee"],
            "csrf_token": site.csrf(client),
            "next": "//evil.example/x",
        },
    )
    assert response.location == "/committee/"


@pytest.mark.parametrize(
    ("username", "role", "password"),
    [
        ("x", "superuser", "long enough pw"),
        ("", "admin", "long enough pw"),
        ("y", "admin", "short"),
    ],
)
def test_accounts_are_checked(site: Site, username: str, role: str, password: str) -> None:
    with pytest.raises(AccountError):
        create_account(site.database.engine, username, role, password)


def test_a_disabled_account_loses_its_session_and_its_token(site: Site) -> None:
    from certify.accounts import set_active

    client = site.signed_in("committee")
    body = {"token": site.certificates[0].token}
    assert site.client().post("/api/v1/verify", json=body, headers=site.bearer()).status_code == 200
    set_active(site.database.engine, "committee", False)
    assert site.client().post("/api/v1/verify", json=body, headers=site.bearer()).status_code == 401
    assert client.get("/committee/").status_code == 302
    set_active(site.database.engine, "committee", True)
    assert site.client().post("/api/v1/verify", json=body, headers=site.bearer()).status_code == 200
