"""审计日志: the append-only, hash-chained audit log.

Each entry's hash covers its content and the previous entry's hash, so editing, inserting or
deleting any entry breaks the chain from that point on; :func:`verify_chain` finds the first break.
The chain cannot show a cut tail or a log rewritten whole: signed checkpoints
(:mod:`certify.audit.checkpoints`) anchor its length and head.
``prev_hash`` is unique, so two writers racing to append cannot fork the chain: one of them fails
and its transaction rolls back whole.

Each entry's hash is taken with the hash of the suite of whoever made it — SHA-256, or SM3 for an
institution signing with SM2 (:mod:`certify.infra.digests`) — and the entry records which
(``hash_alg``), so one chain may hold both and entries made before suites existed (``sha256``)
verify as they always did.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from certify.infra.digests import SHA256, UnknownDigest, hexdigest
from schemas.tables import AuditEntry, utcnow

GENESIS = "0" * 64


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def entry_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    detail: dict[str, Any],
    digest: str = SHA256,
) -> str:
    """The hash ``digest`` (SHA-256 or SM3) over the previous hash and the canonical JSON of the
    entry's content."""
    body = json.dumps(
        [prev_hash, _utc(at).isoformat(), actor, action, subject, detail],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hexdigest(digest, body.encode("utf-8"))


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str = "",
    detail: dict[str, Any],
    digest: str = SHA256,
) -> AuditEntry:
    """Add an entry after the current last one, inside the caller's transaction, hashed with
    ``digest`` (the actor's suite)."""
    return append_many(
        session, actor=actor, action=action, entries=[(subject, detail)], digest=digest
    )[0]


def append_many(
    session: Session,
    *,
    actor: str,
    action: str,
    entries: list[tuple[str, dict[str, Any]]],
    digest: str = SHA256,
) -> list[AuditEntry]:
    """Add one entry per (subject, detail), chained in order after the current last one, inside
    the caller's transaction: one read and one flush for the lot; each hashed with ``digest``."""
    last = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(1)).first()
    prev = last.hash if last else GENESIS
    at = utcnow()
    added: list[AuditEntry] = []
    for subject, detail in entries:
        entry = AuditEntry(
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            detail=detail,
            prev_hash=prev,
            hash=entry_hash(prev, at, actor, action, subject, detail, digest),
            hash_alg=digest,
        )
        added.append(entry)
        prev = entry.hash
    session.add_all(added)
    session.flush()
    return added


@dataclass(frozen=True)
class ChainReport:
    """Outcome of checking the audit chain: entries checked and the first broken one, if any."""

    entries: int
    broken_at: int | None
    reason: str = ""
    head: str = GENESIS
    """The last entry's hash (of an intact chain)."""
    heads: dict[int, str] = field(default_factory=dict)
    """The hash of entry number n (in id order; 0 is the genesis), for each n asked about."""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(session: Session, *, heads_at: Collection[int] = ()) -> ChainReport:
    """Recompute every hash in order; report the first entry whose chain does not hold, and the
    hash of each entry whose number is in ``heads_at``.

    An intact chain is not a complete one: a cut tail or a chain rewritten whole passes here;
    :func:`certify.audit.checkpoints.verify_log` checks it against signed checkpoints.
    """
    wanted = set(heads_at)
    heads = {0: GENESIS} if 0 in wanted else {}
    prev = GENESIS
    count = 0
    entries = session.exec(
        select(AuditEntry).order_by(col(AuditEntry.id)).execution_options(yield_per=1000)
    )
    for entry in entries:
        count += 1
        if entry.prev_hash != prev:
            return ChainReport(count, entry.id, "prev_hash does not match the previous entry")
        try:
            expected = entry_hash(
                prev,
                entry.at,
                entry.actor,
                entry.action,
                entry.subject,
                entry.detail,
                entry.hash_alg,
            )
        except UnknownDigest:
            return ChainReport(count, entry.id, f"unknown hash {entry.hash_alg!r}")
        if entry.hash != expected:
            return ChainReport(count, entry.id, "content does not match its hash")
        prev = entry.hash
        if count in wanted:
            heads[count] = prev
    return ChainReport(count, None, head=prev, heads=heads)
