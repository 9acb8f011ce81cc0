"""答题卡与评分的后台导入: a sitting's answer sheets and a rater's marks imported by background
jobs (:mod:`certify.infra.uploads`) with the same all-or-nothing imports the CLI runs
(:func:`~certify.grading.sheets.import_sheets`, :func:`~certify.grading.marks.import_marks`).
Ten thousand sheets take seconds (more on PostgreSQL); the page that uploaded the file waits a
little and then shows the job's progress, and a refused file's problems stay with the job.

Answer sheets take the sitting's lock, one job at a time per sitting beside grading and the
other imports: a grading never reads half a file. Marks take a lock per rater, so raters upload
side by side (each import is one transaction; a grading reads the marks stored before it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from certify.grading.marks import import_marks
from certify.grading.sheets import import_sheets
from certify.infra.jobs import JobView, Progress
from certify.infra.uploads import run_import, upload_params
from certify.registration.sittings import submit_sitting_job

SHEETS = "sitting.sheets"
"""The kind of job that stores an answer-sheet file; subject: the sitting."""
MARKS = "sitting.marks"
"""The kind of job that stores a rater's marks file; subject: the sitting."""


def submit_sheets(
    engine: Engine,
    code: str,
    kept: Path,
    display: str,
    *,
    replace: bool,
    max_bytes: int,
    actor: str,
    account_id: int | None,
    worker: str | None = None,
) -> JobView:
    """Submit storing the answer sheets of ``kept`` (known as ``display``) for sitting
    ``code`` (``replace``: sheets already stored may be replaced); raises SittingNotFound,
    JobBusy."""
    return submit_sitting_job(
        engine, SHEETS, code, actor, account_id, worker=worker,
        **upload_params(kept, display, replace=replace, max_bytes=max_bytes),
    )  # fmt: skip


def run_sheets(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
    """The answer-sheet job's work."""
    report = run_import(
        job,
        progress,
        "导入答题卡 / storing the answer sheets",
        lambda path: import_sheets(
            engine,
            job.subject,
            path,
            replace=bool(job.params["replace"]),
            actor=job.actor,
            max_bytes=int(job.params["max_bytes"]),
        ),
    )
    replaced_zh = f"，替换 {report.replaced}" if report.replaced else ""
    replaced_en = f", {report.replaced} replaced" if report.replaced else ""
    return {
        "sheets": report.sheets,
        "responses": report.responses,
        "replaced": report.replaced,
        "said": f"{report.sheets} 份答题卡，{report.responses} 个作答{replaced_zh} / "
        f"{report.sheets} sheet(s), {report.responses} response(s){replaced_en}",
    }


def marks_lock(code: str, rater: str | None) -> str:
    """One marks file at a time per rater and sitting."""
    return f"marks:{code}:{rater or ''}"


def submit_marks(
    engine: Engine,
    code: str,
    kept: Path,
    display: str,
    *,
    rater: str | None,
    max_bytes: int,
    actor: str,
    account_id: int | None,
    worker: str | None = None,
) -> JobView:
    """Submit storing the marks of ``kept`` (known as ``display``) for sitting ``code``; with
    ``rater`` (a signed-in rater) every row must name that rater. Raises SittingNotFound,
    JobBusy (this rater's earlier file is still being stored)."""
    return submit_sitting_job(
        engine, MARKS, code, actor, account_id, worker=worker, lock_key=marks_lock(code, rater),
        **upload_params(kept, display, rater=rater, max_bytes=max_bytes),
    )  # fmt: skip


def run_marks(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
    """The marks job's work."""
    count = run_import(
        job,
        progress,
        "导入评分 / storing the marks",
        lambda path: import_marks(
            engine,
            job.subject,
            path,
            actor=job.actor,
            rater=job.params.get("rater"),
            max_bytes=int(job.params["max_bytes"]),
        ),
    )
    return {"marks": count, "said": f"已导入评分 {count} 个 / {count} marks stored"}
