"""A sitting's marking, grading and results in the browser (login, admin role): the marking
progress per question and rater; grading as a background job with who is pending; a regrade
whose changes are worked out by one job, shown, and applied by another once confirmed; the
results, a page at a time and as a workbook, and the statistics report.

Every page calls what ``certify grade``, ``regrade``, ``results`` and ``stats`` call; the jobs
(:mod:`certify.grading.grading_job`, :mod:`certify.certificates.regrade_job`) run one at a time
per sitting and are audited under ``web:<username>``."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from certify.certificates.regrade_job import APPLY_REGRADE, submit_regrade_apply
from certify.grading.grading_job import (
    GRADE,
    REGRADE,
    change_of,
    submit_grading,
    submit_regrade,
)
from certify.grading.marks import marking_progress
from certify.grading.report_job import REPORT, latest_report, submit_report
from certify.infra.errors import Error, NotFound
from certify.infra.jobs import latest_job
from certify.registration.lists import RESULT_SORTS, all_results, result_page
from certify.registration.sittings import get_sitting_view
from certify.web.auth import check_csrf, require_role
from certify.web.common import PageProblems, page_problems, xlsx_download
from certify.web.jobs import actor, wake_runner
from certify.web.sittings import (
    account_id,
    list_page,
    list_url,
    parse_list,
    refused_field,
)
from schemas.enums import CertificateStatus, JobState

blueprint = Blueprint("grading", __name__, url_prefix="/admin/sittings")
ADMIN = ("admin",)
T = TypeVar("T")
RESULTS_CHANGED_BY = (GRADE, APPLY_REGRADE)
"""The jobs that change a sitting's results: statistics computed before one ended are old."""


# --- marking, grading, regrading -------------------------------------------------------------


@blueprint.get("/<code>/marking")
@require_role(*ADMIN)
def marking(code: str) -> Any:
    return render_template(
        "sitting_marking.html", code=code, progress=marking_progress(g.engine, code)
    )


@blueprint.get("/<code>/marking-questions.xlsx")
@require_role(*ADMIN)
def marking_questions_xlsx(code: str) -> Any:
    progress = marking_progress(g.engine, code)
    header = ["题号 question", "题目 item", "答卷 scripts", "一评 round 1", "二评 round 2",
              "需三评 third needed", "已三评 third done", "待三评 third pending",
              "已定分 final"]  # fmt: skip
    rows = (
        [
            q.question,
            item,
            q.scripts,
            q.first,
            q.second,
            q.third_needed,
            q.third_done,
            q.third_pending,
            q.final,
        ]
        for q, item in progress.questions
    )
    return xlsx_download(f"{progress.sitting}-评分进度-questions.xlsx", header, rows, "questions")


@blueprint.get("/<code>/marking-raters.xlsx")
@require_role(*ADMIN)
def marking_raters_xlsx(code: str) -> Any:
    progress = marking_progress(g.engine, code)
    header = ["评分员 rater", "一评 round 1", "二评 round 2", "三评 round 3", "合计 total"]
    rows = ([r.rater, *r.rounds[:3], r.total] for r in progress.raters)
    return xlsx_download(f"{progress.sitting}-评分员-raters.xlsx", header, rows, "raters")


