"""Reading accounts and their sign-in history a page at a time: filters, sorting and paging
done by the database, for the admin's account pages and ``certify users list`` / ``sign-ins``.

Sign-in history is the ``login_attempt`` rows of accounts (a candidate's exam sign-ins, named
``exam:…``, are the exam's own). A name typed that belongs to no account is never shown back:
people type passwords into the username field."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_
from sqlmodel import Session, col, select

from certify.infra.errors import AccountNotFound
from schemas.enums import Role, SignInOutcome
from schemas.tables import Account, ApiToken, LoginAttempt

MAX_PER_PAGE = 200
MAX_EXPORT = 100_000
"""Rows a download holds at most (the newest, in the list's order)."""


def _escaped(text: str) -> str:
    """``text`` for a LIKE pattern with ``\\`` as the escape: its wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _last_sign_in() -> Any:
    """The account's latest successful sign-in, as a correlated subquery."""
    return (
        select(func.max(LoginAttempt.at))
        .where(col(LoginAttempt.username) == col(Account.username), col(LoginAttempt.ok).is_(True))
        .correlate(Account)
        .scalar_subquery()
    )


ACCOUNT_SORTS: dict[str, Any] = {
    "username": lambda: col(Account.username),
    "display_name": lambda: col(Account.display_name),
    "role": lambda: col(Account.role),
    "active": lambda: col(Account.active),
    "created": lambda: col(Account.created_at),
    "last_sign_in": _last_sign_in,
}
"""What the account list may be sorted by; ties broken by username."""


@dataclass(frozen=True)
class AccountSearch:
    """Which accounts, in what order, which page: every filter optional."""

    text: str = ""
    """Found in the username or the name shown."""
    role: Role | None = None
    active: bool | None = None
    sort: str = "username"
    descending: bool = False
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class AccountRow:
    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    must_change_password: bool
    created_at: datetime
    last_sign_in: datetime | None
    institution: str | None = None
    """The institution whose data alone it sees (None: the platform's)."""
    region: str | None = None
    """A supervisor's region."""


@dataclass(frozen=True)
class AccountPage:
    search: AccountSearch
    rows: list[AccountRow]
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.search.per_page))


def _account_filter(search: AccountSearch) -> list[Any]:
    where: list[Any] = []
    if search.text.strip():
        pattern = f"%{_escaped(search.text.strip())}%"
        where.append(
            or_(
                col(Account.username).like(pattern, escape="\\"),
                col(Account.display_name).like(pattern, escape="\\"),
            )
        )
    if search.role is not None:
        where.append(col(Account.role) == search.role.value)
    if search.active is not None:
        where.append(col(Account.active).is_(search.active))
    return where


def _account_rows(
    s: Session, search: AccountSearch, limit: int, offset: int, *where: Any
) -> list[AccountRow]:
    if search.sort not in ACCOUNT_SORTS:
        raise ValueError(f"sort must be one of {', '.join(ACCOUNT_SORTS)}")
    key = ACCOUNT_SORTS[search.sort]()
    order = [key.desc() if search.descending else key.asc()]
    if search.sort != "username":
        order.append(col(Account.username).asc())
    found = s.exec(
        select(Account, _last_sign_in())
        .where(*_account_filter(search), *where)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        AccountRow(
            id=a.id or 0,
            username=a.username,
            display_name=a.display_name,
            role=Role(a.role),
            active=a.active,
            must_change_password=a.must_change_password,
            created_at=a.created_at,
            last_sign_in=last,
            institution=a.institution,
            region=a.region,
        )
        for a, last in found
    ]


def search_accounts(engine: Engine, search: AccountSearch) -> AccountPage:
    """One page of the accounts matching ``search`` with each one's last sign-in; raises
    ValueError for a sort not in :data:`ACCOUNT_SORTS`."""
    per_page = min(max(search.per_page, 1), MAX_PER_PAGE)
    page = max(search.page, 1)
    search = AccountSearch(**{**search.__dict__, "per_page": per_page, "page": page})
    with Session(engine) as s:
        total = s.exec(
            select(func.count()).select_from(Account).where(*_account_filter(search))
        ).one()
        rows = _account_rows(s, search, per_page, (page - 1) * per_page)
    return AccountPage(search, rows, int(total))


def all_accounts(engine: Engine, search: AccountSearch) -> list[AccountRow]:
    """Every account matching ``search`` in its order (at most :data:`MAX_EXPORT`), for a
    download."""
    with Session(engine) as s:
        return _account_rows(s, search, MAX_EXPORT, 0)


