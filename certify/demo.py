"""The main job, end to end on the embedded SQLite default: ``certify demo``.

Today: create a database in a fresh folder, import the sample bank, summarise it per occupation
and level, assemble parallel forms from the sample blueprints and print them as PDFs (with one
candidate's shuffled copy), export the bank, and check the audit chain. Each later stage of the
pipeline extends this.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from certify import audit, db
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

DEMO_FILES = ("certify.db", "bank-export.xlsx")
DEMO_FOLDERS = ("papers",)


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
    for name in DEMO_FILES:
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
        export = directory / "bank-export.xlsx"
        count = export_bank(engine, export)
        echo(f"4. 导出题库 / export the bank: {count} 题 items -> {export}")
        with db.transaction(engine) as session:
            chain = audit.verify_chain(session)
        echo(
            f"5. 审计日志 / audit log: {chain.entries} 条 entries, 链完整 chain intact: {chain.ok}"
        )
        return DemoResult(
            directory, database, reports, summary, assemblies, pdfs, export, chain.entries
        )
    finally:
        engine.dispose()
