"""Shamir's secret sharing over GF(2^8): a secret split into n shares, any k of which give it back.

Each byte of the secret is the constant term of its own random polynomial of degree k − 1 over
GF(2^8) (the AES field, reduction polynomial x^8 + x^4 + x^3 + x + 1); share ``x`` (1…255) holds
the polynomials' values at ``x``. Any k shares give the secret by Lagrange interpolation at 0,

    f(0) = Σ_j y_j · Π_{m≠j} x_m / (x_m − x_j)        (in GF(2^8), where − is +, i.e. XOR);

fewer than k tell nothing about it: every secret is equally consistent with them (Shamir, "How
to share a secret", CACM 22(11), 1979). This is the construction of HashiCorp Vault's unseal
keys and of ``ssss``; it is small enough to check whole, and its tests check it: any k of n
shares round-trip, k − 1 shares are consistent with every secret, and the field is a field.

Randomness comes from :mod:`secrets` (the operating system's CSPRNG); nothing here is seeded.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from certify.infra.errors import Error

_EXP = [0] * 510
_LOG = [0] * 256


def _tables() -> None:
    """Powers and logarithms of the generator 3 (x + 1), a primitive element of the field."""
    value = 1
    for power in range(255):
        _EXP[power] = value
        _LOG[value] = power
        doubled = value << 1
        if doubled & 0x100:
            doubled ^= 0x11B
        value ^= doubled  # value · 3 = value · 2 + value
    for power in range(255, 510):
        _EXP[power] = _EXP[power - 255]


_tables()


def mul(a: int, b: int) -> int:
    """a · b in GF(2^8)."""
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def div(a: int, b: int) -> int:
    """a / b in GF(2^8); raises ZeroDivisionError for b = 0."""
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(2^8)")
    if a == 0:
        return 0
    return _EXP[_LOG[a] + 255 - _LOG[b]]


class SharingError(Error):
    """Shares that cannot give a secret back: too few, repeated, or of different lengths."""

    code = "shares"


@dataclass(frozen=True)
class Share:
    """One share: its point ``x`` (1…255) and the polynomials' values there, one per byte."""

    x: int
    y: bytes


def split(secret: bytes, *, threshold: int, shares: int) -> list[Share]:
    """``shares`` shares of ``secret``, any ``threshold`` of which give it back (points 1…n).

    Raises ValueError unless 1 ≤ threshold ≤ shares ≤ 255 and the secret is not empty.
    """
    if not secret:
        raise ValueError("an empty secret")
    if not 1 <= threshold <= shares <= 255:
        raise ValueError(f"need 1 ≤ threshold ≤ shares ≤ 255, got {threshold} of {shares}")
    # coefficients[i][d]: byte i's coefficient of x^d; d = 0 is the secret byte itself
    coefficients = [[byte, *secrets.token_bytes(threshold - 1)] for byte in secret]
    return [
        Share(x, bytes(_evaluate(poly, x) for poly in coefficients)) for x in range(1, shares + 1)
    ]


def _evaluate(poly: list[int], x: int) -> int:
    """poly(x) by Horner's rule."""
    value = 0
    for coefficient in reversed(poly):
        value = mul(value, x) ^ coefficient
    return value


def combine(shares: list[Share]) -> bytes:
    """The secret that ``shares`` (at least the threshold of them) were split from.

    Raises SharingError for no shares, a point outside 1…255, a point given twice or shares of
    different lengths. Fewer shares than the threshold give a wrong secret, not an error — the
    caller proves the secret (an authenticated decryption does).
    """
    if not shares:
        raise SharingError("没有份额 / no shares")
    points = [s.x for s in shares]
    if any(not 1 <= x <= 255 for x in points):
        raise SharingError("份额编号超出范围 / a share's number is out of range")
    if len(set(points)) != len(points):
        raise SharingError("同一份额给了两次 / a share was given twice")
    if len({len(s.y) for s in shares}) != 1:
        raise SharingError("份额长度不一致 / the shares differ in length")
    weights = [_lagrange_at_zero(points, j) for j in range(len(points))]
    out = bytearray(len(shares[0].y))
    for weight, share in zip(weights, shares, strict=True):
        for i, y in enumerate(share.y):
            out[i] ^= mul(weight, y)
    return bytes(out)


def _lagrange_at_zero(points: list[int], j: int) -> int:
    """Π_{m≠j} x_m / (x_m − x_j): the weight of share j in f(0)."""
    weight = 1
    for m, x in enumerate(points):
        if m != j:
            weight = mul(weight, div(x, x ^ points[j]))
    return weight
