"""Printed papers of a computer-based session: admission tickets (准考证) and the room record
(考场记录).

Both are drawn from plain view objects (:class:`Ticket`, :class:`RoomReport`) that the service
fills once; fonts, styles, markup escaping and "第 x 页 共 y 页" come from
:mod:`certify.infra.pdf`. Every time is printed in China Standard Time (UTC+8, no daylight
saving since 1991) as ``2026年12月5日 09:00``.

A ticket never carries a full ID number: the caller passes it masked
(:func:`certify.registration.identity.mask_id_number`), and its QR code holds the admission
number only — no name, no ID number — so a photographed ticket gives nothing away. The room
record is internal (full names) and ends with the invigilators' signature lines; statuses,
finish reasons and incident kinds print their labels from :mod:`schemas.enums`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, PageBreak, Paragraph, Spacer, Table

from certify.infra.pdf import (
    MARGIN,
    build_bytes,
    draw_footer,
    markup,
    page_of,
    spaced,
    styles,
    table_style,
)
from schemas.enums import AttemptStatus, FinishReason, IncidentKind
from schemas.reference import CST

WIDTH = 210 * mm - 2 * MARGIN - 12
"""Width inside the text frame of an A4 page (the frame pads 6 pt on each side)."""

QR_SIDE = 38 * mm
"""Side of a ticket's QR code, its quiet zone included."""

PROGRAMME = "数字技术工程师培育项目"

GRID = colors.Color(0.55, 0.55, 0.55)
SHADE = colors.Color(0.92, 0.92, 0.92)

EVENT_LABELS = {"blur": "切屏", "paste": "粘贴", "fullscreen_exit": "退出全屏"}
"""Counted client events, in the order the record prints them."""


def chinese_time(moment: datetime) -> str:
    """``2026年12月5日 09:00`` in China Standard Time; ``moment`` must be timezone-aware."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no zone to convert from")
    local = moment.astimezone(CST)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def clock(moment: datetime | None) -> str:
    """``09:03:12`` in China Standard Time, "" for none."""
    return "" if moment is None else f"{moment.astimezone(CST):%H:%M:%S}"


# --- admission tickets -----------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    """准考证 of one candidate for one session. ``id_number_masked`` is masked by the caller
    (:func:`~certify.registration.identity.mask_id_number`); a number without ``*`` is refused."""

    sitting_code: str
    occupation_name: str
    level_name: str
    title: str
    candidate_name: str
    id_number_masked: str
    admission_no: str
    session_code: str
    part_title: str
    starts_at: datetime
    duration_minutes: int
    entry_minutes: int
    handin_minutes: int
    room_code: str
    room_name: str
    seat: int
    institution: str

    def __post_init__(self) -> None:
        if "*" not in self.id_number_masked:
            raise ValueError("a ticket takes a masked ID number only")
        if self.starts_at.tzinfo is None:
            raise ValueError("starts_at must be timezone-aware")

    def at(self, minutes: int) -> datetime:
        return self.starts_at + timedelta(minutes=minutes)


def exam_rules(ticket: Ticket) -> list[str]:
    """考场规则 printed on the ticket, with its session's entry and hand-in limits."""
    return [
        "考生须于开考前 30 分钟到达考场，凭本准考证和本人有效居民身份证入场，"
        "按座位号就座，并将两证放在桌面左上角备查。",
        f"开考 {ticket.entry_minutes} 分钟后不得入场（经监考员准许的迟到考生除外，"
        f"迟到不延长考试时间）；开考 {ticket.handin_minutes} 分钟后方可交卷离场。",
        "手机、智能手表、耳机等电子设备须关机并存放在指定位置；书籍、笔记和任何资料不得带至座位。",
        "开考时监考员宣读考场码，登录考试系统须输入准考证号、身份证号和考场码；考场码不得告知他人。",
        "只使用分配给本座位的一台计算机作答，不得关闭浏览器、退出全屏或切换到其他程序；"
        "答案随时自动保存，设备或网络出现故障请举手示意监考员。",
        "考试时间以系统倒计时为准，时间到时系统自动交卷；交卷后不得再次登录作答。",
        "考试期间不得交谈、窥视他人屏幕或传递物品；切屏、粘贴等操作由系统自动记录。",
        "违反考场纪律的，监考员将如实记入考场记录，并按有关规定处理。",
    ]


