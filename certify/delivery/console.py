"""监考: the invigilator's view of a room and what they may do in it.

An invigilator sees and acts on their own rooms only (an administrator on every room); a room
that is not theirs is "not found", never "forbidden", so a room number reveals nothing. Every
action is one transaction that writes the room's log (``exam_incident``) and the audit log under
the invigilator's account: admit late, allow a device move, add time (one candidate or the
room), pause and resume (the clock stops: the deadline moves by the time paused), record an
incident or a violation, mark absent, force hand-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.delivery.attempts import LOST_AFTER, close_in, now_utc, score_objective, utc
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import AttemptNotFound, Refused, RoomNotFound
from schemas.enums import AttemptStatus, FinishReason, IncidentKind
from schemas.tables import (
    Attempt,
    AttemptAnswer,
    Candidate,
    ExamIncident,
    ExamRoom,
    ExamSession,
    Registration,
    Sitting,
)

ADMIN = "admin"


@dataclass(frozen=True)
class Staff:
    """Who acts: an account's username and role."""

    username: str
    role: str

    @property
    def actor(self) -> str:
        return f"web:{self.username}" if self.role != "cli" else "cli"


def rooms_for(engine: Engine, staff: Staff) -> list[tuple[ExamRoom, ExamSession, int]]:
    """The rooms this person may invigilate (an administrator: all), newest session first, with
    the number of candidates seated."""
    with Session(engine) as session:
        query = (
            select(ExamRoom, ExamSession, func.count(col(Attempt.id)))
            .join(ExamSession, col(ExamSession.id) == col(ExamRoom.session_id))
            .outerjoin(Attempt, col(Attempt.room_id) == col(ExamRoom.id))
            .group_by(col(ExamRoom.id), col(ExamSession.id))
            .order_by(col(ExamSession.starts_at).desc(), col(ExamRoom.code))
        )
        if staff.role != ADMIN:
            query = query.where(ExamRoom.invigilator == staff.username)
        return [(r, s, int(n)) for r, s, n in session.exec(query)]


def room_for(session: Session, room_id: int, staff: Staff) -> ExamRoom:
    """The room, if this person may invigilate it; else RoomNotFound (as for no room at all)."""
    room = session.get(ExamRoom, room_id)
    if room is None or (staff.role != ADMIN and room.invigilator != staff.username):
        raise RoomNotFound(room_id)
    return room


