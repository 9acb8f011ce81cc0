"""An institution that signs with SM2 issues through the same commands: its certificates print
their algorithm, are fingerprinted with SM3, verify offline from the PDF's QR code, and its
audit entries are hashed with SM3; an institution that rotates from Ed25519 to SM2 keeps its
old certificates' PDFs restorable."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from certify.certificates.publication import publish
from certify.infra.digests import hexdigest
from schemas.tables import AuditEntry, Certificate
from tests.certify.exam_helpers import graded_sitting, run
from tests.certify.signing_helpers import PASS
from tests.conftest import Database
from tests.pdf_tools import run as run_tool
from tests.pdf_tools import squeeze


@pytest.fixture
def graded(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """A graded, published sitting; an Ed25519 root and an SM2 institution."""
    monkeypatch.setenv("CERTIFY_KEY_PASSPHRASE", PASS)
    graded_sitting(database, tmp_path)
    publish(database.engine, "S1", tmp_path / "n", days=7, opened_on=date.today() - timedelta(14))
    run(database, "keys", "root", "--issuer", "SD-HRSS", "--name", "山东省人力资源和社会保障厅")
    out = run(
        database,
        *("keys", "create", "SD-EVAL-01", "--name", "测试评价机构", "--occupations", "ai"),
        *("--algorithm", "sm2"),
    )
    assert "(SM2)" in out
    return database


def test_an_sm2_institution_issues_certificates_that_verify_from_their_pdfs(
    graded: Database, tmp_path: Path
) -> None:
    certs_dir = tmp_path / "certs"
    run(graded, "issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(certs_dir))
    with Session(graded.engine) as session:
        certs = list(session.exec(select(Certificate).order_by(col(Certificate.serial))))
        issued = [e for e in session.exec(select(AuditEntry)) if e.action == "certificate.issue"]
    assert certs and all(c.pdf_digest_alg == "sm3" for c in certs)
    pdf = certs_dir / f"{certs[0].serial}.pdf"
    assert hexdigest("sm3", pdf.read_bytes()) == certs[0].pdf_digest
    assert issued and {e.hash_alg for e in issued} == {"sm3"}
    assert {e.detail["pdf_digest_alg"] for e in issued} == {"sm3"}
    assert "签名算法：SM2（SM3）" in squeeze(run_tool("pdftotext", "-layout", pdf, "-"))
    run(graded, "trust-list", "--out", str(tmp_path / "trust.json"))
    run(graded, "revocations", "--out", str(tmp_path / "fresh.json"))
    lists = ("--trust-list", str(tmp_path / "trust.json"))
    checked = run(graded, "verify", str(pdf), *lists, "--revocations", str(tmp_path / "fresh.json"))
    assert "genuine and valid" in checked and certs[0].serial in checked
    run(graded, "revoke", certs[0].serial, "--reason", "考试违纪")
    run(graded, "revocations", "--out", str(tmp_path / "revoked.json"))
    revoked = run(
        graded, "verify", str(pdf), *lists, "--revocations", str(tmp_path / "revoked.json"), code=1
    )
    assert "revoked" in revoked and "考试违纪" in revoked
    assert "intact" in run(graded, "audit", "verify").lower()


def test_pdfs_of_an_earlier_suite_are_restored_under_the_key_that_signed_them(
    graded: Database, tmp_path: Path
) -> None:
    certs_dir = tmp_path / "certs"
    run(graded, "issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(certs_dir))
    run(graded, "keys", "rotate", "SD-EVAL-01", "--algorithm", "ed25519")
    with Session(graded.engine) as session:
        first = session.exec(select(Certificate).order_by(col(Certificate.serial))).first()
    assert first is not None
    pdf = certs_dir / f"{first.serial}.pdf"
    original = pdf.read_bytes()
    pdf.unlink()
    out = run(graded, "issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(certs_dir))
    assert "issued 0" in out and pdf.read_bytes() == original
