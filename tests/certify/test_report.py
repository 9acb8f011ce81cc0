"""The exam statistics report: a real PDF, read back with poppler's command-line tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from certify.grading.report import (
    DASH,
    flag_names,
    histogram,
    nice_step,
    number,
    p_value,
    percent,
    render_exam_report,
)
from certify.infra.pdf import FONT_NAME
from schemas.enums import ItemType
from schemas.results import ExamReportData, FormRow, ItemRow, PairRow, PartSummary
from tests.pdf_tools import dark_share, pdf_pages, run, squeeze

WARNING = "警告：各套试卷的成绩差异显著"
FLAGGED_NEGATIVE = "A-07 AI-J-007"
FLAGGED_EASY = "B-03 AI-J-103"


# --- a realistic sitting, built by hand ------------------------------------------------------


def part(name: str, title: str, totals: np.ndarray[Any, Any], pass_mark: float = 60) -> PartSummary:
    values = [float(v) for v in totals]
    return PartSummary(
        part=name,
        title=title,
        total_points=100,
        pass_mark=pass_mark,
        mean=float(totals.mean()),
        sd=float(totals.std(ddof=1)),
        passed=int((totals >= pass_mark).sum()),
        totals=values,
    )


def item_rows(rng: np.random.Generator) -> list[ItemRow]:
    types = [ItemType.SINGLE] * 5 + [ItemType.MULTIPLE] * 2 + [ItemType.TRUE_FALSE] * 2
    plan: list[tuple[str, ItemType, float]] = [
        (f"A-{n:02d} AI-J-{n:03d}", t, 2.0 if t is not ItemType.TRUE_FALSE else 1.0)
        for n, t in enumerate(types, 1)
    ]
    plan += [
        (f"B-{n:02d} AI-J-{100 + n:03d}", t, p)
        for n, (t, p) in enumerate(
            [
                (ItemType.FILL, 5.0),
                (ItemType.FILL, 5.0),
                (ItemType.SUBJECTIVE, 20.0),
                (ItemType.SUBJECTIVE, 20.0),
                (ItemType.SUBJECTIVE, 25.0),
                (ItemType.SUBJECTIVE, 25.0),
            ],
            1,
        )
    ]
    total = sum(p for _, _, p in plan)
    rows = []
    for label, item_type, max_points in plan:
        facility = float(rng.uniform(35, 85))
        discrimination: float | None = float(rng.uniform(15, 55))
        efficiency: float | None = float(rng.uniform(25, 70))
        effective: float | None = float(100 * max_points / total * rng.uniform(0.7, 1.3))
        flags: list[str] = []
        if label == FLAGGED_NEGATIVE:
            discrimination, efficiency, effective = -12.4, -18.0, None
            flags = ["low_efficiency", "negative_discrimination"]
        if label == FLAGGED_EASY:
            facility, discrimination, efficiency = 97.3, 4.2, 8.1
            flags = ["low_efficiency", "facility_out_of_band"]
        rows.append(
            ItemRow(
                label=label,
                item_id=label.split()[1],
                type=item_type,
                max_points=max_points,
                attempts=312 if label.startswith("A") else 309,
                facility=facility,
                sd=float(rng.uniform(18, 48)),
                discrimination=discrimination,
                efficiency=efficiency,
                intended_weight=100 * max_points / total,
                effective_weight=effective,
                flags=flags,
            )
        )
    return rows


def sample_report() -> ExamReportData:
    rng = np.random.default_rng(20250601)
    n = 312
    theory = np.clip(np.round(rng.normal(68, 12, n) * 2) / 2, 0, 100)
    practical = np.clip(np.round(rng.normal(63, 15, n)), 0, 100)
    passed = int(((theory >= 60) & (practical >= 60)).sum())
    forms_of = np.array(["A"] * 160 + ["B"] * 152)
    both = theory + practical
    forms = [
        FormRow(
            form=f,
            candidates=int((forms_of == f).sum()),
            mean=float(both[forms_of == f].mean()),
            sd=float(both[forms_of == f].std(ddof=1)),
        )
        for f in ("A", "B")
    ]
    return ExamReportData(
        title="人工智能工程技术人员（初级）专业技术等级考试",
        sitting="2025 年第二批（2025-06-14）",
        occupation_name="人工智能工程技术人员",
        level_name="初级",
        generated_at="2025-06-20 09:30",
        candidates=n,
        passed=passed,
        parts=[
            part("theory", "理论知识", theory),
            part("practical", "专业能力", practical),
        ],
        items=item_rows(rng),
        cic=84.27,
        error_ratio=39.66,
        standard_error=7.913,
        kr20=0.8112,
        forms=forms,
        fairness_statistic=14.826,
        fairness_p=0.00014,
        fairness_warning=True,
        similar_pairs=[
            PairRow(a="C-0042", b="C-0187", z=6.31, identical_wrong=9, both_wrong=11, expected=2.74)
        ],
        similarity_threshold=5.0,
    )


def empty_report() -> ExamReportData:
    """A sitting with one form, no item statistics and no suspicious pairs; all-equal scores."""
    return ExamReportData(
        title="网络安全工程技术人员（中级）考试统计分析报告",
        sitting="2025 年补考",
        occupation_name="网络安全工程技术人员",
        level_name="中级",
        generated_at="2025-07-01 10:00",
        candidates=3,
        passed=3,
        parts=[
            PartSummary(
                part="theory",
                title="理论知识",
                total_points=100,
                pass_mark=60,
                mean=70,
                sd=0,
                passed=3,
                totals=[70, 70, 70],
            ),
            PartSummary(
                part="practical",
                title="专业能力",
                total_points=45,
                pass_mark=27,
                mean=0,
                sd=0,
                passed=0,
                totals=[],
            ),
        ],
        items=[],
        cic=0,
        error_ratio=100,
        standard_error=0,
        kr20=None,
        forms=[FormRow(form="A 卷", candidates=3, mean=70, sd=0)],
        fairness_statistic=None,
        fairness_p=None,
        fairness_warning=False,
        similar_pairs=[],
        similarity_threshold=5.0,
    )


# --- reading PDFs back -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_exam_report(sample_report(), tmp_path_factory.mktemp("report") / "report.pdf")


# --- the full report -------------------------------------------------------------------------


def test_report_has_every_section_and_chinese_labels(report_pdf: Path) -> None:
    pages = pdf_pages(report_pdf)
    text = squeeze("".join(pages))
    for needle in [
        "人工智能工程技术人员（初级）专业技术等级考试",
        "考试统计分析报告",
        "考试批次：2025年第二批（2025-06-14）",
        "生成时间：2025-06-2009:30",
        "一、总体情况",
        "内部一致性系数CIC84.3",
        "误差比ER39.7",
        "标准误SE7.91",
        "KR-200.81",
        "二、成绩分布",
        "分数",
        "人数",
        "合格分60",
        "三、难度与区分度",
        "难度系数（通过率%）",
        "区分度",
        "四、试题分析表",
        "区分效率",
        "预期权重",
        "实际权重",
        "负区分度",
        "区分效率低",
        "难度异常",
        "五、平行卷比较",
        "F=14.83，p<0.001",
        squeeze(WARNING),
        "六、雷同卷检查",
        "统计提示，不是结论，需人工复核",
        "z≥5.0",
    ]:
        assert needle in text, needle
    assert f"第1页共{len(pages)}页" in squeeze(pages[0])


def test_summary_figures_and_parts(report_pdf: Path) -> None:
    data = sample_report()
    first = squeeze(pdf_pages(report_pdf)[0])
    assert f"312{data.passed}{100 * data.passed / 312:.1f}%" in first
    for p in data.parts:
        assert f"{p.title}10060{p.mean:.1f}{p.sd:.1f}{p.passed}" in first


def test_item_rows_pair_and_forms_are_printed(report_pdf: Path) -> None:
    text = squeeze(run("pdftotext", "-layout", report_pdf, "-"))
    data = sample_report()
    for item in data.items:
        assert squeeze(item.label) in text, item.label
    # the negative item: undefined effective weight prints as a dash, flags in Chinese
    assert "-12.4-18.0" in text
    assert f"{DASH}区分效率低；负区分度" in text
    assert "C-0042C-01876.31911" in text
    a, b = data.forms
    assert f"A卷{a.candidates}{a.mean:.1f}{a.sd:.1f}" in text
    assert f"B卷{b.candidates}{b.mean:.1f}{b.sd:.1f}" in text


def test_flagged_items_are_labelled_on_the_scatter(report_pdf: Path) -> None:
    pages = pdf_pages(report_pdf)
    scatter = next(p for p in pages if "三、难度与区分度" in p)
    chart = squeeze(scatter.split("三、难度与区分度")[1].split("横轴")[0])
    assert squeeze(FLAGGED_NEGATIVE) in chart
    assert squeeze(FLAGGED_EASY) in chart
    assert "A-01AI-J-001" not in chart  # unflagged items are points without labels


def test_fonts_are_embedded(report_pdf: Path) -> None:
    rows = run("pdffonts", report_pdf).splitlines()[2:]
    assert rows, "no fonts listed"
    assert all(row.split()[-5] == "yes" for row in rows), rows
    assert any("WenQuanYi" in row or FONT_NAME in row for row in rows), rows


def test_histogram_page_is_drawn(report_pdf: Path, tmp_path: Path) -> None:
    pages = pdf_pages(report_pdf)
    page = next(n for n, text in enumerate(pages, 1) if "二、成绩分布" in text)
    share = dark_share(report_pdf, tmp_path / "histogram", page=page, dpi=40)
    assert 0.005 < share < 0.5, share


def test_empty_edge_case_renders(tmp_path: Path) -> None:
    pdf = render_exam_report(empty_report(), tmp_path / "empty.pdf")
    text = squeeze(run("pdftotext", "-layout", pdf, "-"))
    assert text.count("考试统计分析报告") >= 1
    assert "本次考试没有可分析的试题数据" in text
    assert "未发现可疑雷同" in text
    assert "仅有一套试卷" in text
    assert "无成绩数据" in text
    assert "KR-20—" in text
    assert squeeze(WARNING) not in text
    rows = run("pdffonts", pdf).splitlines()[2:]
    assert all(row.split()[-5] == "yes" for row in rows), rows


def test_two_forms_without_a_test_and_no_warning(tmp_path: Path) -> None:
    data = sample_report().model_copy(
        update={"fairness_statistic": None, "fairness_p": None, "fairness_warning": False}
    )
    text = squeeze(run("pdftotext", "-layout", render_exam_report(data, tmp_path / "r.pdf"), "-"))
    assert "未作检验" in text
    assert squeeze(WARNING) not in text


# --- small helpers ---------------------------------------------------------------------------


def test_histogram_bins_of_ten_points() -> None:
    h = histogram([0, 9.5, 10, 59.5, 60, 100, 100], 100)
    assert h.edges == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert h.counts == [2, 1, 0, 0, 0, 1, 1, 0, 0, 2]


def test_histogram_with_a_partial_last_bin_and_equal_scores() -> None:
    h = histogram([45, 45, 45], 45)
    assert h.edges == [0, 10, 20, 30, 40, 45]
    assert h.counts == [0, 0, 0, 0, 3]
    assert histogram([], 0).counts == [0]
    assert histogram([-3, 120], 30).counts == [1, 0, 1]


def test_number_formats() -> None:
    assert number(None) == DASH
    assert number(float("nan")) == DASH
    assert number(12.345) == "12.3"
    assert number(12.345, 2) == "12.35" or number(12.345, 2) == "12.34"
    assert number(-0.01) == "0.0"
    assert percent(1, 3) == "33.3%"
    assert percent(0, 0) == DASH
    assert p_value(0.00001) == "p < 0.001"
    assert p_value(0.0412) == "p = 0.041"
    assert p_value(None) == f"p = {DASH}"
    assert flag_names(["low_efficiency", "other"]) == "区分效率低；other"


def test_nice_step() -> None:
    assert nice_step(0) == 1
    assert nice_step(7) == 2
    assert nice_step(48) == 10
    assert nice_step(230) == 50
