"""分数等值 (service): each form's pass mark carried from the sitting's reference form, and the
sitting's pass rule.

Candidates of one sitting answer different forms of one blueprint, and the blueprint states
one pass mark per part. An equating run finds, part by part, the raw score on every other form
that stands where the pass mark stands on the reference form (:mod:`certify.grading.equating`),
from the graded scores of the sitting (:func:`certify.grading.service.score_sitting`, candidates
whose grading is complete):

* ``equipercentile`` — the forms went to comparable groups (forms handed out in rotation, the
  random-groups design): each form's score distribution, log-linear presmoothed to
  ``smoothing`` moments when asked, equated to the reference form's;
* ``tucker``, ``levine`` (linear), ``frequency-estimation``, ``chained`` (equipercentile) —
  the common-item non-equivalent-groups design: the items the form shares with the reference
  form in that part are the anchor (internal: their points count in both totals), which
  corrects for groups that differ in ability. A form that shares no item with the reference
  form cannot be equated this way and is refused by name.

* ``irt-true-score``, ``irt-observed-score`` — from the newest item parameters on the
  occupation and level's scale (``certify irt calibrate``), in points (each category stands
  for the score it was calibrated from): the θ where the form's test characteristic curve
  reaches a score, then the reference form's curve there; or both forms' whole-point score
  distributions in the population θ ~ N(0, 1), equated equipercentile. An item without
  parameters is refused by its bank code. Their standard errors are a parametric bootstrap
  over the items' parameters (drawn at their estimates with their standard errors).

A part whose questions are the same on a form as on the reference form (a shuffled order
aside) is one test: its conversion is the identity and its pass mark the stated one, whatever
the two groups scored. Scores are whole points on a table 0…the part's points (a fractional score, from partial
credit or a marked question, is rounded to the nearest point for the distributions only).
Standard errors come from the bootstrap (candidates drawn again within each form, seeded): the
standard deviation over the replications of every row of each conversion table and of the
equated pass mark itself (read from each replication's table, not by the delta method, which
fails where a lumpy part — a few marked questions of many points — leaves the table flat). A run
is stored as a new ``equating_run`` with a ``form_equating`` row per part and form; an earlier
run is never changed, and each run is audited.

The pass rule is a setting of the sitting, recorded and audited: ``raw`` (the default, today's
rule: every form's pass mark as the blueprint states it) or ``equated`` with the run whose pass
marks apply. It cannot change once the sitting's results are locked (a published pass list or
an issued certificate), because it would move decisions that were made public. Whichever rule
is in force, :func:`decisions` compares the two and counts the candidates whose decision
differs (decision consistency), which the exam report shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.grading.calibration import item_labels, scale_parameters
from certify.grading.equating import (
    AnchorGroup,
    Conversion,
    bootstrap,
    chained_equipercentile,
    equipercentile,
    equivalent,
    frequency_estimation,
    joint_table,
    linear_cineg,
    loglinear,
    loglinear_bivariate,
    observed_score,
    true_score,
)
from certify.grading.irt import CalibrationError, ItemParameters
from certify.grading.lock import result_lock
from certify.grading.service import CandidateScores, blueprint_of, score_sitting
from certify.grading.sheets import candidate_copies
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Error
from certify.registration.sittings import get_sitting
from schemas.papers import PaperView
from schemas.tables import EquatingRun, FormEquating, Sitting

IRT = ("irt-true-score", "irt-observed-score")
METHODS = ("equipercentile", "tucker", "levine", "frequency-estimation", "chained", *IRT)
ANCHORED = ("tucker", "levine", "frequency-estimation", "chained")
RULES = ("raw", "equated")
MINIMUM_CANDIDATES = 30
"""Fewer candidates on a form than this and its score distribution says too little to equate."""


class EquatingError(Error):
    """An equating that cannot be done, or a pass rule that cannot be set (nothing stored)."""

    code = "equating"


@dataclass(frozen=True)
class FormResult:
    part: str
    form: str
    candidates: int
    reference_candidates: int
    common_items: int
    pass_mark: float
    equivalent: float
    se: float | None
    table: list[tuple[float, float, float | None]]


@dataclass(frozen=True)
class EquatingSummary:
    run_id: int
    sitting: str
    method: str
    reference_form: str
    candidates: int
    forms: list[FormResult]
    scored: list[CandidateScores] = field(default_factory=list, repr=False)
    """The sitting's scores the run was computed from (for :func:`decisions`)."""


