"""Sealed papers (试卷保密) in the browser (login, admin role): sealing a paper with the forms it
shares items with, the shares shown once to hand to the custodians, the list of seals and the
opening with k custodians' shares.

Every page calls what ``certify papers seal/open/seals`` calls (:mod:`question_bank.sealing`);
sealing and every opening, refused or not, are audited under ``web:<username>``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, g, make_response, redirect, render_template, request, url_for

from certify.delivery.schedule import session_times
from certify.infra.errors import Error
from certify.web.auth import check_csrf, require_role
from certify.web.common import PageProblems, page_problems
from certify.web.jobs import actor
from question_bank.paper_catalogue import paper_info, papers_to_seal_with
from question_bank.sealing import (
    MAX_CUSTODIANS,
    SealError,
    get_seal,
    list_seals,
    open_seal,
    seal_of_paper,
    seal_papers,
)
from question_bank.sealing import beijing as beijing_time
from schemas.reference import CST

blueprint = Blueprint("seals", __name__, url_prefix="/admin")
ADMIN = ("admin",)
FIELDS = ("papers", "custodians", "threshold", "session", "opens", "ends", "print_lead")


@blueprint.app_template_filter("beijing")
def beijing(at: datetime | None) -> str:
    """A moment as Beijing time, the time of every exam on the platform."""
    return beijing_time(at) if at else "—"


@blueprint.get("/seals/")
@require_role(*ADMIN)
def index() -> Any:
    return render_template("seals.html", seals=list_seals(g.engine))


@blueprint.get("/seals/<int:seal_id>")
@require_role(*ADMIN)
def seal(seal_id: int) -> Any:
    return _seal_page(seal_id)


def _seal_page(seal_id: int, problems: PageProblems | None = None) -> Any:
    found = get_seal(g.engine, seal_id)
    page = render_template("seal.html", seal=found, problems=problems)
    return page, (400 if problems else 200)


@blueprint.post("/seals/<int:seal_id>/open")
@require_role(*ADMIN)
def open_(seal_id: int) -> Any:
    check_csrf()
    shares = [s[:400] for s in request.form.getlist("share")[:MAX_CUSTODIANS] if s.strip()]
    try:
        opened = open_seal(g.engine, seal_id, shares, actor=actor())
    except SealError as exc:
        return _seal_page(seal_id, page_problems(exc))
    return redirect(url_for("seals.seal", seal_id=opened.seal_id))


@blueprint.get("/papers/<code>/seal")
@require_role(*ADMIN)
def seal_form(code: str) -> Any:
    info = paper_info(g.engine, code)
    sealed = seal_of_paper(g.engine, code)
    typed = {"papers": " ".join(papers_to_seal_with(g.engine, code)), "threshold": "2"}
    return render_template("seal_form.html", info=info, sealed=sealed, typed=typed, problems=None)


@blueprint.post("/papers/<code>/seal")
@require_role(*ADMIN)
def seal_post(code: str) -> Any:
    check_csrf()
    info = paper_info(g.engine, code)  # an unknown paper is 404 before any refusal
    typed = {k: request.form.get(k, "")[:4_000] for k in FIELDS}
    pages: list[str] = []
    try:
        opens, ends = _times(typed)
        seal_papers(
            g.engine,
            typed["papers"].split()[:50],
            custodians=[c for c in typed["custodians"].splitlines() if c.strip()][:64],
            threshold=_whole(typed["threshold"], "threshold"),
            opens_at=opens,
            ends_at=ends,
            print_lead_minutes=_whole(typed["print_lead"] or "0", "print_lead"),
            actor=actor(),
            # the page with the shares is made before the seal commits: no seal without it
            deliver=lambda made: pages.append(render_template("seal_shares.html", sealed=made)),
        )
    except Error as exc:
        problems = page_problems(exc)
        page = render_template(
            "seal_form.html", info=info, sealed=None, typed=typed, problems=problems
        )
        return page, 400
    # The shares are shown this once and kept nowhere: the page must not be cached either.
    response = make_response(pages[0])
    response.headers["Cache-Control"] = "no-store"
    return response


def _whole(text: str, field: str) -> int:
    if not text.strip().isdigit() or len(text.strip()) > 6:
        raise SealError(f"{field}: 应为整数 / a whole number")
    return int(text.strip())


def _times(typed: dict[str, str]) -> tuple[datetime, datetime]:
    """The session's start and end: an exam session's, or typed in Beijing time."""
    if typed["session"].strip():
        return session_times(g.engine, typed["session"].strip()[:64])
    return _beijing(typed["opens"], "opens"), _beijing(typed["ends"], "ends")


def _beijing(text: str, field: str) -> datetime:
    try:
        return datetime.strptime(text.strip().replace("T", " "), "%Y-%m-%d %H:%M").replace(
            tzinfo=CST
        )
    except ValueError:
        raise SealError(
            f"{field}: 时间应为 2026-12-20 09:00（北京时间），或填写考试场次 / the time is "
            "YYYY-MM-DD HH:MM (Beijing time), or give the exam session"
        ) from None
