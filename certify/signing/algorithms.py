"""The one small interface every signature algorithm sits behind, and its Ed25519 implementation.

Swapping algorithms (e.g. for SM2 under GM/T 0003 should a province require it) means adding
one class with these four members and its COSE algorithm id; nothing else changes.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from certify.infra.errors import Error


class SignatureInvalid(Error):
    code = "signature"


class Algorithm(Protocol):
    """A signature algorithm: its COSE id, and sign / verify / key generation over raw bytes."""

    cose_id: int
    name: str

    def generate(self) -> tuple[bytes, bytes]:
        """A new (private key, public key), both as raw bytes."""

    def sign(self, private_key: bytes, message: bytes) -> bytes: ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Return quietly, or raise SignatureInvalid; never a bare False."""


class Ed25519:
    """EdDSA over Curve25519 (RFC 8032); COSE algorithm -8."""

    cose_id = -8
    name = "EdDSA"

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
            raise SignatureInvalid("签名无效 / the signature does not verify") from None


ALGORITHMS: dict[int, Algorithm] = {Ed25519.cose_id: Ed25519()}
DEFAULT = ALGORITHMS[Ed25519.cose_id]


def key_id(public_key: bytes) -> bytes:
    """kid: the first 8 bytes of SHA-256 of the raw public key."""
    return hashlib.sha256(public_key).digest()[:8]
