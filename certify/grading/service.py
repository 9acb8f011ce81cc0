"""阅卷: grading a sitting — loads arrays from the database, calls the pure cores, stores results.

For each candidate the copy they sat is rebuilt from the registration's seed; raw answers in
printed letters are mapped back to canonical letters, encoded as bitmasks and scored against the
canonical keys of the exact item versions on the paper, paper by paper. Fill-in answers are
scored by normalised comparison; subjective questions by their final double marks, scaled to
the paper's points. A candidate passes when every part reaches its pass mark; a candidate with
a subjective mark still missing stays *pending* and gets no result yet. Once the pass list is
published or a certificate issued, stored results move only through a confirmed regrade, which
suspends the certificates of holders who no longer pass (:mod:`certify.grading.lock`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from certify.grading.fill import score_fill
from certify.grading.lock import (
    Lock,
    ResultsLocked,
    certificates_of,
    result_lock,
)
from certify.grading.marking import final_marks
from certify.grading.scoring import (
    encode_letters,
    encode_true_false,
    score_choices,
    score_matching,
)
from certify.grading.sheets import Copies, candidate_copies
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Error
from certify.infra.gcpause import gc_paused
from certify.registration.identity import mask_name
from question_bank.sealing import SealError, sealed_owners
from question_bank.shuffle import to_canonical
from schemas.blueprint import Blueprint as BlueprintSpec
from schemas.blueprint import PartialCredit
from schemas.enums import CertificateStatus, ItemType
from schemas.papers import PaperView
from schemas.tables import (
    Blueprint,
    Candidate,
    EquatingRun,
    FormEquating,
    Item,
    ItemVersion,
    Mark,
    Registration,
    Response,
    Result,
    Sitting,
    utcnow,
)

SUBJECTIVE_TOLERANCE = 0.2
"""Two marks further apart than this share of the item's maximum need a third mark."""


@dataclass
class GradeReport:
    sitting: str
    graded: int = 0
    passed: int = 0
    pending: list[str] = field(default_factory=list)
    no_sheet: list[str] = field(default_factory=list)
    locked: bool = False
    """The pass list is published or a certificate issued: stored results were kept."""
    kept: int = 0
    held: list[str] = field(default_factory=list)
    """New passes after publication, not written: they were never on the published list."""


@dataclass
class CandidateScores:
    """One candidate's points per question (by item version) and per part."""

    admission_no: str
    form: str
    questions: dict[int, float]
    parts: dict[str, float]
    passed: bool | None


def blueprint_of(engine: Engine, blueprint_id: int | None) -> BlueprintSpec:
    """The blueprint a sitting was set from, as validated."""
    with Session(engine) as session:
        row = session.get(Blueprint, blueprint_id)
    assert row is not None
    return BlueprintSpec.model_validate({k: v for k, v in row.spec.items() if k != "_hash"})


class PassRuleError(Error):
    """The sitting's equated pass rule names no pass mark for a form a candidate sat."""

    code = "pass_rule"


@dataclass(frozen=True)
class PassMarks:
    """The equated pass marks in force: (part, form) → mark; the reference form keeps the
    blueprint's."""

    reference: str
    marks: dict[tuple[str, str], float]


def pass_marks_in_force(session: Session, sitting: Sitting) -> PassMarks | None:
    """The equated pass marks when the sitting's pass rule is ``equated`` (see
    :mod:`certify.grading.form_equating`); None under the raw rule, where the blueprint's
    marks apply to every form."""
    if sitting.pass_rule != "equated" or sitting.equating_run_id is None:
        return None
    run = session.get(EquatingRun, sitting.equating_run_id)
    rows = session.exec(
        select(FormEquating).where(FormEquating.run_id == sitting.equating_run_id)
    ).all()
    return PassMarks(
        run.reference_form if run else "", {(r.part, r.form): r.equivalent for r in rows}
    )


