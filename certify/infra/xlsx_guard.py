"""How far a workbook may expand, checked before openpyxl opens it.

An XLSX is a zip of XML parts: a few hundred kilobytes can hold a string of hundreds of
megabytes, and XML entities can multiply text without end. :func:`check_workbook` bounds both
from the zip's own directory and one streaming pass of expat over each part, never holding more
than a chunk of a part in memory; what openpyxl then reads is already known to be small.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat

from certify.infra.errors import InputError, Problem

MAX_MEMBERS = 1_000
"""Parts of one workbook: Excel writes about a dozen, a few per sheet more."""
MAX_PART_BYTES = 64 * 2**20
"""Uncompressed size of any one part (a sheet's XML, ``xl/sharedStrings.xml``, ...), as the
zip's directory declares it: 70,000 bank items fit in one sheet."""
MAX_EXPANDED_BYTES = 128 * 2**20
"""Uncompressed size of all parts together, as declared."""
MAX_CELL_CHARS = 32_767
"""Characters in one cell: Excel's own limit, so no spreadsheet made by Excel exceeds it."""

_DIRECTORY_BYTES = 1 * 2**20
"""The zip's central directory, read whole when the zip is opened (far more than
:data:`MAX_MEMBERS` entries need)."""
_CHUNK = 256 * 1024
_END = struct.Struct("<4s4H2LH")
_END64 = struct.Struct("<4sQ2H2L4Q")


def check_workbook(path: Path) -> None:
    """Raise InputError, naming the file (and the row and cell where there is one), if the
    workbook at ``path`` has too many parts, would expand beyond :data:`MAX_PART_BYTES` in a
    part or :data:`MAX_EXPANDED_BYTES` in all, declares XML entities (a DTD), or holds a text
    longer than :data:`MAX_CELL_CHARS` characters. Sizes are the zip directory's: Python's
    zipfile never decompresses a member past its declared size (a lie ends in a CRC error)."""
    with path.open("rb") as handle:
        _check_directory(path, handle)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_sizes(path, members)
            for member in members:
                _scan(path, archive, member)
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        RuntimeError,
        NotImplementedError,
    ) as exc:
        # damaged, truncated, encrypted or compressed in a way zipfile cannot read
        raise _fail(
            path, "xlsx", f"无法读取 Excel 文件：{exc}", f"cannot read the workbook: {exc}"
        ) from exc


def _fail(
    path: Path, code: str, zh: str, en: str, row: int | None = None, field: str | None = None
) -> InputError:
    return InputError(Problem(str(path), row, field, code, zh, en))


def _too_many(path: Path) -> InputError:
    return _fail(
        path,
        "xlsx_members",
        f"Excel 文件包含的部件超过 {MAX_MEMBERS} 个，不像是普通工作簿；请另存为新文件或 CSV",
        f"the workbook has more than {MAX_MEMBERS} parts, unlike any ordinary workbook; "
        "save it as a new file or as CSV",
    )


def zip_directory(handle: IO[bytes]) -> tuple[int, int] | None:
    """What a zip's end record announces, read before zipfile reads the whole directory:
    (entries, directory bytes), or None for a file that is no zip. Reads the end record as
    zipfile does: the last one, and a ZIP64 record just before it."""
    size = handle.seek(0, 2)
    handle.seek(max(0, size - _END.size - 0xFFFF))
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END.size:
        return None
    entries, directory = _END.unpack_from(tail, at)[4:6]
    locator = size - len(tail) + at - 20
    if locator >= _END64.size:
        handle.seek(locator - _END64.size)
        record = handle.read(_END64.size + 4)
        if record[-4:] == b"PK\x06\x07" and record[:4] == b"PK\x06\x06":
            entries, directory = _END64.unpack_from(record)[7:9]
    return int(entries), int(directory)


def _check_directory(path: Path, handle: IO[bytes]) -> None:
    """Refuse a zip whose directory announces too many entries, before zipfile reads it all."""
    announced = zip_directory(handle)
    if announced is None:
        return  # not a zip: zipfile says so
    entries, directory = announced
    if entries > MAX_MEMBERS or directory > _DIRECTORY_BYTES:
        raise _too_many(path)


