"""Spreadsheets people send and open: CSV (UTF-8 or GB18030), XLSX and JSON read as a grid of
cells, and the one writer of tables people open in Excel.

Shared by every import (items, rosters, answer sheets, marks, committee checks): the limits on
size and expansion (:mod:`certify.infra.xlsx_guard`) and on a cell's length, the encoding rules of
Chinese Excel files, and errors that name the file, row and field. Which column a header names
and what the cells mean is read by :mod:`certify.infra.rows`. Every table certify writes for people
goes through :func:`write_table` / :func:`table_bytes`, which never let a cell start a formula;
the readers undo exactly what the writer did, so certify's own files read back unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from certify.infra.errors import InputError, Problem
from certify.infra.xlsx_guard import MAX_CELL_CHARS, check_workbook

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


@dataclass
class Grid:
    """The header and the non-empty rows of a sheet, each row with the number a person sees."""

    header: list[Any]
    rows: list[tuple[int, list[Any]]]


def fail(path: Path, code: str, zh: str, en: str, row: int | None = None) -> InputError:
    return InputError(Problem(str(path), row, None, code, zh, en))


def check_size(path: Path, max_bytes: int) -> None:
    """Refuse a missing file or one over the limit before reading it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise fail(
            path, "unreadable", f"无法读取文件：{exc.strerror}", f"cannot read: {exc.strerror}"
        ) from exc
    if size > max_bytes:
        mb, limit = size / 2**20, max_bytes / 2**20
        raise fail(
            path,
            "file_too_large",
            f"文件 {mb:.1f} MB 超过上限 {limit:.0f} MB，请拆分后分批导入（或用 --max-size-mb 调高上限）",
            f"file is {mb:.1f} MB, over the {limit:.0f} MB limit; split it or raise --max-size-mb",
        )


def decode(path: Path, data: bytes, encoding: str | None) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK), unless told otherwise."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise fail(
            path,
            "encoding",
            "文件为 UTF-16 编码（Excel 的“Unicode 文本”），请另存为“CSV UTF-8”",
            "file is UTF-16 (Excel 'Unicode text'); save it as 'CSV UTF-8'",
        )
    candidates = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    if not encoding:
        _refuse_mixed(path, data)
    for name in candidates:
        try:
            return data.decode(name).removeprefix("\ufeff")
        except (UnicodeDecodeError, LookupError):
            continue
    raise fail(
        path,
        "encoding",
        f"无法按 {'、'.join(candidates)} 解码文件，请另存为“CSV UTF-8”或用 --encoding 指定编码",
        f"cannot decode the file as {', '.join(candidates)}; save as 'CSV UTF-8' or pass --encoding",
    )


def _utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _refuse_mixed(path: Path, data: bytes) -> None:
    """A file with some lines in UTF-8 and others not (pasted together from two sources) would
    decode as GB18030 into nonsense: refuse it, naming a line of each kind."""
    lines = data.split(b"\n")
    utf8 = next((n for n, line in enumerate(lines, 1) if not line.isascii() and _utf8(line)), None)
    other = next((n for n, line in enumerate(lines, 1) if not _utf8(line)), None)
    if utf8 is not None and other is not None:
        raise fail(
            path,
            "mixed_encoding",
            f"文件混用了多种编码（第 {utf8} 行为 UTF-8，第 {other} 行不是），请统一另存为“CSV UTF-8”",
            f"the file mixes encodings (line {utf8} is UTF-8, line {other} is not): "
            "save it whole as 'CSV UTF-8'",
            row=other,
        )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def too_long(path: Path, row: int | None, field: str | None) -> InputError:
    """The error for a cell over :data:`~certify.infra.xlsx_guard.MAX_CELL_CHARS` characters."""
    limit = f"{MAX_CELL_CHARS:,}"
    return InputError(
        Problem(
            str(path),
            row,
            field,
            "cell_too_long",
            f"单元格超过 {limit} 个字符（Excel 单元格的上限）",
            f"the cell holds more than {limit} characters (Excel's limit for a cell)",
        )
    )


def check_cell(path: Path, row: int | None, field: str | None, value: Any) -> None:
    """Raise InputError (:func:`too_long`) if ``value``, or any text inside it when it is a
    JSON list or object, is longer than a cell may be."""
    pending = [(field, value)]
    while pending:
        name, item = pending.pop()
        if isinstance(item, str) and len(item) > MAX_CELL_CHARS:
            raise too_long(path, row, name)
        if isinstance(item, dict):
            pending += [(f"{name}.{k}" if name else str(k), v) for k, v in item.items()]
        elif isinstance(item, list):
            pending += [(name, v) for v in item]


def _cells(path: Path, row: int, header: Sequence[Any], raw: Iterable[Any]) -> list[Any]:
    """A row's cells as certify wrote them (:func:`unquote`), refused if one is too long."""
    cells = list(raw)
    for n, cell in enumerate(cells):
        if cell.__class__ is str:
            if len(cell) > MAX_CELL_CHARS:
                name = header[n] if n < len(header) and not _blank(header[n]) else None
                raise too_long(path, row, str(name) if name is not None else f"column {n + 1}")
            if cell.startswith("'"):
                cells[n] = unquote(cell)
    return cells