@gc_paused()
def score_sitting(
    engine: Engine,
    sitting_code: str,
    *,
    copies: Copies | None = None,
    answers: Answers | None = None,
    provisional: bool = False,
) -> tuple[GradeReport, list[CandidateScores]]:
    """Scores of every candidate of a sitting, computed afresh from raw answers and marks
    (``copies`` and ``answers``, when the caller has read them already, are not read again).

    Raises SealError when a key correction of one of its items is sealed by the province or
    the sitting's own institution (:func:`keys_for`); ``provisional`` (a hand-in's score at
    the computer, which the sitting's grading replaces) scores with the keys readable now."""
    sitting, by_admission = copies or candidate_copies(engine, sitting_code)
    bp = blueprint_of(engine, sitting.blueprint_id)
    fraction = (
        bp.multiple_choice.partial_fraction
        if bp.multiple_choice.rule is PartialCredit.SUBSET_PARTIAL
        else 0.0
    )
    regs = {reg.id or 0: (reg, view) for reg, view in by_admission.values()}
    needed = {q.item_version_pk for _, view in regs.values() for q in view.questions}
    answers, marks, keys = _load(engine, list(regs), answers, sitting, needed, provisional)
    with Session(engine) as session:
        in_force = pass_marks_in_force(session, sitting)
    if in_force is not None:
        _check_forms(sitting, in_force, {view.form for _, view in by_admission.values()})
    report = GradeReport(sitting_code)
    by_paper: dict[str, list[int]] = defaultdict(list)
    for reg_id, (_, view) in regs.items():
        by_paper[view.code].append(reg_id)
    scores: list[CandidateScores] = []
    for reg_ids in by_paper.values():
        scores += _score_paper(
            bp, [regs[r] for r in reg_ids], answers, marks, keys, fraction, report, in_force
        )
    return report, scores


def _check_forms(sitting: Sitting, in_force: PassMarks, forms: set[str]) -> None:
    """Under the equated rule every form but the run's reference needs its equated marks."""
    missing = sorted(forms - {form for _, form in in_force.marks} - {in_force.reference})
    if missing:
        raise PassRuleError(
            f"{sitting.code}: 合格判定按等值分数，但第 {sitting.equating_run_id} 次等值没有试卷 "
            f"{', '.join(missing)} 的合格分 / the pass rule is equated, but equating run "
            f"{sitting.equating_run_id} has no pass mark for form(s) {', '.join(missing)}: "
            "equate the sitting again (certify irt equate) and set the rule to that run"
        )


Answers = dict[int, dict[int, str]]
"""Raw answers by registration id, then item version id."""


def sitting_answers(engine: Engine, reg_ids: list[int]) -> Answers:
    """The raw answers of the registrations ``reg_ids`` (read as plain rows: a sitting of ten
    thousand has hundreds of thousands)."""
    answers: Answers = defaultdict(dict)
    with Session(engine) as session:
        for reg_id, item, raw in session.exec(
            select(Response.registration_id, Response.item_version_id, Response.raw).where(
                col(Response.registration_id).in_(reg_ids)
            )
        ):
            answers[reg_id][item] = raw
    return answers


def _load(
    engine: Engine,
    reg_ids: list[int],
    answers: Answers | None,
    sitting: Sitting,
    needed: set[int],
    provisional: bool,
) -> tuple[Answers, dict[tuple[int, int], list[float]], dict[int, ItemVersion]]:
    if answers is None:
        answers = sitting_answers(engine, reg_ids)
    with Session(engine) as session:
        marks: dict[tuple[int, int], list[float]] = defaultdict(list)
        for reg_id, item, mark in session.exec(
            select(Mark.registration_id, Mark.item_version_id, Mark.mark)
            .where(col(Mark.registration_id).in_(reg_ids))
            .order_by(col(Mark.round))
        ):
            marks[(reg_id, item)].append(mark)
        keys = keys_for(session, sitting, needed, provisional=provisional)
    return answers, marks, keys


