"""审计检查点: signed checkpoints that anchor the audit log's length and head.

The hash chain (:mod:`certify.infra.audit_log`) shows an edited entry, but not a log whose last entries
were deleted, nor one rewritten whole with every hash recomputed. A *checkpoint* closes that
gap: a key of the trust list signs (format, count, head hash, time, kid) — the log had
``count`` entries and the last of them had ``head_hash``. Checkpoints are made where a key is at
hand: per issuance batch (the institution's key, inside the batch's transaction), with every
trust list and revocation list (the root's, and the document carries it), at publication and
revocation when the command is given a passphrase, and on demand (``certify audit checkpoint``).

:func:`verify_log` checks the chain, every checkpoint's signature, that the entry at each
checkpoint's count still has its head hash and the log is at least that long; also against
checkpoints published outside the database (a trust list, a revocation list, a notice) and
against what the verifier remembered the last time (:mod:`certify.audit.state`), so deleting
the checkpoint rows with the tail does not help.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Error
from certify.signing.algorithms import (
    ALGORITHMS,
    Algorithm,
    SignatureInvalid,
    UnknownAlgorithm,
    algorithm_named,
    key_id,
)
from schemas.tables import AuditCheckpoint, AuditEntry, SigningKey, utcnow

if TYPE_CHECKING:
    from certify.signing.trust import TrustList

FORMAT = "certify-audit-checkpoint/1"


class CheckpointError(Error):
    """A checkpoint cannot be read, or its signature does not hold."""

    code = "audit_checkpoint"


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _known(name: str) -> Algorithm | None:
    """The algorithm a ``signing_key`` row names (``EdDSA``, ``SM2``), or None if unknown."""
    try:
        return algorithm_named(name)
    except UnknownAlgorithm:
        return None


@dataclass(frozen=True)
class Signer:
    """A key at hand for signing checkpoints: its kid, algorithm and decrypted private half."""

    kid: str
    algorithm: Algorithm
    private_key: bytes = field(repr=False)

    @classmethod
    def of(cls, key: SigningKey, private_key: bytes) -> Signer:
        algorithm = _known(key.algorithm)
        if algorithm is None:
            raise CheckpointError(
                f"密钥 {key.kid} 的算法 {key.algorithm} 未知 / key {key.kid}: unknown algorithm {key.algorithm}"
            )
        return cls(key.kid, algorithm, private_key)


def signed_bytes(count: int, head_hash: str, at: datetime, kid: str) -> bytes:
    """What a checkpoint's signature covers: canonical JSON of (format, count, head, time, kid)."""
    return json.dumps(
        [FORMAT, count, head_hash, _utc(at).isoformat(), kid], separators=(",", ":")
    ).encode()


