"""申诉查询: what a candidate's attempt recorded, for appeals and for the office.

Every write the exam page made and the server took is one ``answer_event`` row — its sequence
number, when it arrived, the question, the value, the flag and the device (the first 12 hex of
the device token's digest) — so "I answered B, the system says C" is settled from the records:
the history lists every change in the order it was made, with the printed question number of
the candidate's own copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.delivery.attempts import utc
from certify.delivery.copies import COPIES
from certify.delivery.schedule import get_session
from certify.infra.errors import AttemptNotFound
from schemas.enums import AttemptStatus, FinishReason
from schemas.tables import AnswerEvent, Attachment, Attempt, ExamRoom, ExamSession, Registration


@dataclass(frozen=True)
class HistoryLine:
    """One write the server took: ``number`` is the printed question number (None if the
    question is no longer on the candidate's copy)."""

    seq: int
    received_at: datetime
    client_at_ms: int | None
    number: int | None
    value: str
    flagged: bool
    device: str


@dataclass(frozen=True)
class Upload:
    """One attachment a candidate uploaded (never deleted: the newest per question counts)."""

    id: int
    uploaded_at: datetime
    number: int | None
    name: str
    media_type: str
    size: int
    sha256: str
    device: str


@dataclass(frozen=True)
class AnswerHistory:
    session: str
    admission_no: str
    room: str
    seat: int
    status: AttemptStatus
    signed_in_at: datetime | None
    handed_in_at: datetime | None
    finish_reason: FinishReason | None
    device_label: str
    lines: list[HistoryLine]
    uploads: list[Upload]


def answer_history(engine: Engine, session_code: str, admission_no: str) -> AnswerHistory:
    """Every change the candidate's page saved in this session, oldest first, with uploads."""
    with Session(engine) as session:
        exam = get_session(session, session_code)
        row = session.exec(
            select(Attempt, Registration, ExamRoom)
            .join(Registration, col(Registration.id) == col(Attempt.registration_id))
            .join(ExamRoom, col(ExamRoom.id) == col(Attempt.room_id))
            .where(Attempt.session_id == exam.id, Registration.admission_no == admission_no)
        ).first()
        if row is None:
            raise AttemptNotFound(f"{session_code}/{admission_no}")
        attempt, reg, room = row
        events = session.exec(
            select(AnswerEvent)
            .where(AnswerEvent.attempt_id == attempt.id)
            .order_by(col(AnswerEvent.seq))
        ).all()
        files = session.exec(
            select(Attachment)
            .where(Attachment.attempt_id == attempt.id)
            .order_by(col(Attachment.id))
        ).all()
        number_of = {
            q.item_version_pk: q.number
            for q in COPIES.get(engine, reg.id or 0, exam.part).questions
        }
        return AnswerHistory(
            session=exam.code,
            admission_no=reg.admission_no,
            room=room.code,
            seat=attempt.seat,
            status=attempt.status,
            signed_in_at=utc(attempt.signed_in_at) if attempt.signed_in_at else None,
            handed_in_at=utc(attempt.handed_in_at) if attempt.handed_in_at else None,
            finish_reason=attempt.finish_reason,
            device_label=attempt.device_label,
            lines=[
                HistoryLine(
                    e.seq,
                    utc(e.received_at),
                    e.client_at,
                    number_of.get(e.item_version_id),
                    e.value,
                    e.flagged,
                    e.device,
                )
                for e in events
            ],
            uploads=[
                Upload(
                    f.id or 0,
                    utc(f.uploaded_at),
                    number_of.get(f.item_version_id),
                    f.name,
                    f.media_type,
                    f.size,
                    f.sha256,
                    f.device,
                )
                for f in files
            ],
        )


@dataclass(frozen=True)
class Closed:
    """An attempt as the office names it: session, room, seat, admission number, status."""

    session: str
    room: str
    seat: int
    admission_no: str
    status: AttemptStatus


def describe(engine: Engine, attempt_ids: Iterable[int]) -> list[Closed]:
    """The attempts ``attempt_ids`` named for a person, by session, room and seat."""
    ids = list(attempt_ids)
    if not ids:
        return []
    with Session(engine) as session:
        rows = session.exec(
            select(Attempt, ExamSession, ExamRoom, Registration)
            .join(ExamSession, col(ExamSession.id) == col(Attempt.session_id))
            .join(ExamRoom, col(ExamRoom.id) == col(Attempt.room_id))
            .join(Registration, col(Registration.id) == col(Attempt.registration_id))
            .where(col(Attempt.id).in_(ids))
            .order_by(col(ExamSession.code), col(ExamRoom.code), col(Attempt.seat))
        ).all()
    return [Closed(s.code, r.code, a.seat, reg.admission_no, a.status) for a, s, r, reg in rows]
