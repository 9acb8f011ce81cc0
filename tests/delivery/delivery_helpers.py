"""A sitting ready for computer-based delivery: bank, papers, registered candidates, one session
with rooms and seats, and a clock the tests move."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.delivery import attempts
from certify.delivery.copies import COPIES, Copy
from certify.delivery.schedule import add_room, allocate_seats, create_session
from certify.grading import simulate
from certify.infra.errors import Refused
from certify.infra.settings import Settings
from certify.web import create_app
from schemas.enums import ItemType
from schemas.papers import PaperQuestion
from schemas.tables import (
    AnswerEvent,
    Attachment,
    Attempt,
    AttemptAnswer,
    ExamRoom,
    ExamSession,
    Registration,
)
from tests.certify.exam_helpers import VAULT, registered_sitting
from tests.conftest import Database

START = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
"""09:00 in Beijing."""


@dataclass
class Exam:
    database: Database
    people: list[simulate.SimulatedCandidate]
    session: str
    rooms: list[ExamRoom]

    def room_of(self, admission_no: str) -> ExamRoom:
        from sqlmodel import Session, select

        from schemas.tables import Attempt, Registration

        with Session(self.database.engine) as s:
            room_id = s.exec(
                select(Attempt.room_id)
                .join(Registration, Registration.id == Attempt.registration_id)
                .where(Registration.admission_no == admission_no)
            ).one()
        return next(r for r in self.rooms if r.id == room_id)

    def sign_in(
        self, person: simulate.SimulatedCandidate, *, at: datetime | None = None, label: str = "PC"
    ) -> str:
        return sign_in(self, person, when=at, label=label)


def ready_exam(
    database: Database,
    folder: Path,
    *,
    count: int = 12,
    part: str = "theory",
    minutes: int = 120,
    rooms: int = 2,
    code: str = "S1",
    start: datetime = START,
    entry_minutes: int = 30,
    handin_minutes: int = 30,
    capacity: int | None = None,
) -> Exam:
    """A junior AI sitting of ``count`` candidates, a session delivering ``part`` at START, and
    ``rooms`` rooms (of ``capacity`` seats, default ``count``) with every candidate seated
    (``start``: the session's start, START unless a test runs on the real clock)."""
    attempts.forget()  # ids repeat across tests (an emptied database): nothing kept of others
    people = registered_sitting(database, folder, code, count, np.random.default_rng(5))
    session = f"{code}-{part or 'all'}"
    create_session(
        database.engine,
        code,
        session,
        starts_at=start,
        duration_minutes=minutes,
        part=part,
        entry_minutes=entry_minutes,
        handin_minutes=handin_minutes,
    )
    made = [
        add_room(
            database.engine,
            session,
            f"R{n + 1:02d}",
            capacity=capacity or count,
            invigilator=f"inv{n + 1}",
        )
        for n in range(rooms)
    ]
    allocate_seats(database.engine, session, seed=7)
    return Exam(database, people, session, made)


# --- small helpers the delivery tests share ------------------------------------------------------


def sign_in(
    exam: Exam,
    person: simulate.SimulatedCandidate,
    *,
    when: datetime | None = None,
    label: str = "PC",
    **wrong: str,
) -> str:
    """Sign ``person`` in (a minute after START unless ``when``); ``wrong`` replaces fields of
    the triple. Returns the device's token."""
    fields = {
        "admission_no": person.admission_no,
        "id_number": person.id_number,
        "room_code": exam.room_of(person.admission_no).room_code,
        **wrong,
    }
    token, _ = attempts.sign_in(
        exam.database.engine,
        VAULT,
        device_label=label,
        now=when or START + timedelta(minutes=1),
        **fields,
    )
    return token


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    """START moved by ``minutes`` and ``seconds``."""
    return START + timedelta(minutes=minutes, seconds=seconds)


@contextmanager
def refused(code: str, status: int | None = None) -> Iterator[None]:
    """The block raises Refused with this code (and HTTP status)."""
    with pytest.raises(Refused) as caught:
        yield
    assert caught.value.code == code, (caught.value.code, caught.value.message_en)
    if status is not None:
        assert caught.value.status == status


def registration(exam: Exam, person: simulate.SimulatedCandidate) -> Registration:
    with Session(exam.database.engine) as s:
        return s.exec(
            select(Registration).where(Registration.admission_no == person.admission_no)
        ).one()


def attempt_of(exam: Exam, person: simulate.SimulatedCandidate) -> Attempt:
    with Session(exam.database.engine) as s:
        return s.exec(
            select(Attempt)
            .join(Registration, col(Registration.id) == col(Attempt.registration_id))
            .where(Registration.admission_no == person.admission_no)
        ).one()


def copy_of(exam: Exam, person: simulate.SimulatedCandidate) -> Copy:
    with Session(exam.database.engine) as s:
        part = s.exec(select(ExamSession.part).where(ExamSession.code == exam.session)).one()
    return COPIES.get(exam.database.engine, registration(exam, person).id or 0, part)


def snapshot(engine: Engine, attempt_id: int) -> tuple[Any, ...]:
    """What an attempt holds: its answers, its history, its attachments and its row."""
    with Session(engine) as s:
        answers = sorted(
            (a.item_version_id, a.value, a.flagged, a.seq)
            for a in s.exec(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt_id))
        )
        events = sorted(
            (e.seq, e.item_version_id, e.value, e.flagged)
            for e in s.exec(select(AnswerEvent).where(AnswerEvent.attempt_id == attempt_id))
        )
        files = s.exec(
            select(func.count()).select_from(Attachment).where(Attachment.attempt_id == attempt_id)
        ).one()
        a = s.get(Attempt, attempt_id)
        assert a is not None
        row = (a.status, a.last_seq, a.deadline_at, a.handed_in_at, a.paused_at)
    return answers, events, files, row