def room_status(
    engine: Engine, room_id: int, staff: Staff, *, now: datetime | None = None
) -> dict[str, Any]:
    """The room as the console shows it: every seat with its candidate's state, connection,
    saved answers, page events, extra time and pause."""
    now = now or now_utc()
    with Session(engine) as session:
        room = room_for(session, room_id, staff)
        exam = session.get(ExamSession, room.session_id)
        assert exam is not None
        sitting = session.get(Sitting, exam.sitting_id)
        answered = (
            select(AttemptAnswer.attempt_id, func.count().label("n"))
            .where(AttemptAnswer.value != "")
            .group_by(col(AttemptAnswer.attempt_id))
            .subquery()
        )
        rows = session.exec(
            select(Attempt, Registration.admission_no, Candidate.name, answered.c.n)
            .join(Registration, col(Registration.id) == col(Attempt.registration_id))
            .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
            .outerjoin(answered, answered.c.attempt_id == col(Attempt.id))
            .where(Attempt.room_id == room.id)
            .order_by(col(Attempt.seat))
        ).all()
    starts = utc(exam.starts_at)
    seats = []
    for a, admission, name, n in rows:
        seen = utc(a.last_seen_at) if a.last_seen_at else None
        lost = (
            int((now - seen).total_seconds())
            if a.status is AttemptStatus.ACTIVE and seen and now - seen > LOST_AFTER
            else 0
        )
        at = utc(a.paused_at) if a.paused_at else now
        seats.append(
            {
                "attempt": a.id,
                "seat": a.seat,
                "admission_no": admission,
                "name": name,
                "status": a.status.value,
                "status_zh": a.status.zh,
                "device": a.device_label,
                "move_allowed": a.move_allowed,
                "late_allowed": a.late_allowed,
                "signed_in_at": utc(a.signed_in_at).isoformat() if a.signed_in_at else None,
                "last_seen_s": int((now - seen).total_seconds()) if seen else None,
                "lost_s": lost,
                "answered": int(n or 0),
                "events": a.events,
                "extra_minutes": round(a.extra_seconds / 60, 1),
                "paused": a.paused_at is not None,
                "remaining_s": max(int((utc(a.deadline_at) - max(at, starts)).total_seconds()), 0),
                "handed_in_at": utc(a.handed_in_at).isoformat() if a.handed_in_at else None,
                "finish_reason": a.finish_reason.value if a.finish_reason else None,
                "objective_score": a.objective_score,
            }
        )
    counts = {s.value: 0 for s in AttemptStatus}
    for s in seats:
        counts[str(s["status"])] += 1
    return {
        "room": {
            "id": room.id,
            "code": room.code,
            "name": room.name,
            "capacity": room.capacity,
            "room_code": room.room_code,
            "invigilator": room.invigilator,
            "paused": room.paused_at is not None,
        },
        "session": {
            "code": exam.code,
            "part": exam.part,
            "sitting": sitting.code if sitting else "",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=exam.duration_minutes)).isoformat(),
            "entry_until": (starts + timedelta(minutes=exam.entry_minutes)).isoformat(),
        },
        "counts": counts,
        "lost": sum(1 for s in seats if s["lost_s"]),
        "seats": seats,
        "server_now": now.isoformat(),
    }


ACTIONS = (
    "admit_late",
    "allow_move",
    "extra_time",
    "pause",
    "resume",
    "incident",
    "violation",
    "absent",
    "force_hand_in",
)


def act(
    engine: Engine,
    room_id: int,
    staff: Staff,
    action: str,
    *,
    attempt_id: int | None = None,
    minutes: float = 0,
    note: str = "",
    now: datetime | None = None,
) -> int:
    """Do ``action`` to one candidate (``attempt_id``) or, for extra time, pause, resume and
    incidents, to the whole room (``attempt_id`` None). Returns how many attempts it touched.
    Every action is logged in the room and audited under the account."""
    now = now or now_utc()
    if action not in ACTIONS:
        raise Refused(400, "unknown_action", f"没有操作 {action}", f"no action {action!r}")
    note = note.strip()[:500]
    if action in ("incident", "violation") and not note:
        raise Refused(400, "note_required", "请填写情况说明", "a note is required")
    if action == "extra_time" and not 0 < minutes <= 240:
        raise Refused(400, "bad_minutes", "延长时间应为 1–240 分钟", "extra time is 1–240 minutes")
    closed: list[int] = []
    with transaction(engine) as session:
        room = room_for(session, room_id, staff)
        whole_room = attempt_id is None
        if whole_room and action not in ("extra_time", "pause", "resume", "incident"):
            raise Refused(400, "attempt_required", "请选择考生", "choose a candidate")
        query = select(Attempt).where(Attempt.room_id == room.id).with_for_update()
        if not whole_room:
            query = query.where(Attempt.id == attempt_id)
        attempts = list(session.exec(query.order_by(col(Attempt.id))))
        if not whole_room and not attempts:
            raise AttemptNotFound(attempt_id)
        touched = 0
        for a in attempts:
            if _apply(session, engine, a, action, minutes, now, staff, note, whole_room):
                touched += 1
                if action == "force_hand_in":
                    closed.append(a.id or 0)
        if whole_room and action in ("pause", "resume"):
            room.paused_at = now if action == "pause" else None
            session.add(room)
        if action != "force_hand_in":  # closing logs its own line
            session.add(
                ExamIncident(
                    room_id=room.id or 0,
                    attempt_id=None if whole_room else attempt_id,
                    kind=IncidentKind(action),
                    note=note,
                    actor=staff.actor,
                    detail={"minutes": minutes} if action == "extra_time" else {},
                    at=now,
                )
            )
        audit_log.append(
            session,
            actor=staff.actor,
            action=f"invigilate.{action}",
            subject=f"room:{room.id}" + ("" if whole_room else f"/attempt:{attempt_id}"),
            detail={"touched": touched, "minutes": minutes, "note": note},
        )
    for attempt_id_ in closed:
        score_objective(engine, attempt_id_)
    return touched


