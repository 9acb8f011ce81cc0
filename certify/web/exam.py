"""The candidate's exam (机考): the page and its JSON calls.

The page is a static shell (``exam.html`` with the app's own script and style: exam rooms are
often on a closed network, so nothing comes from elsewhere). The calls carry the device's token
in ``Authorization: Exam <token>`` — no cookie, so no other site can make a candidate's browser
save an answer — and every refusal is ``{"error", "message_zh", "message_en"}`` with its status.
The rules themselves are :mod:`certify.delivery.attempts`; this module only parses and answers.

The calls a page makes most — ``POST /exam/api/save``, ``GET /exam/api/state`` and ``POST
/exam/api/events`` — are answered in front of Flask by :mod:`certify.web.answers`, with the
same replies as the calls here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from certify.delivery import attempts
from certify.infra.errors import Refused
from certify.web import answers
from question_bank.sealing import PaperSealed

blueprint = Blueprint("exam", __name__, url_prefix="/exam")


def _token() -> str:
    return answers.device_token(g.engine, request.environ)


def _json() -> Any:
    if not request.is_json:
        raise Refused(415, "json_required", "请求应为 JSON", "a JSON body is expected")
    body = request.get_json(silent=True)
    if body is None:
        raise Refused(400, "bad_request", "提交的数据格式不正确", "the body is not JSON")
    return body


@blueprint.errorhandler(Refused)
def _refused(exc: Refused) -> Any:
    response = jsonify(answers.refusal(exc))
    response.status_code = exc.status
    if exc.status == 429:
        response.headers["Retry-After"] = "900"
    return response


@blueprint.errorhandler(PaperSealed)
def _sealed(_exc: PaperSealed) -> Any:
    """The paper's custodians have not opened it yet: the page waits and asks again."""
    return _refused(answers.SEALED)


@blueprint.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Any:
    code = exc.name.lower().replace(" ", "_")
    response = jsonify({"error": code, "message_zh": "请求未被接受", "message_en": exc.description})
    response.status_code = exc.code or 400
    return response


@blueprint.after_request
def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/")
def page() -> Any:
    return render_template("exam.html")


@blueprint.post("/api/sign-in")
def sign_in() -> Any:
    body = _json()
    if not isinstance(body, dict):
        raise Refused(400, "bad_request", "提交的数据格式不正确", "a JSON object is expected")
    fields = {k: body.get(k, "") for k in ("admission_no", "id_number", "room_code")}
    if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in fields.values()):
        raise Refused(
            401,
            "bad_credentials",
            "准考证号、身份证号或考场口令不正确",
            "the admission number, ID number or room code is not right",
        )
    vault = g.services.vault
    if vault is None:
        raise Refused(
            503, "unavailable", "系统未配置身份证号密钥", "the ID-number secret is not set"
        )
    label = body.get("device_label", "")
    token, state = attempts.sign_in(
        g.engine,
        vault,
        device_label=label if isinstance(label, str) else "",
        address=request.remote_addr or "?",
        **fields,
    )
    return jsonify({"token": token, "state": state})


@blueprint.get("/api/paper")
def paper() -> Any:
    return jsonify(attempts.paper(g.engine, _token(), vault=g.services.vault))


@blueprint.post("/api/attachments")
def attach() -> Any:
    token = _token()
    attempts.live(g.engine, token)  # who asks comes before what they sent
    upload = request.files.get("file")
    number = request.form.get("number", "")
    if upload is None or not number.isdigit():
        raise Refused(400, "bad_request", "请选择文件", "a file and a question number are expected")
    data = upload.stream.read(attempts.ATTACHMENT_BYTES + 1)
    return jsonify(attempts.attach(g.engine, token, int(number), upload.filename or "", data))


@blueprint.post("/api/hand-in")
def hand_in() -> Any:
    token = _token()
    attempts.live(g.engine, token)  # who asks comes before what they sent
    body = _json()
    if not isinstance(body, dict) or body.get("confirm") is not True:
        raise Refused(400, "confirm_required", "请确认交卷", "confirm the hand-in")
    return jsonify(attempts.hand_in(g.engine, token))
