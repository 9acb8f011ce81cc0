"""A computer-based session whose paper is sealed: the candidate waits with a clear reason until
the custodians open it, the sweeper leaves attempts on an unopened paper alone, and once
opened the same candidate answers, hands in and is scored — the keys still withheld from every
reader but grading until the session ends."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from certify.delivery import attempts
from certify.delivery.attempts import Swept, sweep
from certify.grading.analysis import export_responses
from certify.grading.marks import marking_list
from certify.grading.service import score_sitting
from certify.infra.settings import Settings
from certify.web import create_app
from question_bank.bank import import_items, to_item_data
from question_bank.paper_catalogue import paper_document
from question_bank.sealing import KeysWithheld, SealError, held_versions, open_seal, seal_papers
from schemas.enums import AttemptStatus
from schemas.tables import Item, ItemVersion, Paper, PaperItem, Registration
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.delivery.delivery_helpers import attempt_of, copy_of, ready_exam, web_sign_in
from tests.question_bank.test_sealing import sealed_by_hand


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
        # "ends" in a moment: the keys then wait for the last candidate answering
        ends_at=datetime.now(UTC) + timedelta(seconds=2),
    )
    app = create_app(Settings.load({}, web_secret="x", sweep_seconds=0), engine=engine, vault=VAULT)
    client = app.test_client()
    person = exam.people[0]
    ok = web_sign_in(client, exam, person)
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
    late = exam.people[1]  # a second candidate answering, till the end of this test
    token = exam.sign_in(late, at=datetime.now(UTC), label="PC-2")
    paper = client.get("/exam/api/paper", headers=auth)
    assert paper.status_code == 200
    first = paper.json["parts"][0]["questions"][0]
    right = copy_of(exam, person).by_number[first["number"]]
    saved = client.post(
        "/exam/api/save",
        headers=auth,
        json={"entries": [{"seq": 1, "number": first["number"], "value": right.key}]},
    )
    assert saved.status_code == 200, saved.json
    assert client.post("/exam/api/hand-in", headers=auth, json={"confirm": True}).status_code == 200
    assert attempt_of(exam, person).status is AttemptStatus.HANDED_IN
    assert attempt_of(exam, person).objective_score == pytest.approx(right.points)  # the real key
    with pytest.raises(KeysWithheld):
        paper_document(engine, codes[0], "key")
    with pytest.raises(KeysWithheld):  # every row of the responses' export carries its key
        export_responses(engine, "S1", tmp_path / "responses.csv")
    with pytest.raises(KeysWithheld):  # marking waits for the end too
        marking_list(engine, "S1")

    # past the seal's end time another candidate still answers (extra time, a pause): held
    time.sleep(max(0.0, (sealed.ends_at - datetime.now(UTC)).total_seconds()) + 0.5)
    with pytest.raises(KeysWithheld):
        paper_document(engine, codes[0], "key")
    with Session(engine) as session:
        held = held_versions(session)
    assert {right.item_version_pk: "keys"}.items() <= held.items()  # the bank holds them too
    attempts.hand_in(engine, token)
    assert paper_document(engine, codes[0], "key").startswith(b"%PDF-")  # the last one is done
    with Session(engine) as session:
        assert right.item_version_pk not in held_versions(session)


def test_a_hand_in_is_scored_while_a_revision_of_its_item_is_sealed(
    database: Database, tmp_path: Path
) -> None:
    """A typo fixed in an item (a new version of the same shape) for next month's paper, which
    is sealed: today's hand-ins are scored with the keys readable now; the sitting's grading
    waits for the opening, since the revision may correct a key."""
    now = datetime.now(UTC)
    exam = ready_exam(
        database, tmp_path, start=now - timedelta(minutes=40), count=3, entry_minutes=60
    )
    engine = database.engine
    with Session(engine) as session:
        item, v1 = session.exec(
            select(Item, ItemVersion)
            .join(ItemVersion, col(ItemVersion.item_id) == col(Item.id))
            .join(PaperItem, col(PaperItem.item_version_id) == col(ItemVersion.id))
            .join(Registration, col(Registration.paper_id) == col(PaperItem.paper_id))
            .where(ItemVersion.type == "single")
        ).first()  # type: ignore[misc]
        data = to_item_data(item, v1)
    import_items(engine, "revision", [data.model_copy(update={"stem": data.stem + "（修订）"})])
    with Session(engine) as session:
        v2 = session.exec(
            select(ItemVersion).where(ItemVersion.item_id == item.id, ItemVersion.version == 2)
        ).one()
        sealed_by_hand(session, v2)
    person = exam.people[0]
    token = exam.sign_in(person, at=datetime.now(UTC))
    attempts.hand_in(engine, token)
    assert attempt_of(exam, person).status is AttemptStatus.HANDED_IN
    assert attempt_of(exam, person).objective_score == 0  # scored: nothing was answered
    with pytest.raises(SealError, match=item.code):
        score_sitting(engine, "S1")
