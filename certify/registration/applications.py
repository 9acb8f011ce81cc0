"""申报与资格审核: registering applicants for a sitting against the application conditions.

An applicant file (CSV, XLSX or JSON) lists who applies: name, ID number (身份证号), education,
whether the major is related, professional title and since when, since when they do related
work, and the training hours their 培训学时证明 proves. :func:`read_applicants` checks every row
and names each bad field (invalid ID numbers, impossible dates, unknown education or title
codes, duplicates); one bad row and nothing is written.

:func:`evaluate` is the rule check, a pure function of the declared facts, the certificates the
applicant already holds in this occupation, the training hours on record and the date the
conditions are judged on: every level first requires its training hours; then any one route of
``schemas/data/conditions.json`` admits. Each refusal says, route by route, what is missing.

:func:`register_applicants` records every application with its decision; accepted applicants are
registered for the sitting (admission number and form given or assigned). An admin may accept a
refused application with :func:`override`, only with a reason, which is recorded and audited.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import chunked, transaction
from certify.infra.errors import Error, Problem
from certify.infra.rows import Columns, Row, Rows, day, flag, lookup, number, read_rows
from certify.infra.tabular import DEFAULT_MAX_BYTES, write_table
from certify.registration.identity import (
    PERSON_NAME,
    IdentityVault,
    IdNumberError,
    birth_date,
    id_number_cell,
    mask_id_number,
    validate_id_number,
)
from certify.registration.sittings import (
    ADMISSION,
    SittingError,
    admission_numbers,
    get_sitting,
    papers_by_form,
    people_of,
    placement_problems,
    register,
    register_many,
)
from question_bank.shuffle import new_seed
from schemas.conditions import Conditions, Route, conditions
from schemas.enums import ApplicationDecision, CertificateKind, CertificateStatus, Level
from schemas.reference import LEVEL_NAMES_ZH
from schemas.tables import (
    Application,
    Candidate,
    Certificate,
    Course,
    Enrolment,
    Paper,
    Registration,
    Sitting,
    utcnow,
)

APPLICANT_COLUMNS = {
    "name": ("name", "姓名"),
    "id_number": ("id_number", "身份证号", "身份证号码", "证件号码"),
    "education": ("education", "学历", "最高学历"),
    "related_major": ("related_major", "相关专业", "专业是否相关"),
    "graduating": ("graduating", "应届", "在读最后一学年"),
    "title": ("title", "职称", "现职称"),
    "title_since": ("title_since", "职称取得日期", "取得职称时间"),
    "work_since": ("work_since", "相关工作起始日期", "从事相关工作起始"),
    "training_hours": ("training_hours", "培训学时", "已完成培训学时"),
    "admission_no": ("admission_no", "准考证号", "考号"),
    "form": ("form", "试卷", "卷别", "卷型"),
}
REQUIRED = ("name", "id_number", "education")
WORKING_AGE = 16
"""Related work before this age is taken for a typing error (劳动法: minimum working age)."""


class ApplicationError(Error):
    code = "application"


@dataclass(frozen=True)
class Facts:
    """What an applicant declares (education and title as codes of the reference data)."""

    education: str
    related_major: bool = False
    graduating: bool = False
    title: str = "none"
    title_since: date | None = None
    work_since: date | None = None
    training_hours: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "education": self.education,
            "related_major": self.related_major,
            "graduating": self.graduating,
            "title": self.title,
            "title_since": self.title_since.isoformat() if self.title_since else None,
            "work_since": self.work_since.isoformat() if self.work_since else None,
            "training_hours": self.training_hours,
        }


@dataclass(frozen=True)
class Shortfall:
    """Why one route does not admit the applicant: each missing condition, in Chinese and English."""

    route: str
    missing: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Decision:
    accepted: bool
    route: str = ""
    """The first route that admits (empty when refused)."""
    shortfalls: tuple[Shortfall, ...] = ()
    training_hours: float = 0.0
    """The training hours counted (declared or on record, whichever is more)."""

    def reason_zh(self) -> str:
        if self.accepted:
            return f"符合申报条件（{self.route}）"
        return "；".join(
            f"{s.route}：" + "、".join(zh for zh, _ in s.missing) for s in self.shortfalls
        )

    def reason_en(self) -> str:
        if self.accepted:
            return f"meets the application conditions (route {self.route})"
        return "; ".join(
            f"{s.route}: " + ", ".join(en for _, en in s.missing) for s in self.shortfalls
        )

    def reasons_json(self) -> list[dict[str, Any]]:
        return [
            {"route": s.route, "missing": [{"zh": zh, "en": en} for zh, en in s.missing]}
            for s in self.shortfalls
        ]


def full_years(since: date, on: date) -> int:
    """Completed years from ``since`` to ``on`` (the anniversary day counts; 29 February's
    anniversary in a common year is 1 March)."""
    years = on.year - since.year - ((on.month, on.day) < (since.month, since.day))
    return max(years, 0)


def evaluate(
    level: Level,
    facts: Facts,
    *,
    held: dict[Level, date],
    recorded_hours: float = 0.0,
    on: date,
    rules: Conditions | None = None,
) -> Decision:
    """Whether the facts meet ``level``'s application conditions on the day ``on``.

    ``held`` maps the levels of this occupation's valid certificates the applicant holds to
    their issue dates; ``recorded_hours`` are training hours completed on courses recorded here.
    """
    rules = rules or conditions()
    hours = max(facts.training_hours, recorded_hours)
    required_hours = rules.training_hours[level]
    short_hours = (
        (
            f"培训学时 {hours:g}，不足 {required_hours}",
            f"{hours:g} training hours, fewer than {required_hours}",
        )
        if hours < required_hours
        else None
    )
    shortfalls = []
    for route in rules.routes[level]:
        missing = _route_missing(route, facts, held, on, rules)
        if short_hours:
            missing.insert(0, short_hours)
        if not missing:
            return Decision(True, route.id, training_hours=hours)
        shortfalls.append(Shortfall(route.id, tuple(missing)))
    return Decision(False, shortfalls=tuple(shortfalls), training_hours=hours)


def _route_missing(
    route: Route, facts: Facts, held: dict[Level, date], on: date, rules: Conditions
) -> list[tuple[str, str]]:
    missing: list[tuple[str, str]] = []
    starts: list[date] = []
    if route.title:
        need = rules.titles[route.title]
        if rules.titles[facts.title].rank < need.rank:
            missing.append((f"未取得{need.zh}职称", f"no {route.title.replace('_', ' ')} title"))
        elif facts.title_since:
            starts.append(facts.title_since)
    if route.education:
        need = rules.education[route.education]
        have = rules.education[facts.education]
        if have.rank < need.rank:
            missing.append((f"学历低于{need.zh}", f"education below {route.education}"))
        elif facts.graduating and not route.graduating_ok:
            missing.append(
                (f"{have.zh}尚未毕业", f"{facts.education} not yet completed (final-year student)")
            )
        if route.related_major and not facts.related_major:
            missing.append(("所学专业与本职业不相关", "the major is not related"))
    if route.certificate:
        level = Level(route.certificate)
        if level not in held:
            missing.append(
                (
                    f"未持有本职业{LEVEL_NAMES_ZH[level]}证书",
                    f"no {level.value} certificate of this occupation",
                )
            )
        else:
            starts.append(held[level])
    if route.years:
        if facts.work_since is None:
            missing.append(
                (
                    f"无相关工作年限（须满 {route.years} 年）",
                    f"no related work ({route.years} years needed)",
                )
            )
        else:
            years = full_years(max([facts.work_since, *starts]), on)
            if years < route.years:
                missing.append(
                    (
                        f"相关工作满 {years} 年，不足 {route.years} 年",
                        f"{years} full years of related work, fewer than {route.years}",
                    )
                )
    return missing


# --- reading the applicant file ----------------------------------------------------------------


@dataclass(frozen=True)
class Applicant:
    row: int
    name: str
    id_number: str
    facts: Facts
    admission_no: str = ""
    form: str = ""


APPLICANTS = Columns(APPLICANT_COLUMNS, required=REQUIRED)
TRAINING_HOURS = number(
    0, 10_000, code="bad_hours", default=0.0, what_zh="培训学时", what_en="training hours"
)
DATE = day()


def read_applicants(
    path: Path,
    *,
    on: date,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    rules: Conditions | None = None,
) -> tuple[list[Applicant], list[Problem]]:
    """Every applicant of the file and every problem in it (row and field named)."""
    applicants, rows = _read(path, on, encoding, max_bytes, rules or conditions())
    return applicants, rows.problems()


def _read(
    path: Path, on: date, encoding: str | None, max_bytes: int, rules: Conditions
) -> tuple[list[Applicant], Rows]:
    """The valid applicants of the file, and its rows with every problem found in them."""
    rows = read_rows(path, APPLICANTS, encoding=encoding, max_bytes=max_bytes)
    education = lookup(
        rules.education_code,
        code="unknown_education",
        what=("学历", "education"),
        known=("、".join(r.zh for r in rules.education.values()), ", ".join(rules.education)),
    )
    title = lookup(
        rules.title_code,
        code="unknown_title",
        what=("职称", "title"),
        known=("、".join(r.zh for r in rules.titles.values()), ", ".join(rules.titles)),
    )
    applicants = []
    for row in rows:
        name = row.get("name", PERSON_NAME)
        id_number = row.get("id_number", id_number_cell(today=on))
        if id_number:
            rows.unique(
                row,
                "id_number",
                id_number,
                zh="申报人重复：身份证号与第 {first} 行相同",
                en="duplicate applicant: the ID number repeats row {first}",
            )
        # Checked in the order problems are listed. A row with any problem is left out, so the
        # stand-ins for cells that could not be read ("", False, 0) never count.
        facts = Facts(
            education=row.get("education", education) or "",
            title=row.get("title", title) or "",
            related_major=bool(row.get("related_major", flag())),
            graduating=bool(row.get("graduating", flag())),
            work_since=_since(row, "work_since", on, id_number),
            title_since=_since(row, "title_since", on, id_number),
            training_hours=row.get("training_hours", TRAINING_HOURS) or 0.0,
        )
        if row.ok and name and id_number:
            admission, form = row.text("admission_no"), row.text("form").upper()
            applicants.append(Applicant(row.number, name, id_number, facts, admission, form))
    return applicants, rows


def _since(row: Row, column: str, on: date, id_number: str | None) -> date | None:
    """A date of the applicant's career: not after ``on``, nor before they were of working
    age (by the birth date in their ID number)."""
    found = row.get(column, DATE)
    if found is None:
        return None
    if found > on:
        row.bad(
            column,
            "future_date",
            f"日期 {found} 晚于审核日 {on}",
            f"{found} is after the day the conditions are judged on ({on})",
        )
        return None
    if id_number and found < _birthday(birth_date(id_number), WORKING_AGE):
        row.bad(
            column,
            "impossible_date",
            f"日期 {found} 早于申报人年满 {WORKING_AGE} 周岁",
            f"{found} is before the applicant turned {WORKING_AGE}",
        )
        return None
    return found


def _birthday(born: date, age: int) -> date:
    try:
        return born.replace(year=born.year + age)
    except ValueError:  # 29 February
        return date(born.year + age, 3, 1)


# --- registering -------------------------------------------------------------------------------


@dataclass
class RegisterReport:
    sitting: str
    on: date
    accepted: list[tuple[str, str, str]] = field(default_factory=list)
    """(admission number, masked name and ID, route) of each accepted applicant."""
    refused: list[tuple[int, str, Decision]] = field(default_factory=list)
    """(row, masked ID, decision) of each refused applicant."""
    new_candidates: int = 0


def held_certificates(
    session: Session, candidate_ids: Collection[int], occupation: str
) -> dict[int, dict[Level, date]]:
    """Per candidate, the levels of the occupation's valid certificates held, with their
    (earliest) issue dates; a query per thousand candidates."""
    held: dict[int, dict[Level, date]] = {}
    for ids in chunked(sorted(candidate_ids)):
        query = select(
            col(Certificate.candidate_id), col(Certificate.level), col(Certificate.issued_on)
        ).where(
            col(Certificate.candidate_id).in_(ids),
            Certificate.occupation == occupation,
            Certificate.kind == CertificateKind.LEVEL,
            Certificate.status == CertificateStatus.VALID,
        )
        for candidate_id, level_word, issued_on in session.exec(query):
            mine = held.setdefault(candidate_id, {})
            level = Level(level_word)
            mine[level] = min(mine.get(level, issued_on), issued_on)
    return held


def recorded_training_hours(
    session: Session, candidate_ids: Collection[int], occupation: str, level: str
) -> dict[int, float]:
    """Per candidate, the hours of completed courses of this occupation and level recorded here
    (a candidate with none is absent); a query per thousand candidates."""
    hours: dict[int, float] = {}
    for ids in chunked(sorted(candidate_ids)):
        for candidate_id, total in session.exec(
            select(col(Enrolment.candidate_id), func.sum(Course.hours))
            .join(Course, col(Enrolment.course_id) == col(Course.id))
            .where(
                col(Enrolment.candidate_id).in_(ids),
                col(Enrolment.completed).is_(True),
                Course.occupation == occupation,
                Course.level == level,
            )
            .group_by(col(Enrolment.candidate_id))
        ):
            hours[candidate_id] = float(total or 0)
    return hours


def register_applicants(
    engine: Engine,
    sitting_code: str,
    path: Path,
    vault: IdentityVault,
    *,
    on: date | None = None,
    actor: str = "cli",
    encoding: str | None = None,
    shuffle_seed: Callable[[], int] = new_seed,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RegisterReport:
    """Check every applicant of the file and record each decision; register those accepted.

    Raises ValidationFailed (nothing written) when any row is invalid or an applicant has
    applied to the sitting already.
    """
    on = on or date.today()
    applicants, rows = _read(path, on, encoding, max_bytes, conditions())
    with transaction(engine) as session:
        sitting = get_sitting(session, sitting_code)
        if sitting.blueprint_id is None or sitting.id is None:
            raise SittingError(
                f"考试场次 {sitting_code} 没有蓝图 / sitting {sitting_code} has no blueprint"
            )
        papers = papers_by_form(session, sitting.blueprint_id)
        taken = admission_numbers(session, sitting)
        applied = set(
            session.exec(
                select(Candidate.id_number_digest)
                .join(Application, col(Application.candidate_id) == col(Candidate.id))
                .where(Application.sitting_id == sitting.id)
            )
        )
        for a in applicants:
            rows.add(_placement_problems(path, a, papers, taken))
            if vault.digest(a.id_number) in applied:
                rows.add(
                    [
                        Problem(
                            str(path),
                            a.row,
                            "id_number",
                            "already_applied",
                            "该申报人已申报本场次",
                            "this applicant has already applied to the sitting",
                        )
                    ]
                )
        rows.refuse()
        report = RegisterReport(sitting_code, on)
        forms = sorted(papers)
        next_number = _admission_counter(sitting, taken)
        people = people_of(session, vault, [(a.name, a.id_number) for a in applicants])
        report.new_candidates = people.made
        applications: list[dict[str, Any]] = []
        placed: list[tuple[Candidate, Paper, str, int]] = []
        now = utcnow()
        accepted: list[dict[str, Any]] = []
        # Only people recorded before can hold a certificate or training hours here.
        recorded = [p.id or 0 for p in people.recorded]
        held = held_certificates(session, recorded, sitting.occupation)
        hours = recorded_training_hours(session, recorded, sitting.occupation, sitting.level)
        for index, (a, person) in enumerate(zip(applicants, people.rows, strict=True)):
            assert person.id is not None
            decision = evaluate(
                Level(sitting.level),
                a.facts,
                held=held.get(person.id, {}),
                recorded_hours=hours.get(person.id, 0.0),
                on=on,
            )
            application = {
                "sitting_id": sitting.id,
                "candidate_id": person.id,
                "row": a.row,
                "facts": {
                    **a.facts.as_json(),
                    "on": on.isoformat(),
                    "form": a.form,
                    "admission_no": a.admission_no,
                },
                "decision": ApplicationDecision.ACCEPTED
                if decision.accepted
                else ApplicationDecision.REFUSED,
                "route": decision.route,
                "reasons": decision.reasons_json(),
                "override_by": "",
                "override_reason": "",
                "registration_id": None,
                "decided_at": now,
            }
            if decision.accepted:
                admission = a.admission_no or next_number()
                form = a.form or forms[index % len(forms)]
                placed.append((person, papers[form], admission, shuffle_seed()))
                accepted.append(application)
                report.accepted.append((admission, person.id_number_masked, decision.route))
            else:
                report.refused.append((a.row, mask_id_number(a.id_number), decision))
            applications.append(application)
        # The registrations in one statement, then each accepted application pointed at its
        # own, and the decisions written as plain rows (a model each cost more than its row).
        for application, reg in zip(accepted, register_many(session, sitting, placed), strict=True):
            application["registration_id"] = reg.id
        if applications:
            session.execute(insert(Application), applications)
        audit_log.append(
            session,
            actor=actor,
            action="sitting.register",
            subject=sitting_code,
            detail={
                "file": path.name,
                "on": on.isoformat(),
                "accepted": len(report.accepted),
                "refused": len(report.refused),
            },
        )
        return report


def _placement_problems(
    path: Path, a: Applicant, papers: dict[str, Paper], taken: set[str]
) -> list[Problem]:
    if a.admission_no and not re.fullmatch(ADMISSION, a.admission_no):
        return [
            *placement_problems(path, a.row, a.form, "", papers, taken),
            Problem(
                str(path),
                a.row,
                "admission_no",
                "bad_admission_no",
                "准考证号须为 1–32 位字母、数字或 -",
                "admission_no: 1-32 letters, digits or '-'",
            ),
        ]
    return placement_problems(path, a.row, a.form, a.admission_no, papers, taken)


def _admission_counter(sitting: Sitting, taken: set[str]) -> Callable[[], str]:
    """Admission numbers ``<sitting>-0001`` onwards, skipping any already given."""
    stem = re.sub(r"[^A-Za-z0-9]", "", sitting.code)[:24] or "S"
    numbers = (f"{stem}-{n:04d}" for n in count(1))
    used = set(taken)

    def following() -> str:
        number = next(n for n in numbers if n not in used)
        used.add(number)
        return number

    return following


def _override_checks(reason: str, admin: str) -> None:
    if not reason.strip():
        raise ApplicationError("破格受理须填写理由 / an override needs a reason")
    if not admin.strip():
        raise ApplicationError("破格受理须注明审批管理员 / an override needs the admin's name")


def override(
    engine: Engine,
    sitting_code: str,
    id_number: str,
    vault: IdentityVault,
    *,
    reason: str,
    admin: str,
    form: str = "",
    shuffle_seed: Callable[[], int] = new_seed,
) -> Registration:
    """Accept a refused application on an admin's recorded reason; raises ApplicationError."""
    _override_checks(reason, admin)
    try:
        canonical = validate_id_number(id_number)
    except IdNumberError as exc:
        raise ApplicationError(
            f"身份证号无效：{exc.message_zh} / invalid ID number: {exc.message_en}"
        ) from None
    with transaction(engine) as session:
        found = session.exec(
            select(Application, Sitting)
            .join(Sitting, col(Sitting.id) == col(Application.sitting_id))
            .join(Candidate, col(Candidate.id) == col(Application.candidate_id))
            .where(
                Sitting.code == sitting_code,
                Candidate.id_number_digest == vault.digest(canonical),
            )
        ).first()
        if found is None:
            raise ApplicationError(
                f"{mask_id_number(canonical)} 未申报 {sitting_code} / no application to {sitting_code} for {mask_id_number(canonical)}"
            )
        return _accept(session, *found, reason, admin, form, shuffle_seed)


