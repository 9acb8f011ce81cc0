"""Training in the browser (login, admin role): courses (培训课程) created and listed, trainees
enrolled, attendance and the completion assessment uploaded, training certificates (培训合格证书)
issued and downloaded — each step the ``certify training`` command's service call.

Uploads go through the same readers and checks as the command line (all or nothing, every
problem by row and field on the answering page, status 400); every change is audited under
``web:<username>``. Issuing is a background job (:mod:`certify.certificates.issuance_job`):
the institution's key is opened with the passphrase typed in the form and held only in the
memory of this process while the job runs, never stored."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
)
from flask import url_for as _url_for

from certify.certificates.issuance import DEFAULT_PROVINCE
from certify.certificates.issuance_job import (
    ISSUE_TRAINING,
    IssueRequest,
    certificate_folder,
    start_issuance,
)
from certify.entitlements.courses import (
    MAX_PER_PAGE,
    TRAINEE_SORTS,
    all_trainees,
    course_certificate,
    course_trainees,
    list_courses,
)
from certify.entitlements.training import assess, create_course, enrol, record_attendance
from certify.infra.digests import hexdigest
from certify.infra.errors import Error, NotFound
from certify.infra.jobs import latest_job
from certify.institutions.registry import institution_names
from certify.keys.store import list_keys
from certify.registration.identity import IdentityVault
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import (
    PageProblems,
    page_problems,
    passphrase_allowed,
    require_https,
    saved_upload,
    send_problems,
    xlsx_download,
)
from schemas.enums import CertificateKind, Level
from schemas.reference import occupations

blueprint = Blueprint("training", __name__, url_prefix="/admin/training")
ADMIN = ("admin",)
PER_PAGE = (20, 50, 100, MAX_PER_PAGE)


def _actor() -> str:
    account = current_account()
    assert account is not None
    return f"web:{account.username}"


def _vault() -> IdentityVault:
    vault: IdentityVault | None = g.services.vault
    if vault is None:
        abort(503, description="the ID-number secret is not configured (CERTIFY_SECRET_KEY)")
    return vault


def _folder(code: str) -> Path:
    """Where the course's certificate PDFs are kept (by serial: no name from the form)."""
    return certificate_folder(g.services.data_dir, ISSUE_TRAINING, code)


def _whole(args: Mapping[str, str], name: str, default: int) -> int:
    value = args.get(name, "")
    return int(value) if value.isdigit() and 0 < int(value) < 1_000_000 else default


# --- courses ---------------------------------------------------------------------------------


@blueprint.get("/")
@require_role(*ADMIN)
def index() -> Any:
    page = list_courses(g.engine, page=_whole(request.args, "page", 1))
    return render_template("training.html", page=page)


def _new_page(typed: Mapping[str, str], problems: PageProblems | None = None) -> str:
    return render_template(
        "training_new.html",
        typed=typed,
        problems=problems,
        occupations=occupations(),
        levels=list(Level),
        institutions=institution_names(g.engine),
    )


@blueprint.get("/new")
@require_role(*ADMIN)
def new() -> Any:
    return _new_page({"pass_mark": "60"})


@blueprint.post("/new")
@require_role(*ADMIN)
def create() -> Any:
    check_csrf()
    names = ("code", "occupation", "level", "hours", "institution", "pass_mark", "syllabus")
    typed = {k: request.form.get(k, "")[:20_000] for k in names}
    code = typed["code"].strip()
    try:
        if not code or len(code) > 64 or any(ord(c) < 32 for c in code):
            raise _FormError("课程代码须为 1–64 个字符 / the course code: 1-64 characters")
        course = create_course(
            g.engine,
            code,
            occupation=typed["occupation"],
            level=typed["level"],
            hours=_number(typed["hours"], int, "学时 hours"),
            institution=typed["institution"],
            syllabus=typed["syllabus"].splitlines(),
            pass_mark=_number(typed["pass_mark"] or "60", float, "合格线 pass mark"),
            actor=_actor(),
        )
    except Error as exc:
        return _new_page(typed, page_problems(exc)), 400
    flash(f"已创建课程 {course.code} / course {course.code} created")
    return redirect(_url_for("training.course", code=course.code))


class _FormError(Error):
    code = "form"


def _number(text: str, kind: type[int] | type[float], label: str) -> Any:
    try:
        return kind(text.strip())
    except ValueError:
        raise _FormError(f"{label}: 须为数字 / must be a number, got {text[:40]!r}") from None


# --- one course ------------------------------------------------------------------------------


