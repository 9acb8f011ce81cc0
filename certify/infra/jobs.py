"""后台任务: work too long for one request — assembling papers, issuing a sitting's certificates —
kept as rows of the ``job`` table and run by worker threads of the web processes.

A request *submits* a job (kind, subject, parameters, the account) and answers at once; a
:class:`JobRunner` thread in any process *claims* it with a compare-and-set update (so each job
runs once however many processes poll), runs the kind's handler, which reports ``done`` out of
``total`` through :class:`Progress`, and records the result or the error. Every page reads the
progress from the row, so it survives a reload and shows the same in every process.

A running job's process writes a heartbeat every few seconds. A job still ``running`` whose
heartbeat is older than :data:`STALE_AFTER` was left by a process that died or was stopped: it is
shown as interrupted, and :func:`resume_job` queues it again (its handler starts over and must
pick up what the earlier attempt already stored). ``lock_key`` is held from submission to the end,
through an interruption, so one job at a time holds it (one assembly per occupation and level,
one issuance per sitting).

A *held* job needs something only its own process has — issuing needs the signing key, opened
with a passphrase typed in the browser and kept in that process's memory alone. It is never
queued: :func:`submit_job` (or :func:`resume_job`) with ``worker`` writes it already claimed by a
worker of this process, which :func:`start_held` runs on its own thread; no runner elsewhere can
claim it, since runners claim queued jobs only. When that process is gone the job shows as
interrupted like any other, and whoever resumes it gives what it needs again."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import ALL_INSTITUTIONS, transaction
from certify.infra.errors import (
    DatabaseError,
    Error,
    InputError,
    JobNotFound,
    Problem,
    ValidationFailed,
)
from schemas.enums import JobState
from schemas.tables import Job, utcnow

log = logging.getLogger("certify.jobs")

STALE_AFTER = timedelta(seconds=30)
"""A running job whose heartbeat is older than this was left by a process that stopped."""
HEARTBEAT_SECONDS = 5.0
"""How often a running job's process says it is alive (well inside :data:`STALE_AFTER`)."""
AUTO_RESUME_ATTEMPTS = 3
"""A job of a kind its runner resumes by itself is left to a person after this many attempts
(one that brings its process down each time is not run for ever)."""
PROBLEMS_KEPT = 10_000
"""A failed job keeps at most this many of its input's problems (and says how many there were)."""


class JobBusy(Error):
    """Another job holds the same lock key (one at a time per occupation and level, …)."""

    code = "job_busy"

    def __init__(self, holder: JobView) -> None:
        self.holder = holder
        state = "已中断" if holder.interrupted else holder.state.zh
        super().__init__(
            f"后台任务 {holder.id}（{holder.subject}，{state}）正在进行，请等它结束后再试"
            f"{'，或继续执行它' if holder.interrupted else ''}。\n"
            f"Job {holder.id} ({holder.subject}, "
            f"{'interrupted' if holder.interrupted else holder.state.value}) holds this; wait for "
            f"it to end{', or resume it' if holder.interrupted else ''}."
        )


class JobLost(Error):
    """The job was taken from this worker (resumed elsewhere as interrupted): stop working."""

    code = "job_lost"


class NotInterrupted(Error):
    code = "job_not_interrupted"

    def __init__(self, job: JobView) -> None:
        super().__init__(
            f"后台任务 {job.id} 未中断（{job.state.zh}），无需继续 / "
            f"job {job.id} is not interrupted ({job.state.value}); there is nothing to resume"
        )


def aware(moment: datetime | None) -> datetime | None:
    """A time read from the database, in UTC: SQLite hands back naive datetimes."""
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


