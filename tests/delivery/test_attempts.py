"""The candidate's attempt against a real database: sign-in, the paper, saves, attachments, the
server's clock, hand-in, and grading a computer-based sitting as a paper one."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlmodel import Session, col, select

from certify.delivery import attempts
from certify.delivery.attempts import Entry, parse_entries
from certify.delivery.console import Staff, act
from certify.delivery.copies import Copies
from certify.grading import simulate
from certify.grading.marks import import_marks, marking_list
from certify.grading.service import grade_sitting, score_sitting
from certify.grading.sheets import import_sheets
from certify.infra import db
from certify.infra.errors import Refused
from certify.infra.tabular import write_table
from schemas.enums import AttemptStatus, FinishReason, IncidentKind, ItemType
from schemas.tables import (
    AnswerEvent,
    Attachment,
    Attempt,
    AttemptAnswer,
    ExamIncident,
    LoginAttempt,
    Registration,
    Response,
    Result,
)
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.delivery.delivery_helpers import (
    START,
    Exam,
    at,
    attempt_of,
    copy_of,
    count,
    refused,
    registration,
    right_answer,
    sign_in,
    snapshot,
    valid_values,
)

INV1 = Staff("inv1", "invigilator")
ADMIN = Staff("boss", "admin")


def save(exam: Exam, token: str, *entries: tuple[int, int, str], when: Any = None) -> Any:
    """Save (seq, number, value) entries."""
    return attempts.save(
        exam.database.engine,
        token,
        [Entry(seq, number, value) for seq, number, value in entries],
        now=when or at(5),
    )


def room_id(exam: Exam, person: Any) -> int:
    return exam.room_of(person.admission_no).id or 0


# --- sign-in -----------------------------------------------------------------------------------


def test_the_right_triple_signs_in_on_this_device(exam: Exam) -> None:
    person = exam.people[0]
    token, state = attempts.sign_in(
        exam.database.engine,
        VAULT,
        admission_no=f" {person.admission_no} ",
        id_number=person.id_number.lower(),
        room_code=exam.room_of(person.admission_no).room_code,
        device_label="PC-07",
        now=at(-10),
    )
    assert state["status"] == "active"
    assert state["starts_in_ms"] == 10 * 60 * 1000
    assert state["candidate"]["admission_no"] == person.admission_no
    a = attempt_of(exam, person)
    assert a.status is AttemptStatus.ACTIVE
    assert a.device_hash == hashlib.sha256(token.encode()).hexdigest()
    assert a.device_label == "PC-07"
    assert attempts.live(exam.database.engine, token).id == a.id
    with Session(exam.database.engine) as session:
        [logged] = session.exec(
            select(ExamIncident).where(ExamIncident.kind == IncidentKind.SIGN_IN)
        ).all()
    assert (logged.room_id, logged.attempt_id, logged.actor) == (a.room_id, a.id, "candidate")
    assert logged.detail == {"device": "PC-07", "address": "?", "moved": False}
    assert attempts.utc(logged.at) == at(-10)


def test_any_wrong_field_gives_the_same_answer(exam: Exam) -> None:
    person, other = exam.people[0], exam.people[1]
    rooms = {r.room_code for r in exam.rooms}
    mine = exam.room_of(person.admission_no).room_code
    not_mine = next(iter(rooms - {mine}))
    answers = []
    for wrong in (
        {"admission_no": other.admission_no},
        {"admission_no": "SIM99999"},
        {"id_number": other.id_number},
        {"room_code": not_mine},
        {"room_code": "000000" if mine != "000000" else "111111"},
    ):
        with pytest.raises(Refused) as caught:
            sign_in(exam, person, **wrong)
        e = caught.value
        answers.append((e.status, e.code, e.message_zh, e.message_en))
    assert set(answers) == {answers[0]}
    assert answers[0][:2] == (401, "bad_credentials")
    assert attempt_of(exam, person).status is AttemptStatus.WAITING


def test_the_sixth_failure_is_refused_even_with_the_right_answer(exam: Exam) -> None:
    person, other = exam.people[0], exam.people[1]
    for n in range(5):
        with refused("bad_credentials", 401):
            sign_in(exam, person, id_number=other.id_number, when=at(1, n))
    # counted in the database: another process (engine) refuses too
    elsewhere = db.make_engine(exam.database.url)
    try:
        with refused("too_many_attempts", 429):
            attempts.sign_in(
                elsewhere,
                VAULT,
                admission_no=person.admission_no,
                id_number=person.id_number,
                room_code=exam.room_of(person.admission_no).room_code,
                now=at(2),
            )
    finally:
        elsewhere.dispose()
    with refused("too_many_attempts", 429):
        sign_in(exam, person, when=at(2))
    assert attempt_of(exam, person).status is AttemptStatus.WAITING
    sign_in(exam, other, when=at(2))  # another admission number is not held back
    sign_in(exam, person, when=at(1, 5) + attempts.SIGN_IN_WINDOW)  # the window passes
    assert count(exam.database.engine, LoginAttempt, col(LoginAttempt.ok).is_(False)) == 5


def test_sign_in_opens_fifteen_minutes_before_the_start(exam: Exam) -> None:
    person = exam.people[0]
    with refused("not_open", 403):
        sign_in(exam, person, when=at(-15, -1))
    assert attempt_of(exam, person).status is AttemptStatus.WAITING
    sign_in(exam, person, when=at(-15))


def test_entry_closes_unless_the_invigilator_admits_late(exam: Exam) -> None:
    person, other = exam.people[0], exam.people[2]
    sign_in(exam, other, when=at(30))  # the last minute of entry
    with refused("entry_closed", 403):
        sign_in(exam, person, when=at(30, 1))
    a = attempt_of(exam, person)
    staff = Staff(exam.room_of(person.admission_no).invigilator, "invigilator")
    act(exam.database.engine, a.room_id, staff, "admit_late", attempt_id=a.id, now=at(40))
    token = sign_in(exam, person, when=at(41))
    state = attempts.state(exam.database.engine, token, now=at(41))
    assert state["status"] == "active"
    assert state["remaining_ms"] == 79 * 60 * 1000  # late entry gets no extra time


def test_a_second_device_needs_the_invigilator(exam: Exam) -> None:
    engine = exam.database.engine
    person = exam.people[0]
    first = sign_in(exam, person)
    save(exam, first, (1, 1, "A"))
    with refused("device_in_use", 409):
        sign_in(exam, person, when=at(6))
    attempts.live(engine, first)  # the first device is still signed in
    a = attempt_of(exam, person)
    staff = Staff(exam.room_of(person.admission_no).invigilator, "invigilator")
    act(engine, a.room_id, staff, "allow_move", attempt_id=a.id, now=at(7))
    second = sign_in(exam, person, when=at(8))
    for call in (
        lambda: attempts.live(engine, first),
        lambda: attempts.state(engine, first, now=at(8)),
        lambda: attempts.paper(engine, first, now=at(8)),
        lambda: save(exam, first, (2, 1, "B"), when=at(8)),
    ):
        with refused("signed_out", 401):
            call()
    # the move carried the answers over, and the next move needs the invigilator again
    assert attempts.paper(engine, second, now=at(8))["answers"]["1"]["value"] == "A"
    with refused("device_in_use", 409):
        sign_in(exam, person, when=at(9))
    assert attempt_of(exam, person).signed_in_at is not None


def test_handed_in_cannot_sign_in_again(exam: Exam) -> None:
    engine = exam.database.engine
    person = exam.people[0]
    token = sign_in(exam, person)
    attempts.hand_in(engine, token, now=at(31))
    with refused("handed_in", 403):
        sign_in(exam, person, when=at(32))
    # not even on the same device's next sign-in after a move was allowed
    a = attempt_of(exam, person)
    with refused("closed", 409):
        act(engine, a.room_id, ADMIN, "allow_move", attempt_id=a.id, now=at(32))


# --- the paper ---------------------------------------------------------------------------------


def test_the_paper_opens_at_the_start(exam: Exam) -> None:
    token = sign_in(exam, exam.people[0], when=at(-5))
    with refused("not_started", 403):
        attempts.paper(exam.database.engine, token, now=at(0, -1))
    paper = attempts.paper(exam.database.engine, token, now=START)
    assert [q["number"] for p in paper["parts"] for q in p["questions"]] == list(range(1, 41))


def _walk(node: Any, keys: set[str], strings: list[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            keys.add(str(k))
            _walk(v, keys, strings)
    elif isinstance(node, list):
        for v in node:
            _walk(v, keys, strings)
    elif isinstance(node, str):
        strings.append(node)


def test_the_paper_never_holds_keys_rubrics_or_ids(whole: Exam) -> None:
    engine = whole.database.engine
    person = whole.people[0]
    token = sign_in(whole, person)
    copy = copy_of(whole, person)
    subjective = next(q for q in copy.questions if q.type is ItemType.SUBJECTIVE)
    save(whole, token, (1, 1, "A"), (2, subjective.number, "我的作答"))
    paper = attempts.paper(engine, token, now=at(5))
    keys: set[str] = set()
    strings: list[str] = []
    _walk(paper, keys, strings)
    forbidden = {
        "key",
        "keys",
        "rubric",
        "option_map",
        "item_id",
        "item_version",
        "item_version_pk",
        "item_version_id",
        "difficulty",
        "knowledge_area",
        "candidate_seed",
        "seed",
    }
    assert not keys & forbidden
    text = json.dumps(paper, ensure_ascii=False)
    public = " ".join(
        [q.stem for q in copy.questions] + [o for q in copy.questions for o in q.options.values()]
    )
    secrets = [q.rubric for q in copy.questions if q.rubric]
    secrets += [q.key for q in copy.questions if q.type is ItemType.FILL]
    secrets += [q.item_id for q in copy.questions]
    checked = [s for s in secrets if len(s) >= 3 and s not in public]
    assert len(checked) >= len(copy.questions)  # nearly every secret is tested
    for secret in checked:
        assert secret not in text, secret
    pks = {q.item_version_pk for q in copy.questions}
    numbers = {q.number for q in copy.questions}
    for q in (q for p in paper["parts"] for q in p["questions"]):
        assert set(q) <= {"number", "type", "stem", "options", "premises", "blanks", "points"}
    assert set(paper["answers"]) <= {str(n) for n in numbers}
    assert pks  # ids appear nowhere as keys of answers (numbers do)
    # what the paper shows is the candidate's copy: their letters, their order
    shown = {q["number"]: q for p in paper["parts"] for q in p["questions"]}
    for q in copy.questions:
        assert shown[q.number]["stem"] == q.stem
        if q.type.has_options:
            assert shown[q.number]["options"] == q.options


def test_each_candidate_sees_their_own_shuffle(exam: Exam) -> None:
    engine = exam.database.engine
    one, two = [p for p in exam.people if p.form == "A"][:2]
    papers = []
    for person in (one, two):
        token = sign_in(exam, person)
        papers.append(attempts.paper(engine, token, now=at(2)))
    questions = [[q for p in paper["parts"] for q in p["questions"]] for paper in papers]
    stems = [[q["stem"] for q in qs] for qs in questions]
    assert sorted(stems[0]) == sorted(stems[1])  # the same questions
    assert stems[0] != stems[1]  # in another order
    by_stem = [{q["stem"]: q for q in qs} for qs in questions]
    with_options = [s for s in stems[0] if "options" in by_stem[0][s]]
    # the same options, under other letters for at least some questions
    for s in with_options:
        assert sorted(by_stem[0][s]["options"].values()) == sorted(
            by_stem[1][s]["options"].values()
        )
    assert any(by_stem[0][s]["options"] != by_stem[1][s]["options"] for s in with_options)


# --- saves -------------------------------------------------------------------------------------


def test_a_resent_save_is_acknowledged_and_stored_once(exam: Exam) -> None:
    engine = exam.database.engine
    token = sign_in(exam, exam.people[0])
    first = save(exam, token, (1, 1, "A"), (2, 2, "B"))
    again = save(exam, token, (1, 1, "A"), (2, 2, "B"), when=at(6))
    first_state, again_state = first.pop("state"), again.pop("state")
    assert first == again == {"acked": [1, 2], "refused": [], "last_seq": 2}
    # Each answer carries the state as of the save (a page that saves needs no heartbeat).
    assert first_state["last_seq"] == again_state["last_seq"] == 2
    assert first_state == attempts.state(engine, token, now=at(5)) | {"last_seq": 2}
    assert (
        again_state["remaining_ms"]
        == first_state["remaining_ms"] - 1000 * (at(6) - at(5)).total_seconds()
    )
    aid = attempt_of(exam, exam.people[0]).id
    assert count(engine, AnswerEvent, AnswerEvent.attempt_id == aid) == 2
    assert count(engine, AttemptAnswer, AttemptAnswer.attempt_id == aid) == 2


@contextlib.contextmanager
def statements_on(engine: Any) -> Iterator[list[str]]:
    """The first word of every statement PostgreSQL's driver is given meanwhile."""
    import psycopg

    statements: list[str] = []

    class Counting(psycopg.Cursor):  # type: ignore[type-arg]
        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append(str(query).split()[0])
            return super().execute(query, *args, **kwargs)

        def executemany(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append(str(query).split()[0])
            return super().executemany(query, *args, **kwargs)

    def counting(dbapi: Any, record: Any, proxy: Any) -> None:
        dbapi.cursor_factory = Counting

    def plain(dbapi: Any, record: Any) -> None:
        dbapi.cursor_factory = psycopg.Cursor

    event.listen(engine.pool, "checkout", counting)
    event.listen(engine.pool, "checkin", plain)
    try:
        yield statements
    finally:
        event.remove(engine.pool, "checkout", counting)
        event.remove(engine.pool, "checkin", plain)


def test_new_entries_are_saved_in_one_statement_on_postgresql(exam: Exam) -> None:
    """The hot path: on PostgreSQL a save of new entries is one statement on the driver; a
    re-send takes the general path, with the same answers."""
    engine = exam.database.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("the one-statement save is PostgreSQL's (SQLite takes the general path)")
    token = sign_in(exam, exam.people[0])
    attempts.paper(engine, token, now=at(4))  # as the page does: the copy is built here
    aid = attempt_of(exam, exam.people[0]).id or 0
    with statements_on(engine) as statements:
        out = save(exam, token, (1, 1, "A"), (2, 2, "B"), (3, 1, "C"))
        assert statements == ["WITH"]
        assert out["acked"] == [1, 2, 3] and out["last_seq"] == 3
        statements.clear()
        again = save(exam, token, (1, 1, "A"), (4, 3, "D"), when=at(6))  # a re-send within
        assert len(statements) > 1 and "WITH" in statements  # tried, then the general path
        assert again["acked"] == [1, 4] and again["last_seq"] == 4
    device = hashlib.sha256(token.encode()).hexdigest()[:12]
    with Session(engine) as s:
        events = s.exec(select(AnswerEvent).where(AnswerEvent.attempt_id == aid)).all()
        answers = s.exec(select(AttemptAnswer).where(AttemptAnswer.attempt_id == aid)).all()
    assert sorted((e.seq, e.value, e.device) for e in events) == [
        (1, "A", device),
        (2, "B", device),
        (3, "C", device),
        (4, "D", device),
    ]
    assert sorted((a.seq, a.value) for a in answers) == [(2, "B"), (3, "C"), (4, "D")]
    assert attempt_of(exam, exam.people[0]).last_seq == 4


def test_a_process_new_to_the_candidate_answers_as_one_that_knows_them(exam: Exam) -> None:
    """The answers' processes never served the paper and, at the start of an exam, have seen
    no candidate's token: the first save or heartbeat there shows the same candidate, room and
    exam as later ones, and on PostgreSQL the first save is one read and the one statement."""
    engine = exam.database.engine
    token = sign_in(exam, exam.people[0])
    known = attempts.state(engine, token, now=at(4))
    assert known["candidate"]["name"] == exam.people[0].name

    def who(state: dict[str, Any]) -> tuple[Any, ...]:
        return state["candidate"], state["title"], state["session"]

    attempts.forget()
    first = save(exam, token, (1, 1, "A"), (2, 2, "B"))
    assert first["acked"] == [1, 2] and who(first["state"]) == who(known)
    if engine.dialect.name == "postgresql":
        others = [sign_in(exam, p) for p in exam.people[1:]]
        attempts.forget()
        for other in others:  # the process reads each form's paper once, for everyone
            save(exam, other, (1, 1, "A"))
        with statements_on(engine) as statements:
            again = save(exam, token, (3, 3, "C"), when=at(6))
        assert statements == ["SELECT", "WITH"], statements
        assert again["acked"] == [3] and who(again["state"]) == who(known)
    else:
        save(exam, token, (3, 3, "C"), when=at(6))
    attempts.forget()
    assert who(attempts.state(engine, token, now=at(7))) == who(known)
    attempts.forget()
    with pytest.raises(Refused) as refused:
        save(exam, ("y" if token[0] == "x" else "x") + token[1:], (4, 1, "D"), when=at(8))
    assert refused.value.status == 401
    assert snapshot(engine, attempt_of(exam, exam.people[0]).id or 0)[3][1] == 3


def test_a_seq_used_for_other_content_is_refused(exam: Exam) -> None:
    engine = exam.database.engine
    token = sign_in(exam, exam.people[0])
    save(exam, token, (1, 1, "A"))
    aid = attempt_of(exam, exam.people[0]).id or 0
    before = snapshot(engine, aid)[:3]
    for entry in ((1, 1, "B"), (1, 2, "A")):
        out = save(exam, token, entry, when=at(6))
        assert out["acked"] == []
        assert [r["error"] for r in out["refused"]] == ["seq_conflict"]
        assert snapshot(engine, aid)[:3] == before
    flagged = attempts.save(engine, token, [Entry(1, 1, "A", flagged=True)], now=at(6))
    assert [r["error"] for r in flagged["refused"]] == ["seq_conflict"]


def test_an_older_write_never_overwrites_a_newer_one(exam: Exam) -> None:
    engine = exam.database.engine
    token = sign_in(exam, exam.people[0])
    save(exam, token, (5, 1, "B"))
    out = save(exam, token, (3, 1, "A"), (4, 2, "C"), when=at(6))
    assert out["acked"] == [4]
    assert [(r["seq"], r["error"]) for r in out["refused"]] == [(3, "stale")]
    assert out["last_seq"] == 5
    answers = attempts.paper(engine, token, now=at(7))["answers"]
    assert answers["1"] == {"value": "B", "flagged": False, "seq": 5}
    assert answers["2"]["value"] == "C"


def test_a_clock_the_client_reports_changes_nothing(exam: Exam) -> None:
    engine = exam.database.engine
    token = sign_in(exam, exam.people[0])
    far = int((START + timedelta(days=3)).timestamp() * 1000)
    attempts.save(engine, token, [Entry(1, 1, "A", client_at=far)], now=at(10))
    state = attempts.state(engine, token, now=at(10))
    assert state["remaining_ms"] == 110 * 60 * 1000
    assert state["server_now_ms"] == int(at(10).timestamp() * 1000)
    with Session(engine) as s:
        event = s.exec(select(AnswerEvent)).one()
    assert event.client_at == far  # kept as the client said, for appeals


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_delivery_of_a_journal_stores_the_newest_entry(exam: Exam, data: st.DataObject) -> None:
    """Entries delivered in arbitrary batches, duplicated and reordered: every question ends
    with the entry of the highest seq for it, and the history holds each applied seq once."""
    engine = exam.database.engine
    person = exam.people[0]
    a = attempt_of(exam, person)
    token = _fresh_attempt(exam, a.id or 0)
    copy = copy_of(exam, person)
    pool = [  # two questions of each kind
        q
        for kind in (ItemType.SINGLE, ItemType.MULTIPLE, ItemType.TRUE_FALSE, ItemType.FILL)
        for q in [q for q in copy.questions if q.type is kind][:2]
    ]
    assert len(pool) == 8
    n = data.draw(st.integers(1, 14), label="entries")
    journal = []
    for seq in range(1, n + 1):
        q = data.draw(st.sampled_from(pool))
        value = data.draw(st.sampled_from(valid_values(q)))
        journal.append(Entry(seq, q.number, value, data.draw(st.booleans())))
    order = data.draw(st.permutations(range(n)), label="order")
    repeats = data.draw(st.lists(st.integers(0, n - 1), max_size=n), label="repeats")
    stream = list(order) + repeats
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6), label="cuts"))
    batches, start = [], 0
    for cut in [*cuts, len(stream)]:
        batch = list(dict.fromkeys(stream[start:cut]))  # one seq once per request
        start = cut
        if batch:
            batches.append(batch)
    for k, batch in enumerate(batches):
        payload = {
            "entries": [
                {
                    "seq": journal[i].seq,
                    "number": journal[i].number,
                    "value": journal[i].value,
                    "flagged": journal[i].flagged,
                }
                for i in batch
            ]
        }
        out = attempts.save(engine, token, parse_entries(payload), now=at(5, k))
        sent = {journal[i].seq for i in batch}
        refusals = {r["seq"]: r["error"] for r in out["refused"]}
        assert set(out["acked"]) | set(refusals) == sent
        assert not set(out["acked"]) & set(refusals)
        assert set(refusals.values()) <= {"stale"}
    newest: dict[int, Entry] = {}
    for e in journal:
        newest[e.number] = e
    with Session(engine) as s:
        stored = {
            r.item_version_id: r
            for r in s.exec(select(AttemptAnswer).where(AttemptAnswer.attempt_id == a.id))
        }
        history = list(s.exec(select(AnswerEvent).where(AnswerEvent.attempt_id == a.id)))
        last_seq = s.get(Attempt, a.id).last_seq  # type: ignore[union-attr]
    assert {pk: (r.value, r.flagged, r.seq) for pk, r in stored.items()} == {
        copy.by_number[num].item_version_pk: (e.value, e.flagged, e.seq)
        for num, e in newest.items()
    }
    seqs = [h.seq for h in history]
    assert len(seqs) == len(set(seqs))
    by_seq = {e.seq: e for e in journal}
    for h in history:
        e = by_seq[h.seq]
        assert (h.item_version_id, h.value, h.flagged) == (
            copy.by_number[e.number].item_version_pk,
            e.value,
            e.flagged,
        )
    # the newest entry of every question is in the history, and the attempt's last seq is
    # the highest seq it took
    assert {e.seq for e in newest.values()} <= set(seqs)
    assert last_seq == max(seqs)


