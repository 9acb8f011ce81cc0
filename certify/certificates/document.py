"""Printing a certificate (专业技术等级证书 / 培训合格证书): one A4 landscape page with a QR code.

``render_certificate`` draws a :class:`~schemas.certificates.CertificateView` straight on a
reportlab canvas: a double border, the programme line and the title, the statement that the
holder passed (the ID number only masked), a table of the certificate's particulars, and the
verification QR code with a line telling a reader how to verify by hand.

The QR code holds ``view.url`` (the upper-case verification URL with the signed token) at error
correction M and is drawn as vector squares from the module matrix of :mod:`certify.certificates.qr` (the
``qrcode`` library's symbol, its mask chosen in numpy), never as a raster image, so it prints sharp at any size. The symbol is :data:`QR_SIZE` square whatever
its version, with its four-module quiet zone kept clear around it. Every text is set in the
embedded Chinese font of :mod:`certify.infra.pdf`, and the canvas is invariant: the same view gives
the same bytes.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from certify.certificates.qr import qr_matrix
from certify.infra.pdf import (
    FONT_NAME,
    markup,
    register_fonts,
    register_names_font,
    styles,
)
from schemas.certificates import CertificateView
from schemas.enums import CertificateKind

PAGE_WIDTH, PAGE_HEIGHT = landscape(A4)
"""A4 landscape: 297 × 210 mm."""

PROGRAMME = "数字技术工程师培育项目"
"""The line above every certificate's title."""

QR_SIZE = 40 * mm
"""Side of the QR symbol (its modules, without the quiet zone)."""

QR_BORDER = 4
"""Quiet zone around the symbol, in modules (the QR standard's minimum)."""

QR_CAPTION = "扫码验证 Scan to verify"
QR_CAPTION_GAP = 4 * mm
"""From the quiet zone's lower edge down to the caption's baseline (the caption stays out of
the quiet zone whatever the module size)."""

ACCENT = colors.HexColor("#8B1A1A")
"""Dark red of the borders, rules and title."""

INK = colors.HexColor("#1A1A1A")
MUTED = colors.HexColor("#555555")

OUTER_INSET = 8 * mm
INNER_INSET = 11.5 * mm
"""The double border: a heavy outer frame and a fine inner one."""

CONTENT_LEFT = 34 * mm
CONTENT_RIGHT = PAGE_WIDTH - 34 * mm
"""Left and right edges of the statement, the table and the QR code."""

STATEMENT_TOP = 146 * mm
FIELDS_TOP = 116 * mm
QR_RIGHT = CONTENT_RIGHT
LABEL_WIDTH = 30 * mm
VALUE_WIDTH = 118 * mm


def chinese_date(day: date) -> str:
    """``2025年3月7日``: year, month and day without leading zeros."""
    return f"{day.year}年{day.month}月{day.day}日"


def is_training(view: CertificateView) -> bool:
    """A 培训合格证书 rather than a 专业技术等级证书."""
    return view.kind_name == CertificateKind.TRAINING.zh


def statement(view: CertificateView, holder: str | None = None) -> str:
    """What the certificate attests, in one sentence (the ID number masked); ``holder`` stands
    in for the holder's name when given."""
    who = f"兹证明 {view.holder if holder is None else holder}（身份证号 {view.id_number_masked}）"
    subject = f"{view.occupation_name} {view.level_name}"
    if is_training(view):
        return f"{who}完成 {subject} 培训并考核合格，特发此证。"
    return f"{who}通过 {subject} 专业技术等级考核，特发此证。"


def fields(view: CertificateView) -> list[tuple[str, str]]:
    """The particulars printed in the table: label and value."""
    return [
        ("证书编号", view.serial),
        ("职业", view.occupation_name),
        ("等级", view.level_name),
        ("发证日期", chinese_date(view.issued)),
        ("有效期", "长期" if view.expires is None else f"至 {chinese_date(view.expires)}"),
        ("发证机构", view.issuer_name),
    ]


def verify_by_hand(view: CertificateView) -> str:
    """How a reader verifies the certificate without a phone."""
    return (
        f"人工核验：访问 {view.verify_site}，输入证书编号 {view.serial} 和持证人姓名，"
        "或使用 certify verify 离线验证。"
    )


def signed_by(view: CertificateView) -> str:
    """Who signed, with which algorithm, and whose trust list vouches for the key."""
    return (
        f"本证书由 {view.issuer_name} 以电子签名签发（签名算法：{view.signature_algorithm}），"
        f"{view.authority_name} 信任列表可查"
    )