@dataclass(frozen=True)
class Checkpoint:
    """The audit log had ``count`` entries, the last with ``head_hash``, at ``at``: signed."""

    count: int
    head_hash: str
    at: datetime
    kid: str
    signature: bytes
    source: str = ""
    """Where it was read: ``checkpoint #12`` or a file name; not signed."""

    def document(self) -> dict[str, Any]:
        """The checkpoint as published (JSON): anyone with the trust list can check it."""
        return {
            "format": FORMAT,
            "count": self.count,
            "head_hash": self.head_hash,
            "at": _utc(self.at).isoformat(),
            "kid": self.kid,
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_row(cls, row: AuditCheckpoint) -> Checkpoint:
        return cls(
            row.count, row.head_hash, row.at, row.kid, row.signature, f"checkpoint #{row.id}"
        )

    @classmethod
    def from_document(cls, document: Mapping[str, Any], source: str = "") -> Checkpoint:
        """A checkpoint from its JSON, or from the ``audit_checkpoint`` of a trust list, a
        revocation list or a notice that carries one; raises CheckpointError."""
        found = document if document.get("format") == FORMAT else document.get("audit_checkpoint")
        if not isinstance(found, Mapping):
            raise CheckpointError(
                f"{source or '文件'} 中没有审计检查点 / {source or 'the document'} holds no audit checkpoint"
            )
        try:
            count = found["count"]
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ValueError(f"count {count!r}")
            return cls(
                count,
                str(found["head_hash"]),
                _utc(datetime.fromisoformat(found["at"])),
                str(found["kid"]),
                base64.b64decode(found["signature"], validate=True),
                source,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{source} 的审计检查点格式错误 / malformed audit checkpoint in {source}: {exc}"
            ) from None

    def describe(self) -> str:
        return (
            f"{self.source or 'checkpoint'}: {self.count} 条 entries, head {self.head_hash[:16]}…, "
            f"kid {self.kid}, {_utc(self.at).isoformat(timespec='seconds')}"
        )


def head(session: Session) -> tuple[int, str]:
    """The number of entries and the last one's hash, read in one statement (one snapshot)."""
    last = select(AuditEntry.hash).order_by(col(AuditEntry.id).desc()).limit(1).scalar_subquery()
    count, last_hash = session.execute(select(func.count(col(AuditEntry.id)), last)).one()
    return int(count), last_hash or audit_log.GENESIS


def record(session: Session, signer: Signer, reason: str) -> Checkpoint:
    """Sign a checkpoint of the log as this transaction sees it, and store it with it."""
    count, head_hash = head(session)
    at = utcnow()
    signature = signer.algorithm.sign(
        signer.private_key, signed_bytes(count, head_hash, at, signer.kid)
    )
    row = AuditCheckpoint(
        count=count, head_hash=head_hash, at=at, kid=signer.kid, signature=signature, reason=reason
    )
    session.add(row)
    session.flush()
    return Checkpoint.from_row(row)


def make_checkpoint(engine: Engine, signer: Signer, reason: str) -> Checkpoint:
    """Sign and store a checkpoint of the log as it is now, in a transaction of its own."""
    with transaction(engine) as session:
        return record(session, signer, reason)


def latest(session: Session) -> Checkpoint | None:
    """The checkpoint covering the most entries (the newest of those), if any."""
    row = session.exec(
        select(AuditCheckpoint)
        .order_by(col(AuditCheckpoint.count).desc(), col(AuditCheckpoint.id).desc())
        .limit(1)
    ).first()
    return Checkpoint.from_row(row) if row else None


# --- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointKey:
    """A public key that may sign checkpoints, with its validity."""

    kid: str
    algorithm: Algorithm | None
    public_key: bytes
    valid_from: datetime
    valid_until: datetime | None

    def verify(self, checkpoint: Checkpoint) -> None:
        """Return quietly, or raise CheckpointError."""
        where = checkpoint.source or "checkpoint"
        if self.algorithm is None or key_id(self.public_key).hex() != self.kid:
            raise CheckpointError(
                f"{where}: 密钥 {self.kid} 不可用 / key {self.kid} is unusable (unknown algorithm or kid)"
            )
        at = _utc(checkpoint.at)
        until = self.valid_until
        if at < _utc(self.valid_from) or (until is not None and at > _utc(until)):
            raise CheckpointError(
                f"{where}: 签名时间 {at.isoformat()} 不在密钥 {self.kid} 的有效期内 / signed at "
                f"{at.isoformat()}, outside the validity of key {self.kid}"
            )
        message = signed_bytes(checkpoint.count, checkpoint.head_hash, at, checkpoint.kid)
        try:
            self.algorithm.verify(self.public_key, message, checkpoint.signature)
        except SignatureInvalid:
            raise CheckpointError(
                f"{where}: 签名无效（密钥 {self.kid}）/ the signature does not verify under key {self.kid}"
            ) from None


def keys_from_database(session: Session) -> dict[str, CheckpointKey]:
    """Every key of the ``signing_key`` table. Weaker than a trust list: whoever can write the
    database can add a key of their own."""
    return {
        row.kid: CheckpointKey(
            row.kid,
            _known(row.algorithm),
            row.public_key,
            row.valid_from,
            row.valid_until,
        )
        for row in session.exec(select(SigningKey))
    }


def keys_from_trust_list(trust: TrustList) -> dict[str, CheckpointKey]:
    """Every key of a trust list whose root signature (and pinned root) has been checked."""
    return {
        k.kid: CheckpointKey(
            k.kid, ALGORITHMS.get(k.alg), k.public_key, k.valid_from, k.valid_until
        )
        for k in trust.keys.values()
    }


@dataclass(frozen=True)
class Anchor:
    """A point the log must still pass through: ``count`` entries, the last with ``head_hash``."""

    count: int
    head_hash: str
    source: str


@dataclass(frozen=True)
class Finding:
    """One reason the log does not hold, in Chinese and English."""

    code: str
    message: str


@dataclass
class LogReport:
    """The outcome of :func:`verify_log`."""

    chain: audit_log.ChainReport
    checkpoints: int = 0
    """Distinct checkpoints whose signature verified (stored or published)."""
    newest: Checkpoint | None = None
    """The verified checkpoint covering the most entries."""
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.findings

    @property
    def entries(self) -> int:
        return self.chain.entries

    @property
    def unanchored(self) -> int:
        """Entries after the newest checkpoint: not yet covered by any signature."""
        return self.entries - (self.newest.count if self.newest else 0)


def verify_log(
    session: Session,
    keys: Mapping[str, CheckpointKey],
    *,
    published: Sequence[Checkpoint] = (),
    remembered: Iterable[Anchor] = (),
) -> LogReport:
    """Check the chain and every checkpoint (stored and ``published``) against ``keys``, and the
    log against each checkpoint and each ``remembered`` anchor; every problem is a finding."""
    # Checkpoints first: any checkpoint this query sees covers entries the next one sees too.
    stored = [
        Checkpoint.from_row(row)
        for row in session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.id)))
    ]
    findings: list[Finding] = []
    anchors: list[tuple[Anchor, Checkpoint | None]] = []
    verified: list[Checkpoint] = []
    for checkpoint in [*stored, *published]:
        try:
            key = keys.get(checkpoint.kid)
            if key is None:
                raise CheckpointError(
                    f"{checkpoint.source}: 密钥 {checkpoint.kid} 不在所信任的密钥中 / key "
                    f"{checkpoint.kid} is not among the trusted keys"
                )
            key.verify(checkpoint)
        except CheckpointError as exc:
            findings.append(Finding("signature", str(exc)))
            continue
        verified.append(checkpoint)
        anchors.append(
            (Anchor(checkpoint.count, checkpoint.head_hash, checkpoint.source), checkpoint)
        )
    anchors += [(a, None) for a in remembered]
    chain = audit_log.verify_chain(session, heads_at={a.count for a, _ in anchors})
    distinct = {c.signature: c for c in verified}  # a published copy is the same checkpoint
    newest = max(verified, key=lambda c: (c.count, _utc(c.at)), default=None)
    report = LogReport(chain, len(distinct), newest)
    if chain.ok:
        findings += [f for a, c in anchors if (f := _against(chain, a, c)) is not None]
    report.findings = findings
    return report


