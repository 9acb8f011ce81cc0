"""The rows of a tabular file read one way by every import: which column each header names, and
every problem of every row, each naming the file, the row and the field.

:class:`Columns` is a format's columns with the headers accepted for each (the column's own
name in any case, Chinese aliases) and the ones a file must have. :func:`read_rows` reads a file
(:func:`~certify.infra.tabular.read_grid`) through it into :class:`Rows`; each :class:`Row`
parses its cells with the typed parsers below (:func:`text`, :func:`number`, :func:`flag`,
:func:`day`, :func:`lookup`), recording a :class:`~certify.infra.errors.Problem` for every cell
that does not parse. What a row means, and what is wrong across rows or against the database,
is the importer's to say (:meth:`Row.bad`, :meth:`Rows.unique`, :meth:`Rows.add`); whether
anything is written is decided once, by :meth:`Rows.refuse`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from certify.infra.errors import InputError, Problem, ValidationFailed
from certify.infra.tabular import DEFAULT_MAX_BYTES, read_grid

T = TypeVar("T")


class Invalid(ValueError):
    """A cell a parser cannot read: a stable code and what to do about it, in Chinese and
    English. Parsers raise it; :meth:`Row.get` turns it into a problem of the row."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.code, self.message_zh, self.message_en = code, zh, en


Parser = Callable[[str], T]
"""A cell's stripped text → its value; raises :class:`Invalid`."""


# --- the header --------------------------------------------------------------------------------


def _key(header: str) -> str:
    return header.strip().casefold()


class Columns:
    """The columns of one file format.

    ``aliases`` maps each column to the headers that also name it (the column's own name is
    always one); headers match whatever their case and surrounding spaces. ``required`` lists
    the columns a file must have; an entry that is a tuple is satisfied by any one of its
    columns. ``numbered`` names columns that come in a family (question ``1``, ``Q2``, ``第3题``
    → ``q1`` …): header → column, or None. ``hint_zh``/``hint_en`` follow the message when a
    header is refused.
    """

    def __init__(
        self,
        aliases: Mapping[str, Iterable[str]],
        *,
        required: Iterable[str | tuple[str, ...]] = (),
        numbered: Callable[[str], str | None] | None = None,
        hint_zh: str = "",
        hint_en: str = "",
    ) -> None:
        self.names = tuple(aliases)
        self.required = tuple((r,) if isinstance(r, str) else r for r in required)
        self.numbered, self.hint_zh, self.hint_en = numbered, hint_zh, hint_en
        self._by_header: dict[str, str] = {}
        self._zh: dict[str, str] = {}
        for name, headers in aliases.items():
            headers = tuple(headers)
            for header in (name, *headers):
                taken = self._by_header.setdefault(_key(header), name)
                if taken != name:
                    raise ValueError(f"the header {header!r} names both {taken} and {name}")
            self._zh[name] = next((h for h in headers if not h.isascii()), name)
        strays = {c for group in self.required for c in group} - set(self.names)
        if strays:
            raise ValueError(f"required columns without a header: {sorted(strays)}")

    def column(self, header: str) -> str | None:
        """The column ``header`` names, or None for a header of no column."""
        found = self._by_header.get(_key(header))
        if found is None and self.numbered is not None:
            found = self.numbered(header.strip())
        return found

    def label_zh(self, column: str) -> str:
        """``准考证号（admission_no）``: the column as a Chinese reader knows it."""
        zh = self._zh.get(column, column)
        return column if zh == column else f"{zh}（{column}）"

    def label_en(self, column: str) -> str:
        """``admission_no (准考证号)``."""
        zh = self._zh.get(column, column)
        return column if zh == column else f"{column} ({zh})"

    def map(self, path: Path, header: Sequence[Any]) -> list[str | None]:
        """The column of each header cell, None for a note column (its header starts with
        ``_``). Raises InputError (code ``columns``, row 1) naming every missing, unknown and
        repeated column at once."""
        names: list[str | None] = []
        unknown: list[str] = []
        repeated: list[tuple[str, str]] = []
        first: dict[str, str] = {}
        for cell in header:
            text = "" if cell is None else str(cell).strip()
            column = None if text.startswith("_") else self.column(text)
            if column is not None and column in first:
                repeated.append((text, first[column]))
                column = None
            elif column is not None:
                first[column] = text
            elif not text.startswith("_"):
                unknown.append(text)
            names.append(column)
        missing = [group for group in self.required if not any(c in first for c in group)]
        if missing or unknown or repeated:
            raise InputError(
                Problem(
                    str(path),
                    1,
                    None,
                    "columns",
                    self._refusal_zh(missing, unknown, repeated) + self.hint_zh,
                    self._refusal_en(missing, unknown, repeated) + self.hint_en,
                )
            )
        return names

    def _refusal_zh(
        self,
        missing: list[tuple[str, ...]],
        unknown: list[str],
        repeated: list[tuple[str, str]],
    ) -> str:
        parts = []
        if missing:
            groups = ("或".join(self.label_zh(c) for c in group) for group in missing)
            parts.append("缺少必需列：" + "、".join(groups))
        if unknown:
            parts.append("无法识别的列：" + "、".join(t or "（空）" for t in unknown))
        if repeated:
            parts.append("重复的列：" + "、".join(f"{t}（同“{f}”）" for t, f in repeated))
        return "；".join(parts)

    def _refusal_en(
        self,
        missing: list[tuple[str, ...]],
        unknown: list[str],
        repeated: list[tuple[str, str]],
    ) -> str:
        parts = []
        if missing:
            groups = (" or ".join(self.label_en(c) for c in group) for group in missing)
            parts.append("missing column(s): " + ", ".join(groups))
        if unknown:
            parts.append("unknown column(s): " + ", ".join(t or "(blank)" for t in unknown))
        if repeated:
            parts.append(
                "repeated column(s): " + ", ".join(f"{t} (same as {f})" for t, f in repeated)
            )
        return "; ".join(parts)