def keys_for(
    session: Session, sitting: Sitting, needed: set[int], *, provisional: bool = False
) -> dict[int, ItemVersion]:
    """:func:`effective_keys` for grading ``sitting``, whose questions are the item versions
    ``needed``. A newer version in an unopened seal may correct a key nobody may read yet:

    - one sealed by the province or by the sitting's own institution stops the grading
      (SealError naming the items) — scores with the old key would move again at the opening;
    - one sealed by another institution is passed over (its seal cannot hold up anyone else's
      grading), and so is any, for a ``provisional`` score.
    """
    owners = sealed_owners(session)
    blocking = (
        set()
        if provisional
        else {pk for pk, owner in owners.items() if owner is None or owner == sitting.institution}
    )
    keys = effective_keys(session, passed_over=set(owners) - blocking)
    held = {keys[pk].item_id for pk in needed if keys[pk].id in blocking}
    if held:
        codes = sorted(session.exec(select(Item.code).where(col(Item.id).in_(held))))
        raise SealError(
            f"题目 {', '.join(codes[:10])} 的新版本在尚未开启的密封试卷上，可能更正了答案；开启后再评分。\n"
            f"Items {', '.join(codes[:10])} have a newer version on a paper still sealed, which "
            "may correct their key: grade once the seal is opened."
        )
    return keys


def effective_keys(session: Session, passed_over: set[int] | None = None) -> dict[int, ItemVersion]:
    """For every item version, the version whose key scores it: the item's newest version
    when it only corrects the key (same type, same options), else the version itself.

    A paper stays frozen on the versions it printed; a key correction is a new version, and
    grading (and regrading) picks it up from here. Versions ``passed_over`` (sealed ones,
    ``question_bank.sealing``: their keys are empty in the bank) are no item's newest here.
    """
    versions = list(session.exec(select(ItemVersion)))
    passed_over = passed_over or set()
    newest: dict[int, ItemVersion] = {}
    for v in versions:
        if v.id in passed_over:
            continue
        if v.item_id not in newest or v.version > newest[v.item_id].version:
            newest[v.item_id] = v
    out: dict[int, ItemVersion] = {}
    for v in versions:
        latest = newest.get(v.item_id, v)
        same_shape = latest.type == v.type and sorted(latest.options) == sorted(v.options)
        out[v.id or 0] = latest if same_shape else v
    return out


def _score_paper(
    bp: BlueprintSpec,
    group: list[tuple[Registration, PaperView]],
    answers: Answers,
    marks: dict[tuple[int, int], list[float]],
    keys: dict[int, ItemVersion],
    fraction: float,
    report: GradeReport,
    in_force: PassMarks | None = None,
) -> list[CandidateScores]:
    questions = group[0][1].questions  # canonical order is the same for every copy of the paper
    base = sorted(questions, key=lambda q: q.item_version_pk)
    pks = [q.item_version_pk for q in base]
    choice = [
        i
        for i, q in enumerate(base)
        if q.type in (ItemType.SINGLE, ItemType.MULTIPLE, ItemType.TRUE_FALSE)
    ]
    matrix = np.zeros((len(group), len(pks)), dtype=np.float64)
    have_sheet = np.array([reg.id in answers for reg, _ in group])
    canonical = [
        to_canonical(
            view,
            {
                q.number: answers.get(reg.id or 0, {}).get(q.item_version_pk, "")
                for q in view.questions
                if q.type is not ItemType.SUBJECTIVE
            },
        )
        for reg, view in group
    ]
    if choice:
        encode = [
            encode_true_false if base[i].type is ItemType.TRUE_FALSE else encode_letters
            for i in choice
        ]
        raw = np.array(
            [[encode[k](c.get(pks[i], "")) for k, i in enumerate(choice)] for c in canonical],
            dtype=np.uint16,
        )
        key = np.array(
            [enc(keys[pks[i]].key) for enc, i in zip(encode, choice, strict=True)], dtype=np.uint16
        )
        points = np.array([base[i].points for i in choice])
        multiple = np.array([base[i].type is ItemType.MULTIPLE for i in choice])
        matrix[:, choice] = score_choices(
            raw.reshape(len(group), len(choice)), key, points, multiple, partial_fraction=fraction
        )
    for i, q in enumerate(base):
        if q.type in (ItemType.FILL, ItemType.MATCHING):
            score = score_fill if q.type is ItemType.FILL else score_matching
            matrix[:, i] = score(
                [c.get(q.item_version_pk, "") for c in canonical],
                keys[q.item_version_pk].key,
                q.points,
            )
    pending = np.zeros(len(group), dtype=bool)
    for i, q in enumerate(base):
        if q.type is not ItemType.SUBJECTIVE:
            continue
        maximum = keys[q.item_version_pk].points
        for row, (reg, _) in enumerate(group):
            final = _final(marks.get((reg.id or 0, q.item_version_pk), []), maximum)
            if final is None:
                pending[row] = True
            else:
                matrix[row, i] = q.points * final / maximum
    parts = {p.part: p for p in bp.parts}
    part_of = np.array([q.part for q in base])
    out = []
    for row, (reg, view) in enumerate(group):
        totals = {name: round(float(matrix[row, part_of == name].sum()), 4) for name in parts}
        if not have_sheet[row]:
            report.no_sheet.append(reg.admission_no)
        if pending[row] or not have_sheet[row]:
            passed = None
            if pending[row]:
                report.pending.append(reg.admission_no)
        else:
            marks_ = in_force.marks if in_force else {}
            passed = all(
                totals[name] >= marks_.get((name, view.form), spec.pass_mark) - 1e-9
                for name, spec in parts.items()
            )
        out.append(
            CandidateScores(
                reg.admission_no,
                view.form,
                dict(zip(pks, matrix[row].tolist(), strict=True)),
                totals,
                passed,
            )
        )
    return out