def render_certificate(view: CertificateView, path: Path) -> Path:
    """Write the certificate of ``view`` to ``path`` as a one-page A4 landscape PDF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(certificate_pdf(view))
    return path


def certificate_pdf(view: CertificateView) -> bytes:
    """The certificate of ``view`` as the bytes of a one-page A4 landscape PDF."""
    font = register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer,
        pagesize=(PAGE_WIDTH, PAGE_HEIGHT),
        invariant=True,
        initialFontName=font,
        lang="zh-CN",
    )
    canvas.setTitle(f"{view.kind_name} {view.serial}")
    canvas.setSubject(f"{PROGRAMME} {view.kind_name}")
    canvas.setAuthor(view.issuer_name)
    canvas.setCreator("certify")
    _border(canvas)
    _heading(canvas, view)
    top = min(FIELDS_TOP, _statement(canvas, view) - 6 * mm)
    height = _fields(canvas, view, top)
    # The QR code and its caption centred beside the table.
    _qr(canvas, view.url, top - max(0.0, (height - QR_SIZE - 3 * QR_CAPTION_GAP) / 2))
    _footer(canvas, view)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _paragraph_style(name: str, size: float, **extra: Any) -> Any:
    """A style in certify's font (CJK line breaking) at ``size``, leading 1.45 × unless given."""
    options: dict[str, Any] = {"fontSize": size, "leading": size * 1.45, "spaceAfter": 0}
    options.update(extra)
    return ParagraphStyle(name, parent=styles().body, **options)


def _border(canvas: Any) -> None:
    canvas.saveState()
    canvas.setStrokeColor(ACCENT)
    canvas.setLineWidth(3)
    canvas.rect(
        OUTER_INSET, OUTER_INSET, PAGE_WIDTH - 2 * OUTER_INSET, PAGE_HEIGHT - 2 * OUTER_INSET
    )
    canvas.setLineWidth(0.8)
    canvas.rect(
        INNER_INSET, INNER_INSET, PAGE_WIDTH - 2 * INNER_INSET, PAGE_HEIGHT - 2 * INNER_INSET
    )
    # Small squares in the inner frame's corners, a restrained ornament.
    canvas.setFillColor(ACCENT)
    side = 2.4 * mm
    for x in (INNER_INSET + 1.5 * mm, PAGE_WIDTH - INNER_INSET - 1.5 * mm - side):
        for y in (INNER_INSET + 1.5 * mm, PAGE_HEIGHT - INNER_INSET - 1.5 * mm - side):
            canvas.rect(x, y, side, side, stroke=0, fill=1)
    canvas.restoreState()


def _heading(canvas: Any, view: CertificateView) -> None:
    centre = PAGE_WIDTH / 2
    canvas.saveState()
    canvas.setFillColor(INK)
    canvas.setFont(FONT_NAME, 15)
    canvas.drawCentredString(centre, 181 * mm, PROGRAMME, charSpace=3)
    canvas.setFillColor(ACCENT)
    canvas.setFont(FONT_NAME, 34)
    canvas.drawCentredString(centre, 161 * mm, view.kind_name, charSpace=8)
    canvas.setStrokeColor(ACCENT)
    canvas.setLineWidth(0.6)
    for y in (154 * mm, 153 * mm):
        canvas.line(centre - 55 * mm, y, centre + 55 * mm, y)
    canvas.restoreState()


def _statement(canvas: Any, view: CertificateView) -> float:
    """Draw the statement below the title; returns the y of its last line's bottom."""
    style = _paragraph_style("certify-certificate-statement", 15, leading=26, firstLineIndent=30)
    # The name in its own font (the same face), so the rest of the page embeds the same font
    # subset in every certificate of a batch.
    placeholder = "\x00"
    name = f'<font name="{register_names_font()}">{markup(view.holder)}</font>'
    text = markup(statement(view, placeholder)).replace(placeholder, name)
    paragraph = Paragraph(text, style)
    _, height = paragraph.wrapOn(canvas, CONTENT_RIGHT - CONTENT_LEFT, PAGE_HEIGHT)
    paragraph.drawOn(canvas, CONTENT_LEFT, STATEMENT_TOP - height)
    return float(STATEMENT_TOP - height)


LABEL_SIZE, VALUE_SIZE = 12, 13
"""Type sizes of the table's labels and values (leading 1.45 ×)."""
CELL_PADDING = 7
"""Above and below each row's text, in points."""
CELL_LEFT, CELL_RIGHT = 4, 6
"""Left and right padding inside each cell, in points."""
RULE = colors.HexColor("#C9B8B8")
"""The fine rule between rows."""


