"""Printing papers: the exam paper (试卷) with its answer sheet (答题卡), and the answer key.

``render_paper`` writes what a candidate receives: a header with the paper's particulars, the
rules (考生须知) and boxes for the candidate's name and numbers, the questions of each part in
sections by type, and a final answer sheet. ``render_key`` writes the institution's confidential
参考答案与评分标准. Both take a :class:`~schemas.papers.PaperView` (a form or one candidate's
shuffled copy) and print options and keys in its printed letters. Fonts, styles and page
numbering come from :mod:`certify.infra.pdf`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    Spacer,
    Table,
)

from certify.infra.pdf import (
    MARGIN,
    build,
    draw_footer,
    markup,
    page_of,
    plain,
    spaced,
    string_width,
    styles,
    table_style,
)
from question_bank.images import CheckedImage, hashes_in, segments
from question_bank.validate import BLANK
from schemas.enums import ItemType
from schemas.notation import ALTERNATIVE_SEPARATOR, LIST_SEPARATOR
from schemas.papers import PaperPart, PaperQuestion, PaperView
from schemas.reference import find_occupation

WIDTH = 210 * mm - 2 * MARGIN
"""Width of the text frame on an A4 page."""

INDENT = 6 * mm
"""How far options and answer space sit in from a question's number."""

SECTION_TITLES = {
    ItemType.SINGLE: "单项选择题",
    ItemType.MULTIPLE: "多项选择题",
    ItemType.TRUE_FALSE: "判断题",
    ItemType.FILL: "填空题",
    ItemType.MATCHING: "配对题",
    ItemType.SUBJECTIVE: "简答/实操题",
}

TRUE_FALSE_KEYS = {"T": "正确（√）", "F": "错误（×）"}

CONFIDENTIAL = "机密 · 仅供评价机构使用"

GRID = colors.Color(0.55, 0.55, 0.55)
SHADE = colors.Color(0.92, 0.92, 0.92)
RULE = colors.Color(0.7, 0.7, 0.7)

Section = tuple[ItemType, list[PaperQuestion]]


# --- public API ------------------------------------------------------------------------------


def render_paper(view: PaperView, path: Path, images: Images | None = None) -> Path:
    """Write the exam paper of ``view``, answer sheet last, as an A4 PDF at ``path``; the
    images its questions show come from ``images`` (by hash)."""

    def footer(canvas: Any, page: int, count: int) -> None:
        left = " · ".join(filter(None, [form_label(view.form), view.candidate_label]))
        draw_footer(canvas, left, page_of(page, count), f"试卷编号：{view.code}")

    return build(
        path,
        lambda: _paper_story(view, images or {}),
        footer,
        title=f"{view.title} {form_label(view.form)}",
        subject="试卷",
    )


def render_key(view: PaperView, path: Path, images: Images | None = None) -> Path:
    """Write the answer key and marking scheme of ``view`` as an A4 PDF at ``path`` (it quotes
    no question text, so ``images`` is not used; it is taken as :func:`render_paper` takes it)."""

    def footer(canvas: Any, page: int, count: int) -> None:
        draw_footer(canvas, CONFIDENTIAL, page_of(page, count), f"试卷编号：{view.code}")

    return build(
        path,
        lambda: _key_story(view),
        footer,
        title=f"{view.title} {form_label(view.form)} 参考答案与评分标准",
        subject="参考答案与评分标准",
    )


# --- text with images ---------------------------------------------------------------------------

Images = Mapping[str, CheckedImage]

MAX_PICTURE_HEIGHT = 70 * mm
PIXEL = 0.75
"""Points per pixel: an image is printed at 96 pixels per inch unless it must shrink."""