def _final(found: list[float], maximum: float) -> float | None:
    if len(found) < 2:
        return None
    first, second = found[0], found[1]
    third = found[2] if len(found) > 2 else np.nan
    value = float(
        final_marks(
            np.array([first]), np.array([second]), np.array([third]), SUBJECTIVE_TOLERANCE * maximum
        )[0]
    )
    return None if np.isnan(value) else value


def grade_sitting(engine: Engine, sitting_code: str, *, actor: str = "cli") -> GradeReport:
    """Score the sitting and store a result for every candidate who can have one (audited).

    On a locked sitting (published pass list or an issued certificate, see
    :func:`certify.grading.lock.result_lock`) no stored result is ever rewritten: raises
    ResultsLocked, writing nothing, when one would change or could no longer be computed;
    otherwise only candidates without a result get one — except a new pass once the pass
    list is published, which is held (``report.held``): issuance reads the stored passes, and
    that candidate was never on the published list.
    """
    prepared = candidate_copies(engine, sitting_code)
    report, scores = score_sitting(engine, sitting_code, copies=prepared)
    sitting, copies = prepared
    reg_ids = {s.admission_no: copies[s.admission_no][0].id or 0 for s in scores}
    with transaction(engine) as session:
        lock = result_lock(session, sitting, for_update=True)
        stored = stored_results(session, list(reg_ids.values()))
        if lock:
            _refuse_moves(sitting_code, lock, scores, stored, reg_ids)
        else:
            session.execute(delete(Result).where(col(Result.registration_id).in_(list(stored))))
            stored = {}
        report.locked = bool(lock)
        for s in scores:
            if s.passed is None:
                continue
            if reg_ids[s.admission_no] in stored:
                report.kept += 1
            elif lock.published and s.passed:
                report.held.append(s.admission_no)
                continue
            else:
                session.add(
                    Result(
                        registration_id=reg_ids[s.admission_no],
                        part_scores=s.parts,
                        total=round(sum(s.parts.values()), 4),
                        passed=s.passed,
                        computed_at=utcnow(),
                    )
                )
            report.graded += 1
            report.passed += s.passed
        audit_log.append(
            session,
            actor=actor,
            action="grade",
            subject=sitting_code,
            detail={
                "graded": report.graded,
                "passed": report.passed,
                "pending": len(report.pending),
                "kept": report.kept,
                "held": report.held,
            },
        )
    return report


def stored_results(session: Session, reg_ids: list[int]) -> dict[int, Result]:
    return {
        r.registration_id: r
        for r in session.exec(select(Result).where(col(Result.registration_id).in_(reg_ids)))
    }


