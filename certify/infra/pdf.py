"""Shared building blocks of every PDF certify prints: papers, answer keys, certificates.

This module owns the embedded Chinese font (registered once, subset into each PDF by reportlab;
the subsets and their compressed streams remembered, so a batch that embeds the same subset
thousands of times makes it once), the paragraph and table styles for Chinese text, turning data into reportlab paragraph markup
(escaped, line breaks kept), page footers, and building a document twice so every page can say
"第 x 页 共 y 页". The font has one face: ``<b>`` and ``<i>`` print in the regular face.
"""

from __future__ import annotations

import html
import io
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFArray
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    SimpleDocTemplate,
    TableStyle,
)

rl_config.useA85 = 0
"""Streams stay binary (Flate only) rather than ASCII85 text: a fifth smaller, and every PDF
reader since PDF 1.2 takes them. reportlab reads this setting when it writes each stream."""

FONT_NAME = "WQYMicroHei"
"""The name certify's Chinese font is registered under in reportlab."""

FONT_FILE = Path(__file__).parent / "fonts" / "wqy-microhei.ttc"
"""WenQuanYi Micro Hei (TrueType collection; face 0 is the proportional one)."""

NAMES_FONT_NAME = "WQYMicroHei-Names"
"""The same face registered a second time, for the one text of a page that changes from one
document of a batch to the next: a person's name. Set in its own font, the name gets its own
small subset, and everything else on the page embeds the same subset in every document of the
batch (made once, see :class:`_Remembered`). It prints exactly as :data:`FONT_NAME`."""

SUBSETS_KEPT = 32
"""How many font subsets (and their compressed streams) each process keeps."""

MARGIN = 18 * mm
"""Page margin on every side of an A4 page."""

Footer = Callable[[Any, int, int], None]
"""Draws on one page: ``footer(canvas, page_number, page_count)``."""

Story = Callable[[], list[Any]]
"""Makes a fresh list of flowables (reportlab consumes a story while building it)."""


class _Remembered:
    """A small least-recently-used map, safe across threads (the web app renders in threads)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


class _RememberedFlate:
    """reportlab's Flate filter for a font's streams, each compressed once per process: the same
    bytes out as ``PDFZCompress`` (``zlib.compress`` at its default level)."""

    pdfname = "FlateDecode"

    def __init__(self) -> None:
        self._done = _Remembered(SUBSETS_KEPT)

    def encode(self, data: bytes | str) -> bytes:
        raw = data.encode("utf8") if isinstance(data, str) else data
        return self._done.get(raw, lambda: zlib.compress(raw))

    def decode(self, encoded: bytes) -> bytes:
        return zlib.decompress(encoded)


_FLATE = _RememberedFlate()


class _RememberedArray(PDFArray):  # type: ignore[misc]  # reportlab has no types
    """A font's widths array, written once per process for each list of widths (a batch's
    page font has the same two hundred widths in every document)."""

    _written = _Remembered(SUBSETS_KEPT)

    def format(self, document: Any, IND: bytes = b"\n ") -> bytes:
        return self._written.get(tuple(self.sequence), lambda: PDFArray.format(self, document, IND))


def _font(name: str, *, ascii_readable: bool) -> TTFont:
    """certify's face as a reportlab font whose subsets are made, compressed and described
    once per process for each set of characters (reportlab does all of it again for every
    document).

    Two hooks on the instance: the face's ``makeSubset`` answers from a cache keyed by the
    subset's characters in order, and once the font has added its objects to a document, its
    font program and ToUnicode streams get the remembering Flate filter and its widths arrays
    are written from a cache. Each gives the bytes reportlab would, so a document does not
    change (a test holds the bytes equal).
    """
    font = TTFont(name, str(FONT_FILE), subfontIndex=0, asciiReadable=ascii_readable)
    face = font.face
    make_subset = face.makeSubset
    add_objects = font.addObjects
    subsets = _Remembered(SUBSETS_KEPT)

    def remembered_subset(subset: list[int]) -> bytes:
        return subsets.get(tuple(subset), lambda: make_subset(subset))

    def add_remembered_objects(doc: Any) -> None:
        add_objects(doc)
        for key, thing in doc.idToObject.items():
            if isinstance(key, str) and key.startswith(("fontFile:", "toUnicodeCMap:")):
                thing.filters = [_FLATE]
        for thing in doc.idToObject["BasicFonts"].dict.values():
            widths: Any = getattr(thing, "Widths", None)
            if type(widths) is PDFArray:
                thing.Widths = _RememberedArray(widths.sequence)

    face.makeSubset = remembered_subset
    font.addObjects = add_remembered_objects
    if name != FONT_NAME:
        # reportlab registers one font per face name (a second font of the face would be the
        # first), and the face name is what the subsets are called in the document: its own
        # name keeps the two apart there too.
        face.name += b"-Names"
    return font


def register_names_font() -> str:
    """Register :data:`NAMES_FONT_NAME` once (no ASCII block: a name's subset holds its own
    characters only); returns its name."""
    register_fonts()
    if NAMES_FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(_font(NAMES_FONT_NAME, ascii_readable=False))
    return NAMES_FONT_NAME


def register_fonts() -> str:
    """Register the embedded Chinese font with reportlab once; returns its name."""
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(_font(FONT_NAME, ascii_readable=True))
        # One face serves <b> and <i> too, so markup never asks for a missing face.
        pdfmetrics.registerFontFamily(
            FONT_NAME, normal=FONT_NAME, bold=FONT_NAME, italic=FONT_NAME, boldItalic=FONT_NAME
        )
    return FONT_NAME


@dataclass(frozen=True)
class Styles:
    """Paragraph styles for Chinese text (CJK line breaking) in certify's PDFs."""

    title: Any
    subtitle: Any
    heading: Any
    subheading: Any
    body: Any
    hanging: Any
    small: Any
    cell: Any
    cell_centre: Any