@dataclass
class Decisions:
    """Raw and equated pass decisions of the graded candidates of a sitting."""

    rule: str
    run_id: int | None
    candidates: int = 0
    both_pass: int = 0
    both_fail: int = 0
    raw_only: list[str] = field(default_factory=list)
    """Passed on raw scores, not on equated ones."""
    equated_only: list[str] = field(default_factory=list)

    @property
    def differ(self) -> int:
        return len(self.raw_only) + len(self.equated_only)


# --- the data of one part: each candidate's total and anchor score, by form -------------------


@dataclass
class _Part:
    name: str
    points: dict[str, float]  # the part's points on each form
    items: dict[str, set[int]]  # item versions of the part on each form
    pass_mark: float


def _parts(
    copies: Mapping[str, tuple[object, PaperView]], pass_marks: dict[str, float]
) -> list[_Part]:
    out: dict[str, _Part] = {}
    seen: set[str] = set()
    for _, view in copies.values():
        if view.form in seen:
            continue
        seen.add(view.form)
        for q in view.questions:
            part = out.setdefault(q.part, _Part(q.part, {}, {}, pass_marks[q.part]))
            part.points[view.form] = part.points.get(view.form, 0.0) + q.points
            part.items.setdefault(view.form, set()).add(q.item_version_pk)
    return [out[name] for name in pass_marks if name in out]


def _groups(
    part: _Part, form: str, reference: str, scores: list[CandidateScores]
) -> tuple[AnchorGroup, AnchorGroup, int]:
    common = part.items[form] & part.items[reference]
    groups = {}
    for name in (form, reference):
        mine = [s for s in scores if s.form == name]
        total = np.array([s.parts[part.name] for s in mine], dtype=np.float64)
        anchor = np.array([sum(s.questions[pk] for pk in common) for s in mine], dtype=np.float64)
        groups[name] = AnchorGroup(total, anchor)
    return groups[form], groups[reference], len(common)


def _equater(
    method: str, smoothing: int, top_x: int, top_y: int, anchor_top: int
) -> Callable[[np.ndarray, np.ndarray], Conversion]:
    """The equating of one form to the reference form from the two groups' (total, anchor)
    rows, as the bootstrap calls it again on every draw."""

    def run(x: np.ndarray, y: np.ndarray) -> Conversion:
        new, old = AnchorGroup(x[:, 0], x[:, 1]), AnchorGroup(y[:, 0], y[:, 1])
        if method in ("tucker", "levine"):
            return linear_cineg(new, old, method=method, top=top_x)
        if method == "equipercentile":
            fx = np.bincount(np.rint(x[:, 0]).astype(int), minlength=top_x + 1).astype(float)
            fy = np.bincount(np.rint(y[:, 0]).astype(int), minlength=top_y + 1).astype(float)
            if smoothing:
                fx, fy = loglinear(fx, smoothing), loglinear(fy, smoothing)
            return equipercentile(fx, fy)
        tx = joint_table(new, top_x, anchor_top)
        ty = joint_table(old, top_y, anchor_top)
        if smoothing:
            tx = loglinear_bivariate(tx, (smoothing, smoothing), min(2, smoothing))
            ty = loglinear_bivariate(ty, (smoothing, smoothing), min(2, smoothing))
        if method == "chained":
            return chained_equipercentile(tx, ty)
        return frequency_estimation(tx, ty)

    return run


