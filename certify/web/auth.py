"""The web side of accounts: who is signed in (a session on pages, a bearer token on the API,
never the other way round), role checks on views, CSRF tokens, signing in and out.

A session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure in production) holding the
account id, the account's session version and a CSRF token every form posts back. Behind a proxy,
set ``CERTIFY_TRUSTED_PROXIES`` so the address is the client's (docs/web.md). Accounts, tokens and
throttling themselves are :mod:`certify.accounts`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, redirect, request, session, url_for
from sqlalchemy import Engine
from sqlmodel import Session

from certify.accounts import account_for_session, account_for_token, end_sessions
from certify.institutions.scope import Scope, scope_of_account, scoped
from schemas.tables import Account

F = TypeVar("F", bound=Callable[..., Any])
PASSWORD_PAGES = ("accounts.password", "accounts.password_post")
"""Where an account whose password must be changed may go (and sign out)."""


def current_account() -> Account | None:
    """The signed-in account of this request, cached on ``g``: from the bearer token on the API,
    from the session on pages — never the other way round."""
    if "account" in g:
        return g.account  # type: ignore[no-any-return]
    engine: Engine = g.engine
    account = None
    header = request.headers.get("Authorization", "")
    if request.path.startswith("/api/"):
        # The API takes bearer tokens only: a browser's cookie never authorises it.
        if header.lower().startswith("bearer "):
            account = account_for_token(engine, header[7:].strip())
            g.via_token = True
            if account is None:
                address = request.remote_addr or "?"
                if not g.services.limiter.allow(address, "bad-token", g.services.auth_failures):
                    abort(429, description="too many requests with invalid API tokens")
    elif "uid" in session:
        # Pages take the signed-in session only: an API token never opens them (it would skip
        # the CSRF protection that binds a form to the session).
        account = account_for_session(engine, session["uid"], session.get("sv"))
    g.account = account
    return account


def account_scope(account: Account) -> Scope | None:
    """The institution the signed-in account works for (cached on ``g``), or None."""
    if "scope" not in g:
        with Session(g.engine) as session:
            g.scope = scope_of_account(session, account)
    return g.scope  # type: ignore[no-any-return]


def require_role(*roles: str) -> Callable[[F], F]:
    """Only these roles may call the view: anonymous → sign in (401 for the API), other roles →
    403."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            account = current_account()
            if account is None:
                if request.path.startswith("/api/") or g.get("via_token"):
                    abort(
                        401,
                        description="a valid API token is required: Authorization: Bearer <token>",
                    )
                return redirect(url_for("auth.login", next=request.full_path))
            if account.role not in roles:
                abort(403, description=f"the {account.role} role may not use this")
            if (
                account.must_change_password
                and not g.get("via_token")
                and request.endpoint not in PASSWORD_PAGES
            ):
                # A password an admin set or reset: nothing else until the account chooses its own.
                return redirect(url_for("accounts.password"))
            # Everything the view reads or changes, through whichever service, is the
            # account's institution's only (certify.institutions.scope): the one place. Its own
            # password is the account's, whatever it may see.
            own = request.endpoint in PASSWORD_PAGES
            with scoped(None if own else account_scope(account)):
                return view(*args, **kwargs)

        wrapper.roles = roles  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def check_csrf() -> None:
    """Every form post carries the session's CSRF token (the JSON API uses bearer tokens)."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description="csrf")


def sign_in(account: Account) -> None:
    session.clear()
    session["uid"] = account.id
    session["sv"] = account.session_version
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True


def sign_out() -> Any:
    uid = session.get("uid")
    if uid is not None:
        end_sessions(g.engine, int(uid))
    session.clear()
    return redirect(url_for("public.index"))
