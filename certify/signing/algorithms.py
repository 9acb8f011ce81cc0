"""The one small interface every signature algorithm sits behind, and its two implementations:
Ed25519 and SM2 with SM3 (:mod:`certify.signing.sm2`).

Each algorithm belongs to a *suite*: its signature, and the hash (:mod:`certify.infra.digests`)
that fingerprints the PDFs and chains the audit entries an institution using it makes. A key
states its algorithm (the ``signing_key`` row's ``algorithm``, the trust list's ``alg``); a
verifier takes it from there, never from a token's header.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from certify.infra.digests import SHA256, SM3
from certify.infra.errors import Error
from certify.signing import sm2


class SignatureInvalid(Error):
    code = "signature"


class UnknownAlgorithm(Error):
    code = "algorithm"


class Algorithm(Protocol):
    """A signature algorithm: its COSE id, its names, the hash of its suite, and sign / verify /
    key generation over raw bytes."""

    cose_id: int
    name: str
    """As a ``signing_key`` row stores it (``EdDSA``, ``SM2``)."""
    option: str
    """As a person types it (``ed25519``, ``sm2``)."""
    label: str
    """As a certificate prints it after 签名算法."""
    digest: str
    """The suite's hash: :data:`certify.infra.digests.SHA256` or ``SM3``."""

    def generate(self) -> tuple[bytes, bytes]:
        """A new (private key, public key), both as raw bytes."""

    def sign(self, private_key: bytes, message: bytes) -> bytes: ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Return quietly, or raise SignatureInvalid; never a bare False."""


_INVALID = "签名无效 / the signature does not verify"


class Ed25519:
    """EdDSA over Curve25519 (RFC 8032); COSE algorithm -8; suite hash SHA-256."""

    cose_id = -8
    name = "EdDSA"
    option = "ed25519"
    label = "Ed25519"
    digest = SHA256

    def generate(self) -> tuple[bytes, bytes]:
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return private, public

    def sign(self, private_key: bytes, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(private_key).sign(message)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            raise SignatureInvalid(_INVALID) from None


class SM2:
    """SM2 signature with SM3 and the default signer ID (GB/T 32918.2, GB/T 35276), raw r ‖ s;
    COSE id :data:`certify.signing.sm2.COSE_ID` (private use); suite hash SM3."""

    cose_id = sm2.COSE_ID
    name = "SM2"
    option = "sm2"
    label = "SM2（SM3）"
    digest = SM3

    def generate(self) -> tuple[bytes, bytes]:
        return sm2.generate()

    def sign(self, private_key: bytes, message: bytes) -> bytes:
        return sm2.sign(private_key, message)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        if not sm2.holds(public_key, message, signature):
            raise SignatureInvalid(_INVALID)


ALGORITHMS: dict[int, Algorithm] = {Ed25519.cose_id: Ed25519(), SM2.cose_id: SM2()}
DEFAULT = ALGORITHMS[Ed25519.cose_id]
OPTIONS = tuple(a.option for a in ALGORITHMS.values())
"""What ``--algorithm`` accepts."""


def algorithm_named(name: str) -> Algorithm:
    """The algorithm a key row names (``EdDSA``, ``SM2``) or a person types (``ed25519``,
    ``sm2``); raises UnknownAlgorithm — never a default in its place."""
    for algorithm in ALGORITHMS.values():
        if name in (algorithm.name, algorithm.option):
            return algorithm
    raise UnknownAlgorithm(
        f"未知的签名算法 {name!r}（可选 {', '.join(OPTIONS)}）/ unknown signature algorithm "
        f"{name!r} (choose {', '.join(OPTIONS)})"
    )


def key_id(public_key: bytes) -> bytes:
    """kid: the first 8 bytes of SHA-256 of the raw public key, whatever the key's suite (an
    identifier, the same for every verifier; not a fingerprint that the suite's hash governs)."""
    return hashlib.sha256(public_key).digest()[:8]
