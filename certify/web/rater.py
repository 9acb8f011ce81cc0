"""Raters (login, rater role): the anonymous marking list of a sitting, and uploading marks.

The marking list carries script codes, never candidates; marks go through the same import as
``certify marks import`` (double marking, third marks, round-one lock). A refused file's
problems are shown on the page that answers the upload. A script's page shows the question, the
rubric and — for a computer-based sitting — the typed answer with its attachments, reached by
the script code only: an attachment that is not the script's is "not found", and files are
served as downloads of their stored type, never rendered by the browser."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, send_file, url_for

from certify.grading.import_jobs import submit_marks
from certify.grading.marks import (
    MARKING_LIST_HEADER,
    marking_list,
    marking_list_rows,
    script_attachment,
    script_view,
)
from certify.infra.errors import Error, NotFound
from certify.infra.tabular import table_bytes
from certify.registration.sittings import list_sittings
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import PageProblems, page_problems, saved_upload, send_problems
from certify.web.jobs import import_answer, run_upload
from question_bank.images import images_in

blueprint = Blueprint("rater", __name__, url_prefix="/rater")
RATER = ("rater", "admin")


@blueprint.get("/")
@require_role(*RATER)
def index() -> Any:
    return _page()


def _page(problems: PageProblems | None = None) -> str:
    return render_template("rater.html", sittings=list_sittings(g.engine), problems=problems)


@blueprint.get("/sittings/<code>/marking-list.csv")
@require_role(*RATER)
def marking_list_csv(code: str) -> Any:
    scripts = marking_list(g.engine, code)  # an unknown sitting is a 404 (NotFound)
    data = io.BytesIO(table_bytes(MARKING_LIST_HEADER, marking_list_rows(scripts), "csv", "评卷"))
    return send_file(
        data, mimetype="text/csv", as_attachment=True, download_name=f"{code}-评卷清单.csv"
    )


@blueprint.post("/sittings/<code>/marks")
@require_role(*RATER)
def upload_marks(code: str) -> Any:
    check_csrf()
    account = current_account()
    assert account is not None
    with saved_upload("marks") as upload:
        try:
            job = run_upload(
                lambda kept, display, worker: submit_marks(
                    g.engine, code, kept, display, rater=account.username,
                    max_bytes=current_app.config["MAX_CONTENT_LENGTH"],
                    actor=f"web:{account.username}", account_id=account.id, worker=worker,
                ),
                upload,
            )  # fmt: skip
        except NotFound:
            raise
        except Error as exc:  # every problem on the page, never in the cookie
            return _page(page_problems(exc, upload)), 400
    return import_answer(job, lambda problems: (_page(problems), 400), _stored)


def _stored(said: str) -> Any:
    flash(said)
    return redirect(url_for("rater.index"))


@blueprint.get("/problems/<token>.csv")
@require_role(*RATER)
def problems(token: str) -> Any:
    """The problems of this rater's last refused upload, as CSV."""
    return send_problems(token)


@blueprint.get("/sittings/<code>/scripts")
@require_role(*RATER)
def scripts(code: str) -> Any:
    """Every script of the sitting by code, each linking to its page."""
    return render_template("rater_scripts.html", code=code, scripts=marking_list(g.engine, code))


@blueprint.get("/sittings/<code>/scripts/<script>")
@require_role(*RATER)
def script(code: str, script: str) -> Any:
    view = script_view(g.engine, code, script)
    images = images_in(g.engine, [view.script.stem])  # the raters see what candidates saw
    return render_template("rater_script.html", view=view, images=images)


@blueprint.get("/sittings/<code>/scripts/<script>/attachments/<int:attachment_id>")
@require_role(*RATER)
def attachment(code: str, script: str, attachment_id: int) -> Any:
    name, media_type, data = script_attachment(g.engine, code, script, attachment_id)
    response = send_file(
        io.BytesIO(data), mimetype=media_type, as_attachment=True, download_name=name
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
