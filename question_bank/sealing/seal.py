"""Sealing: the papers that show a set of item versions, locked, their texts and PDFs moved
into one AES-256-GCM ciphertext whose key is split among the custodians; on SQLite the freed
space zeroed and the log truncated."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, String, cast, delete, or_, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import ALL_INSTITUTIONS
from certify.infra.errors import DatabaseError, PaperNotFound
from certify.infra.shamir import split
from question_bank.images import hashes_in, shown_texts
from question_bank.sealing.holds import SEALED, SealError, held_versions
from question_bank.sealing.shares import share_hash, share_text
from schemas.tables import (
    Blueprint,
    Item,
    ItemImage,
    ItemVersion,
    Paper,
    PaperDocument,
    PaperItem,
    PaperSeal,
    utcnow,
)

SEALED_FIELDS = ("stem", "options", "premises", "key", "rubric")
"""The fields of an item version a seal holds; the rest (type, area, points, difficulty,
content hash) stay readable, as assembly and statistics need them and they tell no text."""


def _emptied(version: ItemVersion) -> dict[str, Any]:
    """The sealed fields of ``version`` as the bank keeps them while sealed: empty, but for the
    option letters — the item's shape, which grading asks to tell a key correction."""
    return {
        "stem": "",
        "options": dict.fromkeys(version.options, ""),
        "premises": [],
        "key": "",
        "rubric": "",
    }


MAX_CUSTODIANS = 16
CHECKPOINT_TRIES = 10
MAX_OPENS_IN = timedelta(days=366)
"""A seal opens within a year: its items stay out of every assembly and export until then."""
MAX_SESSION = timedelta(days=7)
log = logging.getLogger(__name__)
MAX_PRINT_LEAD = 24 * 60


@dataclass(frozen=True)
class Sealed:
    """A seal just made: its shares, to hand to the custodians now; they are kept nowhere."""

    seal_id: int
    papers: list[str]
    threshold: int
    shares: list[tuple[str, str]]
    """(custodian, share text), in the order the custodians were given."""
    opens_at: datetime
    ends_at: datetime
    print_lead_minutes: int
    versions: int
    documents: int


