"""A sitting ready for computer-based delivery: bank, papers, registered candidates, one session
with rooms and seats, and a clock the tests move."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from certify.delivery import attempts
from certify.delivery.copies import COPIES
from certify.delivery.schedule import add_room, allocate_seats, create_session
from certify.grading import simulate
from certify.registration.sittings import create_sitting, import_roster
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import assemble_papers
from question_bank.samples import sample_blueprints, sample_files
from schemas.tables import ExamRoom
from tests.certify.exam_helpers import VAULT
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
        token, _ = attempts.sign_in(
            self.database.engine,
            VAULT,
            admission_no=person.admission_no,
            id_number=person.id_number,
            room_code=self.room_of(person.admission_no).room_code,
            device_label=label,
            now=at or START + timedelta(minutes=1),
        )
        return token


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
) -> Exam:
    """A junior AI sitting of ``count`` candidates, a session delivering ``part`` at START, and
    ``rooms`` rooms with every candidate seated (``start``: the session's start, START unless
    a test runs on the real clock)."""
    COPIES.clear()
    for path in sample_files():
        if path.name == "ai-junior.json":
            import_bank(database.engine, path)
    assemble_papers(
        database.engine,
        load_blueprint(next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")),
    )
    create_sitting(database.engine, code, "ai-junior-sample", institution="测试评价机构")
    rng = np.random.default_rng(5)
    people = simulate.candidates(count, ["A", "B"], rng)
    import_roster(
        database.engine,
        code,
        simulate.write_roster(folder / "r.csv", people),
        VAULT,
        shuffle_seed=simulate.seeds(rng),
    )
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
            database.engine, session, f"R{n + 1:02d}", capacity=count, invigilator=f"inv{n + 1}"
        )
        for n in range(rooms)
    ]
    allocate_seats(database.engine, session, seed=7)
    return Exam(database, people, session, made)
