"""试卷保密: sealing frozen papers until their session opens, and opening them with custodians.

Sealing takes a set of papers (the parallel forms of one exam, usually) and moves everything a
reader could learn them from into one ciphertext: the texts of their item versions (stem,
options, premises, key, rubric — emptied in ``item_version``, which now names the seal) and
their stored PDFs (deleted from ``paper_document``). The ciphertext is AES-256-GCM under a
fresh random key that is kept nowhere: it is split among the custodians by Shamir's scheme
(:mod:`certify.infra.shamir`), k of n, each share handed out once, as text, and only its
SHA-256 kept, so a wrong share is named without the shares being stored. On SQLite the
emptied texts are overwritten where they lay (``secure_delete``) and the write-ahead log is
truncated, so the database file holds none of them.

Until the seal is opened, every reader refuses the papers with a clear reason
(:class:`PaperSealed`): the paper page and its PDFs, the print and export commands, the exam
page, grading; their versions are left out of assembly, bank exports and the bank's pages.
Opening takes k shares at or after the session's opening time (less the print lead a paper
sitting may be given), puts every text and PDF back as it was, and is audited with who opened
it, with whose shares and when; a refused opening is audited too. After opening, keys and
rubrics stay withheld from every reader but the grading path until the session ends
(:func:`check_keys_released`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, delete, or_, text, update
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import ALL_INSTITUTIONS, transaction
from certify.infra.errors import Error, NotFound, PaperNotFound
from certify.infra.shamir import Share, combine, split
from schemas.enums import AttemptStatus
from schemas.reference import CST
from schemas.tables import (
    Attempt,
    Blueprint,
    Item,
    ItemVersion,
    Paper,
    PaperDocument,
    PaperItem,
    PaperSeal,
    Registration,
    utcnow,
)

SEALED, OPENED = "sealed", "opened"
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


class SealError(Error):
    """A seal that cannot be made or opened as asked; nothing was changed."""

    code = "seal"


class SealNotFound(NotFound):
    """No seal of that number (or none the caller may see)."""

    code, what_zh, what_en = "seal_not_found", "密封", "seal"


class PaperSealed(SealError):
    """A sealed paper asked for before its seal was opened."""

    code = "paper_sealed"

    def __init__(self, code: str, opens_at: datetime) -> None:
        when = beijing(opens_at)
        super().__init__(
            f"试卷 {code} 已密封，须由保管人在 {when} 后持份额开启，此前任何人（包括管理员）都不能查看。\n"
            f"Paper {code} is sealed: its custodians open it with their shares from {when}; "
            "until then nobody, admins included, can read it."
        )
        self.paper, self.opens_at = code, opens_at


class KeysWithheld(SealError):
    """A sealed paper's keys or rubrics asked for before its session ended."""

    code = "keys_withheld"

    def __init__(self, code: str, ends_at: datetime) -> None:
        when = beijing(ends_at)
        super().__init__(
            f"试卷 {code} 的答案与评分标准在考试结束（{when}）前保密，仅供评分使用。\n"
            f"Paper {code}'s keys and rubrics stay sealed until its session ends ({when}), "
            "except for grading."
        )
        self.paper, self.ends_at = code, ends_at


def beijing(moment: datetime) -> str:
    """A moment as Beijing time, as every exam is timed."""
    return f"{_aware(moment).astimezone(CST):%Y-%m-%d %H:%M}（北京时间 UTC+8）"


# --- shares as text ----------------------------------------------------------------------------

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


def _share_hash(seal_id: int, share: Share) -> str:
    return hashlib.sha256(f"certify-seal-share:{seal_id}:{share.x}:".encode() + share.y).hexdigest()


