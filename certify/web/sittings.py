"""A sitting's setup in the browser (login, admin role): creating it and setting its blueprint
and date; applications checked against the application conditions, each refusal with its
reasons, and overriding one with a reason; the roster; answer sheets. Its marking, grading,
regrade and results are :mod:`certify.web.grading`'s; the lists of both page and sort alike
(:func:`parse_list`, :func:`list_url`, :func:`list_page`).

Every page calls what ``certify sitting``, ``register``, ``override`` and ``sheets`` call.
Every change is audited under ``web:<username>``; a refused post answers with its page, status
400, every problem listed by file, row and field, what was typed kept, and the database
unchanged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from certify.certificates.progress import sitting_overview
from certify.grading.import_jobs import submit_sheets
from certify.infra.errors import Error, NotFound, Problem
from certify.institutions.registry import institution_names
from certify.registration.applications import override_application
from certify.registration.identity import IdentityVault
from certify.registration.import_jobs import submit_applications, submit_roster
from certify.registration.lists import (
    APPLICATION_SORTS,
    ROSTER_SORTS,
    ListSearch,
    all_applications,
    all_roster,
    application_page,
    roster_page,
)
from certify.registration.sittings import (
    create_sitting,
    get_sitting_view,
    set_sitting,
)
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import (
    PageProblems,
    page_problems,
    saved_upload,
    send_problems,
    xlsx_download,
)
from certify.web.jobs import actor, import_answer, run_upload
from question_bank.paper_catalogue import list_blueprints
from schemas.enums import ApplicationDecision

blueprint = Blueprint("sittings", __name__, url_prefix="/admin/sittings")
ADMIN = ("admin",)
PER_PAGE = (20, 50, 100, 500)


def account_id() -> int | None:
    account = current_account()
    return account.id if account else None


def _vault() -> IdentityVault:
    vault: IdentityVault | None = g.services.vault
    if vault is None:
        abort(503, description="the ID-number secret is not configured (CERTIFY_SECRET_KEY)")
    return vault


def _flashed(message: str, to: str) -> Any:
    flash(message)
    return redirect(to)


def refused_field(field: str, zh: str, en: str) -> PageProblems:
    return PageProblems(f"{zh} / {en}", [Problem("", None, field, field, zh, en)])


def _when(typed: str, field: str) -> datetime | None:
    """The date (and time) typed as ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM``; raises
    ValueError naming the field."""
    text = typed.strip().replace("T", " ")
    if not text:
        return None
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueError(field)


# --- lists: paging and sorting ---------------------------------------------------------------


def parse_list(
    args: Mapping[str, str], sorts: Mapping[str, Any], default: str
) -> tuple[ListSearch, list[str]]:
    """The page of a sitting's list a query string asks for, and the fields it got wrong (each
    left at its default)."""
    wrong: list[str] = []
    sort = args.get("sort", default)
    if sort not in sorts:
        wrong.append("sort")
        sort = default
    numbers = {}
    for name, fallback in (("page", 1), ("per_page", 50)):
        value = args.get(name, "").strip()
        ok = value.isdigit() and 0 < int(value) < 1_000_000
        if value and not ok:
            wrong.append(name)
        numbers[name] = int(value) if ok else fallback
    if numbers["per_page"] not in PER_PAGE:
        wrong.append("per_page")
        numbers["per_page"] = 50
    decision = None
    if args.get("decision"):
        try:
            decision = ApplicationDecision(args["decision"])
        except ValueError:
            wrong.append("decision")
    search = ListSearch(
        sort=sort,
        descending=args.get("dir") == "desc",
        page=numbers["page"],
        per_page=numbers["per_page"],
        decision=decision,
    )
    return search, wrong


def list_url(endpoint: str, code: str, search: ListSearch, default: str) -> Callable[..., str]:
    """The list's URL for ``search`` with changes (``sort``, ``dir``, ``page``, …)."""
    params: dict[str, Any] = {
        "sort": search.sort if search.sort != default else None,
        "dir": "desc" if search.descending else None,
        "per_page": search.per_page if search.per_page != 50 else None,
        "page": search.page if search.page != 1 else None,
        "decision": search.decision.value if search.decision else None,
    }

    def url(**changes: Any) -> str:
        merged = {**params, **changes}
        return url_for(endpoint, code=code, **{k: v for k, v in merged.items() if v is not None})

    return url


