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
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.grading.irt import CalibrationError, ItemParameters, calibrate, item_fit
from certify.grading.linking import METHODS, Linking, link, transform
from certify.grading.service import score_sitting
from certify.grading.sheets import candidate_copies
from certify.infra import audit_log
from certify.infra.tabular import write_table
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
    base_run_id: int | None = None
    linking: Linking | None = None
    common: int = 0
    drifting: tuple[str, ...] = ()


def item_labels(session: Session, pks: Sequence[int]) -> dict[int, str]:
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


def _scale_pool(
    session: Session, occupation: str, level: str, base: int | None
) -> tuple[CalibrationRun | None, dict[int, ItemCalibration]]:
    """The base run of the scale (``base``, else the first base run of this occupation and
    level) and the newest parameters on its scale of every item version calibrated on it."""
    if base is not None:
        found = session.get(CalibrationRun, base)
        if found is None or (found.occupation, found.level) != (occupation, level):
            raise CalibrationError(
                f"没有此职业和等级的标定 run {base} / no calibration run {base} of {occupation} "
                f"{level} to take as the base scale"
            )
        base_run: CalibrationRun | None = (
            session.get(CalibrationRun, found.base_run_id) if found.base_run_id else found
        )
    else:
        base_run = session.exec(
            select(CalibrationRun)
            .where(CalibrationRun.occupation == occupation, CalibrationRun.level == level)
            .where(col(CalibrationRun.base_run_id).is_(None))
            .order_by(col(CalibrationRun.id))
        ).first()
    if base_run is None:
        return None, {}
    runs = session.exec(
        select(CalibrationRun.id).where(
            (col(CalibrationRun.id) == base_run.id)
            | (col(CalibrationRun.base_run_id) == base_run.id)
        )
    ).all()
    pool: dict[int, ItemCalibration] = {}
    for row in session.exec(
        select(ItemCalibration)
        .where(col(ItemCalibration.run_id).in_(list(runs)))
        .order_by(col(ItemCalibration.run_id))
    ):
        pool[row.item_version_id] = row  # the newest run last: it wins
    return base_run, pool


@dataclass(frozen=True)
class ResponseMatrix:
    """The graded answers of one or more sittings as categories: one row per candidate whose
    grading is complete, one column per item version (``pks``), NaN where the item was not on
    the candidate's paper; ``values[i]`` are the scores column i's categories stand for."""

    occupation: str
    level: str
    pks: list[int]
    categories: np.ndarray
    values: list[list[float]]


def response_matrix(engine: Engine, codes: Sequence[str]) -> ResponseMatrix:
    """The matrix a calibration of ``codes`` reads; refuses sittings of several scales."""
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
    return ResponseMatrix(occupation, level, pks, categories, values)


def calibrate_sittings(
    engine: Engine,
    codes: Sequence[str],
    *,
    dichotomous: str = "2pl",
    link_method: str = "stocking-lord",
    base: int | None = None,
    actor: str = "cli",
) -> CalibrationSummary:
    """Calibrate the graded answers of ``codes`` and store the run on the occupation and
    level's base scale: the first run of that occupation and level is the base; a later run is
    linked to it by ``link_method`` through the item versions calibrated on that scale before
    (``base``: another base run). Raises CalibrationError (naming items, sittings or the base)
    and SittingNotFound, storing nothing."""
    if link_method not in METHODS:
        raise CalibrationError(
            f"未知的链接方法 {link_method!r} / unknown linking method (choose {', '.join(METHODS)})"
        )
    if dichotomous not in DICHOTOMOUS:
        raise CalibrationError(
            f"未知的二值模型 {dichotomous!r} / unknown model for items scored right or wrong "
            f"(choose {', '.join(DICHOTOMOUS)})"
        )
    matrix = response_matrix(engine, codes)
    occupation, level, pks = matrix.occupation, matrix.level, matrix.pks
    categories, values = matrix.categories, matrix.values
    models = [dichotomous if len(v) <= 2 else "gpcm" for v in values]
    with Session(engine) as session:
        labels = item_labels(session, pks)
    names = [labels.get(pk, str(pk)) for pk in pks]
    try:
        result = calibrate(categories, models)
        fit = item_fit(categories, result.items)
    except CalibrationError as error:
        raise _named(error, names) from None
    answered = (~np.isnan(categories)).sum(axis=0)
    placed = list(result.items)
    linking: Linking | None = None
    common: list[int] = []
    with Session(engine) as session:
        base_run, pool = _scale_pool(session, occupation, level, base)
        if base_run is not None:
            common = [
                i
                for i, pk in enumerate(pks)
                if pk in pool
                and pool[pk].model == result.items[i].model
                and len(pool[pk].d) == len(result.items[i].d)
            ]
            if len(common) < 2:
                raise CalibrationError(
                    f"与基准量尺 (run {base_run.id}) 的共同题只有 {len(common)} 道 / only "
                    f"{len(common)} item versions in common with the base scale of {occupation} "
                    f"{level} (run {base_run.id}); linking needs at least 2 — calibrate these "
                    "sittings together with one already on that scale"
                )
            anchors = [pool[pks[i]] for i in common]
            linking = link(
                [ItemParameters(r.model, r.a, tuple(r.d), r.c) for r in anchors],
                [result.items[i] for i in common],
                link_method,
            )
            placed = [transform(it, linking.A, linking.B) for it in result.items]
        run = CalibrationRun(
            occupation=occupation,
            level=level,
            sittings=list(dict.fromkeys(codes)),
            candidates=len(categories),
            items=len(pks),
            log_likelihood=result.log_likelihood,
            iterations=result.iterations,
            base_run_id=base_run.id if base_run else None,
            link_method=link_method if linking else "",
            link_a=linking.A if linking else 1.0,
            link_b=linking.B if linking else 0.0,
            drifting=[names[common[i]] for i in linking.drifting] if linking else [],
            actor=actor,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        for i, (pk, it) in enumerate(zip(pks, placed, strict=True)):
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
                "base_run": run.base_run_id,
                "link": [run.link_method, run.link_a, run.link_b] if linking else None,
                "drifting": run.drifting,
            },
        )
        session.commit()
        run_id = run.id
        base_id = run.base_run_id
        drifting = tuple(run.drifting)
    return CalibrationSummary(
        run_id=run_id,
        occupation=occupation,
        level=level,
        sittings=list(dict.fromkeys(codes)),
        candidates=len(categories),
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
            for i, it in enumerate(placed)
        ],
        base_run_id=base_id,
        linking=linking,
        common=len(common),
        drifting=drifting,
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
            labels = item_labels(session, [s.item_version_id for s in stored])
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