def valid_values(q: PaperQuestion) -> list[str]:
    """Answers a question takes, in the candidate's printed letters ("" clears it)."""
    if q.type is ItemType.SINGLE:
        return ["", *sorted(q.options)]
    if q.type is ItemType.MULTIPLE:
        letters = sorted(q.options)
        return ["", *letters, "".join(letters[:2]), "".join(letters[1:])]
    if q.type is ItemType.TRUE_FALSE:
        return ["", "T", "F"]
    if q.type is ItemType.FILL:
        return ["", "x", "答案", ";".join(b.split("|")[0] for b in q.key.split(";"))]
    if q.type is ItemType.MATCHING:
        first = sorted(q.options)[0]
        return ["", q.key, "-" * (len(q.premises) - 1) + first, first * len(q.premises)]
    return ["", "一段作答", "另一段\n作答"]


def right_answer(q: PaperQuestion) -> str:
    """The key in the printed letters (the first accepted text of each blank)."""
    if q.type is ItemType.FILL:
        return ";".join(b.split("|")[0] for b in q.key.split(";"))
    return q.key


def count(engine: Engine, table: Any, *where: Any) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(table).where(*where)).one())


def staff_client(database: Database, username: str, password: str) -> FlaskClient:
    """A test client of the app signed in with this account (its CSRF token in the session)."""
    app = create_app(
        Settings.load({}, web_secret="x", sweep_seconds=0), engine=database.engine, vault=VAULT
    )
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf"]
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf}
    )
    assert response.status_code == 302, response.data
    return client


def web_sign_in(client: FlaskClient, exam: Exam, person: Any, **more: str) -> Any:
    """The candidate's sign-in over HTTP: admission number, ID number and their room's code."""
    return client.post(
        "/exam/api/sign-in",
        json={
            "admission_no": person.admission_no,
            "id_number": person.id_number,
            "room_code": exam.room_of(person.admission_no).room_code,
            **more,
        },
    )
