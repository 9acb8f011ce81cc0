"""Importing item files into the bank, exporting them back, and summarising the bank.

An import is one transaction: every row is validated first, and unless ``skip_invalid`` is set
one bad row means nothing is written. Unchanged items change nothing; changed content becomes a
new version, and only the newest version of an item can be ``ready``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from tqdm import tqdm

from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Problem, ValidationFailed
from certify.infra.tabular import DEFAULT_MAX_BYTES, write_table
from question_bank.columns import COLUMNS, OPTION_COLUMNS, PREMISE_COLUMNS
from question_bank.formats import RawItem
from question_bank.images import (
    CheckedImage,
    hashes_in,
    images_in,
    shown_texts,
    store_images,
    stored_hashes,
)
from question_bank.interchange.common import Placement
from question_bank.interchange.files import read_any, write_any
from question_bank.sealing import held_versions
from question_bank.validate import Validation, validate_rows
from schemas.enums import ItemStatus, ItemType, Level
from schemas.items import ItemData
from schemas.notation import LIST_SEPARATOR
from schemas.reference import find_occupation, occupations
from schemas.tables import Item, ItemVersion, utcnow

CHUNK = 500
"""Rows per IN (...) lookup: well inside SQLite's and PostgreSQL's parameter limits."""


@dataclass
class ImportReport:
    """What one import did: counts per outcome and the rows it refused."""

    file: str
    rows: int = 0
    created: int = 0
    new_versions: int = 0
    status_changed: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    notices: list[Problem] = field(default_factory=list)
    """What another system's file held that no item needs (feedback…), left behind."""
    rejected_rows: int = 0
    rejects_file: Path | None = None

    @property
    def changed(self) -> bool:
        return bool(self.created or self.new_versions or self.status_changed)


def import_bank(
    engine: Engine,
    path: Path,
    *,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    actor: str = "cli",
    progress: bool | None = False,
    name: str | None = None,
    fmt: str | None = None,
    placement: Placement | None = None,
) -> ImportReport:
    """Import one item file; returns the report, raises ValidationFailed or InputError.

    With ``skip_invalid`` the valid rows are imported and the refused ones are written, with
    their reasons, to ``rejects_path`` (default: ``<file>.rejected.csv``). Without it, a file
    with a bad row imports nothing; given a ``rejects_path``, its bad rows are written there all
    the same (the ValidationFailed raised names it as ``rejects_file``). ``progress``: a bar
    on stderr — True always, False never, None when stderr is a terminal (the CLI's choice).
    ``name``: the file as its owner knows it, for the problems and the audit log (default: the
    path; an upload is saved under another name). ``fmt``: the file's format (default: from
    the file); ``placement``: where questions from GIFT, Moodle XML or QTI go when the file does
    not say (occupation, level, knowledge area by category).
    """
    source = name or str(path)
    rows = read_any(
        path, fmt=fmt, placement=placement, name=source, encoding=encoding, max_bytes=max_bytes
    )
    checked = validate_rows(source, rows)
    try:
        report = _store(engine, source, len(rows), checked, skip_invalid, actor, progress)
    except ValidationFailed as refused:
        if rejects_path is not None:
            bad = {p.row for p in refused.problems}
            write_rejects(rejects_path, [r for r in rows if r.row in bad], refused.problems)
            refused.rejects_file = rejects_path
        raise
    report.notices = [notice for row in rows for notice in row.notices]
    if report.problems:
        bad = {p.row for p in report.problems}
        report.rejected_rows = len(bad)
        report.rejects_file = rejects_path or path.with_name(path.name + ".rejected.csv")
        write_rejects(report.rejects_file, [r for r in rows if r.row in bad], report.problems)
    return report


def import_items(
    engine: Engine,
    source: str,
    items: Sequence[ItemData],
    *,
    actor: str = "cli",
    progress: bool | None = False,
) -> ImportReport:
    """Import already-validated items (e.g. synthetic ones) under the same versioning rules."""
    checked = Validation(items=list(enumerate(items, start=1)))
    return _store(engine, source, len(items), checked, False, actor, progress)


