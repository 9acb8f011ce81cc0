"""The candidate's calls over HTTP (Flask's test client against the real app and database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from certify.infra.settings import Settings
from certify.web import create_app
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.delivery.delivery_helpers import ready_exam


def test_a_candidate_signs_in_answers_and_hands_in_over_http(
    database: Database, tmp_path: Path
) -> None:
    exam = ready_exam(
        database,
        tmp_path,
        start=datetime.now(UTC) - timedelta(minutes=40),
        count=4,
        entry_minutes=60,
    )
    app = create_app(
        Settings.load({}, web_secret="x", sweep_seconds=0), engine=database.engine, vault=VAULT
    )
    client = app.test_client()
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