def _slice(rows: list[T], page: int, size: int = 100) -> tuple[list[T], int]:
    """Page ``page`` of ``rows`` (a job's stored report), ``size`` a page, and how many pages."""
    pages = max(1, -(-len(rows) // size))
    page = min(max(page, 1), pages)
    return rows[(page - 1) * size : page * size], pages


def _whole(name: str) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 7 else 1


def _grading_page(code: str, problems: PageProblems | None = None) -> Any:
    view = get_sitting_view(g.engine, code)
    job = latest_job(g.engine, GRADE, view.code)
    report = job.result if job and job.state is JobState.DONE else None
    pending, pages = _slice(list(report["pending"]) if report else [], _whole("page"))
    page = render_template(
        "sitting_grading.html",
        code=view.code,
        job=job,
        report=report,
        pending=pending,
        pending_page=min(_whole("page"), pages),
        pending_pages=pages,
        problems=problems,
    )
    return page, (400 if problems else 200)


@blueprint.get("/<code>/grading")
@require_role(*ADMIN)
def grading(code: str) -> Any:
    return _grading_page(code)


@blueprint.get("/<code>/pending.xlsx")
@require_role(*ADMIN)
def pending_xlsx(code: str) -> Any:
    """Who the latest grading left without a result: marks missing, or no answer sheet."""
    view = get_sitting_view(g.engine, code)
    job = latest_job(g.engine, GRADE, view.code, state=JobState.DONE)
    report = job.result if job else {}
    header = ["准考证号 admission", "原因 reason"]
    rows = [
        *([a, "待评分（主观题评分未完成） marks missing"] for a in report.get("pending", [])),
        *([a, "无答题卡 no answer sheet"] for a in report.get("no_sheet", [])),
    ]
    return xlsx_download(f"{view.code}-待评分-pending.xlsx", header, rows, "pending")


@blueprint.post("/<code>/grade")
@require_role(*ADMIN)
def grade(code: str) -> Any:
    return _start(code, submit_grading, _grading_page)


def _start(code: str, submit: Callable[..., Any], page: Callable[..., Any]) -> Any:
    """Queue the sitting's job that ``submit`` makes and follow it on its page; a refusal (a
    job of the sitting running, say) on ``page``."""
    check_csrf()
    get_sitting_view(g.engine, code)  # an unknown sitting is 404 before any refusal
    try:
        job = submit(g.engine, code, actor=actor(), account_id=account_id())
    except NotFound:
        raise
    except Error as exc:
        return page(code, page_problems(exc))
    wake_runner()
    return redirect(url_for("jobs.page", job_id=job.id))


def _regrade_page(code: str, problems: PageProblems | None = None) -> Any:
    view = get_sitting_view(g.engine, code)
    diff = latest_job(g.engine, REGRADE, view.code)
    changes = [change_of(c) for c in diff.result.get("changes", [])] if diff else []
    shown, pages = _slice(changes, _whole("page"))
    page = render_template(
        "sitting_regrade.html",
        code=view.code,
        diff=diff,
        changes=shown,
        total=len(changes),
        crossing=sum(c.crosses_pass_line for c in changes),
        suspends=sum(c.suspends for c in changes),
        number=min(_whole("page"), pages),
        pages=pages,
        applied=latest_job(g.engine, APPLY_REGRADE, view.code),
        suspended=CertificateStatus.SUSPENDED,
        problems=problems,
    )
    return page, (400 if problems else 200)


@blueprint.get("/<code>/regrade")
@require_role(*ADMIN)
def regrade(code: str) -> Any:
    return _regrade_page(code)


@blueprint.post("/<code>/regrade")
@require_role(*ADMIN)
def start_regrade(code: str) -> Any:
    return _start(code, submit_regrade, _regrade_page)


@blueprint.post("/<code>/regrade/confirm")
@require_role(*ADMIN)
def confirm_regrade(code: str) -> Any:
    check_csrf()
    get_sitting_view(g.engine, code)  # an unknown sitting is 404 before any refusal
    typed = request.form.get("diff", "")
    if not (typed.isdigit() and len(typed) < 12) or request.form.get("confirm") != "yes":
        refusal = refused_field(
            "confirm",
            "请勾选确认后再应用复核结果",
            "tick the confirmation before applying the regrade",
        )
        return _regrade_page(code, refusal)
    try:
        job = submit_regrade_apply(
            g.engine, code, int(typed), actor=actor(), account_id=account_id()
        )
    except NotFound:
        raise
    except Error as exc:
        return _regrade_page(code, page_problems(exc))
    wake_runner()
    return redirect(url_for("jobs.page", job_id=job.id))


# --- results and the statistics report -------------------------------------------------------


@blueprint.get("/<code>/results")
@require_role(*ADMIN)
def results(code: str) -> Any:
    search, wrong = parse_list(request.args, RESULT_SORTS, "admission_no")
    page = result_page(g.engine, code, search)
    url = list_url("grading.results", code, page.search, "admission_no")
    return list_page("sitting_results.html", page, wrong, url=url, code=code, problems=None)


@blueprint.get("/<code>/results.xlsx")
@require_role(*ADMIN)
def results_xlsx(code: str) -> Any:
    search, wrong = parse_list(request.args, RESULT_SORTS, "admission_no")
    if wrong:
        abort(400, description=f"not understood: {', '.join(wrong)}")
    found = all_results(g.engine, code, search)
    parts = list(found[0].parts) if found else []
    header = ["准考证号 admission", "姓名 name", "试卷 form", *parts, "总分 total", "合格 passed"]
    rows = (
        [
            r.admission_no,
            r.name,
            r.form,
            *(round(r.parts.get(p, 0.0), 4) for p in parts),
            round(r.total, 4),
            "合格 pass" if r.passed else "不合格 fail",
        ]
        for r in found
    )
    return xlsx_download(f"{code}-成绩-results.xlsx", header, rows, "results")


# --- statistics -------------------------------------------------------------------------------


def _stats_page(code: str, problems: PageProblems | None = None) -> Any:
    view = get_sitting_view(g.engine, code)
    page = render_template(
        "sitting_stats.html",
        code=view.code,
        job=latest_job(g.engine, REPORT, view.code),
        stored=latest_report(g.engine, view.code, changed_by=RESULTS_CHANGED_BY),
        problems=problems,
    )
    return page, (400 if problems else 200)


@blueprint.get("/<code>/stats")
@require_role(*ADMIN)
def stats(code: str) -> Any:
    """The newest statistics computed for the sitting, and the way to compute them again."""
    return _stats_page(code)


@blueprint.post("/<code>/stats")
@require_role(*ADMIN)
def compute_stats(code: str) -> Any:
    return _start(code, submit_report, _stats_page)


@blueprint.get("/<code>/report.pdf")
@require_role(*ADMIN)
def report_pdf(code: str) -> Any:
    """The statistics report PDF of the newest statistics computed (drawing it takes a fraction
    of a second; computing them is the background job)."""
    from certify.grading.report import render_exam_report

    view = get_sitting_view(g.engine, code)
    stored = latest_report(g.engine, view.code)
    if stored is None:
        flash("尚未统计：请先计算统计 / no statistics yet: compute them first")
        return redirect(url_for("grading.stats", code=view.code))
    with tempfile.TemporaryDirectory() as folder:
        content = render_exam_report(stored.data, Path(folder) / "report.pdf").read_bytes()
    response = make_response(content)
    response.headers["Content-Type"] = "application/pdf"
    name = f"{view.code}-统计分析-report.pdf"
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"report.pdf\"; filename*=UTF-8''{quote(name)}"
    )
    return response