@dataclass(frozen=True)
class AccountRecord:
    """One account for its page: what it is, its API tokens in use, its last sign-ins."""

    account: AccountRow
    tokens: int
    sign_ins: list[SignInRow]


def account_record(engine: Engine, account_id: int, *, recent: int = 10) -> AccountRecord:
    """The account with this id, with its live API tokens and ``recent`` last sign-ins; raises
    AccountNotFound."""
    with Session(engine) as s:
        rows = _account_rows(s, AccountSearch(), 1, 0, col(Account.id) == account_id)
        if not rows:
            raise AccountNotFound(account_id)
        tokens = s.exec(
            select(func.count())
            .select_from(ApiToken)
            .where(ApiToken.account_id == account_id, col(ApiToken.revoked_at).is_(None))
        ).one()
    history = search_sign_ins(engine, SignInSearch(username=rows[0].username, per_page=recent))
    return AccountRecord(rows[0], int(tokens), history.rows)


# --- sign-in history ---------------------------------------------------------------------------

SIGN_IN_SORTS: dict[str, Any] = {
    "at": col(LoginAttempt.at),
    "username": col(LoginAttempt.username),
    "address": col(LoginAttempt.address),
    "outcome": col(LoginAttempt.outcome),
}
"""What the sign-in history may be sorted by; ties broken by the newest first."""


@dataclass(frozen=True)
class SignInSearch:
    """Which sign-ins, in what order (newest first by default), which page."""

    username: str = ""
    """Exactly this username."""
    address: str = ""
    """Addresses starting with this."""
    outcome: SignInOutcome | None = None
    sort: str = "at"
    descending: bool = True
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class SignInRow:
    at: datetime
    username: str | None
    """None when the name typed belongs to no account: it is not shown (it may be a password)."""
    account_id: int | None
    address: str
    outcome: SignInOutcome


@dataclass(frozen=True)
class SignInPage:
    search: SignInSearch
    rows: list[SignInRow]
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.search.per_page))


def _sign_in_filter(search: SignInSearch) -> list[Any]:
    where: list[Any] = [col(LoginAttempt.outcome) != ""]
    if search.username:
        where.append(col(LoginAttempt.username) == search.username)
    if search.address:
        pattern = f"{_escaped(search.address)}%"
        where.append(col(LoginAttempt.address).like(pattern, escape="\\"))
    if search.outcome is not None:
        where.append(col(LoginAttempt.outcome) == search.outcome.value)
    return where


def _sign_in_rows(s: Session, search: SignInSearch, limit: int, offset: int) -> list[SignInRow]:
    if search.sort not in SIGN_IN_SORTS:
        raise ValueError(f"sort must be one of {', '.join(SIGN_IN_SORTS)}")
    key = SIGN_IN_SORTS[search.sort]
    order = [key.desc() if search.descending else key.asc()]
    if search.sort != "at":
        order.append(col(LoginAttempt.at).desc())
    order.append(col(LoginAttempt.id).desc())
    found = s.exec(
        select(LoginAttempt, Account.id)
        .outerjoin(Account, col(Account.username) == col(LoginAttempt.username))
        .where(*_sign_in_filter(search))
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        SignInRow(
            at=attempt.at,
            username=attempt.username if account_id is not None else None,
            account_id=account_id,
            address=attempt.address,
            outcome=SignInOutcome(attempt.outcome),
        )
        for attempt, account_id in found
    ]


def search_sign_ins(engine: Engine, search: SignInSearch) -> SignInPage:
    """One page of the accounts' sign-in attempts matching ``search``; raises ValueError for a
    sort not in :data:`SIGN_IN_SORTS`."""
    per_page = min(max(search.per_page, 1), MAX_PER_PAGE)
    page = max(search.page, 1)
    search = SignInSearch(**{**search.__dict__, "per_page": per_page, "page": page})
    with Session(engine) as s:
        total = s.exec(
            select(func.count()).select_from(LoginAttempt).where(*_sign_in_filter(search))
        ).one()
        rows = _sign_in_rows(s, search, per_page, (page - 1) * per_page)
    return SignInPage(search, rows, int(total))


def all_sign_ins(engine: Engine, search: SignInSearch) -> Iterator[SignInRow]:
    """The sign-ins matching ``search`` in its order (at most :data:`MAX_EXPORT`), for a
    download."""
    with Session(engine) as s:
        yield from _sign_in_rows(s, search, MAX_EXPORT, 0)