def _store(
    engine: Engine,
    source: str,
    total: int,
    checked: Validation,
    skip_invalid: bool,
    actor: str,
    progress: bool | None,
) -> ImportReport:
    report = ImportReport(file=source, rows=total)
    with transaction(engine) as session:
        existing = _latest_versions(session, [item.item_id for _, item in checked.items])
        unknown = _unknown_images(session, source, checked)
        checked.problems += unknown
        refused = {p.row for p in unknown}
        good: list[ItemData] = []
        for row, item in checked.items:
            found = existing.get(item.item_id)
            if found and (found.occupation, found.level) != (item.occupation, item.level.value):
                checked.problems.append(_moved(source, row, item, found))
            elif row not in refused:
                good.append(item)
        if checked.problems and not skip_invalid:
            raise ValidationFailed(_in_row_order(checked.problems), total_rows=total)
        shown = hashes_in(shown_texts(*good))
        store_images(session, [checked.images[h] for h in shown if h in checked.images])
        _apply(session, good, existing, report, progress)
        if report.changed:
            audit_log.append(
                session,
                actor=actor,
                action="bank.import",
                subject=Path(source).name,
                detail={
                    "rows": total,
                    "created": report.created,
                    "new_versions": report.new_versions,
                    "status_changed": report.status_changed,
                    "rejected_rows": len({p.row for p in checked.problems}),
                },
            )
    report.problems = _in_row_order(checked.problems)
    return report


def _unknown_images(session: Session, source: str, checked: Validation) -> list[Problem]:
    """A problem for each row and field that shows an image neither the file nor the bank
    holds (a CSV or spreadsheet names images by hash; their bytes must be in the bank)."""
    if not checked.wanted:
        return []
    stored = stored_hashes(session, checked.wanted)
    return [
        Problem(
            source,
            row,
            label,
            "unknown_image",
            f"图片 sha256:{sha[:12]}… 既不在文件中，也不在题库中",
            f"the image sha256:{sha[:12]}… is neither in the file nor in the bank",
        )
        for sha, places in checked.wanted.items()
        if sha not in stored
        for row, label in places
    ]


def _in_row_order(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: p.row or 0)


def _moved(file: str, row: int, item: ItemData, stored: Stored) -> Problem:
    return Problem(
        file,
        row,
        "item_id",
        "item_moved",
        f"题目 {item.item_id} 在题库中属于 {stored.occupation}/{stored.level}，不能改到 "
        f"{item.occupation}/{item.level.value}；请使用新的题目编号",
        f"item {item.item_id} belongs to {stored.occupation}/{stored.level} in the bank and cannot "
        f"move to {item.occupation}/{item.level.value}; give it a new item_id",
    )


class Stored(NamedTuple):
    """What an import needs to know of an item already in the bank: its newest version."""

    item_pk: int
    occupation: str
    level: str
    version_pk: int
    version: int
    status: str
    content_hash: str


def _latest_versions(session: Session, codes: Sequence[str]) -> dict[str, Stored]:
    found: dict[str, Stored] = {}
    for start in range(0, len(codes), CHUNK):
        chunk = codes[start : start + CHUNK]
        latest = (
            select(ItemVersion.item_id, func.max(ItemVersion.version).label("v"))
            .join(Item, col(Item.id) == col(ItemVersion.item_id))
            .where(col(Item.code).in_(chunk))
            .group_by(col(ItemVersion.item_id))
            .subquery()
        )
        query = (
            sa_select(
                *(
                    col(c)
                    for c in (
                        Item.code,
                        Item.id,
                        Item.occupation,
                        Item.level,
                        ItemVersion.id,
                        ItemVersion.version,
                        ItemVersion.status,
                        ItemVersion.content_hash,
                    )
                )
            )
            .join(ItemVersion, col(ItemVersion.item_id) == col(Item.id))
            .join(
                latest,
                (latest.c.item_id == ItemVersion.item_id) & (latest.c.v == ItemVersion.version),
            )
        )
        for code, *rest in session.execute(query):
            found[code] = Stored(*rest)
    return found


def _version_row(item_pk: int, number: int, item: ItemData, now: Any) -> dict[str, Any]:
    return {
        "item_id": item_pk,
        "version": number,
        "status": item.status.value,
        "type": item.type.value,
        "knowledge_area": item.knowledge_area,
        "stem": item.stem,
        "options": item.options,
        "premises": item.premises,
        "key": item.key,
        "points": item.points,
        "difficulty": item.difficulty,
        "source": item.source,
        "tags": item.tags,
        "rubric": item.rubric,
        "content_hash": item.content_hash(),
        "created_at": now,
    }


