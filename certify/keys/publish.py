"""The trust list as the root publishes it: every key with its issuer, algorithm, validity and
scope, and a root-signed checkpoint of the audit log, signed by the root over the canonical JSON
(:func:`certify.signing.trust.load_trust_list` checks it). Each key is listed under the algorithm
its row states, and the root signs with its own, Ed25519 or SM2."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.audit.checkpoints import Signer, record
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.institutions import registry as institutions
from certify.institutions.registry import Grant
from certify.institutions.scope import require_platform
from certify.keys.store import KeyProblem, b64, database_root_kid, decrypt_private, utc
from certify.signing.algorithms import algorithm_named
from certify.signing.trust import canonical_json, load_trust_list
from certify.signing.verify import load_revocation_list
from schemas.tables import PublishedList, SigningKey, utcnow


def build_trust_list(
    engine: Engine, root_passphrase: str, *, actor: str | None = None
) -> dict[str, Any]:
    """The trust list document, signed by the root key, with a root-signed audit checkpoint
    (recorded in the database too; with ``actor``, who asked is audited as ``trust_list.sign``
    just before it). Still ``certify-trust-list/1``: the new field is inside the signed body,
    and lists without it verify as before. Only a platform account signs it: under an
    institution's scope it would leave out every other institution's keys."""
    require_platform("签署信任列表", "sign the trust list")
    with Session(engine) as session:
        rows = list(
            session.exec(
                select(SigningKey).order_by(col(SigningKey.issuer), col(SigningKey.valid_from))
            )
        )
        grants = {
            issuer: institutions.grants_of(session, issuer)
            for issuer in {r.issuer for r in rows if r.role == "institution"}
        }
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
            "scope": _scope(r, grants.get(r.issuer)),
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


def _scope(key: SigningKey, grants: tuple[Grant, ...] | None) -> dict[str, Any]:
    """The key's scope as published: what its row states, and for an institution's key the
    institution's authorisations (``grants``, each with its period), so a verifier refuses a
    certificate of an occupation, level or day the institution was not authorised for, even
    under a key whose own scope is wider."""
    scope = {k: v for k, v in key.scope.items() if k != "name"}
    if grants is not None:
        scope["grants"] = [g.as_json() for g in grants]
    return scope


TRUST_LIST, REVOCATIONS = "trust_list", "revocations"
"""The kinds of list the web app publishes."""


def publish_list(engine: Engine, kind: str, document: dict[str, Any], *, actor: str) -> int:
    """Store ``document`` as the list of ``kind`` this site now publishes and verifies against
    (audited as ``<kind>.publish`` with its SHA-256); returns its id. A trust list must load
    under the root key this database holds, and a revocation list must verify under the trust
    list published now: a list that would not verify is refused (KeyProblem) and nothing is
    stored."""
    try:
        if kind == TRUST_LIST:
            load_trust_list(document, pinned_root_kid=database_root_kid(engine))
        elif kind == REVOCATIONS:
            current = newest_published(engine, TRUST_LIST)
            if current is None:
                raise KeyProblem(
                    "请先发布信任列表 / publish a trust list first: the revocation list is "
                    "verified under it"
                )
            trust = load_trust_list(current[1], pinned_root_kid=database_root_kid(engine))
            load_revocation_list(document, trust)
        else:
            raise KeyProblem(f"unknown list {kind!r}")
    except KeyProblem:
        raise
    except Exception as exc:  # a list that does not verify: say why, store nothing
        raise KeyProblem(f"列表未通过验证，未发布 / the list does not verify: {exc}") from exc
    content = json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1).encode()
    digest = hashlib.sha256(content).hexdigest()
    with transaction(engine) as session:
        row = PublishedList(kind=kind, content=content, sha256=digest, actor=actor)
        session.add(row)
        session.flush()
        audit_log.append(
            session,
            actor=actor,
            action=f"{kind}.publish",
            subject=kind,
            detail={"id": row.id, "sha256": digest},
        )
        return row.id or 0


def newest_published(engine: Engine, kind: str) -> tuple[int, dict[str, Any]] | None:
    """The newest list of ``kind`` published here, with its id; None when none is."""
    row = newest_row(engine, kind)
    return None if row is None else (row.id or 0, json.loads(row.content))


def newest_published_id(engine: Engine, kind: str) -> int | None:
    """Only the newest id (a cheap look whether a process's copy is still the newest)."""
    with Session(engine) as session:
        return session.exec(
            select(func.max(PublishedList.id)).where(PublishedList.kind == kind)
        ).first()


def published_lists(engine: Engine) -> list[PublishedList]:
    """The newest published list of each kind (for the keys page), newest first."""
    found = [newest_row(engine, kind) for kind in (TRUST_LIST, REVOCATIONS)]
    return [row for row in found if row is not None]


def newest_row(engine: Engine, kind: str) -> PublishedList | None:
    """The newest published row of ``kind``, or None."""
    with Session(engine) as session:
        return session.exec(
            select(PublishedList)
            .where(PublishedList.kind == kind)
            .order_by(col(PublishedList.id).desc())
        ).first()
