"""监督概览: what a supervisor (人社部门) reads of the institutions of its region — per
institution its sittings, candidates, results, certificates, incidents, open objections and
inspections; a sitting's rooms and incidents, results and publication; the audit log and its
checkpoints.

Every figure is counted by ordinary queries under the caller's scope
(:mod:`certify.institutions.scope`): a supervisor's counts are its region's, an institution's
its own, the platform's everyone's. Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, case, func, literal, not_, or_
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.errors import Error
from certify.institutions import scope
from certify.registration.sittings import get_sitting
from schemas.enums import CertificateStatus, ObjectionState
from schemas.tables import (
    Account,
    AuditCheckpoint,
    AuditEntry,
    Certificate,
    Course,
    ExamIncident,
    ExamRoom,
    ExamSession,
    InspectionRecord,
    Institution,
    Objection,
    Publication,
    Registration,
    Result,
    Sitting,
)


@dataclass
class InstitutionFigures:
    """One institution's figures."""

    code: str
    name: str
    region: str
    sittings: int = 0
    registered: int = 0
    graded: int = 0
    passed: int = 0
    certificates: int = 0
    withdrawn: int = 0
    """Certificates revoked or suspended."""
    incidents: int = 0
    open_objections: int = 0
    open_inspections: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


def region_overview(engine: Engine) -> list[InstitutionFigures]:
    """Every institution in scope with its figures, by region then code."""
    with Session(engine) as session:
        rows = {
            i.name: InstitutionFigures(i.code, i.name, i.region)
            for i in session.exec(select(Institution))
        }
        by_code = {f.code: f for f in rows.values()}
        for name, n in session.exec(
            select(Sitting.institution, func.count(col(Sitting.id))).group_by(
                col(Sitting.institution)
            )
        ):
            rows[name].sittings = n
        for name, registered, graded, passed in session.exec(
            select(
                Sitting.institution,
                func.count(col(Registration.id)),
                func.count(col(Result.id)),
                func.coalesce(func.sum(case((col(Result.passed), 1), else_=0)), 0),
            )
            .join(Registration, col(Registration.sitting_id) == col(Sitting.id))
            .outerjoin(Result, col(Result.registration_id) == col(Registration.id))
            .group_by(col(Sitting.institution))
        ):
            figures = rows[name]
            figures.registered, figures.graded, figures.passed = registered, graded, int(passed)
        for code, issued, withdrawn in session.exec(
            select(
                Certificate.issuer,
                func.count(col(Certificate.id)),
                func.coalesce(
                    func.sum(
                        case((col(Certificate.status) != CertificateStatus.VALID, 1), else_=0)
                    ),
                    0,
                ),
            ).group_by(col(Certificate.issuer))
        ):
            if code in by_code:
                by_code[code].certificates, by_code[code].withdrawn = issued, int(withdrawn)
        for name, n in session.exec(
            select(Sitting.institution, func.count(col(ExamIncident.id)))
            .join(ExamRoom, col(ExamRoom.id) == col(ExamIncident.room_id))
            .join(ExamSession, col(ExamSession.id) == col(ExamRoom.session_id))
            .join(Sitting, col(Sitting.id) == col(ExamSession.sitting_id))
            .group_by(col(Sitting.institution))
        ):
            rows[name].incidents = n
        for name, n in session.exec(
            select(Sitting.institution, func.count(col(Objection.id)))
            .join(Publication, col(Publication.id) == col(Objection.publication_id))
            .join(Sitting, col(Sitting.id) == col(Publication.sitting_id))
            .where(col(Objection.status) == ObjectionState.OPEN)
            .group_by(col(Sitting.institution))
        ):
            rows[name].open_objections = n
        for code, n in session.exec(
            select(InspectionRecord.institution, func.count(col(InspectionRecord.id)))
            .where(col(InspectionRecord.status) != "closed")
            .group_by(col(InspectionRecord.institution))
        ):
            if code in by_code:
                by_code[code].open_inspections = n
    return sorted(rows.values(), key=lambda f: (f.region, f.code))


@dataclass(frozen=True)
class Bar:
    """One bar of the overview's chart, laid out for an inline SVG (no script, no CDN)."""

    label: str
    value: float
    text: str
    y: int
    width: float


def pass_rate_bars(figures: list[InstitutionFigures], *, width: float = 360) -> list[Bar]:
    """The pass rate of each institution with graded candidates, as bars 0–100 %."""
    graded = [f for f in figures if f.pass_rate is not None]
    return [
        Bar(
            f"{f.code} {f.name}",
            f.pass_rate or 0.0,
            f"{(f.pass_rate or 0.0) * 100:.1f}% ({f.passed}/{f.graded})",
            i * 28,
            round((f.pass_rate or 0.0) * width, 1),
        )
        for i, f in enumerate(graded)
    ]


@dataclass
class RoomReport:
    code: str
    name: str
    session: str
    starts_at: datetime
    invigilator: str
    incidents: list[ExamIncident] = field(default_factory=list)


@dataclass
class SittingReport:
    """A sitting as a supervisor reads it."""

    code: str
    institution: str
    occupation: str
    level: str
    starts_at: datetime | None
    status: str
    registered: int
    graded: int
    passed: int
    mean_total: float | None
    rooms: list[RoomReport]
    publication: Publication | None
    objections: list[Objection]


