"""A custodian's share as text: ``S<seal>-<number>-`` and base32 in groups of four, the last
two groups a check (40 bits) that tells a mistyped share from a wrong one; only its SHA-256
is kept."""

from __future__ import annotations

import base64
import hashlib
import re

from certify.infra.shamir import Share
from question_bank.sealing.holds import SealError

_SHARE = re.compile(r"^S(\d{1,9})-(\d{1,3})-([A-Z2-7]{52})([A-Z2-7]{8})$")
CHECK_LETTERS = 8
"""A share's check: 40 bits of SHA-256, so a mistyped share passes it once in a trillion."""


def share_text(seal_id: int, share: Share) -> str:
    """A share as a custodian keeps it: ``S<seal>-<number>-`` and the share in base32 groups
    of four, the last two groups a check on the rest (a mistyped share is told apart from a
    wrong one)."""
    body = base64.b32encode(share.y).decode().rstrip("=")
    check = _check(seal_id, share.x, body)
    groups = [(body + check)[i : i + 4] for i in range(0, len(body) + CHECK_LETTERS, 4)]
    return f"S{seal_id}-{share.x}-" + "-".join(groups)


def _check(seal_id: int, x: int, body: str) -> str:
    digest = hashlib.sha256(f"{seal_id}:{x}:{body}".encode()).digest()
    return base64.b32encode(digest).decode()[:CHECK_LETTERS]


def parse_share(text: str, n: int = 1) -> tuple[int, Share]:
    """(seal id, share) from a share's text, spaces and dashes between groups allowed.

    Raises SealError naming it as the ``n``-th share for a text that is not a share or fails
    its check.
    """
    compact = re.sub(r"\s+", "", text).upper()
    head = re.match(r"^S(\d{1,9})-(\d{1,3})-(.*)$", compact)
    found = _SHARE.match(f"S{head[1]}-{head[2]}-{head[3].replace('-', '')}") if head else None
    if found is None:
        raise SealError(
            f"第 {n} 份：不是密封份额（应形如 S7-2-ABCD-…）/ share {n} is not a seal share "
            "(it looks like S7-2-ABCD-…)"
        )
    seal_id, x, body, check = int(found[1]), int(found[2]), found[3], found[4]
    if not 1 <= x <= 255 or _check(seal_id, x, body) != check:
        raise SealError(
            f"第 {n} 份：校验不通过，可能抄错了 / share {n} fails its check — probably mistyped"
        )
    return seal_id, Share(x, base64.b32decode(body + "===="))


def share_hash(seal_id: int, share: Share) -> str:
    """What is kept of a share: its SHA-256, bound to the seal and the share's number."""
    return hashlib.sha256(f"certify-seal-share:{seal_id}:{share.x}:".encode() + share.y).hexdigest()
