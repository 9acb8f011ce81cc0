"""One active device per candidate, held by the database: processes signing one candidate in at
the same moment get one token between them, and the others are told to ask the invigilator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from certify.delivery import attempts
from certify.infra.errors import Refused
from schemas.enums import IncidentKind
from schemas.tables import Attempt, ExamIncident
from tests.conftest import Database
from tests.delivery.delivery_helpers import START, ready_exam

SIGN_IN = """
import json, sys, time
from datetime import datetime
from certify.delivery import attempts
from certify.infra.db import make_engine
from certify.infra.errors import Refused
from tests.certify.exam_helpers import VAULT
url, admission, id_number, room_code, at, go = sys.argv[1:]
engine = make_engine(url)
engine.connect().close()
while time.time() < float(go):
    time.sleep(0.001)
try:
    token, _ = attempts.sign_in(engine, VAULT, admission_no=admission, id_number=id_number,
                                room_code=room_code, device_label=f"pid {__import__('os').getpid()}",
                                now=datetime.fromisoformat(at))
    print(json.dumps({"token": token}))
except Refused as exc:
    print(json.dumps({"refused": exc.code}))
"""


def test_simultaneous_sign_ins_in_several_processes_give_one_device(
    database: Database, tmp_path: Path
) -> None:
    exam = ready_exam(database, tmp_path, count=3, rooms=1)
    person = exam.people[0]
    room_code = exam.room_of(person.admission_no).room_code
    at = (START + timedelta(minutes=1)).isoformat()
    go = str(time.time() + 4)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                SIGN_IN,
                database.url,
                person.admission_no,
                person.id_number,
                room_code,
                at,
                go,
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [
        json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in processes
    ]
    tokens = [r["token"] for r in results if "token" in r]
    assert len(tokens) == 1, results
    assert sorted(r["refused"] for r in results if "refused" in r) == ["device_in_use"] * 3
    with Session(database.engine) as session:
        attempt = session.exec(
            select(Attempt).where(Attempt.device_hash.is_not(None))  # type: ignore[union-attr]
        ).one()
        sign_ins = session.exec(
            select(ExamIncident).where(ExamIncident.kind == IncidentKind.SIGN_IN)
        ).all()
    assert len(sign_ins) == 1 and sign_ins[0].attempt_id == attempt.id


def test_two_sign_ins_that_both_saw_no_device_still_give_one(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race made certain: both requests pass every check (no device yet) before either
    writes; the database's conditional update lets exactly one take the attempt."""
    exam = ready_exam(database, tmp_path, count=2, rooms=1)
    person = exam.people[0]
    both_checked = threading.Barrier(2, timeout=30)
    checked = attempts._may_sign_in

    def check_then_wait(found: attempts.Found, now: datetime) -> None:
        checked(found, now)
        both_checked.wait()

    monkeypatch.setattr(attempts, "_may_sign_in", check_then_wait)
    outcomes: list[str] = []

    def sign_in() -> None:
        try:
            exam.sign_in(person)
            outcomes.append("token")
        except Refused as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=sign_in) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["device_in_use", "token"]
