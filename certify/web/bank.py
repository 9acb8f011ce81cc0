"""The question bank in the browser (login, admin role): uploading item files (certify's own
CSV/XLSX/JSON, and GIFT, Moodle XML and QTI 3.0 with where their questions go), browsing and
searching items a page at a time, an item's versions and what changed between two of them,
retiring and restoring items, the import template and the bank's summary.

Every page calls the functions ``certify bank`` calls (:mod:`question_bank.bank`,
:mod:`question_bank.catalogue`, :mod:`question_bank.template`); every change is audited under
``web:<username>``; a refused upload or change answers with the page itself, status 400, every
problem listed by file, row and field, and the database unchanged."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
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
    send_file,
    url_for,
)
from markupsafe import Markup, escape

from certify.infra.errors import Error, InputError, NotFound, Problem
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import (
    PageProblems,
    page_problems,
    rejects_file,
    saved_upload,
    send_problems,
    send_rejects,
)
from certify.web.jobs import job_problems, run_upload, still_running
from question_bank.bank import BankSummary, ImportReport, bank_summary
from question_bank.catalogue import (
    MAX_PER_PAGE,
    SORTS,
    ItemHistory,
    ItemSearch,
    diff_versions,
    item_history,
    restore_item,
    retire_item,
    search_items,
)
from question_bank.formats import FORMATS
from question_bank.images import CheckedImage, images_in, marker, segments, shown_texts
from question_bank.import_job import report_of, submit_bank_import
from question_bank.interchange.common import ITEM_ID, Placement, parse_placement
from question_bank.interchange.files import FOREIGN_FORMATS
from question_bank.interchange.files import FORMATS as UPLOAD_FORMATS
from question_bank.template import write_template
from schemas.enums import ItemStatus, ItemType, JobState, Level
from schemas.reference import LEVEL_NAMES_ZH, find_occupation, occupations

blueprint = Blueprint("bank", __name__, url_prefix="/admin/bank")
ADMIN = ("admin",)
BANK_UPLOADS = (".csv", ".xlsx", ".json", ".gift", ".txt", ".xml", ".zip")
MAX_MAP_CHARS = 20_000
"""Characters of a category mapping typed into the upload form."""
PER_PAGE = (20, 50, 100, MAX_PER_PAGE)
MEDIA_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def _actor() -> str:
    account = current_account()
    assert account is not None
    return f"web:{account.username}"


def _account_id() -> int | None:
    account = current_account()
    return account.id if account else None


@blueprint.app_template_filter("level_name")
def _level_name(level: Level | str) -> str:
    found = Level(level)
    return LEVEL_NAMES_ZH[found] if g.get("lang", "zh") == "zh" else found.value


@blueprint.app_template_filter("with_images")
def _with_images(text: str, images: Mapping[str, CheckedImage]) -> Markup:
    """An item's text for the page: escaped, its images as ``data:`` images (the page's policy
    allows those and nothing from elsewhere); one the bank lacks shows as its marker."""
    out: list[str] = []
    for piece in segments(text) if "](sha256:" in text else [text]:
        if isinstance(piece, str):
            out.append(str(escape(piece)))
        elif piece[1] in images:
            out.append(
                f'<img class="item-image" src="{images[piece[1]].data_uri()}" '
                f'alt="{escape(piece[0] or "图片")}">'
            )
        else:
            out.append(str(escape(marker(piece[1], piece[0]))))
    return Markup("".join(out))


@blueprint.app_template_filter("occupation_name")
def _occupation_name(slug: str) -> str:
    occ = find_occupation(slug)
    if occ is None:
        return slug
    return occ.short_zh if g.get("lang", "zh") == "zh" else occ.name_en


# --- browsing --------------------------------------------------------------------------------


def _choice(args: Mapping[str, str], name: str, kind: Any, wrong: list[str]) -> Any:
    value = args.get(name, "").strip()
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        wrong.append(name)
        return None


def _whole(args: Mapping[str, str], name: str, default: int, wrong: list[str]) -> int:
    value = args.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not 0 < int(value) < 1_000_000:
        wrong.append(name)
        return default
    return int(value)


def parse_search(args: Mapping[str, str]) -> tuple[ItemSearch, list[str]]:
    """The search a query string asks for, and the names of the fields it got wrong (each then
    left out of the search, while the form still shows what was typed)."""
    wrong: list[str] = []
    occupation = args.get("occupation", "").strip()
    if occupation and find_occupation(occupation) is None:
        wrong.append("occupation")
    found = find_occupation(occupation) if occupation else None
    sort = args.get("sort", "item_id")
    if sort not in SORTS:
        wrong.append("sort")
        sort = "item_id"
    per_page = _whole(args, "per_page", 50, wrong)
    if per_page not in PER_PAGE:
        wrong.append("per_page")
        per_page = 50
    search = ItemSearch(
        occupation=found.slug if found else None,
        level=_choice(args, "level", Level, wrong),
        knowledge_area=args.get("area", "").strip()[:16] or None,
        type=_choice(args, "type", ItemType, wrong),
        status=_choice(args, "status", ItemStatus, wrong),
        text=args.get("q", "").strip()[:200],
        sort=sort,
        descending=args.get("dir") == "desc",
        page=_whole(args, "page", 1, wrong),
        per_page=per_page,
    )
    return search, wrong


def search_url(search: ItemSearch, **changes: Any) -> str:
    """The list's URL for ``search`` with ``changes`` (``sort``, ``dir``, ``page``, …)."""
    params: dict[str, Any] = {
        "occupation": search.occupation,
        "level": search.level.value if search.level else None,
        "area": search.knowledge_area,
        "type": search.type.value if search.type else None,
        "status": search.status.value if search.status else None,
        "q": search.text or None,
        "sort": search.sort if search.sort != "item_id" else None,
        "dir": "desc" if search.descending else None,
        "per_page": search.per_page if search.per_page != 50 else None,
        "page": search.page if search.page != 1 else None,
    }
    params.update(changes)
    return url_for("bank.index", **{k: v for k, v in params.items() if v not in (None, "")})