# --- rows and their problems ------------------------------------------------------------------


@dataclass
class Row:
    """One row while its cells are read: the number a person sees, each mapped column's cell as
    stripped text (a blank or absent cell is ``""``), and the problems found in it so far."""

    file: str
    number: int
    values: dict[str, str]
    problems: list[Problem] = field(default_factory=list)

    def text(self, column: str) -> str:
        """The cell as it stands."""
        return self.values.get(column, "")

    def get(self, column: str, parse: Parser[T]) -> T | None:
        """The cell read by ``parse``; None, with a problem of the row, when it cannot be."""
        try:
            return parse(self.text(column))
        except Invalid as invalid:
            self.bad(column, invalid.code, invalid.message_zh, invalid.message_en)
            return None

    def bad(self, column: str, code: str, zh: str, en: str) -> None:
        """Record a problem with the cell of ``column``."""
        self.problems.append(Problem(self.file, self.number, column, code, zh, en))

    @property
    def ok(self) -> bool:
        """No problem found in the row so far."""
        return not self.problems


class Rows:
    """The rows of one file and every problem found in them."""

    def __init__(self, path: Path, rows: Sequence[Row]) -> None:
        self.path, self.rows = path, list(rows)
        self._more: list[Problem] = []
        self._seen: dict[tuple[str, Hashable], int] = {}

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def unique(
        self,
        row: Row,
        column: str,
        key: Hashable,
        *,
        code: str = "duplicate",
        zh: str = "与第 {first} 行重复",
        en: str = "repeats row {first}",
    ) -> bool:
        """Whether ``key`` is the first of its column in the file; if not, a problem of ``row``
        naming the first row (``{first}`` in ``zh``/``en``)."""
        first = self._seen.setdefault((column, key), row.number)
        if first == row.number:
            return True
        row.bad(column, code, zh.format(first=first), en.format(first=first))
        return False

    def add(self, problems: Iterable[Problem]) -> None:
        """Problems found beside the rows' own (against the database, across the file)."""
        self._more += problems

    def problems(self) -> list[Problem]:
        """Every problem so far, in row order (a row's own first, in the order found)."""
        found = [p for row in self.rows for p in row.problems] + self._more
        return sorted(found, key=lambda p: p.row or 0)

    def refuse(self) -> None:
        """Raise ValidationFailed naming every problem, if there is any: then nothing of the
        file may be written."""
        problems = self.problems()
        if problems:
            raise ValidationFailed(problems, total_rows=len(self.rows))


def _cell_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def read_rows(
    path: Path,
    columns: Columns,
    *,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int | None = None,
    sheets: Sequence[str] = (),
) -> Rows:
    """The non-empty rows of a .csv, .xlsx or .json file under ``columns``, note columns left
    out; raises InputError when the file or its header cannot be read."""
    grid = read_grid(path, encoding=encoding, max_bytes=max_bytes, sheets=sheets, max_rows=max_rows)
    names = columns.map(path, grid.header)
    return Rows(
        path,
        [
            Row(
                str(path),
                number,
                {n: _cell_text(c) for n, c in zip(names, cells, strict=False) if n is not None},
            )
            for number, cells in grid.rows
        ],
    )


