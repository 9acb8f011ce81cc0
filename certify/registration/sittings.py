"""考试场次与考生名册: sittings and the candidates admitted to them.

A sitting belongs to a blueprint; its roster gives each candidate an admission number
(准考证号), a form, and a fresh shuffle seed. The paper of that form (from the blueprint's
latest run) is frozen as soon as a candidate is registered for it. ID numbers are validated
(GB 11643), stored encrypted and found by keyed digest; the same person keeps one candidate
record across sittings. This roster import takes a list whose application conditions were checked
elsewhere; ``certify.registration.applications`` checks them here (申报条件) and registers those accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import ALL_INSTITUTIONS, chunked, transaction
from certify.infra.errors import Error, Problem, SittingNotFound
from certify.infra.jobs import JobView, submit_job
from certify.infra.rows import Columns, Rows, read_rows, text
from certify.infra.tabular import DEFAULT_MAX_BYTES
from certify.institutions.registry import InstitutionError, check_authorised
from certify.registration.identity import (
    PERSON_NAME,
    IdentityVault,
    id_number_cell,
    mask_id_number,
)
from question_bank.shuffle import new_seed
from schemas.enums import ApplicationDecision, CertificateKind
from schemas.tables import (
    Application,
    Blueprint,
    Candidate,
    Institution,
    Paper,
    Registration,
    Sitting,
    utcnow,
)

ROSTER_COLUMNS = {
    "admission_no": ("admission_no", "准考证号", "考号"),
    "name": ("name", "姓名"),
    "id_number": ("id_number", "身份证号", "身份证号码", "证件号码"),
    "form": ("form", "试卷", "卷别", "卷型"),
}
ROSTER = Columns(ROSTER_COLUMNS, required=ROSTER_COLUMNS)
ADMISSION = r"[A-Za-z0-9-]{1,32}"
SITTING_CODE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
ADMISSION_NO = text(
    pattern=ADMISSION,
    required=True,
    code="bad_admission_no",
    zh="准考证号须为 1–32 位字母、数字或 -",
    en="admission_no: 1-32 letters, digits or '-'",
)
FORM = text(required=True, upper=True, zh="须指定试卷（如 A）", en="form is required (e.g. A)")


class SittingError(Error):
    code = "sitting"


def sitting_lock(code: str) -> str:
    """One job at a time per sitting: an upload's import, grading, a regrade or its
    application, equating, the statistics."""
    return f"sitting:{code}"


def submit_sitting_job(
    engine: Engine,
    kind: str,
    code: str,
    actor: str,
    account_id: int | None,
    *,
    worker: str | None = None,
    lock_key: str | None = None,
    **params: Any,
) -> JobView:
    """Submit a job of ``kind`` about sitting ``code`` under the sitting's lock (or
    ``lock_key``): grading, regrading, equating, the statistics, an upload's import — one at a
    time. ``worker``: written already running under that worker of this process (see
    :func:`~certify.infra.jobs.submit_job`). Raises SittingNotFound, or JobBusy naming the job
    that holds the lock."""
    with Session(engine) as session:
        get_sitting(session, code)
    return submit_job(
        engine,
        kind,
        code,
        lock_key=lock_key or sitting_lock(code),
        params=params,
        actor=actor,
        account_id=account_id,
        worker=worker,
    )


def create_sitting(
    engine: Engine,
    code: str,
    blueprint_code: str,
    *,
    institution: str,
    starts_at: datetime | None = None,
    actor: str = "cli",
) -> Sitting:
    """A new sitting of the blueprint's occupation and level; raises SittingError (also for a
    code that is not 1–64 letters, digits, ``-``, ``_`` or ``.``, or an empty institution)."""
    if not re.fullmatch(SITTING_CODE, code):
        raise SittingError(
            f"场次代码须为 1–64 位字母、数字或 - _ . ，以字母或数字开头：{code[:80]!r} / a sitting "
            f"code is 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit: {code[:80]!r}"
        )
    if not institution.strip() or len(institution) > 200:
        raise SittingError(
            "须填写评价机构（至多 200 字）/ the institution is required (≤ 200 characters)"
        )
    with transaction(engine) as session:
        bp = session.exec(select(Blueprint).where(Blueprint.code == blueprint_code)).first()
        if bp is None:
            raise SittingError(
                f"没有蓝图 {blueprint_code}（请先组卷）/ no blueprint {blueprint_code}: assemble it first"
            )
        # a sitting's code is the platform's (it is in the pages' URLs): taken is taken
        taken = session.exec(
            select(Sitting.id).where(Sitting.code == code).execution_options(**ALL_INSTITUTIONS)
        ).first()
        if taken is not None:
            raise SittingError(f"考试场次 {code} 已存在 / sitting {code} exists already")
        inst = _authorised(session, institution, bp.occupation, bp.level, starts_at)
        sitting = Sitting(
            code=code,
            occupation=bp.occupation,
            level=bp.level,
            institution=inst.name,
            starts_at=starts_at,
            blueprint_id=bp.id,
        )
        session.add(sitting)
        session.flush()
        audit_log.append(
            session,
            actor=actor,
            action="sitting.create",
            subject=code,
            detail={"blueprint": blueprint_code, "institution": inst.name},
        )
        return sitting


def _authorised(
    session: Session, institution: str, occupation: str, level: str, starts_at: datetime | None
) -> Institution:
    """The institution, authorised to examine ``occupation``/``level`` on the sitting's day
    (today while it has none); raises SittingError saying why not."""
    day = starts_at.date() if starts_at else utcnow().date()
    try:
        return check_authorised(
            session, institution.strip(), CertificateKind.LEVEL, occupation, level, day
        )
    except InstitutionError as exc:
        raise SittingError(str(exc)) from None


def set_sitting(
    engine: Engine,
    code: str,
    *,
    blueprint_code: str,
    starts_at: datetime | None,
    actor: str = "cli",
) -> Sitting:
    """Set the sitting's blueprint and date (audited as ``sitting.set`` with both before and
    after). The blueprint may change only while nobody has applied or been registered, and only
    to one of the same occupation and level; raises SittingError, SittingNotFound."""
    with transaction(engine) as session:
        sitting = get_sitting(session, code)
        bp = session.exec(select(Blueprint).where(Blueprint.code == blueprint_code)).first()
        if bp is None:
            raise SittingError(
                f"没有蓝图 {blueprint_code}（请先组卷）/ no blueprint {blueprint_code}: assemble it first"
            )
        before = {
            "blueprint_id": sitting.blueprint_id,
            "starts_at": sitting.starts_at.isoformat() if sitting.starts_at else None,
        }
        if bp.id != sitting.blueprint_id:
            if (bp.occupation, bp.level) != (sitting.occupation, sitting.level):
                raise SittingError(
                    f"蓝图 {blueprint_code} 的职业等级（{bp.occupation}/{bp.level}）与场次不同 / "
                    f"blueprint {blueprint_code} is for {bp.occupation}/{bp.level}, "
                    f"not {sitting.occupation}/{sitting.level}"
                )
            if _has_candidates(session, sitting):
                raise SittingError(
                    f"考试场次 {code} 已有申报或登记的考生，不能更换蓝图 / sitting {code} has "
                    "applicants or registered candidates: its blueprint can no longer change"
                )
            sitting.blueprint_id = bp.id
        if starts_at is not None and starts_at != sitting.starts_at:
            _authorised(session, sitting.institution, sitting.occupation, sitting.level, starts_at)
        sitting.starts_at = starts_at
        session.add(sitting)
        session.flush()
        audit_log.append(
            session,
            actor=actor,
            action="sitting.set",
            subject=code,
            detail={
                "before": before,
                "blueprint": blueprint_code,
                "starts_at": starts_at.isoformat() if starts_at else None,
            },
        )
        return sitting


def _has_candidates(session: Session, sitting: Sitting) -> bool:
    registered = session.exec(
        select(Registration.id).where(Registration.sitting_id == sitting.id).limit(1)
    ).first()
    applied = session.exec(
        select(Application.id).where(Application.sitting_id == sitting.id).limit(1)
    ).first()
    return registered is not None or applied is not None


def get_sitting(session: Session, code: str) -> Sitting:
    """The sitting with this code; raises SittingNotFound."""
    sitting = session.exec(select(Sitting).where(Sitting.code == code)).first()
    if sitting is None:
        raise SittingNotFound(code)
    return sitting


@dataclass(frozen=True)
class SittingView:
    """A sitting as its pages show it: its blueprint by code, how many applied and registered."""

    code: str
    occupation: str
    level: str
    institution: str
    starts_at: datetime | None
    blueprint: str
    applications: int
    registered: int


def get_sitting_view(engine: Engine, code: str) -> SittingView:
    """The sitting with this code as its pages show it; raises SittingNotFound."""
    with Session(engine) as session:
        sitting = get_sitting(session, code)
        bp = session.get(Blueprint, sitting.blueprint_id) if sitting.blueprint_id else None
        registered = session.exec(
            select(func.count()).where(Registration.sitting_id == sitting.id)
        ).one()
        applied = session.exec(
            select(func.count()).where(Application.sitting_id == sitting.id)
        ).one()
        return SittingView(
            sitting.code,
            sitting.occupation,
            sitting.level,
            sitting.institution,
            sitting.starts_at,
            bp.code if bp else "",
            int(applied),
            int(registered),
        )


def list_sittings(engine: Engine) -> list[Sitting]:
    """Every sitting, by code."""
    with Session(engine) as session:
        return list(session.exec(select(Sitting).order_by(col(Sitting.code))))


@dataclass(frozen=True)
class RosterRow:
    row: int
    admission_no: str
    name: str
    id_number: str
    form: str


@dataclass(frozen=True)
class RosterReport:
    sitting: str
    registered: int
    new_candidates: int
    papers: dict[str, str]


def read_roster(
    path: Path, *, encoding: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[list[RosterRow], Rows]:
    """Every row of a roster file, and the file's rows with every problem found in them (row
    and field named)."""
    rows = read_rows(path, ROSTER, encoding=encoding, max_bytes=max_bytes)
    roster = []
    for row in rows:
        admission = row.get("admission_no", ADMISSION_NO)
        if admission:
            rows.unique(row, "admission_no", admission, zh="准考证号与第 {first} 行重复")
        name = row.get("name", PERSON_NAME)
        id_number = row.get("id_number", id_number_cell())
        if id_number:
            rows.unique(
                row,
                "id_number",
                id_number,
                zh="身份证号与第 {first} 行重复",
                en="the ID number repeats row {first}",
            )
        form = row.get("form", FORM)
        roster.append(
            RosterRow(row.number, admission or "", name or "", id_number or "", form or "")
        )
    return roster, rows


def import_roster(
    engine: Engine,
    sitting_code: str,
    path: Path,
    vault: IdentityVault,
    *,
    actor: str = "cli",
    encoding: str | None = None,
    shuffle_seed: Callable[[], int] = new_seed,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RosterReport:
    """Register every candidate of the roster, or none: raises ValidationFailed naming each bad row.

    ``shuffle_seed`` draws each registration's seed: secret random bits, unless a simulation
    needs to repeat itself.
    """
    roster, rows = read_roster(path, encoding=encoding, max_bytes=max_bytes)
    with transaction(engine) as session:
        sitting = get_sitting(session, sitting_code)
        if sitting.blueprint_id is None:
            raise SittingError(
                f"考试场次 {sitting_code} 没有蓝图 / sitting {sitting_code} has no blueprint"
            )
        papers = papers_by_form(session, sitting.blueprint_id)
        taken = admission_numbers(session, sitting)
        for r in roster:
            rows.add(placement_problems(path, r.row, r.form, r.admission_no, papers, taken))
        rows.refuse()
        people = people_of(session, vault, [(r.name, r.id_number) for r in roster])
        new = people.made
        register_many(
            session,
            sitting,
            [
                (person, papers[r.form], r.admission_no, shuffle_seed())
                for r, person in zip(roster, people.rows, strict=True)
            ],
        )
        audit_log.append(
            session,
            actor=actor,
            action="sitting.roster",
            subject=sitting_code,
            detail={"file": path.name, "registered": len(roster), "new_candidates": new},
        )
        return RosterReport(sitting_code, len(roster), new, {f: p.code for f, p in papers.items()})


def placement_problems(
    path: Path, row: int, form: str, admission: str, papers: dict[str, Paper], taken: set[str]
) -> list[Problem]:
    """What is wrong with placing one row in the sitting: a form the blueprint lacks, an
    admission number given already (empty ones are left to the caller)."""
    found = []
    if form and form not in papers:
        found.append(
            Problem(
                str(path),
                row,
                "form",
                "unknown_form",
                f"蓝图没有 {form} 卷（可用：{'、'.join(papers)}）",
                f"the blueprint has no form {form} (has {', '.join(papers)})",
            )
        )
    if admission and admission in taken:
        found.append(
            Problem(
                str(path),
                row,
                "admission_no",
                "registered",
                "该准考证号已在本场次登记",
                "this admission number is already registered in the sitting",
            )
        )
    return found


def admission_numbers(session: Session, sitting: Sitting) -> set[str]:
    """The admission numbers already given in the sitting."""
    return set(
        session.exec(select(Registration.admission_no).where(Registration.sitting_id == sitting.id))
    )


def register(
    session: Session, sitting: Sitting, person: Candidate, paper: Paper, admission: str, seed: int
) -> Registration:
    """Register a person for the sitting on a paper (which is frozen from now on)."""
    (reg,) = register_many(session, sitting, [(person, paper, admission, seed)])
    return reg


def register_many(
    session: Session,
    sitting: Sitting,
    placed: list[tuple[Candidate, Paper, str, int]],
) -> list[Registration]:
    """Register each (person, paper, admission number, seed) for the sitting, the papers frozen
    from now on; written in one flush, so a file of thousands is not a round trip a row."""
    assert sitting.id is not None
    if not placed:
        return []
    now = utcnow()
    rows = []
    for person, paper, admission, seed in placed:
        assert person.id is not None
        rows.append(
            {
                "sitting_id": sitting.id,
                "candidate_id": person.id,
                "paper_id": paper.id,
                "shuffle_seed": seed,
                "admission_no": admission,
                "status": ApplicationDecision.ACCEPTED,
                "decision_reason": "",
                "created_at": now,
            }
        )
        if paper.status != "frozen":
            paper.status, paper.frozen_at = "frozen", now
            session.add(paper)
    session.flush()  # the papers frozen first, as before
    # One many-row INSERT … RETURNING, read back as records in the order given.
    regs = session.scalars(
        insert(Registration).returning(Registration, sort_by_parameter_order=True), rows
    ).all()
    return list(regs)


def papers_by_form(session: Session, blueprint_id: int) -> dict[str, Paper]:
    """The papers of the blueprint's latest run, by form."""
    run = session.exec(select(func.max(Paper.run)).where(Paper.blueprint_id == blueprint_id)).one()
    query = (
        select(Paper)
        .where(Paper.blueprint_id == blueprint_id, Paper.run == run)
        .order_by(col(Paper.form))
    )
    return {p.form: p for p in session.exec(query)}