def seal_papers(
    engine: Engine,
    codes: list[str],
    *,
    custodians: list[str],
    threshold: int,
    opens_at: datetime,
    ends_at: datetime,
    print_lead_minutes: int = 0,
    actor: str = "cli",
    deliver: Callable[[Sealed], None] | None = None,
) -> Sealed:
    """Seal the papers ``codes`` (frozen now if they were drafts) under one key split among
    ``custodians``, any ``threshold`` of whom open it from ``opens_at`` less
    ``print_lead_minutes``; keys and rubrics are withheld until ``ends_at``.

    ``deliver`` is handed the seal with its shares before anything is committed: if it raises
    (a share file that cannot be written), nothing is sealed — a seal whose shares were lost
    could never be opened.

    Raises PaperNotFound, or SealError for a paper sealed already, an item version another
    unfinished seal holds or that a paper outside the seal also shows, papers of different
    institutions, or custodians, threshold or times that do not make sense; nothing is
    changed then.
    """
    names = _check_request(codes, custodians, threshold, opens_at, ends_at, print_lead_minutes)
    key = AESGCM.generate_key(bit_length=256)
    shares = split(key, threshold=threshold, shares=len(names))
    with _zeroing(engine) as session:
        _lock_papers(session, codes)
        papers = _papers(session, codes)
        owner = _one_owner(session, papers)
        versions = _versions(session, papers)
        documents = list(
            session.exec(
                select(PaperDocument).where(col(PaperDocument.paper_id).in_([p.id for p in papers]))
            )
        )
        shown = sorted(hashes_in(shown_texts(*versions)))
        images = _images_only_here(session, versions, shown)
        seal = PaperSeal(
            institution=owner,
            threshold=threshold,
            custodians=[],
            images=shown,
            opens_at=opens_at.astimezone(UTC),  # SQLite keeps no offset: every moment is UTC
            ends_at=ends_at.astimezone(UTC),
            print_lead_minutes=print_lead_minutes,
            nonce=b"",
            ciphertext=b"",
            sealed_by=actor,
        )
        session.add(seal)
        session.flush()
        seal_id = seal.id or 0
        seal.custodians = [
            {"name": name, "x": share.x, "sha256": share_hash(seal_id, share)}
            for name, share in zip(names, shares, strict=True)
        ]
        by_id = {p.id: p.code for p in papers}
        plain = {
            "versions": {str(v.id): {f: getattr(v, f) for f in SEALED_FIELDS} for v in versions},
            "documents": [
                {
                    "paper": by_id[d.paper_id],
                    "kind": d.kind,
                    "sha256": d.sha256,
                    "content": base64.b64encode(d.content).decode(),
                    "created_at": d.created_at.isoformat(),
                }
                for d in documents
            ],
            "images": [
                {
                    "sha256": i.sha256,
                    "media_type": i.media_type,
                    "width": i.width,
                    "height": i.height,
                    "data": base64.b64encode(i.data).decode(),
                    "created_at": i.created_at.isoformat(),
                }
                for i in images
            ],
        }
        seal.nonce = secrets.token_bytes(12)
        seal.ciphertext = AESGCM(key).encrypt(
            seal.nonce, zlib.compress(json.dumps(plain).encode(), 9), associated_data(seal_id)
        )
        for v in versions:
            session.execute(
                update(ItemVersion)
                .where(col(ItemVersion.id) == v.id)
                .values(sealed_by=seal_id, **_emptied(v))
            )
        session.execute(
            delete(PaperDocument).where(col(PaperDocument.id).in_([d.id for d in documents]))
        )
        session.execute(
            delete(ItemImage).where(col(ItemImage.sha256).in_([i.sha256 for i in images]))
        )
        now = utcnow()
        for paper in papers:
            taken = session.execute(
                update(Paper)
                .where(col(Paper.id) == paper.id, col(Paper.seal_id).is_(None))
                .values(seal_id=seal_id, status="frozen", frozen_at=paper.frozen_at or now)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]  # another seal took it
                raise SealError(
                    f"试卷 {paper.code} 刚被另一次密封占用 / paper {paper.code} was just sealed by another"
                )
        session.add(seal)
        audit_log.append(
            session,
            actor=actor,
            action="papers.seal",
            subject=f"seal {seal_id}",
            detail={
                "papers": [p.code for p in papers],
                "custodians": names,
                "threshold": threshold,
                "opens_at": opens_at.isoformat(),
                "ends_at": ends_at.isoformat(),
                "print_lead_minutes": print_lead_minutes,
                "versions": len(versions),
                "documents": len(documents),
            },
        )
        sealed = Sealed(
            seal_id=seal_id,
            papers=[p.code for p in papers],
            threshold=threshold,
            shares=[(n, share_text(seal_id, s)) for n, s in zip(names, shares, strict=True)],
            opens_at=opens_at,
            ends_at=ends_at,
            print_lead_minutes=print_lead_minutes,
            versions=len(versions),
            documents=len(documents),
        )
        if deliver is not None:
            deliver(sealed)
    purge_freed(engine)
    return sealed


def associated_data(seal_id: int) -> bytes:
    return f"certify-paper-seal:{seal_id}".encode()


def _check_request(
    codes: list[str],
    custodians: list[str],
    threshold: int,
    opens_at: datetime,
    ends_at: datetime,
    print_lead_minutes: int,
) -> list[str]:
    names = [c.strip() for c in custodians]
    problems = []
    if not codes:
        problems.append(("papers", "至少密封一份试卷", "seal at least one paper"))
    if any(not n or len(n) > 100 for n in names) or len(set(names)) != len(names):
        problems.append(
            ("custodians", "保管人姓名不能为空或重复", "custodians' names must be given once each")
        )
    if not 2 <= len(names) <= MAX_CUSTODIANS:
        problems.append(
            (
                "custodians",
                f"保管人须为 2 至 {MAX_CUSTODIANS} 人",
                f"give 2 to {MAX_CUSTODIANS} custodians",
            )
        )
    if not 2 <= threshold <= max(len(names), 2):
        problems.append(
            (
                "threshold",
                "开启所需人数须至少为 2 且不多于保管人数",
                "the threshold is at least 2 and at most the custodians",
            )
        )
    if opens_at.tzinfo is None or ends_at.tzinfo is None:
        problems.append(("opens_at", "时间须带时区", "times must carry their time zone"))
    elif ends_at <= opens_at:
        problems.append(
            ("ends_at", "结束时间须晚于开考时间", "the session must end after it opens")
        )
    elif ends_at <= utcnow():
        problems.append(
            ("ends_at", "考试已经结束，无需密封", "the session has ended: nothing to seal for")
        )
    elif opens_at > utcnow() + MAX_OPENS_IN or ends_at - opens_at > MAX_SESSION:
        problems.append(
            (
                "opens_at",
                "开考时间须在一年之内，考试不超过 7 天",
                "the session opens within a year and lasts at most 7 days",
            )
        )
    if not 0 <= print_lead_minutes <= MAX_PRINT_LEAD:
        problems.append(
            (
                "print_lead",
                f"提前印制时间须在 0 至 {MAX_PRINT_LEAD} 分钟",
                f"the print lead is 0 to {MAX_PRINT_LEAD} minutes",
            )
        )
    if problems:
        raise SealError(
            "\n".join(f"{field}: {zh} / {en}" for field, zh, en in problems)
            + "\n未密封任何试卷 / nothing was sealed"
        )
    return names


