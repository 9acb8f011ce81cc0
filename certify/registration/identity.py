"""身份证号: validation (GB 11643-1999), masking, and protected storage.

* **Validation**: 18 characters — a 6-digit area code, the birth date (YYYYMMDD, a real date,
  not in the future, not before 1800: the standard's own example was born in 1880), a 3-digit
  sequence, and the check character of ISO 7064 MOD 11-2: Σ aᵢ·wᵢ mod 11 with weights
  7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, mapped through ``10X98765432``. A lower-case x is
  accepted. MOD 11-2 catches every single wrong character and every swap of two adjacent ones.
* **Masking** on every public surface: the first 6 and last 4 characters stay
  (``110105********002X``); names keep their first character, and their last when they have
  three or more (李*, 张*丰, 欧**锋).
* **Storage**: an ID number is kept encrypted (AES-256-GCM, random nonce) and found by a keyed
  digest (HMAC-SHA-256), never by an unsalted hash a dictionary of the 10⁹ plausible numbers
  would reverse. Both keys derive (HKDF-SHA-256) from one secret held outside the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certify.infra.errors import Error
from certify.infra.rows import Invalid, Parser, text

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
SECRET_ENV = "CERTIFY_SECRET_KEY"
"""The setting that holds the secret itself (certify/infra/settings.py), named in messages."""
_SHAPE = re.compile(r"\d{17}[\dX]")


class IdNumberError(Error):
    """An ID number that is not a valid 18-character 居民身份证号码."""

    code = "id_number"

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.message_zh, self.message_en = zh, en


def check_character(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    return CHECK_CHARACTERS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def validate_id_number(raw: str, *, today: date | None = None) -> str:
    """The ID number in canonical form (upper-case X); raises IdNumberError saying what is wrong."""
    value = re.sub(r"\s", "", raw).upper()
    if len(value) != 18:
        raise IdNumberError(
            f"身份证号应为 18 位，现为 {len(value)} 位",
            f"must have 18 characters, has {len(value)}",
        )
    if not _SHAPE.fullmatch(value):
        raise IdNumberError(
            "身份证号前 17 位须为数字，末位为数字或 X", "17 digits and a final digit or X"
        )
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdNumberError(
            f"出生日期 {value[6:14]} 不是有效日期", f"birth date {value[6:14]} is not a real date"
        ) from None
    if born.year < 1800 or born > (today or date.today()):
        raise IdNumberError(
            f"出生日期 {born.isoformat()} 不合理", f"birth date {born.isoformat()} is out of range"
        )
    if value[0] not in "12345678":
        raise IdNumberError(f"地址码 {value[:6]} 无效", f"area code {value[:6]} is not valid")
    expected = check_character(value[:17])
    if value[17] != expected:
        raise IdNumberError(
            "校验码错误，请核对身份证号", "the check character does not match; check the number"
        )
    return value


def id_number_cell(*, today: date | None = None) -> Parser[str]:
    """An ID number cell read by :func:`validate_id_number` (code ``bad_id_number``)."""

    def parse(cell: str) -> str:
        try:
            return validate_id_number(cell, today=today)
        except IdNumberError as exc:
            raise Invalid("bad_id_number", exc.message_zh, exc.message_en) from None

    return parse


PERSON_NAME = text(
    required=True,
    longest=64,
    code="bad_name",
    zh="姓名不能为空且不超过 64 字",
    en="name: 1-64 characters",
)
"""A person's name as files give it (rosters, applicants, trainees)."""


def birth_date(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def mask_id_number(id_number: str) -> str:
    """First 6 and last 4 characters; the rest as asterisks."""
    return (
        id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]
        if len(id_number) > 10
        else "*" * len(id_number)
    )


def mask_name(name: str) -> str:
    """李*, 张*丰, 欧**锋: the first character, and the last from three characters on."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


@dataclass(frozen=True)
class IdentityVault:
    """Encrypts ID numbers and computes their lookup digests, from one 32-byte secret."""

    secret: bytes

    def key(self, purpose: bytes) -> bytes:
        """A 32-byte key for ``purpose``, derived from the secret (HKDF-SHA-256): one secret,
        independent keys for each use."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"certify/" + purpose
        ).derive(self.secret)

    def digest(self, id_number: str) -> str:
        """Keyed digest for lookups (HMAC-SHA-256, hex)."""
        return self.keyed(b"id-digest", id_number)

    def keyed(self, purpose: bytes, text: str) -> str:
        """HMAC-SHA-256 (hex) of ``text`` under this secret's key for ``purpose``: a digest
        nobody without the secret can compute, or try guesses against."""
        return hmac.new(self.key(purpose), text.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, id_number: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + AESGCM(self.key(b"id-cipher")).encrypt(
            nonce, id_number.encode(), b"certify-id"
        )

    def decrypt(self, blob: bytes) -> str:
        """The ID number; raises IdNumberError if the blob was altered or the key is wrong."""
        try:
            return (
                AESGCM(self.key(b"id-cipher")).decrypt(blob[:12], blob[12:], b"certify-id").decode()
            )
        except (InvalidTag, ValueError):
            raise IdNumberError(
                "加密的身份证号无法解密（数据被改动或密钥不符）",
                "the stored ID number cannot be decrypted (altered data or wrong key)",
            ) from None


def load_vault(
    directory: Path | None = None,
    *,
    create: bool = False,
    secret: str | None = None,
    file: Path | None = None,
) -> IdentityVault:
    """The vault from ``secret`` (base64; the ``CERTIFY_SECRET_KEY`` setting), else the secret
    file.

    The file is ``file`` (the ``CERTIFY_SECRET_FILE`` setting) or ``certify.secret`` in
    ``directory`` (the current folder by default); with ``create`` a missing file is made,
    readable by its owner only. Raises :class:`Error` when there is no secret.
    """
    if secret:
        return IdentityVault(_decode(secret))
    path = file or (directory or Path.cwd()) / "certify.secret"
    if not path.exists():
        if not create:
            raise Error(
                f"没有密钥文件 {path}；请运行 certify init 或设置 {SECRET_ENV}。\n"
                f"No secret at {path}: run `certify init` or set {SECRET_ENV}."
            )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
    return IdentityVault(_decode(path.read_text().strip()))


def _decode(encoded: str) -> bytes:
    secret = base64.urlsafe_b64decode(encoded.encode())
    if len(secret) != 32:
        raise Error(f"{SECRET_ENV} 应为 32 字节的 base64 / must be 32 bytes, base64-encoded")
    return secret