def _style(name: str, size: float, **extra: Any) -> Any:
    options: dict[str, Any] = {
        "fontName": register_fonts(),
        "fontSize": size,
        "leading": size * 1.45,
        "wordWrap": "CJK",
    }
    options.update(extra)
    return ParagraphStyle(name, **options)


@cache
def styles() -> Styles:
    """The shared styles (built once, after the font is registered)."""
    return Styles(
        title=_style("certify-title", 18, alignment=TA_CENTER, spaceAfter=4),
        subtitle=_style("certify-subtitle", 11, alignment=TA_CENTER, spaceAfter=2),
        heading=_style("certify-heading", 13, spaceBefore=8, spaceAfter=4),
        subheading=_style("certify-subheading", 11, spaceBefore=6, spaceAfter=3),
        body=_style("certify-body", 10.5, spaceAfter=2),
        hanging=_style("certify-hanging", 10.5, leftIndent=16, firstLineIndent=-16, spaceAfter=2),
        small=_style("certify-small", 9),
        cell=_style("certify-cell", 9, leading=12),
        cell_centre=_style("certify-cell-centre", 9, leading=12, alignment=TA_CENTER),
    )


def markup(text: str) -> str:
    """``text`` as paragraph markup: ``& < >`` escaped, line breaks and indentation kept."""
    lines = escape(text.replace("\r\n", "\n").replace("\t", "    ")).split("\n")
    return "<br/>".join(_keep_indent(line) for line in lines)


def spaced(*fields: str, gap: int = 4) -> str:
    """Non-empty ``fields`` as markup, kept apart by ``gap`` non-breaking spaces.

    Paragraphs collapse runs of spaces, ideographic ones (U+3000) included, so a visible gap
    needs ``&nbsp;``.
    """
    return ("&nbsp;" * gap).join(markup(f) for f in fields if f)


def _keep_indent(line: str) -> str:
    stripped = line.lstrip(" ")
    return "&nbsp;" * (len(line) - len(stripped)) + stripped


def string_width(text: str, size: float) -> float:
    """Printed width of plain ``text`` in points, in certify's font at ``size``."""
    return float(pdfmetrics.stringWidth(text, register_fonts(), size))


def plain(markup_text: str) -> str:
    """Paragraph markup back to the text it prints (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup_text.replace("<br/>", "\n")))


def table_style(*commands: Any) -> Any:
    """A TableStyle whose plain-string cells use certify's font too (reportlab's default is
    Helvetica, which would otherwise be referenced unembedded)."""
    font = register_fonts()
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), font), *commands])


def draw_footer(canvas: Any, left: str, centre: str, right: str, page_width: float = A4[0]) -> None:
    """Three short texts (left, centred, right) on one line in the bottom margin of the page."""
    canvas.saveState()
    canvas.setFont(register_fonts(), 8)
    y = MARGIN / 2
    canvas.drawString(MARGIN, y, left)
    canvas.drawCentredString(page_width / 2, y, centre)
    canvas.drawRightString(page_width - MARGIN, y, right)
    canvas.restoreState()


def page_of(page: int, count: int) -> str:
    """``第 x 页 共 y 页``."""
    return f"第 {page} 页 共 {count} 页"


def build(path: Path, story: Story, footer: Footer, *, title: str, subject: str = "") -> Path:
    """Write an A4 PDF of ``story`` to ``path``, calling ``footer`` on every page.

    The story is laid out twice: once to count the pages, once to write them with the count.
    """
    data = build_bytes(story, footer, title=title, subject=subject)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def build_bytes(story: Story, footer: Footer, *, title: str, subject: str = "") -> bytes:
    """The A4 PDF of ``story`` as bytes, ``footer`` called on every page (see :func:`build`)."""
    register_fonts()
    count = _layout(io.BytesIO(), story, footer, 0, title, subject)
    out = io.BytesIO()
    _layout(out, story, footer, count, title, subject)
    return out.getvalue()


def _layout(out: Any, story: Story, footer: Footer, count: int, title: str, subject: str) -> int:
    pages = 0

    def on_page(canvas: Any, doc: Any) -> None:
        nonlocal pages
        pages = max(pages, doc.page)
        footer(canvas, doc.page, count)

    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        subject=subject,
        author="certify",
        creator="certify",
        invariant=True,
        initialFontName=FONT_NAME,
    )
    doc.build(story(), onFirstPage=on_page, onLaterPages=on_page)
    return pages