def equate_sitting(
    engine: Engine,
    sitting_code: str,
    *,
    method: str = "equipercentile",
    reference: str | None = None,
    smoothing: int = 4,
    replications: int = 200,
    seed: int = 0,
    actor: str = "cli",
) -> EquatingSummary:
    """Equate every form of the sitting to the reference form (default: the first form in
    order), part by part, and store the run. Raises EquatingError, storing nothing, when a
    form has too few graded candidates, shares no items with the reference form under a
    common-item method, or its conversion cannot be computed."""
    if method not in METHODS:
        raise EquatingError(f"未知的等值方法 {method!r} / unknown method ({', '.join(METHODS)})")
    if smoothing < 0 or replications < 0:
        raise EquatingError("平滑阶数和重复次数不能为负 / degree and replications are not negative")
    copies_ = candidate_copies(engine, sitting_code)
    sitting, copies = copies_
    _, scored = score_sitting(engine, sitting_code, copies=copies_)
    complete = [s for s in scored if s.passed is not None]
    if not complete:
        raise EquatingError(f"{sitting_code}: 没有已评分的考生 / no graded candidates to equate")
    pass_marks = _pass_marks(engine, sitting)
    forms = sorted({s.form for s in complete})
    reference = reference or forms[0]
    if reference not in forms:
        raise EquatingError(
            f"{sitting_code}: 参照卷 {reference} 没有已评分的考生 / reference form {reference} has no "
            f"graded candidates (forms: {', '.join(forms)})"
        )
    by_form = {f: sum(s.form == f for s in complete) for f in forms}
    small = [f"{f} ({n})" for f, n in by_form.items() if n < MINIMUM_CANDIDATES]
    if small and method not in IRT:  # IRT methods read the items' parameters, not the groups
        raise EquatingError(
            f"{sitting_code}: 每套试卷至少需要 {MINIMUM_CANDIDATES} 名已评分考生 / every form needs "
            f"at least {MINIMUM_CANDIDATES} graded candidates to be equated: {', '.join(small)}"
        )
    pool: dict[int, tuple[ItemParameters, list[float]]] = {}
    if method in IRT:
        calibration, pool = scale_parameters(engine, sitting.occupation, sitting.level)
        if calibration is None:
            raise EquatingError(
                f"{sitting_code}: {sitting.occupation} {sitting.level} 的试题尚未标定 / the items are "
                f"not calibrated: {method} needs item parameters (certify irt calibrate)"
            )
    results: list[FormResult] = []
    for part in _parts(copies, pass_marks):
        for form in forms:
            if form == reference:
                continue
            if method in IRT:
                results.append(
                    _equate_form_irt(
                        engine, part, form, reference, complete, method, pool, replications, seed
                    )
                )
                continue
            results.append(
                _equate_form(part, form, reference, complete, method, smoothing, replications, seed)
            )
    with transaction(engine) as session:
        run = EquatingRun(
            sitting_id=sitting.id or 0,
            method=method,
            reference_form=reference,
            smoothing=smoothing,
            replications=replications,
            seed=seed,
            candidates=len(complete),
            actor=actor,
        )
        session.add(run)
        session.flush()
        for r in results:
            session.add(
                FormEquating(
                    run_id=run.id or 0,
                    part=r.part,
                    form=r.form,
                    candidates=r.candidates,
                    reference_candidates=r.reference_candidates,
                    common_items=r.common_items,
                    pass_mark=r.pass_mark,
                    equivalent=r.equivalent,
                    se=r.se,
                    table=[[x, e, s if s is not None else -1.0] for x, e, s in r.table],
                )
            )
        audit_log.append(
            session,
            actor=actor,
            action="equate",
            subject=sitting_code,
            detail={
                "run": run.id,
                "method": method,
                "reference": reference,
                "equivalents": {f"{r.part}/{r.form}": round(r.equivalent, 4) for r in results},
            },
        )
        run_id = run.id or 0
    return EquatingSummary(run_id, sitting_code, method, reference, len(complete), results, scored)


def _equate_form(
    part: _Part,
    form: str,
    reference: str,
    scores: list[CandidateScores],
    method: str,
    smoothing: int,
    replications: int,
    seed: int,
) -> FormResult:
    new, old, common = _groups(part, form, reference, scores)
    where = f"{part.name} {form} → {reference}"
    if part.items[form] == part.items[reference]:
        return _same_test(part, form, len(new.total), len(old.total), replications)
    if method in ANCHORED and common == 0:
        raise EquatingError(
            f"{where}: 两套试卷在该部分没有共同题 / the forms share no items in this part: a "
            f"common-item method ({method}) has no anchor; use equipercentile (forms handed out "
            "in rotation) or assemble the forms with common items"
        )
    top_x = int(np.ceil(part.points[form] - 1e-9))
    top_y = int(np.ceil(part.points[reference] - 1e-9))
    anchor_top = int(np.ceil(max(new.anchor.max(initial=0), old.anchor.max(initial=0)) + 1e-9))
    equate = _equater(method, smoothing, top_x, top_y, max(anchor_top, 1))
    rows = [np.column_stack([g.total, g.anchor]) for g in (new, old)]
    try:
        conv = equate(*rows)
        mark = equivalent(conv, part.pass_mark)
        draws = (
            bootstrap(equate, rows, replications=replications, seed=seed)
            if replications >= 2
            else []
        )
        return _result(part, form, len(new.total), len(old.total), common, conv, mark, draws)
    except CalibrationError as exc:
        raise EquatingError(f"{where}: {exc}") from exc


