"""Hostile workbooks built by hand, byte by byte: a huge string in a few hundred kilobytes, XML
entity expansion, thousands of zip members, a zip whose directory lies about a member's size.

Shared by the tests and by ``bench/upload_bombs.py``, which measures the memory it takes to
refuse them."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Bomb:
    """A cell of ``size`` copies of ``char``, streamed into the zip without ever being whole."""

    size: int
    char: str = "A"


@dataclass(frozen=True)
class Raw:
    """Cell text written into the XML as it is (an entity reference, say)."""

    xml: str


Cell = str | Bomb | Raw


def _text(cell: Cell) -> Iterator[bytes]:
    if isinstance(cell, Bomb):
        piece = (cell.char * CHUNK).encode()
        whole, rest = divmod(cell.size, CHUNK)
        for _ in range(whole):
            yield piece
        yield (cell.char * rest).encode()
    elif isinstance(cell, Raw):
        yield cell.xml.encode()
    else:
        yield escape(cell).encode()


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _sheet(rows: Sequence[Sequence[Cell]], shared: bool, doctype: str) -> Iterator[bytes]:
    yield f'<?xml version="1.0" encoding="UTF-8"?>{doctype}'.encode()
    yield f'<worksheet xmlns="{MAIN}"><sheetData>'.encode()
    strings = 0
    for r, row in enumerate(rows, start=1):
        yield f'<row r="{r}">'.encode()
        for c, cell in enumerate(row):
            ref = f"{_column(c)}{r}"
            if shared:
                yield f'<c r="{ref}" t="s"><v>{strings}</v></c>'.encode()
                strings += 1
            else:
                yield f'<c r="{ref}" t="inlineStr"><is><t>'.encode()
                yield from _text(cell)
                yield b"</t></is></c>"
        yield b"</row>"
    yield b"</sheetData></worksheet>"


def _shared_strings(rows: Sequence[Sequence[Cell]], doctype: str) -> Iterator[bytes]:
    cells = [cell for row in rows for cell in row]
    yield f'<?xml version="1.0" encoding="UTF-8"?>{doctype}'.encode()
    yield f'<sst xmlns="{MAIN}" count="{len(cells)}" uniqueCount="{len(cells)}">'.encode()
    for cell in cells:
        yield b"<si><t>"
        yield from _text(cell)
        yield b"</t></si>"
    yield b"</sst>"


def _package(shared: bool) -> dict[str, str]:
    strings = (
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    )
    strings_rel = f'<Relationship Id="rId2" Type="{DOC}/sharedStrings" Target="sharedStrings.xml"/>'
    return {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            + (strings if shared else "")
            + "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" '
            f'Type="{DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN}" xmlns:r="{DOC}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" '
            f'Type="{DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
            + (strings_rel if shared else "")
            + "</Relationships>"
        ),
    }


def _write(archive: zipfile.ZipFile, name: str, chunks: Iterable[bytes]) -> None:
    with archive.open(name, "w", force_zip64=True) as member:
        for chunk in chunks:
            member.write(chunk)


def workbook(
    path: Path,
    rows: Sequence[Sequence[Cell]],
    *,
    shared_strings: bool = False,
    doctype: str = "",
    extra_members: int = 0,
) -> Path:
    """A minimal XLSX of one sheet holding ``rows``: strings inline in the sheet, or in
    ``xl/sharedStrings.xml``; ``doctype`` goes into the prolog of the part holding the text;
    ``extra_members`` adds that many small parts nobody reads."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in _package(shared_strings).items():
            archive.writestr(name, text)
        _write(
            archive,
            "xl/worksheets/sheet1.xml",
            _sheet(rows, shared_strings, "" if shared_strings else doctype),
        )
        if shared_strings:
            _write(archive, "xl/sharedStrings.xml", _shared_strings(rows, doctype))
        for n in range(extra_members):
            archive.writestr(f"customXml/item{n}.xml", "<a/>")
    return path


def billion_laughs(levels: int = 9, fan_out: int = 10) -> tuple[str, Raw]:
    """A DOCTYPE whose last entity expands to ``fan_out ** levels`` copies of "lol", and the
    cell that references it."""
    entities = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{n} "{f"&l{n - 1};" * fan_out}">' for n in range(1, levels + 1)
    ]
    return f"<!DOCTYPE worksheet [{''.join(entities)}]>", Raw(f"&l{levels};")


def quadratic_blowup(size: int = 100_000, uses: int = 1_000) -> tuple[str, Raw]:
    """One large entity referenced many times, with a comment long enough to keep the expansion
    under expat's own limit (a hundred times the input), which therefore lets it through."""
    padding = f"<!-- {'A' * (size * uses // 50)} -->"
    return f'<!DOCTYPE worksheet [<!ENTITY big "{"A" * size}">{padding}]>', Raw("&big;" * uses)


def declare_size(path: Path, member: str, size: int) -> None:
    """Make the zip's central directory (and the member's local header) claim ``member`` holds
    ``size`` bytes, whatever its compressed data really expands to."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_length, extra_length = struct.unpack_from("<HH", data, at + 28)
        if bytes(data[at + 46 : at + 46 + name_length]) == name:
            local = struct.unpack_from("<L", data, at + 42)[0]
            _declare(data, at + 24, at + 46 + name_length, extra_length, size)
            local_name, local_extra = struct.unpack_from("<HH", data, local + 26)
            _declare(data, local + 22, local + 30 + local_name, local_extra, size)
        at += 4
    path.write_bytes(bytes(data))


def _declare(data: bytearray, field: int, extra: int, extra_length: int, size: int) -> None:
    """Set the uncompressed size in a header, and in its ZIP64 extra field when it has one."""
    if struct.unpack_from("<L", data, field)[0] != 0xFFFFFFFF:
        struct.pack_into("<L", data, field, size)
        return
    end = extra + extra_length
    while extra + 4 <= end:
        tag, length = struct.unpack_from("<HH", data, extra)
        if tag == 0x0001:
            struct.pack_into("<Q", data, extra + 4, size)  # the first field is the size
            return
        extra += 4 + length
