"""How far each sitting has come, from registration to certificates: what the institution's
overview and a sitting's page show (names masked), read in a few queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Engine, case
from sqlmodel import Session, col, func, select

from certify.registration.sittings import get_sitting
from schemas.tables import Certificate, Publication, Registration, Result, Sitting


class SittingProgress(NamedTuple):
    """One sitting on the overview: registered, graded, passed, its notice, certificates."""

    sitting: Sitting
    registered: int
    graded: int
    passed: int
    publication: Publication | None
    issued: int


@dataclass(frozen=True)
class SittingRecord:
    """One sitting on its own page: how many results and passes, its notice and how many
    certificates (the rows themselves are listed a page at a time elsewhere)."""

    sitting: Sitting
    graded: int
    passed: int
    publication: Publication | None
    issued: int


def _by_sitting(session: Session, statement: object) -> dict[int, tuple[int, ...]]:
    return {int(row[0]): tuple(int(v or 0) for v in row[1:]) for row in session.exec(statement)}  # type: ignore[call-overload]


def sitting_overview(engine: Engine) -> list[SittingProgress]:
    """Every sitting, by code, with its counts (one query per count, not per sitting)."""
    with Session(engine, expire_on_commit=False) as session:
        sittings = list(session.exec(select(Sitting).order_by(col(Sitting.code))))
        registered = _by_sitting(
            session,
            select(Registration.sitting_id, func.count()).group_by(col(Registration.sitting_id)),
        )
        results = _by_sitting(
            session,
            select(
                Registration.sitting_id,
                func.count(col(Result.registration_id)),
                func.sum(case((col(Result.passed), 1), else_=0)),
            )
            .join(Registration, col(Registration.id) == col(Result.registration_id))
            .group_by(col(Registration.sitting_id)),
        )
        issued = _by_sitting(
            session,
            select(Registration.sitting_id, func.count())
            .select_from(Certificate)
            .join(Registration, col(Registration.id) == col(Certificate.registration_id))
            .group_by(col(Registration.sitting_id)),
        )
        notices = {p.sitting_id: p for p in session.exec(select(Publication))}
    return [
        SittingProgress(
            s,
            registered.get(s.id or 0, (0,))[0],
            results.get(s.id or 0, (0, 0))[0],
            results.get(s.id or 0, (0, 0))[1],
            notices.get(s.id or 0),
            issued.get(s.id or 0, (0,))[0],
        )
        for s in sittings
    ]


def sitting_record(engine: Engine, code: str) -> SittingRecord:
    """The sitting with this code and its counts, in a few queries; raises SittingNotFound."""
    with Session(engine, expire_on_commit=False) as session:
        sitting = get_sitting(session, code)
        graded, passed = session.exec(
            select(
                func.count(col(Result.registration_id)),
                func.sum(case((col(Result.passed), 1), else_=0)),
            )
            .join(Registration, col(Registration.id) == col(Result.registration_id))
            .where(Registration.sitting_id == sitting.id)
        ).one()
        publication = session.exec(
            select(Publication).where(Publication.sitting_id == sitting.id)
        ).first()
        issued = session.exec(
            select(func.count())
            .select_from(Certificate)
            .join(Registration, col(Registration.id) == col(Certificate.registration_id))
            .where(Registration.sitting_id == sitting.id)
        ).one()
    return SittingRecord(sitting, int(graded or 0), int(passed or 0), publication, int(issued))


def sitting_certificate_rows(engine: Engine, code: str) -> list[tuple[Certificate, str]]:
    """Every certificate of the sitting, by serial, with its holder's admission number (for
    the demonstration, which reads a token and a holder); raises SittingNotFound."""
    with Session(engine, expire_on_commit=False) as session:
        sitting = get_sitting(session, code)
        return [
            (cert, admission_no)
            for cert, admission_no in session.exec(
                select(Certificate, Registration.admission_no)
                .join(Registration, col(Registration.id) == col(Certificate.registration_id))
                .where(Registration.sitting_id == sitting.id)
                .order_by(col(Certificate.serial))
            )
        ]
