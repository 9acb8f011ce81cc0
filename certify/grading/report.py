"""考试统计分析报告: the exam statistics report of one sitting, as an A4 PDF with charts.

``render_exam_report`` prints an :class:`~schemas.results.ExamReportData` in six sections:

* the header and 总体情况 (candidates, passes, each part's mean, SD and pass mark, and the
  whole-test reliability: CIC, ER, SE and KR-20);
* 成绩分布, a histogram of every part's scores in bins of 10 points with the pass mark drawn;
* 难度与区分度, a scatter of facility against discrimination, flagged items in red and labelled;
* 试题分析表, every item's statistics (Moodle's definitions, percentages), flagged rows shaded;
* 平行卷比较, the forms' means and SDs with Welch's test and a warning when they differ;
* 雷同卷检查, the flagged pairs of answer sheets, as evidence for a person to weigh.

Charts are reportlab drawings made of plain shapes, so every label is in certify's embedded font.
Undefined figures arrive as ``None`` and print as ``—``. Fonts, styles and page numbering come
from :mod:`certify.infra.pdf`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportlab.graphics.shapes import (
    Circle,
    Drawing,
    Line,
    PolyLine,
    Rect,
    String,
)
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    Spacer,
    Table,
)

from certify.infra.pdf import (
    FONT_NAME,
    MARGIN,
    build,
    draw_footer,
    markup,
    page_of,
    register_fonts,
    spaced,
    string_width,
    styles,
    table_style,
)
from question_bank.render import GRID, SHADE, form_label, points
from schemas.results import ExamReportData, FormRow, IrtSummary, ItemRow, PairRow, PartSummary

WIDTH = 210 * mm - 2 * MARGIN
"""Width of the text frame on an A4 page."""

REPORT_NAME = "考试统计分析报告"
CONFIDENTIAL = "内部资料 · 仅供评价机构使用"
DASH = "—"
"""How an undefined figure prints."""

BIN_WIDTH = 10.0
"""Histogram bins are this many points wide."""

FACILITY_BAND = (5.0, 95.0)
"""Facility outside this band is flagged 难度异常; drawn as reference lines on the scatter."""

FLAG_NAMES = {
    "low_efficiency": "区分效率低",
    "negative_discrimination": "负区分度",
    "facility_out_of_band": "难度异常",
}

SIMILARITY_NOTE = "统计提示，不是结论，需人工复核"

INK = colors.Color(0.15, 0.15, 0.15)
AXIS = colors.Color(0.3, 0.3, 0.3)
GRIDLINE = colors.Color(0.86, 0.86, 0.86)
BAR = colors.Color(0.33, 0.50, 0.72)
POINT = colors.Color(0.25, 0.45, 0.70)
ALERT = colors.Color(0.78, 0.10, 0.10)
ALERT_SHADE = colors.Color(0.99, 0.89, 0.89)
BAND_SHADE = colors.Color(0.97, 0.94, 0.94)
LABEL_BACK = colors.Color(1, 1, 1, alpha=0.8)


# --- public API ------------------------------------------------------------------------------


def render_exam_report(data: ExamReportData, path: Path) -> Path:
    """Write the exam statistics report of ``data`` as an A4 PDF at ``path``."""

    def footer(canvas: Any, page: int, count: int) -> None:
        draw_footer(canvas, f"{REPORT_NAME} · {data.sitting}", page_of(page, count), CONFIDENTIAL)

    return build(
        path,
        lambda: _story(data),
        footer,
        title=f"{data.title} {REPORT_NAME}" if REPORT_NAME not in data.title else data.title,
        subject=REPORT_NAME,
    )


# --- numbers ---------------------------------------------------------------------------------


def number(value: float | None, decimals: int = 1) -> str:
    """``value`` to ``decimals`` places; ``None`` or a non-finite value as ``—``."""
    if value is None or not math.isfinite(value):
        return DASH
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0"


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage with one decimal, ``—`` when ``whole`` is 0."""
    return f"{100 * part / whole:.1f}%" if whole > 0 else DASH


