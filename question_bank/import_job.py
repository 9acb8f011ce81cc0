"""题库导入的后台任务: an uploaded item file (CSV, XLSX, JSON, Moodle XML, GIFT, QTI) imported by
a background job (:mod:`certify.infra.uploads`) with the same all-or-nothing
:func:`~question_bank.bank.import_bank` the CLI runs: twenty thousand items take seconds. One
bank import at a time (a file may hold items of every occupation).

The job's result is the import's report (counts, and what another system's file held that no
item needs); a refused file keeps its problems row by row, and its refused rows are written where
the submitter asked (``rejects``), for them to download."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from certify.infra.errors import Problem
from certify.infra.jobs import PROBLEMS_KEPT, JobView, Progress, submit_job
from certify.infra.uploads import run_import, upload_params
from question_bank.bank import ImportReport, import_bank
from question_bank.interchange.common import Placement

BANK_IMPORT = "bank.import"
"""The kind of the item-file import job; its subject is the file's name as its owner knows it."""
BANK_LOCK = "bank:import"


def submit_bank_import(
    engine: Engine,
    kept: Path,
    display: str,
    *,
    fmt: str | None,
    placement: Placement,
    rejects: Path | None,
    max_bytes: int,
    actor: str,
    account_id: int | None,
    worker: str | None = None,
) -> JobView:
    """Submit importing the item file ``kept`` (known as ``display``) in format ``fmt`` (None:
    from the file), questions from other systems placed by ``placement``; a refused file's rows
    are written to ``rejects``. Raises JobBusy while another bank import runs."""
    params = upload_params(
        kept, display, format=fmt, placement=dataclasses.asdict(placement),
        rejects=str(rejects.resolve()) if rejects else None, max_bytes=max_bytes,
    )  # fmt: skip
    return submit_job(
        engine, BANK_IMPORT, display, lock_key=BANK_LOCK, params=params, actor=actor,
        account_id=account_id, worker=worker,
    )  # fmt: skip


def run_bank_import(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
    """The import job's work; its result is the report (:func:`report_of` reads it back)."""
    rejects = job.params.get("rejects")
    report = run_import(
        job,
        progress,
        "检查并导入题目 / checking and storing the items",
        lambda path: import_bank(
            engine,
            path,
            rejects_path=Path(rejects) if rejects else None,
            max_bytes=int(job.params["max_bytes"]),
            actor=job.actor,
            name=str(job.params["display"]),
            fmt=job.params.get("format"),
            placement=Placement(**job.params["placement"]),
        ),
    )
    found = dataclasses.asdict(report)
    found["rejects_file"] = None  # the refused rows of an import that went through: none kept
    found["notice_count"] = len(report.notices)
    found["notices"] = found["notices"][:PROBLEMS_KEPT]  # a row stays small however big a file
    found["problems"] = found["problems"][:PROBLEMS_KEPT]
    found["said"] = (
        f"{report.rows} 行 — 新增 {report.created}，新版本 {report.new_versions}，"
        f"状态变更 {report.status_changed}，未变 {report.unchanged} / {report.rows} row(s): "
        f"{report.created} created, {report.new_versions} new version(s), "
        f"{report.status_changed} status change(s), {report.unchanged} unchanged"
    )
    return found


def report_of(result: Mapping[str, Any]) -> ImportReport:
    """The report a finished import job stored (as many notices as it kept)."""
    fields = {k: v for k, v in result.items() if k not in ("said", "notice_count")}
    for name in ("problems", "notices"):
        fields[name] = [Problem(**p) for p in fields.get(name, ())]
    fields["rejects_file"] = None
    return ImportReport(**fields)
