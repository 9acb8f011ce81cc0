"""A sitting's people a page at a time: its roster (考生名册) and its applications (申报) with
each decision and its reasons, names and ID numbers masked, sorted and paged by the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.registration.identity import mask_name
from certify.registration.sittings import get_sitting
from schemas.enums import ApplicationDecision
from schemas.tables import Application, Candidate, Paper, Registration, Response, Result

MAX_PER_PAGE = 500
T = TypeVar("T")


@dataclass(frozen=True)
class ListSearch:
    """One page of a sitting's list: the sort (a key of the list's sorts), its direction, the
    page (from 1) and its size; ``decision`` filters applications (None: every one)."""

    sort: str = "admission_no"
    descending: bool = False
    page: int = 1
    per_page: int = 50
    decision: ApplicationDecision | None = None


@dataclass(frozen=True)
class RosterLine:
    """One registered candidate (name and ID number masked)."""

    admission_no: str
    name: str
    id_number: str
    form: str
    paper: str
    has_sheet: bool
    passed: bool | None
    """None while the candidate has no result."""


@dataclass(frozen=True)
class ApplicationLine:
    """One application with its decision; ``reasons`` are the routes that failed, each with
    what is missing in Chinese and English."""

    id: int
    row: int
    name: str
    id_number: str
    decision: ApplicationDecision
    route: str
    reasons: list[dict[str, Any]]
    override_by: str
    override_reason: str
    admission_no: str
    form: str


@dataclass(frozen=True)
class ListPage(Generic[T]):
    search: ListSearch
    rows: list[T]
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.search.per_page))


ROSTER_SORTS: dict[str, Callable[[], Any]] = {
    "admission_no": lambda: col(Registration.admission_no),
    "form": lambda: col(Paper.form),
    "registered": lambda: col(Registration.id),
}
"""What the roster may be sorted by; ties broken by admission number."""
APPLICATION_SORTS: dict[str, Callable[[], Any]] = {
    "row": lambda: col(Application.row),
    "decision": lambda: col(Application.decision),
    "decided": lambda: col(Application.decided_at),
}
"""What the applications may be sorted by; ties broken by the row of the file."""


def _order(sorts: dict[str, Callable[[], Any]], search: ListSearch, tie: Any) -> list[Any]:
    if search.sort not in sorts:
        raise ValueError(f"sort must be one of {', '.join(sorts)}")
    key = sorts[search.sort]()
    return [key.desc() if search.descending else key.asc(), tie.asc()]


def _window(search: ListSearch) -> tuple[int, int]:
    size = max(1, min(search.per_page, MAX_PER_PAGE))
    return size, (max(search.page, 1) - 1) * size


def roster_page(engine: Engine, sitting_code: str, search: ListSearch) -> ListPage[RosterLine]:
    """One page of the sitting's registered candidates; raises SittingNotFound, ValueError for
    a sort not in :data:`ROSTER_SORTS`."""
    limit, offset = _window(search)
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        total = session.exec(
            select(func.count()).where(Registration.sitting_id == sitting.id)
        ).one()
        rows = _roster(session, sitting.id or 0, search, limit, offset)
    return ListPage(search, rows, int(total))


def all_roster(engine: Engine, sitting_code: str, search: ListSearch) -> list[RosterLine]:
    """Every registered candidate of the sitting in the order of ``search`` (for a download)."""
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        return _roster(session, sitting.id or 0, search, None, 0)


def _roster(
    session: Session, sitting_id: int, search: ListSearch, limit: int | None, offset: int
) -> list[RosterLine]:
    order = _order(ROSTER_SORTS, search, col(Registration.admission_no))
    query = (
        select(Registration, Candidate, Paper, Result)
        .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
        .join(Paper, col(Paper.id) == col(Registration.paper_id))
        .outerjoin(Result, col(Result.registration_id) == col(Registration.id))
        .where(Registration.sitting_id == sitting_id)
        .order_by(*order)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    found = session.exec(query).all()
    answered = set(
        session.exec(
            select(Response.registration_id)
            .join(Registration, col(Registration.id) == col(Response.registration_id))
            .where(Registration.sitting_id == sitting_id)
            .distinct()
        )
    )
    return [
        RosterLine(
            reg.admission_no,
            mask_name(person.name),
            person.id_number_masked,
            paper.form,
            paper.code,
            reg.id in answered,
            result.passed if result is not None else None,
        )
        for reg, person, paper, result in found
    ]


def application_page(
    engine: Engine, sitting_code: str, search: ListSearch
) -> ListPage[ApplicationLine]:
    """One page of the sitting's applications (only ``search.decision``'s, when set); raises
    SittingNotFound, ValueError for a sort not in :data:`APPLICATION_SORTS`."""
    limit, offset = _window(search)
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        where = _application_filter(sitting.id or 0, search)
        total = session.exec(select(func.count()).select_from(Application).where(*where)).one()
        rows = _applications(session, where, search, limit, offset)
    return ListPage(search, rows, int(total))


def all_applications(
    engine: Engine, sitting_code: str, search: ListSearch
) -> list[ApplicationLine]:
    """Every application of ``search`` in its order (for a download)."""
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        where = _application_filter(sitting.id or 0, search)
        return _applications(session, where, search, None, 0)


def _application_filter(sitting_id: int, search: ListSearch) -> list[Any]:
    where: list[Any] = [col(Application.sitting_id) == sitting_id]
    if search.decision is not None:
        where.append(col(Application.decision) == search.decision)
    return where


def _applications(
    session: Session, where: list[Any], search: ListSearch, limit: int | None, offset: int
) -> list[ApplicationLine]:
    query = (
        select(Application, Candidate, Registration.admission_no)
        .join(Candidate, col(Candidate.id) == col(Application.candidate_id))
        .outerjoin(Registration, col(Registration.id) == col(Application.registration_id))
        .where(*where)
        .order_by(*_order(APPLICATION_SORTS, search, col(Application.row)))
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        ApplicationLine(
            a.id or 0,
            a.row,
            mask_name(person.name),
            person.id_number_masked,
            ApplicationDecision(a.decision),
            a.route,
            list(a.reasons),
            a.override_by,
            a.override_reason,
            admission or "",
            str(a.facts.get("form") or ""),
        )
        for a, person, admission in session.exec(query)
    ]


@dataclass(frozen=True)
class ResultLine:
    """One stored result (name masked)."""

    admission_no: str
    name: str
    form: str
    parts: dict[str, float]
    total: float
    passed: bool


RESULT_SORTS: dict[str, Callable[[], Any]] = {
    "admission_no": lambda: col(Registration.admission_no),
    "form": lambda: col(Paper.form),
    "total": lambda: col(Result.total),
    "passed": lambda: col(Result.passed),
}
"""What the results may be sorted by; ties broken by admission number."""


def result_page(engine: Engine, sitting_code: str, search: ListSearch) -> ListPage[ResultLine]:
    """One page of the sitting's stored results; raises SittingNotFound, ValueError for a sort
    not in :data:`RESULT_SORTS`."""
    limit, offset = _window(search)
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        total = session.exec(
            select(func.count())
            .select_from(Result)
            .join(Registration, col(Registration.id) == col(Result.registration_id))
            .where(Registration.sitting_id == sitting.id)
        ).one()
        rows = _results(session, sitting.id or 0, search, limit, offset)
    return ListPage(search, rows, int(total))


def all_results(engine: Engine, sitting_code: str, search: ListSearch) -> list[ResultLine]:
    """Every stored result of the sitting in the order of ``search`` (for a download)."""
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        return _results(session, sitting.id or 0, search, None, 0)


def _results(
    session: Session, sitting_id: int, search: ListSearch, limit: int | None, offset: int
) -> list[ResultLine]:
    query = (
        select(Registration, Candidate, Paper, Result)
        .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
        .join(Paper, col(Paper.id) == col(Registration.paper_id))
        .join(Result, col(Result.registration_id) == col(Registration.id))
        .where(Registration.sitting_id == sitting_id)
        .order_by(*_order(RESULT_SORTS, search, col(Registration.admission_no)))
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        ResultLine(
            reg.admission_no,
            mask_name(person.name),
            paper.form,
            dict(result.part_scores),
            result.total,
            result.passed,
        )
        for reg, person, paper, result in session.exec(query)
    ]
