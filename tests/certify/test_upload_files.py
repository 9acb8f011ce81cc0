"""The file an import job reads: named as its owner knows it in every problem, removed once the
job's end is recorded — and kept when another worker took the job over, so the resumed job
reads the same bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import Session

from certify.infra.errors import Problem, ValidationFailed
from certify.infra.jobs import JobView, Progress, get_job, run_job, submit_job
from certify.infra.uploads import UploadGone, keep_upload, run_import, upload_params
from schemas.enums import JobState
from schemas.tables import Job
from tests.conftest import Database


def kept_job(database: Database, tmp_path: Path, text: str = "a,b\n") -> tuple[JobView, Path]:
    saved = tmp_path / "upload.csv"
    saved.write_text(text, "utf-8")
    kept = keep_upload(tmp_path / "data", saved)
    job = submit_job(
        database.engine, "test.import", "S1", lock_key="test:S1",
        params=upload_params(kept, "名册 1.csv"), actor="test", account_id=None, worker="w1",
    )  # fmt: skip
    return job, kept


def test_a_job_that_ends_removes_its_file_and_its_lock(database: Database, tmp_path: Path) -> None:
    job, kept = kept_job(database, tmp_path)
    assert kept.is_absolute() and not (tmp_path / "upload.csv").exists()

    def handler(engine: Any, job: JobView, progress: Progress) -> dict[str, Any]:
        return {"read": run_import(job, progress, "reading", lambda p: p.read_text("utf-8"))}

    ended = run_job(database.engine, job, handler, "w1")
    assert ended.state is JobState.DONE and ended.result == {"read": "a,b\n"}
    assert not kept.exists()


def test_a_refused_file_names_itself_as_uploaded_and_is_removed(
    database: Database, tmp_path: Path
) -> None:
    job, kept = kept_job(database, tmp_path)

    def refuse(path: Path) -> None:
        problem = Problem(str(path), 2, "name", "bad", f"{path.name} 第 2 行", f"{path} row 2")
        raise ValidationFailed([problem], total_rows=1)

    def handler(engine: Any, job: JobView, progress: Progress) -> dict[str, Any]:
        run_import(job, progress, "reading", refuse)
        return {}

    ended = run_job(database.engine, job, handler, "w1")
    assert ended.state is JobState.FAILED and ended.result["problem_count"] == 1
    [problem] = ended.problems
    assert (problem.file, problem.message_zh, problem.message_en) == (
        "名册 1.csv",
        "名册 1.csv 第 2 行",
        "名册 1.csv row 2",
    )
    assert str(kept.parent) not in ended.error and not kept.exists()


def test_a_job_taken_over_keeps_its_file_for_the_worker_that_took_it(
    database: Database, tmp_path: Path
) -> None:
    job, kept = kept_job(database, tmp_path)

    def taken_meanwhile(path: Path) -> str:
        with Session(database.engine) as session:
            session.exec(update(Job).where(Job.id == job.id).values(worker="w2"))  # type: ignore[call-overload]
            session.commit()
        return path.read_text("utf-8")

    def handler(engine: Any, job: JobView, progress: Progress) -> dict[str, Any]:
        return {"read": run_import(job, progress, "reading", taken_meanwhile)}

    run_job(database.engine, job, handler, "w1")
    assert kept.exists()  # the other worker's run reads it
    assert get_job(database.engine, job.id).state is JobState.RUNNING


def test_a_file_no_longer_kept_says_to_upload_it_again(database: Database, tmp_path: Path) -> None:
    job, kept = kept_job(database, tmp_path)
    kept.unlink()

    def handler(engine: Any, job: JobView, progress: Progress) -> dict[str, Any]:
        return {"read": run_import(job, progress, "reading", lambda p: p.read_text("utf-8"))}

    ended = run_job(database.engine, job, handler, "w1")
    assert ended.state is JobState.FAILED and "upload it again" in ended.error
    assert UploadGone.code == "upload_gone"
