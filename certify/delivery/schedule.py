"""场次、考场、座位: exam sessions of a sitting, their rooms, and the seats candidates get.

A session delivers one part of the paper (or every part) at one time: start, duration, latest
entry and earliest hand-in. Rooms belong to a session, each with its capacity, its invigilator
and the code read out at the start (without it nobody signs in from elsewhere). Allocating the
seats creates every candidate's attempt ahead of time — a start spike then only signs in, it
creates nothing — from a seed recorded with the session, so the same seed gives the same seats
again (:mod:`certify.delivery.seating`). Candidates of one group (employer or training class)
are spread over rooms and kept from sitting side by side; a group is taken from a groups file
when given, else from the training course the candidate completed for this occupation.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.delivery.attempts import attempt_deadline, utc
from certify.delivery.seating import RoomSpec, Seatee, allocate
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Error, ExamSessionNotFound, RoomNotFound
from certify.infra.rows import Columns, read_rows
from certify.registration.sittings import get_sitting
from schemas.enums import ApplicationDecision
from schemas.tables import (
    Account,
    Attempt,
    Blueprint,
    Course,
    Enrolment,
    ExamRoom,
    ExamSession,
    Registration,
    Sitting,
)


class ScheduleError(Error):
    code = "schedule"


def get_session(session: Session, code: str) -> ExamSession:
    """The exam session ``code``; raises ExamSessionNotFound."""
    found = session.exec(select(ExamSession).where(ExamSession.code == code)).first()
    if found is None:
        raise ExamSessionNotFound(code)
    return found


def get_room(session: Session, exam: ExamSession, code: str) -> ExamRoom:
    room = session.exec(
        select(ExamRoom).where(ExamRoom.session_id == exam.id, ExamRoom.code == code)
    ).first()
    if room is None:
        raise RoomNotFound(f"{exam.code}/{code}")
    return room


def create_session(
    engine: Engine,
    sitting_code: str,
    code: str,
    *,
    starts_at: datetime,
    duration_minutes: int,
    part: str = "",
    entry_minutes: int = 30,
    handin_minutes: int = 30,
    spread: bool = True,
    actor: str = "cli",
) -> ExamSession:
    """Add a timed session to a sitting; the part must be one of its blueprint's."""
    if starts_at.tzinfo is None:
        raise ScheduleError("开考时间须带时区 / the start time needs a time zone")
    starts_at = utc(starts_at)  # SQLite keeps the wall time and drops the offset
    if not 1 <= duration_minutes <= 24 * 60:
        raise ScheduleError("考试时长应为 1–1440 分钟 / the duration is 1–1440 minutes")
    if not 0 <= entry_minutes <= duration_minutes or not 0 <= handin_minutes <= duration_minutes:
        raise ScheduleError(
            "入场截止与最早交卷时间应在考试时长之内 / latest entry and earliest hand-in fall "
            "within the duration"
        )
    with transaction(engine) as session:
        sitting = get_sitting(session, code=sitting_code)
        if part and part not in blueprint_parts(session, sitting):
            raise ScheduleError(
                f"{sitting_code} 的蓝图没有 {part} 部分 / the blueprint has no part {part!r} "
                f"(parts: {', '.join(blueprint_parts(session, sitting))})"
            )
        if session.exec(select(ExamSession).where(ExamSession.code == code)).first():
            raise ScheduleError(f"场次 {code} 已存在 / session {code} exists already")
        exam = ExamSession(
            sitting_id=sitting.id or 0,
            code=code,
            part=part,
            starts_at=starts_at,
            duration_minutes=duration_minutes,
            entry_minutes=entry_minutes,
            handin_minutes=handin_minutes,
            spread=spread,
        )
        session.add(exam)
        audit_log.append(
            session,
            actor=actor,
            action="delivery.session",
            subject=code,
            detail={
                "sitting": sitting_code,
                "part": part,
                "starts_at": starts_at.isoformat(),
                "minutes": duration_minutes,
            },
        )
    return exam


def blueprint_parts(session: Session, sitting: Sitting) -> dict[str, str]:
    """The parts of the sitting's blueprint, each with its title (理论知识, 专业能力), in order."""
    bp = session.get(Blueprint, sitting.blueprint_id) if sitting.blueprint_id else None
    return {p["part"]: p.get("title", p["part"]) for p in (bp.spec.get("parts", []) if bp else [])}