def _apply(
    session: Session,
    items: list[ItemData],
    existing: dict[str, Stored],
    report: ImportReport,
    progress: bool | None,
) -> None:
    now = utcnow()
    fresh = [i for i in items if i.item_id not in existing]
    versions: list[dict[str, Any]] = []
    superseded: list[int] = []
    bar = tqdm(
        total=len(items),
        desc="导入 import",
        unit="题",
        disable=None if progress is None else not progress,  # None: on a terminal
        leave=False,
    )
    for start in range(0, len(fresh), CHUNK):
        batch = fresh[start : start + CHUNK]
        result = session.execute(
            insert(Item).returning(col(Item.id), col(Item.code)),
            [
                {
                    "code": i.item_id,
                    "occupation": i.occupation,
                    "level": i.level.value,
                    "created_at": now,
                }
                for i in batch
            ],
        )
        ids = {code: pk for pk, code in result}
        versions += [_version_row(ids[i.item_id], 1, i, now) for i in batch]
        bar.update(len(batch))
    report.created = len(fresh)
    for item in items:
        if item.item_id not in existing:
            continue
        stored = existing[item.item_id]
        if stored.content_hash != item.content_hash():
            versions.append(_version_row(stored.item_pk, stored.version + 1, item, now))
            if item.status is ItemStatus.READY:
                superseded.append(stored.item_pk)
            report.new_versions += 1
        elif stored.status != item.status.value:
            if item.status is ItemStatus.READY:
                superseded.append(stored.item_pk)
            session.execute(
                update(ItemVersion)
                .where(col(ItemVersion.id) == stored.version_pk)
                .values(status=item.status.value)
            )
            report.status_changed += 1
        else:
            report.unchanged += 1
        bar.update(1)
    bar.close()
    for start in range(0, len(superseded), CHUNK):
        session.execute(
            update(ItemVersion)
            .where(col(ItemVersion.item_id).in_(superseded[start : start + CHUNK]))
            .where(col(ItemVersion.status) == ItemStatus.READY.value)
            .values(status=ItemStatus.RETIRED.value)
        )
    for start in range(0, len(versions), CHUNK):
        session.execute(insert(ItemVersion), versions[start : start + CHUNK])


def write_rejects(path: Path, rows: Iterable[RawItem], problems: list[Problem]) -> None:
    """The refused rows with their reasons, as a CSV that imports again once fixed.

    Columns starting with ``_`` hold the reasons; the importer ignores them.
    """
    reasons: dict[int | None, list[Problem]] = defaultdict(list)
    for p in problems:
        reasons[p.row].append(p)
    write_table(
        path,
        ["_row", "_reason_zh", "_reason_en", *COLUMNS],
        (
            [
                raw.row,
                "\n".join(f"{p.field or ''}: {p.message_zh}" for p in reasons[raw.row]),
                "\n".join(f"{p.field or ''}: {p.message_en}" for p in reasons[raw.row]),
                *(_cell(raw, c) for c in COLUMNS),
            ]
            for raw in rows
        ),
        sheet="rejected",
        fmt="csv",
    )


def _cell(raw: RawItem, column: str) -> str:
    if column in OPTION_COLUMNS:
        options = raw.values.get("options")
        value = options.get(column[-1].upper()) if isinstance(options, dict) else None
    elif column in PREMISE_COLUMNS:
        premises = raw.values.get("premises")
        n = PREMISE_COLUMNS.index(column)
        value = premises[n] if isinstance(premises, list) and n < len(premises) else None
    else:
        value = raw.values.get(column)
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    return "" if value is None else str(value)


# --- reading the bank back -------------------------------------------------------------------


def latest_versions() -> Any:
    """A query of (Item, ItemVersion) pairs: every item with its newest version."""
    latest = (
        select(ItemVersion.item_id, func.max(ItemVersion.version).label("v"))
        .group_by(col(ItemVersion.item_id))
        .subquery()
    )
    return (
        select(Item, ItemVersion)
        .join(ItemVersion, col(ItemVersion.item_id) == col(Item.id))
        .join(
            latest, (latest.c.item_id == ItemVersion.item_id) & (latest.c.v == ItemVersion.version)
        )
    )


def to_item_data(item: Item, version: ItemVersion) -> ItemData:
    return ItemData(
        item_id=item.code,
        occupation=item.occupation,
        level=Level(item.level),
        type=ItemType(version.type),
        knowledge_area=version.knowledge_area,
        stem=version.stem,
        options=version.options,
        premises=version.premises,
        key=version.key,
        points=version.points,
        difficulty=version.difficulty,
        source=version.source,
        tags=version.tags,
        rubric=version.rubric,
        status=ItemStatus(version.status),
    )