def _lock_papers(session: Session, codes: list[str]) -> None:
    """Take the papers' rows for this transaction first: on SQLite the write lock itself (a
    seal, an assembly and an opening then run one after another), on PostgreSQL the rows."""
    session.execute(update(Paper).where(col(Paper.code).in_(codes)).values(id=col(Paper.id)))


def _papers(session: Session, codes: list[str]) -> list[Paper]:
    found = {p.code: p for p in session.exec(select(Paper).where(col(Paper.code).in_(codes)))}
    for code in codes:
        paper = found.get(code)
        if paper is None:
            raise PaperNotFound(code)
        if paper.seal_id is not None:
            raise SealError(
                f"试卷 {code} 已经密封过（密封 {paper.seal_id}）/ paper {code} was sealed "
                f"already (seal {paper.seal_id})"
            )
    return [found[c] for c in dict.fromkeys(codes)]


def _one_owner(session: Session, papers: list[Paper]) -> str | None:
    owners = set(
        session.exec(
            select(Blueprint.institution).where(
                col(Blueprint.id).in_({p.blueprint_id for p in papers})
            )
        )
    )
    if len(owners) != 1:
        raise SealError(
            "一次密封的试卷须属于同一机构（或同为省级统一命题）/ the papers of one seal belong "
            "to one institution (or all to the province)"
        )
    return owners.pop()


def _versions(session: Session, papers: list[Paper]) -> list[ItemVersion]:
    """The item versions on ``papers``; raises SealError if another unfinished seal holds one."""
    versions = list(
        session.exec(
            select(ItemVersion)
            .where(
                col(ItemVersion.id).in_(
                    select(PaperItem.item_version_id).where(
                        col(PaperItem.paper_id).in_([p.id for p in papers])
                    )
                )
            )
            .order_by(col(ItemVersion.id))
        )
    )
    if session.get_bind().dialect.name == "postgresql":  # an assembly storing them waits
        session.exec(
            select(ItemVersion.id)
            .where(col(ItemVersion.id).in_([v.id for v in versions]))
            .order_by(col(ItemVersion.id))
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE: new paper items may refer
            .execution_options(**ALL_INSTITUTIONS)
        ).all()
    _also_elsewhere(session, papers, versions)
    held = held_versions(session)
    taken = [v for v in versions if v.id in held]
    if taken:
        codes = _item_codes(session, taken)
        named = ", ".join(codes[:10]) + (f" (+{len(codes) - 10})" if len(codes) > 10 else "")
        raise SealError(
            f"题目 {named} 在另一份考试尚未结束的密封中；共用题目的试卷（如同一蓝图的平行卷）须一次密封在一起，"
            "否则请不用这些题重新组卷。\n"
            f"Items {named} are held by another seal whose session has not ended: seal papers that "
            "share items (the parallel forms of a blueprint) together, or assemble without them."
        )
    return versions


