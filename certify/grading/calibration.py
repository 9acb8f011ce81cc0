"""项目反应理论标定 (service): calibrate the items of one or more sittings and keep the result.

The scores are the graded ones (:func:`certify.grading.service.score_sitting`, candidates whose
grading is complete), one matrix over every item version of the sittings' forms, NaN where an
item was not on a candidate's paper, so one calibration spans all forms through their common
items. Each item's distinct scores, in order, are its categories (0 and 2 points → categories
0 and 1; 0, 1, 2, 3 marks → 0…3): an item with two is calibrated under the dichotomous model
asked for (2PL by default; 1PL or 3PL), one with more under the GPCM. The run and every item's
parameters, standard errors, categories and fit (S-X²) are stored as a new
``calibration_run`` — an earlier calibration is never changed — and audited.

All sittings of a run must be of one occupation and level (one scale); data that cannot be
calibrated is refused naming the items by bank code and version, and nothing is stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.grading.irt import CalibrationError, calibrate, item_fit
from certify.grading.service import score_sitting
from certify.grading.sheets import candidate_copies
from certify.infra import audit_log
from schemas.tables import CalibrationRun, Item, ItemCalibration, ItemVersion

DICHOTOMOUS = ("1pl", "2pl", "3pl")


@dataclass(frozen=True)
class CalibratedItem:
    """One item version's stored parameters, as the commands show them."""

    label: str
    model: str
    a: float
    b: tuple[float, ...]
    c: float
    se_a: float | None
    answers: int
    fit_p: float | None
    misfit: bool


@dataclass(frozen=True)
class CalibrationSummary:
    run_id: int
    occupation: str
    level: str
    sittings: list[str]
    candidates: int
    log_likelihood: float
    iterations: int
    items: list[CalibratedItem]


def _labels(session: Session, pks: Sequence[int]) -> dict[int, str]:
    rows = session.exec(
        select(ItemVersion.id, Item.code, ItemVersion.version)
        .join(Item, col(Item.id) == col(ItemVersion.item_id))
        .where(col(ItemVersion.id).in_(list(pks)))
    ).all()
    return {pk: f"{code} v{version}" for pk, code, version in rows if pk is not None}


def _named(error: CalibrationError, labels: list[str]) -> CalibrationError:
    """The core's message with "item N" replaced by the bank code and version."""
    text = re.sub(
        r"\bitem (\d+)\b",
        lambda m: (
            f"item {labels[int(m.group(1)) - 1]}"
            if 0 < int(m.group(1)) <= len(labels)
            else m.group(0)
        ),
        str(error),
    )
    return CalibrationError(text)