def _fresh_attempt(exam: Exam, attempt_id: int) -> str:
    """Empty an attempt's answers (between hypothesis examples) and sign it in afresh."""
    from sqlalchemy import delete, update

    engine = exam.database.engine
    with engine.begin() as c:
        c.execute(delete(AnswerEvent).where(col(AnswerEvent.attempt_id) == attempt_id))
        c.execute(delete(AttemptAnswer).where(col(AttemptAnswer.attempt_id) == attempt_id))
        c.execute(
            update(Attempt)
            .where(col(Attempt.id) == attempt_id)
            .values(last_seq=0, device_hash=None, status=AttemptStatus.WAITING.value)
        )
    return sign_in(exam, exam.people[0])


def test_bad_entries_are_refused_and_change_nothing(exam: Exam) -> None:
    engine = exam.database.engine
    person = exam.people[0]
    token = sign_in(exam, person)
    copy = copy_of(exam, person)
    single = next(q for q in copy.questions if q.type is ItemType.SINGLE)
    multiple = next(q for q in copy.questions if q.type is ItemType.MULTIPLE)
    fill = next(q for q in copy.questions if q.type is ItemType.FILL)
    truth = next(q for q in copy.questions if q.type is ItemType.TRUE_FALSE)
    save(exam, token, (1, single.number, "A"))
    aid = attempt_of(exam, person).id or 0
    before = snapshot(engine, aid)
    beyond = chr(ord("A") + len(single.options))
    for seq, number, value, code in (
        (2, 99, "A", "unknown_question"),
        (3, single.number, beyond, "bad_value"),
        (4, multiple.number, "A" + chr(ord("A") + len(multiple.options)), "bad_value"),
        (5, single.number, "AB", "bad_value"),
        (6, truth.number, "X", "bad_value"),
        (7, fill.number, "x" * 20_001, "bad_value"),
        (8, fill.number, ";".join(["x"] * (fill.key.count(";") + 2)), "bad_value"),
        (9, fill.number, "a\x00b", "bad_value"),
    ):
        out = save(exam, token, (seq, number, value), when=at(6))
        assert out["acked"] == [] and out["last_seq"] == 1, (number, value)
        assert [r["error"] for r in out["refused"]] == [code], (number, value)
        assert snapshot(engine, aid) == before
    # the longest answer taken is 20,000 characters
    assert save(exam, token, (10, fill.number, "y" * 20_000), when=at(6))["acked"] == [10]
    # every character of a JSON string but NUL is stored as sent, on either path
    odd = 'é"\\\n\t\u2028😀<>'
    assert save(exam, token, (11, fill.number, odd), when=at(6))["acked"] == [11]
    with Session(engine) as s:
        stored = s.exec(
            select(AttemptAnswer.value).where(
                AttemptAnswer.attempt_id == aid, AttemptAnswer.seq == 11
            )
        ).one()
    assert stored == odd