def misfitting(
    engine: Engine, occupation: str, level: str, pks: Sequence[int]
) -> list[tuple[str, float | None]]:
    """The item versions among ``pks`` whose newest parameters on the scale fit badly (S-X²,
    p < 0.01), as (bank code and version, p), in bank order."""
    with Session(engine) as session:
        _, pool = _scale_pool(session, occupation, level, None)
        bad = {pk: r.fit_p for pk, r in pool.items() if pk in set(pks) and r.misfit}
        labels = item_labels(session, list(bad))
    return sorted((labels.get(pk, str(pk)), p) for pk, p in bad.items())


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def scale_parameters(
    engine: Engine, occupation: str, level: str
) -> tuple[CalibrationRun | None, dict[int, tuple[ItemParameters, list[float]]]]:
    """The newest run of this occupation and level, and every item version's newest parameters
    on that run's scale with the scores its categories stand for."""
    with Session(engine) as session:
        newest = session.exec(
            select(CalibrationRun)
            .where(CalibrationRun.occupation == occupation, CalibrationRun.level == level)
            .order_by(col(CalibrationRun.id).desc())
        ).first()
        if newest is None:
            return None, {}
        _, pool = _scale_pool(session, occupation, level, newest.id)
        session.expunge(newest)
        return newest, {
            pk: (
                ItemParameters(
                    r.model,
                    r.a,
                    tuple(r.d),
                    r.c,
                    se_a=_nan(r.se.get("a")),
                    se_d=tuple(_nan(v) for v in r.se.get("d", [])),
                    se_c=_nan(r.se.get("c")),
                ),
                [float(v) for v in r.scores],
            )
            for pk, r in pool.items()
        }


CALIBRATION_HEADER = (
    "occupation",
    "level",
    "item_id",
    "version",
    "run",
    "base_run",
    "model",
    "a",
    "b",
    "d",
    "c",
    "se_a",
    "se_d",
    "se_c",
    "scores",
    "answers",
    "fit_p",
    "misfit",
)


def export_calibrations(
    engine: Engine, path: Path, *, occupation: str | None = None, level: str | None = None
) -> int:
    """Write every item version's newest parameters on each scale (occupation × level) to a
    CSV or XLSX beside the bank export, one row per item version: the run it came from and the
    scale's base run, the model, slope, step difficulties and intercepts (JSON arrays),
    guessing, their standard errors, the scores its categories stand for, the answers it was
    calibrated on and its fit. Returns the number of rows."""
    rows: list[list[object]] = []
    with Session(engine) as session:
        scales = session.exec(
            select(CalibrationRun.occupation, CalibrationRun.level)
            .where(col(CalibrationRun.base_run_id).is_(None))
            .distinct()
        ).all()
        for occ, lvl in sorted(scales):
            if (occupation and occ != occupation) or (level and lvl != level):
                continue
            base, pool = _scale_pool(session, occ, lvl, None)
            if base is None:
                continue
            found = session.exec(
                select(ItemVersion.id, Item.code, ItemVersion.version)
                .join(Item, col(Item.id) == col(ItemVersion.item_id))
                .where(col(ItemVersion.id).in_(list(pool)))
            ).all()
            names = {pk: (code, version) for pk, code, version in found}
            for pk, r in sorted(pool.items(), key=lambda kv: names.get(kv[0], ("", 0))):
                code, version = names.get(pk, ("", 0))
                b = [-dv / r.a for dv in r.d] if r.a else []
                rows.append(
                    [
                        occ,
                        lvl,
                        code,
                        version,
                        r.run_id,
                        base.id,
                        r.model,
                        round(r.a, 6),
                        _joined(b),
                        _joined(r.d),
                        round(r.c, 6),
                        _blank(r.se.get("a")),
                        _joined(r.se.get("d", [])),
                        _blank(r.se.get("c")),
                        _joined(r.scores),
                        r.answers,
                        _blank(r.fit_p),
                        "yes" if r.misfit else "no",
                    ]
                )
    write_table(path, CALIBRATION_HEADER, rows, sheet="calibrations")
    return len(rows)


def _blank(value: float | None) -> object:
    return "" if value is None or not np.isfinite(value) else round(float(value), 6)


def _joined(values: Sequence[float | None]) -> str:
    """A JSON array (it cannot start like a spreadsheet formula, and any reader parses it)."""
    return "[" + ", ".join("null" if v is None else f"{float(v):.6g}" for v in values) + "]"