def list_page(template: str, page: Any, wrong: list[str], status: int = 200, **context: Any) -> Any:
    """A list's page: a page number past the end goes to the last page (unless the page
    answers a refused post); fields not understood make it a 400, as a refused post does."""
    if status == 200 and page.search.page > page.pages and page.total:
        return redirect(context["url"](page=page.pages))
    html = render_template(template, page=page, wrong=wrong, **context)
    return html, (400 if wrong or status != 200 else 200)


# --- creating a sitting, its blueprint and its date -------------------------------------------


def _blueprint_codes() -> list[str]:
    return [b.code for b in list_blueprints(g.engine, page=1, per_page=500).rows]


def _overview(typed: Mapping[str, str], problems: PageProblems) -> Any:
    return render_template(
        "admin.html",
        rows=sitting_overview(g.engine),
        problems=problems,
        typed=typed,
        blueprints=_blueprint_codes(),
        institutions=institution_names(g.engine),
    ), 400


@blueprint.post("")
@require_role(*ADMIN)
def create() -> Any:
    check_csrf()
    typed = {
        k: request.form.get(k, "")[:200] for k in ("code", "blueprint", "institution", "starts_at")
    }
    try:
        starts_at = _when(typed["starts_at"], "starts_at")
    except ValueError:
        return _overview(
            typed,
            refused_field(
                "starts_at", "考试时间格式应为 2026-06-01 09:00", "the date is YYYY-MM-DD [HH:MM]"
            ),
        )
    try:
        row = create_sitting(
            g.engine,
            typed["code"].strip(),
            typed["blueprint"].strip(),
            institution=typed["institution"].strip(),
            starts_at=starts_at,
            actor=actor(),
        )
    except Error as exc:
        return _overview(typed, page_problems(exc))
    flash(f"考试场次 {row.code} 已创建 / sitting {row.code} created")
    return redirect(url_for("admin.sitting", code=row.code))


def _settings_page(code: str, typed: Mapping[str, str], problems: PageProblems | None) -> Any:
    view = get_sitting_view(g.engine, code)
    page = render_template(
        "sitting_settings.html",
        view=view,
        code=view.code,
        typed=typed,
        problems=problems,
        blueprints=_blueprint_codes(),
    )
    return page, (400 if problems else 200)


@blueprint.get("/<code>/settings")
@require_role(*ADMIN)
def settings(code: str) -> Any:
    view = get_sitting_view(g.engine, code)
    typed = {
        "blueprint": view.blueprint,
        "starts_at": view.starts_at.strftime("%Y-%m-%d %H:%M") if view.starts_at else "",
    }
    return _settings_page(code, typed, None)


@blueprint.post("/<code>/settings")
@require_role(*ADMIN)
def save_settings(code: str) -> Any:
    check_csrf()
    get_sitting_view(g.engine, code)  # an unknown sitting is 404 before any refusal
    typed = {k: request.form.get(k, "")[:200] for k in ("blueprint", "starts_at")}
    try:
        starts_at = _when(typed["starts_at"], "starts_at")
    except ValueError:
        refusal = refused_field(
            "starts_at", "考试时间格式应为 2026-06-01 09:00", "the date is YYYY-MM-DD [HH:MM]"
        )
        return _settings_page(code, typed, refusal)
    try:
        set_sitting(
            g.engine,
            code,
            blueprint_code=typed["blueprint"].strip(),
            starts_at=starts_at,
            actor=actor(),
        )
    except NotFound:
        raise
    except Error as exc:
        return _settings_page(code, typed, page_problems(exc))
    flash(f"考试场次 {code} 已保存 / sitting {code} saved")
    return redirect(url_for("admin.sitting", code=code))


