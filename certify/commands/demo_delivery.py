"""The demo's computer-based sitting (机考), after the paper story: the real service calls on a
simulated clock.

One session in two rooms with their invigilators; seats drawn from a recorded seed and admission
tickets printed; candidates sign in with the room's code and answer on their exam page, which
keeps a journal of numbered changes and re-sends whatever was not acknowledged. Three lose the
network for a while: the saves they sent just before reached the server but the replies did not,
so on coming back their pages send those again with what was typed offline — the server
acknowledges the old entries without applying them twice. One computer fails: the invigilator
allows a move, the candidate signs in on a spare and gets ten minutes back; another candidate is
paused and resumed. One never hands in: their computer is cut off for good near the end, the
sweeper closes the attempt at the deadline with what the server has, and the invigilator imports
the encrypted answer backup the page downloaded. One never comes and is recorded absent. The sitting is then graded as paper sittings are, the
typed subjective answers marked by simulated raters from the marking list.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.accounts import create_account
from certify.delivery import attempts, backup, console
from certify.delivery.copies import COPIES
from certify.delivery.documents import Attendance, attendance_line
from certify.delivery.schedule import add_room, allocate_seats, create_session
from certify.delivery.tickets import OFFICE, room_report_of, write_tickets
from certify.grading import simulate
from certify.grading.marks import import_marks, marking_list
from certify.grading.service import grade_sitting
from certify.grading.sheets import candidate_copies
from certify.infra.errors import Refused
from certify.registration.identity import IdentityVault
from certify.registration.sittings import create_sitting, import_roster
from schemas.reference import CST
from schemas.tables import AnswerEvent

CBT_SITTING = "DEMO-2026-AI-CBT"
CBT_SESSION = "DEMO-CBT-AM"
CBT_CANDIDATES = 23
CBT_SEED = 20261205
CBT_MINUTES = 120


@dataclass
class Page:
    """A candidate's exam page: the device's token and the journal of changes not yet
    acknowledged (kept across lost replies, lost networks and a change of computer)."""

    admission_no: str
    ability: float
    token: str
    seat: int
    room: str
    attempt: int
    journal: list[attempts.Entry] = field(default_factory=list)
    seq: int = 0

    def change(self, number: int, value: str, at: datetime) -> None:
        self.seq += 1
        self.journal.append(attempts.Entry(self.seq, number, value, False, _ms(at)))

    def send(self, engine: Engine, at: datetime, *, reply_lost: bool = False) -> list[int]:
        """Send the journal; drop what is acknowledged, unless the reply never arrives."""
        reply = attempts.save(engine, self.token, self.journal, now=at)
        if reply["refused"]:
            raise AssertionError(f"the demo's saves are all valid: {reply['refused']}")
        if not reply_lost:
            acked = set(reply["acked"])
            self.journal = [e for e in self.journal if e.seq not in acked]
        return list(reply["acked"])


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass(frozen=True)
class DeliveryStory:
    folder: Path
    tickets: list[Path]
    reports: list[Path]
    passed: int
    graded: int


def computer_based(
    engine: Engine,
    directory: Path,
    vault: IdentityVault,
    blueprint: str,
    today: date,
    echo: Callable[[str], None],
) -> DeliveryStory:
    """The computer-based sitting, told in the demo's numbered lines from 14 on."""
    folder = directory / "cbt"
    folder.mkdir(parents=True, exist_ok=True)
    attempts.forget()  # what a process keeps is per database: the demo may run twice in one
    rng = np.random.default_rng(CBT_SEED)
    # 09:00 in Beijing the day before; every time handed to the services is UTC, as the
    # server's clock gives it.
    start = datetime.combine(today - timedelta(days=1), time(9, 0), tzinfo=CST).astimezone(UTC)

    def at(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    create_sitting(engine, CBT_SITTING, blueprint, institution="示例评价机构（演示）", actor="demo")
    people = simulate.candidates(CBT_CANDIDATES, ["A", "B"], rng, prefix="CBT", area="370211")
    import_roster(
        engine,
        CBT_SITTING,
        simulate.write_roster(folder / "名册.csv", people),
        vault,
        shuffle_seed=simulate.seeds(rng),
        actor="demo",
    )
    for n in (1, 2):
        create_account(
            engine,
            f"demo-inv{n}",
            "invigilator",
            secrets.token_urlsafe(18),
            display_name=f"监考员{'甲乙'[n - 1]}（演示）",
            actor="demo",
        )
    create_session(
        engine,
        CBT_SITTING,
        CBT_SESSION,
        starts_at=start,
        duration_minutes=CBT_MINUTES,
        actor="demo",
    )
    rooms = [
        add_room(
            engine,
            CBT_SESSION,
            f"R{n:02d}",
            capacity=12,
            columns=4,
            name=f"实验楼 30{n}（演示）",
            invigilator=f"demo-inv{n}",
            require_account=True,
            actor="demo",
        )
        for n in (1, 2)
    ]
    seating = allocate_seats(engine, CBT_SESSION, seed=CBT_SEED, actor="demo")
    tickets = write_tickets(engine, CBT_SESSION, folder / "准考证")
    echo(
        f"14. 机考 / computer-based sitting {CBT_SITTING}: 场次 session {CBT_SESSION} "
        f"{start.astimezone(CST):%Y-%m-%d %H:%M} (UTC+8), {CBT_MINUTES} 分钟 minutes; 座位 seats seed "
        f"{seating.seed}: "
        + ", ".join(f"{r} {n}" for r, n in seating.rooms.items())
        + f"; 准考证 tickets {seating.seated} + {len(rooms)} 考场合订 room batches -> "
        f"{folder / '准考证'}"
    )

    # Who sits where, from the invigilators' consoles.
    seats = {
        s["admission_no"]: (room, s)
        for room in rooms
        for s in console.room_status(engine, room.id or 0, OFFICE, now=at(-20))["seats"]
    }
    by_number = {p.admission_no: p for p in people}
    order = sorted(seats, key=lambda a: (seats[a][0].code, seats[a][1]["seat"]))
    absent, sleeper = order[3], order[-2]  # never comes; never hands in
    lost = [order[1], order[6], order[14]]  # lose the network for a while
    moved, paused = order[9], order[17]  # a computer fails; paused for a while

    def sign_in(admission: str, minute: float, label: str) -> str:
        room = seats[admission][0]
        token, _ = attempts.sign_in(
            engine,
            vault,
            admission_no=admission,
            id_number=by_number[admission].id_number,
            room_code=room.room_code,
            device_label=label,
            address="10.20.0.1",
            now=at(minute),
        )
        return token

    pages: dict[str, Page] = {}
    for n, admission in enumerate(order):
        if admission == absent:
            continue
        room, seat = seats[admission]
        label = f"{room.code}-PC{seat['seat']:02d}"
        pages[admission] = Page(
            admission,
            by_number[admission].ability,
            sign_in(admission, -12 + n * 0.5, label),
            seat["seat"],
            room.code,
            seat["attempt"],
        )
    questions = {
        a: COPIES.get(engine, attempts.live(engine, p.token).registration_id, "").questions
        for a, p in pages.items()
    }
    chunks = {a: np.array_split(np.arange(len(qs)), 4) for a, qs in questions.items()}

    def answer_chunk(k: int, minute: float, *, send: bool = True, reply_lost: bool = False) -> None:
        for a, page in pages.items():
            if a in skip:
                continue
            for i in chunks[a][k]:
                q = questions[a][int(i)]
                page.change(q.number, simulate.answer(q, page.ability, rng), at(minute))
            if send:
                page.send(engine, at(minute + 0.1), reply_lost=reply_lost)

    skip: set[str] = set()
    answer_chunk(0, 10)
    # 09:35: three pages send their second batch; it is stored, but the replies are lost with
    # the network, and nothing more is heard from them.
    skip = set(lost)
    answer_chunk(1, 35)
    for a in lost:
        pages[a].change(questions[a][int(chunks[a][1][0])].number, "", at(35))  # second thoughts
        for i in chunks[a][1]:
            q = questions[a][int(i)]
            pages[a].change(q.number, simulate.answer(q, pages[a].ability, rng), at(35))
        pages[a].send(engine, at(35.1), reply_lost=True)
    # 09:40: a computer fails; the invigilator allows a move to a spare, and adds ten minutes.
    room_of_moved = seats[moved][0]
    staff = console.Staff(room_of_moved.invigilator, "invigilator")
    console.act(engine, room_of_moved.id or 0, staff, "allow_move", attempt_id=pages[moved].attempt,
                note="电脑死机，换用备用机", now=at(40))  # fmt: skip
    old = pages[moved].token
    pages[moved].token = sign_in(moved, 42, f"{room_of_moved.code}-备用机")
    try:
        attempts.state(engine, old, now=at(42))
        raise AssertionError("the failed computer's token should be signed out")
    except Refused as refused:
        assert refused.code == "signed_out"
    console.act(engine, room_of_moved.id or 0, staff, "extra_time", attempt_id=pages[moved].attempt,
                minutes=10, note="换机耗时补时", now=at(43))  # fmt: skip
    # 09:45–09:55: the lost pages go on answering into their journals.
    for a in lost:
        for i in chunks[a][2]:
            q = questions[a][int(i)]
            pages[a].change(q.number, simulate.answer(q, pages[a].ability, rng), at(45))
    skip = set(lost)
    answer_chunk(2, 45)
    for a, page in pages.items():  # the pages still online poll the state every 3 s
        if a not in lost:
            attempts.state(engine, page.token, now=at(49.9))
    lost_seen = sum(
        1
        for room in rooms
        for s in console.room_status(engine, room.id or 0, OFFICE, now=at(50))["seats"]
        if s["lost_s"]
    )
    # 09:56: the network is back: each page re-sends its whole journal.
    resent = applied = 0
    for a in lost:
        before = len(pages[a].journal)
        attempts.state(engine, pages[a].token, now=at(56))
        acked = pages[a].send(engine, at(56))
        resent += before - len(chunks[a][2])
        applied += len(acked)
    skip = set()
    # 10:05–10:10: one candidate feels unwell: paused, then resumed (the deadline moves by 5 min).
    room_of_paused = seats[paused][0]
    staff2 = console.Staff(room_of_paused.invigilator, "invigilator")
    console.act(engine, room_of_paused.id or 0, staff2, "pause", attempt_id=pages[paused].attempt,
                note="考生身体不适", now=at(65))  # fmt: skip
    console.act(engine, room_of_paused.id or 0, staff2, "resume", attempt_id=pages[paused].attempt,
                now=at(70))  # fmt: skip
    answer_chunk(3, 85)
    stored_once = _events_match_journals(engine, pages)
    echo(
        f"    登录 signed in {len(pages)}/{len(order)} (未到 1 absent); 断线 lost connection "
        f"{len(lost)} (监考台 console at {at(50).astimezone(CST):%H:%M}: {lost_seen} 人失联 lost) → 重连续传 "
        f"resumed: {resent} 条已存作答重发 re-sent entries acknowledged, not applied twice; "
        f"每条作答只存一次 stored once: {stored_once}"
    )
    # Hand-ins: most before the end, two after their extended deadlines opened, one never.
    finishing = [a for a in pages if a not in (sleeper, moved, paused)]
    for n, a in enumerate(finishing):
        attempts.hand_in(engine, pages[a].token, now=at(90 + n))
    # 10:50: the sleeper's computer loses the network for good and two last changes stay in
    # its journal; the sweeper hands in what the server has at the deadline. The page, still
    # open, downloads its answer backup; the invigilator imports it after the session.
    keys = attempts.paper(engine, pages[sleeper].token, vault=vault, now=at(1))["backup"]
    for i in (0, 1):
        q = questions[sleeper][int(chunks[sleeper][3][i])]
        pages[sleeper].change(q.number, simulate.answer(q, pages[sleeper].ability, rng), at(110))
    swept = attempts.sweep(engine, now=at(CBT_MINUTES + 1))
    file = folder / f"答案备份-{sleeper}-1050.certify"
    file.write_bytes(
        backup.seal(
            keys,
            sleeper,
            [
                {**asdict(e), "left_ms": (CBT_MINUTES - 110) * 60_000}
                for e in pages[sleeper].journal
            ],
            made_at=at(112).isoformat(),
        )
    )
    room_of_sleeper = seats[sleeper][0]
    restored = backup.restore(
        engine,
        vault,
        room_of_sleeper.id or 0,
        console.Staff(room_of_sleeper.invigilator, "invigilator"),
        file.read_bytes(),
        now=at(CBT_MINUTES + 15),
    )
    attempts.hand_in(engine, pages[paused].token, now=at(CBT_MINUTES + 4))
    attempts.hand_in(engine, pages[moved].token, now=at(CBT_MINUTES + 9))
    late = attempts.sweep(engine, now=at(CBT_MINUTES + 30))
    echo(
        f"    监考 invigilators: 换机 device move 1 + 延时 extra time 10 min (seat "
        f"{room_of_moved.code}-{pages[moved].seat:02d}), 暂停/恢复 pause/resume 5 min (seat "
        f"{room_of_paused.code}-{pages[paused].seat:02d}); 考生交卷 handed in "
        f"{len(finishing) + 2}, 到时自动收卷 closed by the sweeper at the deadline "
        f"{swept.handed_in}, 缺考 absent {swept.absent}"
        + (f", later {late.handed_in + late.absent}" if late.handed_in or late.absent else "")
    )
    echo(
        f"    答案备份 answer backup: seat {room_of_sleeper.code}-{pages[sleeper].seat:02d} "
        f"断网未交卷 cut off, closed by the sweeper; 本机加密备份 encrypted file {file.name} "
        f"导入 imported by the invigilator: {len(restored.stored)} 条离线作答 offline changes "
        f"stored into the hand-in, refused {len(restored.refused)}"
    )
    reports = []
    for room in rooms:
        counts = console.room_status(engine, room.id or 0, OFFICE, now=at(CBT_MINUTES + 30))[
            "counts"
        ]
        expected = sum(counts.values())
        present = expected - counts["absent"]
        attendance = Attendance(
            expected, present, counts["absent"], counts["handed_in"], present - counts["handed_in"]
        )
        data, name = room_report_of(engine, CBT_SESSION, room.code)
        path = folder / name
        path.write_bytes(data)
        reports.append(path)
        echo(f"    {room.code} 考场记录 attendance: {attendance_line(attendance)} -> {path.name}")
    # Grading as for paper: typed subjective answers on the marking list, simulated raters.
    _, copies = candidate_copies(engine, CBT_SITTING)
    admission_of = {reg.id: a for a, (reg, _) in copies.items()}
    ability = {p.admission_no: p.ability for p in people}
    scripts = marking_list(engine, CBT_SITTING)
    files = simulate.write_marks(
        folder,
        [(s.code, s.maximum, ability[admission_of[s.registration_id]]) for s in scripts],
        rng,
    )
    for path in files:
        import_marks(engine, CBT_SITTING, path, actor="demo")
    graded = grade_sitting(engine, CBT_SITTING, actor="demo")
    typed = sum(1 for s in scripts if s.answer)
    echo(
        f"    阅卷 grading: {typed}/{len(scripts)} 份主观题机考作答 typed scripts on the marking "
        f"list, {len(files)} 轮评分 marking rounds; 合格 passed {graded.passed}/{graded.graded}, "
        f"无作答 no answers {len(graded.no_sheet)}"
    )
    return DeliveryStory(folder, tickets, reports, graded.passed, graded.graded)


def _events_match_journals(engine: Engine, pages: dict[str, Page]) -> bool:
    """Every change each page made is one answer_event row: none lost, none twice."""
    with Session(engine) as session:
        stored = dict(
            session.exec(
                select(AnswerEvent.attempt_id, func.count())
                .where(col(AnswerEvent.attempt_id).in_([p.attempt for p in pages.values()]))
                .group_by(col(AnswerEvent.attempt_id))
            ).all()
        )
    return all(stored.get(p.attempt) == p.seq and not p.journal for p in pages.values())
