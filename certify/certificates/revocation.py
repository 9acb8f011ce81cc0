"""吊销与暂停: status changes of issued certificates, and the signed revocation list.

``revoke`` is final and withdraws the certificate's eligibility records; ``suspend`` is
reversible by ``reinstate`` (the records stay, and every query shows the certificate's status). Every change needs a reason and
is recorded (``revocation`` table and the audit log) with its time. The revocation list holds
every revoked or suspended serial with status, time and reason, the time it was issued, and a
maximum age after which offline verifiers warn that theirs is stale; the root signs it, with a
root-signed audit checkpoint made at the same time. A status change given a checkpoint signer
makes a checkpoint in its transaction; without one (the web admin holds no passphrase) the
next checkpoint covers it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.audit.checkpoints import Signer, record
from certify.entitlements.eligibility import withdraw
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import CertificateNotFound, Error
from certify.institutions.scope import require_platform
from certify.keys.store import KeyProblem, decrypt_private, signer
from certify.signing.algorithms import algorithm_named
from certify.signing.verify import sign_revocation_list
from schemas.enums import CertificateStatus, StatusChange
from schemas.tables import Certificate, Revocation, SigningKey, utcnow

TRANSITIONS = {
    StatusChange.SUSPEND: ({CertificateStatus.VALID}, CertificateStatus.SUSPENDED),
    StatusChange.REINSTATE: ({CertificateStatus.SUSPENDED}, CertificateStatus.VALID),
    StatusChange.REVOKE: (
        {CertificateStatus.VALID, CertificateStatus.SUSPENDED},
        CertificateStatus.REVOKED,
    ),
}
"""Each change: the statuses it may start from, and the status it leaves."""


def changes_from(status: CertificateStatus) -> list[StatusChange]:
    """The changes a certificate of this status may undergo (none once revoked)."""
    return [change for change, (allowed, _) in TRANSITIONS.items() if status in allowed]


class StatusError(Error):
    code = "status"


def get_certificate(session: Session, serial: str) -> Certificate:
    """The certificate with this serial; raises CertificateNotFound."""
    cert = session.exec(select(Certificate).where(Certificate.serial == serial)).first()
    if cert is None:
        raise CertificateNotFound(serial)
    return cert


def issuer_signer(engine: Engine, serial: str, passphrase: str) -> Signer:
    """The active key of the certificate's issuer, opened to sign the checkpoint of a status
    change; raises StatusError or KeyProblem."""
    with Session(engine) as session:
        cert = get_certificate(session, serial)
    return signer(engine, cert.issuer, passphrase)


def change_status(
    engine: Engine,
    serial: str,
    action: StatusChange,
    reason: str,
    *,
    actor: str = "cli",
    checkpoint_signer: Signer | None = None,
) -> Certificate:
    """Revoke, suspend or reinstate a certificate, with a signed audit checkpoint covering the
    change when ``checkpoint_signer`` is given; raises StatusError for an impossible change."""
    with transaction(engine) as session:
        cert = get_certificate(session, serial)
        changed = apply_status(session, cert, action, reason, actor=actor)
        if checkpoint_signer is not None:
            record(session, checkpoint_signer, f"certificate.{action}")
        return changed


def apply_status(
    session: Session, cert: Certificate, action: StatusChange, reason: str, *, actor: str
) -> Certificate:
    """:func:`change_status` inside the caller's transaction (a regrade suspends with its
    results, all or nothing); raises StatusError for an impossible change."""
    if not reason.strip():
        raise StatusError("必须说明原因 / a reason is required")
    allowed, target = TRANSITIONS[action]
    serial = cert.serial
    if cert.status not in allowed:
        raise StatusError(
            f"证书 {serial} 状态为{cert.status.zh}，不能{action.zh} / certificate {serial} is {cert.status}: cannot {action}"
        )
    cert.status = target
    session.add(cert)
    assert cert.id is not None
    session.add(
        Revocation(certificate_id=cert.id, action=action, reason=reason.strip(), actor=actor)
    )
    withdrawn = (
        withdraw(session, cert, reason.strip()) if target == CertificateStatus.REVOKED else 0
    )
    audit_log.append(
        session,
        actor=actor,
        action=f"certificate.{action}",
        subject=serial,
        detail={"reason": reason.strip(), "status": target, "records_withdrawn": withdrawn},
        digest=cert.pdf_digest_alg,  # the suite of the key that issued it
    )
    return cert


def revocation_list(
    engine: Engine, root_passphrase: str, *, max_age_hours: float = 24, actor: str | None = None
) -> dict[str, Any]:
    """The signed list of revoked and suspended certificates, as of now, with a root-signed
    audit checkpoint (recorded in the database too; with ``actor``, who asked is audited as
    ``revocations.sign`` just before it). Only a platform account signs it: under an
    institution's scope it would leave out every other institution's revocations."""
    require_platform("签署吊销列表", "sign the revocation list")
    with Session(engine) as session:
        root = session.exec(
            select(SigningKey).where(
                SigningKey.role == "root", col(SigningKey.retired_at).is_(None)
            )
        ).first()
        if root is None or root.private_key_encrypted is None:
            raise KeyProblem("没有根密钥 / no root key")
        rows = session.exec(
            select(Certificate, Revocation)
            .join(Revocation, col(Revocation.certificate_id) == col(Certificate.id))
            .where(
                col(Certificate.status).in_(
                    [CertificateStatus.REVOKED, CertificateStatus.SUSPENDED]
                )
            )
            .order_by(col(Revocation.at))
        )
        latest: dict[str, dict[str, Any]] = {}
        for cert, change in rows:
            latest[cert.serial] = {
                "serial": cert.serial,
                "status": cert.status,
                "since": change.at.isoformat(),
                "reason": change.reason,
            }
    private = decrypt_private(root.private_key_encrypted, root_passphrase)
    with transaction(engine) as session:
        if actor is not None:
            audit_log.append(
                session,
                actor=actor,
                action="revocations.sign",
                subject=root.kid,
                detail={"entries": len(latest), "max_age_hours": max_age_hours},
            )
        checkpoint = record(session, Signer.of(root, private), "revocations")
    return sign_revocation_list(
        list(latest.values()),
        private,
        algorithm_named(root.algorithm),
        max_age_hours=max_age_hours,
        issued_at=utcnow(),
        audit_checkpoint=checkpoint.document(),
    )
