"""The trust list: who may sign what, as the provincial root publishes it, and how a verifier
reads it.

The *trust list* is JSON: every key with issuer, name, kid, algorithm, public key, validity and
scope (kinds of certificate, occupations, levels), the time it was issued, a root-signed
checkpoint of the audit log (:mod:`certify.audit.checkpoints`), and the root's signature over the
canonical JSON of all that. :func:`load_trust_list` checks that signature under a pinned root;
nothing here touches a database (the keys at rest and the list's making are :mod:`certify.keys`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from certify.infra.errors import Error
from certify.signing.algorithms import ALGORITHMS, SignatureInvalid, key_id


@dataclass(frozen=True)
class TrustedKey:
    issuer: str
    name: str
    role: str
    kid: str
    alg: int
    public_key: bytes
    valid_from: datetime
    valid_until: datetime | None
    scope: dict[str, list[Any]] = field(default_factory=dict)

    def allows(self, kind: int, occupation: str, level: str, issued: date | None = None) -> bool:
        """Is a certificate of this kind, occupation and level, issued on ``issued``, within the
        key's scope? With ``grants`` in the scope (the institution's authorisations, published
        in the trust list), one of them must cover all four; a list without grants is read as
        before."""

        scope = self.scope
        for name, value in (("kinds", kind), ("occupations", occupation), ("levels", level)):
            allowed = scope.get(name)
            if allowed and value not in allowed:
                return False
        grants = scope.get("grants")
        if grants is None:
            return True
        day = (issued or date.today()).isoformat()
        return any(
            g.get("kind") == kind
            and g.get("occupation") == occupation
            and g.get("level") == level
            and str(g.get("from", "")) <= day
            and (g.get("until") is None or day <= str(g["until"]))
            for g in grants
            if isinstance(g, dict)
        )


@dataclass(frozen=True)
class TrustList:
    issued_at: datetime
    root_kid: str
    keys: dict[str, TrustedKey]
    pinned: bool = True
    """False only when loaded with ``allow_unpinned`` (experiments): every result then warns."""


def canonical_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class TrustListError(Error):
    code = "trust_list"


ROOT_KID_ENV = "CERTIFY_ROOT_KID"


class RootNotPinned(TrustListError):
    code = "root_not_pinned"

    def __init__(self) -> None:
        super().__init__(
            "未固定根密钥：信任列表可由任何人签发。请用 --root-kid 或环境变量 "
            f"{ROOT_KID_ENV} 指定省级根密钥的 kid（`certify keys root` 会打印它） / "
            "no pinned root: a trust list can be signed by anyone. Give the provincial root's "
            f"kid with --root-kid or {ROOT_KID_ENV} (`certify keys root` prints it)"
        )


def load_trust_list(
    document: dict[str, Any], *, pinned_root_kid: str | None, allow_unpinned: bool = False
) -> TrustList:
    """Check the root's signature and that the root is the pinned one; raises TrustListError.

    Without a pinned root kid the list is refused (:class:`RootNotPinned`), unless
    ``allow_unpinned`` — for experiments only: the list is then marked unpinned and every
    verification result carries a warning."""
    if pinned_root_kid is None and not allow_unpinned:
        raise RootNotPinned()
    try:
        body = {k: v for k, v in document.items() if k != "signature"}
        keys = {
            k["kid"]: TrustedKey(
                issuer=k["issuer"],
                name=k["name"],
                role=k["role"],
                kid=k["kid"],
                alg=int(k["alg"]),
                public_key=base64.b64decode(k["public_key"]),
                valid_from=datetime.fromisoformat(k["valid_from"]),
                valid_until=datetime.fromisoformat(k["valid_until"]) if k["valid_until"] else None,
                scope=k.get("scope") or {},
            )
            for k in body["keys"]
        }
        root = keys[body["root_kid"]]
        signature = base64.b64decode(document["signature"])
        issued = datetime.fromisoformat(body["issued_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TrustListError(f"信任列表格式错误 / malformed trust list: {exc}") from None
    if pinned_root_kid is not None and root.kid != pinned_root_kid:
        raise TrustListError(
            f"信任列表的根密钥 {root.kid} 与预置的 {pinned_root_kid} 不符 / the list's root {root.kid} is not the pinned {pinned_root_kid}"
        )
    if key_id(root.public_key).hex() != root.kid:
        raise TrustListError("根密钥与其 kid 不符 / the root key does not match its kid")
    try:
        ALGORITHMS[root.alg].verify(root.public_key, canonical_json(body), signature)
    except (SignatureInvalid, KeyError):
        raise TrustListError(
            "信任列表的根签名无效 / the trust list's root signature does not verify"
        ) from None
    return TrustList(issued, root.kid, keys, pinned=pinned_root_kid is not None)
