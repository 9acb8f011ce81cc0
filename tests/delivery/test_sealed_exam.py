"""A computer-based session whose paper is sealed: the candidate waits with a clear reason until
the custodians open it, the sweeper leaves attempts on an unopened paper alone, and once
opened the same candidate answers, hands in and is scored — the keys still withheld from every
reader but grading until the session ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from certify.delivery.attempts import Swept, sweep
from certify.grading.analysis import export_responses
from certify.infra.settings import Settings
from certify.web import create_app
from question_bank.paper_catalogue import paper_document
from question_bank.sealing import KeysWithheld, open_seal, seal_papers
from schemas.enums import AttemptStatus
from schemas.tables import Attempt, Paper, Registration
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.delivery.delivery_helpers import ready_exam


def test_a_sealed_paper_waits_for_its_custodians_then_the_exam_runs(
    database: Database, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(minutes=40)  # past the earliest hand-in, within the latest entry
    exam = ready_exam(database, tmp_path, start=start, count=3, entry_minutes=60)
    engine = database.engine
    with Session(engine) as session:
        codes = sorted(
            set(
                session.exec(
                    select(Paper.code).join(
                        Registration, col(Registration.paper_id) == col(Paper.id)
                    )
                )
            )
        )
    sealed = seal_papers(
        engine,
        codes,
        custodians=["甲", "乙", "丙"],
        threshold=2,
        opens_at=start,
        ends_at=now + timedelta(hours=2),
    )
    app = create_app(Settings.load({}, web_secret="x", sweep_seconds=0), engine=engine, vault=VAULT)
    client = app.test_client()
    person = exam.people[0]
    ok = client.post(
        "/exam/api/sign-in",
        json={
            "admission_no": person.admission_no,
            "id_number": person.id_number,
            "room_code": exam.room_of(person.admission_no).room_code,
        },
    )
    assert ok.status_code == 200, ok.json
    auth = {"Authorization": f"Exam {ok.json['token']}"}
    assert client.get("/exam/api/state", headers=auth).status_code == 200
    waiting = client.get("/exam/api/paper", headers=auth)
    assert waiting.status_code == 423
    assert waiting.json["error"] == "paper_sealed" and "试卷尚未开启" in waiting.json["message_zh"]
    assert codes[0] not in str(waiting.json)  # nothing about the paper or its seal
    # past every deadline, an attempt on a paper nobody opened is not handed in blank
    assert sweep(engine, now=now + timedelta(days=1)) == Swept(0, 0)

    open_seal(engine, sealed.seal_id, [s for _, s in sealed.shares[:2]])
    paper = client.get("/exam/api/paper", headers=auth)
    assert paper.status_code == 200
    first = paper.json["parts"][0]["questions"][0]
    saved = client.post(
        "/exam/api/save",
        headers=auth,
        json={"entries": [{"seq": 1, "number": first["number"], "value": "A"}]},
    )
    assert saved.status_code == 200, saved.json
    assert client.post("/exam/api/hand-in", headers=auth, json={"confirm": True}).status_code == 200
    with Session(engine) as session:
        attempt = session.exec(
            select(Attempt)
            .join(Registration, col(Registration.id) == col(Attempt.registration_id))
            .where(Registration.admission_no == person.admission_no)
        ).one()
    assert attempt.status is AttemptStatus.HANDED_IN and attempt.objective_score is not None
    with pytest.raises(KeysWithheld):
        paper_document(engine, codes[0], "key")
    with pytest.raises(KeysWithheld):  # every row of the responses' export carries its key
        export_responses(engine, "S1", tmp_path / "responses.csv")