def _course_page(code: str, problems: PageProblems | None = None, step: str = "") -> str:
    sort = request.args.get("sort", "enrolled")
    page = course_trainees(
        g.engine,
        code,
        sort=sort if sort in TRAINEE_SORTS else "enrolled",
        descending=request.args.get("dir") == "desc",
        page=_whole(request.args, "page", 1),
        per_page=_whole(request.args, "per_page", 50),
    )
    issuers = sorted(
        {
            k.issuer
            for k in list_keys(g.engine)
            if k.role != "root"
            and k.retired_at is None
            and CertificateKind.TRAINING.code
            in k.scope.get("kinds", [CertificateKind.TRAINING.code])
        }
    )
    return render_template(
        "training_course.html",
        page=page,
        course=page.course,
        problems=problems,
        step=step,
        issuers=issuers,
        typed_issuer=request.form.get("issuer", ""),
        site=request.form.get("site", "") or request.host_url.rstrip("/"),
        per_pages=PER_PAGE,
        job=latest_job(g.engine, ISSUE_TRAINING, code),
        passphrase_ok=passphrase_allowed(),
    )


@blueprint.get("/<code>")
@require_role(*ADMIN)
def course(code: str) -> Any:
    return _course_page(code)


def _apply(step: str, code: str, path: Path, display: str) -> str:
    """Run the step's service on the uploaded file; what it did, to show."""
    vault, actor = _vault(), _actor()
    if step == "assess":
        report = assess(g.engine, code, path, vault, actor=actor, file_name=display)
        return (
            f"结业 completed {report.completed}，未结业 not completed {len(report.not_completed)}"
        )
    if step == "enrol":
        return f"报名 enrolled {enrol(g.engine, code, path, vault, actor=actor, file_name=display)}"
    rows = record_attendance(g.engine, code, path, vault, actor=actor, file_name=display)
    return f"考勤 attendance rows {rows}"


@blueprint.post("/<code>/enrol")
@require_role(*ADMIN)
def enrol_upload(code: str) -> Any:
    return _upload(code, "enrol")


@blueprint.post("/<code>/attendance")
@require_role(*ADMIN)
def attendance_upload(code: str) -> Any:
    return _upload(code, "attendance")


@blueprint.post("/<code>/assess")
@require_role(*ADMIN)
def assess_upload(code: str) -> Any:
    return _upload(code, "assess")


def _upload(code: str, step: str) -> Any:
    check_csrf()
    course_trainees(g.engine, code, per_page=1)  # an unknown course is a 404 before any upload
    with saved_upload("trainee") as (path, display):
        try:
            said = _apply(step, code, path, display)
        except NotFound:
            raise
        except Error as exc:
            return _course_page(code, page_problems(exc, (path, display)), step), 400
    flash(f"{display}: {said}")
    return redirect(_url_for("training.course", code=code))


@blueprint.get("/<code>/problems/<token>.csv")
@require_role(*ADMIN)
def problems(code: str, token: str) -> Any:
    return send_problems(token)


@blueprint.post("/<code>/issue")
@require_role(*ADMIN)
def issue(code: str) -> Any:
    check_csrf()
    require_https()
    course_trainees(g.engine, code, per_page=1)
    province = request.form.get("province", "").strip()[:2] or current_app.config.get(
        "CERTIFY_PROVINCE", DEFAULT_PROVINCE
    )
    account = current_account()
    try:
        job = start_issuance(
            g.engine,
            ISSUE_TRAINING,
            code,
            IssueRequest(
                request.form.get("issuer", "")[:64],
                request.form.get("site", "").strip()[:200] or request.host_url.rstrip("/"),
                province,
            ),
            request.form.get("passphrase", "")[:1024],
            data_dir=g.services.data_dir,
            actor=_actor(),
            account_id=account.id if account else None,
        )
    except NotFound:
        raise
    except Error as exc:
        return _course_page(code, page_problems(exc), "issue"), 400
    return redirect(_url_for("jobs.page", job_id=job.id))


@blueprint.get("/<code>/certificates/<serial>.pdf")
@require_role(*ADMIN)
def certificate_pdf(code: str, serial: str) -> Any:
    cert = course_certificate(g.engine, code, serial)
    path = _folder(code) / f"{cert.serial}.pdf"
    data = path.read_bytes() if path.is_file() else b""
    if hexdigest(cert.pdf_digest_alg, data) != cert.pdf_digest:
        abort(404, description="the PDF is missing or damaged: issue again to restore it")
    response = make_response(data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{cert.serial}.pdf"'
    return response


@blueprint.get("/<code>/trainees.xlsx")
@require_role(*ADMIN)
def trainees_export(code: str) -> Any:
    header = ["姓名 name", "身份证号 ID number (masked)", "出勤学时 hours", "成绩 score",
              "结业 completed", "证书编号 serial", "证书状态 status"]  # fmt: skip
    rows = (
        [
            t.name,
            t.id_number_masked,
            t.attended_hours,
            t.score,
            "是 yes" if t.completed else "否 no",
            t.serial or "",
            t.status.value if t.status else "",
        ]
        for t in all_trainees(g.engine, code)
    )
    return xlsx_download("trainees.xlsx", header, rows, "trainees")