def test_saves_refused_whole(exam: Exam) -> None:
    engine = exam.database.engine
    person, late, still = exam.people[0], exam.people[2], exam.people[4]
    token = sign_in(exam, person)
    save(exam, token, (1, 1, "A"))
    aid = attempt_of(exam, person).id or 0
    before = snapshot(engine, aid)
    with refused("signed_out", 401):
        save(exam, "forged-" + token[7:], (2, 1, "B"))
    with refused("signed_out", 401):
        save(exam, "", (2, 1, "B"))
    room = room_id(exam, person)
    act(engine, room, ADMIN, "pause", attempt_id=aid, now=at(10))
    paused = snapshot(engine, aid)
    with refused("paused", 409):
        save(exam, token, (2, 1, "B"), when=at(11))
    assert snapshot(engine, aid) == paused
    act(engine, room, ADMIN, "resume", attempt_id=aid, now=at(12))
    assert snapshot(engine, aid)[:3] == before[:3]
    attempts.hand_in(engine, token, now=at(31))
    closed = snapshot(engine, aid)
    with refused("handed_in", 403):
        save(exam, token, (2, 1, "B"), when=at(32))
    assert snapshot(engine, aid) == closed

    # the deadline: writes within the grace are taken, later ones are not
    token = sign_in(exam, late)
    late_id = attempt_of(exam, late).id or 0
    deadline = at(120)
    out = save(exam, token, (1, 1, "C"), when=deadline + attempts.SAVE_GRACE)
    assert out["acked"] == [1]
    before = snapshot(engine, late_id)
    with pytest.raises(Refused) as caught:
        save(exam, token, (2, 1, "D"), when=deadline + attempts.SAVE_GRACE + timedelta(seconds=1))
    assert caught.value.code in ("deadline_passed", "handed_in")
    after = snapshot(engine, late_id)
    assert after[:3] == before[:3]
    # closed by the refused write, with the deadline as finish time
    a = attempt_of(exam, late)
    assert a.status is AttemptStatus.HANDED_IN
    assert attempts.utc(a.handed_in_at) == deadline  # type: ignore[arg-type]
    assert a.finish_reason is FinishReason.DEADLINE

    # a save before the start
    token = sign_in(exam, still, when=at(-5))
    with refused("not_started", 403):
        save(exam, token, (1, 1, "A"), when=at(0, -1))
    assert snapshot(engine, attempt_of(exam, still).id or 0)[1] == []


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"entries": "x"},
        {"entries": [1]},
        {"entries": [{"seq": True, "number": 1, "value": "A"}]},
        {"entries": [{"seq": 1, "number": True, "value": "A"}]},
        {"entries": [{"seq": 0, "number": 1, "value": "A"}]},
        {"entries": [{"seq": -1, "number": 1, "value": "A"}]},
        {"entries": [{"seq": 1, "number": -3, "value": "A"}]},
        {"entries": [{"seq": 1.0, "number": 1, "value": "A"}]},
        {"entries": [{"seq": "1", "number": 1, "value": "A"}]},
        {"entries": [{"seq": 2**31, "number": 1, "value": "A"}]},
        {"entries": [{"seq": 1, "number": 10_001, "value": "A"}]},
        {"entries": [{"seq": 1, "number": 1, "value": 3}]},
        {"entries": [{"seq": 1, "number": 1, "value": None}]},
        {"entries": [{"seq": 1, "number": 1, "value": "A", "flagged": 1}]},
        {"entries": [{"seq": 1, "number": 1, "value": "A", "client_at": -5}]},
        {"entries": [{"seq": 1, "number": 1, "value": "A", "client_at": True}]},
        {"entries": [{"seq": 1, "number": 1, "value": "A"}, {"seq": 1, "number": 2, "value": "B"}]},
        {"entries": [{"seq": n + 1, "number": 1, "value": "A"} for n in range(201)]},
    ],
)
def test_malformed_payloads_are_refused(payload: Any) -> None:
    with pytest.raises(Refused) as caught:
        parse_entries(payload)
    assert caught.value.status in (400, 413)
    assert caught.value.code in ("bad_request", "too_many_entries")


