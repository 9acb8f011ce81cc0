"""Printed tickets and room records: real PDFs read back with poppler, QR codes with zxing-cpp.

poppler turns the PDF into text and pixels and zxing-cpp reads the QR code off the picture, as
a phone at the door would; the text checks look for the masked ID number and never the full one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from certify.delivery.documents import (
    Incident,
    RoomReport,
    RoomRow,
    Ticket,
    admission_tickets_pdf,
    attendance,
    chinese_time,
    exam_rules,
    room_report_pdf,
)
from certify.registration.identity import mask_id_number
from schemas.enums import AttemptStatus, FinishReason, IncidentKind
from tests.pdf_tools import pdf_pages, run, squeeze

ID_NUMBER = "11010519491231002X"
"""GB 11643-1999's own example."""

START = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
"""09:00 in Beijing."""


def ticket(seat: int = 17, **changes: object) -> Ticket:
    t = Ticket(
        sitting_code="S2026-12",
        occupation_name="人工智能工程技术人员",
        level_name="初级",
        title="人工智能工程技术人员（初级）专业技术等级考试",
        candidate_name="阿卜杜热合曼·买买提依明",
        id_number_masked=mask_id_number(ID_NUMBER),
        admission_no=f"20261201{seat:05d}",
        session_code="S1-theory-am",
        part_title="理论知识",
        starts_at=START,
        duration_minutes=90,
        entry_minutes=15,
        handin_minutes=45,
        room_code="R01",
        room_name="信息楼 301 机房",
        seat=seat,
        institution="某评价机构",
    )
    return replace(t, **changes)  # type: ignore[arg-type]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def qr_texts(pdf: Path, page: int, tmp_path: Path) -> list[str]:
    """The QR codes zxing-cpp finds on ``page`` rendered at 150 dpi."""
    out = tmp_path / f"page{page}"
    run("pdftoppm", "-r", 150, "-png", "-f", page, "-l", page, "-singlefile", pdf, out)
    codes = zxingcpp.read_barcodes(Image.open(out.with_suffix(".png")))
    assert all(c.format == zxingcpp.BarcodeFormat.QRCode and c.valid for c in codes)
    return [c.text for c in codes]


# --- admission tickets -----------------------------------------------------------------------


def test_the_tickets_qr_code_holds_the_admission_number_and_nothing_else(tmp_path: Path) -> None:
    pdf = write(tmp_path, "ticket.pdf", admission_tickets_pdf([ticket()]))
    assert qr_texts(pdf, 1, tmp_path) == ["2026120100017"]


def test_a_ticket_prints_the_masked_id_number_never_the_full_one(tmp_path: Path) -> None:
    pdf = write(tmp_path, "ticket.pdf", admission_tickets_pdf([ticket()]))
    text = squeeze("".join(pdf_pages(pdf)))
    assert "110105********002X" in text
    assert ID_NUMBER not in text and ID_NUMBER[6:14] not in text
    assert ID_NUMBER.encode() not in pdf.read_bytes()


def test_a_ticket_refuses_an_id_number_that_is_not_masked() -> None:
    with pytest.raises(ValueError, match="masked"):
        ticket(id_number_masked=ID_NUMBER)


def test_a_ticket_prints_times_in_china_standard_time(tmp_path: Path) -> None:
    # The same instant given in New York time prints as Beijing time.
    new_york = START.astimezone(timezone(timedelta(hours=-5)))
    pdf = write(tmp_path, "ticket.pdf", admission_tickets_pdf([ticket(starts_at=new_york)]))
    text = squeeze("".join(pdf_pages(pdf)))
    assert "考试时间2026年12月5日09:00–10:30（北京时间）" in text
    assert "入场截止2026年12月5日09:15" in text
    assert "最早交卷2026年12月5日09:45" in text


def test_a_ticket_carries_its_particulars_and_the_rules_with_the_sessions_limits(
    tmp_path: Path,
) -> None:
    t = ticket()
    pdf = write(tmp_path, "ticket.pdf", admission_tickets_pdf([t]))
    text = squeeze("".join(pdf_pages(pdf)))
    for expected in [
        "准考证",
        "阿卜杜热合曼·买买提依明",
        "座位号17",
        "R01信息楼301机房",
        "考场规则",
    ]:
        assert expected in text
    for rule in exam_rules(t):
        assert squeeze(rule) in text
    assert "开考15分钟后不得入场" in text and "开考45分钟后方可交卷" in text


def test_a_rooms_batch_has_one_page_per_ticket_each_with_its_own_code(tmp_path: Path) -> None:
    tickets = [ticket(seat) for seat in (1, 2, 3)]
    pdf = write(tmp_path, "room.pdf", admission_tickets_pdf(tickets))
    pages = pdf_pages(pdf)
    assert len(pages) == 3
    for page, t in enumerate(tickets, start=1):
        assert qr_texts(pdf, page, tmp_path) == [t.admission_no]
        assert f"座位号{t.seat}" in squeeze(pages[page - 1])
        assert f"第{page}页共3页" in squeeze(pages[page - 1])


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        ticket(starts_at=datetime(2026, 12, 5, 9, 0))


