"""A sitting's equating and pass rule in the browser (login, admin role): an equating run as a
background job with the parameters ``certify irt equate`` takes, its pass marks and conversion
tables (and as a workbook), and the pass rule switched between raw and equated
(``certify sitting pass-rule``) once the decision consistency has been seen and confirmed.

The job (:mod:`certify.grading.equating_job`) runs one at a time per sitting beside grading and
regrading; runs and the rule are audited under ``web:<username>``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from certify.grading.equating_job import (
    EQUATE,
    EquatingParams,
    decisions_of,
    equating_runs,
    pass_rule,
    sitting_run,
    submit_equating,
)
from certify.grading.form_equating import METHODS, RULES, Decisions, decisions, set_pass_rule
from certify.infra.errors import Error, NotFound
from certify.infra.jobs import latest_job
from certify.registration.sittings import get_sitting_view
from certify.web.auth import check_csrf, require_role
from certify.web.common import PageProblems, page_problems, xlsx_download
from certify.web.jobs import actor, wake_runner
from certify.web.sittings import account_id, refused_field
from schemas.tables import EquatingRun, FormEquating

blueprint = Blueprint("equating", __name__, url_prefix="/admin/sittings")
ADMIN = ("admin",)
DEFAULTS = {"method": "equipercentile", "reference": "", "smoothing": "4",
            "replications": "200", "seed": "0"}  # fmt: skip
SHOWN = 500
"""Admission numbers shown of each list of decisions that differ (the rest counted)."""


def _run_asked() -> int | None:
    value = request.args.get("run", "") or request.form.get("run", "")
    return int(value) if value.isdigit() and len(value) < 12 else None


def _page(
    code: str,
    problems: PageProblems | None = None,
    typed: Mapping[str, str] | None = None,
    rule_typed: Mapping[str, str] | None = None,
) -> Any:
    view = get_sitting_view(g.engine, code)
    runs = equating_runs(g.engine, view.code)
    asked = _run_asked()
    chosen = asked if asked is not None else (runs[0].id if runs else None)
    run: EquatingRun | None = None
    rows: list[FormEquating] = []
    found: Decisions | None = None
    job = latest_job(g.engine, EQUATE, view.code)
    if chosen is not None:
        try:
            run, rows = sitting_run(g.engine, view.code, chosen)
            stored = job.result if job and job.result and job.result.get("run") == chosen else {}
            found = (
                decisions_of(stored["decisions"])
                if stored.get("decisions")
                else decisions(g.engine, view.code, run_id=chosen)
            )
        except NotFound:
            raise
        except Error as exc:
            problems = problems or page_problems(exc)
    rule, rule_run = pass_rule(g.engine, view.code)
    page = render_template(
        "sitting_equating.html",
        code=view.code,
        job=job,
        runs=runs,
        run=run,
        rows=rows,
        found=found,
        shown=SHOWN,
        rule=rule,
        rule_run=rule_run,
        methods=METHODS,
        rules=RULES,
        typed={**DEFAULTS, **(typed or {})},
        rule_typed=rule_typed or {},
        problems=problems,
    )
    return page, (400 if problems else 200)


@blueprint.get("/<code>/equating")
@require_role(*ADMIN)
def equating(code: str) -> Any:
    return _page(code)


def _whole(typed: Mapping[str, str], name: str) -> int:
    text = typed[name].strip()
    if not (text.isdigit() and len(text) < 11):
        raise _Refused(name, f"{name} 须为整数", f"{name} must be a whole number")
    return int(text)


class _Refused(Exception):
    def __init__(self, field: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.problems = refused_field(field, zh, en)


@blueprint.post("/<code>/equating")
@require_role(*ADMIN)
def start(code: str) -> Any:
    check_csrf()
    get_sitting_view(g.engine, code)  # an unknown sitting is 404 before any refusal
    typed = {n: request.form.get(n, d)[:40] for n, d in DEFAULTS.items()}
    try:
        params = EquatingParams(
            method=typed["method"],
            reference=typed["reference"].strip() or None,
            smoothing=_whole(typed, "smoothing"),
            replications=_whole(typed, "replications"),
            seed=_whole(typed, "seed"),
        )
        job = submit_equating(g.engine, code, params, actor=actor(), account_id=account_id())
    except _Refused as refused:
        return _page(code, refused.problems, typed)
    except NotFound:
        raise
    except Error as exc:
        return _page(code, page_problems(exc), typed)
    wake_runner()
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.get("/<code>/equating/<int:run_id>.xlsx")
@require_role(*ADMIN)
def tables_xlsx(code: str, run_id: int) -> Any:
    try:
        run, rows = sitting_run(g.engine, code, run_id)
    except NotFound:
        raise
    except Error:
        abort(404)
    header = ["部分 part", "试卷 form", "原始分 score",
              f"参照卷 {run.reference_form} 上的等值分 equivalent", "标准误 SE"]  # fmt: skip
    table = (
        [r.part, r.form, x, round(e, 4), None if s < 0 else round(s, 4)]
        for r in rows
        for x, e, s in r.table
    )
    return xlsx_download(f"{code}-等值-run{run.id}.xlsx", header, table, "conversions")


@blueprint.post("/<code>/pass-rule")
@require_role(*ADMIN)
def change_rule(code: str) -> Any:
    check_csrf()
    get_sitting_view(g.engine, code)  # an unknown sitting is 404 before any refusal
    typed = {"rule": request.form.get("rule", "")[:16], "run": request.form.get("run", "")[:12]}
    if request.form.get("confirm") != "yes":
        refusal = refused_field(
            "confirm",
            "请先查看判定一致性，勾选确认后再更改合格判定规则",
            "read the decision consistency and tick the confirmation before changing the rule",
        )
        return _page(code, refusal, rule_typed=typed)
    run_id = _run_asked() if typed["rule"] == "equated" else None
    try:
        row = set_pass_rule(g.engine, code, typed["rule"], run_id=run_id, actor=actor())
    except NotFound:
        raise
    except Error as exc:
        return _page(code, page_problems(exc), rule_typed=typed)
    flash(
        f"合格判定规则 pass rule: {row.pass_rule}"
        + (f" (run {row.equating_run_id})" if row.equating_run_id else "")
        + " · 重新阅卷后生效 / grade again to apply it"
    )
    return redirect(url_for("equating.equating", code=code, run=row.equating_run_id))
