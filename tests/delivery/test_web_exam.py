"""The candidate's calls over HTTP (Flask's test client against the real app and database)."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from certify.delivery import attempts
from certify.infra.settings import Settings
from certify.web import create_app
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.delivery.delivery_helpers import Exam, ready_exam, web_sign_in


def test_a_candidate_signs_in_answers_and_hands_in_over_http(
    database: Database, tmp_path: Path
) -> None:
    exam, client = _exam_under_way(database, tmp_path, count=4)
    person = exam.people[0]
    room = exam.room_of(person.admission_no)
    # the page shell itself is tested with the browser
    wrong = client.post(
        "/exam/api/sign-in",
        json={
            "admission_no": person.admission_no,
            "id_number": person.id_number,
            "room_code": "000000" if room.room_code != "000000" else "111111",
        },
    )
    assert wrong.status_code == 401 and wrong.json["error"] == "bad_credentials"
    ok = client.post(
        "/exam/api/sign-in",
        json={
            "admission_no": person.admission_no,
            "id_number": person.id_number,
            "room_code": room.room_code,
            "device_label": "PC-1",
        },
    )
    assert ok.status_code == 200, ok.json
    auth = {"Authorization": f"Exam {ok.json['token']}"}
    second = client.post(
        "/exam/api/sign-in",
        json={
            "admission_no": person.admission_no,
            "id_number": person.id_number,
            "room_code": room.room_code,
        },
    )
    assert second.status_code == 409 and second.json["error"] == "device_in_use"
    paper = client.get("/exam/api/paper", headers=auth).json
    first = paper["parts"][0]["questions"][0]
    saved = client.post(
        "/exam/api/save",
        headers=auth,
        json={"entries": [{"seq": 1, "number": first["number"], "value": "A", "flagged": True}]},
    )
    assert saved.json["acked"] == [1]
    assert (
        client.post(
            "/exam/api/save", headers={"Authorization": "Exam forged"}, json={"entries": []}
        ).status_code
        == 401
    )
    assert (
        client.get("/exam/api/paper", headers=auth).json["answers"][str(first["number"])]["value"]
        == "A"
    )
    done = client.post("/exam/api/hand-in", headers=auth, json={"confirm": True})
    assert done.status_code == 200 and done.json["status"] == "handed_in"
    late = client.post(
        "/exam/api/save",
        headers=auth,
        json={"entries": [{"seq": 2, "number": first["number"], "value": "B"}]},
    )
    assert late.status_code == 403 and late.json["error"] == "handed_in"


def _exam_under_way(
    database: Database, tmp_path: Path, *, count: int, **settings: Any
) -> tuple[Exam, FlaskClient]:
    """A session that started 40 minutes ago (entry still open) and the app's test client."""
    exam = ready_exam(
        database,
        tmp_path,
        start=datetime.now(UTC) - timedelta(minutes=40),
        count=count,
        entry_minutes=60,
    )
    app = create_app(
        Settings.load({}, web_secret="x", **{"sweep_seconds": 0, **settings}),
        engine=database.engine,
        vault=VAULT,
    )
    return exam, app.test_client()


def _answering(
    database: Database, tmp_path: Path, **settings: Any
) -> tuple[FlaskClient, dict[str, str], int]:
    """The app's test client, a signed-in candidate's header and their first question."""
    exam, client = _exam_under_way(database, tmp_path, count=2, **settings)
    signed = web_sign_in(client, exam, exam.people[0])
    auth = {"Authorization": f"Exam {signed.json['token']}"}
    paper = client.get("/exam/api/paper", headers=auth).json
    return client, auth, paper["parts"][0]["questions"][0]["number"]


SECURITY_HEADERS = (
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
    "Content-Security-Policy",
    "Cache-Control",
)


