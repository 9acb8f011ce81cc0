"""Reading the bank a page at a time and looking after its items: search with filters, sorting
and paging done by the database; an item's versions and what changed between two of them;
retiring an item and restoring it (audited). The web pages and the ``certify bank`` commands
call these same functions."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import ItemNotFound, Refused
from question_bank.bank import latest_versions, to_item_data
from question_bank.columns import COLUMNS
from question_bank.formats import item_row
from question_bank.sealing import SEALED, held_versions
from schemas.enums import ItemStatus, ItemType, Level
from schemas.items import ItemData
from schemas.tables import Item, ItemVersion

MAX_PER_PAGE = 200
STEM_SHOWN = 120
"""Characters of a stem a list row carries: enough to recognise it, never a whole essay."""
MAX_REASON = 500

SORTS: dict[str, tuple[Any, ...]] = {
    "item_id": (col(Item.code),),
    "occupation": (col(Item.occupation), col(Item.level)),
    "level": (col(Item.level), col(Item.occupation)),
    "type": (col(ItemVersion.type),),
    "knowledge_area": (col(ItemVersion.knowledge_area),),
    "status": (col(ItemVersion.status),),
    "version": (col(ItemVersion.version),),
    "points": (col(ItemVersion.points),),
    "updated": (col(ItemVersion.created_at),),
}
"""What a list may be sorted by; ties are broken by the item id, so pages never overlap."""


@dataclass(frozen=True)
class ItemSearch:
    """Which items, in what order, which page: every filter is optional."""

    occupation: str | None = None
    level: Level | None = None
    knowledge_area: str | None = None
    type: ItemType | None = None
    status: ItemStatus | None = None
    text: str = ""
    """Found in the item id or the stem."""
    sort: str = "item_id"
    descending: bool = False
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class ItemRow:
    """One item in a list: its newest version, the stem cut to :data:`STEM_SHOWN` characters."""

    item_id: str
    occupation: str
    level: Level
    version: int
    status: ItemStatus
    type: ItemType
    knowledge_area: str
    points: float
    stem: str
    updated_at: datetime


@dataclass(frozen=True)
class ItemPage:
    """One page of a search, and how many items the whole search found."""

    search: ItemSearch
    rows: list[ItemRow]
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.search.per_page))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(search: ItemSearch) -> Any:
    query = latest_versions()
    if search.occupation:
        query = query.where(col(Item.occupation) == search.occupation)
    if search.level:
        query = query.where(col(Item.level) == search.level.value)
    if search.knowledge_area:
        query = query.where(col(ItemVersion.knowledge_area) == search.knowledge_area)
    if search.type:
        query = query.where(col(ItemVersion.type) == search.type.value)
    if search.status:
        query = query.where(col(ItemVersion.status) == search.status.value)
    if search.text.strip():
        pattern = _like(search.text.strip())
        query = query.where(
            or_(
                col(Item.code).ilike(pattern, escape="\\"),
                col(ItemVersion.stem).like(pattern, escape="\\"),
            )
        )
    return query


def _shown(stem: str, sealed_by: int | None) -> str:
    if sealed_by is not None and not stem:  # its texts are in a seal not yet opened
        return "〔已密封 / sealed〕"
    return stem if len(stem) <= STEM_SHOWN else stem[:STEM_SHOWN] + "…"


def search_items(engine: Engine, search: ItemSearch) -> ItemPage:
    """One page of the newest versions matching ``search``, sorted by ``search.sort`` (a key
    of :data:`SORTS`; raises ValueError for another). The database filters, sorts, counts and
    cuts the page (LIMIT/OFFSET): only the rows of the page are read."""
    if search.sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    per_page = min(max(search.per_page, 1), MAX_PER_PAGE)
    page = max(search.page, 1)
    filtered = _filtered(search)
    order = [c.desc() if search.descending else c.asc() for c in SORTS[search.sort]]
    if search.sort != "item_id":
        order.append(col(Item.code).asc())
    columns = (
        col(Item.code),
        col(Item.occupation),
        col(Item.level),
        col(ItemVersion.version),
        col(ItemVersion.status),
        col(ItemVersion.type),
        col(ItemVersion.knowledge_area),
        col(ItemVersion.points),
        func.substr(col(ItemVersion.stem), 1, STEM_SHOWN + 1),
        col(ItemVersion.created_at),
        col(ItemVersion.sealed_by),
    )
    query = (
        filtered.with_only_columns(*columns)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    count = sa_select(func.count()).select_from(filtered.with_only_columns(col(Item.id)).subquery())
    with Session(engine) as session:
        total = int(session.execute(count).scalar_one())
        found = session.execute(query).all()
    rows = [
        ItemRow(
            item_id=code,
            occupation=occupation,
            level=Level(level),
            version=version,
            status=ItemStatus(status),
            type=ItemType(kind),
            knowledge_area=area,
            points=points,
            stem=_shown(stem, sealed),
            updated_at=updated,
        )
        for code, occupation, level, version, status, kind, area, points, stem, updated, sealed in found
    ]
    return ItemPage(replace(search, page=page, per_page=per_page), rows, total)


# --- an item's versions ----------------------------------------------------------------------


@dataclass(frozen=True)
class VersionView:
    """One stored version of an item, with its content as an import would read it."""

    version: int
    status: ItemStatus
    created_at: datetime
    data: ItemData
    held: str = ""
    """``sealed``: on a sealed paper, its texts are not in the bank until the seal is opened;
    ``keys``: its key and rubric are withheld until that paper's session ends; else ""."""