def rich(
    text: str,
    style: Any,
    images: Images,
    *,
    prefix: str = "",
    suffix: str = "",
    width: float = WIDTH - INDENT,
) -> list[Any]:
    """``text`` as flowables: its words as paragraphs (``prefix`` and ``suffix`` markup before
    and after them), each image it shows on a line of its own, at most ``width`` wide and
    :data:`MAX_PICTURE_HEIGHT` high. An image ``images`` lacks is printed as its alt text."""
    out: list[Any] = []
    pending = prefix
    for piece in segments(text) if "](sha256:" in text else [text]:
        if isinstance(piece, str):
            pending += markup(piece.strip("\n"))
            continue
        alt, sha = piece
        image = images.get(sha)
        if image is None:
            pending += markup(f"[图：{alt or sha[:12]}]")
            continue
        if pending.strip():
            out.append(Paragraph(pending, style))
        pending = ""
        out.append(_picture(image, width))
    if pending.strip() or suffix or not out:
        out.append(Paragraph(pending + suffix, style))
    return out


def _picture(image: CheckedImage, width: float) -> Any:
    scale = min(1.0, width / (image.width * PIXEL), MAX_PICTURE_HEIGHT / (image.height * PIXEL))
    picture = Image(
        io.BytesIO(image.data), image.width * PIXEL * scale, image.height * PIXEL * scale
    )
    picture.hAlign = "LEFT"
    return picture


# --- small pieces ----------------------------------------------------------------------------


def form_label(form: str) -> str:
    """``A`` -> ``A 卷``; a form already named ``A 卷`` stays as it is."""
    return form if form.rstrip().endswith("卷") else f"{form} 卷"


def points(value: float) -> str:
    """Points without a needless ``.0``: 2.0 -> ``2``, 1.5 -> ``1.5``."""
    return f"{value:g}"


def chinese_numeral(n: int) -> str:
    """1 -> 一, 10 -> 十, 12 -> 十二, 20 -> 二十, 23 -> 二十三 (1 to 99)."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


def sections(questions: list[PaperQuestion]) -> list[Section]:
    """Questions grouped by type, types in order of first appearance, questions in order."""
    groups: dict[ItemType, list[PaperQuestion]] = {}
    for q in questions:
        groups.setdefault(q.type, []).append(q)
    return list(groups.items())


def section_heading(index: int, section: Section) -> str:
    """E.g. ``一、单项选择题（每题 2 分，共 40 分）``."""
    item_type, questions = section
    total = points(sum(q.points for q in questions))
    each = {q.points for q in questions}
    detail = (
        f"每题 {points(each.pop())} 分，共 {total} 分"
        if len(each) == 1
        else f"共 {len(questions)} 题，{total} 分"
    )
    return f"{chinese_numeral(index)}、{SECTION_TITLES[item_type]}（{detail}）"


def blank_count(q: PaperQuestion) -> int:
    """How many blanks (``______``) a fill-in stem marks; at least one."""
    return max(1, len(BLANK.findall(q.stem)))


def _grid(
    rows: list[list[Any]], widths: list[float], *extra: Any, height: float | None = None
) -> Any:
    """A table ruled on every cell, with ``extra`` style commands."""
    table = Table(rows, colWidths=widths, rowHeights=height, hAlign="LEFT")
    table.setStyle(
        table_style(
            ("GRID", (0, 0), (-1, -1), 0.5, GRID), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), *extra
        )
    )
    return table


def _cells(texts: list[str], centre: bool = False) -> list[Any]:
    style = styles().cell_centre if centre else styles().cell
    return [Paragraph(text, style) for text in texts]


def _identity_boxes() -> Any:
    """Boxes for 姓名 / 准考证号 / 考场, filled in by the candidate."""
    labels = _cells(["姓名", "准考证号", "考场"], centre=True)
    row = [labels[0], "", labels[1], "", labels[2], ""]
    widths = [16 * mm, 36 * mm, 20 * mm, 58 * mm, 16 * mm, WIDTH - 146 * mm]
    shade = [("BACKGROUND", (c, 0), (c, 0), SHADE) for c in (0, 2, 4)]
    return _grid([row], widths, *shade, height=10 * mm)


def _candidate(view: PaperView) -> str:
    """``考生试卷标识：…`` on a candidate's shuffled copy; empty for a form."""
    return f"考生试卷标识：{view.candidate_label}" if view.candidate_label else ""


