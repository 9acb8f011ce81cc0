"""The sweeper against a real database: attempts past their deadline are closed once, with the
deadline as finish time, even when several processes sweep at the same moment and candidates
hand in while they do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from certify.delivery import attempts
from certify.delivery.attempts import SAVE_GRACE, Entry, Swept, sweep
from certify.delivery.console import Staff, act
from certify.infra.errors import Refused
from schemas.enums import AttemptStatus, FinishReason, IncidentKind
from schemas.tables import Attempt, AttemptAnswer, ExamIncident, Registration, Response
from tests.conftest import Database
from tests.delivery.delivery_helpers import (
    START,
    Exam,
    at,
    attempt_of,
    copy_of,
    count,
    ready_exam,
    registration,
    sign_in,
)

ROOT = Path(__file__).resolve().parents[2]
ADMIN = Staff("boss", "admin")
DEADLINE = at(120)
JUST_AFTER = DEADLINE + SAVE_GRACE + timedelta(seconds=1)


def closings(engine: Any) -> Counter[int]:
    """How many times each attempt was closed, by the room's log."""
    with Session(engine) as s:
        rows = s.exec(
            select(ExamIncident.attempt_id).where(
                col(ExamIncident.kind).in_(
                    [IncidentKind.HAND_IN, IncidentKind.FORCE_HAND_IN, IncidentKind.ABSENT]
                )
            )
        ).all()
    return Counter(r or 0 for r in rows)


def test_a_candidate_who_left_is_handed_in_at_the_deadline(exam: Exam) -> None:
    engine = exam.database.engine
    left, timed, never = exam.people[0], exam.people[2], exam.people[4]
    token = sign_in(exam, left)
    copy = copy_of(exam, left)
    attempts.save(engine, token, [Entry(1, 1, copy.by_number[1].key)], now=at(20))
    sign_in(exam, timed)
    t = attempt_of(exam, timed)
    act(engine, t.room_id, ADMIN, "extra_time", attempt_id=t.id, minutes=10, now=at(30))

    assert sweep(engine, now=DEADLINE + SAVE_GRACE) == Swept(0, 0)  # the grace is still on
    assert attempt_of(exam, left).status is AttemptStatus.ACTIVE
    waiting = len(exam.people) - 2
    assert sweep(engine, now=JUST_AFTER) == Swept(1, waiting)
    a = attempt_of(exam, left)
    assert a.status is AttemptStatus.HANDED_IN
    assert attempts.utc(a.handed_in_at) == DEADLINE  # type: ignore[arg-type]
    assert a.finish_reason is FinishReason.DEADLINE
    assert a.objective_score == pytest.approx(copy.by_number[1].points)
    reg = registration(exam, left)
    with Session(engine) as s:
        rows = s.exec(select(Response).where(Response.registration_id == reg.id)).all()
    assert len(rows) == len(copy.questions)
    assert {r.raw for r in rows if r.item_version_id == copy.by_number[1].item_version_pk} == {
        copy.by_number[1].key
    }
    assert {attempts.utc(r.recorded_at) for r in rows} == {DEADLINE}
    assert attempt_of(exam, never).status is AttemptStatus.ABSENT
    assert count(engine, Response, Response.registration_id == registration(exam, never).id) == 0
    # extra time: closed at its own deadline
    assert attempt_of(exam, timed).status is AttemptStatus.ACTIVE
    assert sweep(engine, now=at(130) + SAVE_GRACE) == Swept(0, 0)
    assert sweep(engine, now=at(130) + SAVE_GRACE + timedelta(seconds=1)) == Swept(1, 0)
    t = attempt_of(exam, timed)
    assert attempts.utc(t.handed_in_at) == at(130)  # type: ignore[arg-type]
    assert sweep(engine, now=at(500)) == Swept(0, 0)
    assert set(closings(engine).values()) == {1}
    assert len(closings(engine)) == len(exam.people)


def test_paused_attempts_are_skipped_until_resumed(exam: Exam) -> None:
    engine = exam.database.engine
    person = exam.people[0]
    sign_in(exam, person)
    a = attempt_of(exam, person)
    act(engine, a.room_id, ADMIN, "pause", attempt_id=a.id, now=at(100))
    assert sweep(engine, now=at(300)).handed_in == 0
    assert attempt_of(exam, person).status is AttemptStatus.ACTIVE
    act(engine, a.room_id, ADMIN, "resume", attempt_id=a.id, now=at(300))
    # 20 minutes were left at the pause
    assert sweep(engine, now=at(320) + SAVE_GRACE).handed_in == 0
    assert sweep(engine, now=at(320) + SAVE_GRACE + timedelta(seconds=1)).handed_in == 1
    assert attempts.utc(attempt_of(exam, person).handed_in_at) == at(320)  # type: ignore[arg-type]


def test_the_heartbeat_closes_at_the_deadline_too(exam: Exam) -> None:
    engine = exam.database.engine
    person = exam.people[0]
    token = sign_in(exam, person)
    state = attempts.state(engine, token, now=JUST_AFTER)
    assert state["status"] == "handed_in" and state["remaining_ms"] == 0
    a = attempt_of(exam, person)
    assert attempts.utc(a.handed_in_at) == DEADLINE  # type: ignore[arg-type]
    assert sweep(engine, now=JUST_AFTER).handed_in == 0
    assert closings(engine)[a.id or 0] == 1


# --- at the same time --------------------------------------------------------------------------