def calibrate_sittings(
    engine: Engine, codes: Sequence[str], *, dichotomous: str = "2pl", actor: str = "cli"
) -> CalibrationSummary:
    """Calibrate the graded answers of ``codes`` and store the run; raises CalibrationError
    (naming items or sittings) and SittingNotFound, storing nothing."""
    if dichotomous not in DICHOTOMOUS:
        raise CalibrationError(
            f"未知的二值模型 {dichotomous!r} / unknown model for items scored right or wrong "
            f"(choose {', '.join(DICHOTOMOUS)})"
        )
    if not codes:
        raise CalibrationError("请指定考试 / name at least one sitting")
    rows: list[dict[int, float]] = []
    scale: set[tuple[str, str]] = set()
    for code in dict.fromkeys(codes):
        prepared = candidate_copies(engine, code)
        sitting = prepared[0]
        scale.add((sitting.occupation, sitting.level))
        _, scores = score_sitting(engine, code, copies=prepared)
        rows += [s.questions for s in scores if s.passed is not None]
    if len(scale) > 1:
        raise CalibrationError(
            "这些考试不属于同一职业和等级 / the sittings are of different occupations or levels "
            f"({', '.join(sorted(f'{o} {lv}' for o, lv in scale))}): one calibration is one scale"
        )
    occupation, level = scale.pop()
    pks = sorted({pk for r in rows for pk in r})
    if not rows or not pks:
        raise CalibrationError("没有已评分的作答 / no graded answers to calibrate")
    column = {pk: i for i, pk in enumerate(pks)}
    points = np.full((len(rows), len(pks)), np.nan)
    for r, answers in enumerate(rows):
        for pk, value in answers.items():
            points[r, column[pk]] = round(value, 6)
    categories = np.full_like(points, np.nan)
    values: list[list[float]] = []
    for i in range(len(pks)):
        seen = ~np.isnan(points[:, i])
        distinct = np.unique(points[seen, i])
        values.append([float(v) for v in distinct])
        categories[seen, i] = np.searchsorted(distinct, points[seen, i])
    models = [dichotomous if len(v) <= 2 else "gpcm" for v in values]
    with Session(engine) as session:
        labels = _labels(session, pks)
    names = [labels.get(pk, str(pk)) for pk in pks]
    try:
        result = calibrate(categories, models)
        fit = item_fit(categories, result.items)
    except CalibrationError as error:
        raise _named(error, names) from None
    answered = (~np.isnan(categories)).sum(axis=0)
    with Session(engine) as session:
        run = CalibrationRun(
            occupation=occupation,
            level=level,
            sittings=list(dict.fromkeys(codes)),
            candidates=len(rows),
            items=len(pks),
            log_likelihood=result.log_likelihood,
            iterations=result.iterations,
            actor=actor,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        for i, (pk, it) in enumerate(zip(pks, result.items, strict=True)):
            f = fit[i]
            session.add(
                ItemCalibration(
                    run_id=run.id,
                    item_version_id=pk,
                    model=it.model,
                    a=it.a,
                    d=list(it.d),
                    c=it.c,
                    se={
                        "a": _finite(it.se_a),
                        "d": [_finite(v) for v in it.se_d],
                        "c": _finite(it.se_c),
                    },
                    scores=values[i],
                    answers=int(answered[i]),
                    fit_s_x2=_finite(f.s_x2),
                    fit_df=f.df if np.isfinite(f.s_x2) else None,
                    fit_p=_finite(f.p),
                    misfit=f.misfit,
                )
            )
        audit_log.append(
            session,
            actor=actor,
            action="irt.calibrate",
            subject=f"run {run.id}",
            detail={
                "sittings": run.sittings,
                "candidates": run.candidates,
                "items": run.items,
                "misfit": [names[i] for i, f in enumerate(fit) if f.misfit],
            },
        )
        session.commit()
        run_id = run.id
    return CalibrationSummary(
        run_id=run_id,
        occupation=occupation,
        level=level,
        sittings=list(dict.fromkeys(codes)),
        candidates=len(rows),
        log_likelihood=result.log_likelihood,
        iterations=result.iterations,
        items=[
            CalibratedItem(
                label=names[i],
                model=it.model,
                a=it.a,
                b=it.b,
                c=it.c,
                se_a=_finite(it.se_a),
                answers=int(answered[i]),
                fit_p=_finite(fit[i].p),
                misfit=fit[i].misfit,
            )
            for i, it in enumerate(result.items)
        ],
    )


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def latest_calibrations(
    engine: Engine, *, occupation: str | None = None, level: str | None = None
) -> list[tuple[CalibrationRun, list[CalibratedItem]]]:
    """The newest run of each occupation × level (filtered as asked), with its items."""
    with Session(engine) as session:
        query = select(CalibrationRun).order_by(col(CalibrationRun.id).desc())
        if occupation:
            query = query.where(CalibrationRun.occupation == occupation)
        if level:
            query = query.where(CalibrationRun.level == level)
        newest: dict[tuple[str, str], CalibrationRun] = {}
        for run in session.exec(query):
            newest.setdefault((run.occupation, run.level), run)
        out = []
        for run in sorted(newest.values(), key=lambda r: (r.occupation, r.level)):
            stored = session.exec(
                select(ItemCalibration)
                .where(ItemCalibration.run_id == run.id)
                .order_by(col(ItemCalibration.item_version_id))
            ).all()
            labels = _labels(session, [s.item_version_id for s in stored])
            items = [
                CalibratedItem(
                    label=labels.get(s.item_version_id, str(s.item_version_id)),
                    model=s.model,
                    a=s.a,
                    b=tuple(-dv / s.a for dv in s.d),
                    c=s.c,
                    se_a=s.se.get("a"),
                    answers=s.answers,
                    fit_p=s.fit_p,
                    misfit=s.misfit,
                )
                for s in stored
            ]
            session.expunge(run)
            out.append((run, items))
    return out