MAX_COLUMNS = 256
"""Columns read from a worksheet: every certify format has far fewer, and a sheet that declares
thousands must not make reading it slow."""


def _too_many_rows(path: Path, limit: int, row: int) -> InputError:
    return fail(
        path,
        "too_many_rows",
        f"文件超过 {limit} 行，请拆分后分批提交",
        f"the file has more than {limit} rows: split it",
        row,
    )


def _csv_error(path: Path, exc: csv.Error, line: int) -> InputError:
    if "field larger than field limit" in str(exc):  # the csv module's own guard, 131,072
        return too_long(path, line, None)
    return fail(path, "csv", f"CSV 格式错误：{exc}", f"malformed CSV: {exc}", line)


def read_csv_grid(path: Path, text: str, max_rows: int | None = None) -> Grid:
    """The cells of CSV text; a cell :func:`cell_text` protected reads back as it was."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = _cells(path, 1, [], next(reader))
    except StopIteration:
        raise fail(path, "empty", "文件为空", "the file is empty") from None
    except csv.Error as exc:
        raise _csv_error(path, exc, 1) from exc
    rows: list[tuple[int, list[Any]]] = []
    try:
        for index, raw in enumerate(reader, start=2):
            cells = _cells(path, index, header, raw)
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
                raise fail(
                    path,
                    "columns",
                    f"该行有 {len(cells)} 个单元格，表头只有 {len(header)} 列",
                    f"the row has {len(cells)} cells but the header has {len(header)} columns",
                    index,
                )
            if not all(_blank(c) for c in cells):
                rows.append((index, list(cells)))
                if max_rows is not None and len(rows) > max_rows:
                    raise _too_many_rows(path, max_rows, index)
    except csv.Error as exc:
        raise _csv_error(path, exc, reader.line_num) from exc
    return Grid(header, rows)


def read_xlsx_grid(path: Path, sheets: Sequence[str] = (), max_rows: int | None = None) -> Grid:
    """The first sheet named in ``sheets`` that exists, else the first sheet (at most
    :data:`MAX_COLUMNS` columns; with ``max_rows``, refused beyond that many rows, counting blank
    ones after the first ``max_rows`` too, so a sheet stretched to a million rows stops early).

    The workbook's expansion is bounded before openpyxl opens it
    (:func:`~certify.infra.xlsx_guard.check_workbook`), and every cell's length while it is read."""
    from openpyxl import load_workbook  # deferred: openpyxl is slow to import

    check_workbook(path)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a damaged file
        raise fail(
            path, "xlsx", f"无法打开 Excel 文件：{exc}", f"cannot open the workbook: {exc}"
        ) from exc
    try:
        sheet = next((book[n] for n in sheets if n in book.sheetnames), book.worksheets[0])
        return _sheet_grid(path, sheet, max_rows)
    except InputError:
        raise
    except Exception as exc:  # openpyxl parses sheets lazily, raising many types on bad XML
        raise fail(
            path, "xlsx", f"无法读取工作表：{exc}", f"cannot read the worksheet: {exc}"
        ) from exc
    finally:
        book.close()


def _sheet_grid(path: Path, sheet: Any, max_rows: int | None) -> Grid:
    first = next(sheet.iter_rows(values_only=True, max_row=1, max_col=MAX_COLUMNS), None)
    if first is None:
        raise fail(path, "empty", "工作表为空", "the worksheet is empty")
    header = _cells(path, 1, [], first)
    while header and _blank(header[-1]):  # reading up to MAX_COLUMNS pads with blanks
        header.pop()
    # Cells right of the header name no column: not read (openpyxl would pad every row to
    # MAX_COLUMNS, and each cell costs time).
    rows = []
    width = max(1, len(header))
    for n, r in enumerate(sheet.iter_rows(values_only=True, min_row=2, max_col=width), start=2):
        values = _cells(path, n, header, r)
        if not all(_blank(c) for c in values):
            rows.append((n, values))
        if max_rows is not None and (len(rows) > max_rows or n > 2 * max_rows + 1_000):
            raise _too_many_rows(path, max_rows, n)
    return Grid(header, rows)


def read_grid(
    path: Path,
    *,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    sheets: Sequence[str] = (),
    max_rows: int | None = None,
) -> Grid:
    """The grid of a .csv/.txt or .xlsx/.xlsm file; raises InputError for anything else
    (and, with ``max_rows``, as soon as a file turns out longer)."""
    check_size(path, max_bytes)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return read_csv_grid(path, decode(path, path.read_bytes(), encoding), max_rows)
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx_grid(path, sheets, max_rows)
    if suffix == ".json":
        return read_json_grid(path, decode(path, path.read_bytes(), encoding or "utf-8"))
    raise fail(
        path,
        "unsupported_format",
        f"不支持的文件类型 {suffix}，请使用 .csv、.xlsx 或 .json",
        f"unsupported file type {suffix}; use .csv, .xlsx or .json",
    )