def p_value(p: float | None) -> str:
    """``p = 0.041`` (three decimals), ``p < 0.001`` below that, ``p = —`` when undefined."""
    if p is None or not math.isfinite(p):
        return f"p = {DASH}"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def flag_names(flags: Sequence[str]) -> str:
    """Flags in Chinese, ``；``-separated; an unknown flag prints as it is."""
    return "；".join(FLAG_NAMES.get(f, f) for f in flags)


@dataclass(frozen=True)
class Histogram:
    """Counts of scores in bins ``edges[i] <= score < edges[i + 1]`` (the last bin closed)."""

    edges: list[float]
    counts: list[int]


def histogram(totals: Sequence[float], total_points: float, width: float = BIN_WIDTH) -> Histogram:
    """Scores binned every ``width`` points over 0..``total_points``; the last bin may be
    narrower and includes full marks; scores outside the range count in the nearest bin."""
    top = max(total_points, 0.0)
    bins = max(1, math.ceil(top / width - 1e-9))
    edges = [min(i * width, top) for i in range(bins)] + [top if top > 0 else width]
    counts = [0] * bins
    for score in totals:
        if math.isfinite(score):
            counts[min(bins - 1, max(0, math.floor(score / width)))] += 1
    return Histogram(edges, counts)


def nice_step(top: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 × 10ⁿ, at least 1) giving about ``ticks`` ticks up to ``top``."""
    raw = max(top, 1.0) / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return max(1.0, next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


# --- the story -------------------------------------------------------------------------------


def _story(data: ExamReportData) -> list[Any]:
    story = _header(data)
    story += _summary(data)
    story += _distribution(data)
    story += _difficulty(data)
    story += _item_table(data.items)
    story += _forms(data)
    story += _similarity(data)
    story += _irt(data)
    story += _equating(data)
    return story


def _header(data: ExamReportData) -> list[Any]:
    s = styles()
    story: list[Any] = [
        Paragraph(f'<font color="#b00000">{CONFIDENTIAL}</font>', s.small),
        Paragraph(markup(data.title), s.title),
    ]
    if REPORT_NAME not in data.title:
        story.append(Paragraph(REPORT_NAME, s.subtitle))
    story += [
        Paragraph(
            spaced(
                f"考试批次：{data.sitting}",
                f"职业：{data.occupation_name}",
                f"等级：{data.level_name}",
            ),
            s.subtitle,
        ),
        Paragraph(markup(f"生成时间：{data.generated_at}"), s.subtitle),
        Spacer(1, 3 * mm),
    ]
    return story


def _heading(text: str) -> Any:
    return Paragraph(text, styles().heading)


def _note(text: str) -> Any:
    return Paragraph(text, styles().small)


def _cells(texts: Sequence[str], centre: bool = True) -> list[Any]:
    style = styles().cell_centre if centre else styles().cell
    return [Paragraph(text, style) for text in texts]


def _grid(rows: list[list[Any]], widths: list[float], *extra: Any, repeat: int = 1) -> Any:
    """A table ruled on every cell, header row shaded and repeated, with ``extra`` commands."""
    table = Table(rows, colWidths=widths, repeatRows=repeat, hAlign="LEFT")
    table.setStyle(
        table_style(
            ("GRID", (0, 0), (-1, -1), 0.5, GRID),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("BACKGROUND", (0, 0), (-1, repeat - 1), SHADE),
            *extra,
        )
    )
    return table


# --- 总体情况 ----------------------------------------------------------------------------------


def _summary(data: ExamReportData) -> list[Any]:
    story: list[Any] = [_heading("一、总体情况")]
    overall = [
        _cells(["考生人数", "合格人数", "合格率"]),
        _cells([str(data.candidates), str(data.passed), percent(data.passed, data.candidates)]),
    ]
    story += [_grid(overall, [WIDTH / 3] * 3), Spacer(1, 3 * mm)]
    if data.parts:
        rows = [_cells(["考试部分", "满分", "合格分", "平均分", "标准差", "合格人数", "合格率"])]
        rows += [_part_row(part, data.candidates) for part in data.parts]
        rest = (WIDTH - 46 * mm) / 6
        story += [_grid(rows, [46 * mm, *[rest] * 6]), Spacer(1, 3 * mm)]
    else:
        story.append(_note("本次考试没有分部分的成绩数据。"))
    story += [Paragraph("全卷信度", styles().subheading), _reliability(data)]
    return story


def _part_row(part: PartSummary, candidates: int) -> list[Any]:
    sat = len(part.totals) or candidates
    return _cells(
        [
            markup(part.title),
            points(part.total_points),
            points(part.pass_mark),
            number(part.mean),
            number(part.sd),
            str(part.passed),
            percent(part.passed, sat),
        ]
    )


def _reliability(data: ExamReportData) -> Any:
    rows = [
        _cells(["指标", "数值", "说明"]),
        _cells(
            ["内部一致性系数 CIC", number(data.cic), "Cronbach α × 100，越高说明各题测量越一致"],
            centre=False,
        ),
        _cells(
            ["误差比 ER", number(data.error_ratio), "100 × √(1 − CIC/100)，分数中随机误差的占比"],
            centre=False,
        ),
        _cells(
            ["标准误 SE", number(data.standard_error, 2), "ER/100 × 总分标准差（分）"],
            centre=False,
        ),
        _cells(
            ["KR-20", number(data.kr20, 2), "按满分/非满分二分计分的信度系数（0–1）"],
            centre=False,
        ),
    ]
    return _grid(rows, [40 * mm, 24 * mm, WIDTH - 64 * mm], ("ALIGN", (1, 1), (1, -1), "CENTER"))


# --- 成绩分布 ----------------------------------------------------------------------------------


def _distribution(data: ExamReportData) -> list[Any]:
    lead: list[Any] = [CondPageBreak(90 * mm), _heading("二、成绩分布")]
    if not data.parts:
        return [*lead, _note("无成绩数据。")]
    story: list[Any] = []
    for part in data.parts:
        caption = spaced(
            markup(part.title),
            f"人数 {len(part.totals)}",
            f"平均分 {number(part.mean)}",
            f"标准差 {number(part.sd)}",
            f"合格分 {points(part.pass_mark)}",
            gap=3,
        )
        story.append(
            KeepTogether([*lead, Paragraph(caption, styles().subheading), histogram_drawing(part)])
        )
        lead = []
    story.append(
        _note(
            f"每组 {points(BIN_WIDTH)} 分（含下限、不含上限，满分计入最后一组）；红色虚线为合格分。"
        )
    )
    return story


def _text(
    x: float, y: float, text: str, size: float = 7.5, anchor: str = "middle", colour: Any = INK
) -> Any:
    return String(
        x, y, text, fontName=FONT_NAME, fontSize=size, fillColor=colour, textAnchor=anchor
    )


def _dashed(x1: float, y1: float, x2: float, y2: float, colour: Any, width: float = 1) -> Any:
    return Line(x1, y1, x2, y2, strokeColor=colour, strokeWidth=width, strokeDashArray=[3, 2])


def histogram_drawing(part: PartSummary, height: float = 58 * mm) -> Any:
    """Bars of ``part``'s scores in 10-point bins, axes 分数 and 人数, the pass mark marked."""
    register_fonts()
    d = Drawing(WIDTH, height, initialFontName=FONT_NAME)
    left, right, bottom, top = 34.0, 14.0, 30.0, 18.0
    pw: float = WIDTH - left - right
    ph: float = height - bottom - top
    h = histogram(part.totals, part.total_points)
    span = h.edges[-1]

    def px(score: float) -> float:
        return left + pw * min(max(score, 0.0), span) / span

    tallest = max(h.counts, default=0)
    step = nice_step(tallest)
    ymax = step * max(1, math.ceil(tallest * 1.08 / step))  # room for the count over a bar

    def py(count: float) -> float:
        return bottom + ph * count / ymax

    for k in range(round(ymax / step) + 1):  # gridlines and y ticks
        y = py(k * step)
        d.add(Line(left, y, left + pw, y, strokeColor=GRIDLINE, strokeWidth=0.5))
        d.add(_text(left - 4, y - 2.5, f"{k * step:g}", anchor="end"))
    for i, count in enumerate(h.counts):
        x0, x1 = px(h.edges[i]), px(h.edges[i + 1])
        if count:
            d.add(
                Rect(
                    x0 + 1, bottom, x1 - x0 - 2, py(count) - bottom, fillColor=BAR, strokeColor=None
                )
            )
            if x1 - x0 >= 14:
                d.add(_text((x0 + x1) / 2, py(count) + 2, str(count), size=6.5))
    every = max(1, math.ceil(22 / max(px(h.edges[1]) - px(h.edges[0]), 1e-9)))
    for i, edge in enumerate(h.edges):
        last = i == len(h.edges) - 1
        if i % every == 0 or last:
            if last and i % every and px(edge) - px(h.edges[i - i % every]) < 16:
                continue  # too close to the previous label
            d.add(Line(px(edge), bottom, px(edge), bottom - 3, strokeColor=AXIS, strokeWidth=0.6))
            d.add(_text(px(edge), bottom - 11, f"{edge:g}"))
    d.add(Line(left, bottom, left + pw, bottom, strokeColor=AXIS, strokeWidth=0.8))
    d.add(Line(left, bottom, left, bottom + ph, strokeColor=AXIS, strokeWidth=0.8))
    d.add(_text(left + pw / 2, 4, "分数", size=8.5))
    d.add(_text(left - 4, bottom + ph + 6, "人数", size=8.5, anchor="end"))
    if 0 <= part.pass_mark <= span:
        x = px(part.pass_mark)
        d.add(_dashed(x, bottom, x, bottom + ph + 4, ALERT, 1.2))
        label = f"合格分 {points(part.pass_mark)}"
        room = left + pw - x > string_width(label, 7.5) + 6
        d.add(
            _text(
                x + 3 if room else x - 3,
                bottom + ph + 6,
                label,
                anchor="start" if room else "end",
                colour=ALERT,
            )
        )
    if not part.totals:
        d.add(_text(left + pw / 2, bottom + ph / 2, "无成绩数据", size=9, colour=AXIS))
    return d