WORKER = """
import json, sys, time
from datetime import datetime
from pathlib import Path
from certify.delivery.attempts import sweep
from certify.infra import db
from certify.infra.errors import DatabaseError

url, now, go, ready = sys.argv[1], datetime.fromisoformat(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
engine = db.make_engine(url)
with engine.connect():
    pass
ready.touch()
while not go.exists():
    time.sleep(0.001)
out = {"handed_in": 0, "absent": 0, "errors": []}
for _ in range(5):
    try:
        swept = sweep(engine, now=now)
    except DatabaseError as exc:
        out["errors"].append(str(exc).splitlines()[-1][:300])
        time.sleep(0.1)
        continue
    out["handed_in"] += swept.handed_in
    out["absent"] += swept.absent
    break
print(json.dumps(out))
"""


def due_session(database: Database, folder: Path, count_: int, waiting: int) -> Exam:
    """``count_`` candidates past their deadline: all but ``waiting`` signed in, with answers."""
    exam = ready_exam(database, folder, count=count_, rooms=2, capacity=count_ // 2 + 1)
    engine = database.engine
    with Session(engine) as s:
        rows = s.exec(select(Attempt.id, Registration.admission_no).join(Registration)).all()
    active = [aid for aid, _ in sorted(rows, key=lambda r: r[1])[waiting:]]
    q1 = copy_of(exam, exam.people[0]).by_number[1]
    with engine.begin() as c:
        c.execute(
            update(Attempt)
            .where(col(Attempt.id).in_(active))
            .values(status=AttemptStatus.ACTIVE.value, signed_in_at=at(1), last_seen_at=at(1))
        )
        c.execute(
            insert(AttemptAnswer),
            [
                {
                    "attempt_id": aid,
                    "item_version_id": q1.item_version_pk,
                    "value": "A",
                    "seq": 1,
                    "saved_at": at(2),
                }
                for aid in active
            ],
        )
    return exam


def check_closed_once(exam: Exam, waiting: int) -> None:
    engine = exam.database.engine
    n = len(exam.people)
    questions = len(copy_of(exam, exam.people[0]).questions)
    with Session(engine) as s:
        found = s.exec(select(Attempt)).all()
    assert Counter(a.status for a in found) == {
        AttemptStatus.HANDED_IN: n - waiting,
        AttemptStatus.ABSENT: waiting,
    }
    assert {attempts.utc(a.handed_in_at) for a in found if a.handed_in_at} == {DEADLINE}
    assert count(engine, Response) == questions * (n - waiting)
    once = closings(engine)
    assert len(once) == n and set(once.values()) == {1}, once.most_common(3)
    assert count(engine, ExamIncident, ExamIncident.kind == IncidentKind.HAND_IN) == n - waiting
    assert count(engine, Response, Response.raw == "A") == n - waiting


def test_processes_sweeping_at_once_close_each_attempt_once(
    database: Database, tmp_path: Path
) -> None:
    """Two processes sweep a session of 200 due attempts at the same moment (more only make
    the run slower where cores are few: two are enough to race)."""
    processes, waiting = 2, 20
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    go = tmp_path / "go"
    workers = []
    for n in range(processes):  # started first: they import while the session is made
        ready = tmp_path / f"ready{n}"
        command = [sys.executable, "-c", WORKER, database.url, JUST_AFTER.isoformat(), str(go)]
        process = subprocess.Popen(
            [*command, str(ready)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        workers.append((ready, process))
    try:
        exam = due_session(database, tmp_path, 200, waiting)
        deadline = time.monotonic() + 60
        while not all(ready.exists() for ready, _ in workers):
            assert time.monotonic() < deadline, "workers did not start"
            assert all(p.poll() is None for _, p in workers), [p.communicate() for _, p in workers]
            time.sleep(0.01)
        go.touch()
        results = []
        for _, p in workers:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for _, p in workers:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert sum(r["handed_in"] for r in results) == 200 - waiting, results
    assert sum(r["absent"] for r in results) == waiting, results
    check_closed_once(exam, waiting)
    errors = [e for r in results for e in r["errors"]]
    if database.backend == "postgresql":
        assert errors == []  # SKIP LOCKED: nobody waits for, or fails on, another
    assert sweep(database.engine, now=JUST_AFTER) == Swept(0, 0)


def test_a_hand_in_racing_the_sweeper_closes_once(exam: Exam) -> None:
    engine = exam.database.engine
    tokens = [sign_in(exam, p) for p in exam.people[:10]]
    barrier = threading.Barrier(len(tokens) + 2)
    outcomes: list[Any] = []

    def candidate(token: str) -> None:
        barrier.wait()
        try:
            outcomes.append(attempts.hand_in(engine, token, now=JUST_AFTER)["status"])
        except Refused as exc:
            outcomes.append(exc.code)

    def sweeper() -> None:
        barrier.wait()
        outcomes.append(sweep(engine, now=JUST_AFTER))

    threads = [threading.Thread(target=candidate, args=(t,)) for t in tokens]
    threads += [threading.Thread(target=sweeper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    statuses = [o for o in outcomes if isinstance(o, str)]
    assert len(outcomes) == len(threads), outcomes
    assert set(statuses) <= {"handed_in"}, statuses
    questions = len(copy_of(exam, exam.people[0]).questions)
    assert count(engine, Response) == questions * len(tokens)
    once = closings(engine)
    assert len(once) == len(exam.people) and set(once.values()) == {1}, once
    with Session(engine) as s:
        found = s.exec(select(Attempt).where(col(Attempt.handed_in_at).is_not(None))).all()
    assert len(found) == len(tokens)
    assert {attempts.utc(a.handed_in_at) for a in found} == {DEADLINE}  # type: ignore[arg-type]
    assert {a.finish_reason for a in found} == {FinishReason.DEADLINE}
    assert START < DEADLINE
