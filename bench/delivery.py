"""Benchmark: computer-based delivery (机考) — simulated candidates over HTTP against gunicorn.

    python3 bench/delivery.py [--candidates 2000] [--minutes 2] [--quick] [--sqlite]
                              [--workers 2] [--answer-workers 2] [--nice 10] [--threads 4]
                              [--answer-threads N]
                              [--connections 64]
                              [--save-every 5] [--heartbeat 4] [--no-kill] [--no-baseline]
                              [--no-pacing] [--answer-together] [--postgres URL]

Setup (not timed): a fresh database (PostgreSQL by default, a scratch database created on the
server ``--postgres`` names and dropped at the end; ``--sqlite`` for a SQLite file served by one
worker) holding the junior AI sample bank and its papers, and two sittings of ``--candidates``
registered candidates each — one for the run, one for the baseline — each with a ``theory``
session that started a minute ago (60 minutes long, entry open throughout, hand-in allowed at
once) and rooms of 100 seats, every candidate seated. Each candidate's admission number, ID
number and room code are read from the database before anything is timed.

The app runs on 127.0.0.1 as docs/delivery.md deploys it, two servers: for the exam page's
answers (saves, state, events) ``--answer-workers`` uvicorn processes serving
``certify.web.asgi:create`` with ``--answer-threads`` threads each (``--answer-server gthread``:
gunicorn's gthread worker instead, the shape before), and for everything else (sign-in, paper,
hand-in) gunicorn, ``--workers`` × ``--threads`` (gthread), at ``--nice`` 10, so that the kernel
serves answers first while a room signs in; the client sends each request to its server as
nginx's ``location`` would (``--answer-workers 0``: one gunicorn for all, at nice 0;
``--sqlite``: always one).

The load generator is this script in a separate process (``--client``): one asyncio event loop,
a raw HTTP/1.1 client over asyncio streams with a pool of ``--connections`` keep-alive
connections to each server (an exam room's proxy in front of the app does the same), one
coroutine per candidate. It reports its own CPU time and event-loop lag, so it can be seen not to be the
bottleneck. Every candidate follows the exam page's protocol (docs/delivery.md):

1. **start spike**: all candidates sign in (admission number, ID number, room code) and load
   their paper at the same moment → ``start_spike_s`` (the last paper received; goal ≤ 30 s
   for 2,000); a candidate starts answering (step 2) when its own paper has come, as one in
   an exam room does — the saves made while others still sign in are reported apart
   (``spike_save_p99_ms``); ``--answer-together`` holds everyone back until the last paper;
2. **steady**, from the last paper on: every candidate changes one answer every ``--save-every`` s (uniform jitter
   ±50 %) to a valid value for the question's type; the change gets the next seq, goes into
   the journal and is sent at once; one save in flight per candidate carrying every
   unacknowledged entry; acknowledged entries leave the journal; a failed request is re-sent
   after a back-off; from signing in on (the page's timer starts there, so heartbeats run
   during the spike too) a heartbeat ``GET /exam/api/state`` every ``--heartbeat`` s unless
   the sign-in's or a save's answer brought the state within it, which also re-sends a
   non-empty journal; paced as the page paces it (after an answer slower than 1 s the
   interval doubles, up to 4×; after one under 0.3 s it is back; ``--no-pacing`` turns that
   off). ``--minutes`` of this → ``save_p99_ms`` (request sent to reply,
   pool wait included; goal ≤ 100 ms), ``saves_per_s``, change-to-acknowledgement latency;
3. **crash**: gunicorn (master and workers) is SIGKILLed and started again while the candidates
   go on changing answers; clients re-send their journals until acknowledged (``--no-kill``
   skips it);
4. **hand-in**: changes stop, every journal drains, every candidate hands in (all at once).

``delivery_candidates`` is ``--candidates`` when the run held: every change made was
acknowledged, nothing was refused, and the steady save p99 stayed ≤ 1 s; else 0. After the run
the database is read: ``lost_answers`` counts the questions whose last acknowledged value is not
what ``attempt_answer`` holds, or not the ``response`` row hand-in wrote (goal 0; any other value
makes the script exit 1).

Baseline, same run, second sitting: the same candidates and heartbeats, but saves on a fixed
60-second timer (Moodle's autosave: the page batches the changes and saves every 60 s, the
first after a random part of a minute), and each client dies at a uniformly random moment of
the steady phase. ``baseline_lost_answers``: questions whose value in the dying client was not
in the database (read back after the run). The per-change run is given the same deaths
virtually (each candidate draws a moment; what was unacknowledged then would be lost) →
``per_change_lost_at_death``. Prints a table, the ratio against the baseline, then LAST one
JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import platform
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = b"d" * 32
POSTGRES = os.environ.get("CERTIFY_BENCH_POSTGRES", "postgresql://certify@127.0.0.1:55433/postgres")
GOALS = {
    "delivery_candidates": 2_000,
    "save_p99_ms": 100.0,
    "start_spike_s": 30.0,
    "lost_answers": 0,
}
ROOM_CAPACITY = 100
SETTLE_S = 15.0
"""Seconds of the steady phase left out of ``save_p99_settled_ms`` (a figure beside the goal)."""
WINDOW_S = 5.0
"""Width of the steady phase's windows in ``save_windows`` (where the slow saves are)."""