def _result(
    part: _Part,
    form: str,
    n: int,
    n_ref: int,
    common: int,
    conv: Conversion,
    mark: float,
    draws: list[Conversion],
) -> FormResult:
    """The form's result: the conversion, and the standard deviations over the bootstrap's
    replications of every row and of the equated pass mark (none without replications)."""
    se = np.std(np.vstack([d.equivalents for d in draws]), axis=0, ddof=1) if draws else None
    mark_se = (
        float(np.std([equivalent(d, part.pass_mark) for d in draws], ddof=1)) if draws else None
    )
    return FormResult(
        part=part.name,
        form=form,
        candidates=n,
        reference_candidates=n_ref,
        common_items=common,
        pass_mark=part.pass_mark,
        equivalent=mark,
        se=mark_se,
        table=[
            (float(x), float(e), None if se is None else float(v))
            for x, e, v in zip(
                conv.scores,
                conv.equivalents,
                se if se is not None else np.zeros_like(conv.scores),
                strict=True,
            )
        ],
    )


def _same_test(part: _Part, form: str, n: int, n_ref: int, replications: int) -> FormResult:
    """The same questions on both papers: one test, whose scores mean the same on both."""
    top = int(np.ceil(part.points[form] - 1e-9))
    se = 0.0 if replications >= 2 else None
    return FormResult(
        part=part.name,
        form=form,
        candidates=n,
        reference_candidates=n_ref,
        common_items=len(part.items[form]),
        pass_mark=part.pass_mark,
        equivalent=part.pass_mark,
        se=se,
        table=[(float(x), float(x), se) for x in range(top + 1)],
    )


def _equate_form_irt(
    engine: Engine,
    part: _Part,
    form: str,
    reference: str,
    scores: list[CandidateScores],
    method: str,
    pool: dict[int, tuple[ItemParameters, list[float]]],
    replications: int,
    seed: int,
) -> FormResult:
    """IRT true-score or observed-score equating (θ ~ N(0, 1) on the scale) of the part's
    questions on ``form`` to those on ``reference``, in points, from the newest parameters on
    the scale. The standard errors are a parametric bootstrap: every item's parameters drawn
    from normal distributions at their estimates with their standard errors (independently;
    one draw per item version shared by both forms), the equating done again on each draw."""
    where = f"{part.name} {form} → {reference}"
    mine, theirs = sorted(part.items[form]), sorted(part.items[reference])
    missing = [pk for pk in sorted(set(mine) | set(theirs)) if pk not in pool]
    if missing:
        with Session(engine) as session:
            labels = item_labels(session, missing)
        raise EquatingError(
            f"{where}: 未标定的试题 / items without calibrated parameters: "
            f"{', '.join(labels.get(pk, str(pk)) for pk in missing)} (certify irt calibrate)"
        )
    counted = {name: sum(s.form == name for s in scores) for name in (form, reference)}
    common = len(part.items[form] & part.items[reference])
    if part.items[form] == part.items[reference]:
        return _same_test(part, form, counted[form], counted[reference], replications)

    def conversion(drawn: dict[int, ItemParameters]) -> Conversion:
        x = [drawn[pk] for pk in mine]
        y = [drawn[pk] for pk in theirs]
        px = [pool[pk][1] for pk in mine]
        py = [pool[pk][1] for pk in theirs]
        if method == "irt-true-score":
            return true_score(x, y, points_x=px, points_y=py)
        return observed_score(x, y, points_x=px, points_y=py)

    estimates = {pk: pool[pk][0] for pk in set(mine) | set(theirs)}
    try:
        conv = conversion(estimates)
        mark = equivalent(conv, part.pass_mark)
        rng = np.random.default_rng(seed)
        draws = (
            [
                conversion({pk: _drawn(it, rng) for pk, it in estimates.items()})
                for _ in range(replications)
            ]
            if replications >= 2
            else []
        )
        return _result(part, form, counted[form], counted[reference], common, conv, mark, draws)
    except CalibrationError as exc:
        raise EquatingError(f"{where}: {exc}") from exc


def _drawn(item: ItemParameters, rng: np.random.Generator) -> ItemParameters:
    """One parametric bootstrap draw of an item's parameters (a missing standard error: the
    estimate as it is); the slope stays positive and the guessing in [0, 0.5]."""

    def jitter(value: float, se: float) -> float:
        return value + float(rng.normal()) * se if np.isfinite(se) else value

    se_d = item.se_d if len(item.se_d) == len(item.d) else (float("nan"),) * len(item.d)
    return ItemParameters(
        item.model,
        max(jitter(item.a, item.se_a), 0.05),
        tuple(jitter(d, s) for d, s in zip(item.d, se_d, strict=True)),
        float(np.clip(jitter(item.c, item.se_c), 0.0, 0.5)) if item.model == "3pl" else item.c,
    )