def test_chinese_time_drops_leading_zeros_of_month_and_day_only() -> None:
    assert chinese_time(datetime(2026, 3, 7, 0, 5, tzinfo=UTC)) == "2026年3月7日 08:05"


# --- the room record -------------------------------------------------------------------------


STATUSES = [
    AttemptStatus.HANDED_IN,
    AttemptStatus.ABSENT,
    AttemptStatus.ACTIVE,
    AttemptStatus.WAITING,
]


def room_report(seats: int = 80) -> RoomReport:
    rows = tuple(
        RoomRow(
            seat=i,
            admission_no=f"20261201{i:05d}",
            name=f"考生{i:02d}",
            status=STATUSES[i % 4],
            signed_in_at=START + timedelta(minutes=2) if i % 4 in (0, 2) else None,
            handed_in_at=START + timedelta(minutes=80) if i % 4 == 0 else None,
            finish_reason=FinishReason.CANDIDATE if i % 4 == 0 else "",
            extra_minutes=10 if i == 5 else 0,
            events={"blur": 3, "paste": 1} if i == 6 else {},
        )
        for i in range(1, seats + 1)
    )
    incidents = (
        Incident(
            START + timedelta(minutes=20),
            None,
            IncidentKind.PAUSE,
            "停电 & 恢复 <15 分钟>",
            "王老师",
        ),
        Incident(
            START + timedelta(minutes=21), 5, IncidentKind.EXTRA_TIME, "设备故障补时", "王老师"
        ),
    )
    return RoomReport(
        session_code="S1-theory-am",
        title="人工智能工程技术人员（初级）",
        part_title="理论知识",
        room_code="R01",
        room_name="信息楼 301 机房",
        invigilators=("王老师", "李老师"),
        starts_at=START,
        duration_minutes=90,
        rows=rows,
        incidents=incidents,
    )


def test_a_long_room_spans_pages_with_the_header_row_on_each(tmp_path: Path) -> None:
    report = room_report(80)
    pages = [squeeze(p) for p in pdf_pages(write(tmp_path, "r.pdf", room_report_pdf(report)))]
    assert len(pages) >= 2
    with_rows = [p for p in pages if "2026120100" in p]
    assert len(with_rows) >= 2
    for page in with_rows:
        assert "座位准考证号姓名状态登录交卷交卷方式延时异常操作" in page
    everything = "".join(pages)
    for row in report.rows:
        assert row.admission_no in everything
    assert everything.count("2026120100080") == 1


def test_the_room_record_counts_attendance(tmp_path: Path) -> None:
    report = room_report(80)
    counts = attendance(report)
    # Of every four seats one hands in, one is marked absent, one answers, one never signs in.
    assert (counts.expected, counts.absent, counts.handed_in) == (80, 40, 20)
    assert counts.present == 40 and counts.not_handed_in == 20
    text = squeeze(pdf_pages(write(tmp_path, "r.pdf", room_report_pdf(report)))[0])
    assert "应到80人，实到40人，缺考40人，已交卷20人，未交卷20人" in text


def test_the_room_record_logs_incidents_and_ends_with_signature_lines(tmp_path: Path) -> None:
    pages = pdf_pages(write(tmp_path, "r.pdf", room_report_pdf(room_report(12))))
    text = squeeze("".join(pages))
    assert "09:20:00全场暂停停电&恢复<15分钟>王老师" in text
    assert "09:21:005延长时间设备故障补时王老师" in text
    last = squeeze(pages[-1])
    assert "监考员：王老师签名：" in last and "监考员：李老师签名：" in last
    assert "考点负责人签名" in last


def test_the_room_record_prints_times_in_china_standard_time(tmp_path: Path) -> None:
    text = squeeze("".join(pdf_pages(write(tmp_path, "r.pdf", room_report_pdf(room_report(8))))))
    assert "考试时间：2026年12月5日09:00–10:30" in text
    assert "2026120100004考生04已交卷09:02:0010:20:00考生交卷" in text
    assert "2026120100005考生05缺考10分" in text
    assert "切屏3粘贴1" in text


def test_rows_and_log_entries_take_plain_codes_and_refuse_unknown_ones() -> None:
    row = RoomRow(1, "2026120100001", "考生", "handed_in", finish_reason="deadline")
    assert row.status == AttemptStatus.HANDED_IN
    with pytest.raises(ValueError):
        RoomRow(1, "2026120100001", "考生", "finished")
    with pytest.raises(ValueError):
        Incident(START, None, "fire_drill", "", "王老师")


def test_a_room_without_incidents_says_so(tmp_path: Path) -> None:
    report = replace(room_report(3), incidents=())
    text = squeeze("".join(pdf_pages(write(tmp_path, "r.pdf", room_report_pdf(report)))))
    assert "考场情况记录无。" in text
