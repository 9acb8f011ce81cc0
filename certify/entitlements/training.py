"""培训: a training institution's courses, enrolments, attendance and completion assessment.

A course belongs to one occupation and level and sets its hours and syllabus. Trainees are
enrolled from a file (name, ID number); attendance files add hours (ID number, hours); the
completion assessment file gives each trainee's score. A trainee completes the course when the
attended hours reach the course's hours and the score reaches its pass mark; completion is what
``certify training issue`` turns into a 培训合格证书 (signed and verified like a level certificate)
with a training-subsidy record and the course's continuing-education hours. Completed hours
also count toward the application conditions of the same occupation and level.

Every file is checked whole first (each bad row and field named), then written in one
transaction or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import ALL_INSTITUTIONS, transaction
from certify.infra.errors import CourseNotFound, Error
from certify.infra.rows import Columns, Row, Rows, number, read_rows
from certify.institutions.registry import InstitutionError, check_authorised
from certify.registration.identity import PERSON_NAME, IdentityVault, id_number_cell
from certify.registration.sittings import find_candidate, new_candidate
from schemas.enums import CertificateKind
from schemas.reference import find_level, find_occupation
from schemas.tables import Candidate, Course, Enrolment, utcnow

COLUMNS = {
    "name": ("name", "姓名"),
    "id_number": ("id_number", "身份证号", "身份证号码", "证件号码"),
    "hours": ("hours", "学时", "出勤学时"),
    "score": ("score", "成绩", "考核成绩"),
}


class TrainingError(Error):
    code = "training"


def create_course(
    engine: Engine,
    code: str,
    *,
    occupation: str,
    level: str,
    hours: int,
    institution: str,
    syllabus: list[str],
    pass_mark: float = 60.0,
    actor: str = "cli",
) -> Course:
    occ, found = find_occupation(occupation), find_level(level)
    if occ is None or found is None:
        raise TrainingError(
            f"未知的职业或等级 {occupation}/{level} / unknown occupation or level {occupation}/{level}"
        )
    level = found.value
    if not 1 <= hours <= 2000:
        raise TrainingError(f"学时应为 1–2000，现为 {hours} / hours must be 1-2000")
    if not 0 < pass_mark <= 100:
        raise TrainingError("合格线应在 0–100 之间 / the pass mark must be within 0-100")
    if not institution.strip():
        raise TrainingError("须注明培训机构 / the training institution is required")
    with transaction(engine) as session:
        # a course's code is the platform's (it is in the pages' URLs): taken is taken
        taken = session.exec(
            select(Course.id).where(Course.code == code).execution_options(**ALL_INSTITUTIONS)
        ).first()
        if taken is not None:
            raise TrainingError(f"课程 {code} 已存在 / course {code} exists already")
        try:
            inst = check_authorised(
                session,
                institution.strip(),
                CertificateKind.TRAINING,
                occ.slug,
                level,
                utcnow().date(),
            )
        except InstitutionError as exc:
            raise TrainingError(str(exc)) from None
        course = Course(
            code=code,
            occupation=occ.slug,
            level=level,
            hours=hours,
            syllabus=[s for s in (line.strip() for line in syllabus) if s],
            institution=inst.name,
            pass_mark=pass_mark,
        )
        session.add(course)
        session.flush()
        audit_log.append(
            session,
            actor=actor,
            action="course.create",
            subject=code,
            detail={"occupation": occ.slug, "level": level, "hours": hours},
        )
        return course


def get_course(session: Session, code: str) -> Course:
    """The course with this code; raises CourseNotFound."""
    course = session.exec(select(Course).where(Course.code == code)).first()
    if course is None:
        raise CourseNotFound(code)
    return course


def _trainees(
    path: Path, required: tuple[str, ...], *, repeats: bool = False
) -> tuple[Rows, list[tuple[Row, str]]]:
    """The file's rows with every problem found, and each row with a valid ID number beside
    that number; a trainee may appear on several rows only where ``repeats`` (attendance: one
    row per session)."""
    rows = read_rows(path, Columns(COLUMNS, required=required))
    found = []
    for row in rows:
        id_number = row.get("id_number", id_number_cell())
        if id_number is None:
            continue
        if not repeats:
            rows.unique(row, "id_number", id_number)
        found.append((row, id_number))
    return rows, found


def enrol(
    engine: Engine,
    code: str,
    path: Path,
    vault: IdentityVault,
    *,
    actor: str = "cli",
    file_name: str | None = None,
) -> int:
    """Enrol every trainee of the file (name, ID number); returns how many were enrolled.
    ``file_name`` is the file's name as the user knows it (an upload's), for the audit log."""
    rows, trainees = _trainees(path, ("name", "id_number"))
    names = [row.get("name", PERSON_NAME) or "" for row, _ in trainees]
    with transaction(engine) as session:
        course = get_course(session, code)
        enrolled = _Enrolled(session, course, vault)
        for row, id_number in trainees:
            if id_number in enrolled:
                row.bad("id_number", "enrolled", "已报名本课程", "already enrolled on this course")
        rows.refuse()
        for name, (_, id_number) in zip(names, trainees, strict=True):
            person = find_candidate(session, vault, id_number) or new_candidate(
                session, vault, name, id_number
            )
            assert course.id is not None and person.id is not None
            session.add(Enrolment(course_id=course.id, candidate_id=person.id))
        audit_log.append(
            session,
            actor=actor,
            action="course.enrol",
            subject=code,
            detail={"file": file_name or path.name, "enrolled": len(trainees)},
        )
    return len(trainees)


class _Enrolled:
    """Enrolments of a course, found by the trainee's ID number (through its keyed digest)."""

    def __init__(self, session: Session, course: Course, vault: IdentityVault) -> None:
        self.vault = vault
        self.by_digest = {
            digest: e
            for e, digest in session.exec(
                select(Enrolment, Candidate.id_number_digest)
                .join(Candidate, col(Candidate.id) == col(Enrolment.candidate_id))
                .where(Enrolment.course_id == course.id)
            )
        }

    def __contains__(self, id_number: str) -> bool:
        return self.vault.digest(id_number) in self.by_digest

    def __getitem__(self, id_number: str) -> Enrolment:
        return self.by_digest[self.vault.digest(id_number)]


