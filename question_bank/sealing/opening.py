"""Opening a seal with K custodians' shares at or after its time: every text and PDF back as
it was, audited with who, whose shares and when; a refused opening audited too."""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, update
from sqlmodel import col, select

from certify.infra import audit_log
from certify.infra.db import ALL_INSTITUTIONS, transaction
from certify.infra.shamir import Share, combine
from question_bank.sealing.holds import OPENED, SEALED, SealError, SealNotFound, aware, beijing
from question_bank.sealing.seal import associated_data
from question_bank.sealing.shares import parse_share, share_hash
from schemas.tables import (
    ItemImage,
    ItemVersion,
    Paper,
    PaperDocument,
    PaperSeal,
    utcnow,
)


@dataclass(frozen=True)
class Opened:
    seal_id: int
    papers: list[str]
    custodians: list[str]
    opened_at: datetime
    versions: int
    documents: int


def open_seal(engine: Engine, seal_id: int, shares: list[str], *, actor: str = "cli") -> Opened:
    """Open seal ``seal_id`` with the custodians' ``shares`` (their texts): every text and PDF
    goes back where it was, and the opening is audited with the custodians and the time.

    Raises SealError (audited as a refused opening) before the opening time, for an opened
    seal, a share of another seal or custodian, a wrong or repeated share, or fewer shares than
    the threshold; nothing is changed then.
    """
    try:
        return _open(engine, seal_id, shares, actor)
    except SealError as exc:
        with transaction(engine) as session:
            audit_log.append(
                session,
                actor=actor,
                action="papers.open_refused",
                subject=f"seal {seal_id}",
                detail={"reason": exc.code, "message": str(exc).splitlines()[0]},
            )
        raise


def _open(engine: Engine, seal_id: int, shares: list[str], actor: str) -> Opened:
    with transaction(engine) as session:
        # the seal's row first: two openings at once run one after the other
        session.execute(
            update(PaperSeal).where(col(PaperSeal.id) == seal_id).values(id=col(PaperSeal.id))
        )
        seal = session.get(PaperSeal, seal_id, populate_existing=True)
        if seal is None:
            raise SealNotFound(seal_id)
        if seal.status != SEALED:
            raise SealError(
                f"密封 {seal_id} 已于 {seal.opened_at} 开启 / seal {seal_id} was opened already"
            )
        earliest = aware(seal.opens_at) - timedelta(minutes=seal.print_lead_minutes)
        if utcnow() < earliest:
            raise SealError(
                f"密封 {seal_id} 最早可在 {beijing(earliest)} 开启 / "
                f"seal {seal_id} opens no earlier than {beijing(earliest)}"
            )
        given = _match_shares(seal, shares)
        key = combine([s for _, s in given])
        try:
            plain = json.loads(
                zlib.decompress(
                    AESGCM(key).decrypt(seal.nonce, seal.ciphertext, associated_data(seal_id))
                )
            )
        except InvalidTag as exc:  # the hashes matched: only a changed ciphertext gets here
            raise SealError(
                f"密封 {seal_id} 的密文已被改动，无法开启 / seal {seal_id}'s ciphertext was altered"
            ) from exc
        papers = list(
            session.exec(select(Paper).where(Paper.seal_id == seal_id).order_by(col(Paper.code)))
        )
        restored = 0
        for pk, fields in plain["versions"].items():
            restored += session.execute(
                update(ItemVersion)
                .where(col(ItemVersion.id) == int(pk), col(ItemVersion.sealed_by) == seal_id)
                .values(**fields)
                .execution_options(**ALL_INSTITUTIONS)
            ).rowcount  # type: ignore[attr-defined]
        if restored != len(plain["versions"]):
            raise SealError(
                f"密封 {seal_id} 的题目已不在其保管下（{restored}/{len(plain['versions'])}），未开启 / "
                f"seal {seal_id} no longer holds all its items ({restored}/{len(plain['versions'])}); "
                "nothing was opened"
            )
        for image in plain.get("images", []):
            if session.get(ItemImage, image["sha256"]) is None:  # or brought in again meanwhile
                data = base64.b64decode(image["data"])
                session.add(
                    ItemImage(
                        sha256=image["sha256"],
                        media_type=image["media_type"],
                        width=image["width"],
                        height=image["height"],
                        size=len(data),
                        data=data,
                        created_at=datetime.fromisoformat(image["created_at"]),
                    )
                )
        by_code = {p.code: p.id for p in papers}
        for doc in plain["documents"]:
            session.add(
                PaperDocument(
                    paper_id=by_code[doc["paper"]] or 0,
                    kind=doc["kind"],
                    content=base64.b64decode(doc["content"]),
                    sha256=doc["sha256"],
                    created_at=datetime.fromisoformat(doc["created_at"]),
                )
            )
        seal.status, seal.opened_at, seal.opened_by = OPENED, utcnow(), actor
        seal.opened_with = [name for name, _ in given]
        session.add(seal)
        audit_log.append(
            session,
            actor=actor,
            action="papers.open",
            subject=f"seal {seal_id}",
            detail={
                "papers": [p.code for p in papers],
                "custodians": seal.opened_with,
                "opened_at": seal.opened_at.isoformat(),
            },
        )
        return Opened(
            seal_id,
            [p.code for p in papers],
            seal.opened_with,
            seal.opened_at,
            len(plain["versions"]),
            len(plain["documents"]),
        )


def _match_shares(seal: PaperSeal, texts: list[str]) -> list[tuple[str, Share]]:
    """(custodian, share) for each share given; raises SealError naming the share at fault."""
    by_x = {int(c["x"]): c for c in seal.custodians}
    given: list[tuple[str, Share]] = []
    for n, text_ in enumerate(texts, start=1):
        seal_id, share = parse_share(text_, n)
        custodian = by_x.get(share.x)
        if seal_id != seal.id or custodian is None:
            raise SealError(
                f"第 {n} 份：不是密封 {seal.id} 的份额 / share {n} is not one of seal {seal.id}"
            )
        name = str(custodian["name"])
        if any(given_name == name for given_name, _ in given):
            raise SealError(
                f"第 {n} 份：{name} 的份额给了两次 / share {n}: {name}'s share was given twice"
            )
        if share_hash(seal.id or 0, share) != custodian["sha256"]:
            raise SealError(
                f"第 {n} 份：与 {name} 保管的份额不符 / share {n} does not match {name}'s share"
            )
        given.append((name, share))
    if len(given) < seal.threshold:
        raise SealError(
            f"开启密封 {seal.id} 需要 {seal.threshold} 位保管人的份额，只给了 {len(given)} 份 / "
            f"opening seal {seal.id} takes {seal.threshold} custodians' shares; {len(given)} given"
        )
    return given
