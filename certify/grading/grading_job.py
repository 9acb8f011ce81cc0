"""阅卷与复核的后台任务: grading a sitting, and working out what a regrade would change, as
background jobs (:mod:`certify.infra.jobs`), one at a time per sitting — a sitting of thousands
takes longer than a request may.

Both start over when resumed: grading writes its results in one transaction (a sitting not yet
locked is graded afresh; a locked one keeps what is stored), and a regrade's diff writes nothing.
The diff is kept as the job's result, so the page that asks for confirmation shows exactly the
changes that confirming applies (:mod:`certify.certificates.regrade_job`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from certify.grading.service import Change, grade_sitting, regrade_diff
from certify.infra.jobs import JobView, Progress
from certify.registration.sittings import submit_sitting_job
from schemas.enums import CertificateStatus

GRADE = "sitting.grade"
"""The grading job's kind; its subject is the sitting's code."""
REGRADE = "sitting.regrade"
"""The kind of job that works out a regrade's changes (nothing written); subject: the sitting."""


def submit_grading(engine: Engine, code: str, *, actor: str, account_id: int | None) -> JobView:
    """Queue the grading of sitting ``code``; raises SittingNotFound, or JobBusy while another
    job of the sitting holds it."""
    return submit_sitting_job(engine, GRADE, code, actor, account_id)


def submit_regrade(engine: Engine, code: str, *, actor: str, account_id: int | None) -> JobView:
    """Queue working out what a regrade of sitting ``code`` would change; raises
    SittingNotFound, JobBusy."""
    return submit_sitting_job(engine, REGRADE, code, actor, account_id)


def run_grading(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
    """The job's work: :func:`~certify.grading.service.grade_sitting` under the job's actor;
    its report (who is pending, who has no sheet, what a lock kept or held) is the result."""
    progress.start(1, "评分并保存成绩 / scoring and storing the results")
    report = grade_sitting(engine, job.subject, actor=job.actor)
    progress.advance(1)
    return dataclasses.asdict(report)


def run_regrade(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
    """The job's work: every change a regrade would make, kept as the job's result."""
    progress.start(1, "重新评分并比较 / scoring again and comparing")
    changes = regrade_diff(engine, job.subject)
    progress.advance(1)
    return {"changes": [change_json(c) for c in changes]}


def change_json(change: Change) -> dict[str, Any]:
    """A change as the job's result keeps it (JSON)."""
    found = dataclasses.asdict(change)
    found["certificate_status"] = (
        change.certificate_status.value if change.certificate_status else None
    )
    return found


def change_of(data: Mapping[str, Any]) -> Change:
    """A change as :func:`change_json` kept it."""
    status = data.get("certificate_status")
    return Change(
        admission_no=str(data["admission_no"]),
        before={str(k): float(v) for k, v in data["before"].items()},
        after={str(k): float(v) for k, v in data["after"].items()},
        passed_before=bool(data["passed_before"]),
        passed_after=bool(data["passed_after"]),
        certificate=str(data.get("certificate") or ""),
        certificate_status=CertificateStatus(status) if status else None,
        needs_publication=bool(data.get("needs_publication")),
    )