_OCC_ORDER = {o.slug: n for n, o in enumerate(occupations())}
_LEVEL_ORDER = {lv.value: n for n, lv in enumerate(Level)}


def bank_items(
    engine: Engine,
    *,
    occupation: str | None = None,
    level: Level | None = None,
    status: ItemStatus | None = None,
) -> list[ItemData]:
    """The newest version of every item, filtered, in programme, level and id order; an item
    whose newest version a seal holds (``question_bank.sealing``) is left out."""
    query = latest_versions()
    if occupation:
        query = query.where(col(Item.occupation) == occupation)
    if level:
        query = query.where(col(Item.level) == level.value)
    if status:
        query = query.where(col(ItemVersion.status) == status.value)
    with Session(engine) as session:
        held = held_versions(session)
        pairs = [(item, v) for item, v in session.exec(query) if v.id not in held]
    pairs.sort(
        key=lambda p: (_OCC_ORDER.get(p[0].occupation, 99), _LEVEL_ORDER[p[0].level], p[0].code)
    )
    return [to_item_data(item, version) for item, version in pairs]


def export_bank(engine: Engine, path: Path, fmt: str | None = None, **filters: Any) -> int:
    """Write the bank (newest versions) to ``path``; returns the number of items. The images
    they show go with them where the format can carry them (JSON, Moodle XML, GIFT, QTI);
    CSV and XLSX name them by hash, for an import into a bank that holds them."""
    items = bank_items(engine, **filters)
    return write_any(path, items, fmt, images=images_of(engine, items))


def images_of(engine: Engine, items: Iterable[ItemData]) -> dict[str, CheckedImage]:
    """The stored images that ``items`` show, by hash."""
    return images_in(engine, shown_texts(*items))


@dataclass(frozen=True)
class BankSummary:
    """Counts for one occupation and level of the bank (newest versions)."""

    occupation: str
    level: Level
    items: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    by_area: dict[str, int]
    missing_areas: tuple[str, ...]
    missing_types: tuple[str, ...]


Counts = Counter[tuple[str, str, str]]
"""Items of one occupation and level by (status, type, knowledge area)."""


def summarise(items: Iterable[ItemData]) -> list[BankSummary]:
    """Per occupation and level: items by status, type (ready) and area (ready), and gaps."""
    groups: dict[tuple[str, Level], Counts] = defaultdict(Counter)
    for item in items:
        groups[(item.occupation, item.level)][
            (item.status.value, item.type.value, item.knowledge_area)
        ] += 1
    return _summaries(groups)


def bank_summary(engine: Engine) -> list[BankSummary]:
    """:func:`summarise` of the whole bank's newest versions, counted by the database (one
    grouped query: the items themselves are never loaded)."""
    latest = latest_versions().subquery()
    query = sa_select(
        latest.c.occupation,
        latest.c.level,
        latest.c.status,
        latest.c.type,
        latest.c.knowledge_area,
        func.count(),
    ).group_by(
        latest.c.occupation, latest.c.level, latest.c.status, latest.c.type, latest.c.knowledge_area
    )
    groups: dict[tuple[str, Level], Counts] = defaultdict(Counter)
    with Session(engine) as session:
        for occupation, level, status, kind, area, count in session.execute(query):
            groups[(occupation, Level(level))][(status, kind, area)] += count
    return _summaries(groups)


def _summaries(groups: dict[tuple[str, Level], Counts]) -> list[BankSummary]:
    out = []
    for (slug, level), counts in sorted(
        groups.items(), key=lambda kv: (_OCC_ORDER.get(kv[0][0], 99), _LEVEL_ORDER[kv[0][1].value])
    ):
        statuses: Counter[str] = Counter()
        areas: Counter[str] = Counter()
        types: Counter[str] = Counter()
        for (status, kind, area), count in counts.items():
            statuses[status] += count
            if status == ItemStatus.READY.value:
                areas[area] += count
                types[kind] += count
        occ = find_occupation(slug)
        needed = [a.code for a in occ.areas_at(level)] if occ else []
        out.append(
            BankSummary(
                occupation=slug,
                level=level,
                items=sum(statuses.values()),
                by_status=dict(statuses),
                by_type={t.value: types.get(t.value, 0) for t in ItemType},
                by_area={code: areas.get(code, 0) for code in needed},
                missing_areas=tuple(c for c in needed if not areas.get(c)),
                missing_types=tuple(t.value for t in ItemType if not types.get(t.value)),
            )
        )
    return out
