"""Background jobs in the browser (login, admin role): a job's page with its progress, read from
the database on every load (so a reload, or another process, shows the same), polled by a small
script while it runs; resuming a job whose process stopped.

The kinds of job this app runs, and where each leads once done, are :data:`KINDS`; the runner
(:class:`certify.infra.jobs.JobRunner`) is built here with their handlers and started by the
first request of each process. Issuing certificates is a *held* job: it runs on a thread of the
process that opened the key (:mod:`certify.certificates.issuance_job`), which no runner claims;
resuming one asks for the key's passphrase again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import Engine

from certify.certificates.issuance_job import ISSUE_LEVEL, ISSUE_TRAINING, resume_issuance
from certify.certificates.regrade_job import APPLY_REGRADE, run_regrade_apply
from certify.grading.equating_job import EQUATE, run_equating
from certify.grading.grading_job import GRADE, REGRADE, run_grading, run_regrade
from certify.grading.report_job import REPORT, run_report
from certify.infra.errors import Error, NotFound
from certify.infra.jobs import Handler, JobRunner, JobView, get_job, resume_job
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import page_problems, passphrase_allowed, require_https
from question_bank.assembly_job import ASSEMBLE, run_assembly

blueprint = Blueprint("jobs", __name__, url_prefix="/admin/jobs")
ADMIN = ("admin",)


@dataclass(frozen=True)
class JobKind:
    """What the pages know of one kind of job: its handler, its name, and where it leads."""

    handler: Handler | None
    """What the runner calls; None for a held job, which the process that opened its key runs."""
    zh: str
    en: str
    leads_to: Callable[[JobView], str]
    """The page about the job's subject (where to go once it is done)."""

    @property
    def held(self) -> bool:
        """Resuming it needs the signing key's passphrase typed again."""
        return self.handler is None


KINDS: dict[str, JobKind] = {
    ASSEMBLE: JobKind(
        run_assembly,
        "组卷",
        "Assembly",
        lambda job: url_for("papers.blueprint_page", code=job.subject),
    ),
    GRADE: JobKind(
        run_grading,
        "阅卷评分",
        "Grading",
        lambda job: url_for("grading.grading", code=job.subject),
    ),
    REGRADE: JobKind(
        run_regrade,
        "复核重评（比较）",
        "Regrade (differences)",
        lambda job: url_for("grading.regrade", code=job.subject),
    ),
    EQUATE: JobKind(
        run_equating,
        "分数等值",
        "Equating",
        lambda job: url_for(
            "equating.equating", code=job.subject, run=(job.result or {}).get("run")
        ),
    ),
    REPORT: JobKind(
        run_report,
        "试题统计",
        "Statistics",
        lambda job: url_for("grading.stats", code=job.subject),
    ),
    APPLY_REGRADE: JobKind(
        run_regrade_apply,
        "复核重评（应用）",
        "Regrade (applying)",
        lambda job: url_for("grading.results", code=job.subject),
    ),
    ISSUE_LEVEL: JobKind(
        None,
        "发证",
        "Issuing certificates",
        lambda job: url_for("certificates.sitting", code=job.subject),
    ),
    ISSUE_TRAINING: JobKind(
        None,
        "发放培训合格证书",
        "Issuing training certificates",
        lambda job: url_for("training.course", code=job.subject),
    ),
}


def make_runner(engine: Engine, seconds: float) -> JobRunner:
    """The runner of every kind but the held ones (never queued, so never claimed)."""
    handlers = {kind: k.handler for kind, k in KINDS.items() if k.handler is not None}
    return JobRunner(engine, handlers, seconds)


def wake_runner() -> None:
    """A job was just queued by this process: its runner looks now."""
    runner: JobRunner | None = g.services.jobs
    if runner is not None:
        runner.wake()


def actor() -> str:
    account = current_account()
    assert account is not None
    return f"web:{account.username}"


def _page(job: JobView, problems: Any = None, status: int = 200) -> Any:
    kind = KINDS.get(job.kind)
    return render_template(
        "job.html",
        job=job,
        kind=kind,
        leads_to=kind.leads_to(job) if kind else None,
        problems=problems,
        passphrase_ok=passphrase_allowed(),
    ), status


@blueprint.get("/<int:job_id>")
@require_role(*ADMIN)
def page(job_id: int) -> Any:
    return _page(get_job(g.engine, job_id))


@blueprint.get("/<int:job_id>.json")
@require_role(*ADMIN)
def state(job_id: int) -> Any:
    job = get_job(g.engine, job_id)
    kind = KINDS.get(job.kind)
    body = job.public()
    body["leads_to"] = kind.leads_to(job) if kind else None
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/<int:job_id>/resume")
@require_role(*ADMIN)
def resume(job_id: int) -> Any:
    check_csrf()
    kind = KINDS.get(get_job(g.engine, job_id).kind)
    held = kind is not None and kind.held
    try:
        if held:
            require_https()
            job = resume_issuance(
                g.engine,
                job_id,
                request.form.get("passphrase", "")[:1024],
                data_dir=g.services.data_dir,
                actor=actor(),
            )
        else:
            job = resume_job(g.engine, job_id, actor=actor())
    except NotFound:
        raise
    except Error as exc:
        return _page(get_job(g.engine, job_id), page_problems(exc), 400)
    if held:
        flash(f"后台任务 {job.id} 已继续执行 / job {job.id} is running again")
    else:
        wake_runner()
        flash(f"后台任务 {job.id} 已重新排队 / job {job.id} is queued again")
    return redirect(url_for("jobs.page", job_id=job.id))