def test_a_well_formed_payload_parses_in_seq_order() -> None:
    entries = parse_entries(
        {
            "entries": [
                {"seq": 3, "number": 2, "value": "B", "flagged": True, "client_at": 7},
                {"seq": 1, "number": 1},
            ]
            + [{"seq": n, "number": 1, "value": "A"} for n in range(4, 202)]
        }
    )
    assert len(entries) == 200
    assert entries[0] == Entry(1, 1, "", False, None)
    assert entries[1] == Entry(3, 2, "B", True, 7)


# --- attachments -------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 50
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 13


def test_attachments(whole: Exam) -> None:
    engine = whole.database.engine
    person = whole.people[0]
    token = sign_in(whole, person)
    copy = copy_of(whole, person)
    practical = next(q for q in copy.questions if q.type is ItemType.SUBJECTIVE)
    objective = next(q for q in copy.questions if q.type is ItemType.SINGLE)
    aid = attempt_of(whole, person).id or 0
    with refused("unknown_question", 400):
        attempts.attach(engine, token, objective.number, "a.pdf", PDF, now=at(5))
    with refused("unknown_question", 400):
        attempts.attach(engine, token, 999, "a.pdf", PDF, now=at(5))
    with refused("too_large", 413):
        attempts.attach(
            engine,
            token,
            practical.number,
            "big.pdf",
            PDF + b"0" * (attempts.ATTACHMENT_BYTES - len(PDF) + 1),
            now=at(5),
        )
    for data in (ELF, EXE, b"", b"\xff\xfe\x00bad"):
        with refused("bad_type", 415):
            attempts.attach(engine, token, practical.number, "report.pdf", data, now=at(5))
    assert count(engine, Attachment) == 0
    got = attempts.attach(engine, token, practical.number, "../作答/报告.pdf", PDF, now=at(6))
    assert got["size"] == len(PDF) and got["media_type"] == "application/pdf"
    assert "/" not in got["name"]
    picture = attempts.attach(engine, token, practical.number, "run.exe", PNG, now=at(7))
    assert picture["media_type"] == "image/png"  # judged by content, not the name
    exact = PDF + b"0" * (attempts.ATTACHMENT_BYTES - len(PDF))
    attempts.attach(engine, token, practical.number, "full.pdf", exact, now=at(8))
    with Session(engine) as s:
        rows = list(s.exec(select(Attachment).order_by(col(Attachment.id))))
    assert [(r.attempt_id, r.item_version_id) for r in rows] == [
        (aid, practical.item_version_pk)
    ] * 3
    for row, data in zip(rows, (PDF, PNG, exact), strict=True):
        assert row.sha256 == hashlib.sha256(data).hexdigest()
        assert bytes(row.data) == data and row.size == len(data)
    listed = attempts.paper(engine, token, now=at(9))["attachments"]
    assert [f["id"] for f in listed[str(practical.number)]] == [
        got["id"],
        picture["id"],
        rows[2].id,
    ]
    attempts.hand_in(engine, token, now=at(31))
    with refused("handed_in", 403):
        attempts.attach(engine, token, practical.number, "late.pdf", PDF, now=at(32))
    assert count(engine, Attachment) == 3


