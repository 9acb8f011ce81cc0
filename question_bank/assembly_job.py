"""组卷后台任务: assembling a stored blueprint's forms as a background job
(:mod:`certify.infra.jobs`), one at a time per occupation and level, then rendering and storing
each form's paper and answer key, with the progress of each step."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from certify.infra.jobs import JobView, Progress, submit_job
from question_bank.paper_catalogue import DOCUMENT_KINDS, paper_document, papers_of_job
from question_bank.papers import assemble_papers, stored_blueprint
from schemas.blueprint import Blueprint

ASSEMBLE = "papers.assemble"
"""The job kind; its subject is the blueprint's code."""
STEPS = {
    "plan": "核对题库与蓝图 / checking the bank against the blueprint",
    "search": "搜索平行试卷 / searching for the parallel forms",
    "store": "保存试卷 / storing the papers",
    "render": "生成试卷与答案 PDF / rendering the papers and keys",
}


def assembly_lock(bp: Blueprint) -> str:
    """One assembly at a time per occupation and level: they draw on the same items."""
    return f"{ASSEMBLE}:{bp.occupation}/{bp.level.value}"


def submit_assembly(
    engine: Engine, code: str, *, seed: int | None, actor: str, account_id: int | None
) -> JobView:
    """Queue the assembly of the stored blueprint ``code``; raises BlueprintNotFound, or JobBusy
    while another assembly of its occupation and level is queued, running or interrupted."""
    bp = stored_blueprint(engine, code)
    return submit_job(
        engine,
        ASSEMBLE,
        code,
        lock_key=assembly_lock(bp),
        params={"seed": seed},
        actor=actor,
        account_id=account_id,
    )


def run_assembly(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
    """The job's work: 1 plan, 2 search and store (audited as ``papers.assemble`` under the
    job's actor), then each form's paper and key rendered and stored. A resumed job whose papers
    were stored before the interruption renders what is missing instead of assembling again."""
    bp = stored_blueprint(engine, job.subject)
    progress.start(2 + len(DOCUMENT_KINDS) * bp.forms, STEPS["plan"])
    codes = papers_of_job(engine, bp.code, job.id)
    result: dict[str, Any]
    if codes:
        result = {"resumed": True, "papers": codes}
        progress.advance(2, STEPS["render"])
    else:

        def stage(name: str) -> None:
            progress.advance(1 if name == "store" else 0, STEPS[name])

        seed = job.params.get("seed")
        report = assemble_papers(
            engine,
            bp,
            seed=seed if isinstance(seed, int) else None,
            actor=job.actor,
            job_id=job.id,
            stage=stage,
        )
        result = dataclasses.asdict(report)
        codes = [form.code for form in report.papers]
        progress.advance(1, STEPS["render"])
    for code in codes:
        for kind, name in DOCUMENT_KINDS.items():
            progress.advance(0, f"生成 {code} {name} PDF / rendering {code} {kind} PDF")
            paper_document(engine, code, kind)
            progress.advance(1)
    return result
