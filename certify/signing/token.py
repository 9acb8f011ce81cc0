"""证书令牌: the signed token inside a certificate's QR code.

Claims are CBOR with small integer keys; the envelope is COSE_Sign1 (RFC 9052, tag 18) with the
algorithm and kid in the protected header; the bytes are written in RFC 4648 base32 without
padding — only A–Z and 2–7, all in the QR alphanumeric set and safe in a URL path — after an
upper-case verification URL, so a phone camera opens the page and an offline verifier reads the
same token:

    HTTPS://VERIFY.EXAMPLE.CN/V/<BASE32 COSE_Sign1>

Claims never include the ID number, in clear or hashed. Level, kind and dates are small
integers (dates as days since 2020-01-01) and the occupation its short name (``ai``), so that a
full token fits QR version 10 at error correction M.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum

import cbor2

from certify.infra.errors import Error
from certify.signing.algorithms import ALGORITHMS, Algorithm, key_id
from schemas.enums import CertificateKind

COSE_SIGN1_TAG = 18
HEADER_ALG, HEADER_KID = 1, 4
EPOCH = date(2020, 1, 1)
"""Dates are days since this epoch (small integers keep the token short)."""


class Kind(IntEnum):
    """证书类型 as a token writes it: the numbers of :attr:`CertificateKind.code`."""

    LEVEL = CertificateKind.LEVEL.code
    TRAINING = CertificateKind.TRAINING.code

    @property
    def certificate_kind(self) -> CertificateKind:
        return CertificateKind.from_code(self)


KIND_NAMES = {k: (k.certificate_kind.zh, k.certificate_kind.en) for k in Kind}
"""Each kind's labels, Chinese and English (from :class:`CertificateKind`)."""

LEVEL_CODES = {"junior": 1, "intermediate": 2, "senior": 3}


_UNREADABLE = (
    cbor2.CBORDecodeError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    OverflowError,
    RecursionError,
)
"""What decoding untrusted CBOR may raise; each becomes a TokenFormatError."""


class TokenFormatError(Error):
    """The text is not a certify token (truncated, garbled, not base32, not COSE_Sign1)."""

    code = "token_format"


@dataclass(frozen=True)
class Claims:
    """What a certificate states, as signed."""

    serial: str
    kind: Kind
    holder: str
    occupation: str
    level: str
    issued: date
    issuer: str
    expires: date | None = None

    def to_cbor(self) -> bytes:
        body: dict[int, object] = {
            1: self.serial,
            2: int(self.kind),
            3: self.holder,
            4: self.occupation,
            5: LEVEL_CODES.get(self.level, 0),
            6: (self.issued - EPOCH).days,
            7: self.issuer,
        }
        if self.expires is not None:
            body[8] = (self.expires - EPOCH).days
        return cbor2.dumps(body)

    @classmethod
    def from_cbor(cls, data: bytes) -> Claims:
        """The claims of a token's payload; raises TokenFormatError for anything but the exact
        shape :meth:`to_cbor` writes (a map of small integer keys to text and integers)."""
        try:
            body = cbor2.loads(data)
        except (*_UNREADABLE, MemoryError) as exc:
            raise TokenFormatError(f"证书内容格式错误 / malformed claims: {exc}") from None
        if not isinstance(body, dict) or not set(body) <= _CLAIM_KEYS or not set(body) >= _REQUIRED:
            raise TokenFormatError("证书内容格式错误 / malformed claims: unexpected fields")
        kind, level = _integer(body[2]), _integer(body[5])
        if kind not in _KINDS or level not in _LEVELS:
            raise TokenFormatError("证书内容格式错误 / malformed claims: unknown kind or level")
        return cls(
            serial=_text(body[1], 40),
            kind=Kind(kind),
            holder=_text(body[3], 64),
            occupation=_text(body[4], 32),
            level=_LEVELS[level],
            issued=_day(body[6]),
            issuer=_text(body[7], 64),
            expires=_day(body[8]) if 8 in body else None,
        )


_CLAIM_KEYS = frozenset(range(1, 9))
_REQUIRED = frozenset(range(1, 8))
_LEVELS = {v: k for k, v in LEVEL_CODES.items()}
_KINDS = frozenset(Kind)
_MAX_DAYS = (date(2200, 1, 1) - EPOCH).days