@dataclass(frozen=True)
class JobView:
    """A job as read at one moment."""

    id: int
    kind: str
    subject: str
    params: dict[str, Any]
    state: JobState
    done: int
    total: int
    step: str
    result: dict[str, Any]
    error: str
    actor: str
    account_id: int | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    interrupted: bool
    """Running, but its process stopped sending heartbeats: it may be resumed."""

    @classmethod
    def of(cls, row: Job, now: datetime) -> JobView:
        beat = aware(row.heartbeat_at)
        stale = row.state is JobState.RUNNING and (beat is None or now - beat > STALE_AFTER)
        return cls(
            id=row.id or 0,
            kind=row.kind,
            subject=row.subject,
            params=dict(row.params),
            state=row.state,
            done=row.done,
            total=row.total,
            step=row.step,
            result=dict(row.result),
            error=row.error,
            actor=row.actor,
            account_id=row.account_id,
            attempts=row.attempts,
            created_at=aware(row.created_at) or now,
            started_at=aware(row.started_at),
            heartbeat_at=beat,
            finished_at=aware(row.finished_at),
            interrupted=stale,
        )

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)

    @property
    def problems(self) -> list[Problem]:
        """The problems of the input a failed job was refused for, row by row (none otherwise)."""
        return [Problem(**p) for p in self.result.get("problems", ())]

    @property
    def percent(self) -> int:
        """Whole per cent done (100 once done; 0 while the total is unknown)."""
        if self.state is JobState.DONE:
            return 100
        return 100 * self.done // self.total if self.total else 0

    @property
    def label_zh(self) -> str:
        return "已中断" if self.interrupted else self.state.zh

    @property
    def label_en(self) -> str:
        return "Interrupted" if self.interrupted else self.state.en

    def public(self) -> dict[str, Any]:
        """What a page polling the job reads (no parameters, no account)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "subject": self.subject,
            "state": self.state.value,
            "interrupted": self.interrupted,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "done": self.done,
            "total": self.total,
            "percent": self.percent,
            "step": self.step,
            "error": self.error,
            "finished": self.finished,
        }


def submit_job(
    engine: Engine,
    kind: str,
    subject: str,
    *,
    lock_key: str,
    params: Mapping[str, Any] | None = None,
    actor: str,
    account_id: int | None = None,
    worker: str | None = None,
) -> JobView:
    """Queue a job, or with ``worker`` (a held job) write it already running under that worker
    of this process; raises JobBusy naming the job that holds ``lock_key`` (queued, running or
    interrupted)."""
    now = utcnow()
    row = Job(
        kind=kind,
        subject=subject[:128],
        params=dict(params or {}),
        lock_key=lock_key[:200],
        actor=actor,
        account_id=account_id,
    )
    if worker is not None:
        row.state, row.worker, row.attempts = JobState.RUNNING, worker, 1
        row.started_at = row.heartbeat_at = now
    try:
        with transaction(engine) as session:
            session.add(row)
            session.flush()
            return JobView.of(row, now)
    except DatabaseError:
        holder = job_holding(engine, lock_key)
        if holder is None:  # it ended meanwhile: the key is free again
            return submit_job(
                engine, kind, subject, lock_key=lock_key, params=params, actor=actor,
                account_id=account_id, worker=worker,
            )  # fmt: skip
        raise JobBusy(holder) from None


def job_holding(engine: Engine, lock_key: str) -> JobView | None:
    """The job that holds ``lock_key`` now, if any — whichever institution's it is; one the
    caller may not see is told as another institution's job, and nothing more."""
    with Session(engine) as session:
        held = select(Job).where(col(Job.lock_key) == lock_key[:200])
        row = session.exec(held.execution_options(**ALL_INSTITUTIONS)).first()
        if row is None:
            return None
        if session.exec(select(Job.id).where(col(Job.id) == row.id)).first() is None:
            hidden = Job(
                id=0,
                kind=row.kind,
                subject="另一机构的任务 another institution's job",
                state=row.state,
                created_at=row.created_at,
            )
            return JobView.of(hidden, utcnow())
        return JobView.of(row, utcnow())