# --- setup (main process) ------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def make_database(args: argparse.Namespace, folder: Path) -> tuple[str, Any]:
    """A fresh migrated database: its URL and a function that removes it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from certify.infra import db

    if args.sqlite:
        url = f"sqlite:///{folder / 'delivery.db'}"
        db.upgrade(db.make_engine(url))
        return url, lambda: None
    admin_url = db.database_url(args.postgres)
    name = f"bench_delivery_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def make_sitting(engine: Any, folder: Path, code: str, count: int, prefix: str, area: str) -> str:
    """A sitting of ``count`` registered candidates, a theory session that started a minute ago
    and rooms of ROOM_CAPACITY seats, everyone seated; returns the session's code."""
    import numpy as np

    from bench import institution
    from certify.delivery.schedule import add_room, allocate_seats, create_session
    from certify.grading import simulate
    from certify.registration.identity import IdentityVault
    from certify.registration.sittings import create_sitting, import_roster

    create_sitting(
        engine, code, "ai-junior-sample", institution=institution(engine, "测试评价机构")
    )
    rng = np.random.default_rng(5)
    people = simulate.candidates(count, ["A", "B"], rng, prefix=prefix, area=area)
    import_roster(
        engine,
        code,
        simulate.write_roster(folder / f"{code}.csv", people),
        IdentityVault(SECRET),
        shuffle_seed=simulate.seeds(rng),
    )
    session = f"{code}-theory"
    create_session(
        engine,
        code,
        session,
        starts_at=datetime.now(UTC) - timedelta(minutes=1),
        duration_minutes=60,
        part="theory",
        entry_minutes=60,
        handin_minutes=0,
    )
    for n in range(math.ceil(count / ROOM_CAPACITY)):
        add_room(engine, session, f"R{n + 1:02d}", capacity=ROOM_CAPACITY, invigilator="")
    allocate_seats(engine, session, seed=7)
    return session


def credentials(engine: Any, session_code: str, people_ids: dict[str, str]) -> list[dict[str, str]]:
    """What each client needs to sign in: admission number, ID number, room code."""
    from sqlmodel import Session, col, select

    from schemas.tables import Attempt, ExamRoom, ExamSession, Registration

    with Session(engine) as s:
        rows = s.exec(
            select(Registration.admission_no, ExamRoom.room_code)
            .join(Attempt, col(Attempt.registration_id) == col(Registration.id))
            .join(ExamRoom, col(ExamRoom.id) == col(Attempt.room_id))
            .join(ExamSession, col(ExamSession.id) == col(Attempt.session_id))
            .where(ExamSession.code == session_code)
            .order_by(col(Registration.admission_no))
        ).all()
    return [{"admission_no": a, "id_number": people_ids[a], "room_code": r} for a, r in rows]


