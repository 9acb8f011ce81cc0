"""Every item file format by name: which one a file is, reading it into rows, writing items.

certify's own CSV, XLSX and JSON are read by :mod:`question_bank.formats`; GIFT, Moodle XML
and QTI 3.0 packages by the modules beside this one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from certify.infra.errors import InputError, Problem
from certify.infra.tabular import DEFAULT_MAX_BYTES, check_size, decode
from question_bank.formats import FORMATS as OWN_FORMATS
from question_bank.formats import RawItem, read_items, write_items
from question_bank.images import CheckedImage
from question_bank.interchange.common import Placement
from question_bank.interchange.gift import read_gift, write_gift
from question_bank.interchange.moodle import read_moodle, write_moodle
from question_bank.interchange.qti import read_qti, write_qti
from schemas.items import ItemData

FOREIGN_FORMATS = ("gift", "moodle", "qti")
FORMATS = (*OWN_FORMATS, *FOREIGN_FORMATS)


def detect(path: Path) -> str:
    """The format of ``path`` from its name, and for ``.xml`` from its root element; raises
    InputError when the file does not say (a ``.txt`` is CSV unless ``--format gift``)."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "gift":
        return "gift"
    if suffix == "xml":
        return _xml_kind(path)
    if suffix == "zip":
        return "qti"
    if suffix in ("csv", "txt", "xlsx", "xlsm", "json"):
        return {"txt": "csv", "xlsm": "xlsx"}.get(suffix, suffix)
    raise InputError(
        Problem(
            str(path),
            None,
            None,
            "unsupported_format",
            f"无法从文件名判断格式 .{suffix}；请用 --format 指定（{'、'.join(FORMATS)}）",
            f"cannot tell the format of .{suffix} from the name; give --format ({', '.join(FORMATS)})",
        )
    )


def _xml_kind(path: Path) -> str:
    """``moodle`` for a ``<quiz>``; the root is found in the first kilobytes, not parsed."""
    with path.open("rb") as file:
        head = file.read(4096).decode("utf-8", "replace")
    if "<quiz" in head:
        return "moodle"
    raise InputError(
        Problem(
            str(path),
            None,
            None,
            "unsupported_format",
            "无法判断 XML 文件的格式；请用 --format 指定",
            "cannot tell which XML format this is; give --format",
        )
    )


def read_any(
    path: Path,
    *,
    fmt: str | None = None,
    placement: Placement | None = None,
    name: str | None = None,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[RawItem]:
    """The rows of an item file in any format; raises InputError when it is unreadable."""
    fmt = fmt or detect(path)
    placement = placement or Placement()
    source = name or str(path)
    if fmt in OWN_FORMATS:
        return read_items(path, fmt=fmt, encoding=encoding, max_bytes=max_bytes)
    check_size(path, max_bytes)
    if fmt == "gift":
        return read_gift(source, decode(path, path.read_bytes(), encoding), placement)
    if fmt == "moodle":
        return read_moodle(source, path.read_bytes(), placement)
    if fmt == "qti":
        return read_qti(source, path.read_bytes(), placement)
    raise ValueError(fmt)


def write_any(
    path: Path,
    items: Iterable[ItemData],
    fmt: str | None = None,
    *,
    images: Mapping[str, CheckedImage] | None = None,
) -> int:
    """Write ``items`` in ``fmt`` (default: from the name), with the ``images`` they show
    where the format carries images; returns how many."""
    fmt = fmt or detect(path)
    items = list(items)
    if fmt in OWN_FORMATS:
        return write_items(path, items, fmt, images=images)
    if fmt == "gift":
        path.write_text(write_gift(items, images), encoding="utf-8")
    elif fmt == "moodle":
        path.write_bytes(write_moodle(items, images))
    elif fmt == "qti":
        path.write_bytes(write_qti(items, images=images))
    else:
        raise ValueError(fmt)
    return len(items)
