"""The main job, end to end on the embedded SQLite default: ``certify demo``.

Today: create a database in a fresh folder, import the sample bank, summarise it per occupation
and level, assemble parallel forms from the sample blueprints and print them as PDFs (with one
candidate's shuffled copy), export the bank, and check the audit chain. Each later stage of the
pipeline extends this.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from certify import audit, db
from certify.grading import simulate
from certify.grading.analysis import exam_report, export_responses
from certify.grading.marks import import_marks, marking_list
from certify.grading.report import render_exam_report
from certify.grading.service import grade_sitting
from certify.grading.sheets import candidate_copies, import_sheets
from certify.identity import load_vault
from certify.issuance import issue_certificates
from certify.revocation import change_status, revocation_list
from certify.signing.reader import read_token_text
from certify.signing.trust import build_trust_list, create_key, load_trust_list
from certify.signing.verify import load_revocation_list, verify_token
from certify.sittings import create_sitting, import_roster
from question_bank.bank import (
    BankSummary,
    ImportReport,
    bank_items,
    export_bank,
    import_bank,
    summarise,
)
from question_bank.blueprints import load_blueprint
from question_bank.papers import AssemblyReport, assemble_papers, write_paper_pdfs
from question_bank.samples import sample_blueprints, sample_files

DEMO_FILES = ("certify.db", "bank-export.xlsx", "trust-list.json", "revocations.json")
DEMO_FOLDERS = ("papers", "sitting", "certificates")
DEMO_SITTING = "DEMO-2026-AI-S"
DEMO_CANDIDATES = 120


@dataclass
class DemoResult:
    directory: Path
    database: Path
    imports: list[ImportReport]
    summary: list[BankSummary]
    assemblies: list[AssemblyReport]
    pdfs: list[Path]
    export: Path
    audit_entries: int


def run_demo(directory: Path, echo: Callable[[str], None] = print) -> DemoResult:
    """Run the pipeline in ``directory`` (created if needed; earlier demo files replaced)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in (*DEMO_FILES, "certify.secret"):
        (directory / name).unlink(missing_ok=True)
    for name in DEMO_FOLDERS:
        shutil.rmtree(directory / name, ignore_errors=True)
    database = directory / "certify.db"
    engine = db.make_engine(db.database_url(f"sqlite:///{database}"))
    try:
        echo(f"1. 初始化数据库 / initialise the database: {database}")
        db.upgrade(engine)
        echo("2. 导入样例题库 / import the sample bank")
        reports = [import_bank(engine, path, actor="demo") for path in sample_files()]
        for r in reports:
            echo(f"   {Path(r.file).name}: {r.created} 题新增 new")
        summary = summarise(bank_items(engine))
        echo("3. 按蓝图组卷 / assemble parallel forms from the sample blueprints")
        assemblies, pdfs = [], []
        for path in sample_blueprints():
            report = assemble_papers(engine, load_blueprint(path), actor="demo")
            assemblies.append(report)
            spread = ", ".join(f"{k} {v:.4f}" for k, v in report.spread.items())
            echo(
                f"   {report.blueprint}: {len(report.papers)} 份 forms, 份间极差 spread {spread}, "
                f"最大偏差 objective {report.objective:.4f}, 重叠 overlap {report.max_overlap_seen}"
            )
            pdfs += write_paper_pdfs(engine, report.papers[0].code, directory / "papers")
        first = assemblies[-1].papers[0].code
        pdfs += write_paper_pdfs(engine, first, directory / "papers", candidate_seed=20261127)
        echo(f"   试卷、答题卡与答案 PDF / papers, answer sheets, keys: {len(pdfs)} PDF files")
        exam = simulate_sitting(engine, directory, assemblies[-1].blueprint, echo)
        pdfs.append(exam)
        pdfs += certify_passed(engine, directory, echo)
        export = directory / "bank-export.xlsx"
        count = export_bank(engine, export)
        echo(f"6. 导出题库 / export the bank: {count} 题 items -> {export}")
        with db.transaction(engine) as session:
            chain = audit.verify_chain(session)
        echo(
            f"7. 审计日志 / audit log: {chain.entries} 条 entries, 链完整 chain intact: {chain.ok}"
        )
        return DemoResult(
            directory, database, reports, summary, assemblies, pdfs, export, chain.entries
        )
    finally:
        engine.dispose()


