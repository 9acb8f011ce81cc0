"""验证: every check on a certificate token, each with its own result and reason.

Checks, in order: format → known key → signature (under the algorithm the trust list states for
the key, never the one the token's header claims) → issued within the key's validity and scope →
status (valid / suspended / revoked, "as of" the revocation list's time) → expiry. The first
four decide whether the certificate is genuine, and the checks stop at the first of them that
fails. "Genuine" and "status known" are separate: without a revocation list that is fresh at the
time of the check, a genuine certificate's verdict is ``status_unknown``, never ``genuine``.
:func:`verify_token` reports each result in a :class:`Report` for callers (CLI, web, API).
"""

from __future__ import annotations

import base64
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from certify.infra.errors import Error
from certify.signing.algorithms import ALGORITHMS, Algorithm, SignatureInvalid
from certify.signing.token import Claims, SignedToken, TokenFormatError, from_text, parse_token
from certify.signing.trust import TrustedKey, TrustList
from schemas.enums import CertificateStatus, CheckedStatus, Verdict


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message_zh: str
    message_en: str
    warning: bool = False


GENUINENESS = ("format", "key", "signature", "scope", "register")
"""The checks that decide whether a certificate is genuine at all; status and expiry come after."""


@dataclass
class Report:
    """The outcome of verifying one token: the checks, the claims if genuine, the verdict.

    ``claims`` is set only once the signature has verified under the key the trust list names:
    the claims of a token that fails its checks are not data, and nothing may show them."""

    checks: list[Check] = field(default_factory=list)
    claims: Claims | None = None
    status: CheckedStatus = CheckedStatus.UNKNOWN
    status_as_of: datetime | None = None
    status_fresh: bool = False
    """The status comes from a list (or the register) that was fresh at verification time."""

    @property
    def ok(self) -> bool:
        """Every check passed and the status is known: what a verifier may call valid."""
        return self.verdict is Verdict.GENUINE

    @property
    def genuine(self) -> bool:
        """The signature holds under a trusted key, within its validity and scope."""
        return bool(self.checks) and all(c.ok for c in self.checks if c.name in GENUINENESS)

    @property
    def verdict(self) -> Verdict:
        """not_genuine, revoked, suspended, expired, status_unknown or genuine (and valid)."""
        if not self.genuine or self.claims is None:
            return Verdict.NOT_GENUINE
        if self.status in _STATUS_VERDICTS:
            return _STATUS_VERDICTS[self.status]
        if any(not c.ok for c in self.checks if c.name == "expiry"):
            return Verdict.EXPIRED
        if self.status != CheckedStatus.VALID or not self.status_fresh:
            return Verdict.STATUS_UNKNOWN
        return Verdict.GENUINE if all(c.ok for c in self.checks) else Verdict.NOT_GENUINE


_STATUS_VERDICTS = {
    CheckedStatus.REVOKED: Verdict.REVOKED,
    CheckedStatus.SUSPENDED: Verdict.SUSPENDED,
}
"""The statuses that decide a genuine certificate's verdict whatever else holds."""


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
    algorithm: Algorithm,
    *,
    max_age_hours: float = 24,
    issued_at: datetime | None = None,
    audit_checkpoint: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A revocation list document: entries {serial, status, since, reason}, signed by the root
    under its ``algorithm`` (the one the trust list states for the root key), with the audit checkpoint made with it if given (inside the signed body; same format)."""
    body: dict[str, Any] = {
        "format": "certify-revocations/1",
        "issued_at": (issued_at or datetime.now(UTC)).isoformat(),
        "max_age_hours": max_age_hours,
        "entries": sorted(entries, key=lambda e: e["serial"]),
    }
    if audit_checkpoint is not None:
        body["audit_checkpoint"] = audit_checkpoint
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return {**body, "signature": base64.b64encode(algorithm.sign(root_private_key, text)).decode()}


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
            {e["serial"]: {**e, "status": CertificateStatus(e["status"])} for e in body["entries"]},
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
    verdict when the caller has already checked it (:func:`check_signatures`).

    The checks stop at the first that fails among format, key, signature and scope: the status
    of a serial, its revocation reason or its expiry are not shown for a token that is not
    genuine, so a forged token cannot ask the register questions."""
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
    report.checks.append(Check("format", True, "格式正确", "well-formed token"))
    if not trust.pinned:
        report.checks.append(_UNPINNED)
    key = trust.keys.get(token.kid.hex())
    if key is None:
        report.checks.append(
            Check(
                "key",
                False,
                "签名密钥不在信任列表中",
                "the signing key is not in the trust list",
            )
        )
        return report
    if signature_ok is None:
        signature = signature_check(token, key)
    else:
        signature = _SIGNATURE_OK if signature_ok else _signature_failure(token, key)
    if not signature.ok:
        # Nothing the token says is shown, not even the institution its header points at.
        report.checks += [
            Check("key", True, "签名密钥在信任列表中", "the key is in the trust list")
        ]
        report.checks.append(signature)
        return report
    report.checks.append(
        Check(
            "key",
            True,
            f"签发机构：{key.name}（密钥 {key.kid}）",
            f"issuer: {key.name} (key {key.kid})",
        )
    )
    report.checks.append(signature)
    scope = _scope(token, key, trust)
    report.checks.append(scope)
    if not scope.ok:
        return report
    report.claims = token.claims
    report.checks += _status(token.claims, revocations, now, report)
    report.checks.append(_expiry(token.claims, now.date()))
    return report


