"""The invigilator's console against a real database: their rooms only, every action logged in
the room and audited under the account, and the room's state as the console shows it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from certify.delivery import attempts
from certify.delivery.attempts import Entry
from certify.delivery.console import Staff, act, room_for, room_log, room_status, rooms_for
from certify.infra.audit_log import verify_chain
from certify.infra.errors import AttemptNotFound, NotFound, RoomNotFound
from schemas.enums import AttemptStatus, FinishReason, IncidentKind
from schemas.tables import AuditEntry, ExamIncident, Response
from tests.delivery.delivery_helpers import (
    Exam,
    at,
    attempt_of,
    copy_of,
    count,
    refused,
    registration,
    sign_in,
)

ADMIN = Staff("boss", "admin")


def staff_of(exam: Exam, n: int) -> Staff:
    return Staff(exam.rooms[n].invigilator, "invigilator")


def people_in(exam: Exam, n: int) -> list[Any]:
    return [p for p in exam.people if exam.room_of(p.admission_no).id == exam.rooms[n].id]


def test_an_invigilator_sees_only_their_rooms(exam: Exam) -> None:
    engine = exam.database.engine
    one, two = exam.rooms
    assert [r.id for r, _, _ in rooms_for(engine, staff_of(exam, 0))] == [one.id]
    assert [r.id for r, _, _ in rooms_for(engine, staff_of(exam, 1))] == [two.id]
    assert rooms_for(engine, Staff("nobody", "invigilator")) == []
    everything = rooms_for(engine, ADMIN)
    assert sorted(r.id or 0 for r, _, _ in everything) == sorted([one.id or 0, two.id or 0])
    assert sum(n for _, _, n in everything) == len(exam.people)
    # the role decides, not the name: an invigilator called "admin" is no administrator
    assert rooms_for(engine, Staff("admin", "invigilator")) == []


def _failure(call: Any) -> tuple[type, str, int | None]:
    with pytest.raises(NotFound) as caught:
        call()
    return type(caught.value), caught.value.code, getattr(caught.value, "status", None)


def _room_for(engine: Any, room: int, staff: Staff) -> Any:
    with Session(engine) as s:
        return room_for(s, room, staff)


def test_another_invigilators_room_is_not_found(exam: Exam) -> None:
    engine = exam.database.engine
    mine = staff_of(exam, 0)
    theirs = exam.rooms[1].id or 0
    missing = 99_999
    person = people_in(exam, 1)[0]
    sign_in(exam, person)
    a = attempt_of(exam, person)
    before = (count(engine, ExamIncident), count(engine, AuditEntry))
    calls = {
        "room_for": lambda room: _room_for(engine, room, mine),
        "room_status": lambda room: room_status(engine, room, mine, now=at(5)),
        "room_log": lambda room: room_log(engine, room, mine),
        "pause": lambda room: act(engine, room, mine, "pause", attempt_id=a.id, now=at(5)),
        "pause room": lambda room: act(engine, room, mine, "pause", now=at(5)),
        "extra_time": lambda room: act(engine, room, mine, "extra_time", minutes=5, now=at(5)),
        "force_hand_in": lambda room: act(
            engine, room, mine, "force_hand_in", attempt_id=a.id, now=at(35)
        ),
    }
    for name, call in calls.items():
        other = _failure(lambda call=call: call(theirs))
        none = _failure(lambda call=call: call(missing))
        assert other == none, name
        assert other[0] is RoomNotFound
    assert (count(engine, ExamIncident), count(engine, AuditEntry)) == before
    after = attempt_of(exam, person)
    assert after.status is AttemptStatus.ACTIVE and after.paused_at is None
    # their candidate through my room: not found either, nothing done
    with pytest.raises(AttemptNotFound):
        act(engine, exam.rooms[0].id or 0, mine, "pause", attempt_id=a.id, now=at(5))
    assert attempt_of(exam, person).paused_at is None
    assert (count(engine, ExamIncident), count(engine, AuditEntry)) == before
    # the administrator may act anywhere
    act(engine, theirs, ADMIN, "pause", attempt_id=a.id, now=at(5))
    assert attempt_of(exam, person).paused_at is not None


def test_every_action_is_logged_and_audited_under_the_account(exam: Exam) -> None:
    engine = exam.database.engine
    staff = staff_of(exam, 0)
    room = exam.rooms[0].id or 0
    people = people_in(exam, 0)
    assert len(people) >= 6
    late, moving, timed, noted, absent, forced = people[:6]
    for p in (moving, timed, noted, forced):
        sign_in(exam, p)
    steps: list[tuple[str, Any, dict[str, Any]]] = [
        ("admit_late", late, {}),
        ("allow_move", moving, {}),
        ("extra_time", timed, {"minutes": 15}),
        ("pause", timed, {}),
        ("resume", timed, {}),
        ("incident", noted, {"note": "电脑死机，已更换"}),
        ("violation", noted, {"note": "携带手机"}),
        ("absent", absent, {}),
        ("force_hand_in", forced, {"note": "严重违纪"}),
        ("extra_time", None, {"minutes": 5}),
        ("pause", None, {}),
        ("resume", None, {}),
        ("incident", None, {"note": "停电 3 分钟"}),
    ]
    for n, (action, person, options) in enumerate(steps):
        aid = attempt_of(exam, person).id if person else None
        incidents = count(engine, ExamIncident)
        audits = count(engine, AuditEntry)
        when = at(40, n)
        touched = act(engine, room, staff, action, attempt_id=aid, now=when, **options)
        assert touched >= (1 if person else 0), action
        with Session(engine) as s:
            new = list(s.exec(select(ExamIncident).where(col(ExamIncident.id) > incidents)))
            audit = list(s.exec(select(AuditEntry).where(col(AuditEntry.id) > audits)))
        assert [(i.kind.value, i.actor, i.attempt_id, i.room_id) for i in new] == [
            (action, f"web:{staff.username}", aid, room)
        ], action
        assert new[0].note == options.get("note", "")
        assert attempts.utc(new[0].at) == when
        assert [(e.actor, e.action) for e in audit] == [
            (f"web:{staff.username}", f"invigilate.{action}")
        ], action
        assert audit[0].subject == f"room:{room}" + (f"/attempt:{aid}" if aid else "")
    with Session(engine) as s:
        assert verify_chain(s).ok
    assert attempt_of(exam, late).late_allowed
    assert attempt_of(exam, moving).move_allowed
    assert attempt_of(exam, timed).extra_seconds == (15 + 5) * 60
    assert attempt_of(exam, absent).status is AttemptStatus.ABSENT
    log = room_log(engine, room, staff)
    assert [line["kind"] for line in log if line["actor"].startswith("web:")] == [
        a for a, _, _ in steps
    ]


def test_force_hand_in_closes_for_the_invigilator(exam: Exam) -> None:
    engine = exam.database.engine
    staff = staff_of(exam, 0)
    person = people_in(exam, 0)[0]
    token = sign_in(exam, person)
    copy = copy_of(exam, person)
    attempts.save(engine, token, [Entry(1, 1, copy.by_number[1].key)], now=at(3))
    a = attempt_of(exam, person)
    # before the earliest hand-in: the invigilator may still close it
    assert act(engine, a.room_id, staff, "force_hand_in", attempt_id=a.id, now=at(10)) == 1
    after = attempt_of(exam, person)
    assert after.status is AttemptStatus.HANDED_IN
    assert after.finish_reason is FinishReason.INVIGILATOR
    assert attempts.utc(after.handed_in_at) == at(10)  # type: ignore[arg-type]
    assert after.objective_score == pytest.approx(copy.by_number[1].points)
    reg = registration(exam, person)
    assert count(engine, Response, Response.registration_id == reg.id) == len(copy.questions)
    with Session(engine) as s:
        closing = s.exec(
            select(ExamIncident).where(ExamIncident.kind == IncidentKind.FORCE_HAND_IN)
        ).one()
    assert closing.actor == f"web:{staff.username}" and closing.detail["reason"] == "invigilator"
    assert attempts.state(engine, token, now=at(11))["status"] == "handed_in"
    with refused("not_active", 409):
        act(engine, a.room_id, staff, "force_hand_in", attempt_id=a.id, now=at(12))
    assert count(engine, Response, Response.registration_id == reg.id) == len(copy.questions)


def test_a_paused_attempt_forced_in_ends_when_it_was_paused(exam: Exam) -> None:
    engine = exam.database.engine
    person = people_in(exam, 0)[0]
    sign_in(exam, person)
    a = attempt_of(exam, person)
    act(engine, a.room_id, ADMIN, "pause", attempt_id=a.id, now=at(50))
    act(engine, a.room_id, ADMIN, "force_hand_in", attempt_id=a.id, now=at(200))
    after = attempt_of(exam, person)
    assert after.status is AttemptStatus.HANDED_IN and after.paused_at is None
    # the clock stopped at 0:50 with 70 minutes left: closed now, never before the start
    assert attempts.utc(after.handed_in_at) == at(200)  # type: ignore[arg-type]
    assert after.finish_reason is FinishReason.INVIGILATOR


def test_absent_is_only_for_a_candidate_who_has_not_signed_in(exam: Exam) -> None:
    engine = exam.database.engine
    staff = staff_of(exam, 0)
    present, away = people_in(exam, 0)[:2]
    sign_in(exam, present)
    a = attempt_of(exam, present)
    with refused("already_in", 409):
        act(engine, a.room_id, staff, "absent", attempt_id=a.id, now=at(31))
    assert attempt_of(exam, present).status is AttemptStatus.ACTIVE
    b = attempt_of(exam, away)
    act(engine, b.room_id, staff, "absent", attempt_id=b.id, now=at(31))
    assert attempt_of(exam, away).status is AttemptStatus.ABSENT
    with refused("absent", 403):
        sign_in(exam, away, when=at(32))
    # the invigilator may still let them in
    act(engine, b.room_id, staff, "admit_late", attempt_id=b.id, now=at(33))
    sign_in(exam, away, when=at(34))
    assert attempt_of(exam, away).status is AttemptStatus.ACTIVE
    with refused("already_in", 409):
        act(engine, b.room_id, staff, "absent", attempt_id=b.id, now=at(35))


def test_refused_actions_change_nothing(exam: Exam) -> None:
    engine = exam.database.engine
    staff = staff_of(exam, 0)
    room = exam.rooms[0].id or 0
    person = people_in(exam, 0)[0]
    sign_in(exam, person)
    aid = attempt_of(exam, person).id
    before = (count(engine, ExamIncident), count(engine, AuditEntry))
    for code, action, options in (
        ("unknown_action", "delete", {"attempt_id": aid}),
        ("note_required", "incident", {"attempt_id": aid}),
        ("note_required", "violation", {"attempt_id": aid, "note": "  "}),
        ("bad_minutes", "extra_time", {"attempt_id": aid, "minutes": 0}),
        ("bad_minutes", "extra_time", {"attempt_id": aid, "minutes": 241}),
        ("attempt_required", "violation", {"note": "全场"}),
        ("attempt_required", "absent", {}),
        ("attempt_required", "force_hand_in", {}),
        ("not_paused", "resume", {"attempt_id": aid}),
        ("already_in", "admit_late", {"attempt_id": aid}),
    ):
        with refused(code):
            act(engine, room, staff, action, now=at(10), **options)
    assert (count(engine, ExamIncident), count(engine, AuditEntry)) == before
    a = attempt_of(exam, person)
    assert (a.extra_seconds, a.paused_at, a.status) == (0, None, AttemptStatus.ACTIVE)


def test_room_status_shows_connection_answers_and_events(exam: Exam) -> None:
    engine = exam.database.engine
    staff = staff_of(exam, 0)
    room = exam.rooms[0].id or 0
    people = people_in(exam, 0)
    one, two = people[:2]
    token = sign_in(exam, one, when=at(1))
    sign_in(exam, two, when=at(1))
    attempts.save(
        engine,
        token,
        [Entry(1, 1, "A"), Entry(2, 2, "B"), Entry(3, 3, "C"), Entry(4, 3, "")],
        now=at(2),
    )
    attempts.count_events(engine, token, {"blur": 2, "paste": 1})
    attempts.count_events(engine, token, {"blur": 1, "fullscreen_exit": 3})

    def seat(status: dict[str, Any], person: Any) -> dict[str, Any]:
        return next(s for s in status["seats"] if s["admission_no"] == person.admission_no)

    status = room_status(engine, room, staff, now=at(2, 15))
    mine = seat(status, one)
    assert mine["answered"] == 2  # the cleared one is not answered
    assert mine["events"] == {"blur": 3, "paste": 1, "fullscreen_exit": 3}
    assert mine["lost_s"] == 0 and mine["last_seen_s"] == 15
    assert seat(status, two)["answered"] == 0
    assert seat(status, two)["lost_s"] == 75  # seen at 1:00
    status = room_status(engine, room, staff, now=at(2, 16))
    assert seat(status, one)["lost_s"] == 16  # more than 15 s without a heartbeat
    assert status["lost"] == 2
    assert status["counts"]["active"] == 2
    assert status["counts"]["waiting"] == len(people) - 2
    assert all(s["lost_s"] == 0 for s in status["seats"] if s["status"] == "waiting")
    # a heartbeat brings the connection back
    attempts.state(engine, token, now=at(2, 20))
    status = room_status(engine, room, staff, now=at(2, 21))
    assert seat(status, one)["lost_s"] == 0 and status["lost"] == 1
    assert seat(status, one)["remaining_s"] == (120 - 2) * 60 - 21
    # seats are the room's, in seat order, and nobody else's
    assert [s["seat"] for s in status["seats"]] == sorted(s["seat"] for s in status["seats"])
    assert {s["admission_no"] for s in status["seats"]} == {p.admission_no for p in people}