def _also_elsewhere(session: Session, papers: list[Paper], versions: list[ItemVersion]) -> None:
    """Raises SealError when a paper outside the seal — of any institution, any run, a draft or
    one used long ago — shows one of the item versions: its texts would be emptied under that
    paper too, or read through it."""
    ours = [p.id for p in papers]
    others = list(
        session.exec(
            select(Paper.code)
            .where(
                col(Paper.id).in_(
                    select(PaperItem.paper_id).where(
                        col(PaperItem.item_version_id).in_([v.id for v in versions])
                    )
                ),
                col(Paper.id).not_in(ours),
            )
            .order_by(col(Paper.code))
            .execution_options(**ALL_INSTITUTIONS)  # tells only that such papers exist
        )
    )
    if others:
        mine = set(session.exec(select(Paper.code).where(col(Paper.code).in_(others))))
        named = [c for c in others if c in mine][:10]
        count = len(others)
        shown = ", ".join(named) if named else "—"
        raise SealError(
            f"这些试卷的题目也出现在另外 {count} 份试卷中（{shown}{'…' if count > len(named) else ''}），"
            "密封后那些试卷也无法使用、也能从中读到题目；请把同一次组卷的平行卷一起密封，"
            "或按曝光规则重新组卷，使所用题目不在其他试卷中。\n"
            f"Items of these papers are also on {count} other paper(s) ({shown}): sealing would "
            "empty them there too, and they could be read through those; seal the forms of a run "
            "together, or assemble (with the exposure rule) from items on no other paper."
        )


def _images_only_here(
    session: Session, versions: list[ItemVersion], shown: list[str]
) -> list[ItemImage]:
    """The stored images among ``shown`` (what the versions show) that no other item version
    shows — neither in its text nor, sealed by another seal not yet opened, in that seal's list:
    they go into the ciphertext with the texts. One shown elsewhere stays, readable there."""
    ours = [v.id for v in versions]
    others_sealed: set[str] = set()
    for listed in session.exec(
        select(PaperSeal.images)
        .where(PaperSeal.status == SEALED)
        .execution_options(**ALL_INSTITUTIONS)
    ):
        others_sealed.update(listed)
    only = []
    for sha256 in shown:
        if sha256 in others_sealed:
            continue
        elsewhere = session.exec(
            select(ItemVersion.id)
            .where(
                col(ItemVersion.id).not_in(ours),
                or_(
                    col(ItemVersion.stem).contains(sha256),
                    cast(col(ItemVersion.options), String).contains(sha256),
                    cast(col(ItemVersion.premises), String).contains(sha256),
                ),
            )
            .limit(1)
        ).first()
        if elsewhere is None:
            only.append(sha256)
    return list(session.exec(select(ItemImage).where(col(ItemImage.sha256).in_(only))))


def _item_codes(session: Session, versions: list[ItemVersion]) -> list[str]:
    ids = {v.item_id for v in versions}
    return sorted(session.exec(select(Item.code).where(col(Item.id).in_(ids))))


@contextmanager
def _zeroing(engine: Engine) -> Iterator[Session]:
    """A transaction (committed on success, rolled back on any error) whose connection, on
    SQLite, overwrites with zeros whatever it frees: the texts it empties and the PDFs it
    deletes. The connection is set back before it returns to the pool."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
            conn.commit()
        try:
            with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise DatabaseError(
                "另一个操作同时修改了相同的数据，密封已整体撤销，请重新执行。\n"
                f"Another writer changed the same records at the same time; nothing was sealed — "
                f"run it again. ({exc.orig})"
            ) from exc
        except OperationalError as exc:
            raise DatabaseError(
                f"数据库操作失败，未密封 / the database failed and nothing was sealed: {exc.orig}"
            ) from exc
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA secure_delete = OFF")
                conn.commit()


def purge_freed(engine: Engine) -> None:
    """On SQLite, copy the write-ahead log into the database and truncate it, so the old page
    images it held (with the texts just sealed) are gone from disk too. PostgreSQL keeps old
    row versions until VACUUM and in its WAL; see docs/supervision.md."""
    if engine.dialect.name != "sqlite":
        return
    for attempt in range(CHECKPOINT_TRIES):
        with engine.connect() as conn:
            busy, _, _ = conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        if not busy:
            return
        time.sleep(0.2 * (attempt + 1))  # a reader holds the log: wait for it to finish
    log.warning(
        "the write-ahead log could not be truncated after sealing (readers kept it busy); it "
        "is on the next checkpoint — run PRAGMA wal_checkpoint(TRUNCATE) when the server is quiet"
    )