def get_job(engine: Engine, job_id: int) -> JobView:
    """The job ``job_id``; raises JobNotFound."""
    with Session(engine) as session:
        row = session.get(Job, job_id)
        if row is None:
            raise JobNotFound(job_id)
        return JobView.of(row, utcnow())


def latest_job(
    engine: Engine, kind: str, subject: str, *, state: JobState | None = None
) -> JobView | None:
    """The newest job of ``kind`` about ``subject`` (in ``state``, if given), if any."""
    query = select(Job).where(col(Job.kind) == kind, col(Job.subject) == subject)
    if state is not None:
        query = query.where(col(Job.state) == state)
    with Session(engine) as session:
        row = session.exec(query.order_by(col(Job.id).desc()).limit(1)).first()
        return JobView.of(row, utcnow()) if row else None


def resume_job(engine: Engine, job_id: int, *, actor: str, worker: str | None = None) -> JobView:
    """Queue an interrupted job again, or with ``worker`` (a held job) hand it straight to that
    worker of this process (audited as ``job.resume``); raises NotInterrupted for a job that is
    queued, alive, done or failed, JobNotFound for none."""
    seen = get_job(engine, job_id)
    if not seen.interrupted:
        raise NotInterrupted(seen)
    now = utcnow()
    again: dict[str, Any] = (
        {"state": JobState.QUEUED, "worker": None}
        if worker is None
        else {
            "state": JobState.RUNNING,
            "worker": worker,
            "attempts": seen.attempts + 1,
            "started_at": now,
            "heartbeat_at": now,
        }
    )
    with transaction(engine) as session:
        changed = session.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.state) == JobState.RUNNING)
            .where(col(Job.attempts) == seen.attempts)
            .where(col(Job.heartbeat_at) == seen.heartbeat_at)
            .values(done=0, step="", error="", **again)
        )
        # A heartbeat came meanwhile, or someone resumed it first.
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise NotInterrupted(get_job(engine, job_id))
        audit_log.append(
            session,
            actor=actor,
            action="job.resume",
            subject=str(job_id),
            detail={"kind": seen.kind, "subject": seen.subject, "attempts": seen.attempts},
        )
    return get_job(engine, job_id)


def resume_interrupted(
    engine: Engine, kinds: Collection[str], *, actor: str = "certify:jobs"
) -> list[JobView]:
    """Queue again every interrupted job of ``kinds`` (those safe to run again unattended, as
    an import is: one transaction, refused whole if it went in already) that has run fewer than
    :data:`AUTO_RESUME_ATTEMPTS` times; each is audited as ``job.resume`` under ``actor``."""
    if not kinds:
        return []
    cutoff = utcnow() - STALE_AFTER
    with Session(engine) as session:
        stale = session.exec(
            select(Job.id)
            .where(col(Job.state) == JobState.RUNNING, col(Job.kind).in_(sorted(kinds)))
            .where(col(Job.heartbeat_at) < cutoff, col(Job.attempts) < AUTO_RESUME_ATTEMPTS)
        ).all()
    resumed = []
    for job_id in stale:
        try:
            resumed.append(resume_job(engine, job_id or 0, actor=actor))
        except NotInterrupted:  # it beat, or another runner resumed it first
            continue
    return resumed


# --- the worker's side -----------------------------------------------------------------------


def worker_name() -> str:
    """This thread of this process on this machine, as stored in ``job.worker``."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{threading.get_ident() % 10**9}"


def held_worker_name() -> str:
    """A new worker of this process for one held job (the thread :func:`start_held` starts)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:held-{secrets.token_hex(6)}"


