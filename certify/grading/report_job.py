"""试题统计的后台任务: a sitting's statistics (:func:`~certify.grading.analysis.exam_report` —
item statistics, reliability, form fairness, similar answer pairs, IRT and equating when there
are some) computed as a background job, one at a time per sitting beside grading: it scores the
whole sitting afresh from the raw answers and marks, which at ten thousand candidates takes
longer than a request may.

The job's result is the report itself (:class:`~schemas.results.ExamReportData` as JSON), so the
statistics page and its PDF show what that run computed, and say when; a grading or an applied
regrade that ended after it is named on the page, with the way to compute it again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.grading.analysis import exam_report
from certify.infra.jobs import JobView, Progress, aware, latest_job
from certify.registration.sittings import get_sitting, submit_sitting_job
from schemas.enums import JobState
from schemas.results import ExamReportData
from schemas.tables import Mark, Registration, Response, Result

REPORT = "sitting.report"
"""The statistics job's kind; its subject is the sitting's code."""


def submit_report(engine: Engine, code: str, *, actor: str, account_id: int | None) -> JobView:
    """Queue computing sitting ``code``'s statistics; raises SittingNotFound, or JobBusy while
    another job of the sitting (grading, a regrade, equating) holds it."""
    return submit_sitting_job(engine, REPORT, code, actor, account_id)


def run_report(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
    """The job's work: the sitting's whole statistics report, kept as the job's result (it
    writes nothing else, so a resumed job simply computes it again)."""
    progress.start(1, "评分并统计 / scoring and computing the statistics")
    data = exam_report(engine, job.subject)
    progress.advance(1)
    return data.model_dump(mode="json")


@dataclass(frozen=True)
class StoredReport:
    """The newest statistics a job computed for a sitting, and what has changed since."""

    job: JobView
    data: ExamReportData
    regraded_since: JobView | None
    """A grading or applied regrade that ended after this report was computed (the newest)."""
    changed_at: datetime | None = None
    """When an answer, a mark or a result of the sitting was last stored, if after the report
    began reading them (an import, a hand-in, a grading from the command line…)."""

    @property
    def out_of_date(self) -> bool:
        return self.regraded_since is not None or self.changed_at is not None


def latest_report(
    engine: Engine, code: str, *, changed_by: tuple[str, ...] = ()
) -> StoredReport | None:
    """The sitting's newest computed statistics, or None when no statistics job has ended well;
    ``changed_by``: the kinds of job that change results (grading, applying a regrade), whose
    newest run ending after the report makes it out of date."""
    done = latest_job(engine, REPORT, code, state=JobState.DONE)
    if done is None or not done.result or done.finished_at is None:
        return None
    later = [
        job
        for kind in changed_by
        if (job := latest_job(engine, kind, code, state=JobState.DONE)) is not None
        and job.finished_at is not None
        and job.finished_at > done.finished_at
    ]
    changed = last_change(engine, code)
    read_from = done.started_at or done.finished_at  # a job's times are in UTC already
    return StoredReport(
        job=done,
        data=ExamReportData.model_validate(done.result),
        regraded_since=max(later, key=lambda j: j.id) if later else None,
        changed_at=changed if changed is not None and changed > read_from else None,
    )


def last_change(engine: Engine, code: str) -> datetime | None:
    """When an answer, a mark or a result of sitting ``code`` was last stored (UTC), if ever."""
    with Session(engine) as session:
        sitting = get_sitting(session, code)
        ids = select(Registration.id).where(col(Registration.sitting_id) == sitting.id)
        found = [
            session.exec(select(func.max(column)).where(col(owner).in_(ids))).one()
            for column, owner in (
                (Response.recorded_at, Response.registration_id),
                (Mark.recorded_at, Mark.registration_id),
                (Result.computed_at, Result.registration_id),
            )
        ]
    moments = [m for m in map(aware, found) if m is not None]
    return max(moments) if moments else None
