"""Institution admin (login, admin role): sittings, results and statistics, publication and
objections, issuance status, revocation and suspension with reasons. Every change is made by
the same library calls the CLI uses, audited under the admin's username; a refused change is
explained on the page that answers the post."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from certify.certificates.issuance_job import ISSUE_LEVEL
from certify.certificates.progress import sitting_overview, sitting_record
from certify.certificates.publication import RESOLUTIONS, objections, publish, resolve_objection
from certify.certificates.regrade_job import APPLY_REGRADE
from certify.certificates.revocation import change_status
from certify.grading.equating_job import EQUATE
from certify.grading.grading_job import GRADE, REGRADE
from certify.grading.report_job import REPORT
from certify.infra.errors import Error, NotFound
from certify.infra.jobs import latest_job
from certify.institutions.registry import institution_names
from certify.registration.sittings import get_sitting_view, list_sittings
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.certificates import list_args, sitting_page
from certify.web.common import PageProblems, page_problems
from question_bank.paper_catalogue import list_blueprints
from schemas.enums import ObjectionState, StatusChange

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
ADMIN = ("admin",)
SITTING_JOBS = (GRADE, REGRADE, EQUATE, APPLY_REGRADE, REPORT, ISSUE_LEVEL)
"""The background jobs of a sitting whose latest run its page shows."""


def _actor() -> str:
    account = current_account()
    assert account is not None
    return f"web:{account.username}"


@blueprint.get("/")
@require_role(*ADMIN)
def index() -> Any:
    return _index_page()


def _index_page(problems: PageProblems | None = None) -> str:
    codes = [b.code for b in list_blueprints(g.engine, page=1, per_page=500).rows]
    return render_template(
        "admin.html",
        rows=sitting_overview(g.engine),
        problems=problems,
        blueprints=codes,
        institutions=institution_names(g.engine),
    )


@blueprint.get("/sittings/<code>")
@require_role(*ADMIN)
def sitting(code: str) -> Any:
    return _sitting_page(code)


def _sitting_page(code: str, problems: PageProblems | None = None) -> str:
    record = sitting_record(g.engine, code)
    found = objections(g.engine, code) if record.publication else []
    return render_template(
        "admin_sitting.html",
        view=get_sitting_view(g.engine, code),
        jobs=[job for kind in SITTING_JOBS if (job := latest_job(g.engine, kind, code))],
        sitting=record.sitting,
        record=record,
        publication=record.publication,
        objections=found,
        today=date.today(),
        problems=problems,
        open_objection=ObjectionState.OPEN,
        resolutions=RESOLUTIONS,
    )


def _refused(exc: Error, code: str) -> Any:
    """The page the post came from, status 400, with what was wrong on it (a message that
    repeats what was posted can be long: it must not travel in the session cookie). A thing
    that does not exist is a 404, as everywhere."""
    if isinstance(exc, NotFound):
        raise exc
    known = bool(code) and any(s.code == code for s in list_sittings(g.engine))
    problems = page_problems(exc)
    return (_sitting_page(code, problems) if known else _index_page(problems)), 400


@blueprint.post("/sittings/<code>/publish")
@require_role(*ADMIN)
def publish_notice(code: str) -> Any:
    check_csrf()
    try:
        days = int(request.form.get("days", "7"))
    except ValueError:
        abort(400, description="days must be a whole number")
    try:
        report = publish(g.engine, code, g.services.data_dir / "notices", days=days, actor=_actor())
    except Error as exc:
        return _refused(exc, code)
    flash(
        f"已公示 {len(report.listed)} 人，至 {report.closes_on} / published until {report.closes_on}"
    )
    return redirect(url_for("admin.sitting", code=code))


@blueprint.post("/objections/<int:objection_id>/resolve")
@require_role(*ADMIN)
def resolve(objection_id: int) -> Any:
    check_csrf()
    code = request.form.get("sitting", "")
    try:
        resolve_objection(
            g.engine,
            objection_id,
            decision=request.form.get("decision", ""),
            resolution=request.form.get("reason", ""),
            admin=_actor(),
        )
    except Error as exc:
        return _refused(exc, code)
    flash(f"异议 {objection_id} 已处理 / objection {objection_id} resolved")
    return redirect(url_for("admin.sitting", code=code) if code else url_for("admin.index"))


@blueprint.post("/certificates/<serial>/status")
@require_role(*ADMIN)
def certificate_status(serial: str) -> Any:
    check_csrf()
    try:
        action = StatusChange(request.form.get("action", ""))
    except ValueError:
        abort(400, description=f"action must be {', '.join(StatusChange)}")
    code = request.form.get("sitting", "")[:64]
    reason = request.form.get("reason", "")[:500]
    try:
        cert = change_status(g.engine, serial, action, reason, actor=_actor())
    except NotFound:
        raise
    except Error as exc:
        if not code or not any(s.code == code for s in list_sittings(g.engine)):
            return _refused(exc, code)
        typed = {"serial": serial[:40], "action": action.value, "reason": reason}
        return sitting_page(code, page_problems(exc), 400, typed)
    flash(f"{cert.serial}: {cert.status.zh} {cert.status}")
    if not code:
        return redirect(url_for("admin.index"))
    return redirect(url_for("certificates.sitting", code=code, **list_args()))
