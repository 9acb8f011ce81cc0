"""How far each sitting has come, from registration to certificates: what the institution's
overview and a sitting's page show (names masked), read in a few queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Engine, case
from sqlmodel import Session, col, func, select

from certify.registration.identity import mask_name
from certify.registration.sittings import get_sitting
from schemas.tables import Candidate, Certificate, Publication, Registration, Result, Sitting


class SittingProgress(NamedTuple):
    """One sitting on the overview: registered, graded, passed, its notice, certificates."""

    sitting: Sitting
    registered: int
    graded: int
    passed: int
    publication: Publication | None
    issued: int


class ResultLine(NamedTuple):
    admission_no: str
    name: str
    """Masked (李*, 张*丰)."""
    result: Result


@dataclass(frozen=True)
class SittingRecord:
    """One sitting in full: its results (names masked), its notice and its certificates."""

    sitting: Sitting
    results: list[ResultLine]
    publication: Publication | None
    certificates: list[tuple[Certificate, str]]
    """Each certificate with its holder's admission number."""


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
    """The sitting with this code in full; raises SittingNotFound."""
    with Session(engine, expire_on_commit=False) as session:
        sitting = get_sitting(session, code)
        results = [
            ResultLine(reg.admission_no, mask_name(name), result)
            for reg, name, result in session.exec(
                select(Registration, Candidate.name, Result)
                .join(Result, col(Result.registration_id) == col(Registration.id))
                .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
                .where(Registration.sitting_id == sitting.id)
                .order_by(col(Registration.admission_no))
            )
        ]
        publication = session.exec(
            select(Publication).where(Publication.sitting_id == sitting.id)
        ).first()
        certificates = [
            (cert, admission_no)
            for cert, admission_no in session.exec(
                select(Certificate, Registration.admission_no)
                .join(Registration, col(Registration.id) == col(Certificate.registration_id))
                .where(Registration.sitting_id == sitting.id)
                .order_by(col(Certificate.serial))
            )
        ]
    return SittingRecord(sitting, results, publication, certificates)