def part_title(session: Session, sitting: Sitting, part: str) -> str:
    """What a session delivers, as people read it: one part's title, or every part's ("")."""
    parts = blueprint_parts(session, sitting)
    return "、".join(title for name, title in parts.items() if not part or name == part)


def add_room(
    engine: Engine,
    session_code: str,
    code: str,
    *,
    capacity: int,
    name: str = "",
    columns: int = 6,
    invigilator: str = "",
    require_account: bool = False,
    actor: str = "cli",
) -> ExamRoom:
    """Add a room to a session, with a fresh six-digit room code; with ``require_account``
    the invigilator must be an active invigilator's (or administrator's) account."""
    if not 1 <= capacity <= 1000 or not 1 <= columns <= 50:
        raise ScheduleError("考场容量 1–1000、每排 1–50 座 / capacity 1–1000, 1–50 seats a row")
    with transaction(engine) as session:
        exam = get_session(session, session_code)
        if invigilator and require_account:
            _check_invigilator(session, invigilator)
        if session.exec(
            select(ExamRoom).where(ExamRoom.session_id == exam.id, ExamRoom.code == code)
        ).first():
            raise ScheduleError(f"考场 {code} 已存在 / room {code} exists already")
        room = ExamRoom(
            session_id=exam.id or 0,
            code=code,
            name=name,
            capacity=capacity,
            columns=columns,
            invigilator=invigilator,
            room_code=f"{secrets.randbelow(10**6):06d}",
        )
        session.add(room)
        audit_log.append(
            session,
            actor=actor,
            action="delivery.room",
            subject=f"{session_code}/{code}",
            detail={"capacity": capacity, "invigilator": invigilator},
        )
    return room


def assign_invigilator(
    engine: Engine, session_code: str, room_code: str, username: str, *, actor: str = "cli"
) -> None:
    """Give the room to ``username``: an active account with the invigilator (or admin) role."""
    with transaction(engine) as session:
        room = get_room(session, get_session(session, session_code), room_code)
        _check_invigilator(session, username)
        room.invigilator = username
        session.add(room)
        audit_log.append(
            session,
            actor=actor,
            action="delivery.invigilator",
            subject=f"{session_code}/{room_code}",
            detail={"invigilator": username},
        )


INVIGILATING_ROLES = ("invigilator", "admin")


def _check_invigilator(session: Session, username: str) -> None:
    account = session.exec(select(Account).where(Account.username == username)).first()
    if account is None or not account.active or account.role not in INVIGILATING_ROLES:
        raise ScheduleError(
            f"{username} 不是有效的监考员账户（先运行 certify users add {username} --role "
            f"invigilator）/ {username} is no active invigilator's account "
            f"(certify users add {username} --role invigilator)"
        )


GROUPS = Columns(
    {
        "admission_no": ("准考证号", "考号"),
        "group": ("单位", "工作单位", "培训班", "班级", "分组"),
    },
    required=["admission_no", "group"],
)


def read_groups(path: Path) -> dict[str, str]:
    """A groups file: admission number → group (employer or class); refused whole on any bad
    row, naming it."""
    rows = read_rows(path, GROUPS)
    out: dict[str, str] = {}
    for row in rows:
        admission = row.text("admission_no")
        if rows.unique(row, "admission_no", admission):
            out[admission] = row.text("group")
    rows.refuse()
    return out


@dataclass(frozen=True)
class Seating:
    session: str
    seed: int
    seated: int
    rooms: dict[str, int]


