"""SM2 签名 with SM3: the signature of GB/T 32918.2-2016 (GM/T 0003.2) on the curve of
GB/T 32918.5-2017, over ``e = SM3(Z_A ‖ M)`` with the default signer ID ``1234567812345678`` of
GB/T 35276-2017, carried as raw ``r ‖ s`` (64 bytes, like Ed25519's).

The arithmetic is Tongsuo's (铜锁, the OpenSSL fork built for China's commercial cryptography),
through its Python SDK ``tongsuopy``: of the candidates on PyPI it is
the fastest by about two to one and releases the GIL, so a bulk check runs on every CPU
(``bench/sm2_libraries.py``; the choice and its risks are in docs/certificates.md). Tongsuo
computes Z_A with the default signer ID itself; the tests hold it to the standard's worked
example (its Z_A, e, r and s) and to two implementations that share no code with it.

COSE has no registered algorithm id for SM2: certify uses :data:`COSE_ID`, from the range the
COSE Algorithms registry (RFC 9053, IANA) reserves for private use (below -65536). It is named
here and nowhere else.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from tongsuopy.crypto import hashes
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.exceptions import InvalidSignature

from certify.infra.errors import Error

COSE_ID = -65_537
"""certify's private-use COSE algorithm id for SM2 with SM3 (the COSE Algorithms registry
reserves ids below -65536 for private use)."""

SIGNER_ID = b"1234567812345678"
"""The default signer ID (用户身份标识) of GB/T 35276-2017, which Tongsuo uses when none is set."""

N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
"""The order of the base point of the recommended curve (GB/T 32918.5-2017)."""

PRIVATE_SIZE = 32
"""certify's SM2 private key: the scalar d, big-endian."""

_WITH_SM3 = ec.ECDSA(hashes.SM3())
"""Tongsuo's name for signing with an SM2 key: SM3 over Z_A ‖ M, Z_A with the default ID."""


class SM2KeyError(Error):
    code = "sm2_key"


@lru_cache(maxsize=256)
def _public(public_key: bytes) -> ec.EllipticCurvePublicKey:
    """The key object of a public key ``x ‖ y`` (64 bytes), made once per key; raises
    SM2KeyError for anything that is not a point of the curve."""
    if len(public_key) != 64:
        raise SM2KeyError("SM2 公钥应为 64 字节 / an SM2 public key is 64 bytes (x ‖ y)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), b"\x04" + public_key)
    except ValueError:
        raise SM2KeyError(
            "SM2 公钥不是曲线上的点 / the SM2 public key is not a point of the curve"
        ) from None


@lru_cache(maxsize=16)
def _private(private_key: bytes) -> ec.EllipticCurvePrivateKey:
    if len(private_key) != PRIVATE_SIZE or not 0 < int.from_bytes(private_key, "big") < N - 1:
        raise SM2KeyError("SM2 私钥无效 / an SM2 private key is a 32-byte scalar in [1, n-2]")
    return ec.derive_private_key(int.from_bytes(private_key, "big"), ec.SM2())


def public_of(private_key: bytes) -> bytes:
    """The public key ``x ‖ y`` of a private key; raises SM2KeyError."""
    numbers = _private(private_key).public_key().public_numbers()
    x, y = int(numbers.x), int(numbers.y)
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def generate() -> tuple[bytes, bytes]:
    """A new (private key d, public key x ‖ y)."""
    key = ec.generate_private_key(ec.SM2())
    private = int(key.private_numbers().private_value).to_bytes(32, "big")
    return private, public_of(private)


def sign(private_key: bytes, message: bytes) -> bytes:
    """The raw ``r ‖ s`` signature of ``message`` (k drawn by Tongsuo from the system's random
    source); raises SM2KeyError for a malformed private key."""
    r, s = decode_dss_signature(_private(private_key).sign(message, _WITH_SM3))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def holds(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Does the raw ``r ‖ s`` signature of ``message`` hold under the public key ``x ‖ y``?
    False, never an exception, for anything malformed (lengths, r or s outside [1, n-1], a
    public key off the curve)."""
    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    try:
        _public(public_key).verify(encode_dss_signature(r, s), message, _WITH_SM3)
    except (SM2KeyError, InvalidSignature, ValueError):
        return False
    return True
