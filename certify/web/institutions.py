"""Institutions in the browser (``/admin/institutions/``, admin role): every institution of the
platform with its authorisations; adding one, setting its region, authorising it for
occupations × levels over a period, and ending an authorisation — each the call
``certify institution`` makes (:mod:`certify.institutions.registry`), audited under
``web:<username>``. A refused change answers with the page itself, status 400, the reason named
and what was typed kept."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from certify.infra.errors import Error
from certify.institutions.registry import (
    KIND_NAMES_ZH,
    add_institution,
    authorise,
    end_authorisation,
    list_institutions,
    set_region,
)
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import form_day, page_problems
from schemas.enums import CertificateKind, Level
from schemas.reference import occupations

blueprint = Blueprint("institutions", __name__, url_prefix="/admin/institutions")
ADMIN = ("admin",)
FIELDS = (
    "code",
    "name",
    "region",
    "institution",
    "kind",
    "occupation",
    "level",
    "valid_from",
    "valid_until",
    "last_day",
)


def _actor() -> str:
    account = current_account()
    assert account is not None
    return f"web:{account.username}"


def _page(typed: Mapping[str, str] | None = None, problems: Any = None, form: str = "") -> Any:
    page = render_template(
        "institutions.html",
        views=list_institutions(g.engine),
        typed=typed or {},
        problems=problems,
        form=form,
        kinds=[(k.value, KIND_NAMES_ZH[k]) for k in CertificateKind],
        occupations=occupations(),
        levels=list(Level),
        today=date.today(),
    )
    return (page, 400) if problems else page


def _typed() -> dict[str, str]:
    return {k: request.form.get(k, "")[:200] for k in FIELDS}


@blueprint.get("/")
@require_role(*ADMIN)
def index() -> Any:
    return _page()


@blueprint.post("/")
@require_role(*ADMIN)
def add() -> Any:
    check_csrf()
    typed = _typed()
    try:
        row = add_institution(
            g.engine, typed["code"], typed["name"], region=typed["region"], actor=_actor()
        )
    except Error as exc:
        return _page(typed, page_problems(exc), "add")
    flash(f"机构 {row.code} 已登记 / institution {row.code} added")
    return redirect(url_for("institutions.index"))


@blueprint.post("/region")
@require_role(*ADMIN)
def region() -> Any:
    check_csrf()
    typed = _typed()
    try:
        row = set_region(g.engine, typed["institution"], typed["region"], actor=_actor())
    except Error as exc:
        return _page(typed, page_problems(exc), "region")
    flash(f"机构 {row.code} 的地区已改为 {row.region} / region of {row.code} set")
    return redirect(url_for("institutions.index"))


@blueprint.post("/authorise")
@require_role(*ADMIN)
def grant() -> Any:
    check_csrf()
    typed = _typed()
    try:
        made = authorise(
            g.engine,
            typed["institution"],
            kind=typed["kind"],
            occupations=request.form.getlist("occupation")[:20],
            levels=request.form.getlist("level")[:3],
            valid_from=form_day("valid_from", date.today()) or date.today(),
            valid_until=form_day("valid_until"),
            actor=_actor(),
        )
    except Error as exc:
        return _page(typed, page_problems(exc), "authorise")
    flash(f"已授权 {len(made)} 项 / {len(made)} authorisation(s) made")
    return redirect(url_for("institutions.index"))


@blueprint.post("/end")
@require_role(*ADMIN)
def end() -> Any:
    check_csrf()
    typed = _typed()
    try:
        ended = end_authorisation(
            g.engine,
            typed["institution"],
            kind=typed["kind"],
            occupation=typed["occupation"],
            level=typed["level"],
            last_day=form_day("last_day", date.today()) or date.today(),
            actor=_actor(),
        )
    except Error as exc:
        return _page(typed, page_problems(exc), "end")
    flash(f"已终止 / ended: {ended.describe()}")
    return redirect(url_for("institutions.index"))