def find_candidate(session: Session, vault: IdentityVault, id_number: str) -> Candidate | None:
    """The person with this (valid, canonical) ID number, found by its keyed digest."""
    digest = vault.digest(id_number)
    return _by_digest(session, [digest]).get(digest)


def _by_digest(session: Session, digests: Iterable[str]) -> dict[str, Candidate]:
    """The people recorded under these keyed digests, by digest (a query per thousand)."""
    found: dict[str, Candidate] = {}
    for chunk in chunked(sorted(set(digests))):
        for person in session.exec(
            select(Candidate).where(col(Candidate.id_number_digest).in_(chunk))
        ):
            found[person.id_number_digest] = person
    return found


def new_candidate(session: Session, vault: IdentityVault, name: str, id_number: str) -> Candidate:
    """A person's record: the ID number encrypted, its keyed digest and its masked form."""
    (candidate,) = new_candidates(session, vault, [(name, id_number)])
    return candidate


def new_candidates(
    session: Session, vault: IdentityVault, people: list[tuple[str, str]]
) -> list[Candidate]:
    """A record for each (name, ID number), written in one flush (their ids set)."""
    if not people:
        return []
    now = utcnow()
    rows = [
        {
            "name": name,
            "id_number_cipher": vault.encrypt(id_number),
            "id_number_digest": vault.digest(id_number),
            "id_number_masked": mask_id_number(id_number),
            "created_at": now,
        }
        for name, id_number in people
    ]
    # One many-row INSERT … RETURNING, read back as records in the order given: a model made
    # and flushed per person costs more than the person's row.
    made = session.scalars(
        insert(Candidate).returning(Candidate, sort_by_parameter_order=True), rows
    ).all()
    return list(made)


@dataclass(frozen=True)
class People:
    """The people of a file, each row's record in the order given."""

    rows: list[Candidate]
    recorded: list[Candidate]
    """The distinct people among them recorded before the file (the others were made for it)."""
    made: int
    """How many people were new."""


def people_of(session: Session, vault: IdentityVault, people: list[tuple[str, str]]) -> People:
    """Every (name, ID number)'s record, those missing made (the first name given for an ID
    number is kept); each ID number's keyed digest computed once."""
    digests = [vault.digest(id_number) for _, id_number in people]
    known = _by_digest(session, digests)
    recorded = list(known.values())
    missing: dict[str, tuple[str, str]] = {}
    for person, digest in zip(people, digests, strict=True):
        if digest not in known:
            missing.setdefault(digest, person)
    made = new_candidates(session, vault, list(missing.values()))
    known.update(zip(missing, made, strict=True))
    return People([known[d] for d in digests], recorded, len(made))
