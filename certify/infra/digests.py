"""摘要算法: the hash of a signature suite — SHA-256 beside Ed25519, SM3 (GB/T 32905-2016)
beside SM2 — that fingerprints certificate PDFs and chains the audit log. Every stored value is
recorded with the name of the hash that made it, so records made under either stay checkable."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes

from certify.infra.errors import Error

SHA256 = "sha256"
SM3 = "sm3"
DIGESTS = (SHA256, SM3)
"""The names a record may carry; the first is what rows made before suites existed read as."""


class UnknownDigest(Error):
    code = "digest"


def digest(name: str, data: bytes) -> bytes:
    """The 32-byte digest of ``data`` under the hash ``name``; raises UnknownDigest."""
    if name == SHA256:
        return hashlib.sha256(data).digest()
    if name == SM3:
        hasher = hashes.Hash(hashes.SM3())
        hasher.update(data)
        return hasher.finalize()
    raise UnknownDigest(f"未知的摘要算法 {name!r} / unknown digest {name!r}")


def hexdigest(name: str, data: bytes) -> str:
    """:func:`digest` as 64 lower-case hexadecimal digits."""
    return digest(name, data).hex()