def allocate_seats(
    engine: Engine,
    session_code: str,
    *,
    seed: int | None = None,
    groups: dict[str, str] | None = None,
    actor: str = "cli",
) -> Seating:
    """Seat every accepted candidate of the sitting and create their attempts; the seed is
    recorded with the session. Refused once any candidate has signed in (seats are then fixed);
    before that, allocating again replaces the seats."""
    seed = secrets.randbits(63) if seed is None else seed
    with transaction(engine) as session:
        exam = get_session(session, session_code)
        sitting = session.get(Sitting, exam.sitting_id)
        assert sitting is not None
        rooms = list(
            session.exec(
                select(ExamRoom).where(ExamRoom.session_id == exam.id).order_by(col(ExamRoom.code))
            )
        )
        if not rooms:
            raise ScheduleError(f"场次 {session_code} 还没有考场 / the session has no rooms yet")
        started = session.exec(
            select(func.count())
            .select_from(Attempt)
            .where(Attempt.session_id == exam.id, col(Attempt.signed_in_at).is_not(None))
        ).one()
        if started:
            raise ScheduleError(
                f"已有 {started} 名考生登录，座位不能重排 / {started} candidates have signed in: "
                "the seats are fixed"
            )
        regs = list(
            session.exec(
                select(Registration).where(
                    Registration.sitting_id == sitting.id,
                    Registration.status == ApplicationDecision.ACCEPTED,
                    col(Registration.paper_id).is_not(None),
                )
            )
        )
        known = groups if groups is not None else _training_classes(session, sitting, regs)
        unknown = sorted(set(known) - {r.admission_no for r in regs}) if groups else []
        if unknown:
            raise ScheduleError(
                f"分组文件中的考生未在 {sitting.code} 登记：{'、'.join(unknown[:10])} / "
                f"not registered in {sitting.code}: {', '.join(unknown[:10])}"
            )
        seats = allocate(
            [Seatee(r.admission_no, known.get(r.admission_no, "")) for r in regs],
            [RoomSpec(r.code, r.capacity, r.columns) for r in rooms],
            seed,
            spread=exam.spread,
        )
        by_code = {r.code: r for r in rooms}
        session.execute(
            Attempt.__table__.delete().where(  # type: ignore[attr-defined]
                Attempt.__table__.c.session_id == exam.id  # type: ignore[attr-defined]
            )
        )
        deadline = attempt_deadline(exam)
        for reg in regs:
            room_code, seat = seats[reg.admission_no]
            session.add(
                Attempt(
                    registration_id=reg.id or 0,
                    session_id=exam.id or 0,
                    room_id=by_code[room_code].id or 0,
                    seat=seat,
                    deadline_at=deadline,
                )
            )
        exam.seat_seed = seed
        session.add(exam)
        per_room = {code: 0 for code in by_code}
        for room_code, _ in seats.values():
            per_room[room_code] += 1
        audit_log.append(
            session,
            actor=actor,
            action="delivery.seats",
            subject=session_code,
            detail={"seed": seed, "seated": len(regs), "rooms": per_room, "groups": bool(known)},
        )
    return Seating(session_code, seed, len(regs), per_room)


def _training_classes(
    session: Session, sitting: Sitting, regs: list[Registration]
) -> dict[str, str]:
    """Admission number → the training course (class) the candidate completed most recently
    in this occupation, where there is one."""
    by_candidate = {r.candidate_id: r.admission_no for r in regs}
    rows = session.exec(
        select(Enrolment.candidate_id, Course.code)
        .join(Course, col(Course.id) == col(Enrolment.course_id))
        .where(
            Course.occupation == sitting.occupation,
            col(Enrolment.candidate_id).in_(list(by_candidate)),
        )
        .order_by(col(Enrolment.id))
    )
    return {by_candidate[cid]: code for cid, code in rows}


@dataclass(frozen=True)
class SessionSummary:
    session: ExamSession
    rooms: list[tuple[ExamRoom, int]]


def sessions_of(engine: Engine, sitting_code: str) -> list[SessionSummary]:
    """The sitting's sessions with their rooms and the candidates seated in each."""
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        out = []
        for exam in session.exec(
            select(ExamSession)
            .where(ExamSession.sitting_id == sitting.id)
            .order_by(col(ExamSession.starts_at))
        ):
            counts = dict(
                session.exec(
                    select(Attempt.room_id, func.count())
                    .where(Attempt.session_id == exam.id)
                    .group_by(col(Attempt.room_id))
                ).all()
            )
            rooms = session.exec(
                select(ExamRoom).where(ExamRoom.session_id == exam.id).order_by(col(ExamRoom.code))
            ).all()
            out.append(SessionSummary(exam, [(r, counts.get(r.id or 0, 0)) for r in rooms]))
    return out


def ends_at(exam: ExamSession) -> datetime:
    return utc(exam.starts_at) + timedelta(minutes=exam.duration_minutes)


def session_times(engine: Engine, code: str) -> tuple[datetime, datetime]:
    """(start, end) of exam session ``code``: what a seal of its papers opens and ends with.
    Raises ScheduleError for an unknown session."""
    with Session(engine) as session:
        exam = get_session(session, code)
        return utc(exam.starts_at), ends_at(exam)
