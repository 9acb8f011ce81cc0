"""The main job end to end, as a user runs it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import Session, col, func, select

from certify.commands.demo import DEMO_REFUSED, DEMO_SITTING, run_demo
from certify.registration.identity import load_vault
from cli import cli
from schemas.tables import (
    Application,
    Candidate,
    Certificate,
    EligibilityRecord,
    Objection,
    Registration,
    Result,
)
from tests.conftest import Database


def test_demo_runs_the_pipeline_in_a_fresh_folder_and_again(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    for _ in range(2):  # a second run replaces the first
        result = CliRunner().invoke(cli, ["demo", "--dir", str(folder)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    out = result.output
    assert "chain intact: True" in out and "人工智能 ai" in out
    assert "ai-senior-sample: 2 份 forms" in out
    assert "受理 accepted 120, 不予受理 refused 4" in out and "破格受理 override" in out
    assert "121 名模拟考生" in out and "similar pairs: SIM" in out
    assert (folder / "sitting" / "DEMO-2026-AI-S-统计分析.pdf").exists()
    assert re.search(r"QR read back from 37\d\d013000001\.pdf: genuine", out) and "→ revoked" in out
    assert len(list((folder / "certificates").glob("*.pdf"))) > 10
    seconds = float(re.search(r"finished in ([\d.]+) s", out).group(1))  # type: ignore[union-attr]
    assert seconds < 60
    papers = sorted(p.name for p in (folder / "papers").glob("*.pdf"))
    assert (
        "ai-junior-sample-1A-试卷.pdf" in papers
        and "ai-senior-sample-1A-s20261127-试卷.pdf" in papers
    )
    text = subprocess.run(
        ["pdftotext", "-layout", str(folder / "papers" / "ai-junior-sample-1A-试卷.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "人工智能工程技术人员" in text and "答题卡" in text
    key = subprocess.run(
        ["pdftotext", str(folder / "papers" / "ai-junior-sample-1A-答案.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "AI-J-" in key


def test_the_whole_story_holds_together_in_the_database(database: Database, tmp_path: Path) -> None:
    """The demo's story on the test database (PostgreSQL when CERTIFY_TEST_DATABASE_URL is set):
    every stage leaves what the next one needs, and each outcome is in the records."""
    lines: list[str] = []
    result = run_demo(tmp_path / "demo", echo=lines.append, url=database.url)
    out = "\n".join(lines)
    assert result.database is None and "chain intact: True" in out
    with Session(database.engine) as session:
        decisions = dict(
            session.exec(
                select(Application.decision, func.count()).group_by(Application.decision)
            ).all()
        )
        overridden = session.exec(select(Application).where(Application.route == "override")).one()
        passed = session.exec(
            select(func.count()).select_from(Result).where(col(Result.passed))
        ).one()
        objections = {o.status for o in session.exec(select(Objection))}
        level = session.exec(select(Certificate).where(Certificate.kind == "level")).all()
        training = session.exec(select(Certificate).where(Certificate.kind == "training")).all()
        upheld = session.exec(select(Objection).where(Objection.status == "upheld")).one()
        held = session.get(Registration, upheld.registration_id)
        records = session.exec(select(EligibilityRecord)).all()
    assert decisions == {"accepted": 121, "refused": DEMO_REFUSED - 1}
    assert overridden.override_reason and overridden.override_by and overridden.registration_id
    assert objections == {"upheld", "dismissed"}
    assert len(level) == passed - 1 and held is not None
    assert held.id not in {c.registration_id for c in level}  # the upheld objection holds it back
    revoked = [c for c in level if c.status == "revoked"]
    assert len(revoked) == 1 and len(training) == 10
    by_cert: dict[int, set[tuple[str, str]]] = {}
    for r in records:
        by_cert.setdefault(r.certificate_id, set()).add((r.kind, r.status))
    assert by_cert[revoked[0].id or 0] == {("title_review", "withdrawn"), ("ce_hours", "withdrawn")}
    assert all(
        by_cert[c.id or 0] == {("training_subsidy", "active"), ("ce_hours", "active")}
        for c in training
    )
    notice = (tmp_path / "demo" / "notices" / f"{DEMO_SITTING}-公示.html").read_text("utf-8")
    assert "模拟考生" not in notice and "模*" in notice and "********" in notice
    ce = (tmp_path / "demo" / "exports" / "继续教育学时.csv").read_text("utf-8-sig").splitlines()
    assert len(ce) == 1 + len(level) - 1 + len(training)
    # The continuing-education platform gets full ID numbers: the holder's, decrypted.
    vault = load_vault(tmp_path / "demo")
    with Session(database.engine) as session:
        person = session.get(Candidate, level[0].candidate_id)
    assert person is not None
    row = next(line for line in ce if level[0].serial in line).split(",")
    assert row[0] == vault.decrypt(person.id_number_cipher) and row[2] == "30"
