"""Reading training courses and their trainees a page at a time (the database sorts, counts and
cuts the page), and finding a course's training certificate: for the admin's training pages and
``certify training list``. Writing — courses, enrolment, attendance, assessment — is
:mod:`certify.entitlements.training`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.entitlements.training import get_course
from certify.infra.errors import CertificateNotFound
from schemas.enums import CertificateStatus
from schemas.tables import Candidate, Certificate, Course, Enrolment

MAX_PER_PAGE = 200
MAX_EXPORT = 100_000


@dataclass(frozen=True)
class CourseRow:
    """One course with how many are enrolled, completed it and hold its certificate."""

    code: str
    occupation: str
    level: str
    hours: int
    institution: str
    pass_mark: float
    syllabus: list[str]
    created_at: datetime
    enrolled: int
    completed: int
    certified: int


@dataclass(frozen=True)
class CoursePage:
    rows: list[CourseRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _count(*where: Any) -> Any:
    return (
        select(func.count())
        .select_from(Enrolment)
        .where(col(Enrolment.course_id) == col(Course.id), *where)
        .correlate(Course)
        .scalar_subquery()
    )


def _certified() -> Any:
    return (
        select(func.count())
        .select_from(Certificate)
        .join(Enrolment, col(Enrolment.id) == col(Certificate.enrolment_id))
        .where(col(Enrolment.course_id) == col(Course.id))
        .correlate(Course)
        .scalar_subquery()
    )


def _course_rows(s: Session, limit: int, offset: int, *where: Any) -> list[CourseRow]:
    found = s.exec(
        select(Course, _count(), _count(col(Enrolment.completed).is_(True)), _certified())
        .where(*where)
        .order_by(col(Course.created_at).desc(), col(Course.code))
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        CourseRow(
            code=c.code,
            occupation=c.occupation,
            level=c.level,
            hours=c.hours,
            institution=c.institution,
            pass_mark=c.pass_mark,
            syllabus=list(c.syllabus),
            created_at=c.created_at,
            enrolled=int(enrolled),
            completed=int(completed),
            certified=int(certified),
        )
        for c, enrolled, completed, certified in found
    ]


def list_courses(engine: Engine, *, page: int = 1, per_page: int = 50) -> CoursePage:
    """One page of the courses, newest first, with their counts."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    page = max(page, 1)
    with Session(engine) as s:
        total = s.exec(select(func.count()).select_from(Course)).one()
        rows = _course_rows(s, per_page, (page - 1) * per_page)
    return CoursePage(rows, int(total), page, per_page)


def course_row(engine: Engine, code: str) -> CourseRow:
    """The course with its counts; raises CourseNotFound."""
    with Session(engine) as s:
        course = get_course(s, code)
        return _course_rows(s, 1, 0, col(Course.id) == course.id)[0]


@dataclass(frozen=True)
class TraineeRow:
    """One trainee of a course: the name, the ID number masked, hours, score, completion and
    the training certificate if issued."""

    name: str
    id_number_masked: str
    attended_hours: float
    score: float | None
    completed: bool
    assessed_at: datetime | None
    serial: str | None
    status: CertificateStatus | None


TRAINEE_SORTS: dict[str, Any] = {
    "enrolled": col(Enrolment.id),
    "name": col(Candidate.name),
    "hours": col(Enrolment.attended_hours),
    "score": col(Enrolment.score),
    "completed": col(Enrolment.completed),
    "serial": col(Certificate.serial),
}
"""What a course's trainees may be sorted by; ties broken by enrolment order."""


@dataclass(frozen=True)
class TraineePage:
    course: CourseRow
    rows: list[TraineeRow]
    total: int
    sort: str
    descending: bool
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _trainee_rows(
    s: Session, course: Course, sort: str, descending: bool, limit: int, offset: int
) -> list[TraineeRow]:
    if sort not in TRAINEE_SORTS:
        raise ValueError(f"sort must be one of {', '.join(TRAINEE_SORTS)}")
    key = TRAINEE_SORTS[sort]
    found = s.exec(
        select(Enrolment, Candidate, Certificate)
        .join(Candidate, col(Candidate.id) == col(Enrolment.candidate_id))
        .outerjoin(Certificate, col(Certificate.enrolment_id) == col(Enrolment.id))
        .where(Enrolment.course_id == course.id)
        .order_by(key.desc() if descending else key.asc(), col(Enrolment.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        TraineeRow(
            name=person.name,
            id_number_masked=person.id_number_masked,
            attended_hours=e.attended_hours,
            score=e.score,
            completed=e.completed,
            assessed_at=e.assessed_at,
            serial=cert.serial if cert else None,
            status=cert.status if cert else None,
        )
        for e, person, cert in found
    ]


def course_trainees(
    engine: Engine,
    code: str,
    *,
    sort: str = "enrolled",
    descending: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> TraineePage:
    """One page of the course's trainees; raises CourseNotFound, ValueError for a sort not in
    :data:`TRAINEE_SORTS`."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    page = max(page, 1)
    row = course_row(engine, code)
    with Session(engine) as s:
        course = get_course(s, code)
        rows = _trainee_rows(s, course, sort, descending, per_page, (page - 1) * per_page)
    return TraineePage(row, rows, row.enrolled, sort, descending, page, per_page)


def all_trainees(engine: Engine, code: str) -> list[TraineeRow]:
    """Every trainee of the course in enrolment order (at most :data:`MAX_EXPORT`)."""
    with Session(engine) as s:
        course = get_course(s, code)
        return _trainee_rows(s, course, "enrolled", False, MAX_EXPORT, 0)


def course_certificate(engine: Engine, code: str, serial: str) -> Certificate:
    """The training certificate ``serial`` issued on the course; raises CourseNotFound, or
    CertificateNotFound for a serial that is not one of this course's."""
    with Session(engine) as s:
        course = get_course(s, code)
        found = s.exec(
            select(Certificate)
            .join(Enrolment, col(Enrolment.id) == col(Certificate.enrolment_id))
            .where(Certificate.serial == serial, Enrolment.course_id == course.id)
        ).first()
    if found is None:
        raise CertificateNotFound(serial)
    return found
