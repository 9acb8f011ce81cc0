"""The main job end to end, as a user runs it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import Session, col, func, select

from certify.commands.demo import DEMO_REFUSED, DEMO_SITTING, run_demo
from certify.commands.demo_delivery import CBT_SITTING
from certify.registration.identity import load_vault
from cli import cli
from schemas.tables import (
    AnswerEvent,
    Application,
    Attempt,
    AuditEntry,
    Candidate,
    Certificate,
    EligibilityRecord,
    Objection,
    Registration,
    Response,
    Result,
    Sitting,
)
from tests.conftest import Database


def test_demo_runs_the_pipeline_in_a_fresh_folder_and_again(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    for _ in range(2):  # a second run replaces the first
        result = CliRunner().invoke(cli, ["demo", "--dir", str(folder)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "imported by the invigilator: 2 条离线作答" in result.output
    out = result.output
    assert "chain intact: True" in out and "人工智能 ai" in out
    assert "ai-senior-sample: 2 份 forms" in out
    assert "受理 accepted 120, 不予受理 refused 4" in out and "破格受理 override" in out
    assert "121 名模拟考生" in out and "similar pairs: SIM" in out
    assert (folder / "sitting" / "DEMO-2026-AI-S-统计分析.pdf").exists()
    assert re.search(r"QR read back from 37\d\d013000001\.pdf: genuine", out) and "→ revoked" in out
    assert len(list((folder / "certificates").glob("*.pdf"))) > 10
    assert re.search(
        r"every certificate read back from its PDF's QR code: "
        r"Ed25519 genuine \d+, revoked 1; SM2（SM3） genuine 10",
        out,
    )
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
    # The computer-based sitting after the paper story.
    assert "14. 机考 / computer-based sitting DEMO-2026-AI-CBT" in out
    assert "seats seed 20261205: R01 12, R02 11" in out
    assert "登录 signed in 22/23" in out and "3 人失联 lost" in out
    assert "re-sent entries acknowledged, not applied twice" in out and "stored once: True" in out
    assert "device move 1 + 延时 extra time 10 min" in out and "pause/resume 5 min" in out
    assert (
        "handed in 21, 到时自动收卷 closed by the sweeper at the deadline 1, 缺考 absent 1" in out
    )
    assert re.search(r"R01 考场记录 attendance: 应到 12 人.*已交卷 1\d 人，未交卷 0 人", out)
    assert re.search(r"阅卷 grading: \d+/\d+ 份主观题机考作答 .* 合格 passed \d+/22", out)
    assert len(list((folder / "cbt" / "准考证").glob("*.pdf"))) == 25
    assert (folder / "cbt" / "DEMO-CBT-AM-R01-考场记录.pdf").exists()
    # The human-resources department's 双随机 check of what was issued, re-run to the same draw.
    assert re.search(r"15\. 双随机抽查 / 双随机 inspection DEMO-CHECK-\d{4}: .* 抽中 drawn 4 ", out)
    assert "重新抽取一致 re-run identical: True" in out
    assert "回复 respond → closed" in out and "nothing found → closed" in out
    notice = json.loads((folder / "inspection" / "notice.json").read_text("utf-8"))
    assert len(notice["drawn"]) == 4 and (folder / "inspection" / "notice.pdf").exists()
    # Tomorrow's papers, sealed since they were assembled: nothing of them to read today.
    assert "16. 试卷保密 / sealed papers: seal 1 — ai-intermediate-sample-1A" in out
    assert "查看 read: 拒绝 refused" in out and "打印 print: 拒绝 refused" in out
    assert "open today: 拒绝并记入审计日志 refused and audited" in out
    assert re.search(r"stems in the database file: 0/\d+", out)
    assert not [p for p in papers if p.startswith("ai-intermediate")]
    shares = sorted(p.name for p in (folder / "seal").iterdir())
    assert shares == ["seal-1-1.txt", "seal-1-2.txt", "seal-1-3.txt"]


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
        passed = session.exec(  # in the paper sitting (the computer-based one comes after)
            select(func.count())
            .select_from(Result)
            .join(Registration, col(Registration.id) == col(Result.registration_id))
            .join(Sitting, col(Sitting.id) == col(Registration.sitting_id))
            .where(col(Result.passed), Sitting.code == DEMO_SITTING)
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
    # Two suites in one story: the evaluation institution's Ed25519, the training one's SM2.
    assert {c.pdf_digest_alg for c in level} == {"sha256"}
    assert {c.pdf_digest_alg for c in training} == {"sm3"}
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

    # The computer-based sitting: every attempt closed, each way it can be, and the
    # invigilators' actions audited under their accounts.
    with Session(database.engine) as session:
        closed = session.exec(
            select(Attempt.status, Attempt.finish_reason, func.count()).group_by(
                Attempt.status, Attempt.finish_reason
            )
        ).all()
        actions = session.exec(
            select(AuditEntry.action, AuditEntry.actor).where(
                col(AuditEntry.action).startswith("invigilate.")
            )
        ).all()
        graded = session.exec(
            select(func.count())
            .select_from(Result)
            .join(Registration, col(Registration.id) == col(Result.registration_id))
            .join(Sitting, col(Sitting.id) == col(Registration.sitting_id))
            .where(Sitting.code == CBT_SITTING)
        ).one()
    assert {(s.value, r.value if r else None): n for s, r, n in closed} == {
        ("handed_in", "candidate"): 21,
        ("handed_in", "deadline"): 1,
        ("absent", None): 1,
    }
    assert sorted(a for a, _ in actions) == [
        "invigilate.allow_move",
        "invigilate.extra_time",
        "invigilate.pause",
        "invigilate.restore",
        "invigilate.resume",
    ]
    assert {actor for _, actor in actions} <= {"web:demo-inv1", "web:demo-inv2"}
    assert graded == 22
    # The page cut off at the end: its backup's two changes are in the hand-in, from the file.
    with Session(database.engine) as session:
        restored = session.exec(
            select(AnswerEvent.attempt_id, Response.raw)
            .join(Attempt, col(Attempt.id) == col(AnswerEvent.attempt_id))
            .join(
                Response,
                (col(Response.registration_id) == col(Attempt.registration_id))
                & (col(Response.item_version_id) == col(AnswerEvent.item_version_id)),
            )
            .where(col(AnswerEvent.device).startswith("backup:"))
        ).all()
        values = session.exec(
            select(AnswerEvent.value).where(col(AnswerEvent.device).startswith("backup:"))
        ).all()
    assert len(restored) == 2 and len({a for a, _ in restored}) == 1
    assert sorted(raw for _, raw in restored) == sorted(values)