def moved(parts: dict[str, float], passed: bool, now: dict[str, float], now_passed: bool) -> bool:
    return (
        passed != now_passed
        or parts.keys() != now.keys()
        or any(abs(parts[k] - v) > 1e-9 for k, v in now.items())
    )


def _refuse_moves(
    sitting_code: str,
    lock: Lock,
    scores: list[CandidateScores],
    stored: dict[int, Result],
    reg_ids: dict[str, int],
) -> None:
    changed, unscorable = [], []
    for s in scores:
        old = stored.get(reg_ids[s.admission_no])
        if old is None:
            continue
        if s.passed is None:
            unscorable.append(s.admission_no)
        elif moved(old.part_scores, old.passed, s.parts, s.passed):
            changed.append(s.admission_no)
    if changed or unscorable:
        raise ResultsLocked(sitting_code, lock, sorted(changed), sorted(unscorable))


@dataclass(frozen=True)
class ResultRow:
    """A stored result as the institution sees it (name masked)."""

    admission_no: str
    name: str
    form: str
    parts: dict[str, float]
    total: float
    passed: bool


def sitting_results(
    engine: Engine, sitting_code: str, *, copies: Copies | None = None
) -> list[ResultRow]:
    """Stored results of a sitting, by admission number."""
    _, by_admission = copies or candidate_copies(engine, sitting_code)
    ids = {reg.id: (admission, view.form) for admission, (reg, view) in by_admission.items()}
    with Session(engine) as session:
        found = session.exec(
            select(Result, Candidate, Registration)
            .join(Registration, col(Registration.id) == col(Result.registration_id))
            .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
            .where(col(Result.registration_id).in_(list(ids)))
        )
        rows = [
            ResultRow(
                ids[reg.id][0],
                mask_name(person.name),
                ids[reg.id][1],
                result.part_scores,
                result.total,
                result.passed,
            )
            for result, person, reg in found
        ]
    return sorted(rows, key=lambda r: r.admission_no)


@dataclass(frozen=True)
class Change:
    """One candidate whose result a regrade changes."""

    admission_no: str
    before: dict[str, float]
    after: dict[str, float]
    passed_before: bool
    passed_after: bool
    certificate: str = ""
    """Serial of the level certificate the candidate holds from this sitting, if any."""
    certificate_status: CertificateStatus | None = None
    needs_publication: bool = False
    """A fail that becomes a pass after the pass list was published, with no certificate: the
    candidate was not on the published list, so a new publication must come first."""

    @property
    def crosses_pass_line(self) -> bool:
        return self.passed_before != self.passed_after

    @property
    def suspends(self) -> bool:
        """Applying it suspends the candidate's valid certificate (pass → fail)."""
        return (
            self.passed_before
            and not self.passed_after
            and self.certificate_status == CertificateStatus.VALID
        )


def regrade_diff(engine: Engine, sitting_code: str) -> list[Change]:
    """Who a regrade would change, from what to what, with their certificates (nothing is
    written). A stored result that can no longer be computed is left out, and kept."""
    prepared = candidate_copies(engine, sitting_code)
    sitting, copies = prepared
    stored = {r.admission_no: r for r in sitting_results(engine, sitting_code, copies=prepared)}
    _, scores = score_sitting(engine, sitting_code, copies=prepared)
    with Session(engine) as session:
        lock = result_lock(session, sitting)
        certs = certificates_of(session, [reg.id or 0 for reg, _ in copies.values()])
    changes = []
    for s in scores:
        old = stored.get(s.admission_no)
        if old is None or s.passed is None:
            continue
        if moved(old.parts, old.passed, s.parts, s.passed):
            cert = certs.get(copies[s.admission_no][0].id or 0)
            changes.append(
                Change(
                    s.admission_no,
                    old.parts,
                    s.parts,
                    old.passed,
                    s.passed,
                    cert.serial if cert else "",
                    cert.status if cert else None,
                    lock.published and s.passed and not old.passed and cert is None,
                )
            )
    return sorted(changes, key=lambda c: c.admission_no)
