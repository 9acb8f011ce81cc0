"""A sitting's certificates as the institution downloads them: the list a page at a time (the
database sorts, counts and cuts), one certificate's PDF, or all of them in one ZIP written to a
spooled temporary file — each PDF checked against the fingerprint the register stored at
issuance, and every download audited (``certificate.download``, ``certificate.download_zip``)."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.digests import hexdigest
from certify.infra.errors import CertificateNotFound, Error
from certify.registration.identity import mask_name
from certify.registration.sittings import get_sitting
from schemas.enums import CertificateKind, CertificateStatus
from schemas.tables import Certificate, Registration

MAX_PER_PAGE = 200
SPOOL_IN_MEMORY = 8 * 1024 * 1024
"""A ZIP up to this size stays in memory; a larger one goes to a temporary file on disk."""
CERTIFICATE_SORTS: dict[str, Any] = {
    "serial": col(Certificate.serial),
    "admission": col(Registration.admission_no),
    "status": col(Certificate.status),
    "issued": col(Certificate.issued_on),
}


class PdfMissing(Error):
    """A certificate's PDF is not where it was written, or is not the one the register
    fingerprinted: issuing the sitting again restores it."""

    code = "pdf_missing"

    def __init__(self, serial: str) -> None:
        super().__init__(
            f"证书 {serial} 的 PDF 缺失或已损坏，请再次发证以恢复 / the PDF of {serial} is missing "
            "or damaged: issue the sitting again to restore it"
        )


@dataclass(frozen=True)
class CertificateLine:
    """One certificate of a sitting as its list shows it (the holder's name masked)."""

    serial: str
    admission_no: str
    holder: str
    status: CertificateStatus
    issued_on: date
    kid: str


@dataclass(frozen=True)
class CertificatePage:
    rows: list[CertificateLine]
    total: int
    page: int
    per_page: int
    sort: str
    descending: bool

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _of_sitting(sitting_id: int | None) -> Any:
    return (
        select(Certificate, Registration.admission_no)
        .join(Registration, col(Registration.id) == col(Certificate.registration_id))
        .where(
            Registration.sitting_id == sitting_id,
            col(Certificate.kind) == CertificateKind.LEVEL,
        )
    )


def _line(cert: Certificate, admission_no: str) -> CertificateLine:
    return CertificateLine(
        cert.serial,
        admission_no,
        mask_name(cert.holder_name),
        cert.status,
        cert.issued_on,
        cert.kid,
    )


def sitting_certificates(
    engine: Engine,
    code: str,
    *,
    sort: str = "serial",
    descending: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> CertificatePage:
    """One page of the sitting's level certificates, sorted by ``sort`` (one of
    :data:`CERTIFICATE_SORTS`, else by serial); raises SittingNotFound."""
    sort = sort if sort in CERTIFICATE_SORTS else "serial"
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    with Session(engine) as session:
        sitting = get_sitting(session, code)
        total = session.exec(
            select(func.count())
            .select_from(Certificate)
            .join(Registration, col(Registration.id) == col(Certificate.registration_id))
            .where(Registration.sitting_id == sitting.id)
        ).one()
        pages = max(1, -(-total // per_page))
        page = max(1, min(page, pages))
        order = CERTIFICATE_SORTS[sort]
        rows = session.exec(
            _of_sitting(sitting.id)
            .order_by(order.desc() if descending else order, col(Certificate.serial))
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    return CertificatePage(
        [_line(c, a) for c, a in rows], int(total), page, per_page, sort, descending
    )


def all_sitting_certificates(engine: Engine, code: str) -> Iterator[CertificateLine]:
    """Every level certificate of the sitting, by serial (for the workbook); raises
    SittingNotFound."""
    with Session(engine) as session:
        sitting = get_sitting(session, code)
        for cert, admission_no in session.exec(
            _of_sitting(sitting.id).order_by(col(Certificate.serial))
        ):
            yield _line(cert, admission_no)


def _checked(folder: Path, cert: Certificate) -> bytes:
    path = folder / f"{cert.serial}.pdf"
    data = path.read_bytes() if path.is_file() else b""
    if hexdigest(cert.pdf_digest_alg, data) != cert.pdf_digest:
        raise PdfMissing(cert.serial)
    return data


def certificate_pdf(engine: Engine, code: str, serial: str, folder: Path, *, actor: str) -> bytes:
    """The PDF of the sitting's certificate ``serial``, as the register fingerprinted it
    (audited); raises SittingNotFound, CertificateNotFound for a serial not of this sitting,
    PdfMissing."""
    with Session(engine) as session:
        sitting = get_sitting(session, code)
        found = session.exec(_of_sitting(sitting.id).where(Certificate.serial == serial)).first()
    if found is None:
        raise CertificateNotFound(serial)
    cert = found[0]
    data = _checked(folder, cert)
    with transaction(engine) as session:
        audit_log.append(
            session,
            actor=actor,
            action="certificate.download",
            subject=cert.serial,
            detail={"sitting": code, "pdf_digest": cert.pdf_digest},
        )
    return data


def sitting_zip(engine: Engine, code: str, folder: Path, *, actor: str) -> IO[bytes]:
    """Every level certificate's PDF of the sitting in one ZIP (``<serial>.pdf``, stored, not
    compressed: a PDF compresses little), each checked against its fingerprint, written to a
    spooled temporary file and returned rewound (audited with the count and the first and last serial); raises
    SittingNotFound, PdfMissing (nothing is audited then)."""
    with Session(engine) as session:
        sitting = get_sitting(session, code)
        certs = [
            c for c, _ in session.exec(_of_sitting(sitting.id).order_by(col(Certificate.serial)))
        ]
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (returned)
    try:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
            for cert in certs:
                archive.writestr(f"{cert.serial}.pdf", _checked(folder, cert))
    except BaseException:
        spool.close()
        raise
    with transaction(engine) as session:
        audit_log.append(
            session,
            actor=actor,
            action="certificate.download_zip",
            subject=code,
            detail={
                "count": len(certs),
                "first": certs[0].serial if certs else None,
                "last": certs[-1].serial if certs else None,
            },
        )
    spool.seek(0)
    return spool
