"""验证: every check on a certificate token, each with its own result and reason.

Checks, in order: format → known key → signature → issued within the key's validity and scope →
status (valid / suspended / revoked, "as of" the revocation list's time, with a warning when the
list is older than its maximum age) → expiry. Inside the library each check raises a typed
error; :func:`verify_token` turns them into a :class:`Report` for callers (CLI, web, API).
"""

from __future__ import annotations

import base64
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from certify.errors import Error
from certify.signing.algorithms import ALGORITHMS, DEFAULT, SignatureInvalid
from certify.signing.token import Claims, SignedToken, TokenFormatError, from_text, parse_token
from certify.signing.trust import TrustList


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message_zh: str
    message_en: str
    warning: bool = False


@dataclass
class Report:
    """The outcome of verifying one token: the checks, the claims if readable, the verdict."""

    checks: list[Check] = field(default_factory=list)
    claims: Claims | None = None
    status: str = "unknown"
    status_as_of: datetime | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def verdict(self) -> str:
        """genuine (and valid), suspended, revoked, expired or not_genuine."""
        if not self.checks or not all(
            c.ok for c in self.checks if c.name in ("format", "key", "signature", "scope")
        ):
            return "not_genuine"
        if self.status in ("revoked", "suspended"):
            return self.status
        if any(not c.ok for c in self.checks if c.name == "expiry"):
            return "expired"
        return "genuine" if self.ok else "not_genuine"


@dataclass(frozen=True)
class RevocationList:
    """A signed list of revoked and suspended serials, as of ``issued_at``."""

    issued_at: datetime
    max_age: timedelta
    entries: dict[str, dict[str, Any]]

    def stale(self, now: datetime) -> bool:
        return now - self.issued_at > self.max_age