def simulate_sitting(
    engine: Engine, directory: Path, blueprint: str, echo: Callable[[str], None]
) -> Path:
    """A sitting of simulated candidates: roster, answer sheets, blind marks, grading, statistics."""
    folder = directory / "sitting"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261127)
    vault = load_vault(directory, create=True)
    create_sitting(
        engine, DEMO_SITTING, blueprint, institution="示例评价机构（演示）", actor="demo"
    )
    people = simulate.candidates(DEMO_CANDIDATES, ["A", "B"], rng)
    import_roster(
        engine,
        DEMO_SITTING,
        simulate.write_roster(folder / "模拟考生名册.csv", people),
        vault,
        actor="demo",
    )
    _, copies = candidate_copies(engine, DEMO_SITTING)
    ability = {p.admission_no: p.ability for p in people}
    views = {a: view for a, (_, view) in copies.items()}
    form_a = sorted((p for p in people if p.form == "A"), key=lambda p: p.ability)
    copier = (form_a[0].admission_no, form_a[1].admission_no)  # the two weakest of form A collude
    sheets = simulate.write_sheets(folder / "模拟答题卡.csv", views, ability, rng, copier=copier)
    import_sheets(engine, DEMO_SITTING, sheets, actor="demo")
    scripts = [
        (s.code, s.maximum, ability[_admission(copies, s.registration_id)])
        for s in marking_list(engine, DEMO_SITTING)
    ]
    mark_files = simulate.write_marks(folder, scripts, rng)
    for path in mark_files:
        import_marks(engine, DEMO_SITTING, path, actor="demo")
    graded = grade_sitting(engine, DEMO_SITTING, actor="demo")
    echo(
        f"4. 模拟考试 / simulated sitting {DEMO_SITTING}: {DEMO_CANDIDATES} 名模拟考生 simulated candidates, "
        f"{len(mark_files)} 轮评分 marking rounds; 合格 passed {graded.passed}/{graded.graded}"
    )
    data = exam_report(engine, DEMO_SITTING)
    report = render_exam_report(data, folder / f"{DEMO_SITTING}-统计分析.pdf")
    export_responses(engine, DEMO_SITTING, folder / f"{DEMO_SITTING}-作答明细.csv")
    flagged = sum(1 for i in data.items if i.flags)
    pairs = ", ".join(f"{p.a}–{p.b} (z {p.z:.1f})" for p in data.similar_pairs) or "无 none"
    echo(
        f"   信度 α (CIC) {data.cic:.1f}; 需复核试题 items to review {flagged}/{len(data.items)}; "
        f"雷同卷 similar pairs: {pairs}"
    )
    return report


def _admission(copies: dict[str, Any], registration_id: int) -> str:
    return next(a for a, (reg, _) in copies.items() if reg.id == registration_id)


def certify_passed(engine: Engine, directory: Path, echo: Callable[[str], None]) -> list[Path]:
    """Keys, trust list, certificates for the passed, and one verified from its PDF, then revoked.

    The demo's keys are protected by a passphrase made for this run and kept nowhere.
    """
    passphrase = secrets.token_urlsafe(24)
    create_key(
        engine,
        role="root",
        issuer="DEMO-HRSS",
        name="示例省人力资源和社会保障厅（演示）",
        passphrase=passphrase,
        actor="demo",
    )
    create_key(
        engine,
        role="institution",
        issuer="DEMO-EVAL",
        name="示例评价机构（演示）",
        passphrase=passphrase,
        scope={"kinds": [1], "occupations": ["ai"], "levels": []},
        actor="demo",
    )
    trust_document = build_trust_list(engine, passphrase)
    (directory / "trust-list.json").write_text(
        json.dumps(trust_document, ensure_ascii=False, indent=2), "utf-8"
    )
    out = directory / "certificates"
    report = issue_certificates(
        engine, DEMO_SITTING, issuer="DEMO-EVAL", passphrase=passphrase, out=out, actor="demo"
    )
    first = out / f"{report.issued[0]}.pdf"
    trust = load_trust_list(trust_document)
    verdict = verify_token(read_token_text(str(first)), trust)
    echo(
        f"7. 发证 / certificates: {len(report.issued)} 张 issued -> {out}; "
        f"从 PDF 扫码验证 QR read back from {first.name}: {verdict.verdict}"
    )
    change_status(engine, report.issued[-1], "revoke", "演示：模拟吊销", actor="demo")
    revocations = revocation_list(engine, passphrase, max_age_hours=24)
    (directory / "revocations.json").write_text(
        json.dumps(revocations, ensure_ascii=False, indent=2), "utf-8"
    )
    last = verify_token(
        read_token_text(str(out / f"{report.issued[-1]}.pdf")),
        trust,
        load_revocation_list(revocations, trust),
    )
    echo(
        f"   吊销一张 / revoked one: {report.issued[-1]} → {last.verdict}; "
        f"离线验证 verify offline: certify verify {first} --trust-list {directory / 'trust-list.json'}"
    )
    return [out / f"{serial}.pdf" for serial in report.issued]
