"""试题分析与报告: statistics, fairness and similarity of a sitting, for the report and exports.

Scores come from :func:`certify.grading.service.score_sitting` (recomputed from raw answers and
marks). Items of all forms share one matrix, NaN where an item was not on a candidate's paper,
so the statistics of an item are over the candidates who had it. Answer similarity is checked
within each form, on the choice questions in canonical letters (copying across different forms
or shuffled copies shows only on shared items).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.grading.calibration import misfitting, scale_parameters
from certify.grading.fairness import compare_forms
from certify.grading.form_equating import decisions, stored_run
from certify.grading.irt import abilities, information
from certify.grading.scoring import encode_letters, encode_true_false
from certify.grading.service import Answers, CandidateScores, score_sitting, sitting_answers
from certify.grading.sheets import candidate_copies
from certify.grading.similarity import similar_pairs
from certify.grading.statistics import item_statistics
from certify.infra.gcpause import gc_paused
from certify.infra.tabular import write_table
from question_bank.sealing import check_keys_released
from question_bank.shuffle import to_canonical
from schemas.blueprint import Blueprint as BlueprintSpec
from schemas.blueprint import PartSpec
from schemas.enums import ItemType
from schemas.papers import PaperQuestion, PaperView
from schemas.reference import LEVEL_NAMES_ZH, get_occupation
from schemas.results import (
    EquatedForm,
    EquatingReport,
    ExamReportData,
    FormInformation,
    FormRow,
    IrtSummary,
    ItemRow,
    PairRow,
    PartSummary,
)
from schemas.tables import Blueprint, ItemVersion, Registration, Response

SIMILARITY_THRESHOLD = 5.0


def _clean(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


@gc_paused()
def exam_report(engine: Engine, sitting_code: str) -> ExamReportData:
    """Everything the statistics report shows, computed from the sitting's scored candidates."""
    prepared = candidate_copies(engine, sitting_code)
    sitting, copies = prepared
    answers = sitting_answers(engine, [reg.id or 0 for reg, _ in copies.values()])
    _, scores = score_sitting(engine, sitting_code, copies=prepared, answers=answers)
    scored = [s for s in scores if s.passed is not None]
    with Session(engine) as session:
        row = session.get(Blueprint, sitting.blueprint_id)
        assert row is not None
        bp = BlueprintSpec.model_validate({k: v for k, v in row.spec.items() if k != "_hash"})
        versions = {v.id: v for v in session.exec(select(ItemVersion))}
    items = sorted({pk for s in scored for pk in s.questions})
    items_meta = {q.item_version_pk: q for _, view in copies.values() for q in view.questions}
    matrix = np.full((len(scored), len(items)), np.nan)
    column = {pk: i for i, pk in enumerate(items)}
    for r, s in enumerate(scored):
        for pk, value in s.questions.items():
            matrix[r, column[pk]] = value
    maxima = np.array([items_meta[pk].points for pk in items])
    rows: list[ItemRow] = []
    cic = er = se = 0.0
    kr20: float | None = None
    if len(scored) >= 2 and len(items) >= 2:
        stats = item_statistics(matrix, maxima)
        flags = stats.flags()
        cic, er, se, kr20 = _reliability(matrix, maxima, np.array([s.form for s in scored]))
        for i, pk in enumerate(items):
            q = items_meta[pk]
            rows.append(
                ItemRow(
                    label=f"{q.item_id} v{versions[pk].version}",
                    item_id=q.item_id,
                    type=q.type,
                    max_points=q.points,
                    attempts=int(stats.attempts[i]),
                    facility=float(stats.facility[i]),
                    sd=float(stats.sd[i]),
                    discrimination=_clean(stats.discrimination[i]),
                    efficiency=_clean(stats.discriminative_efficiency[i]),
                    intended_weight=float(stats.intended_weight[i]),
                    effective_weight=_clean(stats.effective_weight[i]),
                    flags=flags[i],
                )
            )
    totals = np.array([sum(s.parts.values()) for s in scored])
    forms = np.array([s.form for s in scored])
    fairness = compare_forms(totals, forms) if len(scored) else None
    occ = get_occupation(sitting.occupation)
    return ExamReportData(
        title=bp.name,
        sitting=sitting_code,
        occupation_name=occ.name_zh,
        level_name=LEVEL_NAMES_ZH[bp.level],
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        candidates=len(scored),
        passed=sum(bool(s.passed) for s in scored),
        parts=[_part(p, scored) for p in bp.parts],
        items=rows,
        cic=float(cic),
        error_ratio=float(er),
        standard_error=float(se),
        kr20=kr20,
        forms=[
            FormRow(
                form=f.form,
                candidates=f.candidates,
                mean=f.mean,
                sd=f.sd if np.isfinite(f.sd) else 0.0,
            )
            for f in (fairness.forms if fairness else [])
        ],
        fairness_statistic=_clean(fairness.statistic) if fairness else None,
        fairness_p=_clean(fairness.p_value) if fairness else None,
        fairness_warning=bool(fairness and fairness.warning),
        similar_pairs=_similar(copies, answers),
        similarity_threshold=SIMILARITY_THRESHOLD,
        irt=_irt(engine, sitting.occupation, sitting.level, scored),
        equating=_equating(engine, sitting_code, scored),
    )


