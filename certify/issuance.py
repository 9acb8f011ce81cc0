"""发证: issuing signed certificates to candidates who passed, crash-safe and resumable.

Serial numbers (证书编号) are 13 digits, ``PP YY OO L NNNNNN``: the province code (37 = 山东,
``CERTIFY_PROVINCE`` overrides it), the year of issue, the occupation's number in the programme
(01 人工智能 … 10 集成电路), the level (1 初级, 2 中级, 3 高级) and a six-digit sequence per prefix.
No national numbering rule is published for these certificates, so this layout is ours.

Certificates are issued in batches of :data:`BATCH_SIZE`, each batch one transaction: its
serials are taken from ``serial_counter`` in one step (a row lock, so two processes issuing at
once on PostgreSQL never share or skip a number), the tokens signed, the PDFs rendered in memory
(in worker processes for a large run) and their SHA-256 stored with the records, the audit
entries appended — then the transaction commits and the PDFs are written, each to a temporary
name and renamed. A crash before the commit leaves nothing of the batch (no gap: the counter
rolls back with it); a crash after it leaves records whose PDFs a rerun re-renders, byte for
byte (signatures and PDFs are deterministic), and checks against the stored hashes. Rerunning
issues only to those still without a certificate.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from pathlib import Path

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from tqdm import tqdm

from certify import audit
from certify.db import transaction
from certify.errors import DatabaseError, Error
from certify.signing.algorithms import DEFAULT
from certify.signing.token import (
    LEVEL_CODES,
    Claims,
    Kind,
    from_text,
    sign_token,
    to_text,
    token_url,
)
from certify.signing.trust import signing_material
from schemas.certificates import CertificateView
from schemas.enums import Level
from schemas.reference import LEVEL_NAMES_ZH, get_occupation, occupations
from schemas.tables import (
    Candidate,
    Certificate,
    Registration,
    Result,
    SerialCounter,
    SigningKey,
    Sitting,
)

DEFAULT_PROVINCE = "37"

SEQUENCE_MAX = 999_999
"""The six-digit sequence's last number under one prefix."""

BATCH_SIZE = 50
"""Certificates per transaction: a crash loses at most this much work, which a rerun redoes."""


class IssuanceError(Error):
    code = "issuance"


@dataclass
class IssueReport:
    sitting: str
    issued: list[str] = field(default_factory=list)
    already: int = 0
    pdfs_restored: int = 0


def serial_prefix(province: str, year: int, occupation: str, level: str) -> str:
    number = next(n for n, o in enumerate(occupations(), start=1) if o.slug == occupation)
    return f"{province}{year % 100:02d}{number:02d}{LEVEL_CODES[level]}"


def allocate_serials(session: Session, prefix: str, count: int = 1) -> list[str]:
    """The next ``count`` serials under ``prefix``, consecutive, inside the caller's transaction
    (the counter's row stays locked until it commits)."""
    for _ in range(3):
        last = session.execute(
            update(SerialCounter)
            .where(col(SerialCounter.prefix) == prefix)
            .values(last=col(SerialCounter.last) + count)
            .returning(col(SerialCounter.last))
        ).scalar_one_or_none()
        if last is None:
            try:
                with session.begin_nested():
                    session.execute(insert(SerialCounter).values(prefix=prefix, last=count))
                last = count
            except IntegrityError:
                continue  # another process created the counter first: bump it instead
        if last > SEQUENCE_MAX:
            raise IssuanceError(
                f"证书编号 {prefix} 的顺序号已用尽 / the sequence under {prefix} is exhausted"
            )
        return [f"{prefix}{n:06d}" for n in range(last - count + 1, last + 1)]
    raise IssuanceError(f"无法分配证书编号 {prefix} / cannot allocate a serial under {prefix}")


def _view(
    cert: Certificate, candidate: Candidate, key: SigningKey, authority: str, site: str
) -> CertificateView:
    occ = get_occupation(cert.occupation)
    return CertificateView(
        serial=cert.serial,
        kind_name="专业技术等级证书" if cert.kind == "level" else "培训合格证书",
        holder=cert.holder_name,
        id_number_masked=candidate.id_number_masked,
        occupation_name=occ.name_zh,
        level_name=LEVEL_NAMES_ZH[Level(cert.level)],
        issued=cert.issued_on,
        expires=cert.expires_on,
        issuer_name=key.scope.get("name", key.issuer),
        authority_name=authority,
        url=token_url(site, _token_bytes(cert)),
        verify_site=site,
    )


