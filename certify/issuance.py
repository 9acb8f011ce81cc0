"""发证: issuing signed certificates to candidates who passed, crash-safe and resumable.

Serial numbers (证书编号) are 13 digits, ``PP YY OO L NNNNNN``: the province code (37 = 山东,
``CERTIFY_PROVINCE`` overrides it), the year of issue, the occupation's number in the programme
(01 人工智能 … 10 集成电路), the level (1 初级, 2 中级, 3 高级) and a six-digit sequence per prefix.
No national numbering rule is published for these certificates, so this layout is ours.

Each certificate is one transaction: the sequence is taken from ``serial_counter`` (a row lock,
so two processes issuing at once on PostgreSQL never share or skip a number), the token signed,
the PDF rendered to a temporary file and its SHA-256 stored with the record, the audit entry
appended — then the transaction commits and the PDF is moved into place. A crash before the
commit leaves nothing (no gap: the counter rolls back with it); a crash after it leaves a record
whose PDF a rerun re-renders, byte for byte (signatures and PDFs are deterministic), and checks
against the stored hash. Rerunning issues only to those still without a certificate.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import date
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


def allocate_serial(session: Session, prefix: str) -> str:
    """The next serial under ``prefix``, inside the caller's transaction (row-locked)."""
    for _ in range(3):
        bumped = session.execute(
            update(SerialCounter)
            .where(col(SerialCounter.prefix) == prefix)
            .values(last=col(SerialCounter.last) + 1)
            .returning(col(SerialCounter.last))
        ).scalar_one_or_none()
        if bumped is not None:
            return f"{prefix}{bumped:06d}"
        try:
            with session.begin_nested():
                session.execute(insert(SerialCounter).values(prefix=prefix, last=1))
            return f"{prefix}{1:06d}"
        except IntegrityError:
            continue  # another process created the counter first: bump it instead
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


def _render(view: CertificateView, target: Path) -> str:
    """Render to a temporary file beside ``target``; return its SHA-256."""
    from certify.certificate_pdf import render_certificate  # reportlab loads on demand

    temporary = target.with_name(f".{target.name}.tmp")
    render_certificate(view, temporary)
    return hashlib.sha256(temporary.read_bytes()).hexdigest()


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
) -> IssueReport:
    """Issue a level certificate to every passed candidate of the sitting who has none yet."""
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
        done = set(
            session.exec(
                select(Certificate.registration_id).where(
                    col(Certificate.registration_id).in_([r.id for r, _ in rows])
                )
            )
        )
    _restore_pdfs(
        engine, [r.id for r, _ in rows if r.id in done], key, authority_name, site, out, report
    )
    todo = [(r, c) for r, c in rows if r.id not in done]
    report.already = len(rows) - len(todo)
    prefix = serial_prefix(province, today.year, sitting.occupation, sitting.level)
    batch = _Batch(sitting, key, private, prefix, today, authority_name, site, out, actor)
    for reg, person in tqdm(todo, desc="发证 issue", unit="张", disable=not progress, leave=False):
        try:
            serial = _issue_one(engine, batch, reg, person)
        except DatabaseError:
            if _has_certificate(engine, reg.id):
                report.already += 1  # another process issued this one meanwhile
                continue
            raise
        report.issued.append(serial)
    return report


def _has_certificate(engine: Engine, registration_id: int | None) -> bool:
    with Session(engine) as session:
        return (
            session.exec(
                select(Certificate.id).where(Certificate.registration_id == registration_id)
            ).first()
            is not None
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


def _issue_one(engine: Engine, batch: _Batch, reg: Registration, person: Candidate) -> str:
    """One certificate in one transaction; the PDF moves into place after the commit."""
    sitting, key = batch.sitting, batch.key
    with transaction(engine) as session:
        serial = allocate_serial(session, batch.prefix)
        claims = Claims(
            serial,
            Kind.LEVEL,
            person.name,
            sitting.occupation,
            sitting.level,
            batch.today,
            key.issuer,
        )
        cert = Certificate(
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
            token=to_text(sign_token(claims, batch.private, key.public_key, DEFAULT)),
        )
        target = batch.out / f"{serial}.pdf"
        cert.pdf_sha256 = _render(_view(cert, person, key, batch.authority, batch.site), target)
        session.add(cert)
        audit.append(
            session,
            actor=batch.actor,
            action="certificate.issue",
            subject=serial,
            detail={
                "sitting": sitting.code,
                "admission_no": reg.admission_no,
                "kid": key.kid,
                "pdf_sha256": cert.pdf_sha256,
            },
        )
    os.replace(target.with_name(f".{target.name}.tmp"), target)
    return serial


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
        digest = _render(_view(cert, person, key, authority, site), target)
        if digest != cert.pdf_sha256:
            raise IssuanceError(
                f"证书 {cert.serial} 重新生成的 PDF 与记录不符 / the re-rendered PDF of {cert.serial} does not match its record"
            )
        os.replace(target.with_name(f".{target.name}.tmp"), target)
        report.pdfs_restored += 1