def _equating(
    engine: Engine, sitting_code: str, scored: list[CandidateScores]
) -> EquatingReport | None:
    found = decisions(engine, sitting_code, scored=scored)
    if found is None or found.run_id is None:
        return None
    with Session(engine) as session:
        run, rows = stored_run(session, found.run_id)
    return EquatingReport(
        run_id=found.run_id,
        method=run.method,
        reference_form=run.reference_form,
        rule=found.rule,
        forms=[
            EquatedForm(
                part=r.part,
                form=r.form,
                candidates=r.candidates,
                common_items=r.common_items,
                pass_mark=r.pass_mark,
                equivalent=r.equivalent,
                se=r.se,
            )
            for r in rows
        ],
        candidates=found.candidates,
        both_pass=found.both_pass,
        both_fail=found.both_fail,
        raw_only=len(found.raw_only),
        equated_only=len(found.equated_only),
    )


IRT_THETA = np.linspace(-4.0, 4.0, 41)


def _irt(
    engine: Engine, occupation: str, level: str, scored: list[CandidateScores]
) -> IrtSummary | None:
    """Each form's test information and its candidates' EAP abilities under the newest
    calibration of the sitting's scale, for the forms whose every item it has calibrated."""
    run, pool = scale_parameters(engine, occupation, level)
    if run is None or run.id is None:
        return None
    by_form: dict[str, list[CandidateScores]] = {}
    for s in scored:
        by_form.setdefault(s.form, []).append(s)
    forms = []
    for form, people in sorted(by_form.items()):
        pks = sorted({pk for s in people for pk in s.questions})
        if not pks or any(pk not in pool for pk in pks):
            continue
        params = [pool[pk][0] for pk in pks]
        x = np.full((len(people), len(pks)), np.nan)
        for r, s in enumerate(people):
            for c, pk in enumerate(pks):
                value = s.questions.get(pk)
                stood = pool[pk][1]
                if value is not None and round(value, 6) in stood:
                    x[r, c] = stood.index(round(value, 6))
        found = abilities(x, params)
        forms.append(
            FormInformation(
                form=form,
                information=[float(v) for v in information(params, IRT_THETA).sum(axis=0)],
                candidates=len(people),
                ability_mean=float(found.theta.mean()),
                ability_se=float(found.se.mean()),
            )
        )
    if not forms:
        return None
    on_forms = sorted({pk for s in scored for pk in s.questions})
    return IrtSummary(
        run_id=run.id,
        base_run_id=run.base_run_id,
        theta=[float(t) for t in IRT_THETA],
        forms=forms,
        misfits=misfitting(engine, occupation, level, on_forms),
    )


def _reliability(
    matrix: np.ndarray, maxima: np.ndarray, forms: np.ndarray
) -> tuple[float, float, float, float | None]:
    """Whole-test CIC, ER, SE and KR-20: per form (where every item is answered or not on the
    paper), then averaged with the forms' candidate counts as weights. Parallel forms measure
    the same thing, but no single covariance matrix spans items that never met."""
    figures, weights = [], []
    for form in sorted(set(forms.tolist())):
        rows = matrix[forms == form]
        on_form = ~np.isnan(rows).all(axis=0)
        if len(rows) < 2 or on_form.sum() < 2:
            continue
        s = item_statistics(rows[:, on_form], maxima[on_form])
        figures.append((s.cic, s.error_ratio, s.standard_error, s.kr20))
        weights.append(len(rows))
    if not figures:
        return 0.0, 0.0, 0.0, None
    mean = np.average(np.array(figures, dtype=float), axis=0, weights=weights)
    return float(mean[0]), float(mean[1]), float(mean[2]), _clean(float(mean[3]))


