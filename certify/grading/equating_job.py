"""分数等值的后台任务: equating a sitting's forms (:func:`~certify.grading.form_equating.
equate_sitting`) as a background job, one at a time per sitting beside grading and regrading
(it scores the whole sitting and a bootstrap repeats each equating hundreds of times), and the
stored runs of a sitting as its page shows them.

The job's result names the run it stored and the decision consistency of that run against the
raw pass marks, computed from the scores the run was made from; the run itself, its
conversion tables included, is read back from the database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.grading.form_equating import (
    METHODS,
    Decisions,
    EquatingError,
    decisions,
    equate_sitting,
    stored_run,
)
from certify.infra.jobs import JobView, Progress
from certify.registration.sittings import get_sitting, submit_sitting_job
from schemas.tables import EquatingRun, FormEquating

EQUATE = "sitting.equate"
"""The equating job's kind; its subject is the sitting's code."""
SMOOTHING = (0, 8)
REPLICATIONS = (0, 5000)
SEED = (0, 2**31 - 1)


@dataclass(frozen=True)
class EquatingParams:
    """What ``certify irt equate`` takes: method, reference form (None: the first), presmoothing
    degree, bootstrap replications and seed."""

    method: str = "equipercentile"
    reference: str | None = None
    smoothing: int = 4
    replications: int = 200
    seed: int = 0

    def checked(self) -> EquatingParams:
        """These parameters; raises EquatingError naming the first out of its range."""
        if self.method not in METHODS:
            raise EquatingError(
                f"未知的等值方法 {self.method[:40]!r} / unknown method ({', '.join(METHODS)})"
            )
        for name, value, (low, high) in (
            ("smoothing", self.smoothing, SMOOTHING),
            ("replications", self.replications, REPLICATIONS),
            ("seed", self.seed, SEED),
        ):
            if not low <= value <= high:
                raise EquatingError(f"{name} 须在 {low}–{high} 之间 / {name} is {low} to {high}")
        if self.reference is not None and not (0 < len(self.reference) <= 16):
            raise EquatingError("参照卷至多 16 个字符 / the reference form is 1 to 16 characters")
        return self


def submit_equating(
    engine: Engine, code: str, params: EquatingParams, *, actor: str, account_id: int | None
) -> JobView:
    """Queue the equating of sitting ``code``; raises SittingNotFound, EquatingError for a
    parameter out of range, or JobBusy while another job of the sitting holds it."""
    params.checked()
    return submit_sitting_job(
        engine,
        EQUATE,
        code,
        actor,
        account_id,
        method=params.method,
        reference=params.reference,
        smoothing=params.smoothing,
        replications=params.replications,
        seed=params.seed,
    )


def run_equating(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
    """The job's work: the equating under the job's actor, stored as a run; the result names
    the run and its decision consistency."""
    params = EquatingParams(**job.params).checked()
    progress.start(1, "评分、等值并估计标准误 / scoring, equating and bootstrapping")
    summary = equate_sitting(
        engine,
        job.subject,
        method=params.method,
        reference=params.reference,
        smoothing=params.smoothing,
        replications=params.replications,
        seed=params.seed,
        actor=job.actor,
    )
    found = decisions(engine, job.subject, scored=summary.scored, run_id=summary.run_id)
    progress.advance(1)
    return {"run": summary.run_id, "decisions": decisions_json(found) if found else None}


def decisions_json(found: Decisions) -> dict[str, Any]:
    return {
        "rule": found.rule,
        "run": found.run_id,
        "candidates": found.candidates,
        "both_pass": found.both_pass,
        "both_fail": found.both_fail,
        "raw_only": found.raw_only,
        "equated_only": found.equated_only,
    }


def decisions_of(data: Mapping[str, Any]) -> Decisions:
    return Decisions(
        rule=str(data["rule"]),
        run_id=int(data["run"]) if data.get("run") is not None else None,
        candidates=int(data["candidates"]),
        both_pass=int(data["both_pass"]),
        both_fail=int(data["both_fail"]),
        raw_only=[str(a) for a in data["raw_only"]],
        equated_only=[str(a) for a in data["equated_only"]],
    )


def equating_runs(engine: Engine, code: str, limit: int = 50) -> list[EquatingRun]:
    """The sitting's newest equating runs, newest first; raises SittingNotFound."""
    with Session(engine) as session:
        sitting = get_sitting(session, code)
        return list(
            session.exec(
                select(EquatingRun)
                .where(EquatingRun.sitting_id == sitting.id)
                .order_by(col(EquatingRun.id).desc())
                .limit(limit)
            )
        )


def sitting_run(engine: Engine, code: str, run_id: int) -> tuple[EquatingRun, list[FormEquating]]:
    """Run ``run_id`` of the sitting with its rows (part, form, pass marks, conversion table);
    raises SittingNotFound, or EquatingError for a run of another sitting or none."""
    with Session(engine) as session:
        sitting = get_sitting(session, code)
        run, rows = stored_run(session, run_id)
        if run.sitting_id != sitting.id:
            raise EquatingError(
                f"{code}: 第 {run_id} 次等值不属于本场次 / equating run {run_id} is not of this "
                "sitting"
            )
    return run, rows


def pass_rule(engine: Engine, code: str) -> tuple[str, int | None]:
    """The sitting's pass rule (``raw`` or ``equated``) and the run it uses; raises
    SittingNotFound."""
    with Session(engine) as session:
        sitting = get_sitting(session, code)
        return sitting.pass_rule, sitting.equating_run_id
