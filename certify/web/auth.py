"""Accounts, roles, sessions, API tokens, CSRF and sign-in throttling.

Roles: ``admin`` (the institution's administrators), ``rater`` (评分员), ``committee`` (title
review committees). The public needs no account. Passwords are hashed with scrypt
(``werkzeug.security``); API tokens are random, shown once, and stored as their SHA-256. A
session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure in production) holding the
account id, the account's session version (bumped on sign-out, disabling and password change,
which ends every earlier session) and a CSRF token every form posts back. Sign-in is throttled
within :data:`WINDOW`: after :data:`MAX_FAILURES_USER` failures for one username from one address,
:data:`MAX_FAILURES_ADDRESS` from one address, or :data:`MAX_FAILURES_ANYWHERE` for one username
from anywhere, further attempts are refused until the window passes, whatever the password — so
a stranger cannot lock a named account out for everyone with a few tries, and a spread-out guess
at one account still stops. Behind a proxy, set ``CERTIFY_TRUSTED_PROXIES`` so the address is the
client's (docs/web.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from functools import cache, wraps
from typing import Any, TypeVar

from flask import abort, g, redirect, request, session, url_for
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from werkzeug.security import check_password_hash, generate_password_hash

from certify import audit
from certify.db import transaction
from certify.errors import Error
from schemas.enums import ROLES
from schemas.tables import Account, ApiToken, LoginAttempt, utcnow

WINDOW = timedelta(minutes=15)
MAX_FAILURES_USER = 5
MAX_FAILURES_ADDRESS = 20
MAX_FAILURES_ANYWHERE = 50
MIN_PASSWORD = 10
TOKEN_PREFIX = "ct_"

F = TypeVar("F", bound=Callable[..., Any])


class AccountError(Error):
    code = "account"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def create_account(
    engine: Engine,
    username: str,
    role: str,
    password: str,
    *,
    display_name: str = "",
    actor: str = "cli",
) -> Account:
    if role not in ROLES:
        raise AccountError(f"角色应为 {'、'.join(ROLES)} / role must be one of {', '.join(ROLES)}")
    if not username.strip() or len(username) > 64:
        raise AccountError("用户名须为 1–64 个字符 / username: 1-64 characters")
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"密码至少 {MIN_PASSWORD} 个字符 / the password needs at least {MIN_PASSWORD} characters"
        )
    with transaction(engine) as s:
        if s.exec(select(Account).where(Account.username == username)).first():
            raise AccountError(f"用户 {username} 已存在 / account {username} exists already")
        account = Account(
            username=username,
            role=role,
            password_hash=hash_password(password),
            display_name=display_name or username,
        )
        s.add(account)
        s.flush()
        audit.append(
            s, actor=actor, action="account.create", subject=username, detail={"role": role}
        )
        return account


def set_active(engine: Engine, username: str, active: bool, *, actor: str = "cli") -> None:
    with transaction(engine) as s:
        account = s.exec(select(Account).where(Account.username == username)).first()
        if account is None:
            raise AccountError(f"没有用户 {username} / no account {username}")
        account.active = active
        account.session_version += 1
        s.add(account)
        forget_tokens()
        audit.append(
            s,
            actor=actor,
            action="account.enable" if active else "account.disable",
            subject=username,
            detail={},
        )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, username: str, *, label: str = "", actor: str = "cli") -> str:
    """A new API token for the account; only its hash is kept, so this is the one time it shows."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction(engine) as s:
        account = s.exec(select(Account).where(Account.username == username)).first()
        if account is None or account.id is None:
            raise AccountError(f"没有用户 {username} / no account {username}")
        s.add(ApiToken(account_id=account.id, token_hash=token_hash(token), label=label))
        audit.append(
            s, actor=actor, action="token.create", subject=username, detail={"label": label}
        )
    return token


