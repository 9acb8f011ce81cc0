"""A committee's bulk checks as kept for it: the results of each uploaded file, readable again
(and downloadable) by the account that made it, and by no other."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from schemas.tables import CommitteeCheck


class CheckNotFound(LookupError):
    """No such check of this account (another account's checks are as absent as unknown ones)."""


def save_check(
    engine: Engine, account_id: int, file_name: str, results: list[dict[str, Any]]
) -> int:
    """Keep the results of one checked file; returns the check's id."""
    with Session(engine) as session:
        row = CommitteeCheck(account_id=account_id, file_name=file_name, rows=results)
        session.add(row)
        session.commit()
        session.refresh(row)
        assert row.id is not None
        return row.id


def recent_checks(engine: Engine, account_id: int, limit: int = 20) -> list[CommitteeCheck]:
    """The account's latest checks, newest first."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(CommitteeCheck)
                .where(CommitteeCheck.account_id == account_id)
                .order_by(col(CommitteeCheck.id).desc())
                .limit(limit)
            )
        )


def owned_check(engine: Engine, account_id: int, check_id: int) -> CommitteeCheck:
    """The check, if this account made it; raises CheckNotFound otherwise."""
    with Session(engine) as session:
        row = session.get(CommitteeCheck, check_id)
    if row is None or row.account_id != account_id:
        raise CheckNotFound(check_id)
    return row