@blueprint.get("/problems/<token>.csv")
@require_role(*ADMIN)
def problems(token: str) -> Any:
    return send_problems(token)


# --- applications ----------------------------------------------------------------------------


def _applications_page(
    code: str,
    problems: PageProblems | None = None,
    typed: Mapping[str, str] | None = None,
) -> Any:
    search, wrong = parse_list(request.args, APPLICATION_SORTS, "row")
    page = application_page(g.engine, code, search)
    return list_page(
        "sitting_applications.html",
        page,
        wrong,
        400 if problems else 200,
        url=list_url("sittings.applications", code, page.search, "row"),
        code=code,
        problems=problems,
        typed=typed or {},
        decisions=list(ApplicationDecision),
    )


@blueprint.get("/<code>/applications")
@require_role(*ADMIN)
def applications(code: str) -> Any:
    return _applications_page(code)


@blueprint.post("/<code>/applications")
@require_role(*ADMIN)
def upload_applications(code: str) -> Any:
    check_csrf()
    get_sitting_view(g.engine, code)  # an unknown sitting is 404 before any refusal
    typed = {"on": request.form.get("on", "")[:20]}
    on = None
    if typed["on"].strip():
        try:
            on = date.fromisoformat(typed["on"].strip())
        except ValueError:
            refusal = refused_field("on", "审核日期格式应为 2026-06-01", "the day is YYYY-MM-DD")
            return _applications_page(code, refusal, typed)
    _vault()  # none configured: 503 before the file is kept
    with saved_upload("applicant") as upload:
        try:
            job = run_upload(
                lambda kept, display, worker: submit_applications(
                    g.engine, code, kept, display, on=on,
                    max_bytes=current_app.config["MAX_CONTENT_LENGTH"], actor=actor(),
                    account_id=account_id(), worker=worker,
                ),
                upload,
            )  # fmt: skip
        except NotFound:
            raise
        except Error as exc:
            return _applications_page(code, page_problems(exc, upload), typed)
    refused = ApplicationDecision.REFUSED.value if job.result.get("refused") else None
    return import_answer(
        job,
        lambda problems: _applications_page(code, problems, typed),
        lambda said: _flashed(said, url_for("sittings.applications", code=code, decision=refused)),
    )


@blueprint.post("/<code>/applications/<int:application_id>/override")
@require_role(*ADMIN)
def override(code: str, application_id: int) -> Any:
    check_csrf()
    get_sitting_view(g.engine, code)  # an unknown sitting is 404 before any refusal
    reason = request.form.get("reason", "")[:2_000]
    form = request.form.get("form", "")[:8].strip()
    try:
        reg = override_application(
            g.engine, code, application_id, reason=reason, admin=actor(), form=form
        )
    except Error as exc:
        typed = {f"reason-{application_id}": reason, f"form-{application_id}": form}
        return _applications_page(code, page_problems(exc), typed)
    flash(
        f"第 {application_id} 号申请已破格受理，准考证号 {reg.admission_no} / application "
        f"{application_id} accepted on override, admission number {reg.admission_no}"
    )
    return redirect(url_for("sittings.applications", code=code))


@blueprint.get("/<code>/applications.xlsx")
@require_role(*ADMIN)
def applications_xlsx(code: str) -> Any:
    search, wrong = parse_list(request.args, APPLICATION_SORTS, "row")
    if wrong:
        abort(400, description=f"not understood: {', '.join(wrong)}")
    header = ["行 row", "姓名 name", "身份证号 ID", "结果 decision", "路径 route",
              "原因 reasons", "reasons", "破格 override by", "破格理由 override reason",
              "准考证号 admission"]  # fmt: skip
    rows = (
        [
            a.row,
            a.name,
            a.id_number,
            f"{a.decision.zh} {a.decision.value}",
            a.route,
            "；".join(
                f"{r['route']}：" + "、".join(m["zh"] for m in r["missing"]) for r in a.reasons
            ),
            "; ".join(
                f"{r['route']}: " + ", ".join(m["en"] for m in r["missing"]) for r in a.reasons
            ),
            a.override_by,
            a.override_reason,
            a.admission_no,
        ]
        for a in all_applications(g.engine, code, search)
    )
    return xlsx_download(f"{code}-申报-applications.xlsx", header, rows, "applications")


