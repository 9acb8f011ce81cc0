"""The answers' own server (certify.web.asgi under uvicorn), over real HTTP: it answers as the
app does when gunicorn serves it whole, and stores what it acknowledges."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from flask.testing import FlaskClient

from certify.web.answers import SECURITY_HEADERS, Answers
from certify.web.asgi import AnswersServer
from tests.conftest import Database
from tests.delivery.test_web_exam import _answering

Reply = tuple[int, dict[str, str], bytes]


class Served:
    """uvicorn serving ``server`` on a free local port, in a thread of this process."""

    def __init__(self, server: AnswersServer) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            server, http="httptools", loop="auto", log_level="warning", lifespan="on"
        )
        self.uvicorn = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.uvicorn.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.uvicorn.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: Any) -> None:
        self.uvicorn.should_exit = True
        self.thread.join(20)
        self.socket.close()

    def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        *,
        chunked: bool = False,
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            if chunked:
                assert body is not None
                connection.request(
                    method,
                    path,
                    body=iter([body[:100], body[100:]]),
                    headers=headers or {},
                    encode_chunked=True,
                )
            else:
                connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()


@pytest.fixture
def answering(
    database: Database, tmp_path: Path
) -> Iterator[tuple[FlaskClient, Served, dict[str, str], int]]:
    client, auth, number = _answering(database, tmp_path, max_upload_mb=0.01)
    answers = client.application.wsgi_app
    assert isinstance(answers, Answers)
    with Served(AnswersServer(answers, threads=2)) as served:
        yield client, served, auth, number


def _flask(
    client: FlaskClient, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> Reply:
    response = client.open(path, method=method, headers=headers, data=body)
    return response.status_code, dict(response.headers), response.get_data()


def _same(served: Reply, flask: Reply) -> None:
    """The same status, body and headers (the server's own Date and Server aside), every one
    of the app's security headers among them."""
    assert served[0] == flask[0], (served, flask)
    assert served[2] == flask[2]
    ours = {k.lower(): v for k, v in served[1].items() if k.lower() not in ("date", "server")}
    theirs = {k.lower(): v for k, v in flask[1].items()}
    assert ours == theirs
    for name, value in SECURITY_HEADERS:
        assert ours[name.lower()] == value, name


def test_refusals_and_other_methods_are_answered_as_the_app_answers_them(answering: Any) -> None:
    client, served, auth, number = answering
    entry = {"seq": 1, "number": number, "value": "A"}
    body = json.dumps({"entries": [entry]}).encode()
    typed = {**auth, "Content-Type": "application/json"}
    big = json.dumps({"entries": [{**entry, "value": "A" * 20_000}]}).encode()
    for method, path, headers, data in (
        ("POST", "/exam/api/save", {"Content-Type": "application/json"}, body),  # no token
        (
            "POST",
            "/exam/api/save",
            {"Authorization": "Exam " + "A" * 43, "Content-Type": "application/json"},
            body,
        ),
        ("POST", "/exam/api/save", {**auth, "Content-Type": "text/plain"}, b"{}"),
        ("POST", "/exam/api/save", typed, b"{entries"),
        ("POST", "/exam/api/save", typed, big),
        ("POST", "/exam/api/events", typed, b'{"blur": -1}'),
        ("GET", "/exam/api/save", auth, None),
        ("OPTIONS", "/exam/api/state", {}, None),
        ("HEAD", "/exam/api/state", {"Authorization": "Exam nobody"}, None),
        ("GET", "/exam/api/state", {"Authorization": "Exam nobody"}, None),
    ):
        _same(served.call(method, path, headers, data), _flask(client, method, path, headers, data))
    # a body sent in chunks, with no length, is read no further than the limit
    status, _, reply = served.call("POST", "/exam/api/save", typed, big, chunked=True)
    assert status == 413 and json.loads(reply)["error"] == "request_entity_too_large"
    assert json.loads(served.call("GET", "/exam/api/state", auth)[2])["last_seq"] == 0


def test_what_it_acknowledges_is_stored(answering: Any) -> None:
    client, served, auth, number = answering
    typed = {**auth, "Content-Type": "application/json"}
    entries = [
        {"seq": 1, "number": number, "value": "A"},
        {"seq": 2, "number": number, "value": "B"},
    ]
    status, headers, reply = served.call(
        "POST", "/exam/api/save", typed, json.dumps({"entries": entries}).encode()
    )
    assert status == 200 and json.loads(reply)["acked"] == [1, 2]
    assert headers["cache-control"] == "no-store"
    # the app that gunicorn serves reads what the answers' server stored
    state = client.get("/exam/api/state", headers=auth).json
    assert state["last_seq"] == 2
    status, _, reply = served.call("GET", "/exam/api/state", auth)
    ours = json.loads(reply)
    assert status == 200 and ours["last_seq"] == 2 and ours["status"] == "active"
    assert abs(ours["remaining_ms"] - state["remaining_ms"]) < 5_000
    counted = served.call("POST", "/exam/api/events", typed, b'{"blur": 2}')
    assert counted[0] == 200 and json.loads(counted[2]) == {"blur": 2}


def test_only_the_answers_are_served(answering: Any) -> None:
    _, served, auth, _ = answering
    status, headers, reply = served.call("GET", "/healthz")
    assert status == 200 and json.loads(reply) == {"ok": True}
    assert headers["x-frame-options"] == "DENY"
    for method, path in (("GET", "/exam/api/paper"), ("POST", "/exam/api/sign-in"), ("GET", "/")):
        status, headers, reply = served.call(method, path, auth)
        assert status == 404 and json.loads(reply)["error"] == "not_found", path
        assert headers["cache-control"] == "no-store"


def _raw(served: Served, head: str, body: bytes = b"", *, wait: float = 10.0) -> bytes:
    """What the server sends back for a request written byte for byte (the reply, or b"" when
    the server closes without one)."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=wait) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        try:
            while b"\r\n\r\n" not in data or not _whole(data):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass
        return data


def _whole(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def test_two_tokens_are_none_as_under_gunicorn(answering: Any) -> None:
    """gunicorn joins a header sent twice with a comma: two Authorization headers, even one of
    them valid, give no token at all."""
    _, served, auth, number = answering
    body = json.dumps({"entries": [{"seq": 1, "number": number, "value": "A"}]})
    for first, second in (
        (auth["Authorization"], "Exam other"),
        ("Exam other", auth["Authorization"]),
    ):
        reply = _raw(
            served,
            f"POST /exam/api/save HTTP/1.1\nHost: x\nAuthorization: {first}\n"
            f"Authorization: {second}\nContent-Type: application/json\n"
            f"Content-Length: {len(body)}\nConnection: close\n",
            body.encode(),
        )
        assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
        assert b'"signed_out"' in reply
    assert json.loads(served.call("GET", "/exam/api/state", auth)[2])["last_seq"] == 0


def test_a_body_is_read_only_when_it_will_be_used(answering: Any) -> None:
    """A length over the limit is refused before its body is sent; so is a save without a
    token. A body that does not arrive is answered 408; a client gone before its body was in
    has nothing stored for it."""
    _, served, auth, number = answering
    token = auth["Authorization"]
    start = time.monotonic()
    reply = _raw(  # 1 GB announced, 10 bytes sent: the answer comes at once
        served,
        f"POST /exam/api/save HTTP/1.1\nHost: x\nAuthorization: {token}\n"
        "Content-Type: application/json\nContent-Length: 1000000000\n",
        b'{"entries"',
    )
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b'"request_entity_too_large"' in reply
    reply = _raw(
        served,
        "POST /exam/api/save HTTP/1.1\nHost: x\nContent-Type: application/json\n"
        "Content-Length: 5000\n",
        b"{",
    )
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
    assert time.monotonic() - start < 5

    body = json.dumps({"entries": [{"seq": 1, "number": number, "value": "A"}]}).encode()
    head = (
        f"POST /exam/api/save HTTP/1.1\nHost: x\nAuthorization: {token}\n"
        f"Content-Type: application/json\nContent-Length: {len(body)}\n"
    )
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body[:-1])
    time.sleep(0.5)  # the client went away one byte short
    assert json.loads(served.call("GET", "/exam/api/state", auth)[2])["last_seq"] == 0


def test_a_body_that_does_not_arrive_is_answered_408(
    answering: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from certify.web import asgi

    _, served, auth, number = answering
    monkeypatch.setattr(asgi, "READ_SECONDS", 0.5)
    body = json.dumps({"entries": [{"seq": 1, "number": number, "value": "A"}]}).encode()
    reply = _raw(
        served,
        f"POST /exam/api/save HTTP/1.1\nHost: x\nAuthorization: {auth['Authorization']}\n"
        f"Content-Type: application/json\nContent-Length: {len(body)}\n",
        body[:-1],
    )
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b'"request_timeout"' in reply
    assert json.loads(served.call("GET", "/exam/api/state", auth)[2])["last_seq"] == 0


def test_a_shutdown_ends_the_threads_and_closes_the_database(database: Database) -> None:
    """uvicorn's orderly shutdown (a restart, a deploy): once the requests in flight are
    answered, the answer threads, the deadline sweeper and the job runner end, and the database
    connections the app opened are closed, not dropped with the process."""
    from certify.infra.settings import Settings
    from certify.web.asgi import create

    server = create(
        Settings.load(
            {}, database_url=database.url, web_secret="t", sweep_seconds=0.05, answer_threads=2
        )
    )
    engine = server.answers.engine
    assert engine is not database.engine  # the app opened its own
    before = set(threading.enumerate())  # other tests' apps may have threads of these names
    with Served(server) as served:
        status, _, _ = served.call("GET", "/exam/api/state", {"Authorization": "Exam forged"})
        assert status == 401  # the first request starts the sweeper and the job runner
        ours = [
            t for t in threading.enumerate() if t not in before and t.name.startswith("certify-")
        ]
        assert {"certify-sweeper", "certify-jobs"} <= {t.name for t in ours}
        assert any(t.name.startswith("certify-answer") for t in ours)
        pooled = engine.raw_connection()
        driver = pooled.driver_connection
        pooled.close()  # back to the pool, open
    assert [t.name for t in ours if t.is_alive()] == []
    if database.backend == "postgresql":
        assert driver.closed  # type: ignore[union-attr]
    else:
        with pytest.raises(Exception, match="closed"):
            driver.execute("SELECT 1")  # type: ignore[union-attr]
