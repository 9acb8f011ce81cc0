"""Background jobs in the browser (login, admin role): a job's page with its progress, read from
the database on every load (so a reload, or another process, shows the same), polled by a small
script while it runs; resuming a job whose process stopped.

The kinds of job this app runs, and where each leads once done, are :data:`KINDS`; the runner
(:class:`certify.infra.jobs.JobRunner`) is built here with their handlers and started by the
first request of each process. Issuing certificates is a *held* job: it runs on a thread of the
process that opened the key (:mod:`certify.certificates.issuance_job`), which no runner claims;
resuming one asks for the key's passphrase again."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from sqlalchemy import Engine

from certify.certificates.issuance_job import ISSUE_LEVEL, ISSUE_TRAINING, resume_issuance
from certify.certificates.regrade_job import APPLY_REGRADE, run_regrade_apply
from certify.grading.equating_job import EQUATE, run_equating
from certify.grading.grading_job import GRADE, REGRADE, run_grading, run_regrade
from certify.grading.import_jobs import MARKS, SHEETS, run_marks, run_sheets
from certify.grading.report_job import REPORT, run_report
from certify.infra.errors import Error, NotFound
from certify.infra.jobs import (
    Handler,
    JobRunner,
    JobView,
    get_job,
    held_worker_name,
    resume_job,
    start_held,
)
from certify.infra.tabular import table_bytes
from certify.infra.uploads import keep_upload
from certify.institutions.scope import in_account_scope
from certify.registration.identity import IdentityVault
from certify.registration.import_jobs import (
    APPLICATIONS,
    ROSTER,
    applications_handler,
    roster_handler,
)
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import (
    PROBLEM_HEADER,
    PROBLEMS_ON_PAGE_ONLY,
    PageProblems,
    page_problems,
    passphrase_allowed,
    rejects_token,
    require_https,
)
from question_bank.assembly_job import ASSEMBLE, run_assembly
from question_bank.import_job import BANK_IMPORT, run_bank_import
from schemas.enums import JobState

blueprint = Blueprint("jobs", __name__, url_prefix="/admin/jobs")
ADMIN = ("admin",)
FOLLOWERS = ("admin", "rater")
"""Who may follow a job: an admin any job, a rater the marks files they uploaded."""
UPLOAD_WAIT_SECONDS = 3.0
"""How long a request that uploaded a file waits for its import before showing the job's page
(an app's ``UPLOAD_WAIT_SECONDS`` overrides it)."""


@dataclass(frozen=True)
class JobKind:
    """What the pages know of one kind of job: its handler, its name, and where it leads."""

    handler: Handler | None
    """What the runner calls; None for a held job, which the process that opened its key runs."""
    zh: str
    en: str
    leads_to: Callable[[JobView], str]
    """The page about the job's subject (where to go once it is done)."""
    with_vault: Callable[[IdentityVault], Handler] | None = None
    """Makes the handler of a kind that needs the vault of ID numbers (registering people)."""
    stays: bool = False
    """Once done, its page stays to say what it did (an import's counts) rather than going on
    to the page about its subject (which it links to)."""
    auto_resume: bool = False
    """Safe to run again unattended (an import: one transaction, refused whole if it went in
    already), so the runner queues it again by itself once its process stopped."""

    @property
    def held(self) -> bool:
        """Resuming it needs the signing key's passphrase typed again."""
        return self.handler is None and self.with_vault is None

    def handler_with(self, vault: IdentityVault | None) -> Handler | None:
        """The handler, made with ``vault`` when the kind needs it (None without one), run in
        the scope of the account that submitted the job (its institution's data only)."""
        if self.with_vault is not None:
            handler = self.with_vault(vault) if vault is not None else None
        else:
            handler = self.handler
        return in_account_scope(handler) if handler is not None else None


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
    APPLICATIONS: JobKind(
        None,
        "导入申报",
        "Importing applications",
        lambda job: url_for("sittings.applications", code=job.subject),
        applications_handler,
        stays=True,
        auto_resume=True,
    ),
    ROSTER: JobKind(
        None,
        "导入名册",
        "Importing a roster",
        lambda job: url_for("sittings.roster", code=job.subject),
        roster_handler,
        stays=True,
        auto_resume=True,
    ),
    SHEETS: JobKind(
        run_sheets,
        "导入答题卡",
        "Importing answer sheets",
        lambda job: url_for("sittings.roster", code=job.subject),
        stays=True,
        auto_resume=True,
    ),
    MARKS: JobKind(
        run_marks,
        "导入评分",
        "Importing marks",
        lambda job: url_for("rater.index"),
        stays=True,
        auto_resume=True,
    ),
    BANK_IMPORT: JobKind(
        run_bank_import,
        "导入题目",
        "Importing items",
        lambda job: url_for("bank.index", sort="updated", dir="desc"),
        stays=True,
        auto_resume=True,
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


def make_runner(engine: Engine, seconds: float, vault: IdentityVault | None) -> JobRunner:
    """The runner of every kind but the held ones (never queued, so never claimed), and those
    that need the vault of ID numbers when there is none."""
    handlers = {
        kind: handler for kind, k in KINDS.items() if (handler := k.handler_with(vault)) is not None
    }
    again = [kind for kind, k in KINDS.items() if k.auto_resume]
    return JobRunner(engine, handlers, seconds, auto_resume=again)


def run_upload(submit: Callable[[Path, str, str], JobView], upload: tuple[Path, str]) -> JobView:
    """Import an uploaded file as a background job run by a thread of this process, waiting
    for it a few seconds (:data:`UPLOAD_WAIT_SECONDS`): returns the job as it stands then,
    finished or still running (its page shows the rest).

    ``submit(kept, display, worker)`` submits the job of the file kept for it (``display``:
    its name as the user knows it) as already running under ``worker``; what it raises
    (JobBusy, SittingNotFound…) is raised here, and the kept file is removed. Should this
    process stop meanwhile, the job shows as interrupted and anyone may resume it (the kept
    file is read again)."""
    path, display = upload
    kept = keep_upload(g.services.data_dir, path)
    worker = held_worker_name()
    try:
        job = submit(kept, display, worker)
    except BaseException:
        kept.unlink(missing_ok=True)
        raise
    handler = KINDS[job.kind].handler_with(g.services.vault)
    assert handler is not None, job.kind
    thread = start_held(g.engine, job, handler, worker)
    thread.join(current_app.config.get("UPLOAD_WAIT_SECONDS", UPLOAD_WAIT_SECONDS))
    return get_job(g.engine, job.id)


def job_problems(job: JobView) -> PageProblems:
    """What a refused import's job found wrong, for the page that shows it (the CSV of every
    problem offered when there are many)."""
    problems = job.problems
    many = int(job.result.get("problem_count", len(problems))) > PROBLEMS_ON_PAGE_ONLY
    download = url_for("jobs.problems", job_id=job.id) if many else None
    return PageProblems(job.error, problems, download)


def import_answer(
    job: JobView, refused: Callable[[PageProblems], Any], imported: Callable[[str], Any]
) -> Any:
    """The answer to an upload once :func:`run_upload` returns: the job's page while it still
    runs; ``refused(problems)`` (a page, status 400) when the file was refused; else
    ``imported(said)`` with what the import did, in words, for the page it leads to."""
    if not job.finished:
        return still_running(job)
    if job.state is JobState.FAILED:
        return refused(job_problems(job))
    return imported(f"{job.params['display']}: {job.result['said']}")


def still_running(job: JobView) -> Any:
    """The answer to an upload whose import is still running: its job's page."""
    flash(
        f"{job.params.get('display', '')}：文件较大，正在后台导入，本页显示进度 / "
        "a large file: it is being imported in the background, and this page shows how far"
    )
    return redirect(url_for("jobs.page", job_id=job.id))


def wake_runner() -> None:
    """A job was just queued by this process: its runner looks now."""
    runner: JobRunner | None = g.services.jobs
    if runner is not None:
        runner.wake()


def actor() -> str:
    account = current_account()
    assert account is not None
    return f"web:{account.username}"


def _followed(job_id: int) -> JobView:
    """The job ``job_id`` if the signed-in account may follow it: an admin any job, anyone else
    the jobs they submitted (another's is "not found", like one that does not exist)."""
    job = get_job(g.engine, job_id)
    account = current_account()
    assert account is not None
    if account.role not in ADMIN and job.account_id != account.id:
        abort(404)
    return job


def _page(job: JobView, problems: Any = None, status: int = 200) -> Any:
    kind = KINDS.get(job.kind)
    rejects = None
    if problems is None and job.state is JobState.FAILED and job.problems:
        problems = job_problems(job)
        token = rejects_token(job.params["rejects"]) if job.params.get("rejects") else None
        rejects = url_for("bank.rejects", token=token) if token else None
    return render_template(
        "job.html",
        job=job,
        kind=kind,
        leads_to=kind.leads_to(job) if kind else None,
        problems=problems,
        rejects=rejects,
        passphrase_ok=passphrase_allowed(),
    ), status


@blueprint.get("/<int:job_id>")
@require_role(*FOLLOWERS)
def page(job_id: int) -> Any:
    return _page(_followed(job_id))


@blueprint.get("/<int:job_id>/problems.csv")
@require_role(*FOLLOWERS)
def problems(job_id: int) -> Any:
    """Every problem a refused import's job kept, as CSV (as many as it kept)."""
    job = _followed(job_id)
    rows = ([p.file, p.row, p.field, p.code, p.message_zh, p.message_en] for p in job.problems)
    return send_file(
        io.BytesIO(table_bytes(PROBLEM_HEADER, rows, "csv", "problems")),
        mimetype="text/csv",
        as_attachment=True,
        download_name=f"job-{job.id}-problems-问题清单.csv",
    )


@blueprint.get("/<int:job_id>.json")
@require_role(*FOLLOWERS)
def state(job_id: int) -> Any:
    job = _followed(job_id)
    kind = KINDS.get(job.kind)
    body = job.public()
    body["leads_to"] = kind.leads_to(job) if kind else None
    body["stays"] = bool(kind and kind.stays)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/<int:job_id>/resume")
@require_role(*FOLLOWERS)
def resume(job_id: int) -> Any:
    check_csrf()
    kind = KINDS.get(_followed(job_id).kind)
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