# --- sealing -----------------------------------------------------------------------------------


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
        seal = PaperSeal(
            institution=owner,
            threshold=threshold,
            custodians=[],
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
            {"name": name, "x": share.x, "sha256": _share_hash(seal_id, share)}
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
        }
        seal.nonce = secrets.token_bytes(12)
        seal.ciphertext = AESGCM(key).encrypt(
            seal.nonce, zlib.compress(json.dumps(plain).encode(), 9), _aad(seal_id)
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


def _aad(seal_id: int) -> bytes:
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
            .with_for_update()
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


def _item_codes(session: Session, versions: list[ItemVersion]) -> list[str]:
    ids = {v.item_id for v in versions}
    return sorted(session.exec(select(Item.code).where(col(Item.id).in_(ids))))


# --- what is held ----------------------------------------------------------------------------


def held_versions(session: Session) -> dict[int, str]:
    """Item versions a seal still holds: ``sealed`` (texts in the ciphertext) or ``keys``
    (opened, its keys and rubrics withheld until the session ends). Across institutions: it
    tells only which bank versions are held, and every institution's reader must honour it."""
    now = utcnow()
    rows = session.exec(
        select(ItemVersion.id, PaperSeal.status, PaperSeal.ends_at)
        .join(PaperSeal, col(PaperSeal.id) == col(ItemVersion.sealed_by))
        .where(
            or_(
                col(PaperSeal.status) == SEALED,
                col(PaperSeal.ends_at) > now,
                col(PaperSeal.id).in_(_answering_seals()),
            )
        )
        .execution_options(**ALL_INSTITUTIONS)
    )
    return {int(pk or 0): (SEALED if status == SEALED else "keys") for pk, status, _ in rows}


def check_unheld(session: Session, paper_ids: list[int]) -> None:
    """Raises SealError if a seal took one of the papers' item versions while they were being
    assembled (the pool was read before the papers were written). On PostgreSQL the versions'
    rows are held for this transaction first, so a seal of them waits for it, and then sees
    these papers."""
    versions = select(PaperItem.item_version_id).where(col(PaperItem.paper_id).in_(paper_ids))
    if session.get_bind().dialect.name == "postgresql":
        session.exec(
            select(ItemVersion.id)
            .where(col(ItemVersion.id).in_(versions))
            .with_for_update(read=True)
            .execution_options(**ALL_INSTITUTIONS)
        ).all()
    held = held_versions(session)
    taken = set(session.exec(versions)) & held.keys()
    if taken:
        raise SealError(
            f"组卷期间有 {len(taken)} 道题被密封，未保存试卷；请重新组卷 / {len(taken)} items were "
            "sealed while the papers were assembled; nothing was stored — assemble again"
        )


def sealed_versions(session: Session) -> set[int]:
    """Item versions whose texts are in a seal not yet opened (empty in the bank)."""
    return {pk for pk, state in held_versions(session).items() if state == SEALED}


def unopened_registrations() -> Any:
    """A subquery: registrations whose paper is in a seal not yet opened."""
    unopened = (
        select(Paper.id)
        .join(PaperSeal, col(PaperSeal.id) == col(Paper.seal_id))
        .where(PaperSeal.status == SEALED)
    )
    return select(Registration.id).where(col(Registration.paper_id).in_(unopened))


def _seal_of(session: Session, code: str) -> tuple[Paper, PaperSeal | None]:
    paper = session.exec(select(Paper).where(Paper.code == code)).first()
    if paper is None:
        raise PaperNotFound(code)
    if paper.seal_id is None:
        return paper, None
    return paper, session.get(PaperSeal, paper.seal_id, execution_options=ALL_INSTITUTIONS)


def check_readable(session: Session, code: str) -> Paper:
    """The paper ``code``; raises PaperNotFound, or PaperSealed while its seal is unopened."""
    paper, seal = _seal_of(session, code)
    if seal is not None and seal.status == SEALED:
        raise PaperSealed(code, seal.opens_at)
    return paper


def check_keys_released(session: Session, code: str) -> Paper:
    """The paper ``code`` if a reader may see its keys and rubrics now; raises PaperNotFound,
    PaperSealed, or KeysWithheld until its sealed session has ended."""
    paper, seal = _seal_of(session, code)
    if seal is not None and seal.status == SEALED:
        raise PaperSealed(code, seal.opens_at)
    if seal is not None and (utcnow() < _aware(seal.ends_at) or _still_answering(session, seal)):
        raise KeysWithheld(code, seal.ends_at)
    return paper


def _answering_seals() -> Any:
    """A subquery: seals whose papers a candidate is still answering (extra time, a pause) —
    the session has not ended for them."""
    return (
        select(Paper.seal_id)
        .join(Registration, col(Registration.paper_id) == col(Paper.id))
        .join(Attempt, col(Attempt.registration_id) == col(Registration.id))
        .where(col(Paper.seal_id).is_not(None), Attempt.status == AttemptStatus.ACTIVE)
    )


def _still_answering(session: Session, seal: PaperSeal) -> bool:
    """Whether a candidate is still answering one of the seal's papers. Across institutions —
    a province's paper is every institution's — and it tells only yes or no."""
    found = session.exec(
        select(PaperSeal.id)
        .where(col(PaperSeal.id) == seal.id, col(PaperSeal.id).in_(_answering_seals()))
        .execution_options(**ALL_INSTITUTIONS)
    ).first()
    return found is not None


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive UTC datetimes."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- opening -----------------------------------------------------------------------------------


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
        earliest = _aware(seal.opens_at) - timedelta(minutes=seal.print_lead_minutes)
        if utcnow() < earliest:
            raise SealError(
                f"密封 {seal_id} 最早可在 {beijing(earliest)} 开启 / "
                f"seal {seal_id} opens no earlier than {beijing(earliest)}"
            )
        given = _match_shares(seal, shares)
        key = combine([s for _, s in given])
        try:
            plain = json.loads(
                zlib.decompress(AESGCM(key).decrypt(seal.nonce, seal.ciphertext, _aad(seal_id)))
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
        if _share_hash(seal.id or 0, share) != custodian["sha256"]:
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


# --- the database file ---------------------------------------------------------------------------


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


# --- reading seals -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SealView:
    id: int
    institution: str | None
    papers: list[str]
    threshold: int
    custodians: list[str]
    opens_at: datetime
    ends_at: datetime
    print_lead_minutes: int
    status: str
    sealed_by: str
    created_at: datetime
    opened_at: datetime | None
    opened_by: str | None
    opened_with: list[str]

    @property
    def keys_withheld(self) -> bool:
        return self.status == SEALED or utcnow() < _aware(self.ends_at)


def list_seals(engine: Engine, seal_id: int | None = None) -> list[SealView]:
    """Every seal the caller's scope sees (or seal ``seal_id`` only), newest first."""
    query = select(PaperSeal).order_by(col(PaperSeal.id).desc())
    if seal_id is not None:
        query = query.where(PaperSeal.id == seal_id)
    with Session(engine) as session:
        seals = list(session.exec(query))
        papers: dict[int, list[str]] = {}
        for owner, code in session.exec(
            select(Paper.seal_id, Paper.code)
            .where(col(Paper.seal_id).in_([s.id for s in seals]))
            .order_by(col(Paper.code))
        ):
            papers.setdefault(int(owner or 0), []).append(code)
    return [_seal_view(s, papers.get(s.id or 0, [])) for s in seals]


def get_seal(engine: Engine, seal_id: int) -> SealView:
    """Seal ``seal_id``; raises SealNotFound if the caller's scope has none."""
    found = list_seals(engine, seal_id)
    if not found:
        raise SealNotFound(seal_id)
    return found[0]


def seal_of_paper(engine: Engine, code: str) -> SealView | None:
    """The seal of paper ``code``, if it was sealed."""
    with Session(engine) as session:
        _, seal = _seal_of(session, code)
        if seal is None:
            return None
        codes = list(
            session.exec(
                select(Paper.code).where(Paper.seal_id == seal.id).order_by(col(Paper.code))
            )
        )
    return _seal_view(seal, codes)


def _seal_view(seal: PaperSeal, papers: list[str]) -> SealView:
    return SealView(
        id=seal.id or 0,
        institution=seal.institution,
        papers=papers,
        threshold=seal.threshold,
        custodians=[str(c["name"]) for c in seal.custodians],
        opens_at=_aware(seal.opens_at),
        ends_at=_aware(seal.ends_at),
        print_lead_minutes=seal.print_lead_minutes,
        status=seal.status,
        sealed_by=seal.sealed_by,
        created_at=_aware(seal.created_at),
        opened_at=_aware(seal.opened_at) if seal.opened_at else None,
        opened_by=seal.opened_by,
        opened_with=list(seal.opened_with),
    )