# --- the clock ---------------------------------------------------------------------------------


def test_remaining_time_is_the_servers(exam: Exam) -> None:
    engine = exam.database.engine
    one, two = exam.people[0], exam.people[2]
    tokens = [sign_in(exam, p) for p in (one, two)]
    for minutes in (1, 10, 119):
        for token in tokens:
            state = attempts.state(engine, token, now=at(minutes))
            assert state["remaining_ms"] == (120 - minutes) * 60 * 1000
    state = attempts.state(engine, tokens[0], now=at(-3))
    assert state["remaining_ms"] == 120 * 60 * 1000 and state["starts_in_ms"] == 180_000
    a = attempt_of(exam, one)
    room = room_id(exam, one)
    act(
        engine,
        room,
        INV1 if room == exam.rooms[0].id else ADMIN,
        "extra_time",
        attempt_id=a.id,
        minutes=10,
        now=at(20),
    )
    assert attempts.state(engine, tokens[0], now=at(20))["remaining_ms"] == 110 * 60 * 1000
    assert attempts.state(engine, tokens[0], now=at(20))["extra_seconds"] == 600
    assert attempts.state(engine, tokens[1], now=at(20))["remaining_ms"] == 100 * 60 * 1000
    assert attempts.utc(attempt_of(exam, one).deadline_at) == at(130)
    assert attempts.utc(attempt_of(exam, two).deadline_at) == at(120)