def _token_bytes(cert: Certificate) -> bytes:
    return from_text(cert.token)


def _pdf(view: CertificateView) -> bytes:
    from certify.certificate_pdf import certificate_pdf  # reportlab loads on demand

    return certificate_pdf(view)


def _warm_up(parent: int) -> None:
    """Start a render process: load reportlab and the font before the first certificate, and
    leave as soon as the issuing process is gone (killed, it cannot tell its workers to stop)."""
    from certify.pdf import register_fonts

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="certify-parent-watch", daemon=True).start()
    register_fonts()


def _write(target: Path, pdf: bytes) -> None:
    """Write a PDF under its final name atomically: a reader never sees half a file."""
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(pdf)
    os.replace(temporary, target)


def _digest(pdf: bytes) -> str:
    return hashlib.sha256(pdf).hexdigest()


def render_processes(pending: int) -> int:
    """How many processes render PDFs: one per usable CPU for a large run, none for a small one
    (starting a render process costs about as much as fifty certificates)."""
    if pending < 4 * BATCH_SIZE:
        return 0
    usable = (
        os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    )
    return min(len(usable), 8)


def issue_certificates(
    engine: Engine,
    sitting_code: str,
    *,
    issuer: str,
    passphrase: str,
    out: Path,
    site: str = "https://verify.example.cn",
    province: str | None = None,
    today: date | None = None,
    actor: str = "cli",
    progress: bool | None = False,
    batch_size: int = BATCH_SIZE,
    processes: int | None = None,
) -> IssueReport:
    """Issue a level certificate to every passed candidate of the sitting who has none yet.

    ``batch_size`` certificates commit together. ``processes`` renders the PDFs in that many
    worker processes (0 or 1: in this one); by default :func:`render_processes` decides from the
    number of certificates to issue.
    """
    out.mkdir(parents=True, exist_ok=True)
    key, private = signing_material(engine, issuer, passphrase)
    province = province or os.environ.get("CERTIFY_PROVINCE", DEFAULT_PROVINCE)
    today = today or date.today()
    report = IssueReport(sitting_code)
    with Session(engine) as session:
        sitting = session.exec(select(Sitting).where(Sitting.code == sitting_code)).first()
        if sitting is None:
            raise IssuanceError(f"没有考试场次 {sitting_code} / no sitting {sitting_code}")
        allowed = key.scope.get("occupations")
        if allowed and sitting.occupation not in allowed:
            raise IssuanceError(
                f"{issuer} 无权签发 {sitting.occupation} 证书 / {issuer} may not issue {sitting.occupation} certificates"
            )
        authority = session.exec(select(SigningKey).where(SigningKey.role == "root")).first()
        authority_name = authority.scope.get("name", authority.issuer) if authority else ""
        rows = list(
            session.exec(
                select(Registration, Candidate)
                .join(Result, col(Result.registration_id) == col(Registration.id))
                .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
                .where(Registration.sitting_id == sitting.id, col(Result.passed).is_(True))
                .order_by(col(Registration.admission_no))
            )
        )
    done = _issued(engine, [r.id for r, _ in rows])
    _restore_pdfs(
        engine, [r.id for r, _ in rows if r.id in done], key, authority_name, site, out, report
    )
    todo = [(r, c) for r, c in rows if r.id not in done]
    report.already = len(rows) - len(todo)
    prefix = serial_prefix(province, today.year, sitting.occupation, sitting.level)
    batch = _Batch(sitting, key, private, prefix, today, authority_name, site, out, actor)
    workers = render_processes(len(todo)) if processes is None else processes
    pool = (
        ProcessPoolExecutor(
            workers,
            mp_context=get_context("spawn"),
            initializer=_warm_up,
            initargs=(os.getpid(),),
        )
        if workers > 1
        else None
    )
    render: Callable[[list[CertificateView]], list[bytes]] = (
        (lambda views: list(pool.map(_pdf, views, chunksize=4)))
        if pool is not None
        else (lambda views: [_pdf(v) for v in views])
    )
    try:
        with tqdm(
            total=len(todo), desc="发证 issue", unit="张", disable=not progress, leave=False
        ) as bar:
            for first in range(0, len(todo), batch_size):
                chunk = todo[first : first + batch_size]
                while chunk:
                    try:
                        report.issued += _issue_batch(engine, batch, chunk, render)
                        bar.update(len(chunk))
                        break
                    except DatabaseError:
                        # Another process issued some of these meanwhile: leave those to it.
                        taken = _issued(engine, [r.id for r, _ in chunk])
                        if not taken:
                            raise
                        report.already += len(taken)
                        bar.update(len(taken))
                        chunk = [(r, c) for r, c in chunk if r.id not in taken]
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return report


