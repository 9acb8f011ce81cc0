"""The candidate's attempt: signing in, the paper, saving every change, attachments, hand-in, and
the sweeper that closes attempts at their deadline.

The server is the only clock. An attempt's ``deadline_at`` is materialised — the session's start
plus its duration, the candidate's extra time and the time they were paused — and every answer
the page sends is judged against it on arrival; the page counts down from the remaining time the
server reports, never from its own clock.

Saving is one small transaction per request, shaped so that nothing acknowledged is ever lost
and nothing old overwrites anything new:

1. the attempt's row is updated first (``last_seen_at``), which locks it: a hand-in, which
   locks the same row, waits for a save in flight, and a save after the hand-in sees the
   attempt closed and is refused whole (its entries stay pending on the page);
2. each entry carries the attempt's sequence number; an entry already stored is acknowledged
   again and not applied (a re-send after a lost reply), an entry with the same number but other
   content is refused (``seq_conflict``), an entry older than the stored answer to its question
   is refused (``stale``);
3. every accepted entry is appended to ``answer_event`` (the history kept for appeals: what,
   when, from which device) and the question's ``attempt_answer`` row is upserted only when the
   entry's number is greater than the one it holds (``ON CONFLICT … DO UPDATE … WHERE``).

On PostgreSQL the common save — every entry newer than anything stored, the attempt open — is
these three steps in one data-modifying statement, one round trip (:func:`_save_new_entries`);
re-sends and refusals take the general path, which gives each its reason. A process that has
not seen the token yet — the answers' processes, for every candidate's first save after the
start — reads the attempt first, with what the page shows of candidate and room, and then
takes the same statement: in the benchmark, routing those first saves down the general path
was what kept the saves of the seconds after the start above 100 ms (docs/benchmarks.md).

Writes received up to :data:`SAVE_GRACE` after the deadline are taken (the change was made
before it, on its way when time ran out); the sweeper closes an attempt once the grace is over,
with the deadline as its finish time. Closing writes the attempt's answers as ``response`` rows
in the printed letters of the candidate's copy — exactly what an answer sheet gives — so grading,
statistics and certificates read computer-based sittings as they read paper ones.

Sign-in, hand-in and the sweeper write the room's log (``exam_incident``), not the hash-chained
audit log: thousands of candidates sign in in the same minute, and the audit chain takes one
writer at a time. What invigilators and administrators do is audited (:mod:`.console`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from certify.delivery.copies import COPIES, Copy, MadeFrom, Numbering
from certify.infra import db
from certify.infra.db import transaction
from certify.infra.errors import Refused
from certify.registration.identity import IdentityVault
from question_bank.sealing import SEALED, PaperSealed, unopened_registrations
from schemas.enums import AttemptStatus, FinishReason, IncidentKind
from schemas.tables import (
    AnswerEvent,
    Attachment,
    Attempt,
    AttemptAnswer,
    Candidate,
    ExamIncident,
    ExamRoom,
    ExamSession,
    LoginAttempt,
    Paper,
    PaperSeal,
    Registration,
    Response,
    Sitting,
)

START_EARLY = timedelta(minutes=15)
"""Candidates may sign in this long before the start (the paper opens at the start)."""

SAVE_GRACE = timedelta(seconds=5)
"""Writes arriving this long after the deadline are still taken; then the attempt closes."""

MAX_ENTRIES = 200
"""Entries one save request may carry."""

SEEN_EVERY = timedelta(seconds=10)
"""A heartbeat records the candidate as seen at most this often (saves always do)."""

LOST_AFTER = timedelta(seconds=15)
"""Not seen for this long: the console shows the candidate's connection as lost."""

ATTACHMENT_BYTES = 5 * 1024 * 1024
"""The largest file a candidate may attach to one answer."""

ATTACHMENT_TYPES = {
    "application/pdf": "PDF",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "application/zip": "ZIP（含 docx/xlsx/pptx）",
    "text/plain": "文本",
}
"""Media types an attachment may have, judged from its content (not its name)."""

SIGN_IN_FAILURES = 5
"""Wrong sign-ins for one admission number within :data:`SIGN_IN_WINDOW` before it is refused."""

SIGN_IN_FAILURES_ADDRESS = 300
"""Wrong sign-ins from one address within the window (an exam room often shares one)."""

SIGN_IN_WINDOW = timedelta(minutes=15)


def utc(at: datetime) -> datetime:
    """``at`` as an aware UTC time (SQLite gives naive times back)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


# --- reading an attempt ------------------------------------------------------------------------


def _due(
    status: AttemptStatus, paused_at: datetime | None, deadline: datetime, now: datetime
) -> bool:
    """Past its deadline and the grace, not paused: the attempt must close."""
    return (
        status in (AttemptStatus.ACTIVE, AttemptStatus.WAITING)
        and paused_at is None
        and now > deadline + SAVE_GRACE
    )


@dataclass(frozen=True)
class Found:
    """An attempt as signing in sees it, with what it needs of its session, room, registration,
    candidate and sitting: one row of plain columns (a start spike reads thousands a minute, and
    loading six ORM objects for each cost more than the query)."""

    attempt_id: int
    status: AttemptStatus
    paused_at: datetime | None
    deadline_at: datetime
    device_hash: str | None
    move_allowed: bool
    late_allowed: bool
    starts_at: datetime
    entry_minutes: int
    handin_minutes: int
    part: str
    session_code: str
    room_id: int
    room_code: str
    room_name: str
    registration_id: int
    admission_no: str
    shuffle_seed: int
    paper_id: int
    name: str
    sitting_code: str

    @classmethod
    def of(cls, row: Any) -> Found:
        return cls(
            attempt_id=row[0],
            status=AttemptStatus(row[1]),
            paused_at=utc(row[2]) if row[2] else None,
            deadline_at=utc(row[3]),
            device_hash=row[4],
            move_allowed=bool(row[5]),
            late_allowed=bool(row[6]),
            starts_at=utc(row[7]),
            entry_minutes=row[8],
            handin_minutes=row[9],
            part=row[10],
            session_code=row[11],
            room_id=row[12],
            room_code=row[13],
            room_name=row[14],
            registration_id=row[15],
            admission_no=row[16],
            shuffle_seed=row[17],
            paper_id=int(row[18] or 0),
            name=row[19],
            sitting_code=row[20],
        )

    def due(self, now: datetime) -> bool:
        return _due(self.status, self.paused_at, self.deadline_at, now)


_FOUND = (
    sa_select(
        col(Attempt.id),
        col(Attempt.status),
        col(Attempt.paused_at),
        col(Attempt.deadline_at),
        col(Attempt.device_hash),
        col(Attempt.move_allowed),
        col(Attempt.late_allowed),
        col(ExamSession.starts_at),
        col(ExamSession.entry_minutes),
        col(ExamSession.handin_minutes),
        col(ExamSession.part),
        col(ExamSession.code),
        col(ExamRoom.id),
        col(ExamRoom.code),
        col(ExamRoom.name),
        col(Registration.id),
        col(Registration.admission_no),
        col(Registration.shuffle_seed),
        col(Registration.paper_id),
        col(Candidate.name),
        col(Sitting.code),
    )
    .select_from(Attempt)
    .join(ExamSession, col(ExamSession.id) == col(Attempt.session_id))
    .join(ExamRoom, col(ExamRoom.id) == col(Attempt.room_id))
    .join(Registration, col(Registration.id) == col(Attempt.registration_id))
    .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
    .join(Sitting, col(Sitting.id) == col(ExamSession.sitting_id))
    .where(
        col(Registration.admission_no) == bindparam("admission_no"),
        col(Candidate.id_number_digest) == bindparam("id_digest"),
        col(ExamRoom.room_code) == bindparam("room_code"),
    )
)
"""The six-table read of signing in, built once (a start spike runs it thousands of times a
minute, and building it cost more than running it)."""

_TAKE = (
    update(Attempt)
    .where(
        col(Attempt.id) == bindparam("attempt_id"),
        col(Attempt.status).in_([AttemptStatus.WAITING.value, AttemptStatus.ACTIVE.value]),
        (col(Attempt.device_hash).is_(None)) | (col(Attempt.move_allowed).is_(True)),
    )
    .values(
        device_hash=bindparam("device_hash"),
        device_label=bindparam("device_label"),
        move_allowed=False,
        status=AttemptStatus.ACTIVE.value,
        signed_in_at=func.coalesce(col(Attempt.signed_in_at), bindparam("now")),
        last_seen_at=bindparam("now"),
    )
    .returning(
        col(Attempt.seat),
        col(Attempt.paused_at),
        col(Attempt.deadline_at),
        col(Attempt.extra_seconds),
        col(Attempt.last_seq),
        col(Attempt.handed_in_at),
    )
)
"""A sign-in takes the attempt for its device when no other device holds it (or the move is
allowed): the condition is checked by the database, under the row's lock, so of two sign-ins
at once exactly one gets the attempt; the row as it is then comes back for the state."""

_SIGNED_IN = insert(ExamIncident.__table__)  # type: ignore[attr-defined]


def _signed_out() -> Refused:
    return Refused(
        401,
        "signed_out",
        "登录已失效（可能已在其他设备登录），请重新登录；未提交的作答保存在本机，登录后自动提交",
        "signed out (perhaps signed in on another device): sign in again; answers not yet "
        "saved are kept on this device and sent after signing in",
    )


@dataclass(frozen=True)
class Live:
    """An attempt as a heartbeat or a save needs it: one narrow row of the attempt and its
    session, read by the device token's digest (the hot path: every candidate, every few
    seconds). What never changes during an exam — names, room, title — is :func:`who`."""

    id: int
    registration_id: int
    seat: int
    status: AttemptStatus
    paused_at: datetime | None
    deadline_at: datetime
    extra_seconds: int
    last_seq: int
    last_seen_at: datetime | None
    handed_in_at: datetime | None
    device_hash: str | None
    starts_at: datetime
    handin_minutes: int
    part: str
    made_from: MadeFrom
    """What the candidate's copy is made from (so no process reads it again to build one)."""

    @property
    def deadline(self) -> datetime:
        return self.deadline_at

    def remaining(self, now: datetime) -> timedelta:
        """Time left: frozen while paused, never negative."""
        at = self.paused_at or now
        return max(self.deadline_at - max(at, self.starts_at), timedelta(0))

    def due(self, now: datetime) -> bool:
        return _due(self.status, self.paused_at, self.deadline_at, now)