def setup(args: argparse.Namespace, url: str, folder: Path) -> dict[str, Any]:
    from certify.delivery.copies import COPIES
    from certify.grading import simulate
    from certify.infra import db
    from question_bank.bank import import_bank
    from question_bank.blueprints import load_blueprint
    from question_bank.papers import assemble_papers
    from question_bank.samples import sample_blueprints, sample_files

    engine = db.make_engine(url)
    COPIES._copies.clear()
    for path in sample_files():
        if path.name == "ai-junior.json":
            import_bank(engine, path)
    assemble_papers(
        engine, load_blueprint(next(p for p in sample_blueprints() if p.name == "ai-junior.yaml"))
    )
    import numpy as np

    out: dict[str, Any] = {}
    for role, code, prefix, area in (
        ("run", "D1", "RUN", "370102"),
        ("base", "D2", "BAS", "370203"),
    ):
        if role == "base" and args.no_baseline:
            continue
        session = make_sitting(engine, folder, code, args.candidates, prefix, area)
        people = simulate.candidates(
            args.candidates, ["A", "B"], np.random.default_rng(5), prefix=prefix, area=area
        )
        out[role] = {
            "session": session,
            "people": credentials(engine, session, {p.admission_no: p.id_number for p in people}),
        }
    engine.dispose()
    return out


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """gunicorn in its own process group, so that SIGKILL takes the master and every worker."""

    def __init__(self, args: argparse.Namespace, url: str, folder: Path) -> None:
        self.args, self.folder, self.port = args, folder, free_port()
        self.answer_port = free_port() if args.answer_workers and not args.sqlite else self.port
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CERTIFY_DATABASE_URL": url,
            "CERTIFY_WEB_SECRET": "bench-secret-not-secret",
            "CERTIFY_SECRET_KEY": base64.b64encode(SECRET).decode(),
            "CERTIFY_RATE_LIMIT": "0",
            "CERTIFY_API_RATE_LIMIT": "0",
            "CERTIFY_ANSWER_THREADS": str(args.answer_threads),  # uvicorn's (certify.web.asgi)
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        started = time.perf_counter()
        if self.args.answer_workers and not self.args.sqlite:
            # Answers (saves, state, events) have processes of their own; everything else
            # (sign-in, paper, hand-in) runs niced, so the kernel serves answers first.
            self.processes = [
                self._gunicorn(
                    self.port, self.args.workers, self.args.threads, nice=self.args.nice
                ),
                self._answers(self.answer_port, self.args.answer_workers),
            ]
        else:
            workers = 1 if self.args.sqlite else self.args.workers
            self.processes = [self._gunicorn(self.port, workers, self.args.threads, nice=0)]
        self.process = self.processes[0]
        for port in {self.port, self.answer_port}:
            self._wait(port)
        return time.perf_counter() - started

    def _answers(self, port: int, workers: int) -> subprocess.Popen[bytes]:
        """The answers' server: uvicorn serving certify.web.asgi, or gunicorn as the rest."""
        if self.args.answer_server == "gthread":
            return self._gunicorn(port, workers, self.args.answer_threads, nice=0)
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "certify.web.asgi:create",
                f"--workers={workers}",
                "--http=httptools",
                "--loop=uvloop",
                "--timeout-keep-alive=30",
                "--backlog=4096",
                "--no-access-log",
                "--log-level=warning",
                "--host=127.0.0.1",
                f"--port={port}",
            ],
            env=self.env,
            cwd=self.folder,
            start_new_session=True,
        )

    def _gunicorn(
        self, port: int, workers: int, threads: int, nice: int
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                *(["nice", "-n", str(nice)] if nice else []),
                sys.executable,
                "-m",
                "gunicorn",
                f"--workers={workers}",
                "--worker-class=gthread",
                f"--threads={threads}",
                "--keep-alive=30",
                "--backlog=4096",
                "--reuse-port",  # each worker its own listening socket: connections spread
                f"--bind=127.0.0.1:{port}",
                "--log-level=warning",
                "certify.web:create_app()",
            ],
            env=self.env,
            cwd=self.folder,
            start_new_session=True,
        )

    def _wait(self, port: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gunicorn did not answer /healthz")

    def kill(self) -> None:
        for process in self.processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    def cpu_seconds(self) -> float:
        """CPU time of the gunicorn masters and their workers so far (Linux /proc)."""
        return sum(
            proc_cpu(pid)
            for process in self.processes
            for pid in [process.pid, *children(process.pid)]
        )


def proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def postgres_cpu() -> float:
    """CPU time of every PostgreSQL process on this machine (other benchmarks' included)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += proc_cpu(int(entry.name))
            except OSError:
                pass
    return total


# --- the load generator (client process) ---------------------------------------------------------


ANSWER_KINDS = {"save", "state", "events"}


class Pool:
    """HTTP/1.1 keep-alive connections to one server, at most ``size`` at once."""

    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.sem = asyncio.Semaphore(size)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def request(
        self, method: str, path: str, body: Any = None, token: str = ""
    ) -> tuple[int, Any]:
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if token:
            head += f"Authorization: Exam {token}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\n\r\n"
        message = head.encode() + data
        async with self.sem:
            conn = None
            now = time.monotonic()
            while self.idle:
                r, w, used = self.idle.pop()
                if now - used < 10 and not r.at_eof():
                    conn = (r, w)
                    break
                w.close()
            if conn is None:
                conn = await asyncio.open_connection("127.0.0.1", self.port)
            reader, writer = conn
            try:
                writer.write(message)
                status, payload, close = await asyncio.wait_for(read_response(reader), 60)
            except BaseException:
                writer.close()
                raise
            if close:
                writer.close()
            else:
                self.idle.append((reader, writer, time.monotonic()))
        return status, json.loads(payload) if payload else None


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    return status, await reader.readexactly(length), close


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[tuple[float, float]]] = defaultdict(list)  # (at, ms)
        self.status: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.change_ack: list[tuple[float, float]] = []
        self.refused: dict[str, int] = defaultdict(int)
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0


def value_for(q: dict[str, Any], rng: random.Random) -> str:
    kind = q["type"]
    if kind == "single":
        return rng.choice(sorted(q["options"]))
    if kind == "multiple":
        letters = sorted(q["options"])
        return "".join(sorted(rng.sample(letters, rng.randint(1, len(letters)))))
    if kind == "true_false":
        return rng.choice("TF")
    if kind == "fill":
        return ";".join(f"答{rng.randint(0, 999)}" for _ in range(q.get("blanks", 1)))
    if kind == "matching":  # a letter (or "-", unmatched) per premise, as the page sends it
        letters = [*sorted(q["options"]), "-"]
        return "".join(rng.choice(letters) for _ in q.get("premises", []))
    return "作答" * rng.randint(10, 200)  # subjective: a paragraph


class Candidate:
    def __init__(self, spec: dict[str, str], client: Client, n: int) -> None:
        self.spec, self.client, self.pool, self.stats = spec, client, client.pool, client.stats
        self.answers = client.answers
        self.rng = random.Random(n * 7919 + client.seed)
        self.token = ""
        self.questions: list[dict[str, Any]] = []
        self.seq = 0
        self.journal: dict[int, dict[str, Any]] = {}  # seq → entry, insertion = seq order
        self.made_at: dict[int, float] = {}
        self.acked: dict[int, tuple[int, str]] = {}  # number → (seq, value), newest acked
        self.current: dict[int, str] = {}
        self.sending = False
        self.changes = 0
        self.handed_in = False
        self.dead = False
        self.last_state = 0.0  # monotonic time the server last told this client the state
        self.every = client.spec["heartbeat"]  # the page's heartbeat interval now (paced)
        self.death: dict[str, Any] | None = None
        self.tasks: list[asyncio.Task[Any]] = []

    async def call(self, kind: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        started = time.monotonic()
        try:
            pool = self.answers if kind in ANSWER_KINDS else self.pool
            status, answer = await pool.request(method, path, body, self.token)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.stats.errors[f"{kind}:{type(exc).__name__}"] += 1
            return 0, None
        self.stats.latency[kind].append(
            (started - self.stats.t0, (time.monotonic() - started) * 1e3)
        )
        self.stats.status[f"{kind}:{status}"] += 1
        return status, answer

    async def start(self) -> None:
        """Sign in and load the paper, retrying until both succeed."""
        delay = 0.5
        while not self.token:
            sent = time.monotonic()
            status, answer = await self.call(
                "sign_in",
                "POST",
                "/exam/api/sign-in",
                {**self.spec, "device_label": f"PC-{self.spec['admission_no']}"},
            )
            if status == 200:
                self.token = answer["token"]
                self.last_state = time.monotonic()  # its answer carries the state
                self.paced(self.last_state - sent)
                # The page's heartbeat timer starts at sign-in, not when the paper has come.
                self.tasks.append(
                    asyncio.ensure_future(self.heartbeat(self.client.spec["heartbeat"]))
                )
            else:
                await asyncio.sleep(delay * (0.5 + self.rng.random()))
                delay = min(delay * 2, 5)
        while not self.questions:
            sent = time.monotonic()
            status, answer = await self.call("paper", "GET", "/exam/api/paper")
            if status == 200:
                self.paced(time.monotonic() - sent)
                self.questions = [q for part in answer["parts"] for q in part["questions"]]
                self.seq = max(self.seq, answer["last_seq"])
                if self.client.spec["answer_on_paper"]:
                    self.begin()  # as a real candidate: answering starts with one's own paper
            else:
                await asyncio.sleep(delay * (0.5 + self.rng.random()))
                delay = min(delay * 2, 5)

    def change(self) -> None:
        q = self.rng.choice(self.questions)
        value = value_for(q, self.rng)
        self.seq += 1
        self.journal[self.seq] = {
            "seq": self.seq,
            "number": q["number"],
            "value": value,
            "flagged": self.rng.random() < 0.05,
            "client_at": int(time.time() * 1000),
        }
        self.made_at[self.seq] = time.monotonic()
        self.current[q["number"]] = value
        self.changes += 1

    async def flush(self) -> None:
        """Send the journal until it is empty (one request in flight per candidate)."""
        if self.sending or self.dead:
            return
        self.sending = True
        delay = 0.5
        try:
            while self.journal and not self.dead:
                entries = list(self.journal.values())[:200]
                sent = time.monotonic()
                status, answer = await self.call(
                    "save", "POST", "/exam/api/save", {"entries": entries}
                )
                if status == 200:
                    delay = 0.5
                    now = time.monotonic()
                    self.paced(now - sent)
                    self.last_state = now  # the answer carries the state
                    by_seq = {e["seq"]: e for e in entries}
                    for seq in answer["acked"]:
                        e = self.journal.pop(seq, None) or by_seq[seq]
                        made = self.made_at.pop(seq, None)
                        if made is not None:
                            self.stats.change_ack.append((made - self.stats.t0, (now - made) * 1e3))
                        old = self.acked.get(e["number"])
                        if old is None or old[0] < seq:
                            self.acked[e["number"]] = (seq, e["value"])
                    for r in answer["refused"]:
                        self.stats.refused[r["error"]] += 1
                        self.journal.pop(r["seq"], None)
                        self.made_at.pop(r["seq"], None)
                elif status == 401:
                    self.stats.errors["save:signed_out"] += 1
                    return
                else:  # the server is away or refused the request whole: keep and retry
                    await asyncio.sleep(delay * (0.5 + self.rng.random()))
                    delay = min(delay * 2, 4)
        finally:
            self.sending = False

    def paced(self, seconds: float) -> None:
        """As the page paces its heartbeat: half as often after an answer slower than 1 s (down
        to every 4 heartbeats), back to the interval after one under 0.3 s."""
        if not self.client.spec["paced"]:
            return
        every = self.client.spec["heartbeat"]
        if seconds > 1.0:
            self.every = min(self.every * 2, 4 * every)
        elif seconds < 0.3:
            self.every = every

    async def heartbeat(self, every: float) -> None:
        """As the page does from signing in on: every ``every`` s ask for the state unless a
        save's (or the sign-in's) answer brought it within the page's current interval."""
        while not self.dead:
            await asyncio.sleep(every)
            if time.monotonic() - self.last_state >= self.every - 0.25:
                sent = time.monotonic()
                status, _ = await self.call("state", "GET", "/exam/api/state")
                if status == 200:
                    self.last_state = time.monotonic()
                    self.paced(self.last_state - sent)
            if self.client.spec["mode"] == "per_change" and self.journal and not self.sending:
                self.client.spawn(self.flush())

    def begin(self) -> None:
        """Start answering: a change every ``--save-every`` s, and the baseline's 60-s timer."""
        spec = self.client.spec
        self.tasks.append(
            asyncio.ensure_future(self.changes_loop(spec["save_every"], spec["mode"]))
        )
        if spec["mode"] == "timer":
            self.tasks.append(asyncio.ensure_future(self.timer_loop()))

    async def changes_loop(self, every: float, mode: str) -> None:
        """Change an answer every ``every`` s (± 50 %) until the client's ``until`` (monotonic;
        set when the last paper has come)."""
        await asyncio.sleep(self.rng.random() * every)
        while time.monotonic() < self.client.until and not self.dead:
            self.change()
            if mode == "per_change":
                self.client.spawn(self.flush())
            await asyncio.sleep(every * (0.5 + self.rng.random()))

    async def timer_loop(self) -> None:
        """The baseline: save whatever changed every 60 s, the first after a random part of it."""
        await asyncio.sleep(self.rng.random() * 60)
        while not self.dead:
            self.client.spawn(self.flush())
            await asyncio.sleep(60)

    def record_virtual_death(self) -> None:
        """What a death now would lose: the questions whose latest change is unacknowledged."""
        self.death = {
            "questions": len({e["number"] for e in self.journal.values()}),
            "changes": len(self.journal),
        }

    def die(self) -> None:
        self.record_virtual_death()
        self.death["values"] = dict(self.current)  # type: ignore[index]
        self.dead = True

    async def hand_in(self) -> None:
        delay = 0.5
        while not self.handed_in:
            status, answer = await self.call(
                "hand_in", "POST", "/exam/api/hand-in", {"confirm": True}
            )
            if status == 200 or (status == 403 and answer and answer.get("error") == "handed_in"):
                self.handed_in = True
            else:
                await asyncio.sleep(delay * (0.5 + self.rng.random()))
                delay = min(delay * 2, 4)