def ticket_fields(ticket: Ticket) -> list[tuple[str, str]]:
    """The particulars printed on the ticket: label and value."""
    end = ticket.at(ticket.duration_minutes)
    return [
        ("姓名", ticket.candidate_name),
        ("身份证号", ticket.id_number_masked),
        ("准考证号", ticket.admission_no),
        ("职业", ticket.occupation_name),
        ("等级", ticket.level_name),
        ("考试科目", ticket.part_title),
        ("考试时间", f"{chinese_time(ticket.starts_at)}–{end.astimezone(CST):%H:%M}（北京时间）"),
        ("考试时长", f"{ticket.duration_minutes} 分钟"),
        ("入场截止", chinese_time(ticket.at(ticket.entry_minutes))),
        ("最早交卷", chinese_time(ticket.at(ticket.handin_minutes))),
        ("考场", f"{ticket.room_code} {ticket.room_name}".strip()),
        ("座位号", str(ticket.seat)),
        ("场次", f"{ticket.sitting_code} / {ticket.session_code}"),
        ("考试机构", ticket.institution),
    ]


def admission_tickets_pdf(tickets: Sequence[Ticket]) -> bytes:
    """The tickets as an A4 PDF, one page each, in the order given (a room's batch: sort by
    seat; one candidate's file: one ticket). Raises ValueError for no tickets."""
    if not tickets:
        raise ValueError("no tickets to print")

    def story() -> list[Any]:
        pages: list[Any] = []
        for ticket in tickets:
            pages += [*_ticket_page(ticket), PageBreak()]
        return pages[:-1]

    def footer(canvas: Any, page: int, count: int) -> None:
        t = tickets[page - 1]
        where = f"{t.session_code} · {t.room_code} · 座位 {t.seat}"
        draw_footer(canvas, f"准考证号 {t.admission_no}", page_of(page, count), where)

    first = tickets[0]
    return build_bytes(story, footer, title=f"准考证 {first.title}", subject="准考证")