def _against(
    chain: audit_log.ChainReport, anchor: Anchor, signed: Checkpoint | None
) -> Finding | None:
    """Does the log still pass through ``anchor``?"""
    what = signed.describe() if signed else anchor.source
    if chain.entries < anchor.count:
        return Finding(
            "cut",
            f"审计日志只有 {chain.entries} 条，少于 {what} 确认的 {anchor.count} 条：末尾条目被删除 / "
            f"the audit log has {chain.entries} entries, fewer than the {anchor.count} vouched for "
            f"by {what}: its tail was cut",
        )
    if chain.heads.get(anchor.count) != anchor.head_hash:
        return Finding(
            "diverged",
            f"第 {anchor.count} 条的哈希与 {what} 不符：日志被改写 / entry {anchor.count}'s hash "
            f"differs from the head in {what}: the log was rewritten",
        )
    return None


def check_audit_log(
    engine: Engine,
    trust: TrustList | None = None,
    *,
    published: Sequence[Checkpoint] = (),
    remembered: Iterable[Anchor] = (),
) -> LogReport:
    """:func:`verify_log` on the database's log, with the keys of ``trust`` (recommended) or,
    without one, of the ``signing_key`` table."""
    with transaction(engine) as session:
        keys = keys_from_trust_list(trust) if trust is not None else keys_from_database(session)
        return verify_log(session, keys, published=published, remembered=remembered)