def _check_sizes(path: Path, members: list[zipfile.ZipInfo]) -> None:
    if len(members) > MAX_MEMBERS:
        raise _too_many(path)
    for member in members:
        if member.file_size > MAX_PART_BYTES:
            mb = member.file_size / 2**20
            raise _fail(
                path,
                "xlsx_too_large",
                f"Excel 文件的部件 {member.filename} 解压后为 {mb:.0f} MB，超过上限 "
                f"{MAX_PART_BYTES // 2**20} MB；请拆分后分批导入",
                f"the workbook's part {member.filename} expands to {mb:.0f} MB, over the "
                f"{MAX_PART_BYTES // 2**20} MB limit: split the file",
            )
    total = sum(m.file_size for m in members)
    if total > MAX_EXPANDED_BYTES:
        raise _fail(
            path,
            "xlsx_too_large",
            f"Excel 文件解压后共 {total / 2**20:.0f} MB，超过上限 "
            f"{MAX_EXPANDED_BYTES // 2**20} MB；请拆分后分批导入",
            f"the workbook expands to {total / 2**20:.0f} MB, over the "
            f"{MAX_EXPANDED_BYTES // 2**20} MB limit: split the file",
        )


class _Refused(Exception):
    """Raised inside an expat handler to stop the parse; carries the error to raise."""

    def __init__(self, error: InputError) -> None:
        super().__init__(str(error))
        self.error = error


class _PartWatch:
    """expat handlers for one part: no DTD at all, no run of text longer than a cell may be
    (counted in characters after entities, so ``&#x4E2D;`` counts one), and where it is."""

    def __init__(self, path: Path, part: str) -> None:
        self.path, self.part = path, part
        self.run = 0
        self.cell: str | None = None
        self.row: str | None = None
        self.strings = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.run = 0
        local = name.rpartition(":")[2]
        if local == "c":
            self.cell = attrs.get("r")
        elif local == "row":
            self.row, self.cell = attrs.get("r"), None
        elif local == "si":
            self.strings += 1

    def text(self, data: str) -> None:
        self.run += len(data)
        if self.run > MAX_CELL_CHARS:
            raise _Refused(self._too_long())

    def doctype(self, *_: Any) -> None:
        raise _Refused(
            _fail(
                self.path,
                "xlsx_dtd",
                f"Excel 文件的部件 {self.part} 含有 DTD（<!DOCTYPE>），Excel 从不这样写；"
                "已拒绝（可能是 XML 实体膨胀攻击），请另存为新文件",
                f"the workbook's part {self.part} has a DTD (<!DOCTYPE>), which Excel never "
                "writes: refused (XML entity expansion); save it as a new file",
            )
        )

    def _too_long(self) -> InputError:
        limit = f"{MAX_CELL_CHARS:,}"
        if self.cell or self.row:
            digits = "".join(c for c in (self.cell or self.row or "") if c.isdigit())
            return _fail(
                self.path,
                "cell_too_long",
                f"单元格超过 {limit} 个字符（Excel 单元格的上限）",
                f"the cell holds more than {limit} characters (Excel's limit for a cell)",
                row=int(digits) if digits else None,
                field=self.cell,
            )
        return _fail(
            self.path,
            "cell_too_long",
            f"{self.part} 中第 {self.strings} 个文字超过 {limit} 个字符（Excel 单元格的上限）",
            f"text number {self.strings} of {self.part} holds more than {limit} characters "
            "(Excel's limit for a cell)",
        )


def _scan(path: Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """One streaming pass of expat over a part. A part that is not XML (a picture, a macro
    project) stops the pass at its first bytes; openpyxl never parses it as XML either."""
    watch = _PartWatch(path, member.filename)
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = watch.doctype
    parser.EntityDeclHandler = watch.doctype
    parser.StartElementHandler = watch.start
    parser.CharacterDataHandler = watch.text
    with archive.open(member) as part:
        try:
            while chunk := part.read(_CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except _Refused as refused:
            raise refused.error from None
        except expat.ExpatError:
            return
