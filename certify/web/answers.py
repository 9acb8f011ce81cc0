"""The exam page's answers — saves, the state (heartbeat) and event counts — answered in front of
Flask.

They are nearly every request of a computer-based exam: each candidate's page saves every
change and asks for the state every few seconds, thousands of candidates at once. Each is a few
hundred microseconds of the database's work, and Flask's request context, routing, hooks and
response object cost about as much CPU again (``bench/delivery_cpu.py``, docs/benchmarks.md).
These calls need none of it: they carry the device's token (never a cookie: no session to
open), render nothing, and answer JSON. So :class:`Answers`, a WSGI middleware wrapped around
the app by :func:`certify.web.create_app`, answers exactly these three (method, path) pairs
itself and hands every other request to Flask untouched — the same app in every process, tests
through Flask's test client included.

The rules stay in :mod:`certify.delivery.attempts`. The replies are those :mod:`certify.web.exam`
gave: the same bodies and status codes, ``{"error", "message_zh", "message_en"}`` for every
refusal (413 for a body over the app's upload limit, 415 for one that is not JSON), and the same
headers (``no-store`` and the app's security headers). A failure the rules did not foresee is
logged and answered 500 in the same JSON shape, so the page keeps its journal and sends again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine
from werkzeug.exceptions import MethodNotAllowed, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES

from certify.delivery import attempts
from certify.infra.errors import Refused
from certify.web.logs import redact
from question_bank.sealing import PaperSealed

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'",
    ),
)
"""What every response of the app carries (:func:`certify.web.create_app` adds them to Flask's)."""

HEADERS = (("Cache-Control", "no-store"), *SECURITY_HEADERS)
"""An answer's headers: the app's, and the exam calls' ``no-store``."""

ROUTES = {
    ("POST", "/exam/api/save"): "save",
    ("GET", "/exam/api/state"): "state",
    ("POST", "/exam/api/events"): "events",
}
"""The (method, path) pairs answered here, and the method of :class:`Answers` answering each."""

SEALED = Refused(  # the exam blueprint's answer to PaperSealed too
    423,
    "paper_sealed",
    "试卷尚未开启，请稍候，听从监考员安排",
    "the paper has not been opened yet: wait, and follow the invigilator",
)


class Answers:
    """WSGI middleware: ``POST /exam/api/save``, ``GET /exam/api/state`` and ``POST
    /exam/api/events`` answered here, anything else by ``app``. ``starting`` are called before
    each answer as the app's own hook calls them before each request (the process's deadline
    sweeper and job runner: a process that only ever serves answers still runs them)."""

    def __init__(
        self,
        app: WSGIApp,
        engine: Engine,
        *,
        max_bytes: int,
        starting: Iterable[Callable[[], None]] = (),
    ) -> None:
        self.app = app
        self.engine = engine
        self.max_bytes = max_bytes
        self.starting = tuple(starting)
        self.routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            pair: getattr(self, name) for pair, name in ROUTES.items()
        }
        # each path takes one method; Flask adds HEAD to a GET and OPTIONS to every route
        self.allowed = {
            path: ", ".join(sorted({method, "OPTIONS"} | ({"HEAD"} if method == "GET" else set())))
            for method, path in ROUTES
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        route = self.routes.get((method, path))
        if route is None:
            allowed = self.allowed.get(path)
            if allowed is None:
                return self.app(environ, start_response)
            return self._other_method(method, path, allowed, environ, start_response)
        for start in self.starting:
            start()
        status = 200
        try:
            body = route(environ)
        except Refused as exc:
            status, body = exc.status, refusal(exc)
        except PaperSealed:
            status, body = SEALED.status, refusal(SEALED)
        except Exception:
            log.exception("unexpected error on %s", redact(path))
            status, body = 500, _failed()
        return _reply(start_response, status, body)

    def _other_method(
        self,
        method: str,
        path: str,
        allowed: str,
        environ: dict[str, Any],
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        """What Flask gives a route for the methods it was not declared with: HEAD as GET
        without the body, OPTIONS the allowed methods, anything else 405."""
        if method == "HEAD" and "GET" in allowed:
            reply = self(dict(environ, REQUEST_METHOD="GET"), start_response)
            return [b"" for _ in reply]
        if method == "OPTIONS":
            start_response("200 OK", [("Allow", allowed), ("Content-Length", "0"), *HEADERS])
            return [b""]
        body = {
            "error": "method_not_allowed",
            "message_zh": "请求未被接受",
            "message_en": MethodNotAllowed.description,
        }
        return _reply(start_response, 405, body, [("Allow", allowed)])

    # --- the three calls, as certify.web.exam answered them -------------------------------------

    def save(self, environ: dict[str, Any]) -> Any:
        token = device_token(self.engine, environ)
        entries = attempts.parse_entries(self._json(environ))
        return attempts.save(self.engine, token, entries)

    def state(self, environ: dict[str, Any]) -> Any:
        return attempts.state(self.engine, device_token(self.engine, environ))

    def events(self, environ: dict[str, Any]) -> Any:
        token = device_token(self.engine, environ)
        return attempts.count_events(self.engine, token, self._json(environ))

    def _json(self, environ: dict[str, Any]) -> Any:
        """The request's JSON body, read no further than the app's upload limit."""
        mimetype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if not (
            mimetype == "application/json"
            or (mimetype.startswith("application/") and mimetype.endswith("+json"))
        ):
            raise Refused(415, "json_required", "请求应为 JSON", "a JSON body is expected")
        try:
            length = max(int(environ.get("CONTENT_LENGTH") or 0), 0)
        except ValueError:
            length = 0
        stream = environ["wsgi.input"]
        if length > self.max_bytes:
            raise _too_large()
        if length:
            data = stream.read(length)
        elif environ.get("wsgi.input_terminated"):  # chunked: read to the end, within the limit
            data = stream.read(self.max_bytes + 1)
            if len(data) > self.max_bytes:
                raise _too_large()
        else:
            data = b""
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        if body is None:
            raise Refused(400, "bad_request", "提交的数据格式不正确", "the body is not JSON")
        return body


def _reply(
    start_response: StartResponse,
    status: int,
    body: Any,
    more: Iterable[tuple[str, str]] = (),
) -> Iterable[bytes]:
    headers, data = encoded(status, body, more)
    start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown').upper()}", headers)
    return [data]


def encoded(
    status: int, body: Any, more: Iterable[tuple[str, str]] = ()
) -> tuple[list[tuple[str, str]], bytes]:
    """An answer's headers and body: ``body`` as JSON, the app's headers, ``more``."""
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *HEADERS]
    headers += more
    if status == 429:
        headers.append(("Retry-After", "900"))
    return headers, data


def device_token(engine: Engine, environ: dict[str, Any]) -> str:
    """The device's token from ``Authorization: Exam …``; a request without one is signed out
    before anything else is read (every candidate's call, here and in certify.web.exam)."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    token = header[5:].strip() if header.startswith("Exam ") else ""
    if not token:
        attempts.live(engine, token)  # raises signed_out
    return token


def refusal(exc: Refused) -> dict[str, str]:
    """The body of every refusal of a candidate's call."""
    return {"error": exc.code, "message_zh": exc.message_zh, "message_en": exc.message_en}


def _too_large() -> Refused:
    return Refused(
        413, "request_entity_too_large", "请求未被接受", RequestEntityTooLarge.description
    )


def _failed() -> dict[str, str]:
    return {
        "error": "internal",
        "message_zh": "服务器出错，作答已保留在本机，稍后会自动重新提交",
        "message_en": "the server failed; the error is logged",
    }