def _integer(value: object) -> int | None:
    """An integer claim (``bool`` is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object, longest: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= longest or not value.isprintable():
        raise TokenFormatError(
            f"证书内容格式错误 / malformed claims: a text field is not 1-{longest} printable characters"
        )
    return value


def _day(value: object) -> date:
    days = _integer(value)
    if days is None or not 0 <= days <= _MAX_DAYS:
        raise TokenFormatError("证书内容格式错误 / malformed claims: a date is out of range")
    return EPOCH + timedelta(days=days)


@dataclass(frozen=True)
class SignedToken:
    """A parsed COSE_Sign1 token: header values, claims, and what the signature covers."""

    alg: int
    kid: bytes
    claims: Claims
    signed_bytes: bytes
    signature: bytes


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def sign_token(
    claims: Claims, private_key: bytes, public_key: bytes, algorithm: Algorithm
) -> bytes:
    """The COSE_Sign1 bytes of ``claims`` signed with the given key."""
    protected = cbor2.dumps({HEADER_ALG: algorithm.cose_id, HEADER_KID: key_id(public_key)})
    payload = claims.to_cbor()
    signature = algorithm.sign(private_key, _sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


def parse_token(data: bytes) -> SignedToken:
    """Parse COSE_Sign1 bytes; raises TokenFormatError (the signature is checked elsewhere)."""
    try:
        message = cbor2.loads(data)
    except (*_UNREADABLE, MemoryError) as exc:
        raise TokenFormatError(f"不是有效的 CBOR / not valid CBOR: {exc}") from None
    if not isinstance(message, cbor2.CBORTag) or message.tag != COSE_SIGN1_TAG:
        raise TokenFormatError("不是 COSE_Sign1 / not a COSE_Sign1 message")
    parts = message.value
    if not (
        isinstance(parts, (list, tuple))
        and len(parts) == 4
        and all(isinstance(parts[i], bytes) for i in (0, 2, 3))
    ):
        raise TokenFormatError("COSE_Sign1 结构错误 / malformed COSE_Sign1")
    protected, unprotected, payload, signature = parts
    canonical = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    if unprotected != {} or canonical != data:
        # Only the canonical encoding is accepted, so no byte outside the signature can change.
        raise TokenFormatError("令牌编码不规范 / the token is not in canonical form")
    try:
        header = cbor2.loads(protected)
    except (*_UNREADABLE, MemoryError) as exc:
        raise TokenFormatError(f"保护头格式错误 / malformed protected header: {exc}") from None
    if not isinstance(header, dict) or set(header) != {HEADER_ALG, HEADER_KID}:
        raise TokenFormatError("保护头格式错误 / malformed protected header")
    alg, kid = _integer(header[HEADER_ALG]), header[HEADER_KID]
    if alg is None or not isinstance(kid, bytes) or len(kid) != 8:
        raise TokenFormatError("保护头格式错误 / malformed protected header: algorithm or key id")
    if alg not in ALGORITHMS:
        raise TokenFormatError(f"不支持的算法 {alg} / unsupported algorithm {alg}")
    return SignedToken(
        alg, kid, Claims.from_cbor(payload), _sig_structure(protected, payload), signature
    )


def to_text(token: bytes) -> str:
    """Base32 without padding: A–Z and 2–7 only."""
    return base64.b32encode(token).decode("ascii").rstrip("=")


_BASE32 = re.compile(r"[A-Z2-7]+")
_AS_DIGITS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")


def from_text(text: str) -> bytes:
    """The token bytes from base32 text, or from a verification URL ending in it (any case).

    Decoded as one integer (``int(…, 32)`` after mapping the RFC 4648 alphabet onto Python's
    digits), which is exact and about 20 times as fast as ``base64.b32decode``; a test holds the
    two to the same answers."""
    body = text.strip().rsplit("/", 1)[-1].upper()
    if not body or not _BASE32.fullmatch(body):
        raise TokenFormatError("令牌含有非法字符 / the token has characters outside base32")
    if len(body) % 8 in (1, 3, 6):  # no whole number of bytes ends there
        raise TokenFormatError("令牌长度错误 / truncated token: incorrect length")
    bits = len(body) * 5
    spare = bits % 8
    value = int(body.translate(_AS_DIGITS), 32)
    if value & ((1 << spare) - 1):  # spare bits in the last character must be zero
        raise TokenFormatError("令牌编码不规范 / the token text is not in canonical form")
    return (value >> spare).to_bytes(bits // 8, "big")


def token_url(base_url: str, token: bytes) -> str:
    """The upper-case verification URL a QR code holds."""
    return text_url(base_url, to_text(token))


def text_url(base_url: str, text: str) -> str:
    """:func:`token_url` for a token already in text form (as the register stores it)."""
    return f"{base_url.rstrip('/').upper()}/V/{text}"