def sitting_report(engine: Engine, code: str) -> SittingReport:
    """The sitting's figures, rooms with their incidents, publication and objections; raises
    SittingNotFound for a sitting out of scope as for one that does not exist."""
    with Session(engine) as session:
        sitting = get_sitting(session, code)
        registered, graded, passed, mean = session.exec(
            select(
                func.count(col(Registration.id)),
                func.count(col(Result.id)),
                func.coalesce(func.sum(case((col(Result.passed), 1), else_=0)), 0),
                func.avg(col(Result.total)),
            )
            .select_from(Registration)
            .outerjoin(Result, col(Result.registration_id) == col(Registration.id))
            .where(col(Registration.sitting_id) == sitting.id)
        ).one()
        rooms: dict[int, RoomReport] = {}
        for room, exam in session.exec(
            select(ExamRoom, ExamSession)
            .join(ExamSession, col(ExamSession.id) == col(ExamRoom.session_id))
            .where(col(ExamSession.sitting_id) == sitting.id)
            .order_by(col(ExamSession.starts_at), col(ExamRoom.code))
        ):
            assert room.id is not None
            rooms[room.id] = RoomReport(
                room.code, room.name, exam.code, exam.starts_at, room.invigilator or ""
            )
        grouped: dict[int, list[ExamIncident]] = defaultdict(list)
        if rooms:
            for incident in session.exec(
                select(ExamIncident)
                .where(col(ExamIncident.room_id).in_(list(rooms)))
                .order_by(col(ExamIncident.at))
            ):
                grouped[incident.room_id].append(incident)
        for room_id, report in rooms.items():
            report.incidents = grouped[room_id]
        publication = session.exec(
            select(Publication)
            .where(Publication.sitting_id == sitting.id)
            .order_by(col(Publication.id).desc())
        ).first()
        objections = (
            list(
                session.exec(
                    select(Objection)
                    .where(Objection.publication_id == publication.id)
                    .order_by(col(Objection.id))
                )
            )
            if publication is not None
            else []
        )
        return SittingReport(
            sitting.code,
            sitting.institution,
            sitting.occupation,
            sitting.level,
            sitting.starts_at,
            sitting.status,
            registered,
            graded,
            int(passed),
            float(mean) if mean is not None else None,
            list(rooms.values()),
            publication,
            objections,
        )


NOT_ABOUT_SITTINGS = ("course.", "account.", "token.", "job.", "key.", "institution.", "bank.")
"""Actions whose subject is never a sitting's code (a course's, an account's, a job's number…):
a subject that happens to read like one of the region's sitting codes is not the region's."""


def region_entries(reader: str) -> Any:
    """Which audit entries a supervisor reads, under its scope: those written by the accounts of
    its region's institutions (in the browser or through the API), its own, and those about its
    region's institutions, sittings, courses, inspection records and the plans that drew them (a
    platform step at the command line names them as its subject), each kind of subject with
    the actions about it. The selects below are the scope's own, so each finds its region's
    rows only."""
    held = scope.current()
    assert held is not None
    accounts = select(literal("web:") + col(Account.username)).union_all(
        select(literal("api:") + col(Account.username))
    )
    records = select(col(InspectionRecord.plan) + literal("/") + col(InspectionRecord.target))
    about_sittings = and_(
        col(AuditEntry.subject).in_(select(Sitting.code)),
        *(not_(col(AuditEntry.action).startswith(p)) for p in NOT_ABOUT_SITTINGS),
    )
    about_courses = and_(
        col(AuditEntry.subject).in_(select(Course.code)),
        col(AuditEntry.action).startswith("course."),
    )
    return or_(
        col(AuditEntry.actor).in_(accounts),
        col(AuditEntry.actor) == f"web:{reader}",
        about_sittings,
        about_courses,
        col(AuditEntry.subject).in_(records),
        col(AuditEntry.subject).in_(select(InspectionRecord.plan)),  # a plan drawing any of them
        col(AuditEntry.subject).in_(sorted(held.names | held.codes)),
    )


class NotForInstitutions(Error):
    """The platform's audit log holds every institution's entries: an institution's account
    does not read it."""

    code = "not_for_institutions"

    def __init__(self) -> None:
        super().__init__(
            "审计日志含各机构的记录，由监督部门和平台查阅 / the audit log holds every "
            "institution's entries: supervisors and the platform read it"
        )


@dataclass(frozen=True)
class AuditView:
    """A page of the audit log, newest first, with the chain's state and the checkpoints."""

    entries: list[AuditEntry]
    total: int
    page: int
    pages: int
    chain_ok: bool
    chain_problem: str
    checkpoints: list[AuditCheckpoint]


def audit_view(
    engine: Engine,
    *,
    page: int = 1,
    per_page: int = 50,
    action: str = "",
    reader: str = "",
) -> AuditView:
    """The audit log, newest first, optionally of actions starting with ``action``; the chain
    (the platform's one) checked whole. The platform reads every entry; a supervisor the
    entries of its region (:func:`region_entries`) and its own (``reader``: its username).
    Raises NotForInstitutions under an institution's own scope."""
    held = scope.current()
    if held is not None and not held.read_only:
        raise NotForInstitutions()
    with Session(engine) as session:
        query = select(AuditEntry)
        counted = select(func.count()).select_from(AuditEntry)
        if held is not None:
            mine = region_entries(reader)
            query, counted = query.where(mine), counted.where(mine)
        if action:
            query = query.where(col(AuditEntry.action).startswith(action, autoescape=True))
            counted = counted.where(col(AuditEntry.action).startswith(action, autoescape=True))
        total = session.exec(counted).one()
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        entries = list(
            session.exec(
                query.order_by(col(AuditEntry.id).desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        )
        report = audit_log.verify_chain(session)
        checkpoints = list(
            session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.id).desc()).limit(20))
        )
    problem = "" if report.ok else f"#{report.broken_at}: {report.reason}"
    return AuditView(entries, total, page, pages, report.ok, problem, checkpoints)