# --- the roster and answer sheets -------------------------------------------------------------


def _roster_page(code: str, problems: PageProblems | None = None) -> Any:
    search, wrong = parse_list(request.args, ROSTER_SORTS, "admission_no")
    page = roster_page(g.engine, code, search)
    return list_page(
        "sitting_roster.html",
        page,
        wrong,
        400 if problems else 200,
        url=list_url("sittings.roster", code, page.search, "admission_no"),
        code=code,
        problems=problems,
    )


@blueprint.get("/<code>/roster")
@require_role(*ADMIN)
def roster(code: str) -> Any:
    return _roster_page(code)


@blueprint.post("/<code>/roster")
@require_role(*ADMIN)
def upload_roster(code: str) -> Any:
    check_csrf()
    get_sitting_view(g.engine, code)  # an unknown sitting is 404 before any refusal
    _vault()  # none configured: 503 before the file is kept
    with saved_upload("roster") as upload:
        try:
            job = run_upload(
                lambda kept, display, worker: submit_roster(
                    g.engine, code, kept, display,
                    max_bytes=current_app.config["MAX_CONTENT_LENGTH"], actor=actor(),
                    account_id=account_id(), worker=worker,
                ),
                upload,
            )  # fmt: skip
        except NotFound:
            raise
        except Error as exc:
            return _roster_page(code, page_problems(exc, upload))
    return import_answer(
        job,
        lambda problems: _roster_page(code, problems),
        lambda said: _flashed(said, url_for("sittings.roster", code=code)),
    )


@blueprint.get("/<code>/roster.xlsx")
@require_role(*ADMIN)
def roster_xlsx(code: str) -> Any:
    search, wrong = parse_list(request.args, ROSTER_SORTS, "admission_no")
    if wrong:
        abort(400, description=f"not understood: {', '.join(wrong)}")
    header = ["准考证号 admission", "姓名 name", "身份证号 ID", "试卷 form", "试卷编号 paper",
              "答题卡 sheet", "结果 result"]  # fmt: skip
    rows = (
        [
            r.admission_no,
            r.name,
            r.id_number,
            r.form,
            r.paper,
            "有 yes" if r.has_sheet else "",
            "" if r.passed is None else ("合格 pass" if r.passed else "不合格 fail"),
        ]
        for r in all_roster(g.engine, code, search)
    )
    return xlsx_download(f"{code}-名册-roster.xlsx", header, rows, "roster")


def _sheets_page(code: str, problems: PageProblems | None = None, replace: bool = False) -> Any:
    view = get_sitting_view(g.engine, code)
    page = render_template(
        "sitting_sheets.html", view=view, code=view.code, problems=problems, replace=replace
    )
    return page, (400 if problems else 200)


@blueprint.get("/<code>/sheets")
@require_role(*ADMIN)
def sheets(code: str) -> Any:
    return _sheets_page(code)


@blueprint.post("/<code>/sheets")
@require_role(*ADMIN)
def upload_sheets(code: str) -> Any:
    check_csrf()
    get_sitting_view(g.engine, code)  # an unknown sitting is 404 before any refusal
    replace = request.form.get("replace") == "1"
    with saved_upload("answer sheet") as upload:
        try:
            job = run_upload(
                lambda kept, display, worker: submit_sheets(
                    g.engine, code, kept, display, replace=replace,
                    max_bytes=current_app.config["MAX_CONTENT_LENGTH"], actor=actor(),
                    account_id=account_id(), worker=worker,
                ),
                upload,
            )  # fmt: skip
        except NotFound:
            raise
        except Error as exc:
            return _sheets_page(code, page_problems(exc, upload), replace)
    return import_answer(
        job,
        lambda problems: _sheets_page(code, problems, replace),
        lambda said: _flashed(said, url_for("sittings.roster", code=code)),
    )
