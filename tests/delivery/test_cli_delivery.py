"""The ``certify exams`` commands, as an examination office runs them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from certify.delivery import attempts
from certify.delivery.copies import COPIES
from certify.grading import simulate
from certify.registration.sittings import create_sitting, import_roster
from cli import cli
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import assemble_papers
from question_bank.samples import sample_blueprints, sample_files
from schemas.tables import Attempt, ExamRoom, Registration
from tests.certify.exam_helpers import VAULT, run
from tests.conftest import Database
from tests.helpers import institution
from tests.pdf_tools import pdf_pages


def registered(
    database: Database, folder: Path, count: int = 8
) -> list[simulate.SimulatedCandidate]:
    """Sitting S1 (junior AI) with ``count`` registered candidates and no session yet."""
    COPIES._copies.clear()
    for path in sample_files():
        if path.name == "ai-junior.json":
            import_bank(database.engine, path)
    assemble_papers(
        database.engine,
        load_blueprint(next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")),
    )
    create_sitting(
        database.engine,
        "S1",
        "ai-junior-sample",
        institution=institution(database.engine, "测试评价机构"),
    )
    rng = np.random.default_rng(5)
    people = simulate.candidates(count, ["A", "B"], rng)
    import_roster(
        database.engine,
        "S1",
        simulate.write_roster(folder / "r.csv", people),
        VAULT,
        shuffle_seed=simulate.seeds(rng),
    )
    return people


def pdf_text(path: Path) -> str:
    return "\n".join(pdf_pages(path))


def room_of(database: Database, admission_no: str) -> ExamRoom:
    with Session(database.engine) as s:
        room = s.exec(
            select(ExamRoom)
            .join(Attempt, Attempt.room_id == ExamRoom.id)
            .join(Registration, Registration.id == Attempt.registration_id)
            .where(Registration.admission_no == admission_no)
        ).one()
    return room


def test_an_office_schedules_seats_and_prints_a_session(database: Database, tmp_path: Path) -> None:
    people = registered(database, tmp_path)
    out = run(
        database,
        "exams", "session", "add", "S1", "S1-theory",
        "--start", "2026-12-05T09:00+08:00", "--minutes", "120", "--part", "theory",
        "--entry", "20", "--handin", "45",
    )  # fmt: skip
    assert "S1-theory" in out and "2026-12-05 09:00" in out and "+20" in out and "+45" in out
    assert "naive" not in out
    bad = run(
        database,
        "exams", "session", "add", "S1", "S2", "--start", "2026-12-05T09:00", "--minutes", "60",
        code=2,
    )  # fmt: skip
    assert "+08:00" in bad
    assert "part" in run(
        database, "exams", "session", "add", "S1", "S3", "--start", "2026-12-05T09:00+08:00",
        "--minutes", "60", "--part", "nope", code=1,
    )  # fmt: skip
    # A room's invigilator must be an invigilator's account.
    refused = run(
        database, "exams", "room", "add", "S1-theory", "R01", "--capacity", "5",
        "--invigilator", "wang", code=1,
    )  # fmt: skip
    assert "certify users add wang --role invigilator" in refused
    run(database, "users", "add", "wang", "--role", "invigilator", "--password", "wang-password-1")
    run(database, "users", "add", "li", "--role", "invigilator", "--password", "li-password-12")
    made = run(
        database, "exams", "room", "add", "S1-theory", "R01", "--capacity", "5", "--columns", "3",
        "--name", "实验楼 301", "--invigilator", "wang",
    )  # fmt: skip
    code = re.search(r"room code (\d{6})", made)
    assert code and "监考 invigilator wang" in made
    run(database, "exams", "room", "add", "S1-theory", "R02", "--capacity", "5")
    run(database, "exams", "room", "invigilator", "S1-theory", "R02", "li")
    run(database, "exams", "room", "invigilator", "S1-theory", "R02", "nobody", code=1)
    groups = tmp_path / "groups.csv"
    groups.write_text(
        "准考证号,单位\n"
        + "".join(f"{p.admission_no},单位{n % 2}\n" for n, p in enumerate(people)),
        "utf-8",
    )
    seated = run(database, "exams", "seat", "S1-theory", "--seed", "42", "--groups", str(groups))
    assert "seated 8, seed 42" in seated and "R01 5, R02 3" in seated
    again = run(database, "exams", "seat", "S1-theory")
    assert re.search(r"seed \d+", again)
    listed = run(database, "exams", "session", "list", "S1")
    assert re.search(r"S1-theory\s+theory\s+2026-12-05 09:00 120", listed)
    assert re.search(r"R01\s+实验楼 301\s+5/5\s+监考 invigilator wang", listed)
    assert re.search(r"R02\s+3/5\s+监考 invigilator li", listed)
    assert code.group(1) not in listed  # the room code is read out, not listed
    printed = run(database, "exams", "tickets", "S1-theory", "--out", str(tmp_path / "t"))
    assert "8 张准考证 tickets, 2 个考场合订 room batches" in printed
    files = sorted(p.name for p in (tmp_path / "t").glob("*.pdf"))
    assert len(files) == 10 and "S1-theory-R01-准考证.pdf" in files
    one = pdf_text(tmp_path / "t" / f"准考证-{people[0].admission_no}.pdf")
    assert people[0].admission_no in one and people[0].id_number not in one


def test_unknown_sessions_and_rooms_are_named(database: Database, tmp_path: Path) -> None:
    registered(database, tmp_path, count=2)
    assert "NOPE" in run(database, "exams", "seat", "NOPE", code=1)
    assert "NOPE" in run(database, "exams", "session", "list", "NOPE", code=1)
    run(
        database, "exams", "session", "add", "S1", "S1-all", "--start", "2026-12-05T09:00+08:00",
        "--minutes", "60",
    )  # fmt: skip
    assert "rooms" in run(database, "exams", "seat", "S1-all", code=1)
    out = tmp_path / "x.pdf"
    assert "R09" in run(
        database, "exams", "room-report", "S1-all", "R09", "--out", str(out), code=1
    )
    assert "NOPE" in run(database, "exams", "answers", "S1-all", "NOPE", code=1)


def session_now(
    database: Database, tmp_path: Path, start: datetime
) -> list[simulate.SimulatedCandidate]:
    people = registered(database, tmp_path, count=4)
    run(
        database, "exams", "session", "add", "S1", "S1-theory", "--start", start.isoformat(),
        "--minutes", "60", "--part", "theory",
    )  # fmt: skip
    run(database, "exams", "room", "add", "S1-theory", "R01", "--capacity", "4")
    run(database, "exams", "seat", "S1-theory", "--seed", "1")
    return people


def test_the_sweeper_closes_what_is_past_its_deadline_and_appeals_read_the_history(
    database: Database, tmp_path: Path
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=90)
    people = session_now(database, tmp_path, start)
    person = people[0]
    token, _ = attempts.sign_in(
        database.engine,
        VAULT,
        admission_no=person.admission_no,
        id_number=person.id_number,
        room_code=room_of(database, person.admission_no).room_code,
        device_label="PC-07",
        now=start + timedelta(minutes=2),
    )
    paper = attempts.paper(database.engine, token, now=start + timedelta(minutes=3))
    single = next(q for p in paper["parts"] for q in p["questions"] if q["type"] == "single")
    n = single["number"]
    entries = [
        attempts.Entry(1, n, "A", False, 1),
        attempts.Entry(2, n, "B", True, 2),
        attempts.Entry(3, n, "", False, 3),
    ]
    saved = attempts.save(database.engine, token, entries[:2], now=start + timedelta(minutes=4))
    assert saved["acked"] == [1, 2]
    resent = attempts.save(database.engine, token, entries, now=start + timedelta(minutes=5))
    assert resent["acked"] == [1, 2, 3]
    swept = run(database, "exams", "sweep")
    assert "closed 4" in swept
    assert "S1-theory R01-" in swept and f"{person.admission_no} 已交卷 handed_in" in swept
    assert swept.count("缺考 absent") == 3
    assert "closed 0" in run(database, "exams", "sweep")  # nothing twice
    history = run(database, "exams", "answers", "S1-theory", person.admission_no)
    assert "自动交卷 deadline" in history and "3 次保存 writes" in history
    lines = [line for line in history.splitlines() if re.match(r"\s+\d+\s+20", line)]
    assert [line.split()[0] for line in lines] == ["1", "2", "3"]  # the re-send stored once
    assert lines[0].split()[3] == str(n) and lines[0].split()[-1] == "A"
    assert lines[1].endswith("B ⚑") and "清空 cleared" in lines[2]
    device = lines[0].split()[4]
    assert re.fullmatch(r"[0-9a-f]{12}", device)
    report = tmp_path / "r" / "room.pdf"
    run(database, "exams", "room-report", "S1-theory", "R01", "--out", str(report))
    text = pdf_text(report)
    assert "考场记录" in text and person.admission_no in text


def test_the_sweeper_loops_until_interrupted(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_now(database, tmp_path, datetime.now(UTC) - timedelta(minutes=90))
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("certify.commands.delivery.time.sleep", nap)
    result = CliRunner().invoke(cli, ["--db", database.url, "exams", "sweep", "--loop", "5"])
    assert result.exit_code == 0, result.output
    assert naps == [5, 5]
    assert result.output.count("closed 4") == 1  # quiet rounds print nothing
    assert result.output.rstrip().endswith("已停止 stopped")


def test_invigilators_are_accounts_of_their_own_role(database: Database) -> None:
    from certify.commands.web import users_add

    out = run(database, "init")
    assert "ready" in out
    assert "invigilator" in users_add.params[1].type.choices  # type: ignore[attr-defined]
    made = run(
        database, "users", "add", "zhao", "--role", "invigilator", "--password", "zhao-pass-123"
    )
    assert "zhao: invigilator" in made