# --- 难度与区分度 ------------------------------------------------------------------------------


def _difficulty(data: ExamReportData) -> list[Any]:
    head: list[Any] = [CondPageBreak(110 * mm), _heading("三、难度与区分度")]
    if not data.items:
        return [*head, _note("本次考试没有可分析的试题数据。")]
    story: list[Any] = [KeepTogether([*head, scatter_drawing(data.items)])]
    missing = [item.label for item in data.items if item.discrimination is None]
    if missing:
        story.append(_note(markup(f"区分度无法计算、未绘出的试题：{'、'.join(missing)}")))
    story.append(
        _note(
            "横轴为难度系数（通过率，得分率 %），纵轴为区分度（该题得分与其余题总分的相关 × 100）。"
            "红色为需关注的试题；浅红色区域为通过率低于 5 或高于 95、区分度为负的范围。"
        )
    )
    return story


def scatter_drawing(items: Sequence[ItemRow], height: float = 100 * mm) -> Any:
    """Facility (0–100) against discrimination (−100–100), one point per item; flagged items
    in red with their labels; reference lines at discrimination 0 and facility 5 and 95."""
    register_fonts()
    d = Drawing(WIDTH, height, initialFontName=FONT_NAME)
    left, right, bottom, top = 34.0, 14.0, 30.0, 24.0
    pw: float = WIDTH - left - right
    ph: float = height - bottom - top

    def px(facility: float) -> float:
        return left + pw * min(max(facility, 0.0), 100.0) / 100

    def py(discrimination: float) -> float:
        return bottom + ph * (min(max(discrimination, -100.0), 100.0) + 100) / 200

    low, high = FACILITY_BAND
    d.add(Rect(left, bottom, pw, py(0) - bottom, fillColor=BAND_SHADE, strokeColor=None))
    d.add(Rect(left, bottom, px(low) - left, ph, fillColor=BAND_SHADE, strokeColor=None))
    d.add(Rect(px(high), bottom, left + pw - px(high), ph, fillColor=BAND_SHADE, strokeColor=None))
    for v in range(-100, 101, 20):
        d.add(Line(left, py(v), left + pw, py(v), strokeColor=GRIDLINE, strokeWidth=0.4))
        d.add(_text(left - 4, py(v) - 2.5, str(v), anchor="end"))
    for v in range(0, 101, 10):
        d.add(Line(px(v), bottom, px(v), bottom + ph, strokeColor=GRIDLINE, strokeWidth=0.4))
        d.add(_text(px(v), bottom - 11, str(v)))
    d.add(Line(left, py(0), left + pw, py(0), strokeColor=AXIS, strokeWidth=0.9))
    for band in (low, high):
        d.add(_dashed(px(band), bottom, px(band), bottom + ph, ALERT, 0.8))
        d.add(_text(px(band), bottom + ph + 3, f"{band:g}", size=6.5, colour=ALERT))
    d.add(Rect(left, bottom, pw, ph, fillColor=None, strokeColor=AXIS, strokeWidth=0.8))
    d.add(_text(left + pw / 2, 4, "难度系数（通过率 %）", size=8.5))
    d.add(_text(left - 4, bottom + ph + 12, "区分度", size=8.5, anchor="end"))
    _legend(d, left + pw, bottom + ph + 12)

    plotted = [i for i in items if i.discrimination is not None]
    for item in sorted(plotted, key=lambda i: bool(i.flags)):  # flagged points drawn on top
        x, y = px(item.facility), py(item.discrimination or 0.0)
        if item.flags:
            d.add(Circle(x, y, 3.2, fillColor=ALERT, strokeColor=colors.white, strokeWidth=0.6))
        else:
            d.add(Circle(x, y, 2.6, fillColor=POINT, strokeColor=colors.white, strokeWidth=0.5))
    _point_labels(
        d, [(px(i.facility), py(i.discrimination or 0.0), i.label) for i in plotted if i.flags]
    )
    return d