def override_application(
    engine: Engine,
    sitting_code: str,
    application_id: int,
    *,
    reason: str,
    admin: str,
    form: str = "",
    shuffle_seed: Callable[[], int] = new_seed,
) -> Registration:
    """:func:`override` for the application ``application_id`` of the sitting (as a page lists
    them, without the ID number in clear); raises ApplicationError, also for an application of
    another sitting."""
    _override_checks(reason, admin)
    with transaction(engine) as session:
        found = session.exec(
            select(Application, Sitting)
            .join(Sitting, col(Sitting.id) == col(Application.sitting_id))
            .where(Sitting.code == sitting_code, Application.id == application_id)
        ).first()
        if found is None:
            raise ApplicationError(
                f"{sitting_code} 没有第 {application_id} 号申请 / {sitting_code} has no "
                f"application {application_id}"
            )
        return _accept(session, *found, reason, admin, form, shuffle_seed)


def _accept(
    session: Session,
    application: Application,
    sitting: Sitting,
    reason: str,
    admin: str,
    form: str,
    shuffle_seed: Callable[[], int],
) -> Registration:
    """Register the refused ``application``'s applicant on the admin's reason (audited)."""
    if application.decision != ApplicationDecision.REFUSED:
        raise ApplicationError(
            f"该申请已{application.decision.zh}，无需破格 / the application is {application.decision} already"
        )
    assert sitting.blueprint_id is not None
    papers = papers_by_form(session, sitting.blueprint_id)
    chosen = (form or application.facts.get("form") or sorted(papers)[0]).upper()
    if chosen not in papers:
        raise ApplicationError(f"蓝图没有 {chosen} 卷 / the blueprint has no form {chosen}")
    person = session.get(Candidate, application.candidate_id)
    assert person is not None
    admission = (
        application.facts.get("admission_no")
        or _admission_counter(sitting, admission_numbers(session, sitting))()
    )
    reg = register(session, sitting, person, papers[chosen], admission, shuffle_seed())
    application.decision = ApplicationDecision.ACCEPTED
    application.route = "override"
    application.override_by = admin.strip()
    application.override_reason = reason.strip()
    application.registration_id = reg.id
    application.decided_at = utcnow()
    session.add(application)
    audit_log.append(
        session,
        actor=admin.strip(),
        action="application.override",
        subject=sitting.code,
        detail={
            "id_number": person.id_number_masked,
            "admission_no": admission,
            "reason": reason.strip(),
            "refused_for": application.reasons,
        },
    )
    return reg


def applications(engine: Engine, sitting_code: str) -> list[tuple[Application, Candidate]]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Application, Candidate)
                .join(Sitting, col(Sitting.id) == col(Application.sitting_id))
                .join(Candidate, col(Candidate.id) == col(Application.candidate_id))
                .where(Sitting.code == sitting_code)
                .order_by(col(Application.row))
            )
        )


def write_applicants(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """An applicant file (CSV, UTF-8 with BOM, through the one table writer) with the canonical
    Chinese headers."""
    columns = list(APPLICANT_COLUMNS)
    header = [APPLICANT_COLUMNS[k][1] for k in columns]
    return write_table(path, header, ([row.get(k) for k in columns] for row in rows))
