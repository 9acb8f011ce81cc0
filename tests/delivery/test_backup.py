"""答案备份: the encrypted file the exam page downloads when it cannot reach the server, and its
import by the invigilator — what it adds, what it refuses, and that it cannot be forged or
altered."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from certify.accounts import create_account
from certify.delivery import attempts, backup
from certify.delivery.attempts import Entry
from certify.delivery.console import Staff, act
from certify.infra.errors import AttemptNotFound, Refused, RoomNotFound
from cli import cli
from schemas.enums import AttemptStatus, IncidentKind, ItemType
from schemas.tables import AnswerEvent, AuditEntry, ExamIncident, Response
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.delivery.delivery_helpers import (
    Exam,
    at,
    attempt_of,
    copy_of,
    ready_exam,
    refused,
    right_answer,
    snapshot,
    staff_client,
)

INV1 = Staff("inv1", "invigilator")
INV2 = Staff("inv2", "invigilator")
ADMIN = Staff("boss", "admin")


def make_backup(
    keys: dict[str, Any],
    admission_no: str,
    entries: list[dict[str, Any]],
    *,
    secret: bytes | None = None,
) -> bytes:
    """A file as the exam page makes it; with ``secret``, one made with another attempt's
    secret (what a candidate who is not this one could at best do)."""
    if secret is not None:
        keys = {**keys, "secret": base64.b64encode(secret).decode()}
    return backup.seal(keys, admission_no, entries, made_at="2026-12-05T10:59:00Z")


def entry(seq: int, number: int, value: str, left_ms: int | None = 600_000) -> dict[str, Any]:
    return {
        "seq": seq,
        "number": number,
        "value": value,
        "flagged": False,
        "client_at": 1_700_000_000_000 + seq,
        "left_ms": left_ms,
    }


def signed_in(exam: Exam, n: int = 0) -> tuple[Any, str, dict[str, Any]]:
    """Candidate ``n`` signed in (room R01), with the backup keys their paper brought."""
    person = exam.people[n]
    token = exam.sign_in(person)
    paper = attempts.paper(exam.database.engine, token, vault=VAULT, now=at(2))
    return person, token, paper["backup"]


def objective_numbers(exam: Exam, person: Any) -> list[Any]:
    return [q for q in copy_of(exam, person).questions if q.type is ItemType.SINGLE]


def room_id(exam: Exam, person: Any) -> int:
    return exam.room_of(person.admission_no).id or 0


def test_the_paper_gives_the_page_its_own_backup_secret(exam: Exam) -> None:
    _, _, keys = signed_in(exam, 0)
    _, _, other = signed_in(exam, 1)
    assert (
        keys["server_key"] == other["server_key"] and keys["key_id"] == other["key_id"]
    )  # one server key
    assert keys["secret"] != other["secret"]  # each attempt its own secret
    assert len(base64.b64decode(keys["secret"])) == 32
    assert keys["format"] == backup.FORMAT


def test_an_import_adds_the_answers_the_server_never_got(exam: Exam) -> None:
    engine = exam.database.engine
    person, token, keys = signed_in(exam)
    q1, q2 = objective_numbers(exam, person)[:2]
    attempts.save(engine, token, [Entry(1, q1.number, "A")], now=at(3))
    # Offline from here: two changes the server never received.
    data = make_backup(
        keys, person.admission_no, [entry(2, q1.number, "B"), entry(3, q2.number, "C")]
    )
    done = backup.restore(engine, VAULT, room_id(exam, person), INV1, data, now=at(20))
    assert (done.stored, done.already, done.refused) == ([2, 3], [], [])
    assert not done.handed_in and not done.regrade
    a = attempt_of(exam, person)
    answers, events, _, row = snapshot(engine, a.id or 0)
    assert {(pk, v, s) for pk, v, _, s in answers} == {
        (q1.item_version_pk, "B", 2),
        (q2.item_version_pk, "C", 3),
    }
    assert row[1] == 3  # last_seq: the page goes on above the restored seqs
    with Session(engine) as s:
        devices = {e.seq: e.device for e in s.exec(select(AnswerEvent))}
        incident = s.exec(
            select(ExamIncident).where(ExamIncident.kind == IncidentKind.RESTORE)
        ).one()
        audit = s.exec(select(AuditEntry).where(AuditEntry.action == "invigilate.restore")).one()
    assert devices[1] != devices[2] and devices[2].startswith("backup:")
    assert incident.actor == "web:inv1" and incident.attempt_id == a.id
    assert incident.detail["stored"] == 2 and len(incident.detail["file"]) == 64
    assert audit.actor == "web:inv1"
    # The page, back online, sends its journal: the server has those seqs, it acknowledges them.
    again = attempts.save(
        engine, token, [Entry(2, q1.number, "B"), Entry(3, q2.number, "C")], now=at(21)
    )
    assert again["acked"] == [2, 3] and again["refused"] == []
    # The same file twice adds nothing.
    twice = backup.restore(engine, VAULT, room_id(exam, person), INV1, data, now=at(22))
    assert (twice.stored, twice.already) == ([], [2, 3])
    assert snapshot(engine, a.id or 0)[1] == events


def test_after_the_sweeper_handed_in_the_import_reaches_the_responses_and_the_score(
    exam: Exam,
) -> None:
    engine = exam.database.engine
    person, token, keys = signed_in(exam)
    q1 = objective_numbers(exam, person)[0]
    wrong = next(x for x in sorted(q1.options) if x != right_answer(q1))
    attempts.save(engine, token, [Entry(1, q1.number, wrong)], now=at(3))
    # The network went down; the deadline passed; the sweeper closed the attempt.
    assert attempts.sweep(engine, now=at(200)).handed_in >= 1
    a = attempt_of(exam, person)
    assert a.status is AttemptStatus.HANDED_IN
    before = a.objective_score
    data = make_backup(keys, person.admission_no, [entry(2, q1.number, right_answer(q1))])
    done = backup.restore(engine, VAULT, room_id(exam, person), INV1, data, now=at(205))
    assert done.stored == [2] and done.handed_in
    after = attempt_of(exam, person)
    assert after.status is AttemptStatus.HANDED_IN
    assert after.handed_in_at == a.handed_in_at  # the finish time stays the deadline
    with Session(engine) as s:
        raw = s.exec(
            select(Response.raw).where(
                Response.registration_id == a.registration_id,
                Response.item_version_id == q1.item_version_pk,
            )
        ).one()
    assert raw == right_answer(q1)
    assert (after.objective_score or 0) > (before or 0)
    # A day after the deadline a file is no longer taken: what is left is an appeal.
    late = make_backup(keys, person.admission_no, [entry(3, q1.number, wrong)])
    held = snapshot(engine, a.id or 0)
    with refused("too_late", 409):
        backup.restore(engine, VAULT, room_id(exam, person), INV1, late, now=at(200 + 24 * 60))
    assert snapshot(engine, a.id or 0) == held


def test_what_an_import_refuses(exam: Exam) -> None:
    engine = exam.database.engine
    person, token, keys = signed_in(exam)
    q1, q2, q3 = objective_numbers(exam, person)[:3]
    attempts.save(engine, token, [Entry(5, q1.number, "A"), Entry(6, q2.number, "B")], now=at(3))
    a = attempt_of(exam, person)
    before = snapshot(engine, a.id or 0)
    data = make_backup(
        keys,
        person.admission_no,
        [
            entry(4, q1.number, "C"),  # older than the stored seq 5 of that question
            entry(5, q2.number, "A"),  # seq 5's value, but of another question
            entry(6, q2.number, "D"),  # another value under a stored seq
            entry(7, q3.number, "Z"),  # a value the question does not take
            entry(8, 9_999, "A"),  # no such question on the candidate's paper
            entry(9, q3.number, "A", left_ms=-60_000),  # made after the time was up
        ],
    )
    done = backup.restore(engine, VAULT, room_id(exam, person), INV1, data, now=at(20))
    assert done.stored == [] and done.already == []
    assert {r["seq"]: r["error"] for r in done.refused} == {
        4: "stale",
        5: "seq_conflict",
        6: "seq_conflict",
        7: "bad_value",
        8: "unknown_question",
        9: "deadline_passed",
    }
    assert snapshot(engine, a.id or 0) == before


def test_a_hand_in_by_the_candidate_or_the_invigilator_or_a_pause_takes_no_backup(
    exam: Exam,
) -> None:
    engine = exam.database.engine
    files, tokens = {}, {}
    for n in range(3):
        person, tokens[n], keys = signed_in(exam, n)
        q1 = objective_numbers(exam, person)[0]
        files[n] = (person, make_backup(keys, person.admission_no, [entry(5, q1.number, "A")]))
    attempts.hand_in(engine, tokens[0], now=at(41))
    for n, action in ((1, "force_hand_in"), (2, "pause")):
        person = files[n][0]
        act(
            engine,
            room_id(exam, person),
            ADMIN,
            action,
            attempt_id=attempt_of(exam, person).id,
            now=at(41 + n),
        )
    for n, code in ((0, "handed_in_by_candidate"), (1, "forced_hand_in"), (2, "paused")):
        person, data = files[n]
        a = attempt_of(exam, person)
        before = snapshot(engine, a.id or 0)
        with refused(code, 409):
            backup.restore(engine, VAULT, room_id(exam, person), ADMIN, data, now=at(44))
        assert snapshot(engine, a.id or 0) == before


def test_a_large_backup_and_entries_without_their_time(exam: Exam) -> None:
    """The page keeps one entry per question, but a file may hold more than a save's 200; an
    entry without the time its page had left is not taken."""
    engine = exam.database.engine
    person, _, keys = signed_in(exam)
    questions = objective_numbers(exam, person)
    many = [
        entry(seq, questions[seq % len(questions)].number, "ABCD"[seq % 4]) for seq in range(1, 251)
    ]
    many[-1] = {**many[-1], "left_ms": None}
    done = backup.restore(
        engine,
        VAULT,
        room_id(exam, person),
        INV1,
        make_backup(keys, person.admission_no, many),
        now=at(20),
    )
    assert len(done.stored) == 249
    assert [(r["seq"], r["error"]) for r in done.refused] == [(250, "no_time")]
    stored = {pk: (v, s) for pk, v, _, s in snapshot(engine, attempt_of(exam, person).id or 0)[0]}
    newest = {}
    for e in many[:-1]:
        newest[copy_of(exam, person).by_number[e["number"]].item_version_pk] = (
            e["value"],
            e["seq"],
        )
    assert stored == newest


def test_only_the_rooms_invigilator_imports_and_only_into_that_room(exam: Exam) -> None:
    engine = exam.database.engine
    person, _, keys = signed_in(exam)
    q1 = objective_numbers(exam, person)[0]
    data = make_backup(keys, person.admission_no, [entry(1, q1.number, "A")])
    a = attempt_of(exam, person)
    before = snapshot(engine, a.id or 0)
    own_room = room_id(exam, person)
    other_room = next(r.id for r in exam.rooms if r.id != own_room) or 0
    with pytest.raises(RoomNotFound):
        backup.restore(engine, VAULT, own_room, INV2, data)  # not inv2's room
    with pytest.raises(AttemptNotFound):
        backup.restore(engine, VAULT, other_room, INV2, data)  # inv2's room, not the candidate's
    assert snapshot(engine, a.id or 0) == before


def test_a_file_in_someone_elses_name_is_not_a_backup(exam: Exam) -> None:
    """Candidate B knows the server's public key and their own secret, not A's."""
    engine = exam.database.engine
    a_person, _, a_keys = signed_in(exam, 0)
    _, _, b_keys = signed_in(exam, 1)
    q1 = objective_numbers(exam, a_person)[0]
    forged = make_backup(
        a_keys,
        a_person.admission_no,
        [entry(1, q1.number, "A")],
        secret=base64.b64decode(b_keys["secret"]),
    )
    a = attempt_of(exam, a_person)
    before = snapshot(engine, a.id or 0)
    with refused("not_a_backup", 400):
        backup.restore(engine, VAULT, room_id(exam, a_person), INV1, forged)
    # Nor can a file of A's be moved to B's attempt (in B's name, or A's), or opened as B's.
    made = json.loads(make_backup(a_keys, a_person.admission_no, [entry(1, q1.number, "A")]))
    b = attempt_of(exam, exam.people[1])
    for moved in (
        {**made, "attempt": b.id, "admission_no": exam.people[1].admission_no},
        {**made, "attempt": b.id},
    ):
        with pytest.raises((Refused, AttemptNotFound)) as caught:
            backup.restore(engine, VAULT, b.room_id, ADMIN, json.dumps(moved).encode(), now=at(20))
        assert getattr(caught.value, "code", "") in ("not_a_backup", "attempt_not_found")
    whose_b = backup.Whose(b.id or 0, b.registration_id, "theory")
    with refused("not_a_backup", 400):
        backup.unseal(VAULT, backup.read_file(VAULT, json.dumps(made).encode()), whose_b)
    assert snapshot(engine, a.id or 0) == before
    assert snapshot(engine, b.id or 0)[:2] == ([], [])
    # Each refusal is in the room's log and the audit log, with the file's digest.
    with Session(engine) as s:
        notes = s.exec(
            select(ExamIncident.note).where(
                ExamIncident.kind == IncidentKind.RESTORE, col(ExamIncident.attempt_id).is_(None)
            )
        ).all()
        audits = s.exec(
            select(AuditEntry.detail).where(AuditEntry.action == "invigilate.restore_refused")
        ).all()
    assert len(notes) == len(audits) == 3
    assert all(n.startswith("答案备份未导入") for n in notes)
    assert all(len(d["file"]) == 64 for d in audits)


def test_not_a_backup_at_all() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for data in (b"", b"\xff\xfe", b"[]", b'{"format": "x"}', b"{" * 10_000, deep):
        with refused("not_a_backup", 400):
            backup.read_file(VAULT, data)
    with refused("too_large", 413):
        backup.read_file(VAULT, b" " * (backup.MAX_BYTES + 1))
    # Inside the encryption too: a body nested beyond reason, or not entries at all.
    keys = backup.page_keys(VAULT, WHOSE)
    for plain in (deep, b'{"entries": "A"}', b'{"entries": [{"seq": "x"}]}'):
        head = json.loads(make_backup(keys, "2026000041", []))
        server = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), base64.b64decode(keys["server_key"])
        )
        mine = ec.generate_private_key(ec.SECP256R1())
        iv = os.urandom(12)
        sealed = AESGCM(
            backup.aes_key(mine.exchange(ec.ECDH(), server), base64.b64decode(keys["secret"]))
        ).encrypt(iv, plain, backup.header_bytes(WHOSE.attempt_id, "2026000041"))
        head["epk"] = base64.b64encode(
            mine.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        ).decode()
        head["iv"], head["data"] = (base64.b64encode(x).decode() for x in (iv, sealed))
        with refused("not_a_backup", 400):
            backup.open_backup(VAULT, json.dumps(head).encode(), WHOSE)


WHOSE = backup.Whose(41, 7, "theory")


@pytest.fixture(scope="module")
def one_file() -> tuple[bytes, dict[str, Any]]:
    keys = backup.page_keys(VAULT, WHOSE)
    return make_backup(keys, "2026000041", [entry(1, 1, "A"), entry(2, 3, "答案")]), keys


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.floats(0, 1, exclude_max=True), flip=st.integers(1, 255))
def test_any_altered_byte_is_refused(
    one_file: tuple[bytes, dict[str, Any]], where: float, flip: int
) -> None:
    data, _ = one_file
    assert backup.open_backup(VAULT, data, WHOSE).entries  # the file as made opens
    n = int(where * len(data))
    altered = data[:n] + bytes([data[n] ^ flip]) + data[n + 1 :]
    with refused("not_a_backup", 400):
        backup.open_backup(VAULT, altered, WHOSE)


def test_the_office_imports_from_the_command_line(exam: Exam, tmp_path: Path) -> None:
    engine = exam.database.engine
    person, _, keys = signed_in(exam)
    q1 = objective_numbers(exam, person)[0]
    file = tmp_path / "答案备份.certify"
    file.write_bytes(make_backup(keys, person.admission_no, [entry(1, q1.number, "B")]))
    room = exam.room_of(person.admission_no)
    env = {"CERTIFY_SECRET_KEY": base64.b64encode(VAULT.secret).decode()}
    command = ["--db", exam.database.url, "exams", "restore", exam.session, room.code, str(file)]
    result = CliRunner().invoke(cli, command, env=env)
    assert result.exit_code == 0, result.output
    assert "stored 1" in result.output
    with Session(engine) as s:
        stored = s.exec(
            select(AnswerEvent.value).where(col(AnswerEvent.device).startswith("backup:"))
        ).all()
    assert stored == ["B"]
    file.write_bytes(b'{"format": "certify-exam-backup/1"}')
    bad = CliRunner().invoke(cli, command, env=env)
    assert bad.exit_code != 0 and "not a valid answer backup" in bad.output


def test_the_console_imports_a_file_into_its_own_room_only(
    database: Database, tmp_path: Path
) -> None:
    exam = ready_exam(database, tmp_path, count=6, rooms=2, capacity=3)
    for n, room in enumerate(exam.rooms, start=1):
        create_account(database.engine, room.invigilator, "invigilator", f"invigilator-pass-{n}")
    client = staff_client(database, "inv1", "invigilator-pass-1")
    with client.session_transaction() as s:
        csrf = s["csrf"]
    person = next(p for p in exam.people if exam.room_of(p.admission_no).id == exam.rooms[0].id)
    token = exam.sign_in(person)
    keys = attempts.paper(database.engine, token, vault=VAULT, now=at(2))["backup"]
    q1 = objective_numbers(exam, person)[0]
    data = make_backup(keys, person.admission_no, [entry(1, q1.number, "A")])
    mine, theirs = exam.rooms[0].id, exam.rooms[1].id
    other = next(p for p in exam.people if exam.room_of(p.admission_no).id == theirs)
    other_keys = attempts.paper(database.engine, exam.sign_in(other), vault=VAULT, now=at(2))[
        "backup"
    ]
    elsewhere = make_backup(other_keys, other.admission_no, [entry(1, q1.number, "A")])

    def post(room: int | None, body: bytes, token: str = csrf) -> Any:
        return client.post(
            f"/invigilate/rooms/{room}/restore",
            data={"csrf_token": token, "file": (io.BytesIO(body), "答案备份.certify")},
            content_type="multipart/form-data",
        )

    a = attempt_of(exam, person)
    before = snapshot(database.engine, a.id or 0)
    # Every answer is JSON with a reason the console shows, refusals included.
    for response, status, code in (
        (post(theirs, data), 404, "room_not_found"),  # not this invigilator's room
        (post(mine, data, token="forged"), 400, "bad_request"),  # no CSRF token, no import
        (post(mine, elsewhere), 404, "attempt_not_found"),  # a candidate of another room
    ):
        assert (response.status_code, response.json["error"]) == (status, code)
        assert response.json["message_zh"]
    bad = post(mine, data[:-3] + b"==}")
    assert bad.status_code == 400 and bad.json["error"] == "not_a_backup"
    assert snapshot(database.engine, a.id or 0) == before
    done = post(mine, data)
    assert done.status_code == 200, done.data
    assert done.json["stored"] == [1] and done.json["admission_no"] == person.admission_no
    assert person.id_number not in done.data.decode()
    page = client.get(f"/invigilate/rooms/{mine}").data.decode()
    assert f"/invigilate/rooms/{mine}/restore" in page
