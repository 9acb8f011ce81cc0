"""What a candidate's calls and an invigilator's console can never carry: answer keys, rubrics,
item identities, another candidate's anything, full ID numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from certify.accounts import create_account
from certify.infra.settings import Settings
from certify.web import create_app
from schemas.tables import Item, ItemVersion
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.delivery.delivery_helpers import ready_exam, web_sign_in


def test_a_candidates_calls_carry_nothing_of_keys_items_or_other_people(
    database: Database, tmp_path: Path
) -> None:
    exam = ready_exam(
        database,
        tmp_path,
        start=datetime.now(UTC) - timedelta(minutes=40),
        count=4,
        part="",
        entry_minutes=60,
        handin_minutes=0,
    )
    app = create_app(
        Settings.load({}, web_secret="x", sweep_seconds=0), engine=database.engine, vault=VAULT
    )
    client = app.test_client()
    me, others = exam.people[0], exam.people[1:]
    signed = web_sign_in(client, exam, me)
    auth = {"Authorization": f"Exam {signed.json['token']}"}
    texts = [signed.data.decode()]
    paper = client.get("/exam/api/paper", headers=auth)
    texts.append(paper.data.decode())
    numbers = [q["number"] for p in paper.json["parts"] for q in p["questions"]]
    for seq, number in enumerate(numbers, start=1):
        texts.append(
            client.post(
                "/exam/api/save",
                headers=auth,
                json={"entries": [{"seq": seq, "number": number, "value": "Z" * 3}]},
            ).data.decode()
        )
    texts.append(client.get("/exam/api/state", headers=auth).data.decode())
    texts.append(
        client.post("/exam/api/hand-in", headers=auth, json={"confirm": True}).data.decode()
    )
    texts.append(client.get("/exam/api/paper", headers=auth).data.decode())
    everything = "\n".join(texts)
    with Session(database.engine) as session:
        versions = session.exec(select(ItemVersion)).all()
        codes = session.exec(select(Item.code)).all()
    secrets = {v.key for v in versions if len(v.key) >= 6} | {
        v.rubric for v in versions if v.rubric
    }
    assert secrets and not [s for s in secrets if s in everything]
    assert not [c for c in codes if c in everything]
    assert '"key"' not in everything and "rubric" not in everything
    assert "option_map" not in everything and "item_version" not in everything
    for other in others:
        assert other.name not in everything
        assert other.admission_no not in everything and other.id_number not in everything
    assert me.id_number not in everything and me.id_number[6:14] not in everything
    # Every question of the candidate's copy, and nothing else, was there to answer.
    assert (
        len(numbers)
        == len(set(numbers))
        == sum(len(p["questions"]) for p in json.loads(texts[1])["parts"])
    )


def test_an_invigilator_sees_their_room_and_no_other(database: Database, tmp_path: Path) -> None:
    exam = ready_exam(database, tmp_path, count=6, rooms=2)
    for n, room in enumerate(exam.rooms, start=1):
        create_account(database.engine, room.invigilator, "invigilator", f"invigilator-pass-{n}")
    app = create_app(
        Settings.load({}, web_secret="x", sweep_seconds=0), engine=database.engine, vault=VAULT
    )
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as s:
        csrf = s["csrf"]
    client.post(
        "/login",
        data={
            "username": exam.rooms[0].invigilator,
            "password": "invigilator-pass-1",
            "csrf_token": csrf,
        },
    )
    with client.session_transaction() as s:
        csrf = s["csrf"]  # a new one with the sign-in
    mine, theirs = exam.rooms[0].id, exam.rooms[1].id
    status = client.get(f"/invigilate/rooms/{mine}/status.json")
    assert status.status_code == 200 and status.json["room"]["code"] == exam.rooms[0].code
    text = status.data.decode()
    assert all(p.id_number not in text for p in exam.people)
    for url in (
        f"/invigilate/rooms/{theirs}",
        f"/invigilate/rooms/{theirs}/status.json",
        f"/invigilate/rooms/{theirs}/log.json",
        f"/invigilate/rooms/{theirs}/report.pdf",
        f"/invigilate/rooms/{theirs}/tickets.pdf",
        "/invigilate/rooms/999999/status.json",
    ):
        assert client.get(url).status_code == 404, url
    refused = client.post(
        f"/invigilate/rooms/{theirs}/act",
        data={"action": "pause", "csrf_token": csrf},
    )
    assert refused.status_code == 404
    listing = client.get("/invigilate/").data.decode()
    assert exam.rooms[0].code in listing and f"/invigilate/rooms/{theirs}" not in listing
    assert client.get(f"/invigilate/rooms/{mine}/tickets.pdf").data.startswith(b"%PDF")