def _part(spec: PartSpec, scored: list[CandidateScores]) -> PartSummary:
    values = [s.parts[spec.part] for s in scored]
    return PartSummary(
        part=spec.part,
        title=spec.title,
        total_points=spec.total_points,
        pass_mark=spec.pass_mark,
        mean=float(np.mean(values)) if values else 0.0,
        sd=float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        passed=sum(v >= spec.pass_mark for v in values),
        totals=values,
    )


def _responses_of(copies: dict[str, tuple[Registration, PaperView]]) -> Any:
    """The raw responses of this sitting's candidates only."""
    ids = [reg.id for reg, _ in copies.values()]
    return select(Response).where(col(Response.registration_id).in_(ids))


def _similar(copies: dict[str, tuple[Registration, PaperView]], raw: Answers) -> list[PairRow]:
    """Flagged pairs within each form, on canonical choice answers."""
    pairs: list[PairRow] = []
    by_form: dict[str, list[str]] = {}
    for admission, (_, view) in copies.items():
        by_form.setdefault(view.code, []).append(admission)
    for admissions in by_form.values():
        admissions.sort()
        base = copies[admissions[0]][1]
        choice = [
            q
            for q in sorted(base.questions, key=lambda q: q.item_version_pk)
            if q.type in (ItemType.SINGLE, ItemType.MULTIPLE, ItemType.TRUE_FALSE)
        ]
        if len(admissions) < 2 or not choice:
            continue
        codes = np.zeros((len(admissions), len(choice)), dtype=np.int64)
        for r, admission in enumerate(admissions):
            reg, view = copies[admission]
            answers = raw.get(reg.id or 0, {})
            canonical = to_canonical(
                view,
                {
                    q.number: answers.get(q.item_version_pk, "")
                    for q in view.questions
                    if q.type is not ItemType.SUBJECTIVE
                },
            )
            for c, q in enumerate(choice):
                text = canonical.get(q.item_version_pk, "")
                codes[r, c] = (
                    encode_true_false(text)
                    if q.type is ItemType.TRUE_FALSE
                    else encode_letters(text)
                )
        keys = np.array([_key_mask(q) for q in choice], dtype=np.int64)
        for p in similar_pairs(codes, keys, threshold=SIMILARITY_THRESHOLD):
            pairs.append(
                PairRow(
                    a=admissions[p.a],
                    b=admissions[p.b],
                    z=p.z,
                    identical_wrong=p.identical_wrong,
                    both_wrong=p.both_wrong,
                    expected=p.expected,
                )
            )
    return sorted(pairs, key=lambda p: -p.z)


def _key_mask(q: PaperQuestion) -> int:
    """The key of a printed question in canonical letters, as a bitmask."""
    if q.type is ItemType.TRUE_FALSE:
        return encode_true_false(q.key)
    return encode_letters("".join(q.option_map.get(c, c) for c in q.key))


RESPONSE_COLUMNS = [
    "admission_no",
    "form",
    "number",
    "item_id",
    "item_version",
    "type",
    "response",
    "canonical",
    "key_printed",
    "points",
    "score",
]


def export_responses(engine: Engine, sitting_code: str, path: Path) -> int:
    """Every response and score, one row per candidate and question, as CSV (UTF-8 with BOM,
    through the one table writer: an answer written like a formula stays text). Each row
    carries the question's key: raises KeysWithheld while a sealed paper's session runs."""
    prepared = candidate_copies(engine, sitting_code)
    copies = prepared[1]
    with Session(engine) as session:
        for code in sorted({view.code for _, view in copies.values()}):
            check_keys_released(session, code)
    _, scores = score_sitting(engine, sitting_code, copies=prepared)
    by_admission = {s.admission_no: s for s in scores}
    with Session(engine) as session:
        raw = {
            (r.registration_id, r.item_version_id): r.raw
            for r in session.exec(_responses_of(copies))
        }
    rows: list[list[Any]] = []
    for admission in sorted(copies):
        reg, view = copies[admission]
        canonical = to_canonical(
            view,
            {
                q.number: raw.get((reg.id or 0, q.item_version_pk), "")
                for q in view.questions
                if q.type is not ItemType.SUBJECTIVE
            },
        )
        for q in view.questions:
            score = by_admission[admission].questions.get(q.item_version_pk)
            rows.append(
                [
                    admission,
                    view.form,
                    q.number,
                    q.item_id,
                    q.item_version,
                    q.type.value,
                    raw.get((reg.id or 0, q.item_version_pk), ""),
                    canonical.get(q.item_version_pk, ""),
                    q.key,
                    q.points,
                    None if score is None else round(score, 6),
                ]
            )
    write_table(path, RESPONSE_COLUMNS, rows, sheet="作答明细", fmt="csv")
    return len(rows)
