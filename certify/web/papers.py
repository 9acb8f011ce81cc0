"""Blueprints and papers in the browser (login, admin role): uploading or editing a blueprint,
every problem shown with its field and line; checking it against the bank (the cells, or every
shortfall and what to relax); assembling it as a background job; a run's forms side by side;
each paper's questions and its PDFs; freezing a paper once confirmed.

Every page calls what ``certify papers`` calls (:mod:`question_bank.blueprints`,
:mod:`question_bank.papers`, :mod:`question_bank.paper_catalogue`,
:mod:`question_bank.assembly_job`); every change is audited under ``web:<username>``."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from certify.infra.errors import Error, InputError, Problem
from certify.infra.jobs import JobBusy, latest_job
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import PageProblems, page_problems, send_problems
from certify.web.jobs import actor, wake_runner
from question_bank.assembly.plan import Infeasible
from question_bank.assembly_job import ASSEMBLE, submit_assembly
from question_bank.blueprints import MAX_BYTES, blueprint_text, read_blueprint
from question_bank.paper_catalogue import (
    DOCUMENT_KINDS,
    RunComparison,
    list_blueprints,
    paper_document,
    paper_info,
    paper_qti,
    run_comparison,
)
from question_bank.papers import (
    freeze_paper,
    paper_view,
    plan_for,
    save_blueprint,
    stored_blueprint,
)
from question_bank.sealing import PaperSealed, seal_of_paper

blueprint = Blueprint("papers", __name__, url_prefix="/admin")
ADMIN = ("admin",)
BLUEPRINT_FILES = (".yaml", ".yml", ".json")
PER_PAGE = 50


def _whole(name: str, default: int) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and 0 < int(value) < 1_000_000 else default


@blueprint.get("/blueprints/")
@require_role(*ADMIN)
def index() -> Any:
    page = list_blueprints(g.engine, page=_whole("page", 1), per_page=PER_PAGE)
    if page.page > page.pages:
        return redirect(url_for("papers.index", page=page.pages))
    return render_template("papers.html", page=page)


# --- uploading and editing -------------------------------------------------------------------


def _editor(text: str, problems: PageProblems | None = None, code: str | None = None) -> Any:
    page = render_template("blueprint_edit.html", text=text, problems=problems, code=code)
    return page, (400 if problems else 200)


@blueprint.get("/blueprints/new")
@require_role(*ADMIN)
def new() -> Any:
    return _editor("")


@blueprint.get("/blueprints/<code>/edit")
@require_role(*ADMIN)
def edit(code: str) -> Any:
    return _editor(blueprint_text(stored_blueprint(g.engine, code)), code=code)


def _posted_text() -> tuple[str, str, bool]:
    """(the blueprint's text, its name as the user knows it, whether it is JSON): the chosen
    file when there is one, else the text typed in the editor."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        name = Path(upload.filename).name[:200]
        suffix = Path(name).suffix.lower()
        if suffix not in BLUEPRINT_FILES:
            abort(400, description="the blueprint file must be .yaml, .yml or .json")
        data = upload.stream.read(MAX_BYTES + 1)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(
                Problem(
                    name, None, None, "encoding", "蓝图须为 UTF-8 编码", "a blueprint must be UTF-8"
                )
            ) from None
        return text, name, suffix == ".json"
    text = request.form.get("text", "").replace("\r\n", "\n")
    return text, "blueprint", text.lstrip().startswith("{")


@blueprint.post("/blueprints/save")
@require_role(*ADMIN)
def save() -> Any:
    check_csrf()
    text, name = request.form.get("text", ""), "blueprint"
    try:
        text, name, json_text = _posted_text()
        bp = read_blueprint(text, name, json_text=json_text)
        saved = save_blueprint(g.engine, bp, actor=actor())
    except Error as exc:
        return _editor(text[:MAX_BYTES], page_problems(exc), request.form.get("code") or None)
    if saved.created:
        flash(f"蓝图 {saved.code} 已保存 / blueprint {saved.code} saved")
    elif saved.changed:
        flash(f"蓝图 {saved.code} 已更新 / blueprint {saved.code} updated")
    else:
        flash(f"蓝图 {saved.code} 没有变化 / blueprint {saved.code} unchanged")
    return redirect(url_for("papers.blueprint_page", code=saved.code))


@blueprint.get("/blueprints/problems/<token>.csv")
@require_role(*ADMIN)
def problems(token: str) -> Any:
    return send_problems(token)


@blueprint.get("/blueprints/<code>/blueprint.yaml")
@require_role(*ADMIN)
def download(code: str) -> Any:
    text = blueprint_text(stored_blueprint(g.engine, code))
    return send_file(
        io.BytesIO(text.encode("utf-8")),
        mimetype="application/yaml",
        as_attachment=True,
        download_name=f"{code}.yaml",
    )


# --- one blueprint: check, assemble, its forms -----------------------------------------------


CURVE_COLOURS = ("#8b1a1a", "#1f5f99", "#9a6700", "#1b6e35", "#6b3fa0", "#444444")


@dataclass(frozen=True)
class CurveChart:
    """The forms' test information curves beside their targets, laid out for an SVG: each
    curve a polyline's points, with the axes' ticks."""

    width: int
    height: int
    left: int
    bottom: int
    curves: list[tuple[str, str, str, str]]
    """(form code, colour, achieved points, target points) per form."""
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]


