"""Accounts, roles, passwords, API tokens and sign-in throttling: the services behind the web
app's sign-in, its account pages and its API, which the command line uses too (``certify
users``). Listing accounts and their sign-in history is :mod:`certify.accounts.directory`.

Roles: ``admin`` (the institution's administrators), ``rater`` (评分员), ``committee`` (title
review committees). Passwords are hashed with scrypt (``werkzeug.security``); API tokens are
random, shown once, and stored as their SHA-256. Each account has a session version, bumped on
sign-out, disabling and password change, which ends every earlier browser session. Sign-in is
throttled within :data:`WINDOW`: after :data:`MAX_FAILURES_USER` failures for one username from
one address, :data:`MAX_FAILURES_ADDRESS` from one address, or :data:`MAX_FAILURES_ANYWHERE` for
one username from anywhere, further attempts are refused until the window passes, whatever the
password — so a stranger cannot lock a named account out for everyone with a few tries, and a
spread-out guess at one account still stops.

Changes an admin makes keep the institution administrable: no change leaves it without an
active admin (:class:`LastAdmin`), and nobody disables, demotes or resets their own account
(:class:`OwnAccount`) — with ``acting``, the username of whoever makes the change. A password
an admin sets or resets must be changed at the next sign-in.
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

from sqlalchemy import Engine, false, func
from sqlalchemy import update as sa_update
from sqlmodel import Session, col, select
from werkzeug.security import check_password_hash, generate_password_hash

from certify.infra import audit_log
from certify.infra.db import ALL_INSTITUTIONS, transaction
from certify.infra.errors import AccountNotFound, Error
from certify.institutions import registry, scope
from schemas.enums import ROLES, Role, SignInOutcome
from schemas.tables import Account, ApiToken, LoginAttempt, utcnow

WINDOW = timedelta(minutes=15)
MAX_FAILURES_USER = 5
MAX_FAILURES_ADDRESS = 20
MAX_FAILURES_ANYWHERE = 50
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MAX_DISPLAY_NAME = 100
TOKEN_PREFIX = "ct_"
PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
"""Letters and digits of a generated password, without the ones read alike (0 O, 1 l I)."""
GENERATED_PASSWORD = 16


class AccountError(Error):
    code = "account"

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field
        """The form field at fault (``username``, ``role``, ``password``, …), if one is."""


class LastAdmin(AccountError):
    code = "last_admin"

    def __init__(self, username: str) -> None:
        super().__init__(
            f"{username} 是唯一启用的管理员账户：请先启用或创建另一个管理员 / {username} is the "
            "only active admin: enable or create another admin first"
        )


class OwnAccount(AccountError):
    code = "own_account"

    def __init__(self, what_zh: str, what_en: str) -> None:
        super().__init__(
            f"不能{what_zh}自己的账户，请另一位管理员操作 / you cannot {what_en} your own "
            "account: ask another admin"
        )


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def generate_password() -> str:
    """A random password to hand over once (about 94 bits)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(GENERATED_PASSWORD))