class Client:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.seed = spec["seed"]
        self.stats = Stats()
        self.pool = Pool(spec["port"], spec["connections"])
        self.answers = (
            Pool(spec["answer_port"], spec["connections"])
            if spec["answer_port"] != spec["port"]
            else self.pool
        )
        self.candidates = [Candidate(p, self, n) for n, p in enumerate(spec["people"])]
        self.background: set[asyncio.Task[Any]] = set()
        self.until = math.inf  # when answering stops (monotonic), known once every paper is in
        self.marks: dict[str, float] = {}
        self.cpu_marks: dict[str, float] = {}
        self.lag: list[tuple[float, float]] = []

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def mark(self, name: str) -> None:
        self.marks[name] = self.stats.now()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu_marks[name] = usage.ru_utime + usage.ru_stime
        print(f"MARK {name}", flush=True)

    async def lag_monitor(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            self.lag.append((before - self.stats.t0, (time.monotonic() - before - 0.05) * 1e3))

    async def run(self) -> dict[str, Any]:
        spec = self.spec
        mode = spec["mode"]
        self.spawn(self.lag_monitor())
        self.mark("spike_start")
        await asyncio.gather(*(c.start() for c in self.candidates))
        self.mark("spike_end")
        steady_end = time.monotonic() + spec["steady_s"]
        until = self.until = steady_end + (spec["recovery_s"] if spec["kill"] else 0)
        for c in self.candidates:
            if not spec["answer_on_paper"]:
                c.begin()
            death_in = c.rng.random() * spec["steady_s"]
            if mode == "timer":
                asyncio.get_running_loop().call_later(death_in, self.kill_candidate, c)
            else:
                asyncio.get_running_loop().call_later(death_in, c.record_virtual_death)
        self.mark("steady_start")
        await asyncio.sleep(max(0.0, steady_end - time.monotonic()))
        self.mark("steady_end")
        if spec["kill"]:
            self.mark("kill")  # the main process kills and restarts gunicorn on this line
            await asyncio.sleep(max(0.0, until - time.monotonic()))
            self.mark("recovery_end")
        for c in self.candidates:
            for t in c.tasks:
                t.cancel()
        if mode == "timer":
            await asyncio.sleep(0.5)
            return self.result()
        # Drain: every journal until acknowledged (bounded), then hand in, all at once.
        drain_until = time.monotonic() + 120
        while any(c.journal for c in self.candidates) and time.monotonic() < drain_until:
            for c in self.candidates:
                if c.journal and not c.sending:
                    self.spawn(c.flush())
            await asyncio.sleep(0.5)
        self.mark("drained")
        await asyncio.gather(*(c.hand_in() for c in self.candidates))
        self.mark("handed_in")
        return self.result()

    def kill_candidate(self, c: Candidate) -> None:
        c.die()
        for t in c.tasks:
            t.cancel()

    def result(self) -> dict[str, Any]:
        return {
            "marks": self.marks,
            "cpu_marks": self.cpu_marks,
            "latency": dict(self.stats.latency),
            "status": dict(self.stats.status),
            "errors": dict(self.stats.errors),
            "refused": dict(self.stats.refused),
            "change_ack": self.stats.change_ack,
            "lag": self.lag,
            "candidates": [
                {
                    "admission_no": c.spec["admission_no"],
                    "acked": {str(k): v for k, v in c.acked.items()},
                    "pending": len(c.journal),
                    "changes": c.changes,
                    "handed_in": c.handed_in,
                    "death": c.death,
                }
                for c in self.candidates
            ],
        }


def client_main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(Client(spec).run())
    Path(out_path).write_text(json.dumps(result))
    print("MARK done", flush=True)


# --- running a phase and reading the database back -----------------------------------------------


def run_client(
    args: argparse.Namespace, server: Server, folder: Path, role: str, people: list[dict[str, str]]
) -> dict[str, Any]:
    """Start the load generator in its own process; kill and restart gunicorn when it says so."""
    spec = {
        "port": server.port,
        "answer_port": server.answer_port,
        "connections": args.connections,
        "people": people,
        "mode": "per_change" if role == "run" else "timer",
        "save_every": args.save_every,
        "heartbeat": args.heartbeat,
        "paced": not args.no_pacing,
        "answer_on_paper": not args.answer_together,
        "steady_s": args.minutes * 60,
        "recovery_s": args.recovery,
        "kill": role == "run" and not args.no_kill,
        "seed": 1 if role == "run" else 2,
    }
    (folder / f"{role}-spec.json").write_text(json.dumps(spec))
    out = folder / f"{role}-out.json"
    process = subprocess.Popen(
        [sys.executable, __file__, "--client", str(folder / f"{role}-spec.json"), str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    server_cpu: dict[str, float] = {}
    pg_cpu: dict[str, float] = {}
    wall: dict[str, float] = {}
    crash: dict[str, float] = {}
    assert process.stdout is not None
    for line in process.stdout:
        if not line.startswith("MARK "):
            continue
        name = line.split()[1]
        wall[name] = time.monotonic()
        server_cpu[name] = server.cpu_seconds()
        pg_cpu[name] = postgres_cpu()
        print(f"  [{role}] {name}", file=sys.stderr, flush=True)
        if name == "kill":
            killed = time.monotonic()
            server.kill()
            time.sleep(args.down)
            crash["restart_s"] = server.start()
            crash["down_s"] = time.monotonic() - killed
            server_cpu["after_restart"] = server.cpu_seconds()
    if process.wait() != 0:
        raise RuntimeError(f"the load generator failed ({role})")
    result = json.loads(out.read_text())
    result["server_cpu"] = server_cpu
    result["pg_cpu"] = pg_cpu
    result["wall"] = wall
    result["crash"] = crash
    return result


def read_back(url: str, session_code: str) -> dict[str, Any]:
    """Per admission number: {number: attempt_answer value}, {number: response raw}, and the
    (seq → (number, value)) of its answer events."""
    from sqlmodel import Session, col, select

    from certify.delivery.copies import COPIES
    from certify.infra import db
    from schemas.tables import (
        AnswerEvent,
        Attempt,
        AttemptAnswer,
        ExamSession,
        Registration,
        Response,
    )

    engine = db.make_engine(url)
    out: dict[str, Any] = {}
    with Session(engine) as s:
        rows = s.exec(
            select(Registration.admission_no, Registration.id, Attempt.id, ExamSession.part)
            .join(Attempt, col(Attempt.registration_id) == col(Registration.id))
            .join(ExamSession, col(ExamSession.id) == col(Attempt.session_id))
            .where(ExamSession.code == session_code)
        ).all()
        answers: dict[int, dict[int, str]] = defaultdict(dict)
        for attempt_id, pk, value in s.exec(
            select(AttemptAnswer.attempt_id, AttemptAnswer.item_version_id, AttemptAnswer.value)
        ):
            answers[attempt_id][pk] = value
        responses: dict[int, dict[int, str]] = defaultdict(dict)
        for reg_id, pk, raw in s.exec(
            select(Response.registration_id, Response.item_version_id, Response.raw)
        ):
            responses[reg_id][pk] = raw
        events: dict[int, dict[int, tuple[int, str]]] = defaultdict(dict)
        for attempt_id, seq, pk, value in s.exec(
            select(
                AnswerEvent.attempt_id,
                AnswerEvent.seq,
                AnswerEvent.item_version_id,
                AnswerEvent.value,
            )
        ):
            events[attempt_id][seq] = (pk, value)
    for admission, reg_id, attempt_id, part in rows:
        copy = COPIES.get(engine, reg_id, part)
        number_of = {q.item_version_pk: q.number for q in copy.questions}
        out[admission] = {
            "answers": {number_of[pk]: v for pk, v in answers[attempt_id].items()},
            "responses": {
                number_of[pk]: v for pk, v in responses[reg_id].items() if pk in number_of
            },
            "events": {seq: (number_of[pk], v) for seq, (pk, v) in events[attempt_id].items()},
        }
    engine.dispose()
    return out


def count_lost(result: dict[str, Any], stored: dict[str, Any]) -> dict[str, int]:
    """Acknowledged answers the database does not hold as acknowledged."""
    lost = lost_answer = lost_response = lost_event = acked = 0
    for c in result["candidates"]:
        mine = stored[c["admission_no"]]
        for number, (seq, value) in c["acked"].items():
            number = int(number)
            acked += 1
            bad_a = mine["answers"].get(number) != value
            bad_r = c["handed_in"] and mine["responses"].get(number) != value
            bad_e = mine["events"].get(seq) != (number, value)
            lost_answer += bad_a
            lost_response += bad_r
            lost_event += bad_e
            lost += bad_a or bad_r or bad_e
    return {
        "lost_answers": lost,
        "lost_attempt_answer": lost_answer,
        "lost_response": lost_response,
        "lost_answer_event": lost_event,
        "acked_answers": acked,
    }


def baseline_lost(result: dict[str, Any], stored: dict[str, Any]) -> dict[str, float]:
    """The timer baseline: questions whose value in the dying client is not in the database."""
    lost = changes = questions = 0
    for c in result["candidates"]:
        death = c["death"] or {"values": {}}
        held = stored[c["admission_no"]]["answers"]
        for number, value in death.get("values", {}).items():
            questions += 1
            lost += held.get(int(number)) != value
        changes += c["changes"]
    return {
        "baseline_lost_answers": lost,
        "baseline_answered": questions,
        "baseline_changes": changes,
    }


# --- figures -------------------------------------------------------------------------------------


def window(samples: list[Any], start: float, end: float) -> list[float]:
    return [ms for at, ms in samples if start <= at < end]


def summarise(
    args: argparse.Namespace, run: dict[str, Any], base: dict[str, Any] | None
) -> dict[str, Any]:
    m = run["marks"]
    lat = run["latency"]
    f: dict[str, Any] = {}
    f["start_spike_s"] = m["spike_end"] - m["spike_start"]
    f["sign_in_p50_ms"] = pct(window(lat["sign_in"], 0, 1e9), 50)
    f["sign_in_p99_ms"] = pct(window(lat["sign_in"], 0, 1e9), 99)
    f["paper_p99_ms"] = pct(window(lat["paper"], 0, 1e9), 99)
    # Saves made while others were still signing in (each candidate answers from its own
    # paper on, unless --answer-together): not in the goal's window, reported beside it.
    spike_saves = window(lat.get("save", []), m["spike_start"], m["spike_end"])
    f["spike_saves"] = len(spike_saves)
    f["spike_save_p99_ms"] = pct(spike_saves, 99) if spike_saves else float("nan")
    s0, s1 = m["steady_start"], m["steady_end"]
    steady_saves = window(lat.get("save", []), s0, s1)
    f["save_p50_ms"] = pct(steady_saves, 50)
    f["save_p99_ms"] = pct(steady_saves, 99)
    f["save_max_ms"] = max(steady_saves) if steady_saves else float("nan")
    f["saves_per_s"] = len(steady_saves) / (s1 - s0)
    # Not a goal: the same after the first SETTLE_S of the steady phase, when the backlog the
    # start spike left and each worker's first copies are behind it (both are in the goal's).
    f["save_p99_settled_ms"] = pct(window(lat.get("save", []), s0 + SETTLE_S, s1), 99)
    # Where in the steady phase the slow saves are: p99 and count by WINDOW_S from its start
    # (the spike's last seconds included as the window before it).
    f["save_windows"] = []
    for i in range(int((s1 - s0) // WINDOW_S) + 1):
        a = s0 + (i - 1) * WINDOW_S
        saves = window(lat.get("save", []), a, a + WINDOW_S)
        f["save_windows"].append(
            {
                "from_s": round(a - s0, 1),
                "saves": len(saves),
                "p99_ms": round(pct(saves, 99), 1) if saves else None,
                "states": len(window(lat.get("state", []), a, a + WINDOW_S)),
            }
        )
    ack = window(run["change_ack"], s0, s1)
    f["change_ack_p99_ms"] = pct(ack, 99)
    f["change_ack_max_ms"] = max(ack) if ack else float("nan")
    states = window(lat.get("state", []), s0, s1)
    f["state_p99_ms"] = pct(states, 99)
    f["states_per_s"] = len(states) / (s1 - s0)
    f["requests_per_s"] = f["saves_per_s"] + f["states_per_s"]
    if "kill" in m:
        r0, r1 = m["kill"], m["recovery_end"]
        crash_ack = window(run["change_ack"], r0, r1 + 300)
        f["crash_down_s"] = run["crash"]["down_s"]
        f["crash_change_ack_max_ms"] = max(crash_ack) if crash_ack else float("nan")
        f["crash_request_errors"] = sum(v for k, v in run["errors"].items())
    if "handed_in" in m:
        f["drain_s"] = m["drained"] - m["recovery_end" if "kill" in m else "steady_end"]
        f["hand_in_all_s"] = m["handed_in"] - m["drained"]
        f["hand_in_p99_ms"] = pct(window(lat.get("hand_in", []), 0, 1e9), 99)
    steady_wall = s1 - s0
    cpu = run["cpu_marks"]
    f["client_cpu_share"] = (cpu["steady_end"] - cpu["steady_start"]) / steady_wall
    f["server_cpu_share"] = (
        run["server_cpu"]["steady_end"] - run["server_cpu"]["steady_start"]
    ) / (run["wall"]["steady_end"] - run["wall"]["steady_start"])
    f["postgres_cpu_share"] = (run["pg_cpu"]["steady_end"] - run["pg_cpu"]["steady_start"]) / (
        run["wall"]["steady_end"] - run["wall"]["steady_start"]
    )
    # CPU per request, the machine's load aside: what the two cores could hold on their own.
    f["server_cpu_ms_per_request"] = f["server_cpu_share"] * 1e3 / max(f["requests_per_s"], 1e-9)
    f["postgres_cpu_ms_per_request"] = (
        f["postgres_cpu_share"] * 1e3 / max(f["requests_per_s"], 1e-9)
    )
    # requests per s a candidate makes, as measured (heartbeats a save's answer made needless
    # are not sent)
    per_candidate = f["requests_per_s"] / max(args.candidates, 1)
    f["projected_candidates"] = int(
        2e3
        / (
            (f["server_cpu_ms_per_request"] + f["postgres_cpu_ms_per_request"])
            * per_candidate
            * (
                1
                + f["client_cpu_share"] / max(f["server_cpu_share"] + f["postgres_cpu_share"], 1e-9)
            )
        )
    )
    lag = window(run["lag"], s0, s1)
    f["client_loop_lag_p99_ms"] = pct(lag, 99)
    f["changes_made"] = sum(c["changes"] for c in run["candidates"])
    f["pending_at_end"] = sum(c["pending"] for c in run["candidates"])
    f["refused"] = sum(run["refused"].values())
    f["refused_by_code"] = run["refused"]
    f["handed_in"] = sum(c["handed_in"] for c in run["candidates"])
    f["client_errors"] = run["errors"]
    f["non_200"] = {k: v for k, v in run["status"].items() if not k.endswith(":200")}
    deaths = [c["death"] for c in run["candidates"] if c["death"]]
    f["per_change_lost_at_death"] = sum(d["questions"] for d in deaths)
    f["per_change_lost_changes_at_death"] = sum(d["changes"] for d in deaths)
    f["per_change_deaths"] = len(deaths)
    f["held"] = bool(
        f["pending_at_end"] == 0
        and f["refused"] == 0
        and f["handed_in"] == args.candidates
        and f["save_p99_ms"] <= 1000
    )
    f["delivery_candidates"] = args.candidates if f["held"] else 0
    if base is not None:
        bm = base["marks"]
        b_saves = window(base["latency"].get("save", []), bm["steady_start"], bm["steady_end"])
        f["baseline_saves_per_s"] = len(b_saves) / (bm["steady_end"] - bm["steady_start"])
        f["baseline_save_p99_ms"] = pct(b_saves, 99)
        f["baseline_start_spike_s"] = bm["spike_end"] - bm["spike_start"]
        f["baseline_deaths"] = sum(1 for c in base["candidates"] if c["death"])
    return f


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--client":
        client_main(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=2.0, help="steady phase")
    parser.add_argument("--quick", action="store_true", help="200 candidates, 30 s: a smoke run")
    parser.add_argument("--sqlite", action="store_true", help="SQLite, one worker")
    parser.add_argument("--postgres", default=POSTGRES, help="server to create the database on")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--answer-workers",
        type=int,
        default=2,
        help="gunicorn workers of their own for saves, state and events (0: one server for all)",
    )
    parser.add_argument(
        "--answer-threads",
        type=int,
        default=0,
        help="threads of each answers' worker (0: as --threads)",
    )
    parser.add_argument(
        "--answer-server",
        choices=("uvicorn", "gthread"),
        default="uvicorn",
        help="the answers' server: uvicorn (certify.web.asgi) or gunicorn gthread",
    )
    parser.add_argument(
        "--nice", type=int, default=10, help="niceness of the other server (sign-in, paper, …)"
    )
    parser.add_argument("--connections", type=int, default=64, help="client keep-alive pool")
    parser.add_argument("--save-every", type=float, default=5.0, help="s between changes (±50 %%)")
    parser.add_argument(
        "--heartbeat", type=float, default=4.0, help="s between heartbeats (as the exam page)"
    )
    parser.add_argument(
        "--answer-together",
        action="store_true",
        help="everyone starts answering when the last paper has come (default: at one's own)",
    )
    parser.add_argument(
        "--no-pacing",
        action="store_true",
        help="heartbeats every --heartbeat s however slow the answers (the page before pacing)",
    )
    parser.add_argument(
        "--recovery", type=float, default=30.0, help="s of answering after the crash"
    )
    parser.add_argument("--down", type=float, default=2.0, help="s gunicorn stays dead")
    parser.add_argument("--no-kill", action="store_true", help="no SIGKILL of gunicorn")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--raw", type=Path, help="also write the load generator's raw result here")
    args = parser.parse_args()
    args.answer_threads = args.answer_threads or args.threads
    if args.quick:
        args.candidates, args.minutes, args.recovery = 200, 0.5, 15.0
    started = time.perf_counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, drop = make_database(args, folder)
        server = Server(args, url, folder)
        try:
            t = time.perf_counter()
            sittings = setup(args, url, folder)
            setup_s = time.perf_counter() - t
            print(
                f"setup: {len(sittings)} sittings × {args.candidates} candidates in {setup_s:.1f} s",
                file=sys.stderr,
            )
            server.start()
            run = run_client(args, server, folder, "run", sittings["run"]["people"])
            if args.raw:
                args.raw.write_text(json.dumps(run))
            base = None
            if not args.no_baseline:
                base = run_client(args, server, folder, "base", sittings["base"]["people"])
            server.stop()
            lost = count_lost(run, read_back(url, sittings["run"]["session"]))
            figures = summarise(args, run, base)
            figures.update(lost)
            figures["setup_s"] = setup_s
            if base is not None:
                figures.update(baseline_lost(base, read_back(url, sittings["base"]["session"])))
        finally:
            server.stop()
            drop()
    figures["total_s"] = time.perf_counter() - started
    report(args, figures, failures)


def report(args: argparse.Namespace, f: dict[str, Any], failures: list[str]) -> None:
    shape = f"{1 if args.sqlite else args.workers} workers × {args.threads} threads (gthread)"
    if args.answer_workers and not args.sqlite:
        shape = (
            f"{args.answer_server} {args.answer_workers} × {args.answer_threads} for saves, "
            f"state and events + gunicorn {args.workers} × {args.threads} for the rest at nice "
            f"{args.nice}"
        )
    print(
        f"machine: {os.cpu_count()} CPUs ({platform.machine()}); Python {platform.python_version()}; "
        f"{'SQLite' if args.sqlite else 'PostgreSQL'}; gunicorn {shape}; client: 1 asyncio process, "
        f"{args.connections} keep-alive connections; {args.candidates} candidates, a change every "
        f"{args.save_every:g} s ± 50 %, heartbeat {args.heartbeat:g} s"
        f"{'' if args.no_pacing else ' (paced)'}, answering from "
        f"{'the last paper' if args.answer_together else 'one’s own paper'}, steady "
        f"{args.minutes:g} min"
    )
    print(f"load average now: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = [
        (
            "start spike: all sign in + paper (start_spike_s)",
            f"{f['start_spike_s']:.1f} s",
            "≤ 30 s",
        ),
        ("  sign-in p50 / p99", f"{f['sign_in_p50_ms']:.0f} / {f['sign_in_p99_ms']:.0f} ms", ""),
        ("  paper p99", f"{f['paper_p99_ms']:.0f} ms", ""),
        (
            "  saves during the spike, p99",
            f"{f['spike_saves']:,}, {f['spike_save_p99_ms']:.0f} ms",
            "",
        ),
        ("saves acknowledged per s, steady (saves_per_s)", f"{f['saves_per_s']:.0f} /s", ""),
        (
            "save p50 / p99 / max (save_p99_ms)",
            f"{f['save_p50_ms']:.1f} / {f['save_p99_ms']:.1f} / {f['save_max_ms']:.0f} ms",
            "p99 ≤ 100 ms",
        ),
        (
            f"  save p99 from {SETTLE_S:g} s into the steady phase on",
            f"{f['save_p99_settled_ms']:.1f} ms",
            "",
        ),
        (
            "change → acknowledged p99 / max",
            f"{f['change_ack_p99_ms']:.0f} / {f['change_ack_max_ms']:.0f} ms",
            "",
        ),
        ("heartbeats per s, p99", f"{f['states_per_s']:.0f} /s, {f['state_p99_ms']:.1f} ms", ""),
        (
            "candidates held (delivery_candidates)",
            f"{f['delivery_candidates']} ({'held' if f['held'] else 'NOT held'})",
            "≥ 2,000",
        ),
    ]
    if "crash_down_s" in f:
        rows.append(("crash: gunicorn SIGKILLed, down", f"{f['crash_down_s']:.1f} s", ""))
        rows.append(
            (
                "  longest change → ack around the crash",
                f"{f['crash_change_ack_max_ms'] / 1e3:.1f} s",
                "",
            )
        )
    if "hand_in_all_s" in f:
        rows.append(
            (
                "drain journals / everyone hands in",
                f"{f['drain_s']:.1f} s / {f['hand_in_all_s']:.1f} s (p99 {f['hand_in_p99_ms']:.0f} ms)",
                "",
            )
        )
    rows += [
        (
            "changes made / acknowledged answers checked",
            f"{f['changes_made']:,} / {f['acked_answers']:,}",
            "",
        ),
        (
            "lost answers (attempt_answer, response, answer_event)",
            f"{f['lost_answers']} ({f['lost_attempt_answer']}, {f['lost_response']}, {f['lost_answer_event']})",
            "0",
        ),
        ("refused entries / still pending", f"{f['refused']} / {f['pending_at_end']}", "0 / 0"),
        (
            "CPU share, steady: gunicorn / PostgreSQL* / client",
            f"{f['server_cpu_share']:.2f} / {f['postgres_cpu_share']:.2f} / {f['client_cpu_share']:.2f} cores",
            "",
        ),
        ("client event-loop lag p99", f"{f['client_loop_lag_p99_ms']:.1f} ms", ""),
        (
            "CPU per request: gunicorn / PostgreSQL*",
            f"{f['server_cpu_ms_per_request']:.2f} / {f['postgres_cpu_ms_per_request']:.2f} ms",
            "",
        ),
        (
            "  → candidates 2 cores could hold (estimate)",
            f"{f['projected_candidates']:,}",
            "",
        ),
        (
            "per-change: lost if each died at a random moment",
            f"{f['per_change_lost_at_death']} answers ({f['per_change_lost_changes_at_death']} changes)",
            "",
        ),
    ]
    if "baseline_lost_answers" in f:
        rows += [
            (
                "baseline (60-s timer, each dies at random): lost",
                f"{f['baseline_lost_answers']} of {f['baseline_answered']} answers",
                "",
            ),
            (
                "  baseline saves per s, p99",
                f"{f['baseline_saves_per_s']:.0f} /s, {f['baseline_save_p99_ms']:.1f} ms",
                "",
            ),
        ]
        f["lost_ratio_baseline_per_change"] = f["baseline_lost_answers"] / max(
            1, f["per_change_lost_at_death"]
        )
        rows.append(
            (
                "ratio lost baseline / per-change",
                f"{f['lost_ratio_baseline_per_change']:.0f}× (per-change lost {f['per_change_lost_at_death']})",
                "",
            )
        )
    width = max(len(r[0]) for r in rows) + 2
    for name, value, goal in rows:
        print(f"{name:<{width}}{value:<34}{goal}")
    print(
        f"save p99 by {WINDOW_S:g}-s window from the last paper (ms): "
        + ", ".join(
            f"{w['from_s']:+g}s {w['p99_ms'] if w['p99_ms'] is not None else '–'}"
            for w in f["save_windows"][:8]
        )
    )
    print(
        f"(* every postgres process on the machine; errors: {f['client_errors'] or 'none'}; non-200: {f['non_200'] or 'none'})"
    )
    if f["lost_answers"]:
        failures.append(f"{f['lost_answers']} acknowledged answers lost")
    if f["refused"]:
        failures.append(f"{f['refused']} entries refused: {f['refused_by_code']}")
    for name, goal in GOALS.items():
        value = f[name]
        met = value >= goal if name == "delivery_candidates" else value <= goal
        print(f"goal {name}: {'met' if met else 'MISSED'}")
    for failure in failures:
        print(f"FAILED: {failure}")
    summary = {k: round(v, 4) if isinstance(v, float) else v for k, v in f.items()}
    summary.update(
        {
            "candidates": args.candidates,
            "backend": "sqlite" if args.sqlite else "postgresql",
            "workers": 1 if args.sqlite else args.workers,
            "threads": args.threads,
            "answer_workers": 0 if args.sqlite else args.answer_workers,
            "answer_threads": args.answer_threads,
            "answer_server": args.answer_server,
            "nice": args.nice if args.answer_workers and not args.sqlite else 0,
            "connections": args.connections,
            "save_every_s": args.save_every,
            "heartbeat_s": args.heartbeat,
            "heartbeat_paced": not args.no_pacing,
            "answer_together": args.answer_together,
            "minutes": args.minutes,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "ok": not failures,
        }
    )
    print(json.dumps(summary, ensure_ascii=False))
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
