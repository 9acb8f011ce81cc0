"""申报与名册的后台导入: a sitting's applications file and roster imported by background jobs
(:mod:`certify.infra.uploads`), one job at a time per sitting, with the same all-or-nothing
imports the CLI runs (:func:`~certify.registration.applications.register_applicants`,
:func:`~certify.registration.sittings.import_roster`). Ten thousand applicants take seconds;
the page that uploaded the file waits a little and then shows the job's progress.

A refused file's problems stay with the job, row by row. The handlers need the vault of ID
numbers, which only the process that opened it holds: they are made from it
(:func:`applications_handler`, :func:`roster_handler`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from certify.infra.jobs import Handler, JobView, Progress
from certify.infra.uploads import run_import, upload_params
from certify.registration.applications import register_applicants
from certify.registration.identity import IdentityVault
from certify.registration.sittings import import_roster, submit_sitting_job

APPLICATIONS = "sitting.applications"
"""The kind of job that checks and records an applications file; subject: the sitting."""
ROSTER = "sitting.roster"
"""The kind of job that registers a roster file; subject: the sitting."""


def submit_applications(
    engine: Engine,
    code: str,
    kept: Path,
    display: str,
    *,
    on: date | None,
    max_bytes: int,
    actor: str,
    account_id: int | None,
    worker: str | None = None,
) -> JobView:
    """Submit checking the applications file ``kept`` (known as ``display``) for sitting
    ``code``, as on the day ``on`` (default: today, fixed now so a resumed job decides as
    the first attempt would); raises SittingNotFound, JobBusy."""
    return submit_sitting_job(
        engine, APPLICATIONS, code, actor, account_id, worker=worker,
        **upload_params(kept, display, on=(on or date.today()).isoformat(), max_bytes=max_bytes),
    )  # fmt: skip


def applications_handler(vault: IdentityVault) -> Handler:
    """The applications job's work, with the vault of ID numbers."""

    def run(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
        report = run_import(
            job,
            progress,
            "审核申报 / checking the applications",
            lambda path: register_applicants(
                engine,
                job.subject,
                path,
                vault,
                on=date.fromisoformat(job.params["on"]),
                actor=job.actor,
                max_bytes=int(job.params["max_bytes"]),
            ),
        )
        accepted, refused = len(report.accepted), len(report.refused)
        return {
            "accepted": accepted,
            "refused": refused,
            "new_candidates": report.new_candidates,
            "said": f"受理 {accepted} 人，不予受理 {refused} 人 / "
            f"{accepted} accepted, {refused} refused",
        }

    return run


def submit_roster(
    engine: Engine,
    code: str,
    kept: Path,
    display: str,
    *,
    max_bytes: int,
    actor: str,
    account_id: int | None,
    worker: str | None = None,
) -> JobView:
    """Submit registering the roster file ``kept`` (known as ``display``) for sitting
    ``code``; raises SittingNotFound, JobBusy."""
    return submit_sitting_job(
        engine, ROSTER, code, actor, account_id, worker=worker,
        **upload_params(kept, display, max_bytes=max_bytes),
    )  # fmt: skip


def roster_handler(vault: IdentityVault) -> Handler:
    """The roster job's work, with the vault of ID numbers."""

    def run(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
        report = run_import(
            job,
            progress,
            "登记名册 / registering the roster",
            lambda path: import_roster(
                engine, job.subject, path, vault, actor=job.actor,
                max_bytes=int(job.params["max_bytes"]),
            ),
        )  # fmt: skip
        return {
            "registered": report.registered,
            "new_candidates": report.new_candidates,
            "said": f"登记 {report.registered} 人，新考生 {report.new_candidates} / "
            f"{report.registered} registered, {report.new_candidates} new candidate(s)",
        }

    return run
