"""SM2 签名 with SM3: the signature of GB/T 32918.2-2016 (GM/T 0003.2) on the curve of
GB/T 32918.5-2017, over the digest ``e = SM3(Z_A ‖ M)`` with the default signer ID
``1234567812345678`` of GB/T 35276-2017, carried as raw ``r ‖ s`` (64 bytes, like Ed25519's).

The point arithmetic is GmSSL's, through ``gmssl-pyx`` (the fastest of the PyPI candidates,
``bench/sm2_libraries.py``); ``Z_A`` and ``e`` are computed here, with ``cryptography``'s SM3, so
that the library only signs and verifies a digest and each step can be checked against the
standard's example byte for byte (``tests/certify/test_sm2.py``).

COSE has no registered algorithm id for SM2: certify uses :data:`COSE_ID`, from the range RFC
9053 leaves for private use (below -65536). It is named here and nowhere else.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import gmssl_pyx
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from certify.infra.digests import SM3, digest
from certify.infra.errors import Error

COSE_ID = -65_537
"""certify's private-use COSE algorithm id for SM2 with SM3 (RFC 9053 §16.4: ids below -65536
are for private use)."""

SIGNER_ID = b"1234567812345678"
"""The default signer ID (用户身份标识) of GB/T 35276-2017 §11.2."""

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
"""The recommended curve y² = x³ + ax + b over F_p, its order n and base point G
(GB/T 32918.5-2017)."""

PRIVATE_SIZE = 96
"""certify's SM2 private key: the scalar d (32 bytes) followed by its public point x ‖ y (64),
as GmSSL's own key structure holds them — signing hashes the public point into Z_A."""


T = TypeVar("T")
_STDERR = threading.Lock()


def _quietly(call: Callable[[], T]) -> T:
    """``call()`` with the process's standard error sent to /dev/null: GmSSL prints its source
    lines there whenever a signature does not verify, and a forged token must not write to the
    verifier's terminal or its server's error log. The lock keeps two calls from swapping the
    descriptor under each other (GmSSL holds the GIL throughout, so it costs no parallelism)."""
    with _STDERR:
        try:
            saved = os.dup(2)
        except OSError:  # no standard error at all: nothing to keep quiet
            return call()
        sink = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(sink, 2)
            return call()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(sink)


class SM2KeyError(Error):
    code = "sm2_key"


def _int(value: bytes) -> int:
    return int.from_bytes(value, "big")


def _on_curve(public_key: bytes) -> bool:
    if len(public_key) != 64:
        return False
    x, y = _int(public_key[:32]), _int(public_key[32:])
    return x < P and y < P and (y * y - (x * x * x + A * x + B)) % P == 0


@lru_cache(maxsize=256)
def z_a(public_key: bytes, signer_id: bytes = SIGNER_ID) -> bytes:
    """Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A), ENTL_A the ID's length in bits
    as two bytes (GB/T 32918.2-2016 §5.5); raises SM2KeyError for a public key that is not a
    point of the curve (x ‖ y, 64 bytes)."""
    if not _on_curve(public_key):
        raise SM2KeyError("SM2 公钥不是曲线上的点 / the SM2 public key is not a point of the curve")
    fields = b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY))
    return digest(SM3, (len(signer_id) * 8).to_bytes(2, "big") + signer_id + fields + public_key)


def message_digest(public_key: bytes, message: bytes) -> bytes:
    """e = SM3(Z_A ‖ M), what the signature covers (GB/T 32918.2-2016 §6.1 steps A1–A2)."""
    return digest(SM3, z_a(public_key) + message)


def sign(private_key: bytes, message: bytes) -> bytes:
    """The raw ``r ‖ s`` signature of ``message`` under a :data:`PRIVATE_SIZE`-byte private key
    (k drawn by GmSSL from the system's random source); raises SM2KeyError."""
    if len(private_key) != PRIVATE_SIZE:
        raise SM2KeyError("SM2 私钥长度错误 / an SM2 private key is 96 bytes (d ‖ x ‖ y)")
    e = message_digest(private_key[32:], message)
    r, s = decode_dss_signature(gmssl_pyx.sm2_sign_sm3_digest(private_key[:32], e))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def holds(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Does the raw ``r ‖ s`` signature of ``message`` hold under the public key ``x ‖ y``?
    False, never an exception, for anything malformed (lengths, r or s outside [1, n-1], a
    public key off the curve)."""
    if len(signature) != 64:
        return False
    r, s = _int(signature[:32]), _int(signature[32:])
    if not (0 < r < N and 0 < s < N):
        return False
    try:
        e = message_digest(public_key, message)
        der = encode_dss_signature(r, s)
        return bool(_quietly(lambda: gmssl_pyx.sm2_verify_sm3_digest(public_key, e, der)))
    except (SM2KeyError, gmssl_pyx.GmsslInnerError):
        return False


def generate() -> tuple[bytes, bytes]:
    """A new (private key d ‖ x ‖ y, public key x ‖ y)."""
    public, private = gmssl_pyx.sm2_key_generate()
    return private + public, public
