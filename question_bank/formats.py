"""Reading and writing item files: CSV (UTF-8 or GB18030), XLSX and JSON.

Readers return :class:`RawItem` rows, still unvalidated, each with the number a person sees
(the spreadsheet row, or the item's position in a JSON file). Writers take validated
:class:`ItemData` and write the canonical form that the readers take back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certify.infra.errors import InputError, Problem
from certify.infra.tabular import (
    DEFAULT_MAX_BYTES,
    Table,
    check_cell,
    check_size,
    decode,
    fail,
    number_text,
    parse_json,
    read_grid,
    write_table,
)
from question_bank.columns import (
    COLUMNS,
    ITEM_COLUMNS,
    JSON_FIELDS,
    MEANING_ZH,
    OPTION_COLUMNS,
    PREMISE_COLUMNS,
)
from question_bank.images import (
    CheckedImage,
    ImageRefused,
    check_image,
    hashes_in,
    shown_texts,
)
from schemas.items import ItemData
from schemas.notation import LIST_SEPARATOR

FORMAT_TAG = "certify-bank/1"
FORMATS = ("csv", "xlsx", "json")
ITEMS_SHEETS = ("items", "题目")


@dataclass
class RawItem:
    """One unvalidated row: its number, its values by column, and the header it came under."""

    row: int
    values: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    """What the reader found that certify cannot hold (another system's question types)."""
    notices: list[Problem] = field(default_factory=list)
    """What the reader left behind that no item needs (feedback); reported, not refused."""
    category: str = ""
    """The category another system filed the question in (a Moodle ``$course$/…`` path)."""
    images: dict[str, CheckedImage] = field(default_factory=dict)
    """The images the file holds for this row's text, checked, by their hash."""

    def label(self, column: str) -> str:
        shown = self.labels.get(column, column)
        return column if shown == column else f"{shown} ({column})"


def detect_format(path: Path) -> str:
    """``csv``, ``xlsx`` or ``json`` from the file name; raises InputError otherwise."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "txt"):
        return "csv"
    if suffix in ("xlsx", "xlsm"):
        return "xlsx"
    if suffix == "json":
        return "json"
    raise InputError(
        Problem(
            str(path),
            None,
            None,
            "unsupported_format",
            f"不支持的文件类型 .{suffix}，请使用 .csv、.xlsx 或 .json",
            f"unsupported file type .{suffix}; use .csv, .xlsx or .json",
        )
    )


def read_items(
    path: Path,
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[RawItem]:
    """Every row of an item file; raises InputError when the file as a whole is unreadable."""
    fmt = fmt or detect_format(path)
    if fmt == "json":
        check_size(path, max_bytes)
        return _read_json(path, decode(path, path.read_bytes(), encoding or "utf-8"))
    grid = read_grid(path, encoding=encoding, max_bytes=max_bytes, sheets=ITEMS_SHEETS)
    names = ITEM_COLUMNS.map(path, grid.header)
    return [_tabular_row(number, names, grid.header, cells) for number, cells in grid.rows]


def _tabular_row(
    row_number: int, names: list[str | None], header: Sequence[Any], cells: Sequence[Any]
) -> RawItem:
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    options: dict[str, Any] = {}
    premises: dict[int, Any] = {}
    for name, head, cell in zip(names, header, cells, strict=False):
        if name is None:
            continue
        labels[name] = str(head).strip()
        if name in OPTION_COLUMNS:
            options[name[-1].upper()] = cell
        elif name in PREMISE_COLUMNS:
            premises[PREMISE_COLUMNS.index(name) + 1] = cell
        else:
            values[name] = cell
    values["options"] = options
    filled = [n for n, cell in premises.items() if cell is not None and str(cell).strip()]
    if filled:
        # by number up to the last one filled, a missing or empty one as "" (a gap is seen)
        values["premises"] = [premises.get(n, "") for n in range(1, max(filled) + 1)]
    return RawItem(row_number, values, labels)


def _read_json(path: Path, text: str) -> list[RawItem]:
    data = parse_json(path, text)
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise fail(
            path,
            "json",
            '需要 {"format": "certify-bank/1", "items": [...]} 结构',
            'expected {"format": "certify-bank/1", "items": [...]}',
        )
    if isinstance(data, dict) and data.get("format", FORMAT_TAG) != FORMAT_TAG:
        raise fail(
            path,
            "json",
            f"不支持的格式版本 {data.get('format')!r}",
            f"unsupported format {data.get('format')!r}; expected {FORMAT_TAG}",
        )
    images = _json_images(path, data.get("images") if isinstance(data, dict) else None)
    rows = []
    for index, item in enumerate(items, start=1):
        values = item if isinstance(item, dict) else {"_not_an_object": item}
        check_cell(path, index, None, values)
        rows.append(RawItem(index, dict(values), images=images))
    return rows


def _json_images(path: Path, found: Any) -> dict[str, CheckedImage]:
    """A JSON bank's ``images`` (``{"<sha256>": {"media_type", "data"}}``), each checked and
    its bytes matched against its hash; raises InputError naming the image otherwise."""
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise fail(path, "bad_images", "images 应为对象", "images must be an object")
    images: dict[str, CheckedImage] = {}
    for sha, entry in found.items():
        data = entry.get("data") if isinstance(entry, dict) else None
        try:
            raw = base64.b64decode(data if isinstance(data, str) else "", validate=True)
            image = check_image(raw)
        except (binascii.Error, ValueError) as error:
            zh, en = (
                (error.zh, error.en)
                if isinstance(error, ImageRefused)
                else (
                    "data 不是有效的 base64",
                    "data is not valid base64",
                )
            )
            raise fail(path, "bad_image", f"images.{sha}：{zh}", f"images.{sha}: {en}") from error
        if image.sha256 != sha:
            raise fail(
                path,
                "image_hash",
                f"images.{sha}：图片内容的 SHA-256 为 {image.sha256}，与其名称不符",
                f"images.{sha}: the image's bytes hash to {image.sha256}, not to its name",
            )
        images[sha] = image
    return images


# --- writing ---------------------------------------------------------------------------------


def format_number(value: float | None) -> str:
    """Shortest text for a number: ``2`` rather than ``2.0``, ``0.35`` as is, None as empty."""
    return "" if value is None else number_text(value)


def item_row(item: ItemData) -> list[str]:
    """The cells of one item in :data:`COLUMNS` order."""
    cells = {
        "item_id": item.item_id,
        "occupation": item.occupation,
        "level": item.level.value,
        "type": item.type.value,
        "knowledge_area": item.knowledge_area,
        "stem": item.stem,
        "key": item.key,
        "points": format_number(item.points),
        "difficulty": format_number(item.difficulty),
        "source": item.source,
        "tags": LIST_SEPARATOR.join(item.tags),
        "rubric": item.rubric,
        "status": item.status.value,
    }
    for column in OPTION_COLUMNS:
        cells[column] = item.options.get(column[-1].upper(), "")
    for n, column in enumerate(PREMISE_COLUMNS):
        cells[column] = item.premises[n] if n < len(item.premises) else ""
    return [cells[c] for c in COLUMNS]


def item_json(item: ItemData) -> dict[str, Any]:
    """An item's JSON object; ``premises`` only for a matching item."""
    data = item.model_dump(mode="json")
    return {name: data[name] for name in JSON_FIELDS if name != "premises" or item.premises}


NUMERIC = frozenset({"points", "difficulty"})


def _typed(row: list[str]) -> list[Any]:
    """An item's cells with its numeric columns as numbers (empty as None), so a spreadsheet
    holds numbers there and text elsewhere."""
    return [
        (float(v) if v else None) if c in NUMERIC else v for c, v in zip(COLUMNS, row, strict=True)
    ]


def write_items(
    path: Path,
    items: Iterable[ItemData],
    fmt: str | None = None,
    *,
    encoding: str = "utf-8-sig",
    images: Mapping[str, CheckedImage] | None = None,
) -> int:
    """Write ``items`` in canonical form; returns how many. CSV is UTF-8 with BOM by default.
    JSON also carries the ``images`` the items show (base64, by hash); CSV and XLSX name
    them by hash only.

    CSV and XLSX go through certify's one table writer: text that a spreadsheet would take for
    a formula is protected (an apostrophe in CSV, a text cell in XLSX), and the reader undoes it,
    so the file reads back to the same items."""
    fmt = fmt or detect_format(path)
    items = list(items)
    rows = [_typed(item_row(i)) for i in items]
    if fmt in ("csv", "xlsx"):
        notes = Table(["列 column", "含义"], [[c, MEANING_ZH[c]] for c in COLUMNS], "说明")
        write_table(
            path,
            list(COLUMNS),
            rows,
            sheet="items",
            more=[notes] if fmt == "xlsx" else [],
            fmt=fmt,
            encoding=encoding,
        )
    elif fmt == "json":
        doc: dict[str, Any] = {"format": FORMAT_TAG, "items": [item_json(i) for i in items]}
        shown = sorted(h for h in hashes_in(shown_texts(*items)) if images and h in images)
        if shown and images:
            doc["images"] = {
                h: {
                    "media_type": images[h].media_type,
                    "data": base64.b64encode(images[h].data).decode("ascii"),
                }
                for h in shown
            }
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    else:
        raise ValueError(fmt)
    return len(items)
