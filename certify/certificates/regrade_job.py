"""复核重评的应用: applying the changes a regrade job showed (:mod:`certify.grading.grading_job`)
as a background job, under the sitting's lock, once a person confirmed them.

The changes applied are the ones kept in the confirmed diff job, never worked out again: what
was shown is what is written, and :func:`~certify.certificates.regrade.apply_regrade` refuses
(writing nothing) when a stored result moved after the diff. A resumed job whose changes were
already written (its process stopped after the commit) reports them as applied instead of
failing on its own writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from certify.certificates.regrade import apply_regrade
from certify.grading.grading_job import REGRADE, change_of
from certify.grading.service import Change, moved, sitting_results
from certify.infra.errors import Error
from certify.infra.jobs import JobView, Progress, get_job, latest_job, submit_job
from certify.registration.sittings import sitting_lock
from schemas.enums import JobState

APPLY_REGRADE = "sitting.regrade_apply"
"""The kind of job that applies a confirmed regrade; subject: the sitting, ``params.diff``: the
diff job's id."""


class RegradeNotConfirmable(Error):
    """The regrade named is not the sitting's newest finished diff, or changes nothing."""

    code = "regrade_not_confirmable"


def confirmable_diff(engine: Engine, code: str, diff_job_id: int) -> JobView:
    """The diff job ``diff_job_id`` if it may be confirmed: the sitting's newest regrade diff,
    finished, with changes. Raises RegradeNotConfirmable otherwise."""
    newest = latest_job(engine, REGRADE, code)
    if newest is None or newest.id != diff_job_id:
        raise RegradeNotConfirmable(
            f"{code}：只能确认本场次最近一次复核的差异，请重新复核 / only the sitting's newest "
            "regrade can be confirmed: work out the differences again"
        )
    if newest.state is not JobState.DONE:
        raise RegradeNotConfirmable(
            f"{code}：复核尚未完成 / the regrade's differences are not worked out yet"
        )
    if not newest.result.get("changes"):
        raise RegradeNotConfirmable(f"{code}：没有需要应用的变化 / the regrade changes nothing")
    return newest


def submit_regrade_apply(
    engine: Engine, code: str, diff_job_id: int, *, actor: str, account_id: int | None
) -> JobView:
    """Queue applying the changes of the confirmed diff job; raises RegradeNotConfirmable,
    JobBusy while another job of the sitting holds it."""
    confirmable_diff(engine, code, diff_job_id)
    return submit_job(
        engine,
        APPLY_REGRADE,
        code,
        lock_key=sitting_lock(code),
        params={"diff": diff_job_id},
        actor=actor,
        account_id=account_id,
    )


def _already_applied(engine: Engine, code: str, changes: list[Change]) -> bool:
    stored = {r.admission_no: r for r in sitting_results(engine, code)}
    return all(
        (r := stored.get(c.admission_no)) is not None
        and not moved(r.parts, r.passed, c.after, c.passed_after)
        for c in changes
    )


def run_regrade_apply(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
    """The job's work: apply the confirmed diff's changes under the job's actor (audited as
    ``regrade``, suspending the certificates of holders who no longer pass)."""
    diff = get_job(engine, int(job.params["diff"]))
    changes = [change_of(c) for c in diff.result.get("changes", [])]
    progress.start(1, "应用复核结果 / applying the regrade")
    if job.attempts > 1 and _already_applied(engine, job.subject, changes):
        progress.advance(1)
        return {"changed": len(changes), "suspended": [], "resumed": True}
    report = apply_regrade(engine, job.subject, changes, actor=job.actor)
    progress.advance(1)
    return {"changed": report.changed, "suspended": report.suspended}