def check_password(password: str) -> None:
    """Raises AccountError for a password too short or too long."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(
            f"密码须为 {MIN_PASSWORD}–{MAX_PASSWORD} 个字符 / the password needs "
            f"{MIN_PASSWORD} to {MAX_PASSWORD} characters",
            "password",
        )


def check_role(role: str) -> Role:
    """The role named; raises AccountError for another word."""
    if role not in ROLES:
        raise AccountError(
            f"角色应为 {'、'.join(ROLES)} / role must be one of {', '.join(ROLES)}", "role"
        )
    return Role(role)


def check_username(username: str) -> None:
    """Raises AccountError unless ``username`` is 1–64 characters, with no space at either end
    and no control character (a sign-in trims what is typed, so such a name could never sign
    in)."""
    if (
        not username.strip()
        or len(username) > 64
        or username != username.strip()
        or any(ord(c) < 32 or ord(c) == 127 for c in username)
    ):
        raise AccountError(
            "用户名须为 1–64 个字符，首尾不能有空格，不能有控制字符 / username: 1-64 characters, "
            "no space at either end, no control characters",
            "username",
        )


def create_account(
    engine: Engine,
    username: str,
    role: str,
    password: str,
    *,
    display_name: str = "",
    actor: str = "cli",
    must_change_password: bool = False,
    institution: str | None = None,
    region: str | None = None,
) -> Account:
    """A new active account, audited as ``account.create``; raises AccountError for a bad
    username, role, password, name or institution, or a username taken. The account belongs to
    ``institution`` (its name or code; None: a platform account) — always to the institution
    held, when one is (``certify.institutions.scope``): an institution's admin makes accounts
    of its own institution only. A supervisor (role ``supervisor``) belongs to no institution
    and needs its ``region`` (``山东省``): it reads every institution there and writes none of
    their data."""
    check_role(role)
    check_username(username)
    check_password(password)
    if len(display_name) > MAX_DISPLAY_NAME:
        raise AccountError(
            f"姓名至多 {MAX_DISPLAY_NAME} 个字符 / the name: at most {MAX_DISPLAY_NAME} characters",
            "display_name",
        )
    held = scope.current()
    region = (region or "").strip() or None
    if role == Role.SUPERVISOR:
        if held is not None:
            raise AccountError(
                "机构账户不能创建监督账户 / an institution's account cannot make a supervisor",
                "role",
            )
        if region is None or len(region) > 64 or (institution or "").strip():
            raise AccountError(
                "监督账户须填写所辖地区（至多 64 字），且不属于任何机构 / a supervisor needs its "
                "region (at most 64 characters) and belongs to no institution",
                "region",
            )
    elif region is not None:
        raise AccountError("只有监督账户有所辖地区 / only a supervisor has a region", "region")
    if role == Role.COMMITTEE and (held is not None or (institution or "").strip()):
        # a title review committee checks the credentials of every institution
        raise AccountError(
            "评审委员会账户不属于任何机构，由平台创建 / a review committee's account belongs to "
            "no institution and is made by the platform",
            "role",
        )
    with transaction(engine) as s:
        # a username is the platform's: taken is taken
        taken = s.exec(
            select(Account.id)
            .where(Account.username == username)
            .execution_options(**ALL_INSTITUTIONS)
        ).first()
        if taken is not None:
            raise AccountError(
                f"用户 {username} 已存在 / account {username} exists already", "username"
            )
        owner = held.name if held is not None else _institution(s, institution)
        account = Account(
            username=username,
            role=role,
            password_hash=hash_password(password),
            display_name=display_name.strip() or username,
            must_change_password=must_change_password,
            institution=owner,
            region=region,
        )
        s.add(account)
        s.flush()
        audit_log.append(
            s,
            actor=actor,
            action="account.create",
            subject=username,
            detail={"role": role, "institution": owner, "region": region},
        )
        return account


def _institution(session: Session, name_or_code: str | None) -> str | None:
    if name_or_code is None or not name_or_code.strip():
        return None
    try:
        return registry.get(session, name_or_code).name
    except registry.InstitutionError as exc:
        raise AccountError(str(exc), "institution") from None


def get_account(session: Session, username: str) -> Account:
    """The account with this username; raises AccountNotFound."""
    account = session.exec(select(Account).where(Account.username == username)).first()
    if account is None:
        raise AccountNotFound(username)
    return account


def _active_admins(s: Session) -> list[str]:
    """The usernames of the active admins, locked until the transaction ends, so that two
    admins disabling each other at once cannot both succeed: the second sees the first's change.

    PostgreSQL locks the rows (in id order: no deadlock). SQLite's driver begins a transaction
    only at its first write, so a count read before it could be stale by the time the write
    commits; a write that changes nothing takes SQLite's one write lock first."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(sa_update(Account).where(false()).values(session_version=Account.session_version))
    return list(
        s.exec(
            select(Account.username)
            .where(Account.role == Role.ADMIN.value, col(Account.active).is_(True))
            .order_by(col(Account.id))
            .with_for_update()
        )
    )


def _keep_an_admin(s: Session, account: Account) -> None:
    """Raises LastAdmin when ``account`` is the only active admin (about to stop being one)."""
    if account.active and account.role == Role.ADMIN and _active_admins(s) == [account.username]:
        raise LastAdmin(account.username)