_LIVE = (
    sa_select(
        Attempt.__table__.c.id,  # type: ignore[attr-defined]
        Attempt.__table__.c.registration_id,  # type: ignore[attr-defined]
        Attempt.__table__.c.seat,  # type: ignore[attr-defined]
        Attempt.__table__.c.status,  # type: ignore[attr-defined]
        Attempt.__table__.c.paused_at,  # type: ignore[attr-defined]
        Attempt.__table__.c.deadline_at,  # type: ignore[attr-defined]
        Attempt.__table__.c.extra_seconds,  # type: ignore[attr-defined]
        Attempt.__table__.c.last_seq,  # type: ignore[attr-defined]
        Attempt.__table__.c.last_seen_at,  # type: ignore[attr-defined]
        Attempt.__table__.c.handed_in_at,  # type: ignore[attr-defined]
        Attempt.__table__.c.device_hash,  # type: ignore[attr-defined]
        ExamSession.__table__.c.starts_at,  # type: ignore[attr-defined]
        ExamSession.__table__.c.handin_minutes,  # type: ignore[attr-defined]
        ExamSession.__table__.c.part,  # type: ignore[attr-defined]
        Registration.__table__.c.shuffle_seed,  # type: ignore[attr-defined]
        Registration.__table__.c.admission_no,  # type: ignore[attr-defined]
        Registration.__table__.c.paper_id,  # type: ignore[attr-defined]
    )
    .select_from(Attempt.__table__)  # type: ignore[attr-defined]
    .join(
        ExamSession.__table__,  # type: ignore[attr-defined]
        ExamSession.__table__.c.id == Attempt.__table__.c.session_id,  # type: ignore[attr-defined]
    )
    .join(
        Registration.__table__,  # type: ignore[attr-defined]
        Registration.__table__.c.id == Attempt.__table__.c.registration_id,  # type: ignore[attr-defined]
    )
    .where(Attempt.__table__.c.device_hash == bindparam("digest"))  # type: ignore[attr-defined]
)
"""Built once; SQLAlchemy reuses its compiled form."""
_LIVE_PG = str(_LIVE.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
_LIVE_AND_WHO = (
    _LIVE.add_columns(
        col(Candidate.name),
        col(ExamRoom.name),
        col(ExamRoom.code),
        col(Sitting.code),
        col(ExamSession.code),
    )
    .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
    .join(ExamRoom, col(ExamRoom.id) == col(Attempt.room_id))
    .join(Sitting, col(Sitting.id) == col(ExamSession.sitting_id))
)
""":data:`_LIVE` and what :func:`who` reads, for a token this process has not seen yet: the
first request of each candidate here (at the start of an exam, every candidate's at once)
reads once, not twice."""
_LIVE_AND_WHO_PG = str(_LIVE_AND_WHO.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
_WHO_FROM = len(_LIVE.selected_columns)
"""Where :data:`_LIVE_AND_WHO`'s row goes on past :data:`_LIVE`'s: name, room, sitting, session."""


def _first_row(engine: Engine, statement: Any, driver_sql: str, params: dict[str, Any]) -> Any:
    """The first row of one statement run on its own (autocommit: no BEGIN before it, no
    ROLLBACK after). On PostgreSQL ``driver_sql`` goes straight to the driver, prepared: for the
    hot path's one-row statements SQLAlchemy's own work per execution cost as much as the
    database's."""
    if engine.dialect.name == "postgresql":
        return _driver_row(engine, driver_sql, params)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn.execute(statement, params).first()


def _driver_row(engine: Engine, sql: str, params: dict[str, Any], *, every: bool = False) -> Any:
    """PostgreSQL: the first row (or ``every`` row) of ``sql`` run on its own, autocommit,
    prepared, on the driver's cursor of a pooled connection. No SQLAlchemy ``Connection`` is
    built around it: that wrapper, its execution options and its isolation-level reset cost
    40–100 µs of CPU a call (docs/benchmarks.md), against about 400 µs for a whole heartbeat.
    A connection whose statement failed is closed rather than pooled again: its state is not
    known."""
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        driver.autocommit = True  # type: ignore[union-attr]
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(sql, params, prepare=True)
            row = cursor.fetchall() if every else cursor.fetchone()
        driver.autocommit = False  # type: ignore[union-attr]
        return row
    except BaseException:
        pooled.invalidate()
        raise
    finally:
        pooled.close()


def _live(row: Any) -> Live:
    return Live(
        id=row[0],
        registration_id=row[1],
        seat=row[2],
        status=AttemptStatus(row[3]),
        paused_at=utc(row[4]) if row[4] else None,
        deadline_at=utc(row[5]),
        extra_seconds=row[6],
        last_seq=row[7],
        last_seen_at=utc(row[8]) if row[8] else None,
        handed_in_at=utc(row[9]) if row[9] else None,
        device_hash=row[10],
        starts_at=utc(row[11]),
        handin_minutes=row[12],
        part=row[13],
        made_from=MadeFrom(row[14], row[15], int(row[16] or 0)),
    )


def live(engine: Engine, token: str) -> Live:
    """The attempt signed in with ``token`` as the hot path reads it: one SELECT on its own
    (autocommit: no BEGIN before it, no ROLLBACK after), which for a token new to this process
    also reads what :func:`who` keeps; Refused 401 ``signed_out`` for any other token."""
    if not token or len(token) > 128:
        raise _signed_out()
    digest = token_digest(token)
    new_here = _whose(engine, digest) is None
    statement, driver_sql = (_LIVE_AND_WHO, _LIVE_AND_WHO_PG) if new_here else (_LIVE, _LIVE_PG)
    row = _first_row(engine, statement, driver_sql, {"digest": digest})
    if row is None:
        raise _signed_out()
    found = _live(row)
    if new_here:
        name, *place = row[_WHO_FROM:]
        _keep_who((db.where(engine), found.id), name, found.made_from.admission_no, *place)
        _remember(engine, digest, found)
    return found


@dataclass(frozen=True)
class _Whose:
    """Which attempt a token digest was issued for and which copy it answers: fixed for the
    token's life (a sign-in on another device issues another token). Whether the token is still
    the attempt's is never taken from here: the save's statement checks it under the row lock."""

    attempt_id: int
    registration_id: int
    part: str
    made_from: MadeFrom


_WHOSE: OrderedDict[tuple[str, str], _Whose] = OrderedDict()
_WHOSE_LOCK = threading.Lock()


def _remember(engine: Engine, digest: str, found: Live) -> None:
    key = (db.where(engine), digest)
    with _WHOSE_LOCK:
        _WHOSE[key] = _Whose(found.id, found.registration_id, found.part, found.made_from)
        while len(_WHOSE) > 20_000:
            _WHOSE.popitem(last=False)


def _whose(engine: Engine, digest: str) -> _Whose | None:
    with _WHOSE_LOCK:
        return _WHOSE.get((db.where(engine), digest))


_WHO: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
_WHO_LOCK = threading.Lock()


def who(engine: Engine, attempt_id: int) -> dict[str, Any]:
    """What the page shows of the candidate, the room and the exam — fixed for an attempt, so
    each process reads it once (a bounded cache)."""
    key = (db.where(engine), attempt_id)
    with _WHO_LOCK:
        found = _WHO.get(key)
    if found is not None:
        return found
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        row = conn.execute(_WHO_ROW, {"attempt_id": attempt_id}).one()
    return _keep_who(key, *row)


def _keep_who(
    key: tuple[str, int],
    name: str,
    admission: str,
    room_name: str,
    room_code: str,
    title: str,
    session_code: str,
) -> dict[str, Any]:
    found = {
        "name": name,
        "admission_no": admission,
        "room": room_name or room_code,
        "title": title,
        "session": session_code,
    }
    with _WHO_LOCK:
        _WHO[key] = found
        while len(_WHO) > 20_000:
            _WHO.popitem(last=False)
    return found


def forget() -> None:
    """Forget what this process keeps of attempts and copies, as a process that has served
    none (a database emptied under a running process; a measurement of a first request)."""
    with _WHOSE_LOCK:
        _WHOSE.clear()
    with _WHO_LOCK:
        _WHO.clear()
    COPIES.clear()


_WHO_ROW = (
    sa_select(
        col(Candidate.name),
        col(Registration.admission_no),
        col(ExamRoom.name),
        col(ExamRoom.code),
        col(Sitting.code),
        col(ExamSession.code),
    )
    .select_from(Attempt)
    .join(Registration, col(Registration.id) == col(Attempt.registration_id))
    .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
    .join(ExamRoom, col(ExamRoom.id) == col(Attempt.room_id))
    .join(ExamSession, col(ExamSession.id) == col(Attempt.session_id))
    .join(Sitting, col(Sitting.id) == col(ExamSession.sitting_id))
    .where(col(Attempt.id) == bindparam("attempt_id"))
)


def state_of(a: Live, shown: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What the exam page shows: status, the server's clock, the remaining time, pause."""
    starts_in = max(a.starts_at - now, timedelta(0))
    handin_at = a.starts_at + timedelta(minutes=a.handin_minutes)
    return {
        "status": a.status.value,
        "server_now_ms": int(now.timestamp() * 1000),
        "starts_in_ms": _ms(starts_in),
        "remaining_ms": _ms(a.remaining(now)) if a.status is AttemptStatus.ACTIVE else 0,
        "paused": a.paused_at is not None,
        "extra_seconds": a.extra_seconds,
        "can_hand_in": a.status is AttemptStatus.ACTIVE and now >= handin_at,
        "handin_in_ms": _ms(max(handin_at - now, timedelta(0))),
        "last_seq": a.last_seq,
        "handed_in_at": a.handed_in_at.isoformat() if a.handed_in_at else None,
        "candidate": {
            "name": shown["name"],
            "admission_no": shown["admission_no"],
            "seat": a.seat,
            "room": shown["room"],
        },
        "title": shown["title"],
        "session": shown["session"],
    }


def state(engine: Engine, token: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The heartbeat: the attempt's state, recording the candidate as seen (at most every
    :data:`SEEN_EVERY`); an attempt past its deadline is closed here and then (finish time: the
    deadline)."""
    now = now or now_utc()
    a = live(engine, token)
    if a.due(now):
        close(engine, a.id, reason=FinishReason.DEADLINE, now=now)
        a = live(engine, token)
    elif a.status is AttemptStatus.ACTIVE and (
        a.last_seen_at is None or now - a.last_seen_at >= SEEN_EVERY
    ):
        _seen(engine, a.id, now)
    if a.status is AttemptStatus.ACTIVE and now >= a.starts_at:
        # Draw this process's numbering of the copy before the candidate's first save here
        # needs it: at the start of an exam every candidate begins answering at once.
        with contextlib.suppress(PaperSealed):  # the paper's own request tells them why
            COPIES.numbering(engine, a.registration_id, a.part, a.made_from)
    return state_of(a, who(engine, a.id), now)


def _seen(engine: Engine, attempt_id: int, now: datetime) -> None:
    """Record the candidate as seen. Nothing depends on this write surviving a crash, so
    PostgreSQL need not wait for it to reach the disk (``synchronous_commit`` off for it)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        conn.execute(_SEEN, {"attempt_id": attempt_id, "now": now})


_SEEN = (
    update(Attempt)
    .where(col(Attempt.id) == bindparam("attempt_id"))
    .values(last_seen_at=bindparam("now"))
)


# --- signing in --------------------------------------------------------------------------------


def sign_in(
    engine: Engine,
    vault: IdentityVault,
    *,
    admission_no: str,
    id_number: str,
    room_code: str,
    device_label: str = "",
    address: str = "?",
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """Sign a candidate in on this device: admission number, ID number and the room's code must
    all match one attempt. Returns the device's token (kept by the page, sent with every call)
    and the state. Any wrong field gives the same answer; repeated failures are throttled in the
    database, so every app process counts them together."""
    now = now or now_utc()
    admission_no = admission_no.strip()[:32]
    who = f"exam:{admission_no}"[:64]
    digest = vault.digest(re.sub(r"\s", "", id_number).upper())
    params = {
        "admission_no": admission_no,
        "id_digest": digest,
        "room_code": room_code.strip(),
        "who": who,
        "address": address[:64],
        "since": now - SIGN_IN_WINDOW,
    }
    read = _rows(engine, _LOOK_UP, _LOOK_UP_PG, params)
    _throttle(*read[0][:2])  # the failures come first, whatever else matched
    rows = [Found.of(row[2:]) for row in read if row[2] is not None]
    if not rows:
        _record_sign_in(engine, who, address, ok=False, now=now)
        raise Refused(
            401,
            "bad_credentials",
            "准考证号、身份证号或考场口令不正确",
            "the admission number, ID number or room code is not right",
        )
    # A sign-in that succeeds is in the room's log (below); only failures are counted here.
    # The session on now (or next): one candidate may sit several sessions of a sitting.
    found = min(
        rows,
        key=lambda f: (
            f.due(now) or f.status is AttemptStatus.HANDED_IN,
            abs((f.starts_at - now).total_seconds()),
        ),
    )
    if found.due(now):
        close(engine, found.attempt_id, reason=FinishReason.DEADLINE, now=now)
    _may_sign_in(found, now)
    token = secrets.token_urlsafe(32)
    digest = token_digest(token)
    label = device_label.strip()[:64]
    taken = _take(
        engine,
        {
            "attempt_id": found.attempt_id,
            "device_hash": digest,
            "device_label": label,
            "now": now,
            "room": found.room_id,  # not "room_id": an UPDATE sets columns its parameters name
            "detail": {
                "device": label,
                "address": address[:64],
                "moved": found.device_hash is not None,
            },
        },
    )
    if taken is None:
        raise _device_in_use()
    # What the page shows was just read and written: the state needs no second read.
    seat, paused_at, deadline_at, extra_seconds, last_seq, handed_in_at = taken
    signed = Live(
        id=found.attempt_id,
        registration_id=found.registration_id,
        seat=seat,
        status=AttemptStatus.ACTIVE,
        paused_at=utc(paused_at) if paused_at else None,
        deadline_at=utc(deadline_at),
        extra_seconds=extra_seconds,
        last_seq=last_seq,
        last_seen_at=now,
        handed_in_at=utc(handed_in_at) if handed_in_at else None,
        device_hash=digest,
        starts_at=found.starts_at,
        handin_minutes=found.handin_minutes,
        part=found.part,
        made_from=MadeFrom(found.shuffle_seed, found.admission_no, found.paper_id),
    )
    _remember(engine, digest, signed)
    shown = _keep_who(
        (db.where(engine), found.attempt_id),
        found.name,
        found.admission_no,
        found.room_name,
        found.room_code,
        found.sitting_code,
        found.session_code,
    )
    return token, state_of(signed, shown, now)


def _may_sign_in(a: Found, now: datetime) -> None:
    if a.status is AttemptStatus.HANDED_IN:
        raise Refused(403, "handed_in", "已交卷，不能再次登录", "already handed in")
    if a.status is AttemptStatus.ABSENT:
        raise Refused(
            403, "absent", "已记为缺考，请联系监考员", "recorded as absent: ask the invigilator"
        )
    if now < a.starts_at - START_EARLY:
        raise Refused(
            403,
            "not_open",
            f"考试尚未开放登录（开考前 {int(START_EARLY.total_seconds() // 60)} 分钟开放）",
            f"sign-in opens {int(START_EARLY.total_seconds() // 60)} minutes before the start",
        )
    late = now > a.starts_at + timedelta(minutes=a.entry_minutes)
    if late and a.status is AttemptStatus.WAITING and not a.late_allowed:
        raise Refused(
            403,
            "entry_closed",
            f"开考 {a.entry_minutes} 分钟后不得入场；如有特殊情况请联系监考员",
            f"entry closed {a.entry_minutes} minutes after the start: ask the invigilator",
        )
    if a.device_hash is not None and not a.move_allowed:
        raise _device_in_use()


def _device_in_use() -> Refused:
    return Refused(
        409,
        "device_in_use",
        "该考生已在另一台设备上登录；更换设备需经监考员同意",
        "signed in on another device: the invigilator must allow the move",
    )


def _throttle(by_who: int, by_address: int) -> None:
    """Refuse when this admission number, or this address, failed too often lately (the counts
    are read with the attempt: :data:`_LOOK_UP`)."""
    if by_who >= SIGN_IN_FAILURES or by_address >= SIGN_IN_FAILURES_ADDRESS:
        raise Refused(
            429,
            "too_many_attempts",
            "登录失败次数过多，请 15 分钟后再试或联系监考员",
            "too many failed sign-ins: wait 15 minutes or ask the invigilator",
        )


_LOGINS = LoginAttempt.__table__  # type: ignore[attr-defined]
_ONE: Any = literal_column("1")  # written in the SQL, not bound
_NONE: Any = literal_column("0")
_FAILURES = sa_select(
    func.coalesce(
        func.sum(case((_LOGINS.c.username == bindparam("who"), _ONE), else_=_NONE)), _NONE
    ),
    func.coalesce(
        func.sum(case((_LOGINS.c.address == bindparam("address"), _ONE), else_=_NONE)), _NONE
    ),
).where(
    _LOGINS.c.ok.is_(False),
    _LOGINS.c.at >= bindparam("since"),
    (_LOGINS.c.username == bindparam("who")) | (_LOGINS.c.address == bindparam("address")),
)
"""Failed sign-ins lately, by admission number and by address: built once."""

_COUNTED = _FAILURES.subquery("failures")
_MATCHED = _FOUND.subquery("found")
_LOOK_UP = sa_select(_COUNTED, _MATCHED).select_from(_COUNTED.outerjoin(_MATCHED, _ONE == _ONE))
"""Signing in's one read: the failures counted (always one row) beside each attempt the three
fields match (none: the columns are NULL). A start spike runs it thousands of times a minute;
as two statements it was two round trips and two connections taken from the pool."""
_LOOK_UP_PG = str(_LOOK_UP.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]


def _rows(engine: Engine, statement: Any, driver_sql: str, params: dict[str, Any]) -> list[Any]:
    """Every row of one read run on its own (autocommit), as :func:`_first_row` runs it."""
    if engine.dialect.name == "postgresql":
        return list(_driver_row(engine, driver_sql, params, every=True))
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return list(conn.execute(statement, params).all())


_INCIDENTS = ExamIncident.__table__  # type: ignore[attr-defined]


def _take(engine: Engine, params: dict[str, Any]) -> Any:
    """Take the attempt for the device (:data:`_TAKE`) and log the sign-in in the room's log,
    together or not at all: the attempt's row as taken, or None when another device holds it.
    On PostgreSQL one statement (:data:`_TAKE_AND_LOG`), so no BEGIN and COMMIT of their own."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            return conn.execute(_TAKE_AND_LOG, params).first()
    with engine.begin() as conn:
        taken = conn.execute(_TAKE, {k: params[k] for k in _TAKE_PARAMS}).first()
        if taken is not None:
            conn.execute(
                _SIGNED_IN,
                {
                    "room_id": params["room"],
                    "attempt_id": params["attempt_id"],
                    "kind": IncidentKind.SIGN_IN,
                    "note": "",
                    "actor": "candidate",
                    "detail": params["detail"],
                    "at": params["now"],
                },
            )
        return taken


_TAKE_PARAMS = ("attempt_id", "device_hash", "device_label", "now")


def _take_and_log() -> Any:
    taken = _TAKE.cte("taken")
    logged = _INCIDENTS.insert().from_select(
        ["room_id", "attempt_id", "kind", "note", "actor", "detail", "at"],
        sa_select(
            bindparam("room", type_=_INCIDENTS.c.room_id.type),
            bindparam("attempt_id", type_=_INCIDENTS.c.attempt_id.type),
            literal(IncidentKind.SIGN_IN, _INCIDENTS.c.kind.type),
            literal("", _INCIDENTS.c.note.type),
            literal("candidate", _INCIDENTS.c.actor.type),
            bindparam("detail", type_=_INCIDENTS.c.detail.type),
            bindparam("now", type_=_INCIDENTS.c.at.type),
        ).select_from(taken),
    )
    return sa_select(taken).add_cte(logged.cte("logged"))


_TAKE_AND_LOG = _take_and_log()
"""PostgreSQL: the attempt taken and the sign-in logged in one data-modifying statement (the log
line is written only for a row taken)."""


def _record_sign_in(engine: Engine, who: str, address: str, *, ok: bool, now: datetime) -> None:
    """Record a sign-in at ``now``: the throttle counts failures back from the same clock."""
    with transaction(engine) as session:
        session.add(LoginAttempt(username=who, address=address[:64], ok=ok, at=now))


# --- the paper ---------------------------------------------------------------------------------


_UNOPENED = (
    sa_select(col(Paper.code), col(PaperSeal.opens_at))
    .join(PaperSeal, col(PaperSeal.id) == col(Paper.seal_id))
    .where(col(Paper.id) == bindparam("paper_id"), col(PaperSeal.status) == SEALED)
)
_SAVED = sa_select(
    col(AttemptAnswer.item_version_id),
    col(AttemptAnswer.value),
    col(AttemptAnswer.flagged),
    col(AttemptAnswer.seq),
).where(col(AttemptAnswer.attempt_id) == bindparam("attempt_id"))
_ATTACHED = (
    sa_select(
        col(Attachment.id),
        col(Attachment.item_version_id),
        col(Attachment.name),
        col(Attachment.size),
    )
    .where(col(Attachment.attempt_id) == bindparam("attempt_id"))
    .order_by(col(Attachment.id))
)
"""A paper's reads of what the attempt holds, built once (as plain rows: every candidate loads
the paper at the same minute)."""


def paper(
    engine: Engine,
    token: str,
    *,
    vault: IdentityVault | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The candidate's own copy of the session's questions with their saved answers; refused
    before the start, and after the attempt is closed. With ``vault``, also what the page needs
    to make an encrypted answer backup (:mod:`certify.delivery.backup`)."""
    now = now or now_utc()
    a = live(engine, token)
    _open_for_answers(a, now)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # reads only, no BEGIN
        # asked of the database each time: a process may hold the copy from before it was sealed
        unopened = conn.execute(_UNOPENED, {"paper_id": a.made_from.paper_id}).first()
    if unopened is not None:
        raise PaperSealed(unopened[0], unopened[1])
    copy = COPIES.shown(engine, a.registration_id, a.part, a.made_from)
    number_of = copy.number_of
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # reads only, no BEGIN
        answers = conn.execute(_SAVED, {"attempt_id": a.id}).all()
        files = conn.execute(_ATTACHED, {"attempt_id": a.id}).all()
    attached: dict[str, list[dict[str, Any]]] = {}
    for fid, pk, name, size in files:
        attached.setdefault(str(number_of[pk]), []).append({"id": fid, "name": name, "size": size})
    out: dict[str, Any] = {
        "title": copy.title,
        "form": copy.form,
        "parts": copy.parts,
        "answers": {
            str(number_of[pk]): {"value": value, "flagged": flagged, "seq": seq}
            for pk, value, flagged, seq in answers
            if pk in number_of
        },
        "attachments": attached,
        "images": COPIES.images(engine, copy.questions, a.made_from.paper_id, a.part),
        "last_seq": a.last_seq,
        "limits": {
            "attachment_bytes": ATTACHMENT_BYTES,
            "attachment_types": sorted(ATTACHMENT_TYPES),
            "entries_per_save": MAX_ENTRIES,
        },
    }
    if vault is not None:
        from certify.delivery.backup import Whose, page_keys  # it builds on this module

        out["backup"] = page_keys(vault, Whose(a.id, a.registration_id, a.part))
    return out


def _open_for_answers(found: Live, now: datetime) -> None:
    if now < found.starts_at:
        raise Refused(403, "not_started", "考试尚未开始", "the exam has not started")
    if found.status is AttemptStatus.HANDED_IN:
        raise Refused(403, "handed_in", "已交卷", "already handed in")
    if found.status is not AttemptStatus.ACTIVE:
        raise _signed_out()


# --- saving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One change the page made: the answer (and flag) of a question, numbered in order."""

    seq: int
    number: int
    value: str
    flagged: bool = False
    client_at: int | None = None


def parse_entries(payload: Any, *, limit: int = MAX_ENTRIES) -> list[Entry]:
    """The entries of a save request (at most ``limit``); Refused 400 for a request that is not
    one."""
    entries = payload.get("entries") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        raise _bad_request("a JSON object with a list of entries is expected")
    if len(entries) > limit:
        raise Refused(
            413,
            "too_many_entries",
            f"一次最多提交 {limit} 条",
            f"at most {limit} entries per request",
        )
    out = []
    for raw in entries:
        if not isinstance(raw, dict):
            raise _bad_request("each entry is an object")
        seq, number, value = raw.get("seq"), raw.get("number"), raw.get("value", "")
        flagged, at = raw.get("flagged", False), raw.get("client_at")
        if not _int(seq) or not _int(number) or not isinstance(value, str):
            raise _bad_request("seq and number are positive integers, value is text")
        assert isinstance(seq, int) and isinstance(number, int)
        if seq > 2**31 - 1 or number > 10_000:
            raise _bad_request("seq or number out of range")
        if not isinstance(flagged, bool) or (at is not None and not _int(at)):
            raise _bad_request("flagged is true or false, client_at milliseconds")
        out.append(Entry(seq, number, value, flagged, at if at is None or at < 2**62 else None))
    if len({e.seq for e in out}) != len(out):
        raise _bad_request("one seq appears twice in the request")
    return sorted(out, key=lambda e: e.seq)


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1


def _bad_request(en: str) -> Refused:
    return Refused(400, "bad_request", "提交的数据格式不正确", en)


def _refusal(seq: int, code: str, zh: str, en: str) -> dict[str, Any]:
    return {"seq": seq, "error": code, "message_zh": zh, "message_en": en}


def save(
    engine: Engine, token: str, entries: Sequence[Entry], *, now: datetime | None = None
) -> dict[str, Any]:
    """Store the entries (see the module docstring); returns the acknowledged and refused seqs
    and the attempt's last seq. A request refused whole raises Refused and stores nothing."""
    now = now or now_utc()
    if engine.dialect.name == "postgresql":
        done = _save_new_entries(engine, token, entries, now)
        if done is not None:
            return done
    a = live(engine, token)
    _open_for_answers(a, now)
    if a.due(now):
        close(engine, a.id, reason=FinishReason.DEADLINE, now=now)
        raise Refused(403, "handed_in", "考试时间已到，已自动交卷", "time is up: handed in")
    good, refused = _against(
        COPIES.numbering(engine, a.registration_id, a.part, a.made_from), entries
    )
    attempt_id = a.id
    device = a.device_hash[:12] if a.device_hash else ""
    with transaction(engine) as session:
        conn = session.connection()
        # The row lock: a hand-in waits for this save, or this save sees the hand-in.
        row = conn.execute(_SEEN_AND_LOCK, {"attempt_id": attempt_id, "now": now}).one()
        status, paused_at, deadline_at = AttemptStatus(row[0]), row[1], utc(row[2])
        stored_seq: int = row[3]
        extra_seconds: int = row[4]
        if status is not AttemptStatus.ACTIVE:
            raise Refused(
                403, "handed_in", "已交卷，不能再修改作答", "handed in: answers are final"
            )
        if paused_at is not None:
            raise Refused(
                409, "paused", "考试已暂停，恢复后自动提交", "paused: saved after resuming"
            )
        if now > deadline_at + SAVE_GRACE:
            refused += [
                _refusal(e.seq, "deadline_passed", "考试时间已到", "the time is up")
                for e, _ in good
            ]
            good = []
        # Every stored event and answer has a seq ≤ the attempt's last_seq (raised with them,
        # under this lock): entries above it are neither stored already nor stale, and only
        # the others (re-sends) are looked up.
        seen = [(e, pk) for e, pk in good if e.seq <= stored_seq]
        acked, seen = _applied_before(session, attempt_id, seen, refused)
        seen = _not_stale(session, attempt_id, seen, refused)
        good = seen + [(e, pk) for e, pk in good if e.seq > stored_seq]
        if good:
            conn.execute(
                _INSERT_EVENT,
                [
                    {
                        "attempt_id": attempt_id,
                        "seq": e.seq,
                        "item_version_id": pk,
                        "value": e.value,
                        "flagged": e.flagged,
                        "device": device,
                        "client_at": e.client_at,
                        "received_at": now,
                    }
                    for e, pk in good
                ],
            )
            newest: dict[int, Entry] = {}
            for e, pk in good:
                newest[pk] = e  # sorted by seq: the last one wins
            _upsert_answers(session, attempt_id, newest, now)
            top = max(e.seq for e, _ in good)
            if top > stored_seq:
                conn.execute(_RAISE_LAST_SEQ, {"attempt_id": attempt_id, "top": top})
                stored_seq = top
            acked += [e.seq for e, _ in good]
    now_live = replace(
        a,
        deadline_at=deadline_at,
        extra_seconds=extra_seconds,
        last_seq=stored_seq,
        last_seen_at=now,
    )
    return {
        "acked": sorted(acked),
        "refused": refused,
        "last_seq": stored_seq,
        # The state as of this save: a page that saves needs no heartbeat in between.
        "state": state_of(now_live, who(engine, attempt_id), now),
    }


def _against(
    copy: Numbering, entries: Sequence[Entry]
) -> tuple[list[tuple[Entry, int]], list[dict[str, Any]]]:
    """The entries the candidate's copy takes, each with its question's item version, and the
    refusals of the others."""
    good: list[tuple[Entry, int]] = []
    refused: list[dict[str, Any]] = []
    for e in entries:
        problem = copy.check(e.number, e.value)
        if problem:
            refused.append(_refusal(e.seq, *problem))
        else:
            good.append((e, copy.by_number[e.number].item_version_pk))
    return good, refused


def _save_new_entries(
    engine: Engine, token: str, entries: Sequence[Entry], now: datetime
) -> dict[str, Any] | None:
    """The common save on PostgreSQL in one statement and one round trip: every entry is newer
    than anything stored, and the attempt is open (signed in with this token, active, not
    paused, started, before its deadline). Returns None — having written nothing — when any of
    that does not hold; :func:`save` then takes the general path, which gives each refusal its
    reason. A token new to this process is read first (:func:`live`, with what :func:`who`
    keeps; an attempt not open is refused there, as the general path would refuse it), so that
    the candidate's first save here is two round trips, not the general path's transaction and
    a read of :func:`who`. The rules are the general path's:
    the attempt's row is updated (and so locked) by the same statement that appends the events
    and upserts the answers, and the conditions are checked on the locked row."""
    if not token or len(token) > 128:
        return None
    digest = token_digest(token)
    whose = _whose(engine, digest)
    if whose is None:
        # The candidate's first request to this process: one read to learn whose token it is
        # (an unknown token is refused here as the general path would refuse it).
        found = live(engine, token)
        _open_for_answers(found, now)  # refused as the general path refuses, no paper read
        whose = _Whose(found.id, found.registration_id, found.part, found.made_from)
    copy = COPIES.numbering(engine, whose.registration_id, whose.part, whose.made_from)
    good, refused = _against(copy, entries)
    if not good:
        return None
    row = _driver_row(
        engine,
        _SAVE_NEW_ENTRIES,
        {
            "attempt_id": whose.attempt_id,
            "digest": digest,
            "now": now,
            "low": good[0][0].seq,  # entries are in seq order
            "top": good[-1][0].seq,
            "device": digest[:12],
            "seqs": [e.seq for e, _ in good],
            "items": [pk for _, pk in good],
            "vals": [e.value for e, _ in good],
            "flags": [e.flagged for e, _ in good],
            "client_ats": [e.client_at for e, _ in good],
        },
    )
    if row is None:
        return None
    a = _live(row)
    return {
        "acked": [e.seq for e, _ in good],
        "refused": refused,
        "last_seq": a.last_seq,
        "state": state_of(a, who(engine, a.id), now),
    }


_SAVE_NEW_ENTRIES = """
    WITH a AS (
        UPDATE attempt SET last_seen_at = %(now)s, last_seq = %(top)s
        FROM exam_session s, registration r
        WHERE attempt.id = %(attempt_id)s AND attempt.device_hash = %(digest)s
          AND s.id = attempt.session_id AND s.starts_at <= %(now)s
          AND r.id = attempt.registration_id
          AND attempt.status = 'active' AND attempt.paused_at IS NULL
          AND attempt.deadline_at >= %(now)s AND attempt.last_seq < %(low)s
        RETURNING attempt.id, attempt.registration_id, attempt.seat, attempt.status,
          attempt.paused_at, attempt.deadline_at, attempt.extra_seconds, attempt.last_seq,
          attempt.last_seen_at, attempt.handed_in_at, attempt.device_hash,
          s.starts_at, s.handin_minutes, s.part, r.shuffle_seed, r.admission_no, r.paper_id
    ), e AS (
        SELECT * FROM unnest(
            CAST(%(seqs)s AS integer[]), CAST(%(items)s AS integer[]), CAST(%(vals)s AS text[]),
            CAST(%(flags)s AS boolean[]), CAST(%(client_ats)s AS bigint[])
        ) AS e(seq, item_version_id, value, flagged, client_at)
    ), ev AS (
        INSERT INTO answer_event
            (attempt_id, seq, item_version_id, value, flagged, device, client_at, received_at)
        SELECT a.id, e.seq, e.item_version_id, e.value, e.flagged, %(device)s, e.client_at, %(now)s
        FROM a, e
    ), up AS (
        INSERT INTO attempt_answer (attempt_id, item_version_id, value, flagged, seq, saved_at)
        SELECT a.id, n.item_version_id, n.value, n.flagged, n.seq, %(now)s
        FROM a, (
            SELECT DISTINCT ON (item_version_id) * FROM e ORDER BY item_version_id, seq DESC
        ) AS n
        ON CONFLICT (attempt_id, item_version_id) DO UPDATE
        SET value = EXCLUDED.value, flagged = EXCLUDED.flagged, seq = EXCLUDED.seq,
            saved_at = EXCLUDED.saved_at
        WHERE attempt_answer.seq < EXCLUDED.seq
    )
    SELECT * FROM a
"""
"""The attempt's row, its events and its answers in one data-modifying statement (all parts
see one snapshot; the attempt's row is locked by the UPDATE and its conditions re-checked on
the locked version). The general path's three statements and two round trips of BEGIN and
COMMIT, folded."""


_SEEN_AND_LOCK = (
    update(Attempt)
    .where(col(Attempt.id) == bindparam("attempt_id"))
    .values(last_seen_at=bindparam("now"))
    .returning(
        col(Attempt.status),
        col(Attempt.paused_at),
        col(Attempt.deadline_at),
        col(Attempt.last_seq),
        col(Attempt.extra_seconds),
    )
)
_RAISE_LAST_SEQ = (
    update(Attempt)
    .where(col(Attempt.id) == bindparam("attempt_id"), col(Attempt.last_seq) < bindparam("top"))
    .values(last_seq=bindparam("top"))
)
_INSERT_EVENT = insert(AnswerEvent)


def _applied_before(
    session: Session,
    attempt_id: int,
    good: list[tuple[Entry, int]],
    refused: list[dict[str, Any]],
) -> tuple[list[int], list[tuple[Entry, int]]]:
    """Entries whose seq is stored already: acknowledged again when they say the same, refused
    when they say something else; the rest go on."""
    if not good:
        return [], good
    stored = {
        ev.seq: ev
        for ev in session.exec(
            select(AnswerEvent).where(
                AnswerEvent.attempt_id == attempt_id,
                col(AnswerEvent.seq).in_([e.seq for e, _ in good]),
            )
        )
    }
    acked, rest = [], []
    for e, pk in good:
        ev = stored.get(e.seq)
        if ev is None:
            rest.append((e, pk))
        elif (ev.item_version_id, ev.value, ev.flagged) == (pk, e.value, e.flagged):
            acked.append(e.seq)
        else:
            refused.append(
                _refusal(
                    e.seq,
                    "seq_conflict",
                    f"序号 {e.seq} 已用于另一条作答",
                    f"seq {e.seq} was used for another write",
                )
            )
    return acked, rest


def _not_stale(
    session: Session,
    attempt_id: int,
    good: list[tuple[Entry, int]],
    refused: list[dict[str, Any]],
) -> list[tuple[Entry, int]]:
    """Entries older than the answer stored for their question are refused (``stale``)."""
    if not good:
        return good
    current = dict(
        session.execute(
            select(AttemptAnswer.item_version_id, AttemptAnswer.seq).where(
                AttemptAnswer.attempt_id == attempt_id,
                col(AttemptAnswer.item_version_id).in_({pk for _, pk in good}),
            )
        ).all()
    )
    rest = []
    for e, pk in good:
        if current.get(pk, 0) > e.seq:
            refused.append(
                _refusal(
                    e.seq,
                    "stale",
                    "该题已有更新的作答，此条较旧未采用",
                    "the question holds a newer answer; this older write is not applied",
                )
            )
        else:
            rest.append((e, pk))
    return rest


def _upsert_answers(
    session: Session, attempt_id: int, newest: dict[int, Entry], now: datetime
) -> None:
    conn = session.connection()
    stmt = _UPSERT_ANSWER[conn.dialect.name == "postgresql"]
    for pk, e in newest.items():
        conn.execute(
            stmt,
            {
                "attempt_id": attempt_id,
                "item_version_id": pk,
                "value": e.value,
                "flagged": e.flagged,
                "seq": e.seq,
                "saved_at": now,
            },
        )


def _upsert_statement(dialect: Any) -> Any:
    """``INSERT … ON CONFLICT (attempt, question) DO UPDATE … WHERE stored seq < new seq``."""
    table = AttemptAnswer.__table__  # type: ignore[attr-defined]
    stmt = dialect.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=["attempt_id", "item_version_id"],
        set_={
            "value": stmt.excluded.value,
            "flagged": stmt.excluded.flagged,
            "seq": stmt.excluded.seq,
            "saved_at": stmt.excluded.saved_at,
        },
        where=table.c.seq < stmt.excluded.seq,
    )


_UPSERT_ANSWER = {False: _upsert_statement(sqlite), True: _upsert_statement(postgresql)}
"""Built once per dialect (building one per request cost more than running it)."""


# --- attachments and events --------------------------------------------------------------------


def sniff(data: bytes) -> str | None:
    """The media type of an attachment judged from its first bytes, or None when it is not one
    certify takes."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"PK\x03\x04"):
        return "application/zip"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "text/plain"
    return None


def attach(
    engine: Engine,
    token: str,
    number: int,
    name: str,
    data: bytes,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Keep a file with the answer to subjective question ``number``."""
    now = now or now_utc()
    a = live(engine, token)
    _open_for_answers(a, now)
    copy = COPIES.get(engine, a.registration_id, a.part, a.made_from)
    q = copy.by_number.get(number)
    if q is None or q.type.is_objective:
        raise Refused(
            400,
            "unknown_question",
            "只有主观题（实操题）可以上传附件",
            "only subjective (practical) questions take attachments",
        )
    if len(data) > ATTACHMENT_BYTES:
        raise Refused(
            413,
            "too_large",
            f"附件不能超过 {ATTACHMENT_BYTES // (1024 * 1024)} MB",
            f"an attachment is at most {ATTACHMENT_BYTES // (1024 * 1024)} MB",
        )
    kind = sniff(data)
    if kind is None or not data:
        raise Refused(
            415,
            "bad_type",
            "附件类型不允许（可上传 " + "、".join(ATTACHMENT_TYPES.values()) + "）",
            "this kind of file is not taken (PDF, PNG, JPEG, ZIP/Office, plain text)",
        )
    clean = re.sub(r"[\x00-\x1f/\\<>:\"|?*]", "_", name).strip()[-128:] or "attachment"
    with transaction(engine) as session:
        # The same row lock as a save takes (a hand-in waits for it, or it sees the hand-in).
        status = (
            session.connection().execute(_SEEN_AND_LOCK, {"attempt_id": a.id, "now": now}).one()
        )
        if AttemptStatus(status[0]) is not AttemptStatus.ACTIVE:
            raise Refused(403, "handed_in", "已交卷", "already handed in")
        if status[1] is not None:
            raise Refused(409, "paused", "考试已暂停", "paused")
        if now > utc(status[2]) + SAVE_GRACE:
            raise Refused(403, "deadline_passed", "考试时间已到", "the time is up")
        row = Attachment(
            attempt_id=a.id,
            item_version_id=q.item_version_pk,
            name=clean,
            media_type=kind,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
            device=(a.device_hash or "")[:12],
            uploaded_at=now,
        )
        session.add(row)
        session.flush()
        return {"id": row.id, "name": clean, "size": len(data), "media_type": kind}


EVENT_KINDS = ("blur", "paste", "fullscreen_exit")
"""Page events counted per attempt: evidence for the invigilator, never a punishment."""


def count_events(engine: Engine, token: str, counts: Any) -> dict[str, int]:
    """Add the page's event counts (window left, paste, full-screen exit) to the attempt's."""
    attempt_id = live(engine, token).id
    if not isinstance(counts, dict):
        raise _bad_request("a JSON object of counts is expected")
    add = {}
    for kind in EVENT_KINDS:
        n = counts.get(kind, 0)
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10_000:
            raise _bad_request(f"{kind} is a count")
        add[kind] = n
    with transaction(engine) as session:
        attempt = _locked(session, attempt_id)  # two reports arriving at once both count
        events = dict(attempt.events)
        for kind, n in add.items():
            if n:
                events[kind] = events.get(kind, 0) + n
        attempt.events = events
        session.add(attempt)
    return events


# --- handing in and closing --------------------------------------------------------------------


def hand_in(engine: Engine, token: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The candidate hands in: refused before the earliest hand-in time, and while paused (the
    invigilator resumes or hands in for them)."""
    now = now or now_utc()
    a = live(engine, token)
    _open_for_answers(a, now)
    if a.paused_at is not None:
        raise Refused(409, "paused", "考试已暂停，恢复后方可交卷", "paused: hand in after resuming")
    earliest = a.starts_at + timedelta(minutes=a.handin_minutes)
    if now < earliest:
        minutes = a.handin_minutes
        raise Refused(
            403,
            "too_early",
            f"开考 {minutes} 分钟后方可交卷",
            f"hand-in opens {minutes} minutes after the start",
        )
    reason = FinishReason.DEADLINE if a.due(now) else FinishReason.CANDIDATE
    close(engine, a.id, reason=reason, now=now)
    return state(engine, token, now=now)


def close(
    engine: Engine,
    attempt_id: int,
    *,
    reason: FinishReason,
    now: datetime | None = None,
    actor: str = "candidate",
    note: str = "",
) -> bool:
    """Close an attempt in its own transaction; False when it was closed already."""
    now = now or now_utc()
    with transaction(engine) as session:
        closed = close_in(
            session, engine, attempt_id, reason=reason, now=now, actor=actor, note=note
        )
    if closed:
        score_objective(engine, attempt_id)
    return closed


def _locked(session: Session, attempt_id: int) -> Attempt:
    """The attempt, read under its row lock in the caller's transaction. The lock is taken by a
    write: SQLite ignores FOR UPDATE and its driver begins the transaction only at the first
    write, so a SELECT first would read outside the transaction."""
    session.execute(update(Attempt).where(col(Attempt.id) == attempt_id).values(id=col(Attempt.id)))
    return session.exec(
        select(Attempt)
        .where(Attempt.id == attempt_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def close_in(
    session: Session,
    engine: Engine,
    attempt_id: int,
    *,
    reason: FinishReason,
    now: datetime,
    actor: str,
    note: str = "",
) -> bool:
    """Close the attempt inside the caller's transaction, under its row lock: write its answers
    as ``response`` rows and mark it handed in (finish time: now, or the deadline when the
    deadline closed it). A candidate who never signed in is recorded absent at the deadline.
    False when the attempt was closed already (by another process, say)."""
    attempt = _locked(session, attempt_id)  # two closers never both see it open
    if attempt.status in (AttemptStatus.HANDED_IN, AttemptStatus.ABSENT):
        return False
    room_id = attempt.room_id
    if attempt.status is AttemptStatus.WAITING:
        if reason is not FinishReason.DEADLINE:
            return False
        attempt.status = AttemptStatus.ABSENT
        session.add(attempt)
        session.add(
            ExamIncident(
                room_id=room_id,
                attempt_id=attempt_id,
                kind=IncidentKind.ABSENT,
                actor=actor,
                note="未登录，到时记为缺考",
                at=now,
            )
        )
        return True
    deadline = utc(attempt.deadline_at)
    if attempt.paused_at is not None:
        # closing a paused attempt (a forced hand-in): its clock stopped at the pause, so its
        # deadline has moved on by the time paused so far (as resuming would move it)
        deadline += now - utc(attempt.paused_at)
    finish = deadline if reason is FinishReason.DEADLINE else min(now, deadline)
    ex = session.get(ExamSession, attempt.session_id)
    assert ex is not None
    copy: Copy = COPIES.get(engine, attempt.registration_id, ex.part)
    answers = {
        a.item_version_id: a.value
        for a in session.exec(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt_id))
    }
    pks = [q.item_version_pk for q in copy.questions]
    session.execute(
        delete(Response).where(
            col(Response.registration_id) == attempt.registration_id,
            col(Response.item_version_id).in_(pks),
        )
    )
    session.execute(
        insert(Response),
        [
            {
                "registration_id": attempt.registration_id,
                "item_version_id": pk,
                "raw": answers.get(pk, ""),
                "recorded_at": finish,
            }
            for pk in pks
        ],
    )
    attempt.status = AttemptStatus.HANDED_IN
    attempt.handed_in_at = finish
    attempt.finish_reason = reason
    attempt.paused_at = None
    session.add(attempt)
    kind = (
        IncidentKind.FORCE_HAND_IN if reason is FinishReason.INVIGILATOR else IncidentKind.HAND_IN
    )
    session.add(
        ExamIncident(
            room_id=room_id,
            attempt_id=attempt_id,
            kind=kind,
            actor=actor,
            note=note,
            detail={"reason": reason.value, "answered": sum(1 for v in answers.values() if v)},
            at=now,
        )
    )
    return True


def score_objective(engine: Engine, attempt_id: int) -> float | None:
    """Score the machine-scored questions of a closed attempt with the grading core, as soon as
    it is handed in, and keep the points with the attempt (the office sees them at once; results
    come from grading the sitting as ever)."""
    return score_objectives(engine, [attempt_id]).get(attempt_id)


def score_objectives(engine: Engine, attempt_ids: Sequence[int]) -> dict[int, float]:
    """:func:`score_objective` for many attempts: one pass of the grading core per sitting."""
    from certify.grading.service import score_sitting

    if not attempt_ids:
        return {}
    with Session(engine) as session:
        rows = session.exec(
            select(Attempt, Registration, Sitting, ExamSession)
            .join(Registration, col(Registration.id) == col(Attempt.registration_id))
            .join(ExamSession, col(ExamSession.id) == col(Attempt.session_id))
            .join(Sitting, col(Sitting.id) == col(ExamSession.sitting_id))
            .where(
                col(Attempt.id).in_(list(attempt_ids)),
                col(Attempt.status) == AttemptStatus.HANDED_IN.value,
            )
        ).all()
    by_sitting: dict[int, list[Any]] = {}
    for row in rows:
        by_sitting.setdefault(row[2].id or 0, []).append(row)
    points: dict[int, float] = {}
    for group in by_sitting.values():
        sitting = group[0][2]
        copies = {
            reg.admission_no: (reg, COPIES.get(engine, reg.id or 0, ex.part))
            for _, reg, _, ex in group
        }
        _, scores = score_sitting(
            engine,
            sitting.code,
            copies=(sitting, {k: (reg, copy.view) for k, (reg, copy) in copies.items()}),
            provisional=True,  # the hand-in's score: the sitting's grading replaces it
        )
        by_admission = {s.admission_no: s for s in scores}
        for attempt, reg, _, _ in group:
            copy = copies[reg.admission_no][1]
            objective = {q.item_version_pk for q in copy.questions if q.type.is_objective}
            questions = by_admission[reg.admission_no].questions
            points[attempt.id or 0] = round(
                sum(v for pk, v in questions.items() if pk in objective), 4
            )
    with transaction(engine) as session:
        for attempt_id, value in points.items():
            session.execute(
                update(Attempt).where(col(Attempt.id) == attempt_id).values(objective_score=value)
            )
    return points


@dataclass(frozen=True)
class Swept:
    handed_in: int
    absent: int
    attempts: tuple[int, ...] = field(default=(), compare=False)
    """The attempts this round closed (handed in or recorded absent), by id (not compared:
    two rounds are equal when they closed as many)."""


SWEEP_BATCH = 25
"""Attempts one sweeper transaction closes: a batch holds SQLite's single write lock (and
PostgreSQL's row locks) for tens of milliseconds, not the whole sweep, so candidates' saves go
on between batches."""


def sweep(engine: Engine, *, now: datetime | None = None, limit: int = 500) -> Swept:
    """Close every attempt past its deadline and the grace (not paused): handed in with the
    deadline as finish time, or absent if the candidate never signed in; then score what was
    handed in, one pass of the grading core per sitting.

    Safe to run in any number of processes at once: on PostgreSQL each takes the due attempts
    with ``FOR UPDATE SKIP LOCKED`` (none waits for, or closes, another's), and closing locks
    the attempt's row with a write before reading it, so an attempt is closed once. Closing goes
    in transactions of :data:`SWEEP_BATCH` attempts, up to ``limit`` a call.
    """
    now = now or now_utc()
    closed: list[int] = []
    absentees: list[int] = []
    while len(closed) + len(absentees) < limit:
        with transaction(engine) as session:
            due = session.exec(
                select(Attempt.id, Attempt.status)
                .where(
                    col(Attempt.status).in_(
                        [AttemptStatus.ACTIVE.value, AttemptStatus.WAITING.value]
                    ),
                    col(Attempt.paused_at).is_(None),
                    col(Attempt.deadline_at) < now - SAVE_GRACE,
                    # a paper its custodians never opened was never shown: nothing to hand in
                    col(Attempt.registration_id).not_in(unopened_registrations()),
                )
                .order_by(col(Attempt.deadline_at), col(Attempt.id))
                .limit(min(SWEEP_BATCH, limit - len(closed) - len(absentees)))
                .with_for_update(skip_locked=True)
            ).all()
            for attempt_id, status in due:
                if close_in(
                    session,
                    engine,
                    attempt_id or 0,
                    reason=FinishReason.DEADLINE,
                    now=now,
                    actor="sweeper",
                ):
                    waiting = AttemptStatus(status) is AttemptStatus.WAITING
                    (absentees if waiting else closed).append(attempt_id or 0)
        if len(due) < SWEEP_BATCH:
            break
    score_objectives(engine, closed)
    return Swept(len(closed), len(absentees), tuple(closed + absentees))


def attempt_deadline(
    session: ExamSession, extra_seconds: int = 0, paused_seconds: int = 0
) -> datetime:
    """The deadline of an attempt in ``session`` with this extra time and time paused."""
    return utc(session.starts_at) + timedelta(
        minutes=session.duration_minutes, seconds=extra_seconds + paused_seconds
    )


__all__ = [
    "ATTACHMENT_BYTES",
    "Entry",
    "attach",
    "attempt_deadline",
    "close",
    "count_events",
    "hand_in",
    "live",
    "paper",
    "parse_entries",
    "save",
    "sign_in",
    "state",
    "sweep",
]
