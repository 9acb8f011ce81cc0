"""Issuing certificates end to end: keys, trust list, issuance, offline verification, revocation."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from certify.certificates.publication import publish
from certify.infra.db import make_engine
from schemas.tables import AuditEntry, Certificate
from tests.certify.exam_helpers import graded_sitting, run
from tests.certify.signing_helpers import PASS
from tests.conftest import Database, PostgresServer


@pytest.fixture
def graded(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """A graded sitting of 30 simulated candidates, its pass list published and the notice
    period over, and the keys to certify them."""
    monkeypatch.setenv("CERTIFY_KEY_PASSPHRASE", PASS)
    graded_sitting(database, tmp_path)
    # The pass list was published two weeks ago; its seven-day notice period is over.
    publish(
        database.engine,
        "S1",
        tmp_path / "notice",
        days=7,
        opened_on=date.today() - timedelta(days=14),
    )
    for args in (
        ["keys", "root", "--issuer", "SD-HRSS", "--name", "山东省人力资源和社会保障厅"],
        ["keys", "create", "SD-EVAL-01", "--name", "测试评价机构", "--occupations", "ai"],
    ):
        run(database, *args)
    return database


def test_issue_verify_offline_revoke(graded: Database, tmp_path: Path) -> None:
    out = run(graded, "issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(tmp_path / "certs"))
    with Session(graded.engine) as session:
        certs = session.exec(select(Certificate).order_by(col(Certificate.serial))).all()
    assert certs and f"issued {len(certs)}" in out
    assert [c.serial[-6:] for c in certs] == [f"{n:06d}" for n in range(1, len(certs) + 1)]
    assert all(c.serial.startswith(f"37{certs[0].issued_on.year % 100:02d}011") for c in certs)
    run(graded, "trust-list", "--out", str(tmp_path / "trust.json"))
    run(graded, "revocations", "--out", str(tmp_path / "fresh.json"))
    pdf = tmp_path / "certs" / f"{certs[0].serial}.pdf"
    trust_list = ("--trust-list", str(tmp_path / "trust.json"))
    checked = run(
        graded, "verify", str(pdf), *trust_list, "--revocations", str(tmp_path / "fresh.json")
    )
    assert "genuine and valid" in checked and certs[0].serial in checked
    # Without a revocation list the signature is genuine but the status unknown: never "valid".
    unknown = run(graded, "verify", str(pdf), *trust_list, code=3)
    assert "status unknown" in unknown and "genuine and valid" not in unknown
    again = run(graded, "issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(tmp_path / "certs"))
    assert "issued 0" in again
    run(graded, "revoke", certs[0].serial, "--reason", "考试违纪")
    run(graded, "revocations", "--out", str(tmp_path / "revoked.json"))
    revoked = run(
        graded,
        "verify",
        str(pdf),
        "--trust-list",
        str(tmp_path / "trust.json"),
        "--revocations",
        str(tmp_path / "revoked.json"),
        code=1,
    )
    assert "revoked" in revoked and "考试违纪" in revoked
    run(graded, "revoke", "0000000000000", "--reason", "x", code=1)
    with Session(graded.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEntry))]
    assert actions.count("certificate.issue") == len(certs) and "certificate.revoke" in actions
    assert "key.create" in actions


def test_a_wrong_passphrase_issues_nothing(
    graded: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTIFY_KEY_PASSPHRASE", "wrong passphrase here")
    out = run(graded, "issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(tmp_path / "c"), code=1)
    assert "wrong passphrase" in out
    with Session(graded.engine) as session:
        assert session.exec(select(Certificate)).all() == []


def test_verify_refuses_pictures_without_a_code_and_foreign_pdfs(
    graded: Database, tmp_path: Path
) -> None:
    from PIL import Image

    run(graded, "trust-list", "--out", str(tmp_path / "trust.json"))
    Image.new("L", (200, 200), 255).save(tmp_path / "blank.png")
    out = run(
        graded,
        "verify",
        str(tmp_path / "blank.png"),
        "--trust-list",
        str(tmp_path / "trust.json"),
        code=1,
    )
    assert "no QR code" in out
    (tmp_path / "other.pdf").write_bytes(b"%PDF-1.4 not really")
    out = run(
        graded,
        "verify",
        str(tmp_path / "other.pdf"),
        "--trust-list",
        str(tmp_path / "trust.json"),
        code=1,
    )
    assert "not a readable PDF" in out or "no QR code" in out
    trust = json.loads((tmp_path / "trust.json").read_text())
    trust["keys"][0]["name"] = "冒充"
    (tmp_path / "bad.json").write_text(json.dumps(trust, ensure_ascii=False))
    out = run(graded, "verify", "X", "--trust-list", str(tmp_path / "bad.json"), code=1)
    assert "root signature" in out


def test_verify_needs_a_pinned_root(graded: Database, tmp_path: Path) -> None:
    """Away from the institution's database, a trust list is only believed under a root given
    by kid; a list signed by a forger's own root is refused, and --any-root warns."""
    from click.testing import CliRunner

    from cli import cli

    out = tmp_path / "certs"
    run(graded, "issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(out))
    run(graded, "trust-list", "--out", str(tmp_path / "trust.json"))
    pdf = next(out.glob("*.pdf"))
    root = json.loads((tmp_path / "trust.json").read_text())["root_kid"]
    elsewhere = ["--db", f"sqlite:///{tmp_path / 'no-such.db'}", "verify", str(pdf)]
    elsewhere += ["--trust-list", str(tmp_path / "trust.json")]

    def verify(*extra: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, [*elsewhere, *extra], catch_exceptions=False)
        return result.exit_code, result.output

    code, text = verify()
    assert code == 1 and "no pinned root" in text and "Traceback" not in text
    assert not (tmp_path / "no-such.db").exists()
    code, text = verify("--root-kid", root)
    assert code == 3 and "status unknown" in text
    code, text = verify("--root-kid", "0" * 16)
    assert code == 1 and "pinned" in text
    code, text = verify("--any-root")
    assert code == 3 and "not pinned" in text


def issue_command(database: Database, out: Path, *options: str) -> list[str]:
    """`certify issue` for the sitting, as a separate process would run it."""
    command = ["-m", "certify", "--db", database.url, "issue", "S1", "--issuer", "SD-EVAL-01"]
    return [sys.executable, *command, "--out", str(out), *options]


def issued(database: Database) -> list[Certificate]:
    with Session(database.engine) as session:
        return list(session.exec(select(Certificate).order_by(col(Certificate.serial))))


def pdfs_in(folder: Path) -> dict[str, int]:
    """Serial → inode of every certificate PDF in the folder (a rewritten file has a new one)."""
    return {p.stem: p.stat().st_ino for p in folder.glob("*.pdf")}


def kill_where(
    process: subprocess.Popen[bytes], holds: Callable[[], bool], point: str, within: float = 240
) -> None:
    """SIGKILL the run at a moment where ``holds()`` is true: poll for it, stop the process
    (SIGSTOP), ask again while it cannot move, and kill it then; if the moment passed in
    between, let it go on and poll again. Fails if the run ends first."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the run ended before {point}"
        if holds():
            process.send_signal(signal.SIGSTOP)
            if holds():
                process.kill()
                process.wait()
                return
            process.send_signal(signal.SIGCONT)
        time.sleep(0.002)
    process.kill()
    process.wait()
    raise AssertionError(f"the run did not reach {point}")


def wait_for(holds: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 240
    while not holds():
        assert time.monotonic() < deadline
        time.sleep(0.002)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def signal_all(pids: list[int], sent: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sent)


def a_batch_holds_its_serials(database: Database) -> Callable[[], bool]:
    """Whether a batch's transaction is open with its serials taken, uncommitted. PostgreSQL:
    one session holds both the sitting's row lock a batch begins with and the serial counter's
    (taken apart, they would be two sessions). SQLite: a writer holds the database's one write
    lock, and still does 0.2 s later (a transaction that takes its serials apart is over in
    milliseconds)."""
    if database.backend == "sqlite":
        path = make_url(database.url).database or ""

        def writing() -> bool:
            probe = sqlite3.connect(path, timeout=0)
            try:
                probe.execute("BEGIN IMMEDIATE")  # refused at once while another writes
                probe.rollback()
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                probe.close()

        def write_lock_stays() -> bool:
            if not writing():
                return False
            time.sleep(0.2)
            return writing()

        return write_lock_stays
    both = text(
        "SELECT count(*) FROM pg_locks s JOIN pg_locks c ON c.pid = s.pid"
        " WHERE s.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND c.database = s.database AND s.granted AND c.granted"
        " AND s.relation = 'sitting'::regclass AND s.mode = 'RowShareLock'"
        " AND c.relation = 'serial_counter'::regclass AND c.mode = 'RowExclusiveLock'"
    )

    def both_locks() -> bool:
        with database.engine.connect() as probe:
            return bool(probe.execute(both).scalar_one())

    return both_locks


def kill_inside_a_batch(database: Database, process: subprocess.Popen[bytes], out: Path) -> None:
    """Once a batch is in, kill the run inside the next one's transaction, between taking its
    serials and committing: its render processes are stopped, so it waits for its PDFs there."""
    wait_for(lambda: len(pdfs_in(out)) >= 3)
    renderers = children_of(process.pid)
    assert renderers, "no render processes"
    signal_all(renderers, signal.SIGSTOP)
    try:
        kill_where(
            process,
            a_batch_holds_its_serials(database),
            "a batch holding its serials, rendering",
            30,
        )
    finally:
        signal_all(renderers, signal.SIGCONT)  # they leave by themselves, their parent gone


@pytest.mark.slow
def test_batch_issuance_survives_sigkill_without_duplicates_or_gaps(
    graded: Database, tmp_path: Path, postgres: PostgresServer | None
) -> None:
    """Kill `certify issue` (batches of three, two render processes) at three points proven to
    lie inside the run, resume it each time, and end with the certificates and PDFs an
    uninterrupted run makes, byte for byte.

    1. inside a batch's transaction, after its serials were taken (its PDFs are rendering):
       nothing of it remains;
    2. after a batch committed, its first PDF written and the second not (the second's
       temporary file is a FIFO, so writing it blocks until the kill);
    3. once the resumed run, having restored those PDFs, committed another batch.

    After each kill the register holds some but not all certificates, their serials without a
    gap; each resumed run writes exactly the PDFs that were missing and leaves the others."""
    if postgres is None:
        reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
        # SQLite's own backup: the file alone misses what its write-ahead log still holds.
        source = sqlite3.connect(make_url(graded.url).database or "")
        copy = sqlite3.connect(tmp_path / "reference.db")
        with contextlib.closing(source), contextlib.closing(copy):
            source.backup(copy)
    else:
        graded.engine.dispose()
        reference_url = postgres.copy(graded.url)
    env = {**os.environ, "CERTIFY_KEY_PASSPHRASE": PASS}
    options = ("--batch-size", "3", "--processes", "2")
    reference = Database(reference_url, make_engine(reference_url))
    reference_run = issue_command(reference, tmp_path / "reference", *options)
    done = subprocess.run(reference_run, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    expected = {c.serial: c.registration_id for c in issued(reference)}
    reference.engine.dispose()
    serials = sorted(expected)
    total = len(serials)
    assert total >= 18, "too few passed candidates to kill the run three times"

    out = tmp_path / "certs"
    command = issue_command(graded, out, *options)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)

    def after_kill(present_before: dict[str, int]) -> tuple[list[str], dict[str, int]]:
        """The register's serials and the PDFs now; checks what a kill may leave."""
        committed = [c.serial for c in issued(graded)]
        assert 0 < len(committed) < total
        assert committed == serials[: len(committed)]  # no gap, no duplicate
        present = pdfs_in(out)
        assert set(present) <= set(committed)
        # the PDFs there before the run are untouched; those missing then were restored
        assert {s: present[s] for s in present_before} == present_before
        return committed, present

    # 1. inside a transaction
    run1 = start()
    kill_inside_a_batch(graded, run1, out)
    committed, present = after_kill({})
    assert sorted(present) == committed  # every committed batch had written its PDFs

    # 2. between a batch's commit and its PDFs
    first = len(committed) + 3  # the first serial of the resumed run's second batch
    blocked = out / f".{serials[first + 1]}.pdf.tmp"
    os.mkfifo(blocked)
    run2 = start()
    kill_where(run2, (out / f"{serials[first]}.pdf").exists, "the second PDF of a batch")
    committed, present = after_kill(present)
    assert committed == serials[: first + 3]
    assert sorted(present) == serials[: first + 1]
    blocked.unlink()  # a crash while writing leaves half a temporary file
    blocked.write_bytes((tmp_path / "reference" / f"{serials[first + 1]}.pdf").read_bytes()[:999])

    # 3. once the resumed run, having restored those two, committed a batch more
    run3 = start()
    kill_where(run3, lambda: len(issued(graded)) >= first + 6, "a batch after the restored PDFs")
    committed, present = after_kill(present)
    assert {serials[first + 1], serials[first + 2]} <= set(present)
    missing = len(committed) - len(present)

    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert f"issued {total - len(committed)}, 已有 already {len(committed)}" in finished.stdout
    assert (f"restored {missing} " in finished.stdout) == (missing > 0), finished.stdout
    certs = issued(graded)
    assert {c.serial: c.registration_id for c in certs} == expected
    assert {s: pdfs_in(out)[s] for s in present} == present
    assert sorted(p.name for p in out.iterdir()) == [f"{s}.pdf" for s in serials]  # no temporary
    for cert in certs:
        pdf = (out / f"{cert.serial}.pdf").read_bytes()
        assert pdf == (tmp_path / "reference" / f"{cert.serial}.pdf").read_bytes()
        assert (
            hashlib.sha256(pdf).hexdigest() == cert.pdf_digest and cert.pdf_digest_alg == "sha256"
        )


def test_two_processes_issuing_at_once_share_no_serial(graded: Database, tmp_path: Path) -> None:
    """Two `certify issue` runs on the same sitting at the same moment: each certificate once."""
    env = {**os.environ, "CERTIFY_KEY_PASSPHRASE": PASS}
    runs = [
        subprocess.Popen(
            issue_command(graded, tmp_path / f"out{n}", "--batch-size", "2"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    with Session(graded.engine) as session:
        certs = session.exec(select(Certificate).order_by(col(Certificate.serial))).all()
    assert len({c.registration_id for c in certs}) == len(certs)
    assert [int(c.serial[-6:]) for c in certs] == list(range(1, len(certs) + 1))