def _fields(canvas: Any, view: CertificateView, top: float) -> float:
    """Draw the table of particulars from ``top`` down; returns its height.

    Drawn line by line rather than as a reportlab Table of Paragraphs (a fifth of a
    certificate's drawing time went to laying that out): each value on one line, and a value
    too wide for its column wrapped as a paragraph in the same style. Rows are centred
    vertically, ruled above the first, between rows and below the last.
    """
    left = CONTENT_LEFT + 6 * mm
    value_left = left + LABEL_WIDTH
    width = VALUE_WIDTH - CELL_LEFT - CELL_RIGHT
    label_leading, value_leading = LABEL_SIZE * 1.45, VALUE_SIZE * 1.45
    y = top
    rules: list[tuple[float, float, Any]] = [(top, 0.9, ACCENT)]
    rows = fields(view)
    canvas.saveState()
    for n, (name, text) in enumerate(rows):
        wrapped = None
        if stringWidth(text, FONT_NAME, VALUE_SIZE) <= width:
            value_height = value_leading
        else:
            style = _paragraph_style("certify-certificate-value", VALUE_SIZE, textColor=INK)
            wrapped = Paragraph(markup(text), style)
            _, value_height = wrapped.wrapOn(canvas, width, PAGE_HEIGHT)
        height = max(label_leading, value_height) + 2 * CELL_PADDING
        bottom = y - height
        canvas.setFillColor(MUTED)
        canvas.setFont(FONT_NAME, LABEL_SIZE)
        canvas.drawString(
            left + CELL_LEFT, bottom + (height + label_leading) / 2 - LABEL_SIZE, name
        )
        if wrapped is None:
            canvas.setFillColor(INK)
            canvas.setFont(FONT_NAME, VALUE_SIZE)
            canvas.drawString(
                value_left + CELL_LEFT, bottom + (height + value_height) / 2 - VALUE_SIZE, text
            )
        else:
            wrapped.drawOn(canvas, value_left + CELL_LEFT, bottom + (height - value_height) / 2)
        last = n == len(rows) - 1
        rules.append((bottom, 0.9 if last else 0.3, ACCENT if last else RULE))
        y = bottom
    for at, weight, colour in rules:
        canvas.setStrokeColor(colour)
        canvas.setLineWidth(weight)
        canvas.line(left, at, value_left + VALUE_WIDTH, at)
    canvas.restoreState()
    return float(top - y)


def _qr(canvas: Any, url: str, top: float) -> None:
    """The QR symbol, QR_SIZE square, right-aligned; its quiet zone painted white."""
    matrix = qr_matrix(url, border=QR_BORDER)
    count = len(matrix)
    module = QR_SIZE / (count - 2 * QR_BORDER)
    whole = module * count
    left = QR_RIGHT - QR_SIZE - QR_BORDER * module
    bottom = top - QR_SIZE - QR_BORDER * module
    canvas.saveState()
    canvas.setFillColor(colors.white)
    canvas.rect(left, bottom, whole, whole, stroke=0, fill=1)
    canvas.setFillColor(colors.black)
    canvas.saveState()
    # In module units (one unit per module, origin at the symbol's lower-left corner), one path
    # of horizontal runs filled at once: no seams between adjacent modules, and a short stream
    # of small integers.
    canvas.transform(module, 0, 0, module, left, bottom)
    edges = np.diff(np.pad(matrix, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    starts, ends = np.nonzero(edges == 1), np.nonzero(edges == -1)[1]
    runs = zip(starts[0].tolist(), starts[1].tolist(), ends.tolist(), strict=True)
    canvas.addLiteral(
        "\n".join(f"{c} {count - 1 - r} {end - c} 1 re" for r, c, end in runs) + "\nf"
    )
    canvas.restoreState()
    canvas.setFillColor(INK)
    canvas.setFont(FONT_NAME, 10)
    canvas.drawCentredString(left + whole / 2, bottom - QR_CAPTION_GAP, QR_CAPTION)
    canvas.restoreState()


def _footer(canvas: Any, view: CertificateView) -> None:
    """Two centred lines: how to verify by hand, and who signed with which algorithm; each
    drawn as one line when it fits (it does for every issuer name of ordinary length) and
    wrapped as a paragraph when it does not."""
    width = PAGE_WIDTH - 2 * INNER_INSET - 24 * mm
    left = (PAGE_WIDTH - width) / 2
    lines = [
        (verify_by_hand(view), 9.5, colors.black, 33),
        (signed_by(view), 8, MUTED, 25),
    ]
    for text, size, colour, top in lines:
        if stringWidth(text, FONT_NAME, size) <= width:
            canvas.saveState()
            canvas.setFillColor(colour)
            canvas.setFont(FONT_NAME, size)
            canvas.drawCentredString(PAGE_WIDTH / 2, top * mm - size, text)
            canvas.restoreState()
            continue
        style = _paragraph_style(
            "certify-certificate-footer", size, alignment=TA_CENTER, textColor=colour
        )
        paragraph = Paragraph(markup(text), style)
        _, height = paragraph.wrapOn(canvas, width, PAGE_HEIGHT)
        paragraph.drawOn(canvas, left, top * mm - height)
