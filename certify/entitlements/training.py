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
from certify.infra.db import transaction
from certify.infra.errors import Error, Problem, ValidationFailed
from certify.infra.tabular import map_header, read_grid, records
from certify.registration.identity import IdentityVault, IdNumberError, validate_id_number
from certify.registration.sittings import find_candidate, new_candidate
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
        if session.exec(select(Course).where(Course.code == code)).first():
            raise TrainingError(f"课程 {code} 已存在 / course {code} exists already")
        course = Course(
            code=code,
            occupation=occ.slug,
            level=level,
            hours=hours,
            syllabus=[s for s in (line.strip() for line in syllabus) if s],
            institution=institution.strip(),
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


def _course(session: Session, code: str) -> Course:
    course = session.exec(select(Course).where(Course.code == code)).first()
    if course is None:
        raise TrainingError(f"没有课程 {code} / no course {code}")
    return course


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    grid = read_grid(path)

    def canonical(header: str) -> str | None:
        wanted = header.strip().lower()
        return next((c for c, names in COLUMNS.items() if wanted in names), None)

    return records(grid, map_header(path, grid.header, canonical, required))


@dataclass(frozen=True)
class _Row:
    row: int
    id_number: str
    values: dict[str, str]


def _checked(
    path: Path, required: tuple[str, ...], *, repeats: bool = False
) -> tuple[list[_Row], list[Problem]]:
    """The file's rows with valid ID numbers, and the problems; a trainee may appear on several
    rows only where ``repeats`` (attendance: one row per session)."""
    rows: list[_Row] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, values in _rows(path, required):
        try:
            id_number = validate_id_number(values.get("id_number", ""))
        except IdNumberError as exc:
            problems.append(
                Problem(
                    str(path), number, "id_number", "bad_id_number", exc.message_zh, exc.message_en
                )
            )
            continue
        if id_number in seen and not repeats:
            problems.append(
                Problem(
                    str(path),
                    number,
                    "id_number",
                    "duplicate",
                    f"与第 {seen[id_number]} 行重复",
                    f"repeats row {seen[id_number]}",
                )
            )
        seen.setdefault(id_number, number)
        rows.append(_Row(number, id_number, values))
    return rows, problems


def enrol(
    engine: Engine, code: str, path: Path, vault: IdentityVault, *, actor: str = "cli"
) -> int:
    """Enrol every trainee of the file (name, ID number); returns how many were enrolled."""
    rows, problems = _checked(path, ("name", "id_number"))
    for r in rows:
        if not r.values.get("name") or len(r.values["name"]) > 64:
            problems.append(
                Problem(
                    str(path),
                    r.row,
                    "name",
                    "bad_name",
                    "姓名不能为空且不超过 64 字",
                    "name: 1-64 characters",
                )
            )
    with transaction(engine) as session:
        course = _course(session, code)
        enrolled = _Enrolled(session, course, vault)
        for r in rows:
            if r.id_number in enrolled:
                problems.append(
                    Problem(
                        str(path),
                        r.row,
                        "id_number",
                        "enrolled",
                        "已报名本课程",
                        "already enrolled on this course",
                    )
                )
        if problems:
            raise ValidationFailed(sorted(problems, key=lambda p: p.row or 0), total_rows=len(rows))
        for r in rows:
            person = find_candidate(session, vault, r.id_number) or new_candidate(
                session, vault, r.values["name"], r.id_number
            )
            assert course.id is not None and person.id is not None
            session.add(Enrolment(course_id=course.id, candidate_id=person.id))
        audit_log.append(
            session,
            actor=actor,
            action="course.enrol",
            subject=code,
            detail={"file": path.name, "enrolled": len(rows)},
        )
    return len(rows)


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


def _number(
    path: Path, r: _Row, column: str, low: float, high: float, problems: list[Problem]
) -> float:
    text = r.values.get(column, "")
    try:
        value = float(text)
        if not low <= value <= high:
            raise ValueError(text)
        return value
    except ValueError:
        problems.append(
            Problem(
                str(path),
                r.row,
                column,
                f"bad_{column}",
                f"“{text}”应为 {low:g}–{high:g} 的数",
                f"'{text}' must be a number from {low:g} to {high:g}",
            )
        )
        return 0.0


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
    rows, problems = _checked(path, ("id_number", column), repeats=repeats)
    enrolled = _Enrolled(session, course, vault)
    found: list[tuple[Enrolment, float]] = []
    for r in rows:
        value = _number(path, r, column, 0, high, problems)
        if r.id_number not in enrolled:
            problems.append(
                Problem(
                    str(path),
                    r.row,
                    "id_number",
                    "not_enrolled",
                    "未报名本课程",
                    "not enrolled on this course",
                )
            )
            continue
        found.append((enrolled[r.id_number], value))
    if problems:
        raise ValidationFailed(sorted(problems, key=lambda p: p.row or 0), total_rows=len(rows))
    return found


def record_attendance(
    engine: Engine, code: str, path: Path, vault: IdentityVault, *, actor: str = "cli"
) -> int:
    """Add each row's hours (ID number, hours) to the trainee's attendance; returns rows read."""
    with transaction(engine) as session:
        course = _course(session, code)
        additions = _per_trainee(session, course, path, vault, "hours", course.hours, repeats=True)
        for enrolment, hours in additions:
            enrolment.attended_hours = min(enrolment.attended_hours + hours, 10 * course.hours)
            session.add(enrolment)
        audit_log.append(
            session,
            actor=actor,
            action="course.attendance",
            subject=code,
            detail={"file": path.name, "rows": len(additions)},
        )
    return len(additions)


@dataclass(frozen=True)
class AssessReport:
    course: str
    completed: int
    not_completed: list[tuple[str, str]]
    """(masked ID number, reason) of each trainee assessed who did not complete."""


def assess(
    engine: Engine, code: str, path: Path, vault: IdentityVault, *, actor: str = "cli"
) -> AssessReport:
    """Record the completion assessment (ID number, score) and decide each completion."""
    with transaction(engine) as session:
        course = _course(session, code)
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
            detail={"file": path.name, "assessed": len(scored), "completed": completed},
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
