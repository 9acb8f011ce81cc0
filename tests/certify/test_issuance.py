"""Issuing certificates end to end: keys, trust list, issuance, offline verification, revocation."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from certify.certificates.publication import publish
from schemas.tables import AuditEntry, Certificate
from tests.certify.exam_helpers import graded_sitting, run
from tests.certify.signing_helpers import PASS
from tests.conftest import Database


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


@pytest.mark.slow
def test_batch_issuance_survives_sigkill_without_duplicates_or_gaps(
    graded: Database, tmp_path: Path
) -> None:
    """Kill `certify issue` (small batches, two render processes) at random moments, rerun it,
    and find every serial once, no gap, every PDF matching."""
    out = tmp_path / "certs"
    env = {**os.environ, "CERTIFY_KEY_PASSPHRASE": PASS}
    command = issue_command(graded, out, "--batch-size", "3", "--processes", "2")
    rng = random.Random(7)
    for _ in range(6):
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.8, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert "already" in finished.stdout
    with Session(graded.engine) as session:
        certs = session.exec(select(Certificate).order_by(col(Certificate.serial))).all()
    serials = [c.serial for c in certs]
    assert len(serials) == len(set(serials))
    assert [int(s[-6:]) for s in serials] == list(range(1, len(serials) + 1))
    for cert in certs:
        assert (
            hashlib.sha256((out / f"{cert.serial}.pdf").read_bytes()).hexdigest() == cert.pdf_sha256
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