def information_chart(comparison: RunComparison) -> CurveChart | None:
    """The chart of a run assembled to a target information curve (None otherwise): θ across,
    information up, each form's achieved curve solid and its target dashed."""
    if not comparison.information:
        return None
    width, height, left, top, bottom = 640, 300, 56, 12, 262
    infos = [f.information or {} for f in comparison.forms]
    theta = [float(t) for t in infos[0]["theta"]]
    low, high = min(theta) - 0.5, max(theta) + 0.5
    top_value = max(max(max(i["achieved"]), max(i["target"])) for i in infos) * 1.1 or 1.0

    def x(t: float) -> float:
        return left + (t - low) / (high - low) * (width - left - 16)

    def y(v: float) -> float:
        return bottom - v / top_value * (bottom - top)

    def line(values: list[float]) -> str:
        return " ".join(f"{x(t):.1f},{y(float(v)):.1f}" for t, v in zip(theta, values, strict=True))

    curves = [
        (f.code, CURVE_COLOURS[n % len(CURVE_COLOURS)], line(i["achieved"]), line(i["target"]))
        for n, (f, i) in enumerate(zip(comparison.forms, infos, strict=True))
    ]
    raw = top_value / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    y_ticks = [(y(k * step), f"{k * step:g}") for k in range(int(top_value / step) + 1)]
    return CurveChart(
        width, height, left, bottom, curves, [(x(t), f"{t:+g}") for t in theta], y_ticks
    )


def _blueprint_page(code: str, problems: PageProblems | None = None, status: int = 200) -> Any:
    bp = stored_blueprint(g.engine, code)
    comparison = run_comparison(g.engine, code)
    return render_template(
        "blueprint.html",
        bp=bp,
        comparison=comparison,
        chart=information_chart(comparison) if comparison else None,
        job=latest_job(g.engine, ASSEMBLE, code),
        problems=problems,
        seed=request.form.get("seed", ""),
    ), status


@blueprint.get("/blueprints/<code>")
@require_role(*ADMIN)
def blueprint_page(code: str) -> Any:
    return _blueprint_page(code)


@blueprint.get("/blueprints/<code>/check")
@require_role(*ADMIN)
def check(code: str) -> Any:
    bp = stored_blueprint(g.engine, code)
    try:
        plan, shortfalls = plan_for(g.engine, bp), []
    except Infeasible as exc:
        plan, shortfalls = None, exc.shortfalls
    return render_template("blueprint_check.html", bp=bp, plan=plan, shortfalls=shortfalls)


@blueprint.post("/blueprints/<code>/assemble")
@require_role(*ADMIN)
def assemble(code: str) -> Any:
    check_csrf()
    typed = request.form.get("seed", "").strip()
    if typed and not (typed.isdigit() and len(typed) <= 18):
        problem = Problem(
            "", None, "seed", "seed", "种子须为非负整数", "the seed is a whole number ≥ 0"
        )
        return _blueprint_page(
            code, PageProblems("种子无效 / the seed is not valid", [problem]), 400
        )
    account = current_account()
    try:
        job = submit_assembly(
            g.engine,
            code,
            seed=int(typed) if typed else None,
            actor=actor(),
            account_id=account.id if account else None,
        )
    except JobBusy as exc:
        return _blueprint_page(code, page_problems(exc), 400)
    wake_runner()
    return redirect(url_for("jobs.page", job_id=job.id))


# --- papers ----------------------------------------------------------------------------------


@blueprint.get("/papers/<code>")
@require_role(*ADMIN)
def paper(code: str) -> Any:
    info = paper_info(g.engine, code)
    sealed = seal_of_paper(g.engine, code)
    try:
        view = paper_view(g.engine, code)
    except PaperSealed:
        view = None  # the page tells its seal and how it opens, nothing of its content
    return render_template("paper.html", info=info, view=view, sealed=sealed)


@blueprint.get("/papers/<code>/<doc>.pdf")
@require_role(*ADMIN)
def document(code: str, doc: str) -> Any:
    if doc not in DOCUMENT_KINDS:
        abort(404)
    content = paper_document(g.engine, code, doc)
    return send_file(
        io.BytesIO(content),
        mimetype="application/pdf",
        as_attachment=request.args.get("download") == "1",
        download_name=f"{code}-{DOCUMENT_KINDS[doc]}.pdf",
    )


@blueprint.get("/papers/<code>/qti.zip")
@require_role(*ADMIN)
def qti_package(code: str) -> Any:
    """The frozen paper as a QTI 3.0 package (``certify papers export-qti``); audited."""
    content = paper_qti(g.engine, code, actor=actor())
    return send_file(
        io.BytesIO(content),
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"{code}-qti.zip",
    )


def _freeze_page(code: str, typed: str = "", problems: PageProblems | None = None) -> Any:
    info = paper_info(g.engine, code)
    page = render_template("paper_freeze.html", info=info, typed=typed, problems=problems)
    return page, (400 if problems else 200)


@blueprint.get("/papers/<code>/freeze")
@require_role(*ADMIN)
def freeze_form(code: str) -> Any:
    return _freeze_page(code)


@blueprint.post("/papers/<code>/freeze")
@require_role(*ADMIN)
def freeze(code: str) -> Any:
    check_csrf()
    typed = request.form.get("confirm", "")[:200]
    if typed.strip() != code:
        problem = Problem(
            code,
            None,
            "confirm",
            "not_confirmed",
            "请输入试卷编号以确认锁定",
            "type the paper's code to confirm freezing it",
        )
        info = paper_info(g.engine, code)  # an unknown paper is 404 before any refusal
        refused = "未确认，试卷未锁定 / not confirmed: the paper is not frozen"
        return _freeze_page(info.code, typed, PageProblems(refused, [problem]))
    paper = freeze_paper(g.engine, code, actor=actor())
    flash(f"{paper.code}: 已锁定 / frozen")
    return redirect(url_for("papers.paper", code=paper.code))