@blueprint.get("/")
@require_role(*ADMIN)
def index() -> Any:
    search, wrong = parse_search(request.args)
    page = search_items(g.engine, search)
    if page.search.page > page.pages and page.total:
        return redirect(search_url(page.search, page=page.pages))
    return render_template(
        "bank.html",
        page=page,
        wrong=wrong,
        typed=request.args,
        search_url=search_url,
        occupations=occupations(),
        levels=list(Level),
        types=list(ItemType),
        statuses=list(ItemStatus),
        per_pages=PER_PAGE,
        sorts=SORTS,
    ), (400 if wrong else 200)


# --- uploading -------------------------------------------------------------------------------


def _upload_page(
    problems: PageProblems | None = None,
    rejects: str | None = None,
    report: ImportReport | None = None,
    status: int = 200,
) -> Any:
    page = render_template(
        "bank_upload.html",
        problems=problems,
        rejects=rejects,
        report=report,
        typed=request.form,
        formats=UPLOAD_FORMATS,
        foreign=FOREIGN_FORMATS,
        occupations=occupations(),
        levels=list(Level),
        max_map=MAX_MAP_CHARS,
    )
    return page, status


@blueprint.get("/upload")
@require_role(*ADMIN)
def upload_form() -> Any:
    return _upload_page()


def _form_problem(field: str, code: str, zh: str, en: str) -> InputError:
    return InputError(Problem("表单 form", None, field, code, zh, en))


def parse_placement_form(form: Mapping[str, str]) -> tuple[str | None, Placement]:
    """The format and the placement an upload form asks for: what ``certify bank import``
    takes as ``--format``, ``--occupation``, ``--level``, ``--area``, ``--id-prefix`` and
    ``--map`` (here the mapping's text). Raises InputError naming the field at fault."""
    fmt = form.get("format", "").strip()
    if fmt and fmt not in UPLOAD_FORMATS:
        raise _form_problem("format", "bad_format", "未知格式", f"unknown format {fmt[:20]!r}")
    occupation = form.get("occupation", "").strip()
    if occupation and find_occupation(occupation) is None:
        raise _form_problem("occupation", "bad_occupation", "未知职业", "unknown occupation")
    level = form.get("level", "").strip()
    if level and level not in {lv.value for lv in Level}:
        raise _form_problem("level", "bad_level", "未知等级", "unknown level")
    area = form.get("area", "").strip()
    if len(area) > 16:
        raise _form_problem("area", "bad_area", "知识领域代码过长", "the area code is too long")
    prefix = form.get("id_prefix", "").strip()
    if (prefix and not ITEM_ID.fullmatch(prefix)) or len(prefix) > 16:
        raise _form_problem(
            "id_prefix",
            "bad_id_prefix",
            "编号前缀只能含字母、数字、点、下划线和连字符（至多 16 个）",
            "the id prefix takes letters, digits, dots, underscores and hyphens (at most 16)",
        )
    mapping = form.get("categories", "")
    if len(mapping) > MAX_MAP_CHARS:
        raise _form_problem(
            "categories",
            "bad_category_map",
            f"知识领域对照过长（至多 {MAX_MAP_CHARS} 字）",
            f"the category mapping is too long (at most {MAX_MAP_CHARS} characters)",
        )
    found = find_occupation(occupation) if occupation else None
    placement = parse_placement(
        mapping,
        "知识领域对照 category mapping",
        occupation=found.slug if found else None,
        level=level or None,
        area=area or None,
        id_prefix=prefix,
    )
    return fmt or None, placement