def _pass_marks(engine: Engine, sitting: Sitting) -> dict[str, float]:
    return {p.part: p.pass_mark for p in blueprint_of(engine, sitting.blueprint_id).parts}


# --- stored runs and the pass rule -------------------------------------------------------------


def stored_run(session: Session, run_id: int) -> tuple[EquatingRun, list[FormEquating]]:
    run = session.get(EquatingRun, run_id)
    if run is None:
        raise EquatingError(f"没有第 {run_id} 次等值 / no equating run {run_id}")
    rows = session.exec(
        select(FormEquating)
        .where(FormEquating.run_id == run_id)
        .order_by(col(FormEquating.part), col(FormEquating.form))
    ).all()
    return run, list(rows)


def set_pass_rule(
    engine: Engine, sitting_code: str, rule: str, *, run_id: int | None = None, actor: str = "cli"
) -> Sitting:
    """Record the sitting's pass rule (audited). ``equated`` needs a run of this sitting (the
    newest when ``run_id`` is None). Refused once the results are locked."""
    if rule not in RULES:
        raise EquatingError(f"未知的合格判定规则 {rule!r} / unknown pass rule (raw, equated)")
    with transaction(engine) as session:
        sitting = get_sitting(session, sitting_code)
        lock = result_lock(session, sitting, for_update=True)
        if lock:
            zh_why, en_why = lock.why()
            raise EquatingError(
                f"{sitting_code} {zh_why}，合格判定规则不能再改 / the pass rule cannot change "
                f"because {en_why}: it would move decisions already made public"
            )
        chosen: int | None = None
        if rule == "equated":
            query = select(EquatingRun).where(EquatingRun.sitting_id == sitting.id)
            if run_id is not None:
                query = query.where(EquatingRun.id == run_id)
            run = session.exec(query.order_by(col(EquatingRun.id).desc())).first()
            if run is None:
                raise EquatingError(
                    f"{sitting_code}: "
                    + (
                        f"第 {run_id} 次等值不属于本场次 / equating run {run_id} is not of this sitting"
                        if run_id is not None
                        else "尚未等值 / the sitting has no equating run (certify irt equate)"
                    )
                )
            chosen = run.id
        before = (sitting.pass_rule, sitting.equating_run_id)
        sitting.pass_rule = rule
        sitting.equating_run_id = chosen
        session.add(sitting)
        audit_log.append(
            session,
            actor=actor,
            action="pass-rule",
            subject=sitting_code,
            detail={"rule": rule, "run": chosen, "before": {"rule": before[0], "run": before[1]}},
        )
        session.flush()
        session.expunge(sitting)
    return sitting


def decisions(
    engine: Engine,
    sitting_code: str,
    *,
    scored: list[CandidateScores] | None = None,
    run_id: int | None = None,
) -> Decisions | None:
    """Each graded candidate's decision under the raw and the equated rule, from run
    ``run_id`` of the sitting when given, else the run in force (or, under the raw rule, the
    sitting's newest run); None when it has none. ``scored``: the sitting's scores when the
    caller has them already. Raises EquatingError for a run of another sitting."""
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        if run_id is not None:
            run = session.get(EquatingRun, run_id)
            if run is None or run.sitting_id != sitting.id:
                raise EquatingError(
                    f"{sitting_code}: 第 {run_id} 次等值不属于本场次 / equating run {run_id} is "
                    "not of this sitting"
                )
        else:
            run_id = sitting.equating_run_id
        if run_id is None:
            run_id = session.exec(
                select(EquatingRun.id)
                .where(EquatingRun.sitting_id == sitting.id)
                .order_by(col(EquatingRun.id).desc())
            ).first()
        if run_id is None:
            return None
        _, rows = stored_run(session, run_id)
    marks = {(r.part, r.form): r.equivalent for r in rows}
    if scored is None:
        _, scored = score_sitting(engine, sitting_code)
    raw_marks = _pass_marks(engine, sitting)
    out = Decisions(sitting.pass_rule, run_id)
    for s in scored:
        if s.passed is None:
            continue
        raw = all(s.parts[p] >= m - 1e-9 for p, m in raw_marks.items())
        equated = all(s.parts[p] >= marks.get((p, s.form), m) - 1e-9 for p, m in raw_marks.items())
        out.candidates += 1
        if raw and equated:
            out.both_pass += 1
        elif not raw and not equated:
            out.both_fail += 1
        elif raw:
            out.raw_only.append(s.admission_no)
        else:
            out.equated_only.append(s.admission_no)
    return out