def test_pause_freezes_the_clock_and_resume_moves_the_deadline(exam: Exam) -> None:
    engine = exam.database.engine
    person = exam.people[0]
    token = sign_in(exam, person)
    a = attempt_of(exam, person)
    room = room_id(exam, person)
    act(engine, room, ADMIN, "pause", attempt_id=a.id, now=at(30))
    for minutes in (30, 33, 200):
        state = attempts.state(engine, token, now=at(minutes))
        assert state["paused"] is True
        assert state["remaining_ms"] == 90 * 60 * 1000
    with refused("paused", 409):
        save(exam, token, (1, 1, "A"), when=at(33))
    assert attempts.sweep(engine, now=at(200)).handed_in == 0  # paused attempts wait
    act(engine, room, ADMIN, "resume", attempt_id=a.id, now=at(37))
    state = attempts.state(engine, token, now=at(37))
    assert state["paused"] is False and state["remaining_ms"] == 90 * 60 * 1000
    after = attempt_of(exam, person)
    assert after.paused_seconds == 7 * 60
    assert attempts.utc(after.deadline_at) == at(127)
    assert save(exam, token, (1, 1, "A"), when=at(38))["acked"] == [1]
    assert attempts.state(engine, token, now=at(47))["remaining_ms"] == 80 * 60 * 1000