def _issued(engine: Engine, registration_ids: list[int | None]) -> set[int | None]:
    """Which of the registrations have a certificate."""
    with Session(engine) as session:
        return set(
            session.exec(
                select(Certificate.registration_id).where(
                    col(Certificate.registration_id).in_(registration_ids)
                )
            )
        )


@dataclass(frozen=True)
class _Batch:
    """What every certificate of one issuance run shares."""

    sitting: Sitting
    key: SigningKey
    private: bytes
    prefix: str
    today: date
    authority: str
    site: str
    out: Path
    actor: str


def _issue_batch(
    engine: Engine,
    batch: _Batch,
    chunk: list[tuple[Registration, Candidate]],
    render: Callable[[list[CertificateView]], list[bytes]],
) -> list[str]:
    """Certificates for ``chunk`` in one transaction; their PDFs are written after the commit."""
    sitting, key = batch.sitting, batch.key
    with transaction(engine) as session:
        serials = allocate_serials(session, batch.prefix, len(chunk))
        certs = [
            Certificate(
                serial=serial,
                kind="level",
                candidate_id=person.id or 0,
                registration_id=reg.id,
                holder_name=person.name,
                occupation=sitting.occupation,
                level=sitting.level,
                issued_on=batch.today,
                issuer=key.issuer,
                kid=key.kid,
                token=to_text(
                    sign_token(
                        Claims(
                            serial,
                            Kind.LEVEL,
                            person.name,
                            sitting.occupation,
                            sitting.level,
                            batch.today,
                            key.issuer,
                        ),
                        batch.private,
                        key.public_key,
                        DEFAULT,
                    )
                ),
            )
            for serial, (reg, person) in zip(serials, chunk, strict=True)
        ]
        pdfs = render(
            [
                _view(cert, person, key, batch.authority, batch.site)
                for cert, (_, person) in zip(certs, chunk, strict=True)
            ]
        )
        for cert, pdf in zip(certs, pdfs, strict=True):
            cert.pdf_sha256 = _digest(pdf)
        session.add_all(certs)
        audit.append_many(
            session,
            actor=batch.actor,
            action="certificate.issue",
            entries=[
                (
                    cert.serial,
                    {
                        "sitting": sitting.code,
                        "admission_no": reg.admission_no,
                        "kid": key.kid,
                        "pdf_sha256": cert.pdf_sha256,
                    },
                )
                for cert, (reg, _) in zip(certs, chunk, strict=True)
            ],
        )
    for serial, pdf in zip(serials, pdfs, strict=True):
        _write(batch.out / f"{serial}.pdf", pdf)
    return serials


def _restore_pdfs(
    engine: Engine,
    reg_ids: list[int | None],
    key: SigningKey,
    authority: str,
    site: str,
    out: Path,
    report: IssueReport,
) -> None:
    """Re-render any missing or damaged PDF of an issued certificate and check it against its hash."""
    with Session(engine) as session:
        found = list(
            session.exec(
                select(Certificate, Candidate)
                .join(Candidate, col(Candidate.id) == col(Certificate.candidate_id))
                .where(col(Certificate.registration_id).in_(reg_ids))
            )
        )
    for cert, person in found:
        target = out / f"{cert.serial}.pdf"
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == cert.pdf_sha256:
            continue
        pdf = _pdf(_view(cert, person, key, authority, site))
        if _digest(pdf) != cert.pdf_sha256:
            raise IssuanceError(
                f"证书 {cert.serial} 重新生成的 PDF 与记录不符 / the re-rendered PDF of {cert.serial} does not match its record"
            )
        _write(target, pdf)
        report.pdfs_restored += 1
