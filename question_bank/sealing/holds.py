"""What every reader of a paper asks before it shows anything: is the paper sealed, are its
keys still withheld, which bank versions does a seal hold — and the errors that say so."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from certify.infra.db import ALL_INSTITUTIONS
from certify.infra.errors import Error, NotFound, PaperNotFound
from schemas.enums import AttemptStatus
from schemas.reference import CST
from schemas.tables import (
    Attempt,
    ItemVersion,
    Paper,
    PaperItem,
    PaperSeal,
    Registration,
    utcnow,
)

SEALED, OPENED = "sealed", "opened"


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
    return f"{aware(moment).astimezone(CST):%Y-%m-%d %H:%M}（北京时间 UTC+8）"


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
            .order_by(col(ItemVersion.id))
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


def sealed_owners(session: Session) -> dict[int, str | None]:
    """Item versions whose texts are in a seal not yet opened, with the institution whose seal
    it is (None: the province's). Across institutions: it tells only whose seal holds what."""
    return {
        int(pk or 0): owner
        for pk, owner in session.exec(
            select(ItemVersion.id, PaperSeal.institution)
            .join(PaperSeal, col(PaperSeal.id) == col(ItemVersion.sealed_by))
            .where(col(PaperSeal.status) == SEALED)
            .execution_options(**ALL_INSTITUTIONS)
        )
    }


def unopened_registrations() -> Any:
    """A subquery: registrations whose paper is in a seal not yet opened."""
    unopened = (
        select(Paper.id)
        .join(PaperSeal, col(PaperSeal.id) == col(Paper.seal_id))
        .where(PaperSeal.status == SEALED)
    )
    return select(Registration.id).where(col(Registration.paper_id).in_(unopened))


def seal_of(session: Session, code: str) -> tuple[Paper, PaperSeal | None]:
    paper = session.exec(select(Paper).where(Paper.code == code)).first()
    if paper is None:
        raise PaperNotFound(code)
    if paper.seal_id is None:
        return paper, None
    return paper, session.get(PaperSeal, paper.seal_id, execution_options=ALL_INSTITUTIONS)


def check_readable(session: Session, code: str) -> Paper:
    """The paper ``code``; raises PaperNotFound, or PaperSealed while its seal is unopened."""
    paper, seal = seal_of(session, code)
    if seal is not None and seal.status == SEALED:
        raise PaperSealed(code, seal.opens_at)
    return paper


def check_keys_released(session: Session, code: str) -> Paper:
    """The paper ``code`` if a reader may see its keys and rubrics now; raises PaperNotFound,
    PaperSealed, or KeysWithheld until its sealed session has ended."""
    paper, seal = seal_of(session, code)
    if seal is not None and seal.status == SEALED:
        raise PaperSealed(code, seal.opens_at)
    if seal is not None and (utcnow() < aware(seal.ends_at) or _still_answering(session, seal)):
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


def aware(moment: datetime) -> datetime:
    """SQLite gives back naive UTC datetimes."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
