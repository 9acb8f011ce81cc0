"""The exam page's answers served by an ASGI server (uvicorn): the answers' processes of a
computer-based exam, without gunicorn's threaded worker.

An answer (a save, a heartbeat, an event count) is a few hundred microseconds of the app's own
work and one statement of the database's. gunicorn's ``gthread`` worker spends about twice that
again on each request before the app sees it — its HTTP parser is Python, and every request
passes from the poller thread to a worker thread and back — while uvicorn parses in C
(httptools) on one event loop (uvloop) and hands the request over for a ninth of the CPU
(docs/benchmarks.md, "An event loop in front of the answers").

:func:`create` builds the app exactly as :func:`certify.web.create_app` does — settings from
the environment, the deadline sweeper and the job runner, which end with the server's orderly
shutdown, as its database connections do — and serves its :class:`Answers` middleware through
:class:`AnswersServer`: the same code answers, with the same bodies, status
codes and headers as when gunicorn serves the whole app. Only the three answer routes (and
``/healthz``) are served here: a proxy sends every other path to the app's gunicorn
(docs/delivery.md); anything else is 404.

The event loop reads and writes HTTP; each answer runs on one of the process's
``CERTIFY_ANSWER_THREADS`` threads (4 by default), so that a process goes on answering while a
statement waits for PostgreSQL, as gunicorn's threads do. Answering on the loop itself, one at a
time, was cheaper for a heartbeat but held a save's statement up behind the one before it: at
the same CPU, two such processes served fewer saves than two with threads, and more processes
than cores cost more than they gave (docs/benchmarks.md).

    uvicorn --factory certify.web.asgi:create --workers 2 --http httptools --loop uvloop \\
        --host 0.0.0.0 --port 8001 --no-access-log
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from certify.infra.errors import Refused
from certify.infra.settings import Settings
from certify.web.answers import Answers, encoded, refusal

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


_NOT_HERE = encoded(
    404,
    refusal(
        Refused(
            404,
            "not_found",
            "请求的地址不存在",
            "this server answers the exam page's saves, state and events only",
        )
    ),
)
_SLOW = encoded(
    408,
    refusal(
        Refused(
            408,
            "request_timeout",
            "请求超时，作答已保留在本机，稍后会自动重新提交",
            "the request's body did not arrive in time",
        )
    ),
    [("Connection", "close")],
)
_HEALTHY = encoded(200, {"ok": True})
READ_SECONDS = 30.0
"""How long a request's body may take to arrive; then it is answered 408 and its connection
closed (a client sending slowly holds no thread, but would hold its memory)."""


class AnswersServer:
    """ASGI: the answer routes of ``answers`` (and ``/healthz``); 404 for every other path.

    The middleware runs with a WSGI environ holding what it reads: method, path, content type
    and length, the token's header, the client's address. A body is read first, in full and
    never past ``answers.max_bytes`` + 1 bytes, only when the middleware will read it (a POST
    with a token, of a length within the limit or in chunks; a larger one is refused 413 by
    the middleware, as under gunicorn); it must arrive within ``READ_SECONDS``, or the request
    is answered 408. A client gone before its body was in has nothing run for it."""

    def __init__(
        self, answers: Answers, threads: int, closing: Callable[[], None] | None = None
    ) -> None:
        self.answers = answers
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="certify-answer")
        self.closing = closing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return  # websockets: not served; the server closes the connection
        path = scope["path"]
        if path == "/healthz" and scope["method"] in ("GET", "HEAD"):
            await _send(send, 200, *_HEALTHY)
            return
        if path not in self.answers.allowed:
            await _send(send, 404, *_NOT_HERE)
            return
        environ = _environ(scope)
        if self._reads_body(environ):
            try:
                async with asyncio.timeout(READ_SECONDS):
                    body = await _body(receive, self.answers.max_bytes + 1)
            except TimeoutError:
                await _send(send, 408, *_SLOW)
                return
            if body is None:
                return  # the client went away: nothing to answer, nothing run for it
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input"] = io.BytesIO(body)
        reply: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
            reply[:] = [int(status[:3]), headers]

        data = await asyncio.get_running_loop().run_in_executor(
            self.pool, lambda: b"".join(self.answers(environ, start_response))
        )
        status, headers = reply
        await _send(send, status, headers, data)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Startup needs nothing. At shutdown — uvicorn sends it once the requests in flight
        are answered — the answer threads end, then ``closing`` runs (the app's sweeper and
        job runner end their round, its database connections close), off the event loop."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await asyncio.to_thread(self._close)
                except Exception as exc:  # said to the server, which logs it
                    log.exception("the answers' server did not close in order")
                    await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _close(self) -> None:
        self.pool.shutdown(wait=True)
        if self.closing is not None:
            self.closing()

    def _reads_body(self, environ: dict[str, Any]) -> bool:
        """Whether the middleware will read this request's body: a POST to an answer route,
        with a token, of a declared length within the limit or sent in chunks. Any other is
        answered — 401, 405, 413 — without a byte of it read, as under gunicorn."""
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if method != "POST" or (method, path) not in self.answers.routes:
            return False
        if not environ.get("HTTP_AUTHORIZATION", "").startswith("Exam "):
            return False
        declared = environ["CONTENT_LENGTH"]
        return not declared or (declared.isdigit() and int(declared) <= self.answers.max_bytes)


async def _body(receive: Receive, most: int) -> bytes | None:
    """The request's body, at most ``most`` bytes of it (the rest is not read); None when the
    client went away before it was in."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size >= most or not message.get("more_body", False):
            return b"".join(chunks)[:most]


def _environ(scope: Scope) -> dict[str, Any]:
    """The WSGI environ the middleware reads, no body yet: a request header given twice is
    joined with a comma, as gunicorn joins it (two tokens make none: signed out)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "PATH_INFO": scope["path"],
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "CONTENT_LENGTH": "",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": scope.get("scheme", "http"),
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
    for raw_name, raw_value in scope["headers"]:
        key = _HEADERS_READ.get(raw_name.lower())
        if key is None:
            continue
        value = raw_value.decode("latin-1")
        if key == "HTTP_AUTHORIZATION" and key in environ:
            environ[key] += "," + value
        elif key == "CONTENT_LENGTH" and environ[key] not in ("", value):
            environ[key] = "invalid"  # two lengths that disagree: no length to trust
        else:
            environ[key] = value  # a content type given twice: the last, as gunicorn
    return environ


_HEADERS_READ = {
    b"content-type": "CONTENT_TYPE",
    b"content-length": "CONTENT_LENGTH",
    b"authorization": "HTTP_AUTHORIZATION",
}
"""The request headers the answers read, and their WSGI names."""


async def _send(send: Send, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
    raw = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def create(settings: Settings | None = None) -> AnswersServer:
    """The answers' ASGI app, from ``settings`` (by default the environment's: ``uvicorn
    --factory``)."""
    from certify.web import create_app

    settings = Settings.load() if settings is None else settings
    app = create_app(settings)
    answers = app.wsgi_app
    if not isinstance(answers, Answers):
        raise TypeError("create_app no longer wraps the app in the answers' middleware")
    return AnswersServer(answers, settings.answer_threads, app.extensions["certify"].close)