def authenticate(engine: Engine, username: str, password: str, address: str) -> Account | None:
    """The account if the password is right and sign-in is not throttled; records the attempt.

    Raises :class:`Throttled` while too many recent attempts failed."""
    since = utcnow() - WINDOW

    def failures(*conditions: Any) -> int:
        return int(
            s.exec(
                select(func.count())
                .select_from(LoginAttempt)
                .where(col(LoginAttempt.ok).is_(False), col(LoginAttempt.at) >= since, *conditions)
            ).one()
        )

    with transaction(engine) as s:
        if (
            failures(LoginAttempt.username == username, LoginAttempt.address == address)
            >= MAX_FAILURES_USER
            or failures(LoginAttempt.address == address) >= MAX_FAILURES_ADDRESS
            or failures(LoginAttempt.username == username) >= MAX_FAILURES_ANYWHERE
        ):
            raise Throttled()
        account = s.exec(select(Account).where(Account.username == username)).first()
        # The same work whether the account exists, is disabled or not: timing tells nothing.
        right = check_password_hash(account.password_hash if account else _dummy_hash(), password)
        ok = bool(account is not None and account.active and right)
        s.add(LoginAttempt(username=username[:64], address=address[:64], ok=ok))
        return account if ok else None


@cache
def _dummy_hash() -> str:
    """A hash to check against when the account does not exist (made on first use, not when
    the command line starts)."""
    return hash_password(secrets.token_hex(8))


class Throttled(Error):
    code = "throttled"

    def __init__(self) -> None:
        super().__init__(
            "登录失败次数过多，请 15 分钟后再试 / too many failed sign-ins: try again in 15 minutes"
        )


TOKEN_CACHE_SECONDS = 10.0
"""How long a process remembers an API token's account: a disabled account or revoked token
stops working within this time (a committee's bulk client sends many requests a second)."""

TOKEN_CACHE_SIZE = 1_000
_token_cache: OrderedDict[str, tuple[float, Account]] = OrderedDict()
_token_lock = threading.Lock()


def account_for_token(engine: Engine, token: str) -> Account | None:
    """The active account an API token belongs to, or None. Valid tokens are remembered briefly
    per process (least recently used first out); unknown ones never, so guessing cannot crowd
    out the real ones."""
    digest = token_hash(token)
    now = time.monotonic()
    with _token_lock:
        cached = _token_cache.get(digest)
        if cached is not None and cached[0] > now:
            _token_cache.move_to_end(digest)
            return cached[1]
    with Session(engine, expire_on_commit=False) as s:
        found = s.exec(
            select(Account)
            .join(ApiToken, col(ApiToken.account_id) == col(Account.id))
            .where(ApiToken.token_hash == digest, col(ApiToken.revoked_at).is_(None))
        ).first()
        if found is not None:
            s.expunge(found)
    if found is None or not found.active:
        return None
    with _token_lock:
        _token_cache[digest] = (now + TOKEN_CACHE_SECONDS, found)
        _token_cache.move_to_end(digest)
        while len(_token_cache) > TOKEN_CACHE_SIZE:
            _token_cache.popitem(last=False)
    return found


def forget_tokens() -> None:
    """Drop every remembered token (after disabling an account in this process)."""
    with _token_lock:
        _token_cache.clear()


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
        with Session(engine) as s:
            found = s.get(Account, session["uid"])
        current = found is not None and found.active and session.get("sv") == found.session_version
        account = found if current else None
    g.account = account
    return account


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


def end_sessions(engine: Engine, account_id: int) -> None:
    """End every session of the account, on every device (a signed cookie cannot be recalled,
    so the account's session version moves on and old cookies stop matching)."""
    with transaction(engine) as s:
        account = s.get(Account, account_id)
        if account is not None:
            account.session_version += 1
            s.add(account)


def sign_out() -> Any:
    uid = session.get("uid")
    if uid is not None:
        end_sessions(g.engine, int(uid))
    session.clear()
    return redirect(url_for("public.index"))