def test_the_answers_in_front_of_flask_reply_as_the_exam_calls_do(
    database: Database, tmp_path: Path
) -> None:
    """Saves, the state and event counts are answered by certify.web.answers, not Flask: same
    headers as the calls Flask answers, the same refusals, and a refused body stores nothing."""
    client, auth, number = _answering(database, tmp_path, max_upload_mb=0.01)
    state = client.get("/exam/api/state", headers=auth)
    paper = client.get("/exam/api/paper", headers=auth)  # answered by Flask
    assert state.status_code == 200 and state.json["status"] == "active"
    assert state.headers["Content-Type"] == "application/json"
    assert state.headers["Cache-Control"] == "no-store"
    assert state.headers["X-Frame-Options"] == "DENY"
    assert state.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in state.headers["Content-Security-Policy"]
    for name in SECURITY_HEADERS:
        assert state.headers[name] == paper.headers[name], name
    assert "Set-Cookie" not in state.headers

    def refused(response: Any, status: int, code: str) -> None:
        assert response.status_code == status, response.data
        assert response.json["error"] == code
        assert response.json["message_zh"] and response.json["message_en"]
        for name in SECURITY_HEADERS:
            assert response.headers[name] == paper.headers[name], name

    entry = {"seq": 1, "number": number, "value": "A"}
    refused(client.post("/exam/api/save", json={"entries": [entry]}), 401, "signed_out")
    refused(
        client.post(
            "/exam/api/save",
            headers={"Authorization": "Exam " + "A" * 43},
            json={"entries": [entry]},
        ),
        401,
        "signed_out",
    )
    refused(
        client.post("/exam/api/save", headers=auth, data="{}", content_type="text/plain"),
        415,
        "json_required",
    )
    refused(
        client.post(
            "/exam/api/save", headers=auth, data="{entries", content_type="application/json"
        ),
        400,
        "bad_request",
    )
    big = {"entries": [{**entry, "value": "A" * 20_000}]}
    refused(client.post("/exam/api/save", headers=auth, json=big), 413, "request_entity_too_large")
    chunked = client.post(  # no length given: read to the end, no further than the limit
        "/exam/api/save",
        headers=auth,
        input_stream=io.BytesIO(json.dumps(big).encode()),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
    )
    refused(chunked, 413, "request_entity_too_large")
    unknown = client.post(
        "/exam/api/save", headers=auth, json={"entries": [{**entry, "number": 999}]}
    )
    assert unknown.status_code == 200 and unknown.json["acked"] == []
    assert [r["seq"] for r in unknown.json["refused"]] == [1]
    refused(client.post("/exam/api/events", headers=auth, json={"blur": -1}), 400, "bad_request")
    assert client.get("/exam/api/state", headers=auth).json["last_seq"] == 0  # nothing stored

    wrong = client.get("/exam/api/save", headers=auth)
    refused(wrong, 405, "method_not_allowed")
    assert wrong.headers["Allow"] == "OPTIONS, POST"
    head = client.head("/exam/api/state", headers=auth)
    assert head.status_code == 200 and head.data == b""
    assert client.options("/exam/api/state").headers["Allow"] == "GET, HEAD, OPTIONS"

    saved = client.post("/exam/api/save", headers=auth, json={"entries": [entry]})
    assert saved.status_code == 200 and saved.json["acked"] == [1]
    assert saved.json["state"]["last_seq"] == 1
    counted = client.post("/exam/api/events", headers=auth, json={"blur": 2, "paste": 1})
    assert counted.status_code == 200 and counted.json == {"blur": 2, "paste": 1}


def test_an_unforeseen_failure_of_an_answer_is_logged_and_answered_in_json(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, auth, _ = _answering(database, tmp_path)

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is gone")

    monkeypatch.setattr(attempts, "state", failing)
    with caplog.at_level(logging.ERROR, logger="certify.web.answers"):
        response = client.get("/exam/api/state", headers=auth)
    assert response.status_code == 500 and response.json["error"] == "internal"
    assert "the disk is gone" not in response.get_data(as_text=True)
    assert "unexpected error on /exam/api/state" in caplog.text
    assert "the disk is gone" in caplog.text  # the traceback is in the log


def test_a_process_that_only_answers_still_sweeps(database: Database, tmp_path: Path) -> None:
    """The deadline sweeper starts with a process's first request. A process that a proxy sends
    nothing but answers (the answers' own server, docs/delivery.md) must start it too."""
    _, auth, _ = _answering(database, tmp_path)  # signed in through another app
    answering = create_app(
        Settings.load({}, web_secret="x", sweep_seconds=60), engine=database.engine, vault=VAULT
    ).test_client()
    assert "certify-sweeper" not in [t.name for t in threading.enumerate()]
    assert answering.get("/exam/api/state", headers=auth).status_code == 200
    assert "certify-sweeper" in [t.name for t in threading.enumerate()]
