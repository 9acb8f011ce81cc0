"""监考 (login, invigilator role — their own rooms; admins every room): the room console.

The console page polls the room's status every 3 seconds; each action is a form post (CSRF)
that calls :func:`certify.delivery.console.act`, which checks the room is this account's, logs
the action in the room and audits it under the account; a candidate's answer backup file is
imported the same way (:func:`certify.delivery.backup.restore`). The room report (考场记录) and the
room's admission tickets are PDFs made from the same records.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, g, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from certify.delivery import backup, console
from certify.delivery.tickets import room_report, room_tickets
from certify.infra.errors import NotFound, Refused
from certify.web.auth import check_csrf, current_account, require_role

blueprint = Blueprint("invigilate", __name__, url_prefix="/invigilate")
ROLES = ("invigilator", "admin")


def _staff() -> console.Staff:
    account = current_account()
    assert account is not None
    return console.Staff(account.username, account.role)


@blueprint.errorhandler(Refused)
def _refused(exc: Refused) -> Any:
    response = jsonify(
        {"error": exc.code, "message_zh": exc.message_zh, "message_en": exc.message_en}
    )
    response.status_code = exc.status
    return response


@blueprint.get("/")
@require_role(*ROLES)
def index() -> Any:
    return render_template("invigilate.html", rooms=console.rooms_for(g.engine, _staff()))


@blueprint.get("/rooms/<int:room_id>")
@require_role(*ROLES)
def room(room_id: int) -> Any:
    status = console.room_status(g.engine, room_id, _staff())
    return render_template("invigilate_room.html", status=status, actions=console.ACTIONS)


@blueprint.get("/rooms/<int:room_id>/status.json")
@require_role(*ROLES)
def status(room_id: int) -> Any:
    response = jsonify(console.room_status(g.engine, room_id, _staff()))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/rooms/<int:room_id>/log.json")
@require_role(*ROLES)
def log(room_id: int) -> Any:
    return jsonify(console.room_log(g.engine, room_id, _staff()))


@blueprint.post("/rooms/<int:room_id>/act")
@require_role(*ROLES)
def act(room_id: int) -> Any:
    check_csrf()
    form = request.form
    attempt = form.get("attempt", "")
    try:
        minutes = float(form.get("minutes", "0") or 0)
    except ValueError:
        raise Refused(400, "bad_minutes", "时间应为数字", "minutes is a number") from None
    touched = console.act(
        g.engine,
        room_id,
        _staff(),
        form.get("action", ""),
        attempt_id=int(attempt) if attempt.isdigit() else None,
        minutes=minutes,
        note=form.get("note", ""),
    )
    return jsonify({"touched": touched})


@blueprint.post("/rooms/<int:room_id>/restore")
@require_role(*ROLES)
def restore(room_id: int) -> Any:
    """Import a candidate's encrypted answer backup (答案备份) into their attempt. Every answer
    is JSON, refusals included (the console shows their reason)."""
    try:
        check_csrf()
        upload = request.files.get("file")
        if upload is None:
            raise Refused(400, "bad_request", "请选择备份文件", "choose a backup file")
        vault = g.services.vault
        if vault is None:
            raise Refused(
                503, "unavailable", "系统未配置身份证号密钥", "the ID-number secret is not set"
            )
        data = upload.stream.read(backup.MAX_BYTES + 1)
        return jsonify(backup.restore(g.engine, vault, room_id, _staff(), data).as_dict())
    except NotFound as missing:  # another room, or a candidate of another room
        return _refused(Refused(404, missing.code, f"未找到{missing.what_zh}", str(missing)))
    except HTTPException as exc:
        what = "文件过大" if exc.code == 413 else "请求无效，请刷新页面后重试"
        return _refused(Refused(exc.code or 400, "bad_request", what, exc.description or ""))


@blueprint.get("/rooms/<int:room_id>/report.pdf")
@require_role(*ROLES)
def report(room_id: int) -> Any:
    data, name = room_report(g.engine, room_id, _staff())
    return send_file(io.BytesIO(data), mimetype="application/pdf", download_name=name)


@blueprint.get("/rooms/<int:room_id>/tickets.pdf")
@require_role(*ROLES)
def tickets(room_id: int) -> Any:
    data, name = room_tickets(g.engine, room_id, _staff())
    return send_file(io.BytesIO(data), mimetype="application/pdf", download_name=name)
