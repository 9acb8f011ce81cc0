"""Printing papers: the exam paper (试卷) with its answer sheet (答题卡), and the answer key.

``render_paper`` writes what a candidate receives: a header with the paper's particulars, the
rules (考生须知) and boxes for the candidate's name and numbers, the questions of each part in
sections by type, and a final answer sheet. ``render_key`` writes the institution's confidential
参考答案与评分标准. Both take a :class:`~schemas.papers.PaperView` (a form or one candidate's
shuffled copy) and print options and keys in its printed letters. Fonts, styles and page
numbering come from :mod:`certify.pdf`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reportlab.lib import colors  # type: ignore[import-untyped, unused-ignore]
from reportlab.lib.units import mm  # type: ignore[import-untyped, unused-ignore]
from reportlab.platypus import (  # type: ignore[import-untyped, unused-ignore]
    KeepTogether,
    PageBreak,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from certify.pdf import MARGIN, build, draw_footer, markup, page_of, styles, text_width
from question_bank.validate import BLANK
from schemas.enums import ItemType
from schemas.items import ALTERNATIVE_SEPARATOR, LIST_SEPARATOR
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
    ItemType.SUBJECTIVE: "简答/实操题",
}

TYPE_NAMES = {
    ItemType.SINGLE: "单选",
    ItemType.MULTIPLE: "多选",
    ItemType.TRUE_FALSE: "判断",
    ItemType.FILL: "填空",
    ItemType.SUBJECTIVE: "主观",
}

TRUE_FALSE_KEYS = {"T": "正确（√）", "F": "错误（×）"}

CONFIDENTIAL = "机密 · 仅供评价机构使用"

GRID = colors.Color(0.55, 0.55, 0.55)
SHADE = colors.Color(0.92, 0.92, 0.92)
RULE = colors.Color(0.7, 0.7, 0.7)

Section = tuple[ItemType, list[PaperQuestion]]


# --- public API ------------------------------------------------------------------------------


def render_paper(view: PaperView, path: Path) -> Path:
    """Write the exam paper of ``view``, answer sheet last, as an A4 PDF at ``path``."""

    def footer(canvas: Any, page: int, count: int) -> None:
        left = " · ".join(filter(None, [form_label(view.form), view.candidate_label]))
        draw_footer(canvas, left, page_of(page, count), f"试卷编号：{view.code}")

    return build(
        path,
        lambda: _paper_story(view),
        footer,
        title=f"{view.title} {form_label(view.form)}",
        subject="试卷",
    )


def render_key(view: PaperView, path: Path) -> Path:
    """Write the answer key and marking scheme of ``view`` as an A4 PDF at ``path``."""

    def footer(canvas: Any, page: int, count: int) -> None:
        draw_footer(canvas, CONFIDENTIAL, page_of(page, count), f"试卷编号：{view.code}")

    return build(
        path,
        lambda: _key_story(view),
        footer,
        title=f"{view.title} {form_label(view.form)} 参考答案与评分标准",
        subject="参考答案与评分标准",
    )


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


def _table(
    rows: list[list[Any]], widths: list[float], commands: list[Any], height: float | None = None
) -> Any:
    table = Table(rows, colWidths=widths, rowHeights=height, hAlign="LEFT")
    table.setStyle(TableStyle(commands))
    return table


def _grid(
    rows: list[list[Any]], widths: list[float], *extra: Any, height: float | None = None
) -> Any:
    commands: list[Any] = [
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        *extra,
    ]
    return _table(rows, widths, commands, height)


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


def _rows_of(cells: list[Any], per_row: int) -> list[list[Any]]:
    rows = [cells[i : i + per_row] for i in range(0, len(cells), per_row)]
    if rows and len(rows[-1]) < per_row:
        rows[-1] = rows[-1] + [""] * (per_row - len(rows[-1]))
    return rows


# --- the paper -------------------------------------------------------------------------------


def _paper_story(view: PaperView) -> list[Any]:
    story = _paper_header(view)
    for part in view.parts:
        story += _part(part)
    story.append(PageBreak())
    story += _answer_sheet(view)
    return story


def _paper_header(view: PaperView) -> list[Any]:
    s = styles()
    story: list[Any] = [
        Paragraph("绝密★启用前", s.small),
        Paragraph(markup(view.title), s.title),
        Paragraph(
            markup(
                f"职业：{view.occupation_name}　　等级：{view.level_name}　　试卷：{form_label(view.form)}"
            ),
            s.subtitle,
        ),
    ]
    if view.candidate_label:
        story.append(Paragraph(markup(f"考生试卷标识：{view.candidate_label}"), s.subtitle))
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
                    f"考试时间 {part.time_limit_minutes} 分钟",
                ],
                centre=True,
            )
        )
    rest = (WIDTH - 60 * mm) / 4
    return _grid(rows, [60 * mm, rest, rest, rest, rest], ("BACKGROUND", (0, 0), (-1, 0), SHADE))


def _instructions(instructions: list[str]) -> list[Any]:
    if not instructions:
        return []
    s = styles()
    story: list[Any] = [Paragraph("考生须知", s.subheading)]
    story += [
        Paragraph(f"{n}. {markup(text)}", s.hanging) for n, text in enumerate(instructions, 1)
    ]
    return story


def _part(part: PaperPart) -> list[Any]:
    s = styles()
    story: list[Any] = [
        Spacer(1, 4 * mm),
        Paragraph(markup(part.title), s.heading),
        Paragraph(
            f"考试时间 {part.time_limit_minutes} 分钟，满分 {points(part.total_points)} 分，"
            f"{points(part.pass_mark)} 分合格",
            s.small,
        ),
    ]
    for index, section in enumerate(sections(part.questions), 1):
        story.append(Paragraph(section_heading(index, section), s.subheading))
        story += [_question(q) for q in section[1]]
    return story


def _question(q: PaperQuestion) -> Any:
    s = styles()
    tail = "　（　）" if q.type is ItemType.TRUE_FALSE else ""
    stem = f"{q.number}. {markup(q.stem)}（{points(q.points)}分）{tail}"
    parts: list[Any] = [Paragraph(stem, s.hanging)]
    if q.type.has_options:
        parts.append(_options(q.options))
    if q.type is ItemType.SUBJECTIVE:
        parts.append(_answer_lines(q.points))
    parts.append(Spacer(1, 2 * mm))
    return KeepTogether(parts)


def _options(options: dict[str, str]) -> Any:
    """Options in four or two columns when they are short, else one per line."""
    texts = [f"{letter}. {markup(text)}" for letter, text in options.items()]
    widest = max((text_width(f"{k}. {v}") for k, v in options.items()), default=0.0)
    multiline = any("\n" in v for v in options.values())
    per_row = 1 if multiline else 4 if widest <= 10 else 2 if widest <= 22 else 1
    inner = WIDTH - INDENT
    table = Table(
        _rows_of(_cells(texts), per_row), colWidths=[inner / per_row] * per_row, hAlign="RIGHT"
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return table


def _answer_lines(value: float) -> Any:
    """Ruled answer space under a subjective question: more lines for more points."""
    lines = min(12, max(4, round(value)))
    table = Table([[""]] * lines, colWidths=[WIDTH - INDENT], rowHeights=8 * mm, hAlign="RIGHT")
    table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE)]))
    return table


# --- the answer sheet ------------------------------------------------------------------------


def _answer_sheet(view: PaperView) -> list[Any]:
    s = styles()
    label = f"　　考生试卷标识：{view.candidate_label}" if view.candidate_label else ""
    story: list[Any] = [
        Paragraph("答题卡", s.title),
        Paragraph(
            markup(f"{view.title}　{form_label(view.form)}　　试卷编号：{view.code}{label}"),
            s.subtitle,
        ),
        Spacer(1, 2 * mm),
        _identity_boxes(),
        Spacer(1, 2 * mm),
        Paragraph(
            "作答说明：选择题将所选选项字母涂黑，多项选择题可涂多个；判断题正确涂 [√]、错误涂 [×]；"
            "填空题在对应横线上书写；简答/实操题在试卷各题下方的答题区作答。",
            s.small,
        ),
    ]
    for part in view.parts:
        story.append(Paragraph(markup(part.title), s.subheading))
        for index, section in enumerate(sections(part.questions), 1):
            story.append(Paragraph(section_heading(index, section), s.small))
            story.append(_sheet_grid(section))
            story.append(Spacer(1, 2 * mm))
    return story


def _sheet_grid(section: Section) -> Any:
    item_type, questions = section
    cell: Callable[[PaperQuestion], str] = _SHEET_CELLS[item_type]
    per_row = _sheet_columns(section)
    rows = _rows_of(_cells([cell(q) for q in questions]), per_row)
    return _grid(rows, [WIDTH / per_row] * per_row, ("TOPPADDING", (0, 0), (-1, -1), 4))


def _sheet_columns(section: Section) -> int:
    item_type, questions = section
    if item_type.has_options:
        widest = max(len(q.options) for q in questions)
        return 5 if widest <= 4 else 4 if widest <= 6 else 3
    return {ItemType.TRUE_FALSE: 6, ItemType.FILL: 2}.get(item_type, 4)


def _choice_cell(q: PaperQuestion) -> str:
    boxes = "&nbsp;".join(f"[{letter}]" for letter in q.options)
    return f"<b>{q.number}</b>&nbsp;&nbsp;{boxes}"


def _true_false_cell(q: PaperQuestion) -> str:
    return f"<b>{q.number}</b>&nbsp;&nbsp;[√]&nbsp;[×]"


def _fill_cell(q: PaperQuestion) -> str:
    blanks = " ".join(f"({k})______________" for k in range(1, blank_count(q) + 1))
    return f"<b>{q.number}</b>&nbsp;&nbsp;{blanks}"


def _subjective_cell(q: PaperQuestion) -> str:
    return f"<b>{q.number}</b>&nbsp;&nbsp;见试卷答题区"


_SHEET_CELLS: dict[ItemType, Callable[[PaperQuestion], str]] = {
    ItemType.SINGLE: _choice_cell,
    ItemType.MULTIPLE: _choice_cell,
    ItemType.TRUE_FALSE: _true_false_cell,
    ItemType.FILL: _fill_cell,
    ItemType.SUBJECTIVE: _subjective_cell,
}


# --- the answer key --------------------------------------------------------------------------

KEY_WIDTHS = [12 * mm, 14 * mm, 34 * mm, 40 * mm, 14 * mm]
"""题号, 题型, 题目编号, 知识领域, 分值; the answer takes the rest of the width."""


def answer_text(q: PaperQuestion) -> str:
    """The key as printed: letters, 正确/错误, or fill-in answers (``|`` as 或, blanks by ；)."""
    if q.type is ItemType.TRUE_FALSE:
        return TRUE_FALSE_KEYS.get(q.key, q.key)
    if q.type is ItemType.FILL:
        blanks = q.key.split(LIST_SEPARATOR)
        return "；".join(
            " 或 ".join(a.strip() for a in b.split(ALTERNATIVE_SEPARATOR)) for b in blanks
        )
    if q.type is ItemType.SUBJECTIVE:
        return "见下行参考答案与评分标准"
    return q.key


def _key_story(view: PaperView) -> list[Any]:
    s = styles()
    label = f"　　考生试卷标识：{view.candidate_label}" if view.candidate_label else ""
    story: list[Any] = [
        Paragraph(f'<font color="#b00000">{CONFIDENTIAL}</font>', s.small),
        Paragraph(markup(view.title), s.title),
        Paragraph("参考答案与评分标准", s.subtitle),
        Paragraph(
            markup(
                f"{form_label(view.form)}　　试卷编号：{view.code}　　蓝图：{view.blueprint_code}{label}"
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
    s = styles()
    heading = (
        f"{markup(part.title)}（满分 {points(part.total_points)} 分，"
        f"合格分 {points(part.pass_mark)} 分，考试时间 {part.time_limit_minutes} 分钟）"
    )
    rows: list[list[Any]] = [_cells(["题号", "题型", "题目编号", "知识领域", "分值", "答案"], True)]
    spans: list[int] = []
    for q in part.questions:
        rows.append(_key_row(q, area))
        if q.type is ItemType.SUBJECTIVE:
            spans.append(len(rows))
            rows.append([_marking_scheme(q), "", "", "", "", ""])
    subtotal = points(sum(q.points for q in part.questions))
    rows.append(_cells(["本部分小计", "", "", "", f"{subtotal} 分", ""], centre=True))
    return [Paragraph(heading, s.subheading), _key_table(rows, spans)]


def _key_row(q: PaperQuestion, area: Callable[[str], str]) -> list[Any]:
    texts = [
        str(q.number),
        TYPE_NAMES[q.type],
        markup(f"{q.item_id} v{q.item_version}"),
        markup(area(q.knowledge_area)),
        points(q.points),
    ]
    return [*_cells(texts, centre=True), *_cells([markup(answer_text(q))])]


def _marking_scheme(q: PaperQuestion) -> Any:
    text = f"<b>第 {q.number} 题参考答案：</b>{markup(q.key) or '（无）'}"
    text += f"<br/><b>评分标准：</b>{markup(q.rubric) or '（无）'}"
    return Paragraph(text, styles().cell)


def _key_table(rows: list[list[Any]], spans: list[int]) -> Any:
    widths = [*KEY_WIDTHS, WIDTH - sum(KEY_WIDTHS)]
    last = len(rows) - 1
    commands: list[Any] = [
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("SPAN", (0, last), (3, last)),
        ("BACKGROUND", (0, last), (-1, last), SHADE),
    ]
    for r in spans:
        commands += [("SPAN", (0, r), (-1, r)), ("VALIGN", (0, r), (-1, r), "TOP")]
    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle(commands))
    return table
