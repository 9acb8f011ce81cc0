"""Keys at rest: a *key* belongs to the provincial authority (role ``root``) or to an evaluation
or training institution (role ``institution``) and states its algorithm (Ed25519 or SM2 with SM3,
:mod:`certify.signing.algorithms`); its private half is stored encrypted with a passphrase, never
in clear — an Ed25519 key as PKCS#8 (the best encryption ``cryptography`` offers), an SM2 key,
which ``cryptography`` cannot hold, sealed with AES-256-GCM under a scrypt key
(:func:`encrypt_private`). Its kid is the first 8 bytes of SHA-256 of the public key. Rotating a
key retires it — ``valid_until`` becomes the rotation time — but keeps it in the trust list, so
certificates it signed before still verify; the new key may be of the other algorithm.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from certify.audit.checkpoints import Signer
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Error
from certify.institutions import registry as institutions
from certify.institutions import scope as institutions_scope
from certify.signing.algorithms import DEFAULT, SM2, Algorithm, algorithm_named, key_id
from schemas.tables import SigningKey, utcnow

MIN_PASSPHRASE = 12


class KeyProblem(Error):
    """A key cannot be made, found or opened (wrong passphrase, unknown issuer)."""

    code = "key"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_SEALED = "CERTIFY SM2 PRIVATE KEY"
_SEALED_FORMAT = b"certify-sm2-private-key/1"
"""Bound to the ciphertext (AES-GCM's associated data): a sealed key of another format or
version does not open."""


def _scrypt(salt: bytes) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1)


def _check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyProblem(
            f"口令至少 {MIN_PASSPHRASE} 个字符 / the passphrase needs at least {MIN_PASSPHRASE} characters"
        )


def encrypt_private(private_key: bytes, passphrase: str, algorithm: Algorithm) -> bytes:
    """The private key encrypted under ``passphrase`` as PEM: PKCS#8 for Ed25519; for SM2
    ``CERTIFY SM2 PRIVATE KEY``, a version byte, scrypt salt (N = 2^15, r = 8, p = 1), GCM nonce
    and the AES-256-GCM ciphertext of the 32-byte scalar d."""
    _check_passphrase(passphrase)
    if algorithm.name == SM2.name:
        salt, nonce = os.urandom(16), os.urandom(12)
        sealed = AESGCM(_scrypt(salt).derive(passphrase.encode())).encrypt(
            nonce, private_key, _SEALED_FORMAT
        )
        body = base64.encodebytes(b"\x01" + salt + nonce + sealed).decode("ascii")
        return f"-----BEGIN {_SEALED}-----\n{body}-----END {_SEALED}-----\n".encode("ascii")
    key = Ed25519PrivateKey.from_private_bytes(private_key)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )


_WRONG = "口令错误，无法打开私钥 / wrong passphrase: the private key cannot be opened"


def decrypt_private(blob: bytes, passphrase: str) -> bytes:
    """The raw private key (of either algorithm, told by its PEM label); raises KeyProblem for
    a wrong passphrase or a damaged blob."""
    if blob.startswith(f"-----BEGIN {_SEALED}-----".encode()):
        return _unseal(blob, passphrase)
    try:
        key = serialization.load_pem_private_key(blob, passphrase.encode())
    except (ValueError, TypeError):
        raise KeyProblem(_WRONG) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem("私钥不是 Ed25519 密钥 / the private key is not an Ed25519 key")
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _unseal(blob: bytes, passphrase: str) -> bytes:
    try:
        lines = blob.decode("ascii").strip().splitlines()
        data = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (UnicodeDecodeError, ValueError):
        raise KeyProblem("私钥已损坏 / the sealed private key is damaged") from None
    if len(data) < 1 + 16 + 12 + 16 or data[0] != 1:
        raise KeyProblem("私钥已损坏 / the sealed private key is damaged")
    salt, nonce, sealed = data[1:17], data[17:29], data[29:]
    try:
        return AESGCM(_scrypt(salt).derive(passphrase.encode())).decrypt(
            nonce, sealed, _SEALED_FORMAT
        )
    except InvalidTag:
        raise KeyProblem(_WRONG) from None


def create_key(
    engine: Engine,
    *,
    role: str,
    issuer: str,
    name: str,
    passphrase: str,
    scope: dict[str, list[Any]] | None = None,
    valid_until: datetime | None = None,
    algorithm: Algorithm = DEFAULT,
    actor: str = "cli",
) -> SigningKey:
    """A new key of ``algorithm`` for ``issuer``; an institution may hold one active key, the
    root one."""
    if role not in ("root", "institution"):
        raise KeyProblem(f"未知角色 {role} / unknown role {role}")
    if role == "root":
        institutions_scope.require_platform("创建根密钥", "create the root key")
    with transaction(engine) as session:
        if role == "institution":
            issuer, name = _institution(session, issuer, name)
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
        row = _new_key(
            issuer, role, passphrase, {"name": name, **(scope or {})}, utcnow(), algorithm
        )
        row.valid_until = valid_until
        session.add(row)
        session.flush()
        audit_log.append(
            session,
            actor=actor,
            action="key.create",
            subject=issuer,
            detail={"kid": row.kid, "role": role, "algorithm": row.algorithm, "scope": row.scope},
            digest=algorithm.digest,
        )
        return row


def _institution(session: Session, issuer: str, name: str) -> tuple[str, str]:
    """The code and name of the institution ``issuer`` names (by code or name): a key is made
    only for an institution on record, under its code, with its name."""
    try:
        inst = institutions.get(session, issuer)
    except institutions.InstitutionError as exc:
        raise KeyProblem(str(exc)) from None
    if name.strip() and name.strip() != inst.name:
        raise KeyProblem(
            f"机构 {inst.code} 的名称是 {inst.name}，不是 {name[:80]} / institution {inst.code} is "
            f"named {inst.name}, not {name[:80]}"
        )
    return inst.code, inst.name


def _new_key(
    issuer: str,
    role: str,
    passphrase: str,
    scope: dict[str, Any],
    valid_from: datetime,
    algorithm: Algorithm,
) -> SigningKey:
    """A freshly generated key pair as a row, its private half encrypted under ``passphrase``."""
    _check_passphrase(passphrase)
    private, public = algorithm.generate()
    return SigningKey(
        kid=key_id(public).hex(),
        issuer=issuer,
        role=role,
        algorithm=algorithm.name,
        public_key=public,
        private_key_encrypted=encrypt_private(private, passphrase, algorithm),
        scope=scope,
        valid_from=valid_from,
    )


def _active(session: Session, issuer: str) -> SigningKey | None:
    return session.exec(
        select(SigningKey).where(SigningKey.issuer == issuer, col(SigningKey.retired_at).is_(None))
    ).first()


def rotate_key(
    engine: Engine,
    issuer: str,
    passphrase: str,
    *,
    algorithm: Algorithm | None = None,
    actor: str = "cli",
) -> SigningKey:
    """Retire the issuer's active key (it stays published) and make a new one with its scope,
    of ``algorithm`` (None: the old key's), so an institution moves between suites by rotating."""
    with transaction(engine) as session:
        old = _active(session, issuer)
        if old is None:
            raise KeyProblem(f"{issuer} 没有有效密钥 / {issuer} has no active key")
        if old.role == "root":
            institutions_scope.require_platform("轮换根密钥", "rotate the root key")
        now = utcnow()
        old.retired_at, old.valid_until = now, now
        session.add(old)
        chosen = algorithm or algorithm_named(old.algorithm)
        row = _new_key(issuer, old.role, passphrase, old.scope, now, chosen)
        session.add(row)
        session.flush()
        audit_log.append(
            session,
            actor=actor,
            action="key.rotate",
            subject=issuer,
            detail={"retired": old.kid, "new": row.kid, "algorithm": row.algorithm},
            digest=chosen.digest,
        )
        return row


def list_keys(engine: Engine) -> list[SigningKey]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(SigningKey).order_by(col(SigningKey.issuer), col(SigningKey.valid_from))
            )
        )


