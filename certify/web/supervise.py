"""Supervision in the browser (``/supervise/``): a supervisor (人社部门) reads every institution
of its region — the overview with its chart, each sitting's rooms and incidents, results,
publication and objections, the audit log and its checkpoints — and keeps its inspection
records (findings with evidence, rectification requests, closing). An institution's admin sees
the same pages for its own institution and answers a rectification request; a platform admin
sees every institution.

What an account sees is decided in one place (:mod:`certify.institutions.scope`); a
supervisor's scope is read-only there, so no page here, nor any other, can change an
institution's data under a supervisor's account. Each step is the service call ``certify
inspect`` makes, audited under ``web:<username>``."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

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

from certify.grading.report_job import latest_report
from certify.infra.errors import Error, NotFound
from certify.institutions.scope import current
from certify.registration.sittings import list_sittings
from certify.supervision.overview import (
    NotForInstitutions,
    audit_view,
    pass_rate_bars,
    region_overview,
    sitting_report,
)
from certify.supervision.records import (
    MAX_EVIDENCE_BYTES,
    MAX_EVIDENCE_FILES,
    close_record,
    evidence_of,
    evidence_of_bytes,
    get_record,
    record_finding,
    record_response,
    records,
    request_rectification,
)
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import BadDay, form_day, page_problems

blueprint = Blueprint("supervise", __name__, url_prefix="/supervise")
READERS = ("supervisor", "admin")


def _actor() -> str:
    account = current_account()
    assert account is not None
    return f"web:{account.username}"


def _whole(name: str, default: int) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else default


@blueprint.get("/")
@require_role(*READERS)
def index() -> Any:
    figures = region_overview(g.engine)
    account = current_account()
    return render_template(
        "supervise.html",
        figures=figures,
        bars=pass_rate_bars(figures),
        sittings=list_sittings(g.engine),
        region=account.region if account is not None else None,
    )


@blueprint.get("/sittings/<code>")
@require_role(*READERS)
def sitting(code: str) -> Any:
    try:
        report = sitting_report(g.engine, code)
    except NotFound:
        abort(404)
    return render_template(
        "supervise_sitting.html", report=report, statistics=latest_report(g.engine, code)
    )


@blueprint.get("/sittings/<code>/report.pdf")
@require_role(*READERS)
def report_pdf(code: str) -> Any:
    """The sitting's newest statistics report — item statistics, fairness and similarity flags
    — as the institution computed it; read-only (a supervisor computes nothing)."""
    from certify.grading.report import render_exam_report

    stored = latest_report(g.engine, code)  # a sitting out of scope has none to be found
    if stored is None:
        abort(404, description="no statistics computed for this sitting yet")
    with tempfile.TemporaryDirectory() as folder:
        content = render_exam_report(stored.data, Path(folder) / "report.pdf").read_bytes()
    response = make_response(content)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = 'attachment; filename="report.pdf"'
    return response


@blueprint.get("/audit")
@require_role(*READERS)
def audit() -> Any:
    action = request.args.get("action", "")[:64]
    try:
        account = current_account()
        reader = account.username if account is not None else ""
        view = audit_view(g.engine, page=_whole("page", 1), action=action, reader=reader)
    except NotForInstitutions:
        abort(403, description="the audit log is read by supervisors and the platform")
    return render_template("supervise_audit.html", view=view, action=action)


@blueprint.get("/inspections/")
@require_role(*READERS)
def inspections() -> Any:
    plan = request.args.get("plan", "")[:64] or None
    return render_template("supervise_records.html", rows=records(g.engine, plan), plan=plan)


def _record(plan: str, target: str) -> Any:
    try:
        return get_record(g.engine, plan, target)
    except NotFound:
        abort(404)


def _record_page(plan: str, target: str, problems: Any = None) -> Any:
    record = _record(plan, target)
    held = current()
    page = render_template(
        "supervise_record.html",
        record=record,
        evidence=evidence_of(g.engine, record.id, with_data=False),
        problems=problems,
        supervisor=held is None or held.read_only,
        institution=held is None or not held.read_only,
        today=date.today(),
        max_files=MAX_EVIDENCE_FILES,
    )
    return (page, 400) if problems else page


@blueprint.get("/inspections/<plan>/<target>")
@require_role(*READERS)
def record(plan: str, target: str) -> Any:
    return _record_page(plan, target)


@blueprint.get("/inspections/<plan>/<target>/evidence/<int:evidence_id>")
@require_role(*READERS)
def evidence(plan: str, target: str, evidence_id: int) -> Any:
    found = evidence_of(g.engine, _record(plan, target).id, evidence_id=evidence_id)
    if not found:
        abort(404)
    (file,) = found
    response = make_response(file.data)
    response.headers["Content-Type"] = file.media_type
    response.headers["Content-Disposition"] = f'attachment; filename="evidence-{file.id}"'
    return response


def _step(plan: str, target: str, do: Any, done_zh: str, done_en: str) -> Any:
    check_csrf()
    _record(plan, target)
    try:
        do()
    except Error as exc:
        return _record_page(plan, target, page_problems(exc))
    flash(f"{done_zh} / {done_en}")
    return redirect(url_for("supervise.record", plan=plan, target=target))


@blueprint.post("/inspections/<plan>/<target>/finding")
@require_role(*READERS)
def finding(plan: str, target: str) -> Any:
    def do() -> None:
        files = [f for f in request.files.getlist("evidence") if f.filename][
            : MAX_EVIDENCE_FILES + 1
        ]
        evidence = [
            evidence_of_bytes(f.filename or "evidence", f.stream.read(MAX_EVIDENCE_BYTES + 1))
            for f in files
        ]
        record_finding(
            g.engine, plan, target, request.form.get("text", "")[:20_000], evidence, actor=_actor()
        )

    return _step(plan, target, do, "已记录检查发现", "finding recorded")


@blueprint.post("/inspections/<plan>/<target>/rectify")
@require_role(*READERS)
def rectify(plan: str, target: str) -> Any:
    def do() -> None:
        deadline = form_day("deadline")
        if deadline is None:
            raise BadDay("deadline", "")
        request_rectification(
            g.engine,
            plan,
            target,
            request.form.get("text", "")[:20_000],
            deadline,
            actor=_actor(),
            today=date.today(),
        )

    return _step(plan, target, do, "已要求整改", "rectification requested")


@blueprint.post("/inspections/<plan>/<target>/respond")
@require_role(*READERS)
def respond(plan: str, target: str) -> Any:
    def do() -> None:
        record_response(
            g.engine, plan, target, request.form.get("text", "")[:20_000], actor=_actor()
        )

    return _step(plan, target, do, "已提交整改回复", "response recorded")


@blueprint.post("/inspections/<plan>/<target>/close")
@require_role(*READERS)
def close(plan: str, target: str) -> Any:
    def do() -> None:
        close_record(g.engine, plan, target, request.form.get("text", "")[:20_000], actor=_actor())

    return _step(plan, target, do, "已办结", "closed")
