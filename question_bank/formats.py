"""Reading and writing item files: CSV (UTF-8 or GB18030), XLSX and JSON.

Readers return :class:`RawItem` rows, still unvalidated, each with the number a person sees
(the spreadsheet row, or the item's position in a JSON file). Writers take validated
:class:`ItemData` and write the canonical form that the readers take back unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certify.errors import InputError, Problem
from question_bank.columns import (
    COLUMNS,
    JSON_FIELDS,
    MEANING_ZH,
    OPTION_COLUMNS,
    REQUIRED,
    canonical_column,
)
from schemas.items import LIST_SEPARATOR, ItemData

FORMAT_TAG = "certify-bank/1"
FORMATS = ("csv", "xlsx", "json")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
ITEMS_SHEETS = ("items", "题目")


@dataclass
class RawItem:
    """One unvalidated row: its number, its values by column, and the header it came under."""

    row: int
    values: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)

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


def _fail(path: Path, code: str, zh: str, en: str, row: int | None = None) -> InputError:
    return InputError(Problem(str(path), row, None, code, zh, en))


def read_items(
    path: Path, *, encoding: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[RawItem]:
    """Every row of an item file; raises InputError when the file as a whole is unreadable."""
    fmt = detect_format(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _fail(
            path, "unreadable", f"无法读取文件：{exc.strerror}", f"cannot read: {exc.strerror}"
        ) from exc
    if size > max_bytes:
        mb, limit = size / 2**20, max_bytes / 2**20
        raise _fail(
            path,
            "file_too_large",
            f"文件 {mb:.1f} MB 超过上限 {limit:.0f} MB，请拆分后分批导入（或用 --max-size-mb 调高上限）",
            f"file is {mb:.1f} MB, over the {limit:.0f} MB limit; split it or raise --max-size-mb",
        )
    if fmt == "csv":
        return _read_csv(path, _decode(path, path.read_bytes(), encoding))
    if fmt == "xlsx":
        return _read_xlsx(path)
    return _read_json(path, _decode(path, path.read_bytes(), encoding or "utf-8"))


def _decode(path: Path, data: bytes, encoding: str | None) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK), unless told otherwise."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail(
            path,
            "encoding",
            "文件为 UTF-16 编码（Excel 的“Unicode 文本”），请另存为“CSV UTF-8”",
            "file is UTF-16 (Excel 'Unicode text'); save it as 'CSV UTF-8'",
        )
    candidates = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for name in candidates:
        try:
            text = data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        return text.removeprefix("\ufeff")
    tried = "、".join(candidates)
    raise _fail(
        path,
        "encoding",
        f"无法按 {tried} 解码文件，请另存为“CSV UTF-8”或用 --encoding 指定编码",
        f"cannot decode the file as {', '.join(candidates)}; save as 'CSV UTF-8' or pass --encoding",
    )


def _map_header(path: Path, header: Sequence[Any]) -> list[str | None]:
    """Canonical column per header cell (None for ``_``-prefixed note columns)."""
    names: list[str | None] = []
    unknown, seen = [], set()
    for cell in header:
        text = "" if cell is None else str(cell).strip()
        if text.startswith("_"):
            names.append(None)
            continue
        column = canonical_column(text)
        if column is None or column in seen:
            unknown.append(text or "(空)")
            names.append(None)
            continue
        seen.add(column)
        names.append(column)
    missing = [c for c in COLUMNS if c in REQUIRED and c not in seen]
    if unknown or missing:
        zh, en = [], []
        if missing:
            zh.append("缺少必需列：" + "、".join(missing))
            en.append("missing column(s): " + ", ".join(missing))
        if unknown:
            zh.append("无法识别或重复的列：" + "、".join(unknown))
            en.append("unknown or repeated column(s): " + ", ".join(unknown))
        hint_zh = "（若文件乱码，请确认编码；可用 certify bank template 获取模板）"
        hint_en = " (if the text looks garbled, check the encoding; `certify bank template` gives a template)"
        raise InputError(
            Problem(str(path), 1, None, "columns", "；".join(zh) + hint_zh, "; ".join(en) + hint_en)
        )
    return names


def _tabular_row(
    row_number: int, names: list[str | None], header: Sequence[Any], cells: Sequence[Any]
) -> RawItem | None:
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    options: dict[str, Any] = {}
    for name, head, cell in zip(names, header, cells, strict=False):
        if name is None:
            continue
        labels[name] = str(head).strip()
        if name in OPTION_COLUMNS:
            options[name[-1].upper()] = cell
        else:
            values[name] = cell
    if all(_blank(v) for v in [*values.values(), *options.values()]):
        return None
    values["options"] = options
    return RawItem(row_number, values, labels)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _read_csv(path: Path, text: str) -> list[RawItem]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise _fail(path, "empty", "文件为空", "the file is empty") from None
    except csv.Error as exc:
        raise _fail(path, "csv", f"CSV 格式错误：{exc}", f"malformed CSV: {exc}", 1) from exc
    names = _map_header(path, header)
    rows: list[RawItem] = []
    try:
        for index, cells in enumerate(reader, start=2):
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
                raise _fail(
                    path,
                    "columns",
                    f"该行有 {len(cells)} 个单元格，表头只有 {len(header)} 列",
                    f"the row has {len(cells)} cells but the header has {len(header)} columns",
                    index,
                )
            item = _tabular_row(index, names, header, cells)
            if item is not None:
                rows.append(item)
    except csv.Error as exc:
        raise _fail(
            path, "csv", f"CSV 格式错误：{exc}", f"malformed CSV: {exc}", reader.line_num
        ) from exc
    return rows


def _read_xlsx(path: Path) -> list[RawItem]:
    from openpyxl import load_workbook  # deferred: openpyxl is slow to import

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a damaged file
        raise _fail(
            path, "xlsx", f"无法打开 Excel 文件：{exc}", f"cannot open the workbook: {exc}"
        ) from exc
    try:
        sheet = next((book[n] for n in ITEMS_SHEETS if n in book.sheetnames), book.worksheets[0])
        rows_iter = sheet.iter_rows(values_only=True)
        header = next(rows_iter, None)
        if header is None:
            raise _fail(path, "empty", "工作表为空", "the worksheet is empty")
        names = _map_header(path, header)
        rows: list[RawItem] = []
        for index, cells in enumerate(rows_iter, start=2):
            item = _tabular_row(index, names, header, cells)
            if item is not None:
                rows.append(item)
        return rows
    finally:
        book.close()


def _read_json(path: Path, text: str) -> list[RawItem]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(
            path,
            "json",
            f"JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）：{exc.msg}",
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
        ) from exc
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise _fail(
            path,
            "json",
            '需要 {"format": "certify-bank/1", "items": [...]} 结构',
            'expected {"format": "certify-bank/1", "items": [...]}',
        )
    if isinstance(data, dict) and data.get("format", FORMAT_TAG) != FORMAT_TAG:
        raise _fail(
            path,
            "json",
            f"不支持的格式版本 {data.get('format')!r}",
            f"unsupported format {data.get('format')!r}; expected {FORMAT_TAG}",
        )
    rows = []
    for index, item in enumerate(items, start=1):
        values = item if isinstance(item, dict) else {"_not_an_object": item}
        rows.append(RawItem(index, dict(values)))
    return rows


# --- writing ---------------------------------------------------------------------------------


def format_number(value: float | None) -> str:
    """Shortest text for a number: ``2`` rather than ``2.0``, ``0.35`` as is, None as empty."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


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
    return [cells[c] for c in COLUMNS]


