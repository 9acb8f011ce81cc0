"""The main job, end to end on the embedded SQLite default: ``certify demo``.

Today: create a database in a fresh folder, import the sample bank, summarise it per occupation
and level, export it, and check the audit chain. Each later stage of the pipeline extends this.
"""

from __future__ import annotations

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
from question_bank.samples import sample_files

DEMO_FILES = ("certify.db", "bank-export.xlsx")


@dataclass
class DemoResult:
    directory: Path
    database: Path
    imports: list[ImportReport]
    summary: list[BankSummary]
    export: Path
    audit_entries: int


def run_demo(directory: Path, echo: Callable[[str], None] = print) -> DemoResult:
    """Run the pipeline in ``directory`` (created if needed; earlier demo files replaced)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in DEMO_FILES:
        (directory / name).unlink(missing_ok=True)
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
        export = directory / "bank-export.xlsx"
        count = export_bank(engine, export)
        echo(f"3. 导出题库 / export the bank: {count} 题 items -> {export}")
        with db.transaction(engine) as session:
            chain = audit.verify_chain(session)
        echo(
            f"4. 审计日志 / audit log: {chain.entries} 条 entries, 链完整 chain intact: {chain.ok}"
        )
        return DemoResult(directory, database, reports, summary, export, chain.entries)
    finally:
        engine.dispose()