def _apply(
    session: Session,
    engine: Engine,
    a: Attempt,
    action: str,
    minutes: float,
    now: datetime,
    staff: Staff,
    note: str,
    whole_room: bool,
) -> bool:
    closed = a.status in (AttemptStatus.HANDED_IN, AttemptStatus.ABSENT)
    if action == "admit_late":
        if a.status not in (AttemptStatus.WAITING, AttemptStatus.ABSENT):
            raise _no("already_in", "该考生已入场", "the candidate is in already")
        a.late_allowed = True
        a.status = AttemptStatus.WAITING
    elif action == "allow_move":
        if closed:
            raise _no("closed", "该考生已交卷或缺考", "handed in or absent")
        a.move_allowed = True
    elif action == "extra_time":
        if closed:
            return False if whole_room else _refuse_closed()
        seconds = round(minutes * 60)
        a.extra_seconds += seconds
        a.deadline_at = utc(a.deadline_at) + timedelta(seconds=seconds)
    elif action == "pause":
        if closed or a.paused_at is not None:
            if whole_room:
                return False
            if closed:
                _refuse_closed()
            raise _no("already_paused", "该考生已暂停", "already paused")
        a.paused_at = now
    elif action == "resume":
        if a.paused_at is None:
            if whole_room:
                return False
            raise _no("not_paused", "该考生未暂停", "not paused")
        paused = int((now - utc(a.paused_at)).total_seconds())
        a.paused_seconds += paused
        a.deadline_at = utc(a.deadline_at) + timedelta(seconds=paused)
        a.paused_at = None
    elif action == "absent":
        if a.status is not AttemptStatus.WAITING:
            raise _no("already_in", "该考生已登录，不能记缺考", "signed in: not absent")
        a.status = AttemptStatus.ABSENT
    elif action == "force_hand_in":
        if a.status is not AttemptStatus.ACTIVE:
            raise _no("not_active", "该考生不在作答中", "not answering")
        session.flush()
        return close_in(
            session,
            engine,
            a.id or 0,
            reason=FinishReason.INVIGILATOR,
            now=now,
            actor=staff.actor,
            note=note,
        )
    elif action in ("incident", "violation"):
        if action == "violation" and whole_room:
            raise _no("attempt_required", "违纪须指明考生", "a violation names a candidate")
        return not whole_room
    session.add(a)
    return True


def _no(code: str, zh: str, en: str) -> Refused:
    return Refused(409, code, zh, en)


def _refuse_closed() -> bool:
    raise _no("closed", "该考生已交卷或缺考", "handed in or absent")


def room_log(engine: Engine, room_id: int, staff: Staff) -> list[dict[str, Any]]:
    """The room's log, oldest first, with the seat each line is about."""
    with Session(engine) as session:
        room = room_for(session, room_id, staff)
        rows = session.exec(
            select(ExamIncident, Attempt.seat)
            .outerjoin(Attempt, col(Attempt.id) == col(ExamIncident.attempt_id))
            .where(ExamIncident.room_id == room.id)
            .order_by(col(ExamIncident.id))
        ).all()
    return [
        {
            "at": utc(i.at).isoformat(),
            "seat": seat,
            "kind": i.kind.value,
            "kind_zh": i.kind.zh,
            "note": i.note,
            "actor": i.actor,
            "detail": i.detail,
        }
        for i, seat in rows
    ]
