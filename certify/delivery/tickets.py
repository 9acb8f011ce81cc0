"""准考证 and 考场记录 from the records: the data the PDFs of :mod:`certify.delivery.documents`
print, read with the same room check as the console (an invigilator's own rooms only)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from tqdm import tqdm

from certify.delivery.attempts import utc
from certify.delivery.console import ADMIN, Staff, room_for
from certify.delivery.documents import (
    Incident,
    RoomReport,
    RoomRow,
    Ticket,
    admission_tickets_pdf,
    room_report_pdf,
)
from certify.delivery.schedule import get_room, get_session, part_title
from schemas.reference import LEVEL_NAMES_ZH, get_occupation
from schemas.tables import (
    Attempt,
    Candidate,
    ExamIncident,
    ExamRoom,
    ExamSession,
    Registration,
    Sitting,
)


def _tickets(session: Session, exam: ExamSession, rooms: list[ExamRoom]) -> list[Ticket]:
    sitting = session.get(Sitting, exam.sitting_id)
    assert sitting is not None
    occupation = get_occupation(sitting.occupation)
    delivers = part_title(session, sitting, exam.part)
    by_id = {r.id: r for r in rooms}
    rows = session.exec(
        select(Attempt, Registration, Candidate)
        .join(Registration, col(Registration.id) == col(Attempt.registration_id))
        .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
        .where(col(Attempt.room_id).in_(list(by_id)))
        .order_by(col(Attempt.room_id), col(Attempt.seat))
    ).all()
    level = LEVEL_NAMES_ZH.get(sitting.level, sitting.level)  # type: ignore[call-overload]
    return [
        Ticket(
            sitting_code=sitting.code,
            occupation_name=occupation.name_zh,
            level_name=level,
            title=f"{occupation.name_zh}（{level}）专业技术等级考核",
            candidate_name=cand.name,
            id_number_masked=cand.id_number_masked,
            admission_no=reg.admission_no,
            session_code=exam.code,
            part_title=delivers,
            starts_at=utc(exam.starts_at),
            duration_minutes=exam.duration_minutes,
            entry_minutes=exam.entry_minutes,
            handin_minutes=exam.handin_minutes,
            room_code=by_id[a.room_id].code,
            room_name=by_id[a.room_id].name,
            seat=a.seat,
            institution=sitting.institution,
        )
        for a, reg, cand in rows
    ]


def room_tickets(engine: Engine, room_id: int, staff: Staff) -> tuple[bytes, str]:
    """One printable batch of a room's tickets, by seat."""
    with Session(engine) as session:
        room = room_for(session, room_id, staff)
        exam = session.get(ExamSession, room.session_id)
        assert exam is not None
        tickets = _tickets(session, exam, [room])
    return admission_tickets_pdf(tickets), f"{exam.code}-{room.code}-准考证.pdf"


def write_tickets(
    engine: Engine, session_code: str, out: Path, *, progress: bool | None = False
) -> list[Path]:
    """Every ticket of a session: one file per candidate and one batch per room, in ``out``;
    ``progress``: show a progress bar (None: on a terminal only)."""
    out.mkdir(parents=True, exist_ok=True)
    with Session(engine) as session:
        exam = get_session(session, session_code)
        rooms = list(
            session.exec(
                select(ExamRoom).where(ExamRoom.session_id == exam.id).order_by(col(ExamRoom.code))
            )
        )
        tickets = _tickets(session, exam, rooms)
    written = []
    disable = None if progress is None else not progress
    with tqdm(
        total=len(rooms) + len(tickets),
        desc="准考证 tickets",
        unit="份",
        disable=disable,
        leave=False,
    ) as bar:
        for room in rooms:
            batch = [t for t in tickets if t.room_code == room.code]
            path = out / f"{exam.code}-{room.code}-准考证.pdf"
            path.write_bytes(admission_tickets_pdf(batch))
            written.append(path)
            bar.update(1)
        for ticket in tickets:
            path = out / f"准考证-{ticket.admission_no}.pdf"
            path.write_bytes(admission_tickets_pdf([ticket]))
            written.append(path)
            bar.update(1)
    return written


def room_report(engine: Engine, room_id: int, staff: Staff) -> tuple[bytes, str]:
    """考场记录 of a room: attendance, every seat's times, the room's log."""
    with Session(engine) as session:
        room = room_for(session, room_id, staff)
        exam = session.get(ExamSession, room.session_id)
        assert exam is not None
        sitting = session.get(Sitting, exam.sitting_id)
        assert sitting is not None
        rows = session.exec(
            select(Attempt, Registration, Candidate)
            .join(Registration, col(Registration.id) == col(Attempt.registration_id))
            .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
            .where(Attempt.room_id == room.id)
            .order_by(col(Attempt.seat))
        ).all()
        seat_of = {a.id: a.seat for a, _, _ in rows}
        log = session.exec(
            select(ExamIncident)
            .where(ExamIncident.room_id == room.id)
            .order_by(col(ExamIncident.id))
        ).all()
        report = RoomReport(
            session_code=exam.code,
            title=sitting.code,
            part_title=part_title(session, sitting, exam.part),
            room_code=room.code,
            room_name=room.name,
            invigilators=(room.invigilator,) if room.invigilator else (),
            starts_at=utc(exam.starts_at),
            duration_minutes=exam.duration_minutes,
            rows=tuple(
                RoomRow(
                    seat=a.seat,
                    admission_no=reg.admission_no,
                    name=cand.name,
                    status=a.status.value,
                    signed_in_at=utc(a.signed_in_at) if a.signed_in_at else None,
                    handed_in_at=utc(a.handed_in_at) if a.handed_in_at else None,
                    finish_reason=a.finish_reason.value if a.finish_reason else "",
                    extra_minutes=round(a.extra_seconds / 60),
                    events=dict(a.events),
                )
                for a, reg, cand in rows
            ),
            incidents=tuple(
                Incident(
                    at=utc(i.at),
                    seat=seat_of.get(i.attempt_id) if i.attempt_id else None,
                    kind=i.kind.value,
                    note=i.note,
                    actor=i.actor,
                )
                for i in log
                if i.kind.value != "sign_in"
            ),
        )
    return room_report_pdf(report), f"{exam.code}-{room.code}-考场记录.pdf"


OFFICE = Staff("cli", ADMIN)
"""The examination office at the command line: every room, read only."""


def room_report_of(engine: Engine, session_code: str, room_code: str) -> tuple[bytes, str]:
    """考场记录 of room ``room_code`` of session ``session_code`` (for the office: any room)."""
    with Session(engine) as session:
        room = get_room(session, get_session(session, session_code), room_code)
    return room_report(engine, room.id or 0, OFFICE)