def _candidate_line(view: PaperView) -> list[Any]:
    """The candidate's copy label as a centred line, or nothing for a form."""
    return [Paragraph(markup(_candidate(view)), styles().subtitle)] if view.candidate_label else []


def _rows_of(cells: list[Any], per_row: int) -> list[list[Any]]:
    rows = [cells[i : i + per_row] for i in range(0, len(cells), per_row)]
    if rows and len(rows[-1]) < per_row:
        rows[-1] = rows[-1] + [""] * (per_row - len(rows[-1]))
    return rows


# --- the paper -------------------------------------------------------------------------------


def _paper_story(view: PaperView, images: Images) -> list[Any]:
    story = _paper_header(view)
    for part in view.parts:
        story += _part(part, images)
    story.append(PageBreak())
    story += _answer_sheet(view)
    return story


def _paper_header(view: PaperView) -> list[Any]:
    s = styles()
    story: list[Any] = [
        Paragraph("绝密★启用前", s.small),
        Paragraph(markup(view.title), s.title),
        Paragraph(
            spaced(
                f"职业：{view.occupation_name}",
                f"等级：{view.level_name}",
                f"试卷：{form_label(view.form)}",
            ),
            s.subtitle,
        ),
    ]
    story += _candidate_line(view)
    story += [Spacer(1, 3 * mm), _parts_table(view.parts), Spacer(1, 3 * mm), _identity_boxes()]
    story += _instructions(view.instructions)
    return story


def _parts_table(parts: list[PaperPart]) -> Any:
    rows = [_cells(["部分", "题量", "满分", "合格分", "考试时间"], centre=True)]
    for part in parts:
        rows.append(
            _cells(
                [
                    markup(part.title),
                    f"{len(part.questions)} 题",
                    f"{points(part.total_points)} 分",
                    f"{points(part.pass_mark)} 分",
                    f"{part.time_limit_minutes} 分钟",
                ],
                centre=True,
            )
        )
    rest = (WIDTH - 54 * mm) / 4
    return _grid(rows, [54 * mm, rest, rest, rest, rest], ("BACKGROUND", (0, 0), (-1, 0), SHADE))


def _instructions(instructions: list[str]) -> list[Any]:
    if not instructions:
        return []
    s = styles()
    story: list[Any] = [Paragraph("考生须知", s.subheading)]
    story += [
        Paragraph(f"{n}. {markup(text)}", s.hanging) for n, text in enumerate(instructions, 1)
    ]
    return story


def _part(part: PaperPart, images: Images) -> list[Any]:
    """A part's title and sections; each heading is kept on a page with the question after it."""
    s = styles()
    lead: list[Any] = [
        Spacer(1, 4 * mm),
        Paragraph(markup(part.title), s.heading),
        Paragraph(
            f"考试时间 {part.time_limit_minutes} 分钟，满分 {points(part.total_points)} 分，"
            f"{points(part.pass_mark)} 分合格",
            s.small,
        ),
    ]
    story: list[Any] = []
    for index, section in enumerate(sections(part.questions), 1):
        first, *rest = [_question(q, images) for q in section[1]]
        heading = Paragraph(section_heading(index, section), s.subheading)
        story += [KeepTogether([*lead, heading, *first]), *map(KeepTogether, rest)]
        lead = []
    return story or lead


def _question(q: PaperQuestion, images: Images) -> list[Any]:
    """A question's flowables, to be kept on one page (not a KeepTogether itself: nested ones
    report an unbounded height and would push their section onto a fresh page)."""
    s = styles()
    tail = f"&nbsp;&nbsp;（{'&nbsp;' * 6}）" if q.type is ItemType.TRUE_FALSE else ""
    suffix = f"（{points(q.points)}分）{tail}"
    parts = rich(q.stem, s.hanging, images, prefix=f"{q.number}. ", suffix=suffix)
    if q.type is ItemType.MATCHING:
        parts.append(_premises(q.premises, images))
    if q.type.has_options:
        parts.append(_options(q.options, images))
    if q.type is ItemType.SUBJECTIVE:
        parts.append(_answer_lines(q.points))
    parts.append(Spacer(1, 2 * mm))
    return parts