def _legend(d: Any, right: float, y: float) -> None:
    size = 7.5
    entries = [("需关注的试题（已标注）", ALERT, 3.2), ("其他试题", POINT, 2.6)]
    x = right
    for text, colour, radius in entries:
        d.add(_text(x, y - 2.5, text, size=size, anchor="end"))
        x -= string_width(text, size) + 6
        d.add(Circle(x, y, radius, fillColor=colour, strokeColor=None))
        x -= 14


def _point_labels(d: Any, points_: list[tuple[float, float, str]]) -> None:
    """Each label beside its point where it overlaps neither the labels placed before it nor
    the drawing's edge (right, left, above, below; right if nothing fits)."""
    size = 6.5
    placed: list[tuple[float, float, float, float]] = []
    for x, y, label in points_:
        w, h = string_width(label, size), size
        options = [
            (x + 5, y - 2.2, "start"),
            (x - 5, y - 2.2, "end"),
            (x, y + 5, "middle"),
            (x, y - 5 - h + 1, "middle"),
        ]
        choice = options[0]
        for tx, ty, anchor in options:
            x0 = tx - {"start": 0, "end": w, "middle": w / 2}[anchor]
            box = (x0, ty - 1, x0 + w, ty + h)
            inside = box[0] >= 0 and box[2] <= d.width
            if inside and not any(_overlap(box, other) for other in placed):
                choice = (tx, ty, anchor)
                placed.append(box)
                break
        tx, ty, anchor = choice
        x0 = tx - {"start": 0, "end": w, "middle": w / 2}[anchor]
        d.add(Rect(x0 - 1, ty - 1.5, w + 2, h + 1, fillColor=LABEL_BACK, strokeColor=None))
        d.add(_text(tx, ty, label, size=size, anchor=anchor, colour=ALERT))


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# --- 试题分析表 --------------------------------------------------------------------------------

