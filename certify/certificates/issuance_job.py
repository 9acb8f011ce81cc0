"""发证后台任务: issuing a sitting's level certificates, or a course's training certificates, as
a *held* background job (:mod:`certify.infra.jobs`), one run at a time per sitting or course.

The institution's key is opened with the passphrase before the job exists — a wrong passphrase,
a key whose scope does not cover the certificates or a notice period not yet over is refused
then, and nothing is queued. The opened key lives only in the memory of the process that runs
the job, on the job's own thread: never in the job's row (its parameters are the issuer, the
verification site and the province), never in a log. When that process stops, the job shows
as interrupted and :func:`resume_issuance` opens the key again with the passphrase given anew;
the run picks up where the register stands (:meth:`Issuer.issue_level` issues only to those
still without a certificate and restores missing PDFs)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from certify.certificates.issuance import Issuer
from certify.certificates.publication import issuance_gate
from certify.entitlements.training import get_course
from certify.infra.errors import Error
from certify.infra.jobs import (
    Handler,
    JobView,
    NotInterrupted,
    Progress,
    get_job,
    held_worker_name,
    resume_job,
    start_held,
    submit_job,
)
from certify.institutions.scope import in_account_scope
from certify.registration.sittings import get_sitting
from schemas.enums import CertificateKind

ISSUE_LEVEL = "certificates.issue"
"""The job kind issuing a sitting's level certificates; its subject is the sitting's code."""
ISSUE_TRAINING = "training.issue"
"""The job kind issuing a course's training certificates; its subject is the course's code."""
ISSUE_KINDS = (ISSUE_LEVEL, ISSUE_TRAINING)
STEP = "签发证书并生成 PDF / signing the certificates and rendering their PDFs"


class NotIssuance(Error):
    code = "not_issuance"


class BadSite(Error):
    code = "bad_site"


SITE = re.compile(r"https?://[A-Za-z0-9.-]{1,120}(:[0-9]{1,5})?(/[A-Za-z0-9.-]+)*/?")
"""A verification site the QR can carry: http(s), a host, a port, a path of letters, digits,
dots and dashes (the QR's alphanumeric mode holds upper case, digits and `` $%*+-./:`` only)."""


@dataclass(frozen=True)
class IssueRequest:
    """What a run needs besides the opened key; stored as the job's parameters (no secret)."""

    issuer: str
    site: str
    province: str

    def __post_init__(self) -> None:
        if not SITE.fullmatch(self.site):
            raise BadSite(
                f"查验网站须为 http(s)://主机[/路径]，不含空格与特殊字符：{self.site[:80]!r} / the "
                "verification site must be http(s)://host[/path] without spaces or other marks"
            )

    def params(self) -> dict[str, str]:
        return {"issuer": self.issuer, "site": self.site, "province": self.province}

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> IssueRequest:
        return cls(str(params["issuer"]), str(params["site"]), str(params["province"]))


def certificate_folder(data_dir: Path, kind: str, subject: str) -> Path:
    """Where the PDFs of a sitting's (or a course's) certificates are kept, each by serial: the
    folder is named by the code's hex, never by text from a form."""
    if kind == ISSUE_TRAINING:
        return data_dir / "training" / f"course-{subject.encode().hex()}"
    return data_dir / "certificates" / f"sitting-{subject.encode().hex()}"


def issuance_lock(kind: str, subject: str) -> str:
    """One run at a time per sitting (or course): they would issue to the same people."""
    return f"{kind}:{subject}"


def _opened(
    engine: Engine,
    kind: str,
    subject: str,
    request: IssueRequest,
    passphrase: str,
    data_dir: Path,
    actor: str,
) -> Issuer:
    """The issuer with its key opened, checked for this run: raises SittingNotFound or
    CourseNotFound, KeyProblem (no key, wrong passphrase), IssuanceError (scope, province),
    PublicationError (the notice period is not over)."""
    with Session(engine) as session:
        if kind == ISSUE_LEVEL:
            subject_row: Any = get_sitting(session, subject)
            certificate_kind = CertificateKind.LEVEL
        elif kind == ISSUE_TRAINING:
            subject_row = get_course(session, subject)
            certificate_kind = CertificateKind.TRAINING
        else:
            raise NotIssuance(
                f"任务类型 {kind} 不是发证 / a {kind} job does not issue certificates"
            )
    issuer = Issuer.open(
        engine,
        request.issuer,
        passphrase,
        out=certificate_folder(data_dir, kind, subject),
        site=request.site,
        province=request.province,
        actor=actor,
    )
    issuer.check_scope(certificate_kind, subject_row.occupation, subject_row.level)
    if kind == ISSUE_LEVEL:
        with Session(engine) as session:
            issuance_gate(session, get_sitting(session, subject), date.today())
    return issuer


def start_issuance(
    engine: Engine,
    kind: str,
    subject: str,
    request: IssueRequest,
    passphrase: str,
    *,
    data_dir: Path,
    actor: str,
    account_id: int | None,
) -> JobView:
    """Open the key, then write the job as running in this process and start it on its own
    thread; raises what :func:`_opened` raises, or JobBusy while another run of this sitting
    (or course) is running or interrupted."""
    issuer = _opened(engine, kind, subject, request, passphrase, data_dir, actor)
    worker = held_worker_name()
    job = submit_job(
        engine,
        kind,
        subject,
        lock_key=issuance_lock(kind, subject),
        params=request.params(),
        actor=actor,
        account_id=account_id,
        worker=worker,
    )
    start_held(engine, job, in_account_scope(issuing(issuer)), worker)
    return job


def resume_issuance(
    engine: Engine, job_id: int, passphrase: str, *, data_dir: Path, actor: str
) -> JobView:
    """Open the key again for the interrupted run ``job_id`` and continue it in this process
    (audited as ``job.resume`` under ``actor``; the certificates stay issued under the job's
    actor); raises NotInterrupted, KeyProblem, JobNotFound, NotIssuance."""
    job = get_job(engine, job_id)
    if job.kind not in ISSUE_KINDS:
        raise NotIssuance(
            f"后台任务 {job.id} 不是发证任务 / job {job.id} does not issue certificates"
        )
    if not job.interrupted:
        raise NotInterrupted(job)
    request = IssueRequest.of(job.params)
    issuer = _opened(engine, job.kind, job.subject, request, passphrase, data_dir, job.actor)
    worker = held_worker_name()
    resumed = resume_job(engine, job_id, actor=actor, worker=worker)
    start_held(engine, resumed, in_account_scope(issuing(issuer)), worker)
    return resumed


def issuing(issuer: Issuer) -> Handler:
    """The job's work, with ``issuer``'s opened key closed over (so held by this thread alone):
    issue, reporting done/total after each batch; the result is what the report counts."""

    def run(engine: Engine, job: JobView, progress: Progress) -> Mapping[str, Any]:
        progress.start(0, STEP)

        def tally(done: int, total: int) -> None:
            progress.start(total, STEP)
            progress.advance(done - progress.done)

        working = replace(issuer, tally=tally, actor=job.actor)
        report = (
            working.issue_level(job.subject)
            if job.kind == ISSUE_LEVEL
            else working.issue_training(job.subject)
        )
        return {
            "issued": len(report.issued),
            "already": report.already,
            "pdfs_restored": report.pdfs_restored,
            "held": {number: str(reason) for number, reason in sorted(report.held.items())},
            "first": report.issued[0] if report.issued else None,
            "last": report.issued[-1] if report.issued else None,
        }

    return run