def _premises(premises: list[str], images: Images) -> Any:
    """A matching question's premises, one per line, each with a blank for its letter."""
    inner = WIDTH - INDENT
    rows = [
        [
            rich(text, styles().body, images, prefix=f"（{n}）"),
            Paragraph("（&nbsp;&nbsp;&nbsp;&nbsp;）", styles().body),
        ]
        for n, text in enumerate(premises, start=1)
    ]
    table = Table(rows, colWidths=[inner - 16 * mm, 16 * mm], hAlign="RIGHT")
    table.setStyle(
        table_style(
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 0),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        )
    )
    return table


def _options(options: dict[str, str], images: Images) -> Any:
    """Options in four or two columns when they fit, else one per line; options that show
    images two to a row, each image fitted to its column."""
    texts = [f"{letter}. {markup(text)}" for letter, text in options.items()]
    multiline = any("\n" in text for text in options.values())
    pictures = bool(hashes_in(options.values()))
    inner = WIDTH - INDENT
    per_row = (
        (2 if len(options) > 1 else 1)
        if pictures
        else 1
        if multiline
        else _columns(texts, styles().body.fontSize, inner, (4, 2, 1))
    )
    cells = [
        rich(text, styles().body, images, prefix=f"{letter}. ", width=inner / per_row - 4)
        if pictures
        else Paragraph(f"{letter}. {markup(text)}", styles().body)
        for letter, text in options.items()
    ]
    table = Table(_rows_of(cells, per_row), colWidths=[inner / per_row] * per_row, hAlign="RIGHT")
    table.setStyle(
        table_style(
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 0),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
        )
    )
    return table


def _columns(texts: list[str], size: float, width: float, choices: tuple[int, ...]) -> int:
    """The first of ``choices`` (columns per row) at which every text fits on one line."""
    widest = max((string_width(plain(t), size) for t in texts), default=0.0)
    return next((n for n in choices if widest + 12 <= width / n), choices[-1])