class QrCode(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """A QR code (error correction M, four-module quiet zone) ``side`` square, drawn as vector
    squares so it prints sharp."""

    def __init__(self, data: str, side: float) -> None:
        super().__init__()
        code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
        code.add_data(data)
        code.make(fit=True)
        self.matrix: list[list[bool]] = code.get_matrix()
        self.side = side

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.side, self.side

    def draw(self) -> None:
        count = len(self.matrix)
        module = self.side / count
        path = self.canv.beginPath()
        for r, row in enumerate(self.matrix):
            c = 0
            while c < count:
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < count and row[c]:
                    c += 1
                # One rectangle per horizontal run: no seams between neighbouring modules.
                path.rect(start * module, (count - 1 - r) * module, (c - start) * module, module)
        self.canv.setFillColor(colors.black)
        self.canv.drawPath(path, stroke=0, fill=1)


def _ticket_page(ticket: Ticket) -> list[Any]:
    s = styles()
    label, value = s.cell, s.body
    rows = [
        [Paragraph(markup(name), label), Paragraph(markup(text), value)]
        for name, text in ticket_fields(ticket)
    ]
    particulars = Table(
        rows,
        colWidths=[22 * mm, WIDTH - QR_SIDE - 30 * mm],
        style=table_style(
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LINEBELOW", (0, 0), (-1, -1), 0.3, GRID),
            ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ),
    )
    caption = Paragraph(markup(f"准考证号\n{ticket.admission_no}"), s.cell_centre)
    beside = Table(
        [[particulars, [QrCode(ticket.admission_no, QR_SIDE), caption]]],
        colWidths=[WIDTH - QR_SIDE - 8 * mm, QR_SIDE + 8 * mm],
        style=table_style(
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("ALIGN", (1, 0), (1, 0), "CENTER"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ),
    )
    rules = [
        Paragraph(markup(f"{n}. {rule}"), s.hanging)
        for n, rule in enumerate(exam_rules(ticket), start=1)
    ]
    return [
        Paragraph(markup(PROGRAMME), s.subtitle),
        Paragraph(markup("准 考 证"), s.title),
        Paragraph(markup(ticket.title), s.subtitle),
        Spacer(1, 5 * mm),
        beside,
        Spacer(1, 4 * mm),
        Paragraph(markup("考场规则"), s.heading),
        *rules,
    ]


# --- the room record -------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomRow:
    """One seat in the room record. ``status`` is an :class:`~schemas.enums.AttemptStatus`
    value, ``finish_reason`` a :class:`~schemas.enums.FinishReason` value or "" (plain strings
    or the enums themselves); an unknown value raises ValueError."""

    seat: int
    admission_no: str
    name: str
    status: str
    signed_in_at: datetime | None = None
    handed_in_at: datetime | None = None
    finish_reason: str = ""
    extra_minutes: int = 0
    events: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        AttemptStatus(self.status)
        if self.finish_reason:
            FinishReason(self.finish_reason)


@dataclass(frozen=True)
class Incident:
    """One entry of the incident log; ``seat`` None for the whole room (全场), ``kind`` an
    :class:`~schemas.enums.IncidentKind` value (an unknown one raises ValueError)."""

    at: datetime
    seat: int | None
    kind: str
    note: str
    actor: str

    def __post_init__(self) -> None:
        IncidentKind(self.kind)


@dataclass(frozen=True)
class RoomReport:
    """考场记录 of one room in one session."""

    session_code: str
    title: str
    part_title: str
    room_code: str
    room_name: str
    invigilators: tuple[str, ...]
    starts_at: datetime
    duration_minutes: int
    rows: tuple[RoomRow, ...]
    incidents: tuple[Incident, ...] = ()


@dataclass(frozen=True)
class Attendance:
    """应到 / 实到 / 缺考 / 已交卷 / 未交卷 of a room."""

    expected: int
    present: int
    absent: int
    handed_in: int
    not_handed_in: int


def attendance(report: RoomReport) -> Attendance:
    """The room's head counts: every row is expected, those who signed in (answering or
    handed in) are present, the rest absent (marked so or never signed in)."""
    statuses = [row.status for row in report.rows]
    handed_in = statuses.count(AttemptStatus.HANDED_IN)
    present = handed_in + statuses.count(AttemptStatus.ACTIVE)
    return Attendance(
        len(statuses), present, len(statuses) - present, handed_in, present - handed_in
    )


def attendance_line(counts: Attendance) -> str:
    return (
        f"应到 {counts.expected} 人，实到 {counts.present} 人，缺考 {counts.absent} 人，"
        f"已交卷 {counts.handed_in} 人，未交卷 {counts.not_handed_in} 人"
    )


def events_text(events: Mapping[str, int]) -> str:
    """``切屏 2 粘贴 1``: the non-zero counts, known kinds first."""
    kinds = [*EVENT_LABELS, *sorted(set(events) - set(EVENT_LABELS))]
    return " ".join(f"{EVENT_LABELS.get(k, k)} {events[k]}" for k in kinds if events.get(k))


def room_report_pdf(report: RoomReport) -> bytes:
    """考场记录 of ``report`` as an A4 PDF: particulars, head counts, the seats (header repeated
    on every page), the incident log and the invigilators' signature lines."""

    def footer(canvas: Any, page: int, count: int) -> None:
        left = f"考场记录 · {report.session_code} · {report.room_code}"
        draw_footer(canvas, left, page_of(page, count), "内部资料 注意保密")

    return build_bytes(
        lambda: _report_story(report),
        footer,
        title=f"考场记录 {report.session_code} {report.room_code}",
        subject="考场记录",
    )


SEAT_HEADER = ["座位", "准考证号", "姓名", "状态", "登录", "交卷", "交卷方式", "延时", "异常操作"]
SEAT_WIDTHS = [10, 27, 22, 13, 16, 16, 20, 10, 36]
INCIDENT_HEADER = ["时间", "座位", "类型", "记录", "记录人"]
INCIDENT_WIDTHS = [16, 12, 26, 96, 20]


def _report_story(report: RoomReport) -> list[Any]:
    s = styles()
    end = report.starts_at + timedelta(minutes=report.duration_minutes)
    particulars = [
        ("场次", report.session_code),
        ("考场", f"{report.room_code} {report.room_name}".strip()),
        ("考试时间", f"{chinese_time(report.starts_at)}–{end.astimezone(CST):%H:%M}"),
        ("监考员", "、".join(report.invigilators) or "（未指派）"),
    ]
    return [
        Paragraph(markup("考 场 记 录"), s.title),
        Paragraph(markup(f"{report.title} {report.part_title}".strip()), s.subtitle),
        Spacer(1, 3 * mm),
        _grid(
            [[f"{k}：{v}" for k, v in particulars[:2]], [f"{k}：{v}" for k, v in particulars[2:]]]
        ),
        Spacer(1, 3 * mm),
        Paragraph(markup(attendance_line(attendance(report))), s.body),
        Paragraph(markup("考生情况"), s.heading),
        _table(SEAT_HEADER, [_seat_cells(row) for row in report.rows], SEAT_WIDTHS),
        Paragraph(markup("考场情况记录"), s.heading),
        _table(INCIDENT_HEADER, [_incident_cells(i) for i in report.incidents], INCIDENT_WIDTHS)
        if report.incidents
        else Paragraph(markup("无。"), s.body),
        Spacer(1, 10 * mm),
        *_signatures(report.invigilators),
    ]


def _seat_cells(row: RoomRow) -> list[str]:
    return [
        str(row.seat),
        row.admission_no,
        row.name,
        AttemptStatus(row.status).zh,
        clock(row.signed_in_at),
        clock(row.handed_in_at),
        FinishReason(row.finish_reason).zh if row.finish_reason else "",
        f"{row.extra_minutes} 分" if row.extra_minutes else "",
        events_text(row.events),
    ]


def _incident_cells(incident: Incident) -> list[str]:
    return [
        clock(incident.at),
        "全场" if incident.seat is None else str(incident.seat),
        IncidentKind(incident.kind).zh,
        incident.note,
        incident.actor,
    ]


def _grid(texts: list[list[str]]) -> Any:
    s = styles()
    cells = [[Paragraph(markup(t), s.body) for t in row] for row in texts]
    return Table(
        cells, colWidths=[WIDTH / 2] * 2, style=table_style(("LEFTPADDING", (0, 0), (-1, -1), 0))
    )


def _table(header: list[str], rows: list[list[str]], widths: Sequence[float]) -> Any:
    """A gridded table whose shaded header row repeats on every page it spans."""
    s = styles()
    cells = [[Paragraph(markup(h), s.cell_centre) for h in header]]
    cells += [[Paragraph(markup(text), s.cell) for text in row] for row in rows]
    return Table(
        cells,
        colWidths=[w * WIDTH / sum(widths) for w in widths],
        repeatRows=1,
        style=table_style(
            ("GRID", (0, 0), (-1, -1), 0.4, GRID),
            ("BACKGROUND", (0, 0), (-1, 0), SHADE),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ),
    )


def _signatures(invigilators: tuple[str, ...]) -> list[Any]:
    """A signature line for each invigilator (two at least), then the centre's head."""
    s = styles()
    line = "_" * 18
    names = [*invigilators, *[""] * (2 - len(invigilators))]
    out: list[Any] = []
    for name in names:
        out += [Paragraph(spaced(f"监考员：{name or line}", f"签名：{line}", gap=8), s.body)]
        out.append(Spacer(1, 5 * mm))
    out.append(Paragraph(spaced(f"考点负责人签名：{line}", f"日期：{line}", gap=8), s.body))
    return out