def test_room_wide_time_and_pause_touch_only_that_room(exam: Exam) -> None:
    engine = exam.database.engine
    room1, room2 = exam.rooms
    in1 = [p for p in exam.people if exam.room_of(p.admission_no).id == room1.id]
    in2 = [p for p in exam.people if exam.room_of(p.admission_no).id == room2.id]
    assert in1 and in2
    tokens = {p.admission_no: sign_in(exam, p) for p in in1[:-1] + in2}
    done = in1[0]
    attempts.hand_in(engine, tokens[done.admission_no], now=at(31))
    staff = Staff(room1.invigilator, "invigilator")
    touched = act(engine, room1.id or 0, staff, "extra_time", minutes=5, now=at(40))
    assert touched == len(in1) - 1  # every open attempt, the waiting one too; not the closed
    for p in in1:
        a = attempt_of(exam, p)
        expected = at(120) if p is done else at(125)
        assert attempts.utc(a.deadline_at) == expected, p.admission_no
    for p in in2:
        assert attempts.utc(attempt_of(exam, p).deadline_at) == at(120)
        assert attempt_of(exam, p).extra_seconds == 0
    act(engine, room1.id or 0, staff, "pause", now=at(50))
    for p in in1[1:-1]:
        state = attempts.state(engine, tokens[p.admission_no], now=at(60))
        assert state["paused"] and state["remaining_ms"] == 75 * 60 * 1000
        with refused("paused", 409):
            save(exam, tokens[p.admission_no], (1, 1, "A"), when=at(55))
    for p in in2:
        state = attempts.state(engine, tokens[p.admission_no], now=at(60))
        assert not state["paused"] and state["remaining_ms"] == 60 * 60 * 1000
        assert save(exam, tokens[p.admission_no], (1, 1, "A"), when=at(55))["acked"] == [1]
    act(engine, room1.id or 0, staff, "resume", now=at(62))
    for p in in1[1:-1]:
        a = attempt_of(exam, p)
        assert attempts.utc(a.deadline_at) == at(137) and a.paused_at is None
    assert attempts.utc(attempt_of(exam, done).deadline_at) == at(120)
    for p in in2:
        assert attempt_of(exam, p).paused_seconds == 0


# --- hand-in -----------------------------------------------------------------------------------


def test_hand_in_opens_after_the_earliest_time(exam: Exam) -> None:
    engine = exam.database.engine
    token = sign_in(exam, exam.people[0])
    assert attempts.state(engine, token, now=at(29))["can_hand_in"] is False
    with refused("too_early", 403):
        attempts.hand_in(engine, token, now=at(29, 59))
    assert attempt_of(exam, exam.people[0]).status is AttemptStatus.ACTIVE
    assert count(engine, Response) == 0
    assert attempts.state(engine, token, now=at(30))["can_hand_in"] is True
    state = attempts.hand_in(engine, token, now=at(30))
    assert state["status"] == "handed_in" and state["remaining_ms"] == 0


def test_hand_in_writes_the_answers_as_an_answer_sheet_and_scores_them(exam: Exam) -> None:
    engine = exam.database.engine
    person = exam.people[0]
    token = sign_in(exam, person)
    copy = copy_of(exam, person)
    entries, expected = [], 0.0
    for q in copy.questions:
        if q.number % 3 == 0:
            continue  # left blank
        if q.number % 3 == 1:
            value = right_answer(q)
            expected += q.points
        else:
            value = next(v for v in valid_values(q) if v and v != right_answer(q))
            if q.type is ItemType.MULTIPLE and set(value) < set(q.key):
                value = next(v for v in sorted(q.options) if v not in q.key)
        entries.append((len(entries) + 1, q.number, value))
    save(exam, token, *entries)
    state = attempts.hand_in(engine, token, now=at(45))
    assert state["status"] == "handed_in"
    a = attempt_of(exam, person)
    assert a.finish_reason is FinishReason.CANDIDATE
    assert attempts.utc(a.handed_in_at) == at(45)  # type: ignore[arg-type]
    given_ = {number: value for _, number, value in entries}
    reg = registration(exam, person)
    with Session(engine) as s:
        rows = {
            r.item_version_id: r.raw
            for r in s.exec(select(Response).where(Response.registration_id == reg.id))
        }
    assert rows == {q.item_version_pk: given_.get(q.number, "") for q in copy.questions}
    _, scores = score_sitting(engine, "S1")
    mine = next(s for s in scores if s.admission_no == person.admission_no)
    objective = {q.item_version_pk for q in copy.questions if q.type.is_objective}
    assert a.objective_score == pytest.approx(sum(mine.questions[pk] for pk in objective))
    assert a.objective_score == pytest.approx(expected)
    assert 0 < expected < 100
    incidents = count(engine, ExamIncident, ExamIncident.kind == IncidentKind.HAND_IN)
    assert incidents == 1
    with refused("handed_in", 403):
        attempts.hand_in(engine, token, now=at(46))