def claim_job(engine: Engine, worker: str, kinds: Mapping[str, Any]) -> JobView | None:
    """Take the oldest queued job of one of ``kinds`` for ``worker``, or None.

    A compare-and-set on the state: when several processes try for the same job, the database
    lets one update through and the others find it taken (PostgreSQL re-checks the condition
    after the winner commits; SQLite writes one at a time)."""
    with Session(engine) as session:
        waiting = [
            int(job_id)
            for job_id in session.exec(
                select(col(Job.id))
                .where(col(Job.state) == JobState.QUEUED, col(Job.kind).in_(list(kinds)))
                .order_by(col(Job.id))
                .limit(10)
            )
            if job_id is not None
        ]
    for job_id in waiting:
        now = utcnow()
        with transaction(engine) as session:
            taken = session.execute(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.state) == JobState.QUEUED)
                .values(
                    state=JobState.RUNNING,
                    worker=worker,
                    attempts=col(Job.attempts) + 1,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return get_job(engine, job_id)
    return None


class Progress:
    """What a handler reports while it works: ``done`` out of ``total`` and the current step.

    ``done`` never exceeds ``total`` and never goes back; a total set below what is done is
    raised to it. Every report is also a heartbeat. Raises JobLost once the job was resumed
    elsewhere, so a worker that was only slow stops instead of working twice."""

    def __init__(self, engine: Engine, job: JobView, worker: str) -> None:
        self.engine = engine
        self.job_id = job.id
        self.attempt = job.attempts
        self.worker = worker
        self.done = 0
        self.total = 0
        self.step = ""
        self.ended: list[Callable[[], None]] = []

    def when_ended(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the job's end (done or failed) is recorded — never when the job
        was taken over by another worker, nor when its end could not be recorded (the job then
        shows as interrupted, and whatever ``action`` would clean up is still there to resume
        from)."""
        self.ended.append(action)

    def start(self, total: int, step: str = "") -> None:
        """Set how many steps there are (at least what is done already)."""
        self.total = max(int(total), self.done, 0)
        self._write(step)

    def advance(self, steps: int = 1, step: str | None = None) -> None:
        """Count ``steps`` more done (at most up to the total) and say what comes next."""
        self.done = min(self.done + max(int(steps), 0), self.total)
        self._write(self.step if step is None else step)

    def _write(self, step: str) -> None:
        self.step = step[:200]
        self._update(done=self.done, total=self.total, step=self.step, heartbeat_at=utcnow())

    def beat(self) -> None:
        self._update(heartbeat_at=utcnow())

    def _update(self, **values: Any) -> None:
        with transaction(self.engine) as session:
            changed = session.execute(
                update(Job)
                .where(col(Job.id) == self.job_id, col(Job.state) == JobState.RUNNING)
                .where(col(Job.worker) == self.worker, col(Job.attempts) == self.attempt)
                .values(**values)
            )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise JobLost(f"job {self.job_id} was resumed elsewhere")

    def finish(self, result: Mapping[str, Any]) -> None:
        self._update(
            state=JobState.DONE,
            done=self.total,
            step="",
            result=dict(result),
            lock_key=None,
            finished_at=utcnow(),
        )

    def fail(self, error: str, result: Mapping[str, Any] | None = None) -> None:
        self._update(
            state=JobState.FAILED,
            error=error,
            result=dict(result or {}),
            lock_key=None,
            finished_at=utcnow(),
        )


Handler = Callable[[Engine, JobView, Progress], Mapping[str, Any]]
"""Runs one job of a kind: reports through the Progress, returns the result to store; a
certify Error it raises is stored as the job's error (a person can act on it)."""


def run_job(engine: Engine, job: JobView, handler: Handler, worker: str) -> JobView:
    """Run a claimed job to its end, with a heartbeat on another thread meanwhile."""
    progress = Progress(engine, job, worker)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                progress.beat()
            except JobLost:  # taken over: the handler finds out at its next report
                return
            except Exception:  # the database is away, or busy with this job's own write
                continue  # (SQLite): say so again at the next beat

    beating = threading.Thread(target=heartbeat, name=f"certify-job-{job.id}-beat", daemon=True)
    beating.start()
    try:
        try:
            result = handler(engine, job, progress)
            progress.finish(result)
        except JobLost:
            raise
        except Error as exc:
            progress.fail(*failure(exc))
        except Exception:
            log.exception("job %d (%s) failed", job.id, job.kind)
            progress.fail("服务器出错，错误已记录 / the server failed; the error is logged")
        for action in progress.ended:
            action()
    except JobLost:
        log.warning("job %d was resumed elsewhere; this worker stopped", job.id)
    finally:
        stop.set()
    return get_job(engine, job.id)


def failure(exc: Error) -> tuple[str, dict[str, Any]]:
    """What a job that raised ``exc`` keeps: the error in words, and as its result the problems
    row by row (``problems``, as many as :data:`PROBLEMS_KEPT`; ``problem_count``, all of them)
    when the error is about an input file, for the job's page to show as a table and a CSV."""
    if isinstance(exc, ValidationFailed):
        found = exc.problems
        error = "\n".join(exc.diagnostics().splitlines()[:2])
    elif isinstance(exc, InputError):
        found = [exc.problem]
        error = exc.diagnostics()
    else:
        return exc.diagnostics(), {}
    problems = [dataclasses.asdict(p) for p in found[:PROBLEMS_KEPT]]
    return error, {"problems": problems, "problem_count": len(found)}


def start_held(engine: Engine, job: JobView, handler: Handler, worker: str) -> threading.Thread:
    """Run the held job ``job`` (written as claimed by ``worker``) on a new daemon thread of
    this process; the handler keeps whatever it closes over (an opened key) in this process's
    memory only, and drops it when the thread ends."""
    thread = threading.Thread(
        target=run_job,
        args=(engine, job, handler, worker),
        name=f"certify-job-{job.id}",
        daemon=True,
    )
    thread.start()
    return thread


class JobRunner:
    """Runs queued jobs on a daemon thread of this process, polling every ``seconds`` (and at
    once when this process queued one): started by the first request, so each gunicorn worker
    runs its own after the fork. ``seconds`` ≤ 0: no thread (another process runs them, or
    :meth:`run_pending` does, as tests do)."""

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Handler],
        seconds: float,
        auto_resume: Collection[str] = (),
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.seconds = seconds
        self.auto_resume = frozenset(auto_resume) & frozenset(handlers)
        """Kinds whose interrupted jobs this runner queues again by itself."""
        self.pid = 0
        self.lock = threading.Lock()
        self.wakeup = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def ensure_running(self) -> None:
        if self.seconds <= 0 or self.pid == os.getpid():
            return
        with self.lock:
            if self.pid == os.getpid():
                return
            self.pid = os.getpid()
            self.stopping.clear()
            self.thread = threading.Thread(target=self._loop, name="certify-jobs", daemon=True)
            self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop this process's thread once the job it runs (if any) has ended, and wait for it
        (an app shut down before its database, as tests do, leaves no thread polling a
        database that is gone)."""
        self.stopping.set()
        self.wakeup.set()
        thread, self.thread = self.thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.pid = 0

    def wake(self) -> None:
        """A job was queued here: look now rather than at the next poll."""
        self.wakeup.set()

    def run_pending(self) -> list[JobView]:
        """Run queued jobs on this thread until none is left; returns them as they ended."""
        ran = []
        worker = worker_name()
        resume_interrupted(self.engine, self.auto_resume)
        while (
            not self.stopping.is_set()
            and (job := claim_job(self.engine, worker, self.handlers)) is not None
        ):
            ran.append(run_job(self.engine, job, self.handlers[job.kind], worker))
        return ran

    def _loop(self) -> None:
        failing = False
        while not self.stopping.is_set():
            self.wakeup.wait(self.seconds)
            self.wakeup.clear()
            if self.stopping.is_set():
                return
            try:
                self.run_pending()
                failing = False
            except Exception:  # the database is away: try again at the next poll
                if not failing:  # logged once per outage, not every poll
                    log.exception("job runner round failed; retrying quietly until one succeeds")
                failing = True
