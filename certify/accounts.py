"""Accounts, roles, passwords, API tokens and sign-in throttling: the services behind the web
app's sign-in and API, which the command line uses too (``certify users``).

Roles: ``admin`` (the institution's administrators), ``rater`` (评分员), ``committee`` (title
review committees). Passwords are hashed with scrypt (``werkzeug.security``); API tokens are
random, shown once, and stored as their SHA-256. Each account has a session version, bumped on
sign-out, disabling and password change, which ends every earlier browser session. Sign-in is
throttled within :data:`WINDOW`: after :data:`MAX_FAILURES_USER` failures for one username from
one address, :data:`MAX_FAILURES_ADDRESS` from one address, or :data:`MAX_FAILURES_ANYWHERE` for
one username from anywhere, further attempts are refused until the window passes, whatever the
password — so a stranger cannot lock a named account out for everyone with a few tries, and a
spread-out guess at one account still stops.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from werkzeug.security import check_password_hash, generate_password_hash

from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import AccountNotFound, Error
from schemas.enums import ROLES
from schemas.tables import Account, ApiToken, LoginAttempt, utcnow

WINDOW = timedelta(minutes=15)
MAX_FAILURES_USER = 5
MAX_FAILURES_ADDRESS = 20
MAX_FAILURES_ANYWHERE = 50
MIN_PASSWORD = 10
TOKEN_PREFIX = "ct_"


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
        audit_log.append(
            s, actor=actor, action="account.create", subject=username, detail={"role": role}
        )
        return account


def get_account(session: Session, username: str) -> Account:
    """The account with this username; raises AccountNotFound."""
    account = session.exec(select(Account).where(Account.username == username)).first()
    if account is None:
        raise AccountNotFound(username)
    return account


def set_active(engine: Engine, username: str, active: bool, *, actor: str = "cli") -> None:
    with transaction(engine) as s:
        account = get_account(s, username)
        account.active = active
        account.session_version += 1
        s.add(account)
        forget_tokens()
        audit_log.append(
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
        account = get_account(s, username)
        assert account.id is not None
        s.add(ApiToken(account_id=account.id, token_hash=token_hash(token), label=label))
        audit_log.append(
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


def account_for_session(engine: Engine, account_id: object, version: object) -> Account | None:
    """The account a browser session names, if it is active and the session is of its current
    version (signing out, disabling or a new password end the older ones)."""
    if not isinstance(account_id, int):
        return None
    with Session(engine) as s:
        found = s.get(Account, account_id)
    if found is None or not found.active or version != found.session_version:
        return None
    return found


def forget_tokens() -> None:
    """Drop every remembered token (after disabling an account in this process)."""
    with _token_lock:
        _token_cache.clear()


def end_sessions(engine: Engine, account_id: int) -> None:
    """End every session of the account, on every device (a signed cookie cannot be recalled,
    so the account's session version moves on and old cookies stop matching)."""
    with transaction(engine) as s:
        account = s.get(Account, account_id)
        if account is not None:
            account.session_version += 1
            s.add(account)