def sign_revocation_list(
    entries: list[dict[str, Any]],
    root_private_key: bytes,
    *,
    max_age_hours: float = 24,
    issued_at: datetime | None = None,
    audit_checkpoint: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A revocation list document: entries {serial, status, since, reason}, signed by the root,
    with the audit checkpoint made with it if given (inside the signed body; same format)."""
    body: dict[str, Any] = {
        "format": "certify-revocations/1",
        "issued_at": (issued_at or datetime.now(UTC)).isoformat(),
        "max_age_hours": max_age_hours,
        "entries": sorted(entries, key=lambda e: e["serial"]),
    }
    if audit_checkpoint is not None:
        body["audit_checkpoint"] = audit_checkpoint
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return {**body, "signature": base64.b64encode(DEFAULT.sign(root_private_key, text)).decode()}


def load_revocation_list(document: dict[str, Any], trust: TrustList) -> RevocationList:
    """Check the root's signature on a revocation list; raises Error."""
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        root = trust.keys[trust.root_kid]
        text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        ALGORITHMS[root.alg].verify(root.public_key, text, base64.b64decode(document["signature"]))
        return RevocationList(
            datetime.fromisoformat(body["issued_at"]),
            timedelta(hours=float(body["max_age_hours"])),
            {e["serial"]: e for e in body["entries"]},
        )
    except SignatureInvalid:
        raise Error("吊销列表签名无效 / the revocation list's signature does not verify") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise Error(f"吊销列表格式错误 / malformed revocation list: {exc}") from None


def verify_token(
    text: str,
    trust: TrustList,
    revocations: RevocationList | None = None,
    *,
    now: datetime | None = None,
) -> Report:
    """Run every check on a token (text, URL or base32) and report each result."""
    try:
        token = parse_token(from_text(text))
    except TokenFormatError as exc:
        return verify_parsed(exc, trust, revocations, now=now)
    return verify_parsed(token, trust, revocations, now=now)


def verify_parsed(
    token: SignedToken | TokenFormatError,
    trust: TrustList,
    revocations: RevocationList | None = None,
    *,
    now: datetime | None = None,
    signature_ok: bool | None = None,
) -> Report:
    """Every check on a token already parsed (or the reason it could not be): for callers that
    read the serial first, so the token is decoded once. ``signature_ok`` is the signature's
    verdict when the caller has already checked it (:func:`check_signatures`)."""
    now = now or datetime.now(UTC)
    report = Report()
    if isinstance(token, TokenFormatError):
        report.checks.append(
            Check(
                "format",
                False,
                "格式无法识别：" + str(token).split(" / ")[0],
                str(token).split(" / ")[-1],
            )
        )
        return report
    report.claims = token.claims
    report.checks.append(Check("format", True, "格式正确", "well-formed token"))
    key = trust.keys.get(token.kid.hex())
    if key is None:
        report.checks.append(
            Check(
                "key",
                False,
                f"签名密钥 {token.kid.hex()} 不在信任列表中",
                f"key {token.kid.hex()} is not in the trust list",
            )
        )
        return report
    report.checks.append(
        Check(
            "key",
            True,
            f"签发机构：{key.name}（密钥 {key.kid}）",
            f"issuer: {key.name} (key {key.kid})",
        )
    )
    if signature_ok is None:
        report.checks.append(_signature(token, key.public_key))
    else:
        report.checks.append(_SIGNATURE_OK if signature_ok else _SIGNATURE_BAD)
    report.checks.append(_scope(token, key, trust))
    report.checks += _status(token.claims, revocations, now, report)
    report.checks.append(_expiry(token.claims, now.date()))
    return report


_SIGNATURE_OK = Check("signature", True, "签名有效", "signature verifies")
_SIGNATURE_BAD = Check(
    "signature",
    False,
    "签名无效：内容被改动或不是该机构签发",
    "invalid signature: altered, or not signed by this issuer",
)
_pool: ThreadPoolExecutor | None = None
PARALLEL_FROM = 256
"""Below this many tokens, signatures are checked in the calling thread."""


def check_signatures(
    tokens: list[SignedToken | TokenFormatError], trust: TrustList
) -> list[bool | None]:
    """Each token's signature checked against its trusted key (None where there is no token or
    no such key), spread over one thread per CPU for a large batch: the Ed25519 verification
    releases the GIL, so threads run it in parallel."""
    global _pool

    def check(token: SignedToken | TokenFormatError) -> bool | None:
        if isinstance(token, TokenFormatError):
            return None
        key = trust.keys.get(token.kid.hex())
        if key is None:
            return None
        try:
            ALGORITHMS.get(token.alg, DEFAULT).verify(
                key.public_key, token.signed_bytes, token.signature
            )
        except SignatureInvalid:
            return False
        return True

    if len(tokens) < PARALLEL_FROM:
        return [check(t) for t in tokens]
    threads = os.cpu_count() or 1
    if _pool is None:
        _pool = ThreadPoolExecutor(threads, thread_name_prefix="certify-verify")
    size = -(-len(tokens) // threads)  # one slice per thread: a task per token would cost more
    slices = [tokens[i : i + size] for i in range(0, len(tokens), size)]
    return [ok for part in _pool.map(lambda ts: [check(t) for t in ts], slices) for ok in part]


def _signature(token: SignedToken, public_key: bytes) -> Check:
    try:
        ALGORITHMS.get(token.alg, DEFAULT).verify(public_key, token.signed_bytes, token.signature)
    except SignatureInvalid:
        return Check(
            "signature",
            False,
            "签名无效：内容被改动或不是该机构签发",
            "invalid signature: altered, or not signed by this issuer",
        )
    return Check("signature", True, "签名有效", "signature verifies")


def _scope(token: SignedToken, key: Any, trust: TrustList) -> Check:
    claims = token.claims
    issued = datetime(claims.issued.year, claims.issued.month, claims.issued.day, tzinfo=UTC)
    start = key.valid_from.replace(hour=0, minute=0, second=0, microsecond=0)
    if issued < start or (key.valid_until is not None and issued > key.valid_until):
        return Check(
            "scope",
            False,
            "签发日期不在该密钥的有效期内",
            "issued outside the key's validity period",
        )
    if key.role != "institution" or key.issuer != claims.issuer:
        return Check(
            "scope", False, "签发机构与密钥不符", "the issuer named does not hold this key"
        )
    if not key.allows(int(claims.kind), claims.occupation, claims.level):
        return Check(
            "scope",
            False,
            "证书类型、职业或等级超出该机构授权范围",
            "kind, occupation or level outside the issuer's scope",
        )
    return Check("scope", True, "在密钥有效期和授权范围内", "within the key's validity and scope")


def _status(
    claims: Claims, revocations: RevocationList | None, now: datetime, report: Report
) -> list[Check]:
    if revocations is None:
        report.status = "unknown"
        return [
            Check(
                "status",
                True,
                "未提供吊销列表，无法确认状态",
                "no revocation list given: status not checked",
                warning=True,
            )
        ]
    report.status_as_of = revocations.issued_at
    entry = revocations.entries.get(claims.serial)
    as_of = revocations.issued_at.strftime("%Y-%m-%d %H:%M UTC")
    checks = []
    if revocations.stale(now):
        checks.append(
            Check(
                "freshness",
                True,
                f"吊销列表已过期（{as_of}），请更新",
                f"the revocation list of {as_of} is stale: fetch a new one",
                warning=True,
            )
        )
    if entry is None:
        report.status = "valid"
        checks.append(Check("status", True, f"有效（截至 {as_of}）", f"valid (as of {as_of})"))
    else:
        report.status = entry["status"]
        zh = "已吊销" if entry["status"] == "revoked" else "已暂停"
        checks.append(
            Check(
                "status",
                False,
                f"{zh}（截至 {as_of}）：{entry.get('reason', '')}",
                f"{entry['status']} (as of {as_of}): {entry.get('reason', '')}",
            )
        )
    return checks


def _expiry(claims: Claims, today: date) -> Check:
    if claims.expires is not None and claims.expires < today:
        return Check("expiry", False, f"已于 {claims.expires} 过期", f"expired on {claims.expires}")
    return Check(
        "expiry",
        True,
        "长期有效" if claims.expires is None else f"有效期至 {claims.expires}",
        "no expiry" if claims.expires is None else f"valid until {claims.expires}",
    )