@blueprint.post("/upload")
@require_role(*ADMIN)
def upload() -> Any:
    check_csrf()
    try:
        fmt, placement = parse_placement_form(request.form)
    except Error as exc:
        return _upload_page(page_problems(exc), status=400)
    with saved_upload("item", BANK_UPLOADS) as upload:
        rejects, token = rejects_file()
        try:
            job = run_upload(
                lambda kept, display, worker: submit_bank_import(
                    g.engine, kept, display, fmt=fmt, placement=placement, rejects=rejects,
                    max_bytes=current_app.config["MAX_CONTENT_LENGTH"], actor=_actor(),
                    account_id=_account_id(), worker=worker,
                ),
                upload,
            )  # fmt: skip
        except Error as exc:
            return _upload_page(page_problems(exc, upload), status=400)
    if not job.finished:
        return still_running(job)
    if job.state is JobState.FAILED:
        link = url_for("bank.rejects", token=token) if rejects.is_file() else None
        return _upload_page(job_problems(job), link, status=400)
    report = report_of(job.result)
    summary = (
        f"{report.file}: {report.rows} 行 — 新增 {report.created}，新版本 {report.new_versions}，"
        f"状态变更 {report.status_changed}，未变 {report.unchanged} / {report.rows} row(s): "
        f"{report.created} created, {report.new_versions} new version(s), "
        f"{report.status_changed} status change(s), {report.unchanged} unchanged"
    )
    if report.notices:  # what was left behind is listed on the page, never in a cookie
        return _upload_page(report=report)
    flash(summary)
    return redirect(url_for("bank.index", sort="updated", dir="desc"))


@blueprint.get("/problems/<token>.csv")
@require_role(*ADMIN)
def problems(token: str) -> Any:
    return send_problems(token)


@blueprint.get("/rejects/<token>.csv")
@require_role(*ADMIN)
def rejects(token: str) -> Any:
    return send_rejects(token, "rejected-退回题目.csv")


@blueprint.get("/template.<fmt>")
@require_role(*ADMIN)
def template(fmt: str) -> Any:
    if fmt not in FORMATS:
        abort(404)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"template.{fmt}"
        write_template(path)
        data = path.read_bytes()
    return send_file(
        io.BytesIO(data),
        mimetype=MEDIA_TYPES[fmt],
        as_attachment=True,
        download_name=f"题库导入模板-template.{fmt}",
    )


# --- one item --------------------------------------------------------------------------------


def _version_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 9 else None


def _item_page(history: ItemHistory, problems: PageProblems | None = None, reason: str = "") -> str:
    numbers = [v.version for v in history.versions]
    after = _version_arg("b") or numbers[-1]
    before = _version_arg("a") or (numbers[-2] if len(numbers) > 1 else numbers[-1])
    compared = None
    if before != after:
        try:
            old, new = history.version(before), history.version(after)
        except NotFound:
            abort(404)
        compared = (old, new, diff_versions(old.data, new.data))
    return render_template(
        "bank_item.html",
        images=images_in(g.engine, shown_texts(*(v.data for v in history.versions))),
        history=history,
        latest=history.latest,
        compared=compared,
        before=before,
        after=after,
        problems=problems,
        reason=reason,
        retired=ItemStatus.RETIRED,
    )


@blueprint.get("/items/<item_code>")
@require_role(*ADMIN)
def item(item_code: str) -> Any:
    return _item_page(item_history(g.engine, item_code))


@blueprint.post("/items/<item_code>/status")
@require_role(*ADMIN)
def item_status(item_code: str) -> Any:
    check_csrf()
    action = request.form.get("action", "")
    if action not in ("retire", "restore"):
        abort(400, description="action must be retire or restore")
    reason = request.form.get("reason", "")
    change = retire_item if action == "retire" else restore_item
    try:
        done = change(g.engine, item_code, reason, actor=_actor())
    except NotFound:
        raise
    except Error as exc:
        history = item_history(g.engine, item_code)
        return _item_page(history, page_problems(exc), reason[:2_000]), 400
    flash(f"{done.item_id} v{done.version}: {done.after.zh} / {done.after.en}")
    return redirect(url_for("bank.item", item_code=item_code))


# --- the summary -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One occupation and level in the chart: its items by status, as widths out of 100."""

    label: str
    total: int
    parts: list[tuple[ItemStatus, int, float, float]]
    """(status, items, x, width): x and width in per cent of the chart's bar area."""


def chart_bars(summary: list[BankSummary], lang: str) -> list[Bar]:
    """The summary as horizontal bars, stacked ready, draft, retired, scaled to the largest."""
    largest = max((s.items for s in summary), default=0) or 1
    bars = []
    for s in summary:
        occ = find_occupation(s.occupation)
        name = (occ.short_zh if lang == "zh" else occ.name_en) if occ else s.occupation
        level = LEVEL_NAMES_ZH[s.level] if lang == "zh" else s.level.value
        x, parts = 0.0, []
        for status in (ItemStatus.READY, ItemStatus.DRAFT, ItemStatus.RETIRED):
            count = s.by_status.get(status.value, 0)
            width = 100 * count / largest
            parts.append((status, count, x, width))
            x += width
        bars.append(Bar(f"{name} · {level}", s.items, parts))
    return bars


@blueprint.get("/summary")
@require_role(*ADMIN)
def summary() -> Any:
    found = bank_summary(g.engine)
    return render_template(
        "bank_summary.html",
        summary=found,
        bars=chart_bars(found, g.get("lang", "zh")),
        types=list(ItemType),
        statuses=[ItemStatus.READY, ItemStatus.DRAFT, ItemStatus.RETIRED],
        find_occupation=find_occupation,
    )