def set_active(
    engine: Engine,
    username: str,
    active: bool,
    *,
    actor: str = "cli",
    acting: str | None = None,
) -> Account:
    """Enable or disable the account (disabling ends its sessions and tokens at once); audited
    as ``account.enable`` / ``account.disable``. Raises OwnAccount when ``acting`` disables
    itself, LastAdmin for the last active admin, AccountNotFound."""
    with transaction(engine) as s:
        account = get_account(s, username)
        if not active:
            if acting == username:
                raise OwnAccount("停用", "disable")
            _keep_an_admin(s, account)
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
        return account


def set_role(
    engine: Engine,
    username: str,
    role: str,
    *,
    actor: str = "cli",
    acting: str | None = None,
) -> Account:
    """Give the account another role; its sessions end (it signs in again to its new pages)
    and its tokens answer with the new role at once. Audited as ``account.role`` with both
    roles. The same role again changes nothing. Raises AccountError for an unknown role,
    OwnAccount when ``acting`` changes its own, LastAdmin when the last active admin would stop
    being one, AccountNotFound."""
    new = check_role(role)
    with transaction(engine) as s:
        account = get_account(s, username)
        if account.role == new:
            return account
        if acting == username:
            raise OwnAccount("更改", "change the role of")
        if Role.SUPERVISOR in (new, account.role):
            raise AccountError(
                "监督账户有所辖地区、不属于任何机构：请另建账户 / a supervisor has a region and "
                "no institution: make a new account instead",
                "role",
            )
        if new == Role.COMMITTEE and account.institution is not None:
            raise AccountError(
                "评审委员会账户不属于任何机构 / a review committee's account belongs to no "
                "institution",
                "role",
            )
        _keep_an_admin(s, account)
        before = account.role
        account.role = new.value
        account.session_version += 1
        s.add(account)
        forget_tokens()
        audit_log.append(
            s,
            actor=actor,
            action="account.role",
            subject=username,
            detail={"from": before, "to": new.value},
        )
        return account


def reset_password(
    engine: Engine,
    username: str,
    *,
    password: str | None = None,
    actor: str = "cli",
    acting: str | None = None,
) -> str:
    """Give the account a new password — ``password``, or a generated one — and return it (the
    one time it is shown). It must be changed at the next sign-in; every session of the account
    ends. Audited as ``account.password_reset`` (whether generated; never the password). Raises
    AccountError for a password too short or long, OwnAccount when ``acting`` resets its own
    (:func:`change_password` is for that), AccountNotFound."""
    chosen = password is not None
    password = password if password is not None else generate_password()
    check_password(password)
    with transaction(engine) as s:
        account = get_account(s, username)
        if acting == username:
            raise OwnAccount("重置", "reset the password of")
        account.password_hash = hash_password(password)
        account.must_change_password = True
        account.session_version += 1
        s.add(account)
        audit_log.append(
            s,
            actor=actor,
            action="account.password_reset",
            subject=username,
            detail={"generated": not chosen},
        )
    return password


def change_password(engine: Engine, account_id: int, current: str, new: str) -> Account:
    """The account's own new password, in place of ``current`` (which must be right); no longer
    due for a change. Every other session of the account ends (the caller signs this one in
    again with the account returned). Audited as ``account.password_change`` under the account.
    Raises AccountError naming the field at fault."""
    check_password(new)
    with transaction(engine) as s:
        account = s.get(Account, account_id)
        if account is None or not account.active:
            raise AccountNotFound(account_id)
        if not check_password_hash(account.password_hash, current):
            raise AccountError("当前密码不正确 / the current password is wrong", "current")
        if new == current:
            raise AccountError(
                "新密码须与当前密码不同 / the new password must differ from the current one",
                "password",
            )
        account.password_hash = hash_password(new)
        account.must_change_password = False
        account.session_version += 1
        s.add(account)
        audit_log.append(
            s,
            actor=f"web:{account.username}",
            action="account.password_change",
            subject=account.username,
            detail={},
        )
        return account


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
        outcome = _outcome(account, right)
        ok = outcome is SignInOutcome.OK
        s.add(
            LoginAttempt(username=username[:64], address=address[:64], ok=ok, outcome=outcome.value)
        )
        return account if ok else None


def _outcome(account: Account | None, right: bool) -> SignInOutcome:
    if account is None:
        return SignInOutcome.UNKNOWN_ACCOUNT
    if not account.active:
        return SignInOutcome.DISABLED
    return SignInOutcome.OK if right else SignInOutcome.WRONG_PASSWORD


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
