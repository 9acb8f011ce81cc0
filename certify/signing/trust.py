"""Keys and the trust list: who may sign what, published and signed by the provincial root.

A *key* belongs to the provincial authority (role ``root``) or to an evaluation or training
institution (role ``institution``); its private half is stored encrypted with a passphrase
(PKCS#8, the best encryption ``cryptography`` offers), never in clear. Its kid is the first
8 bytes of SHA-256 of the public key. Rotating a key retires it — ``valid_until`` becomes the
rotation time — but keeps it in the trust list, so certificates it signed before still verify.

The *trust list* is JSON: every key with issuer, name, kid, algorithm, public key, validity and
scope (kinds of certificate, occupations, levels), the time it was issued, a root-signed
checkpoint of the audit log (:mod:`certify.audit.checkpoints`) made with it, and the root's signature
over the canonical JSON of all that. A verifier pins the root's kid.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.audit.checkpoints import Signer, record
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Error
from certify.signing.algorithms import ALGORITHMS, DEFAULT, SignatureInvalid, key_id
from schemas.tables import SigningKey, utcnow

MIN_PASSPHRASE = 12


class KeyProblem(Error):
    """A key cannot be made, found or opened (wrong passphrase, unknown issuer)."""

    code = "key"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def encrypt_private(private_key: bytes, passphrase: str) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyProblem(
            f"口令至少 {MIN_PASSPHRASE} 个字符 / the passphrase needs at least {MIN_PASSPHRASE} characters"
        )
    key = Ed25519PrivateKey.from_private_bytes(private_key)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )


def decrypt_private(blob: bytes, passphrase: str) -> bytes:
    """The raw private key; raises KeyProblem for a wrong passphrase."""
    try:
        key = serialization.load_pem_private_key(blob, passphrase.encode())
    except (ValueError, TypeError):
        raise KeyProblem(
            "口令错误，无法打开私钥 / wrong passphrase: the private key cannot be opened"
        ) from None
    assert isinstance(key, Ed25519PrivateKey)
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def create_key(
    engine: Engine,
    *,
    role: str,
    issuer: str,
    name: str,
    passphrase: str,
    scope: dict[str, list[Any]] | None = None,
    valid_until: datetime | None = None,
    actor: str = "cli",
) -> SigningKey:
    """A new key for ``issuer``; an institution may hold one active key, the root one."""
    if role not in ("root", "institution"):
        raise KeyProblem(f"未知角色 {role} / unknown role {role}")
    with transaction(engine) as session:
        active = _active(session, issuer)
        if active is not None:
            raise KeyProblem(
                f"{issuer} 已有有效密钥 {active.kid}，请使用轮换 / {issuer} has an active key {active.kid}: rotate it"
            )
        if (
            role == "root"
            and session.exec(
                select(SigningKey).where(
                    SigningKey.role == "root", col(SigningKey.retired_at).is_(None)
                )
            ).first()
        ):
            raise KeyProblem("已有根密钥 / a root key exists already")
        row = _new_key(issuer, role, passphrase, {"name": name, **(scope or {})}, utcnow())
        row.valid_until = valid_until
        session.add(row)
        session.flush()
        audit_log.append(
            session,
            actor=actor,
            action="key.create",
            subject=issuer,
            detail={"kid": row.kid, "role": role, "scope": row.scope},
        )
        return row


def _new_key(
    issuer: str, role: str, passphrase: str, scope: dict[str, Any], valid_from: datetime
) -> SigningKey:
    """A freshly generated key pair as a row, its private half encrypted under ``passphrase``."""
    private, public = DEFAULT.generate()
    return SigningKey(
        kid=key_id(public).hex(),
        issuer=issuer,
        role=role,
        algorithm=DEFAULT.name,
        public_key=public,
        private_key_encrypted=encrypt_private(private, passphrase),
        scope=scope,
        valid_from=valid_from,
    )


def _active(session: Session, issuer: str) -> SigningKey | None:
    return session.exec(
        select(SigningKey).where(SigningKey.issuer == issuer, col(SigningKey.retired_at).is_(None))
    ).first()


def rotate_key(engine: Engine, issuer: str, passphrase: str, *, actor: str = "cli") -> SigningKey:
    """Retire the issuer's active key (it stays published) and make a new one with its scope."""
    with transaction(engine) as session:
        old = _active(session, issuer)
        if old is None:
            raise KeyProblem(f"{issuer} 没有有效密钥 / {issuer} has no active key")
        now = utcnow()
        old.retired_at, old.valid_until = now, now
        session.add(old)
        row = _new_key(issuer, old.role, passphrase, old.scope, now)
        session.add(row)
        session.flush()
        audit_log.append(
            session,
            actor=actor,
            action="key.rotate",
            subject=issuer,
            detail={"retired": old.kid, "new": row.kid},
        )
        return row


def list_keys(engine: Engine) -> list[SigningKey]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(SigningKey).order_by(col(SigningKey.issuer), col(SigningKey.valid_from))
            )
        )


def signing_material(engine: Engine, issuer: str, passphrase: str) -> tuple[SigningKey, bytes]:
    """The issuer's active key row and its decrypted private key."""
    with Session(engine) as session:
        row = _active(session, issuer)
    if row is None or row.private_key_encrypted is None:
        raise KeyProblem(f"{issuer} 没有可用的签名密钥 / {issuer} has no active signing key")
    return row, decrypt_private(row.private_key_encrypted, passphrase)