def _per_trainee(
    session: Session,
    course: Course,
    path: Path,
    vault: IdentityVault,
    column: str,
    high: float,
    *,
    repeats: bool = False,
) -> list[tuple[Enrolment, float]]:
    """Each row's enrolment and its number in ``column`` (0 to ``high``); raises
    ValidationFailed naming every bad row (a bad number, someone not enrolled)."""
    rows, trainees = _trainees(path, ("id_number", column), repeats=repeats)
    parse = number(0, high, code=f"bad_{column}")
    enrolled = _Enrolled(session, course, vault)
    found: list[tuple[Enrolment, float]] = []
    for row, id_number in trainees:
        value = row.get(column, parse)
        if id_number not in enrolled:
            row.bad("id_number", "not_enrolled", "未报名本课程", "not enrolled on this course")
        elif value is not None:
            found.append((enrolled[id_number], value))
    rows.refuse()
    return found


def record_attendance(
    engine: Engine,
    code: str,
    path: Path,
    vault: IdentityVault,
    *,
    actor: str = "cli",
    file_name: str | None = None,
) -> int:
    """Add each row's hours (ID number, hours) to the trainee's attendance; returns rows read."""
    with transaction(engine) as session:
        course = get_course(session, code)
        additions = _per_trainee(session, course, path, vault, "hours", course.hours, repeats=True)
        for enrolment, hours in additions:
            enrolment.attended_hours = min(enrolment.attended_hours + hours, 10 * course.hours)
            session.add(enrolment)
        audit_log.append(
            session,
            actor=actor,
            action="course.attendance",
            subject=code,
            detail={"file": file_name or path.name, "rows": len(additions)},
        )
    return len(additions)


@dataclass(frozen=True)
class AssessReport:
    course: str
    completed: int
    not_completed: list[tuple[str, str]]
    """(masked ID number, reason) of each trainee assessed who did not complete."""


def assess(
    engine: Engine,
    code: str,
    path: Path,
    vault: IdentityVault,
    *,
    actor: str = "cli",
    file_name: str | None = None,
) -> AssessReport:
    """Record the completion assessment (ID number, score) and decide each completion."""
    with transaction(engine) as session:
        course = get_course(session, code)
        scored = _per_trainee(session, course, path, vault, "score", 100)
        completed = 0
        short: list[tuple[str, str]] = []
        for enrolment, score in scored:
            enrolment.score = score
            enrolment.assessed_at = utcnow()
            enough_hours = enrolment.attended_hours >= course.hours
            enrolment.completed = enough_hours and score >= course.pass_mark
            completed += enrolment.completed
            if not enrolment.completed:
                person = session.get(Candidate, enrolment.candidate_id)
                why = []
                if not enough_hours:
                    why.append(f"出勤 {enrolment.attended_hours:g}/{course.hours} 学时")
                if score < course.pass_mark:
                    why.append(f"成绩 {score:g} 低于 {course.pass_mark:g}")
                short.append((person.id_number_masked if person else "", "，".join(why)))
            session.add(enrolment)
        audit_log.append(
            session,
            actor=actor,
            action="course.assess",
            subject=code,
            detail={
                "file": file_name or path.name,
                "assessed": len(scored),
                "completed": completed,
            },
        )
    return AssessReport(code, completed, short)


def completed_enrolments(session: Session, course: Course) -> list[tuple[Enrolment, Candidate]]:
    return list(
        session.exec(
            select(Enrolment, Candidate)
            .join(Candidate, col(Candidate.id) == col(Enrolment.candidate_id))
            .where(Enrolment.course_id == course.id, col(Enrolment.completed).is_(True))
            .order_by(col(Enrolment.id))
        )
    )
