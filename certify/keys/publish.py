"""The trust list as the root publishes it: every key with its issuer, algorithm, validity and
scope, and a root-signed checkpoint of the audit log, signed by the root over the canonical JSON
(:func:`certify.signing.trust.load_trust_list` checks it). Each key is listed under the algorithm
its row states, and the root signs with its own, Ed25519 or SM2."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.audit.checkpoints import Signer, record
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.keys.store import KeyProblem, b64, decrypt_private, utc
from certify.signing.algorithms import algorithm_named
from certify.signing.trust import canonical_json
from schemas.tables import SigningKey, utcnow


def build_trust_list(
    engine: Engine, root_passphrase: str, *, actor: str | None = None
) -> dict[str, Any]:
    """The trust list document, signed by the root key, with a root-signed audit checkpoint
    (recorded in the database too; with ``actor``, who asked is audited as ``trust_list.sign``
    just before it). Still ``certify-trust-list/1``: the new field is inside the signed body,
    and lists without it verify as before."""
    with Session(engine) as session:
        rows = list(
            session.exec(
                select(SigningKey).order_by(col(SigningKey.issuer), col(SigningKey.valid_from))
            )
        )
    root = next((r for r in rows if r.role == "root" and r.retired_at is None), None)
    if root is None or root.private_key_encrypted is None:
        raise KeyProblem("没有根密钥，请先创建 / no root key: create one first")
    private = decrypt_private(root.private_key_encrypted, root_passphrase)
    root_algorithm = algorithm_named(root.algorithm)
    keys = [
        {
            "issuer": r.issuer,
            "name": r.scope.get("name", r.issuer),
            "role": r.role,
            "kid": r.kid,
            # The row's own algorithm: a key is never listed under another (an unknown name
            # stops the list from being made, before any checkpoint is recorded for it).
            "alg": algorithm_named(r.algorithm).cose_id,
            "public_key": b64(r.public_key),
            "valid_from": utc(r.valid_from).isoformat(),  # type: ignore[union-attr]
            "valid_until": v.isoformat() if (v := utc(r.valid_until)) else None,
            "scope": {k: v for k, v in r.scope.items() if k != "name"},
        }
        for r in rows
    ]
    with transaction(engine) as session:
        if actor is not None:
            audit_log.append(
                session,
                actor=actor,
                action="trust_list.sign",
                subject=root.kid,
                detail={"keys": len(keys)},
            )
        checkpoint = record(session, Signer.of(root, private), "trust-list")
    body = {
        "format": "certify-trust-list/1",
        "issued_at": utcnow().isoformat(),
        "root_kid": root.kid,
        "audit_checkpoint": checkpoint.document(),
        "keys": keys,
    }
    signature = root_algorithm.sign(private, canonical_json(body))
    return {**body, "signature": b64(signature)}