_SIGNATURE_OK = Check("signature", True, "签名有效", "signature verifies")
_UNPINNED = Check(
    "root",
    True,
    "信任列表的根密钥未固定（仅供试验）：任何人都能签发这样的信任列表",
    "the trust list's root is not pinned (experiments only): anyone can sign such a list",
    warning=True,
)
_SIGNATURE_BAD = Check(
    "signature",
    False,
    "签名无效：内容被改动或不是该机构签发",
    "invalid signature: altered, or not signed by this issuer",
)
_pool: ThreadPoolExecutor | None = None
PARALLEL_FROM = 256
"""Below this many tokens, signatures are checked in the calling thread."""


def _algorithm_mismatch(token: SignedToken, key: TrustedKey) -> Check | None:
    """The refusal when the token's header names another algorithm than the trust list states
    for its key, or the key's algorithm is one this verifier does not know."""
    if key.alg not in ALGORITHMS:
        return Check(
            "signature",
            False,
            f"信任列表为该密钥指定的算法 {key.alg} 不受支持",
            f"the trust list gives this key algorithm {key.alg}, which this verifier does not support",
        )
    if token.alg != key.alg:
        return Check(
            "signature",
            False,
            "令牌声明的签名算法与信任列表中该密钥的算法不符",
            "the token's header names another algorithm than the trust list states for its key",
        )
    return None


def _signature_failure(token: SignedToken, key: TrustedKey) -> Check:
    return _algorithm_mismatch(token, key) or _SIGNATURE_BAD


def _signature_holds(token: SignedToken, key: TrustedKey) -> bool:
    """The signature verifies under the algorithm the trust list states for the key (never the
    one the token's header claims)."""
    if _algorithm_mismatch(token, key) is not None:
        return False
    try:
        ALGORITHMS[key.alg].verify(key.public_key, token.signed_bytes, token.signature)
    except SignatureInvalid:
        return False
    return True


def signature_check(token: SignedToken, key: TrustedKey) -> Check:
    return _SIGNATURE_OK if _signature_holds(token, key) else _signature_failure(token, key)


def check_signatures(
    tokens: list[SignedToken | TokenFormatError], trust: TrustList
) -> list[bool | None]:
    """Each token's signature checked against its trusted key (None where there is no token or
    no such key), spread over one thread per CPU for a large batch: both the Ed25519 and the
    SM2 verification (``cryptography``, Tongsuo) release the GIL, so threads run them in
    parallel."""
    global _pool

    def check(token: SignedToken | TokenFormatError) -> bool | None:
        if isinstance(token, TokenFormatError):
            return None
        key = trust.keys.get(token.kid.hex())
        return None if key is None else _signature_holds(token, key)

    if len(tokens) < PARALLEL_FROM:
        return [check(t) for t in tokens]
    threads = os.cpu_count() or 1
    if _pool is None:
        _pool = ThreadPoolExecutor(threads, thread_name_prefix="certify-verify")
    size = -(-len(tokens) // threads)  # one slice per thread: a task per token would cost more
    slices = [tokens[i : i + size] for i in range(0, len(tokens), size)]
    return [ok for part in _pool.map(lambda ts: [check(t) for t in ts], slices) for ok in part]


def _scope(token: SignedToken, key: TrustedKey, trust: TrustList) -> Check:
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
    if not key.allows(int(claims.kind), claims.occupation, claims.level, claims.issued):
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
        report.status = CheckedStatus.UNKNOWN
        return [
            Check(
                "status",
                True,
                "未提供吊销列表，无法确认证书状态（是否吊销或暂停）",
                "no revocation list given: whether it is revoked or suspended is unknown",
                warning=True,
            )
        ]
    report.status_as_of = revocations.issued_at
    report.status_fresh = not revocations.stale(now)
    entry = revocations.entries.get(claims.serial)
    as_of = revocations.issued_at.strftime("%Y-%m-%d %H:%M UTC")
    checks = []
    if revocations.stale(now):
        checks.append(
            Check(
                "freshness",
                True,
                f"吊销列表已过期（{as_of}），状态无法确认，请更新",
                f"the revocation list of {as_of} is stale, so the status is unknown: fetch a new one",
                warning=True,
            )
        )
    if entry is None:
        report.status = CheckedStatus.VALID
        checks.append(
            Check(
                "status",
                True,
                f"{report.status.zh}（截至 {as_of}）",
                f"{report.status} (as of {as_of})",
            )
        )
    else:
        report.status = CheckedStatus(entry["status"])
        checks.append(
            Check(
                "status",
                False,
                f"{report.status.zh}（截至 {as_of}）：{entry.get('reason', '')}",
                f"{report.status} (as of {as_of}): {entry.get('reason', '')}",
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