ITEM_HEADERS = [
    "试题",
    "题目编号",
    "题型",
    "满分",
    "作答人数",
    "通过率",
    "标准差",
    "区分度",
    "区分效率",
    "预期权重",
    "实际权重",
    "提示",
]
ITEM_WIDTHS = [24, 18, 8, 8, 12.5, 11, 11, 11, 12.5, 12.5, 12.5]
"""Widths in mm of every column but 提示, which takes the rest."""


def _item_table(items: Sequence[ItemRow]) -> list[Any]:
    story: list[Any] = [CondPageBreak(50 * mm), _heading("四、试题分析表")]
    if not items:
        return [*story, _note("本次考试没有可分析的试题数据。")]
    s = styles()
    small = s.cell.clone("certify-report-cell", fontSize=7.5, leading=9.5)
    small_centre = s.cell_centre.clone("certify-report-cell-centre", fontSize=7.5, leading=9.5)
    rows = [[Paragraph(h, small_centre) for h in ITEM_HEADERS]]
    shaded: list[Any] = []
    for n, item in enumerate(items, 1):
        texts = [
            markup(item.item_id),
            item.type.short_zh,
            points(item.max_points),
            str(item.attempts),
            number(item.facility),
            number(item.sd),
            number(item.discrimination),
            number(item.efficiency),
            number(item.intended_weight, 2),
            number(item.effective_weight, 2),
        ]
        flags = flag_names(item.flags)
        rows.append(
            [
                Paragraph(markup(item.label), small),
                *[Paragraph(t, small_centre) for t in texts],
                Paragraph(f'<font color="#b00000">{markup(flags)}</font>' if flags else "", small),
            ]
        )
        if item.flags:
            shaded.append(("BACKGROUND", (0, n), (-1, n), ALERT_SHADE))
    widths = [w * mm for w in ITEM_WIDTHS]
    widths.append(WIDTH - sum(widths))
    padding = [
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    flagged = sum(1 for i in items if i.flags)
    story += [
        _note(f"共 {len(items)} 题，其中 {flagged} 题需关注（红色底纹）。"),
        Spacer(1, 1.5 * mm),
        _grid(rows, widths, *padding, *shaded),
        Spacer(1, 1.5 * mm),
        _note(
            "通过率、标准差、区分度、区分效率均以百分数表示（按 Moodle 试题统计定义，按满分折算）；"
            "权重为该题在全卷中的占比（%）；“—”表示无法计算。"
            "提示：区分效率低 — 区分度远低于该题得分分布所能达到的最大值；负区分度 — 该题得分与其余题总分负相关；"
            "难度异常 — 通过率低于 5 或高于 95。"
        ),
    ]
    return story


# --- 平行卷比较 --------------------------------------------------------------------------------


def _forms(data: ExamReportData) -> list[Any]:
    story: list[Any] = [CondPageBreak(50 * mm), _heading("五、平行卷比较")]
    if not data.forms:
        return [*story, _note("无分卷成绩数据。")]
    rows = [_cells(["试卷", "考生人数", "平均分", "标准差"])]
    rows += [_form_row(f) for f in data.forms]
    story += [_grid(rows, [WIDTH / 4] * 4), Spacer(1, 2 * mm)]
    s = styles()
    if len(data.forms) < 2:
        story.append(Paragraph("仅有一套试卷，不作平行卷差异检验。", s.body))
    elif data.fairness_statistic is None:
        story.append(Paragraph("可比较的数据不足（每套至少两人且成绩有差异），未作检验。", s.body))
    else:
        story.append(
            Paragraph(
                f"Welch 方差分析（不假定方差相等）：F = {number(data.fairness_statistic, 2)}，"
                f"{p_value(data.fairness_p)}",
                s.body,
            )
        )
    if data.fairness_warning:
        story.append(
            Paragraph(
                '<font color="#b00000"><b>警告：各套试卷的成绩差异显著，平行卷可能不等值，'
                "请复核各卷难度与组卷蓝图，并审慎使用合格判定。</b></font>",
                s.body,
            )
        )
    elif len(data.forms) >= 2:
        story.append(Paragraph("各套试卷的成绩差异未达到警示标准。", s.body))
    return story


def _form_row(form: FormRow) -> list[Any]:
    return _cells(
        [markup(form_label(form.form)), str(form.candidates), number(form.mean), number(form.sd)]
    )


# --- 雷同卷检查 --------------------------------------------------------------------------------


def _similarity(data: ExamReportData) -> list[Any]:
    s = styles()
    threshold = f"z&nbsp;≥&nbsp;{number(data.similarity_threshold)}"
    story: list[Any] = [
        CondPageBreak(50 * mm),
        _heading("六、雷同卷检查"),
        Paragraph(
            "方法：错误相似性分析（Bellezza &amp; Bellezza, 1989），两份答卷相同的错误答案"
            "明显多于随机预期时列出；考生以匿名标识显示。",
            s.body,
        ),
        Paragraph(f"判定阈值：{threshold}。<b>{SIMILARITY_NOTE}</b>。", s.body),
        Spacer(1, 2 * mm),
    ]
    if not data.similar_pairs:
        return [*story, Paragraph(f"未发现可疑雷同（阈值 {threshold}）。", s.body)]
    rows = [
        _cells(["考生 A", "考生 B", "z 值", "相同错误答案数", "共同答错题数", "随机预期相同数"])
    ]
    rows += [_pair_row(p) for p in data.similar_pairs]
    story.append(_grid(rows, [WIDTH / 6] * 6))
    story.append(Spacer(1, 1.5 * mm))
    story.append(_note(f"共 {len(data.similar_pairs)} 对。"))
    return story


def _pair_row(pair: PairRow) -> list[Any]:
    return _cells(
        [
            markup(pair.a),
            markup(pair.b),
            number(pair.z, 2),
            str(pair.identical_wrong),
            str(pair.both_wrong),
            number(pair.expected, 2),
        ]
    )


# --- 项目反应理论 -------------------------------------------------------------------------------

FORM_COLOURS = [POINT, ALERT, colors.Color(0.2, 0.55, 0.3), colors.Color(0.55, 0.35, 0.7)]


def _irt(data: ExamReportData) -> list[Any]:
    story: list[Any] = [CondPageBreak(140 * mm), _heading("七、项目反应理论：测验信息与能力估计")]
    irt = data.irt
    if irt is None:
        return [
            *story,
            _note("本考试的试题尚未标定（certify irt calibrate），不显示测验信息曲线。"),
        ]
    scale = (
        "本次标定即为基准量尺"
        if irt.base_run_id is None
        else f"基准量尺为第 {irt.base_run_id} 次标定"
    )
    story.append(
        _note(
            f"参数来自第 {irt.run_id} 次标定（{scale}）。测验信息越高，该能力水平上的测量越精确；"
            "测量标准误 = 1/√信息量。能力估计为期望后验（EAP），θ 以基准组为均值 0、标准差 1。"
        )
    )
    story.append(information_drawing(irt, standard_error=False))
    story.append(information_drawing(irt, standard_error=True))
    rows = [_cells(["试卷", "考生人数", "平均能力 θ（EAP）", "平均标准误"])]
    for f in irt.forms:
        rows.append(
            _cells(
                [
                    markup(form_label(f.form)),
                    str(f.candidates),
                    number(f.ability_mean, 2),
                    number(f.ability_se, 2),
                ]
            )
        )
    story += [Spacer(1, 2 * mm), _grid(rows, [WIDTH / 4] * 4), Spacer(1, 2 * mm)]
    if irt.misfits:
        listed = "、".join(
            f"{markup(label)}（p = {number(p, 3)}）" for label, p in irt.misfits[:30]
        )
        more = f" 等 {len(irt.misfits)} 题" if len(irt.misfits) > 30 else ""
        story.append(
            _note(
                f'<font color="#b00000"><b>拟合不良的试题（S-X²，p &lt; 0.01）：{listed}{more}。'
                "模型不能很好地描述这些题的作答，其参数与基于它们的等值应审慎使用，请复核题目。</b></font>"
            )
        )
    else:
        story.append(_note("各题的模型拟合（S-X²，p ≥ 0.01）均未见异常。"))
    return story


METHOD_NAMES = {
    "equipercentile": "等百分位等值（随机等组）",
    "tucker": "Tucker 线性等值（锚题）",
    "levine": "Levine 线性等值（锚题）",
    "frequency-estimation": "频数估计等百分位等值（锚题）",
    "chained": "链式等百分位等值（锚题）",
}


def _equating(data: ExamReportData) -> list[Any]:
    story: list[Any] = [CondPageBreak(80 * mm), _heading("八、分数等值与合格判定")]
    eq = data.equating
    if eq is None:
        return [
            *story,
            _note("本场次的试卷尚未等值（certify irt equate），合格判定按各卷的原始合格分。"),
        ]
    rule = (
        f"按第 {eq.run_id} 次等值的等值合格分判定"
        if eq.rule == "equated"
        else "按原始分判定（各卷合格分相同）"
    )
    story.append(
        _note(
            f"合格判定规则：{rule}。第 {eq.run_id} 次等值采用"
            f"{METHOD_NAMES.get(eq.method, eq.method)}，以 {form_label(eq.reference_form)} "
            "为参照卷：下表为参照卷合格分在各卷上对应的原始分（± 自助法标准误）。"
        )
    )
    titles = {p.part: p.title for p in data.parts}
    rows = [_cells(["部分", "试卷", "考生人数", "共同题", "参照卷合格分", "等值合格分"])]
    for f in eq.forms:
        se = "" if f.se is None else f" ± {number(f.se, 2)}"
        rows.append(
            _cells(
                [
                    markup(titles.get(f.part, f.part)),
                    markup(form_label(f.form)),
                    str(f.candidates),
                    str(f.common_items),
                    number(f.pass_mark),
                    f"{number(f.equivalent, 2)}{se}",
                ]
            )
        )
    story += [Spacer(1, 2 * mm), _grid(rows, [WIDTH / 6] * 6), Spacer(1, 2 * mm)]
    differ = eq.raw_only + eq.equated_only
    story.append(
        _note(
            f"判定一致性：{eq.candidates} 名已评分考生中，两种规则下均合格 {eq.both_pass} 人、"
            f"均不合格 {eq.both_fail} 人，判定不同 {differ} 人"
            f"（{percent(eq.candidates - differ, eq.candidates)} 一致）：仅按原始分合格 "
            f"{eq.raw_only} 人，仅按等值分合格 {eq.equated_only} 人。"
        )
    )
    return story


def information_drawing(irt: IrtSummary, *, standard_error: bool, height: float = 62 * mm) -> Any:
    """Each form's test information (or its standard error 1/√I) against θ, one line per form."""
    register_fonts()
    d = Drawing(WIDTH, height, initialFontName=FONT_NAME)
    left, right, bottom, top = 34.0, 14.0, 28.0, 20.0
    pw: float = WIDTH - left - right
    ph: float = height - bottom - top
    theta = irt.theta
    curves = [
        [1 / math.sqrt(v) if v > 0 else float("inf") for v in f.information]
        if standard_error
        else list(f.information)
        for f in irt.forms
    ]
    finite = [v for c in curves for v in c if math.isfinite(v)]
    ceiling = min(max(finite) if finite else 1.0, 3.0) if standard_error else max(finite or [1.0])
    step = nice_step(ceiling * 10) / 10 if standard_error else nice_step(ceiling)
    ceiling = step * math.ceil(ceiling / step)

    def px(t: float) -> float:
        return left + pw * (t - theta[0]) / (theta[-1] - theta[0])

    def py(v: float) -> float:
        return bottom + ph * min(max(v, 0.0), ceiling) / ceiling

    tick = 0.0
    while tick <= ceiling + 1e-9:
        d.add(Line(left, py(tick), left + pw, py(tick), strokeColor=GRIDLINE, strokeWidth=0.4))
        d.add(_text(left - 4, py(tick) - 2.5, f"{tick:g}", anchor="end"))
        tick += step
    for t in range(math.ceil(theta[0]), math.floor(theta[-1]) + 1):
        d.add(Line(px(t), bottom, px(t), bottom + ph, strokeColor=GRIDLINE, strokeWidth=0.4))
        d.add(_text(px(t), bottom - 11, str(t)))
    d.add(Rect(left, bottom, pw, ph, fillColor=None, strokeColor=AXIS, strokeWidth=0.8))
    d.add(_text(left + pw / 2, 4, "能力 θ", size=8.5))
    d.add(
        _text(
            left - 4,
            bottom + ph + 8,
            "测量标准误" if standard_error else "测验信息",
            size=8.5,
            anchor="end",
        )
    )
    x_legend = left + pw
    for n, (form, curve) in enumerate(zip(irt.forms, curves, strict=True)):
        colour = FORM_COLOURS[n % len(FORM_COLOURS)]
        points_: list[float] = []
        for th, v in zip(theta, curve, strict=True):
            points_ += [px(th), py(v)]
        d.add(PolyLine(points_, strokeColor=colour, strokeWidth=1.4))
        label = form_label(form.form)
        d.add(_text(x_legend, bottom + ph + 8, label, size=7.5, anchor="end", colour=colour))
        x_legend -= string_width(label, 7.5) + 10
    return d