# --- parsers -----------------------------------------------------------------------------------


def text(
    *,
    required: bool = False,
    longest: int | None = None,
    pattern: str | None = None,
    upper: bool = False,
    code: str | None = None,
    zh: str | None = None,
    en: str | None = None,
    hint_zh: str = "",
    hint_en: str = "",
) -> Parser[str]:
    """Text (upper-cased with ``upper``): not empty when ``required``, at most ``longest``
    characters, matching ``pattern`` whole when not empty.

    Every failure is reported with ``code`` and ``zh``/``en`` where given, else with its own
    (``empty``, ``too_long``, ``bad_format``); ``hint_zh``/``hint_en`` follow the message."""
    shape = re.compile(pattern) if pattern is not None else None

    def parse(cell: str) -> str:
        value = cell.upper() if upper else cell
        if required and not value:
            failure = ("empty", "不能为空", "must not be empty")
        elif longest is not None and len(value) > longest:
            failure = (
                "too_long",
                f"{len(value)} 个字符，最多 {longest} 个",
                f"{len(value)} characters, at most {longest}",
            )
        elif shape is not None and value and not shape.fullmatch(value):
            failure = ("bad_format", f"“{value}”格式不对", f"'{value}' is not in the expected form")
        else:
            return value
        raise Invalid(
            code or failure[0], (zh or failure[1]) + hint_zh, (en or failure[2]) + hint_en
        )

    return parse


def number(
    low: float,
    high: float,
    *,
    code: str = "not_a_number",
    range_code: str | None = None,
    default: float | None = None,
    what_zh: str = "",
    what_en: str = "",
) -> Parser[float]:
    """A finite number from ``low`` to ``high``; ``default`` for an empty cell where given.

    Text that is no number is reported with ``code``, a number out of range with ``range_code``
    (else ``code`` too); both say the range, after ``what_zh``/``what_en`` when given."""

    def parse(cell: str) -> float:
        if not cell and default is not None:
            return default
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and low <= value <= high:
            return value
        failure = code if not math.isfinite(value) else (range_code or code)
        raise Invalid(
            failure,
            f"{what_zh}“{cell}”应为 {low:g}–{high:g} 的数",
            f"{what_en} '{cell}'".lstrip() + f" must be a number from {low:g} to {high:g}",
        )

    return parse


YES = frozenset({"是", "y", "yes", "true", "1", "√"})
NO = frozenset({"否", "n", "no", "false", "0", "", "×"})
"""The words a yes/no cell may hold (any case); an empty cell is no."""


def flag(*, code: str = "bad_flag") -> Parser[bool]:
    """Yes or no (:data:`YES`, :data:`NO`)."""

    def parse(cell: str) -> bool:
        value = cell.lower()
        if value not in YES | NO:
            raise Invalid(code, f"“{value}”应为 是 或 否", f"'{value}' must be yes or no")
        return value in YES

    return parse


DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S")
"""How people and spreadsheets write a date (the last: an XLSX date cell read as text)."""


def parse_date(text: str) -> date:
    """A date as files write it (:data:`DATE_FORMATS`); ValueError for anything that is not a
    real date."""
    value = text.strip()
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise ValueError(value)


def day(*, code: str = "bad_date") -> Parser[date | None]:
    """A real date (:func:`parse_date`), None for an empty cell."""

    def parse(cell: str) -> date | None:
        if not cell:
            return None
        try:
            return parse_date(cell)
        except ValueError:
            raise Invalid(code, f"“{cell}”不是有效日期", f"'{cell}' is not a real date") from None

    return parse


def lookup(
    find: Callable[[str], T | None],
    *,
    code: str,
    what: tuple[str, str],
    known: tuple[str, str] | None = None,
) -> Parser[T]:
    """What ``find`` finds for the cell; a cell it finds nothing for is reported with ``code``,
    naming ``what`` (zh, en) is sought and, where given, the ``known`` choices (zh, en)."""

    def parse(cell: str) -> T:
        found = find(cell)
        if found is not None:
            return found
        if known is None:
            raise Invalid(code, f"没有{what[0]}“{cell}”", f"no {what[1]} '{cell}'")
        raise Invalid(
            code,
            f"无法识别的{what[0]}“{cell}”（可用：{known[0]}）",
            f"unknown {what[1]} '{cell}' (use one of {known[1]})",
        )

    return parse