def signer(engine: Engine, issuer: str | None, passphrase: str) -> Signer:
    """The active key of ``issuer`` (of the root when None), opened to sign audit checkpoints;
    raises KeyProblem."""
    if issuer is None:
        with Session(engine) as session:
            root = session.exec(
                select(SigningKey).where(
                    SigningKey.role == "root", col(SigningKey.retired_at).is_(None)
                )
            ).first()
        if root is None:
            raise KeyProblem("没有根密钥，请先创建 / no root key: create one first")
        issuer = root.issuer
    return Signer.of(*signing_material(engine, issuer, passphrase))


# --- trust list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedKey:
    issuer: str
    name: str
    role: str
    kid: str
    alg: int
    public_key: bytes
    valid_from: datetime
    valid_until: datetime | None
    scope: dict[str, list[Any]] = field(default_factory=dict)

    def allows(self, kind: int, occupation: str, level: str) -> bool:
        """Is a certificate of this kind, occupation and level within the key's scope?"""

        scope = self.scope
        for name, value in (("kinds", kind), ("occupations", occupation), ("levels", level)):
            allowed = scope.get(name)
            if allowed and value not in allowed:
                return False
        return True


@dataclass(frozen=True)
class TrustList:
    issued_at: datetime
    root_kid: str
    keys: dict[str, TrustedKey]
    pinned: bool = True
    """False only when loaded with ``allow_unpinned`` (experiments): every result then warns."""


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def build_trust_list(engine: Engine, root_passphrase: str) -> dict[str, Any]:
    """The trust list document, signed by the root key, with a root-signed audit checkpoint
    (recorded in the database too). Still ``certify-trust-list/1``: the new field is inside the
    signed body, and lists without it verify as before."""
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
    with transaction(engine) as session:
        checkpoint = record(session, Signer.of(root, private), "trust-list")
    body = {
        "format": "certify-trust-list/1",
        "issued_at": utcnow().isoformat(),
        "root_kid": root.kid,
        "audit_checkpoint": checkpoint.document(),
        "keys": [
            {
                "issuer": r.issuer,
                "name": r.scope.get("name", r.issuer),
                "role": r.role,
                "kid": r.kid,
                "alg": DEFAULT.cose_id,
                "public_key": _b64(r.public_key),
                "valid_from": _utc(r.valid_from).isoformat(),  # type: ignore[union-attr]
                "valid_until": v.isoformat() if (v := _utc(r.valid_until)) else None,
                "scope": {k: v for k, v in r.scope.items() if k != "name"},
            }
            for r in rows
        ],
    }
    signature = DEFAULT.sign(private, _canonical(body))
    return {**body, "signature": _b64(signature)}


class TrustListError(Error):
    code = "trust_list"


ROOT_KID_ENV = "CERTIFY_ROOT_KID"


class RootNotPinned(TrustListError):
    code = "root_not_pinned"

    def __init__(self) -> None:
        super().__init__(
            "未固定根密钥：信任列表可由任何人签发。请用 --root-kid 或环境变量 "
            f"{ROOT_KID_ENV} 指定省级根密钥的 kid（`certify keys root` 会打印它） / "
            "no pinned root: a trust list can be signed by anyone. Give the provincial root's "
            f"kid with --root-kid or {ROOT_KID_ENV} (`certify keys root` prints it)"
        )


def database_root_kid(engine: Engine) -> str | None:
    """The kid of the active root key this database holds (set up by `certify keys root`), if
    any: on the institution's own machine, the pin needs no further configuration."""
    with Session(engine) as session:
        root = session.exec(
            select(SigningKey).where(
                SigningKey.role == "root", col(SigningKey.retired_at).is_(None)
            )
        ).first()
    return root.kid if root else None


def load_trust_list(
    document: dict[str, Any], *, pinned_root_kid: str | None, allow_unpinned: bool = False
) -> TrustList:
    """Check the root's signature and that the root is the pinned one; raises TrustListError.

    Without a pinned root kid the list is refused (:class:`RootNotPinned`), unless
    ``allow_unpinned`` — for experiments only: the list is then marked unpinned and every
    verification result carries a warning."""
    if pinned_root_kid is None and not allow_unpinned:
        raise RootNotPinned()
    try:
        body = {k: v for k, v in document.items() if k != "signature"}
        keys = {
            k["kid"]: TrustedKey(
                issuer=k["issuer"],
                name=k["name"],
                role=k["role"],
                kid=k["kid"],
                alg=int(k["alg"]),
                public_key=base64.b64decode(k["public_key"]),
                valid_from=datetime.fromisoformat(k["valid_from"]),
                valid_until=datetime.fromisoformat(k["valid_until"]) if k["valid_until"] else None,
                scope=k.get("scope") or {},
            )
            for k in body["keys"]
        }
        root = keys[body["root_kid"]]
        signature = base64.b64decode(document["signature"])
        issued = datetime.fromisoformat(body["issued_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TrustListError(f"信任列表格式错误 / malformed trust list: {exc}") from None
    if pinned_root_kid is not None and root.kid != pinned_root_kid:
        raise TrustListError(
            f"信任列表的根密钥 {root.kid} 与预置的 {pinned_root_kid} 不符 / the list's root {root.kid} is not the pinned {pinned_root_kid}"
        )
    if key_id(root.public_key).hex() != root.kid:
        raise TrustListError("根密钥与其 kid 不符 / the root key does not match its kid")
    try:
        ALGORITHMS[root.alg].verify(root.public_key, _canonical(body), signature)
    except (SignatureInvalid, KeyError):
        raise TrustListError(
            "信任列表的根签名无效 / the trust list's root signature does not verify"
        ) from None
    return TrustList(issued, root.kid, keys, pinned=pinned_root_kid is not None)