def parse_json(path: Path, text: str) -> Any:
    """Parsed JSON; raises InputError naming the line and column of a syntax error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(
            path,
            "json",
            f"JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）：{exc.msg}",
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
        ) from exc
    except RecursionError as exc:
        raise fail(
            path, "json", "JSON 嵌套过深", "the JSON is nested too deeply to be a table"
        ) from exc


def read_json_grid(path: Path, text: str) -> Grid:
    """A JSON array of objects (or ``{"rows": [...]}``) with the same keys a CSV header has.

    Row numbers are the objects' positions, counting from 1.
    """
    data = parse_json(path, text)
    records = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise fail(
            path, "json", "需要对象数组 [{...}, ...]", "expected an array of objects [{...}, ...]"
        )
    header: list[Any] = []
    for n, record in enumerate(records, start=1):
        check_cell(path, n, None, record)
        header += [k for k in record if k not in header]
    rows = [(n, [r.get(k) for k in header]) for n, r in enumerate(records, start=1)]
    return Grid(header, [(n, cells) for n, cells in rows if not all(_blank(c) for c in cells)])


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet take text for a formula (OWASP's list for CSV injection)."""


def _formula_like(text: str) -> bool:
    """Text starting like a formula, or that would once one leading apostrophe were taken off:
    ``'=x`` is protected too, so that taking one apostrophe off is always exact."""
    return text.lstrip("'").startswith(FORMULA_STARTS)


def cell_text(value: Any) -> Any:
    """A CSV cell as a spreadsheet shows it, never as a formula: text starting like one (``=``,
    ``+``, ``-``, ``@``, tab, return, after any apostrophes) gets one more apostrophe in front.
    Anything else, numbers included, is returned as it is."""
    if isinstance(value, str) and _formula_like(value):
        return "'" + value
    return value


def unquote(value: Any) -> Any:
    """A cell as certify wrote it before :func:`cell_text` protected it: one leading apostrophe
    off, when what follows it is protected text. Exactly inverts :func:`cell_text`."""
    if isinstance(value, str) and value.startswith("'") and _formula_like(value[1:]):
        return value[1:]
    return value


def number_text(value: float) -> str:
    """Shortest text for a number: ``2`` rather than ``2.0``, ``0.35`` as is."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Table:
    """One sheet of a file people open in Excel: the header row, the rows, the sheet's name.

    Numbers (``int``, ``float``) are written as numbers; everything else as text, None as an
    empty cell."""

    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    sheet: str = "Sheet1"


def write_table(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    sheet: str = "Sheet1",
    more: Sequence[Table] = (),
    fmt: str | None = None,
    encoding: str = "utf-8-sig",
) -> Path:
    """Write a table people open in Excel, as CSV or XLSX (``fmt``, else by the file's suffix);
    returns the path.

    CSV: ``encoding`` (UTF-8 with a byte-order mark, so Excel reads Chinese), CRLF line ends,
    text starting like a formula behind an apostrophe (:func:`cell_text`). XLSX: one sheet per
    table (``more`` adds sheets after the first), header row frozen, text in text cells marked
    "quote prefix" (Excel's own way of keeping ``=x`` text when edited). The readers of
    :mod:`certify.infra.tabular` read either back to the same cells."""
    fmt = fmt or path.suffix.lower().lstrip(".")
    if fmt not in ("csv", "txt", "xlsx", "xlsm"):
        raise ValueError(fmt)
    with path.open("wb") as out:
        _write(out, [Table(header, rows, sheet), *more], fmt, encoding)
    return path


def table_bytes(
    header: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str, sheet: str
) -> bytes:
    """:func:`write_table` into memory (for downloads): ``fmt`` is ``csv`` or ``xlsx``."""
    out = io.BytesIO()
    _write(out, [Table(header, rows, sheet)], fmt, "utf-8-sig")
    return out.getvalue()


def _write(out: IO[bytes], tables: Sequence[Table], fmt: str, encoding: str) -> None:
    if fmt in ("csv", "txt"):
        _write_csv(out, tables[0], encoding)
    elif fmt in ("xlsx", "xlsm"):
        _write_xlsx(out, tables)
    else:
        raise ValueError(fmt)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number_text(value)
    return cell_text(str(value))


def _write_csv(out: IO[bytes], table: Table, encoding: str) -> None:
    text = io.TextIOWrapper(out, encoding=encoding, newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([_csv_value(v) for v in table.header])
    writer.writerows([_csv_value(v) for v in row] for row in table.rows)
    text.flush()
    text.detach()


def _write_xlsx(out: IO[bytes], tables: Sequence[Table]) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for table in tables:
        page = book.create_sheet(table.sheet)
        page.freeze_panes = "A2"
        page.append([_xlsx_value(page, v) for v in table.header])
        for row in table.rows:
            page.append([_xlsx_value(page, v) for v in row])
    book.save(out)


def _xlsx_value(page: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    formula = _formula_like(text)
    # A text cell is never a formula; an apostrophe is added only where one already leads, so
    # that unquote() takes exactly it off again.
    cell = WriteOnlyCell(page, "'" + text if formula and text.startswith("'") else text)
    cell.data_type = "s"
    cell.quotePrefix = formula
    return cell