@dataclass(frozen=True)
class ItemHistory:
    """An item and every version of it, oldest first."""

    item_id: str
    occupation: str
    level: Level
    created_at: datetime
    versions: list[VersionView]

    @property
    def latest(self) -> VersionView:
        return self.versions[-1]

    def version(self, number: int) -> VersionView:
        """Version ``number``; raises ItemNotFound (naming ``item v number``) if there is none."""
        for found in self.versions:
            if found.version == number:
                return found
        raise ItemNotFound(f"{self.item_id} v{number}")


def item_history(engine: Engine, item_id: str) -> ItemHistory:
    """Every version of the item ``item_id``; raises ItemNotFound."""
    with Session(engine) as session:
        item = session.exec(select(Item).where(col(Item.code) == item_id)).first()
        if item is None:
            raise ItemNotFound(item_id)
        versions = session.exec(
            select(ItemVersion)
            .where(col(ItemVersion.item_id) == item.id)
            .order_by(col(ItemVersion.version))
        ).all()
        held = held_versions(session)
    return ItemHistory(
        item_id=item.code,
        occupation=item.occupation,
        level=Level(item.level),
        created_at=item.created_at,
        versions=[
            VersionView(
                v.version,
                ItemStatus(v.status),
                v.created_at,
                _withheld(to_item_data(item, v), held.get(v.id or 0, "")),
                held.get(v.id or 0, ""),
            )
            for v in versions
        ],
    )


def _withheld(data: ItemData, held: str) -> ItemData:
    """A held version as a reader may see it: a sealed one without its texts (the bank has
    none), an opened one without its key and rubric until its session ends."""
    if held == SEALED:
        return data.model_copy(
            update={
                "stem": "〔已密封 / sealed〕",
                "options": {},
                "premises": [],
                "key": "",
                "rubric": "",
            }
        )
    if held:
        return data.model_copy(update={"key": "", "rubric": ""})
    return data


@dataclass(frozen=True)
class FieldChange:
    """One column that differs between two versions, as the item file writes it, with the
    difference in runs of text: ``(kind, text)``, kind ``same``, ``removed`` or ``added``."""

    field: str
    before: str
    after: str
    runs: tuple[tuple[str, str], ...]


def diff_versions(before: ItemData, after: ItemData) -> list[FieldChange]:
    """The columns of an item file (:data:`~question_bank.columns.COLUMNS`) whose cells differ
    between ``before`` and ``after``, in column order, each with its character-level runs."""
    changes = []
    for column, old, new in zip(COLUMNS, item_row(before), item_row(after), strict=True):
        if old != new:
            changes.append(FieldChange(column, old, new, text_runs(old, new)))
    return changes


def text_runs(old: str, new: str) -> tuple[tuple[str, str], ...]:
    """``old`` turned into ``new`` as runs of kept, removed and added characters (character
    level: Chinese text has no spaces to split words at)."""
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            runs.append(("same", old[a1:a2]))
            continue
        if a2 > a1:
            runs.append(("removed", old[a1:a2]))
        if b2 > b1:
            runs.append(("added", new[b1:b2]))
    return tuple(runs)


# --- retiring and restoring ------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChanged:
    """What :func:`change_item_status` did to an item's newest version."""

    item_id: str
    version: int
    before: ItemStatus
    after: ItemStatus


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise Refused(400, "reason_missing", "请填写原因", "give a reason")
    if len(text) > MAX_REASON:
        raise Refused(
            400,
            "reason_too_long",
            f"原因不能超过 {MAX_REASON} 个字符（现为 {len(text)} 个）",
            f"the reason may hold at most {MAX_REASON} characters, not {len(text)}",
        )
    return text


def retire_item(engine: Engine, item_id: str, reason: str, *, actor: str) -> StatusChanged:
    """停用: the item's newest version becomes ``retired``, so no new paper takes it (papers
    already made keep their versions). Audited as ``bank.retire``. Raises ItemNotFound, or
    Refused when it is retired already or the reason is empty or too long."""
    return _change(engine, item_id, ItemStatus.RETIRED, reason, actor)


def restore_item(engine: Engine, item_id: str, reason: str, *, actor: str) -> StatusChanged:
    """恢复: a retired item's newest version becomes ``ready`` again. Audited as
    ``bank.restore``. Raises ItemNotFound, or Refused when it is not retired or the reason is
    empty or too long."""
    return _change(engine, item_id, ItemStatus.READY, reason, actor)


def _change(engine: Engine, item_id: str, to: ItemStatus, reason: str, actor: str) -> StatusChanged:
    text = _reason(reason)
    with transaction(engine) as session:
        item = session.exec(select(Item).where(col(Item.code) == item_id)).first()
        if item is None:
            raise ItemNotFound(item_id)
        newest = session.exec(
            select(ItemVersion)
            .where(col(ItemVersion.item_id) == item.id)
            .order_by(col(ItemVersion.version).desc())
            .limit(1)
            .with_for_update()
        ).one()
        before = ItemStatus(newest.status)
        if to is ItemStatus.RETIRED and before is ItemStatus.RETIRED:
            raise Refused(
                400,
                "item_retired",
                f"题目 {item_id} 已停用",
                f"item {item_id} is retired already",
            )
        if to is ItemStatus.READY and before is not ItemStatus.RETIRED:
            raise Refused(
                400,
                "item_not_retired",
                f"题目 {item_id} 未停用（{before.value}），无需恢复",
                f"item {item_id} is not retired ({before.value}): nothing to restore",
            )
        session.execute(
            update(ItemVersion).where(col(ItemVersion.id) == newest.id).values(status=to.value)
        )
        audit_log.append(
            session,
            actor=actor,
            action="bank.retire" if to is ItemStatus.RETIRED else "bank.restore",
            subject=item_id,
            detail={
                "version": newest.version,
                "from": before.value,
                "to": to.value,
                "reason": text,
            },
        )
    return StatusChanged(item_id, newest.version, before, to)