def _answer_lines(value: float) -> Any:
    """Ruled answer space under a subjective question: more lines for more points."""
    lines = min(12, max(4, round(value)))
    table = Table([[""]] * lines, colWidths=[WIDTH - INDENT], rowHeights=8 * mm, hAlign="RIGHT")
    table.setStyle(table_style(("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE)))
    return table


# --- the answer sheet ------------------------------------------------------------------------


def _answer_sheet(view: PaperView) -> list[Any]:
    s = styles()
    story: list[Any] = [
        Paragraph("答题卡", s.title),
        Paragraph(
            spaced(f"{view.title} {form_label(view.form)}", f"试卷编号：{view.code}"),
            s.subtitle,
        ),
        *_candidate_line(view),
        Spacer(1, 2 * mm),
        _identity_boxes(),
        Spacer(1, 2 * mm),
        Paragraph("作答说明：", s.small),
        Paragraph("1. 单项、多项选择题：将所选选项字母涂黑，多项选择题可涂多个；", s.small),
        Paragraph("2. 判断题：正确涂 [√]，错误涂 [×]；填空题：在对应横线上书写；", s.small),
        Paragraph("3. 简答/实操题：在试卷各题下方的答题区作答。", s.small),
    ]
    for part in view.parts:
        title = [Paragraph(markup(part.title), s.subheading)]
        for index, section in enumerate(sections(part.questions), 1):
            heading = [*title, Paragraph(section_heading(index, section), s.small)]
            story += [_sheet_grid(heading, section), Spacer(1, 2 * mm)]
            title = []
    return story


def _sheet_grid(heading: list[Any], section: Section) -> Any:
    """Answer boxes of one section, as many to a row as fit, under ``heading`` (a row repeated
    when the grid runs onto another page); only real cells are boxed."""
    item_type, questions = section
    texts = [_SHEET_CELLS[item_type](q) for q in questions]
    per_row = _columns(texts, styles().body.fontSize, WIDTH, (6, 5, 4, 3, 2, 1))
    cells = [Paragraph(text, styles().body) for text in texts]
    boxes = [
        ("BOX", (n % per_row, 1 + n // per_row), (n % per_row, 1 + n // per_row), 0.5, GRID)
        for n in range(len(cells))
    ]
    commands = [
        ("SPAN", (0, 0), (-1, 0)),
        ("LEFTPADDING", (0, 0), (-1, 0), 0),
        ("VALIGN", (0, 1), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 1), (-1, -1), 4),
        *boxes,
    ]
    rows = [[heading, *[""] * (per_row - 1)], *_rows_of(cells, per_row)]
    table = Table(rows, colWidths=[WIDTH / per_row] * per_row, repeatRows=1, hAlign="LEFT")
    table.setStyle(table_style(*commands))
    return table


def _choice_cell(q: PaperQuestion) -> str:
    boxes = "&nbsp;".join(f"[{letter}]" for letter in q.options)
    return f"<b>{q.number}</b>&nbsp;&nbsp;{boxes}"


def _true_false_cell(q: PaperQuestion) -> str:
    return f"<b>{q.number}</b>&nbsp;&nbsp;[√]&nbsp;[×]"


def _fill_cell(q: PaperQuestion) -> str:
    blanks = " ".join(f"({k})______________" for k in range(1, blank_count(q) + 1))
    return f"<b>{q.number}</b>&nbsp;&nbsp;{blanks}"


def _matching_cell(q: PaperQuestion) -> str:
    blanks = " ".join(f"({k})____" for k in range(1, len(q.premises) + 1))
    return f"<b>{q.number}</b>&nbsp;&nbsp;{blanks}"


def _subjective_cell(q: PaperQuestion) -> str:
    return f"<b>{q.number}</b>&nbsp;&nbsp;见试卷答题区"


_SHEET_CELLS: dict[ItemType, Callable[[PaperQuestion], str]] = {
    ItemType.SINGLE: _choice_cell,
    ItemType.MULTIPLE: _choice_cell,
    ItemType.TRUE_FALSE: _true_false_cell,
    ItemType.FILL: _fill_cell,
    ItemType.MATCHING: _matching_cell,
    ItemType.SUBJECTIVE: _subjective_cell,
}


# --- the answer key --------------------------------------------------------------------------

KEY_WIDTHS = [12 * mm, 14 * mm, 30 * mm, 46 * mm, 14 * mm]
"""题号, 题型, 题目编号, 知识领域, 分值; the answer takes the rest of the width."""

SCHEME_ROW_LIMIT = 120 * mm
"""A marking scheme taller than this goes after its part's table (a table row cannot break
across pages; a paragraph can)."""

SCHEME_AFTER = "见本部分表后参考答案与评分标准"


def answer_text(q: PaperQuestion) -> str:
    """The key as printed: letters, 正确/错误, fill-in answers (``|`` as 或, blanks by ；), or a
    matching question's letter for each premise (``(1) C；(2) A``)."""
    if q.type is ItemType.TRUE_FALSE:
        return TRUE_FALSE_KEYS.get(q.key, q.key)
    if q.type is ItemType.FILL:
        blanks = q.key.split(LIST_SEPARATOR)
        return "；".join(
            " 或 ".join(a.strip() for a in b.split(ALTERNATIVE_SEPARATOR)) for b in blanks
        )
    if q.type is ItemType.MATCHING:
        return "；".join(f"({n}) {letter}" for n, letter in enumerate(q.key, start=1))
    if q.type is ItemType.SUBJECTIVE:
        return "见下行参考答案与评分标准"
    return q.key


def _key_story(view: PaperView) -> list[Any]:
    s = styles()
    story: list[Any] = [
        Paragraph(f'<font color="#b00000">{CONFIDENTIAL}</font>', s.small),
        Paragraph(markup(view.title), s.title),
        Paragraph("参考答案与评分标准", s.subtitle),
        Paragraph(
            spaced(
                form_label(view.form),
                f"试卷编号：{view.code}",
                f"蓝图：{view.blueprint_code}",
                _candidate(view),
            ),
            s.subtitle,
        ),
    ]
    area = _area_namer(view.occupation)
    for part in view.parts:
        story += _key_part(part, area)
    total = points(sum(q.points for q in view.questions))
    story.append(Paragraph(f"全卷合计 {total} 分", s.subheading))
    return story


def _area_namer(occupation: str) -> Callable[[str], str]:
    occ = find_occupation(occupation)

    def name(code: str) -> str:
        area = occ.area(code) if occ else None
        return f"{code} {area.name_zh}" if area else code

    return name


def _key_part(part: PaperPart, area: Callable[[str], str]) -> list[Any]:
    """One part's table: its heading and column titles repeat on every page it runs onto."""
    heading = (
        f"{markup(part.title)}（满分 {points(part.total_points)} 分，"
        f"合格分 {points(part.pass_mark)} 分，考试时间 {part.time_limit_minutes} 分钟）"
    )
    rows: list[list[Any]] = [
        [Paragraph(heading, styles().subheading), *[""] * 5],
        _cells(["题号", "题型", "题目编号", "知识领域", "分值", "答案"], centre=True),
    ]
    spans: list[int] = []
    after: list[Any] = []
    for q in part.questions:
        scheme = _marking_scheme(q) if q.type is ItemType.SUBJECTIVE else None
        inline = scheme is not None and _fits_in_row(scheme)
        deferred = scheme is not None and not inline
        rows.append(_key_row(q, area, SCHEME_AFTER if deferred else answer_text(q)))
        if inline:
            spans.append(len(rows))
            rows.append([scheme, *[""] * 5])
        elif deferred:
            after += [Spacer(1, 2 * mm), scheme]
    subtotal = points(sum(q.points for q in part.questions))
    rows.append(_cells(["本部分小计", "", "", "", f"{subtotal} 分", ""], centre=True))
    return [Spacer(1, 3 * mm), _key_table(rows, spans), *after]


def _fits_in_row(scheme: Any) -> bool:
    padding = 12  # a table cell's default left and right padding
    return bool(scheme.wrap(WIDTH - padding, 10**6)[1] <= SCHEME_ROW_LIMIT)


def _key_row(q: PaperQuestion, area: Callable[[str], str], answer: str) -> list[Any]:
    texts = [
        str(q.number),
        q.type.short_zh,
        markup(f"{q.item_id} v{q.item_version}"),
        markup(area(q.knowledge_area)),
        points(q.points),
    ]
    return [*_cells(texts, centre=True), *_cells([markup(answer)])]


def _marking_scheme(q: PaperQuestion) -> Any:
    text = f"<b>第 {q.number} 题参考答案：</b>{markup(q.key) or '（无）'}"
    text += f"<br/><b>评分标准：</b>{markup(q.rubric) or '（无）'}"
    return Paragraph(text, styles().cell)


def _key_table(rows: list[list[Any]], spans: list[int]) -> Any:
    widths = [*KEY_WIDTHS, WIDTH - sum(KEY_WIDTHS)]
    last = len(rows) - 1
    commands: list[Any] = [
        ("SPAN", (0, 0), (-1, 0)),
        ("LEFTPADDING", (0, 0), (-1, 0), 0),
        ("GRID", (0, 1), (-1, -1), 0.5, GRID),
        ("VALIGN", (0, 1), (-1, -1), "MIDDLE"),
        ("BACKGROUND", (0, 1), (-1, 1), SHADE),
        ("SPAN", (0, last), (3, last)),
        ("BACKGROUND", (0, last), (-1, last), SHADE),
    ]
    for r in spans:  # a subjective question's row and its marking scheme stay together
        commands += [
            ("SPAN", (0, r), (-1, r)),
            ("VALIGN", (0, r), (-1, r), "TOP"),
            ("NOSPLIT", (0, r - 1), (-1, r)),
        ]
    table = Table(rows, colWidths=widths, repeatRows=2, hAlign="LEFT")
    table.setStyle(table_style(*commands))
    return table