KEY_SORTS: dict[str, Any] = {
    "issuer": col(SigningKey.issuer),
    "role": col(SigningKey.role),
    "algorithm": col(SigningKey.algorithm),
    "valid_from": col(SigningKey.valid_from),
    "retired_at": col(SigningKey.retired_at),
}


@dataclass(frozen=True)
class KeyPage:
    """One page of keys, sorted by ``sort`` (the database sorts, counts and cuts)."""

    rows: list[SigningKey]
    total: int
    page: int
    per_page: int
    sort: str
    descending: bool

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def keys_page(
    engine: Engine,
    *,
    sort: str = "issuer",
    descending: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> KeyPage:
    """One page of every key, active or retired, by ``sort`` (one of :data:`KEY_SORTS`, else
    by issuer), then issuer and validity."""
    sort = sort if sort in KEY_SORTS else "issuer"
    per_page = max(1, min(per_page, 200))
    order = KEY_SORTS[sort]
    with Session(engine) as session:
        total = int(session.exec(select(func.count()).select_from(SigningKey)).one())
        page = max(1, min(page, max(1, -(-total // per_page))))
        rows = list(
            session.exec(
                select(SigningKey)
                .order_by(
                    order.desc() if descending else order,
                    col(SigningKey.issuer),
                    col(SigningKey.valid_from),
                )
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
        )
    return KeyPage(rows, total, page, per_page, sort, descending)


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