def test_a_computer_based_sitting_grades_as_a_paper_one(whole: Exam, tmp_path: Path) -> None:
    """The whole paper delivered at computers, marked and graded; the same answers imported as
    answer sheets give the same results."""
    engine = whole.database.engine
    rng = np.random.default_rng(11)
    sheets = {}
    for k, person in enumerate(whole.people):
        token = sign_in(whole, person)
        copy = copy_of(whole, person)
        answers = {}
        ability = person.ability + k if k else -5.0  # the first one fails the theory part
        for q in copy.questions:
            if q.type is ItemType.SUBJECTIVE:
                answers[q.number] = f"第 {q.number} 题的作答：步骤一……"
            else:
                answers[q.number] = simulate._answer(q, ability, rng)
        entries = [(n + 1, number, v) for n, (number, v) in enumerate(sorted(answers.items()))]
        assert save(whole, token, *entries, when=at(20))["refused"] == []
        attempts.hand_in(engine, token, now=at(90))
        sheets[person.admission_no] = (copy.view.form, answers)
    with Session(engine) as s:
        subjective = s.exec(select(Response.raw).where(col(Response.raw).startswith("第 "))).all()
    assert len(subjective) == 4 * len(whole.people)
    scripts = [(s.code, s.maximum, 1.0) for s in marking_list(engine, "S1")]
    assert len(scripts) == 4 * len(whole.people)
    for path in simulate.write_marks(tmp_path, scripts, rng):
        import_marks(engine, "S1", path)
    report = grade_sitting(engine, "S1")
    assert report.graded == len(whole.people) and not report.pending and not report.no_sheet
    computer = _results(engine)
    assert all(set(parts) == {"theory", "practical"} for parts, _, _ in computer.values())
    assert {passed for _, _, passed in computer.values()} == {True, False}

    # the same answers on paper: answer sheets in the same printed letters
    numbers = sorted({n for _, answers in sheets.values() for n in answers})
    objective_numbers = [
        q.number for q in copy_of(whole, whole.people[0]).questions if q.type.is_objective
    ]
    assert set(objective_numbers) < set(numbers)
    path = tmp_path / "sheets.csv"
    rows = [
        [admission, form, *(answers.get(n, "") for n in objective_numbers)]
        for admission, (form, answers) in sorted(sheets.items())
    ]
    write_table(path, ["准考证号", "试卷", *map(str, objective_numbers)], rows)
    import_sheets(engine, "S1", path, replace=True)
    grade_sitting(engine, "S1")
    assert _results(engine) == computer


def _results(engine: Any) -> dict[str, tuple[dict[str, float], float, bool]]:
    with Session(engine) as s:
        return {
            admission: (result.part_scores, result.total, result.passed)
            for result, admission in s.exec(
                select(Result, Registration.admission_no).join(
                    Registration, col(Registration.id) == col(Result.registration_id)
                )
            )
        }


def test_cached_copies_are_frozen_and_an_evicted_one_is_still_freed(
    exam: Exam, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies are frozen out of the garbage collector's walks (see ``Copies.get``); that must
    not keep a copy the cache has let go of."""
    import gc
    import weakref

    from certify.delivery import copies

    monkeypatch.setattr(copies, "FREEZE_EVERY", 1)
    engine = exam.database.engine
    cache = copies.Copies(size=1)
    first, second = (registration(exam, p).id or 0 for p in exam.people[:2])
    frozen_before = gc.get_freeze_count()
    try:
        held = weakref.ref(cache.get(engine, first, "theory"))
        assert gc.get_freeze_count() > frozen_before
        assert held() is not None and cache.get(engine, first, "theory") is held()
        cache.get(engine, second, "theory")  # the cache holds one: the first copy is let go
        assert held() is None
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("part", ["", "theory"])
def test_the_numbering_a_save_checks_against_is_the_copys(whole: Exam, part: str) -> None:
    """A process that never built a candidate's copy (an answers-only server) checks saves
    against the numbering drawn from the seed: the same questions at the same numbers, the
    same verdict on every value, with no copy built."""
    engine = whole.database.engine
    for person in whole.people:
        reg = registration(whole, person)
        fresh = Copies()
        numbering = fresh.numbering(engine, reg.id or 0, part)
        assert fresh._copies == {}
        copy = Copies().get(engine, reg.id or 0, part)
        assert {n: q.item_version_pk for n, q in numbering.by_number.items()} == {
            n: q.item_version_pk for n, q in copy.by_number.items()
        }
        for q in copy.questions:
            for value in [*valid_values(q), "Z", "AZ", "A" * 9, "a;b;c;d;e;f;g;h;i", "x" * 20_001]:
                assert numbering.check(q.number, value) == copy.check(q.number, value)
        assert numbering.check(999, "A") == copy.check(999, "A")
        assert fresh.numbering(engine, reg.id or 0, part) is numbering


def test_the_hot_paths_pooled_connection_goes_back_as_it_came(database: Database) -> None:
    """The heartbeat's and the save's statements run autocommit on a pooled connection without
    SQLAlchemy around it: the connection goes back to the pool not autocommit, and one whose
    statement failed is closed, not pooled again."""
    if database.backend != "postgresql":
        pytest.skip("the driver-level hot path is PostgreSQL's")
    import psycopg

    engine = db.make_engine(database.url)
    try:
        assert attempts._driver_row(engine, "SELECT %(x)s::int + 1", {"x": 1}) == (2,)
        with engine.connect() as conn:
            first = conn.connection.dbapi_connection
            assert first is not None and first.autocommit is False
        assert attempts._driver_row(engine, "SELECT %(x)s::int + 1", {"x": 2}) == (3,)
        with pytest.raises(psycopg.errors.DivisionByZero):
            attempts._driver_row(engine, "SELECT 1 / %(x)s::int", {"x": 0})
        assert first.closed
        assert attempts._driver_row(engine, "SELECT %(x)s::int + 1", {"x": 3}) == (4,)
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection is not first
    finally:
        engine.dispose()