def item_json(item: ItemData) -> dict[str, Any]:
    data = item.model_dump(mode="json")
    return {name: data[name] for name in JSON_FIELDS}


def write_items(
    path: Path, items: Iterable[ItemData], fmt: str | None = None, *, encoding: str = "utf-8-sig"
) -> int:
    """Write ``items`` in canonical form; returns how many. CSV is UTF-8 with BOM by default."""
    fmt = fmt or detect_format(path)
    items = list(items)
    if fmt == "csv":
        with path.open("w", encoding=encoding, newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            writer.writerows(item_row(i) for i in items)
    elif fmt == "xlsx":
        _write_xlsx(path, [item_row(i) for i in items])
    elif fmt == "json":
        doc = {"format": FORMAT_TAG, "items": [item_json(i) for i in items]}
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    else:
        raise ValueError(fmt)
    return len(items)


def _write_xlsx(path: Path, rows: list[list[str]]) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("items")
    sheet.append(list(COLUMNS))
    numeric = {COLUMNS.index("points"), COLUMNS.index("difficulty")}
    for row in rows:
        sheet.append([_xlsx_cell(sheet, i, v, numeric) for i, v in enumerate(row)])
    notes = book.create_sheet("说明")
    notes.append(["列 column", "含义"])
    for column in COLUMNS:
        notes.append([column, MEANING_ZH[column]])
    book.save(path)


def _xlsx_cell(sheet: Any, index: int, value: str, numeric: set[int]) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if value == "":
        return None
    if index in numeric:
        number = float(value)
        return int(number) if number.is_integer() else number
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"  # text stays text: a stem starting with "=" is not a formula
    return cell
