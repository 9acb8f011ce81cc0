"""Printed papers and answer keys: real PDFs, read back with poppler's command-line tools."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from certify.infra.pdf import FONT_NAME, markup, register_fonts
from question_bank.render import (
    answer_text,
    chinese_numeral,
    form_label,
    render_key,
    render_paper,
    section_heading,
)
from schemas.enums import ItemType, Level
from schemas.papers import PaperPart, PaperQuestion, PaperView
from schemas.reference import get_occupation
from tests.pdf_tools import dark_share, pdf_pages, run, squeeze

TRICKY_STEM = "阅读下列 HTML 片段：\n<b>粗体</b> & <i>斜体</i>\n浏览器渲染后，“&”与“<”应如何转义？"
LABEL = "C-2025-0007（种子 4242）"


# --- a realistic paper, built by hand --------------------------------------------------------


def question(number: int, part: str, item_type: ItemType, **fields: Any) -> PaperQuestion:
    """One printed question; identity option map, ids derived from the number."""
    options: dict[str, str] = fields.pop("options", {})
    values: dict[str, Any] = {
        "number": number,
        "part": part,
        "type": item_type,
        "item_id": f"AI-J-{number:03d}",
        "item_version": 2 if number % 2 else 1,
        "item_version_pk": 100 + number,
        "knowledge_area": "4",
        "options": options,
        "option_map": {letter: letter for letter in options},
        "difficulty": 0.4,
        **fields,
    }
    return PaperQuestion(**values)


def theory_questions() -> list[PaperQuestion]:
    t = "theory"
    return [
        question(
            1,
            t,
            ItemType.SINGLE,
            stem="在类别不平衡的二分类任务中，下列哪个指标比准确率更能反映模型效果？",
            options={"A": "准确率", "B": "F1 值", "C": "均方误差", "D": "决定系数"},
            key="B",
            points=2,
        ),
        question(
            2,
            t,
            ItemType.SINGLE,
            knowledge_area="2",
            stem=TRICKY_STEM,
            options={
                "A": "& 写作 &amp;，< 写作 &lt;",
                "B": "无需转义",
                "C": "一律删除",
                "D": "改用全角",
            },
            key="A",
            points=2,
        ),
        question(
            3,
            t,
            ItemType.SINGLE,
            stem="训练深度神经网络时出现梯度消失，最直接有效的做法是？",
            options={
                "A": "将所有隐藏层的激活函数由 Sigmoid 改为 ReLU，并配合合适的权重初始化方法",
                "B": "把学习率提高十倍以加快参数更新，使网络尽快越过平坦区域",
                "C": "删除验证集，把全部样本都用于训练，以增加每轮迭代的数据量",
            },
            key="A",
            points=2,
        ),
        question(
            4,
            t,
            ItemType.MULTIPLE,
            knowledge_area="3",
            stem="下列方法中，可用于处理数据集中缺失值的有？",
            options={
                "A": "删除样本",
                "B": "均值填充",
                "C": "随机替换",
                "D": "模型预测填充",
                "E": "中位数填充",
            },
            key="ABDE",
            points=3,
        ),
        question(
            5,
            t,
            ItemType.MULTIPLE,
            stem="下列属于集成学习方法的有？",
            options={"A": "Bagging", "B": "Boosting", "C": "Stacking", "D": "K-Means"},
            key="ABC",
            points=3,
        ),
        question(
            6,
            t,
            ItemType.TRUE_FALSE,
            knowledge_area="1",
            stem="依据《个人信息保护法》，处理敏感个人信息应当取得个人的单独同意。",
            key="T",
            points=1,
        ),
        question(
            7,
            t,
            ItemType.TRUE_FALSE,
            stem="K 折交叉验证中，K 越大，模型的训练时间一定越短。",
            key="F",
            points=1,
        ),
        question(
            8,
            t,
            ItemType.FILL,
            knowledge_area="2",
            stem="Python 中获取列表长度的内置函数是 ______，创建整数序列的内置函数是 ______。",
            key="len|len();range|range()",
            points=2,
        ),
        question(
            9,
            t,
            ItemType.FILL,
            stem="将数据按 7:3 划分为训练集与 ______ 集，是评估模型泛化能力的常用做法。",
            key="测试|验证",
            points=2,
        ),
    ]


def practical_questions() -> list[PaperQuestion]:
    p = "practical"
    return [
        question(
            10,
            p,
            ItemType.SUBJECTIVE,
            knowledge_area="5",
            stem="某图像分类模型训练集准确率 99%，验证集准确率 72%。\n请分析原因并给出至少三种改进措施。",
            key="过拟合；可采用数据增强、正则化（L2、Dropout）、早停、增加训练数据等。",
            rubric="1. 判断为过拟合并说明依据（4分）；2. 每给出一种合理的改进措施得 2 分，最多 6 分",
            points=10,
        ),
        question(
            11,
            p,
            ItemType.SUBJECTIVE,
            knowledge_area="8",
            stem="请写出将训练好的模型封装为 HTTP 推理服务的主要步骤，并说明如何进行压力测试。",
            key="导出模型；编写推理接口；容器化部署；用压测工具逐级加压并记录延迟与吞吐。",
            rubric="步骤完整（6分）；压测方法与指标合理（4分）",
            points=10,
        ),
    ]


def sample_paper(candidate_label: str = "", theory: list[PaperQuestion] | None = None) -> PaperView:
    """A two-part ai/junior paper: theory (objective types) and practical (subjective)."""
    theory = theory_questions() if theory is None else theory
    practical = practical_questions()
    return PaperView(
        code="AI-J-2025-A",
        blueprint_code="ai-junior-2025",
        title="人工智能工程技术人员（初级）专业技术等级考试",
        occupation="ai",
        occupation_name="人工智能工程技术人员",
        level=Level.JUNIOR,
        level_name="初级",
        form="A",
        seed=20250601,
        instructions=[
            "本试卷分理论知识、专业能力两部分，请核对试卷编号与答题卡是否一致。",
            "选择题、判断题和填空题请在答题卡上作答，写在试卷上无效。",
            "考试结束后，试卷与答题卡一并交回，不得带出考场。",
        ],
        parts=[
            PaperPart(
                part="theory",
                title="第一部分 理论知识",
                total_points=sum(q.points for q in theory),
                pass_mark=11,
                time_limit_minutes=90,
                questions=theory,
            ),
            PaperPart(
                part="practical",
                title="第二部分 专业能力",
                total_points=20,
                pass_mark=12,
                time_limit_minutes=120,
                questions=practical,
            ),
        ],
        candidate_label=candidate_label,
        candidate_seed=4242 if candidate_label else None,
    )


# --- reading PDFs back -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def paper_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_paper(sample_paper(), tmp_path_factory.mktemp("paper") / "paper.pdf")


@pytest.fixture(scope="module")
def key_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_key(sample_paper(), tmp_path_factory.mktemp("key") / "key.pdf")


# --- the paper -------------------------------------------------------------------------------


def test_paper_shows_header_sections_questions_and_answer_sheet(paper_pdf: Path) -> None:
    pages = pdf_pages(paper_pdf)
    text = squeeze("".join(pages))
    for needle in [
        "人工智能工程技术人员（初级）专业技术等级考试",
        "职业：人工智能工程技术人员",
        "等级：初级",
        "A卷",
        "考试时间90分钟",
        "考试时间120分钟",
        "考生须知",
        "1.本试卷分理论知识、专业能力两部分",
        "姓名",
        "准考证号",
        "考场",
        "第一部分理论知识",
        "第二部分专业能力",
        "一、单项选择题（每题2分，共6分）",
        "二、多项选择题（每题3分，共6分）",
        "三、判断题（每题1分，共2分）",
        "四、填空题（每题2分，共4分）",
        "一、简答/实操题（每题10分，共20分）",
        "1.在类别不平衡的二分类任务中",
        "B.F1值",
        "D.K-Means",
        "内置函数是______",
        "答题卡",
        "第1页共",
        "试卷编号：AI-J-2025-A",
    ]:
        assert needle in text, needle
    assert f"第{len(pages)}页共{len(pages)}页" in text
    assert re.search(r"单独同意。（1分）\s*（\s+）", "".join(pages))  # true/false answer bracket


def test_paper_escapes_markup_and_keeps_line_breaks(paper_pdf: Path) -> None:
    lines = [line.strip() for page in pdf_pages(paper_pdf) for line in page.splitlines()]
    tricky = next(n for n, line in enumerate(lines) if "<b>粗体</b>" in line)
    assert squeeze(lines[tricky]) == squeeze("<b>粗体</b> & <i>斜体</i>")
    assert lines[tricky - 1].endswith("阅读下列 HTML 片段：")
    assert "& 写作 &amp;，< 写作 &lt;" in "\n".join(lines)


def test_every_page_is_numbered_out_of_the_total(tmp_path: Path) -> None:
    many = [
        question(
            n,
            "theory",
            ItemType.SINGLE,
            stem=f"第 {n} 道单选题的题干。",
            key="A",
            points=1,
            options={"A": "甲", "B": "乙", "C": "丙", "D": "丁"},
        )
        for n in range(1, 121)
    ]
    pages = pdf_pages(render_paper(sample_paper(theory=many), tmp_path / "long.pdf"))
    assert len(pages) > 3
    for n, page in enumerate(pages, 1):
        assert f"第{n}页共{len(pages)}页" in squeeze(page)


def test_answer_sheet_starts_a_page_and_lists_every_question(paper_pdf: Path) -> None:
    pages = pdf_pages(paper_pdf)
    first = next(n for n, page in enumerate(pages) if squeeze(page).startswith("答题卡"))
    assert first > 0
    sheet = "\n".join(pages[first:])
    assert "试卷编号：AI-J-2025-A" in squeeze(sheet)
    for q in sample_paper().questions:
        if q.type.has_options:
            boxes = r"\s*".join(rf"\[{letter}\]" for letter in q.options)
            pattern = rf"(?<!\d){q.number}\s+{boxes}(?!\s*\[[A-H]\])"
        elif q.type is ItemType.TRUE_FALSE:
            pattern = rf"(?<!\d){q.number}\s+\[√\]\s*\[×\]"
        elif q.type is ItemType.FILL:
            pattern = rf"(?<!\d){q.number}\s+\(1\)_+"
        else:
            pattern = rf"(?<!\d){q.number}\s+见试卷答题区"
        assert re.search(pattern, sheet), f"question {q.number} is missing from the answer sheet"
    assert re.search(r"(?<!\d)8\s+\(1\)_+\s*\(2\)_+", sheet)


def test_candidate_label_is_shown_only_on_a_candidate_copy(tmp_path: Path) -> None:
    copy = squeeze("".join(pdf_pages(render_paper(sample_paper(LABEL), tmp_path / "c.pdf"))))
    assert squeeze(LABEL) in copy
    key = squeeze("".join(pdf_pages(render_key(sample_paper(LABEL), tmp_path / "k.pdf"))))
    assert squeeze(LABEL) in key
    form = squeeze("".join(pdf_pages(render_paper(sample_paper(), tmp_path / "f.pdf"))))
    assert "考生试卷标识" not in form


# --- the key ---------------------------------------------------------------------------------


def test_key_lists_answers_item_ids_rubrics_and_subtotals(key_pdf: Path) -> None:
    text = squeeze("".join(pdf_pages(key_pdf)))
    area = get_occupation("ai").area("4")
    assert area is not None
    for needle in [
        "机密·仅供评价机构使用",
        "参考答案与评分标准",
        "A卷",
        "试卷编号：AI-J-2025-A",
        "题号",
        "题目编号",
        "知识领域",
        "AI-J-001v2",
        "AI-J-004v1",
        f"4{area.name_zh}",
        "ABDE",
        "ABC",
        "正确",
        "错误",
        "len或len()；range或range()",
        "测试或验证",
        "第10题参考答案：过拟合",
        "判断为过拟合并说明依据（4分）",
        "压测方法与指标合理（4分）",
        "本部分小计18分",
        "本部分小计20分",
        "全卷合计38分",
    ]:
        assert needle in text, needle


# --- what both files are made of -------------------------------------------------------------


def test_fonts_are_embedded(paper_pdf: Path, key_pdf: Path) -> None:
    for pdf in (paper_pdf, key_pdf):
        rows = run("pdffonts", pdf).splitlines()[2:]
        assert rows, "no fonts listed"
        assert all(row.split()[-5] == "yes" for row in rows), rows
        assert any("WenQuanYi" in row or FONT_NAME in row for row in rows), rows


def test_first_pages_are_not_blank(paper_pdf: Path, key_pdf: Path, tmp_path: Path) -> None:
    for pdf in (paper_pdf, key_pdf):
        share = dark_share(pdf, tmp_path / pdf.stem)
        assert 0.005 < share < 0.5, share


# --- small helpers ---------------------------------------------------------------------------


def test_font_registration_is_idempotent() -> None:
    assert register_fonts() == register_fonts() == FONT_NAME


def test_markup_escapes_and_keeps_lines() -> None:
    assert markup("a < b & c > d\n  e") == "a &lt; b &amp; c &gt; d<br/>&nbsp;&nbsp;e"


@pytest.mark.parametrize(
    ("n", "numeral"), [(1, "一"), (9, "九"), (10, "十"), (12, "十二"), (20, "二十"), (35, "三十五")]
)
def test_chinese_numerals(n: int, numeral: str) -> None:
    assert chinese_numeral(n) == numeral


def test_form_label_adds_juan_once() -> None:
    assert form_label("A") == "A 卷"
    assert form_label("B 卷") == "B 卷"


def test_section_heading_with_mixed_points() -> None:
    qs = [
        question(
            1, "t", ItemType.SINGLE, stem="x", key="A", points=1, options={"A": "a", "B": "b"}
        ),
        question(
            2, "t", ItemType.SINGLE, stem="y", key="A", points=1.5, options={"A": "a", "B": "b"}
        ),
    ]
    assert section_heading(2, (ItemType.SINGLE, qs)) == "二、单项选择题（共 2 题，2.5 分）"


def test_answer_text_per_type() -> None:
    theory = {q.number: q for q in theory_questions()}
    assert answer_text(theory[4]) == "ABDE"
    assert answer_text(theory[6]) == "正确（√）"
    assert answer_text(theory[7]) == "错误（×）"
    assert answer_text(theory[8]) == "len 或 len()；range 或 range()"


def test_a_marking_scheme_longer_than_a_page_follows_the_table(tmp_path: Path) -> None:
    long_rubric = "；".join(f"第 {n} 个评分要点：说明清楚得 1 分" for n in range(1, 200))
    view = sample_paper()
    practical = view.parts[1]
    huge = practical.questions[0].model_copy(update={"rubric": long_rubric})
    parts = [view.parts[0], practical.model_copy(update={"questions": [huge]})]
    pages = pdf_pages(render_key(view.model_copy(update={"parts": parts}), tmp_path / "k.pdf"))
    text = squeeze("".join(pages))
    assert "见本部分表后参考答案与评分标准" in text
    assert "第199个评分要点" in text and len(pages) > 1


def test_the_same_paper_gives_the_same_bytes(tmp_path: Path) -> None:
    first = render_key(sample_paper(), tmp_path / "1.pdf").read_bytes()
    assert render_key(sample_paper(), tmp_path / "2.pdf").read_bytes() == first


def test_a_matching_question_prints_its_premises_options_sheet_cells_and_key(
    tmp_path: Path,
) -> None:
    view = sample_paper()
    theory = view.parts[0]
    matching = question(
        len(theory.questions) + 1,
        "theory",
        ItemType.MATCHING,
        stem="将下列算法与其所属的机器学习类型配对。",
        premises=["线性回归", "K 均值聚类", "Q 学习"],
        options={"A": "监督学习", "B": "无监督学习", "C": "强化学习", "D": "自监督学习"},
        key="ABC",
        points=3,
    )
    part = theory.model_copy(
        update={
            "questions": [*theory.questions, matching],
            "total_points": theory.total_points + 3,
        }
    )
    view = view.model_copy(update={"parts": [part, *view.parts[1:]]})
    paper_text = squeeze("".join(pdf_pages(render_paper(view, tmp_path / "p.pdf"))))
    n = matching.number
    for needle in [
        "五、配对题（每题3分，共3分）",
        f"{n}.将下列算法与其所属的机器学习类型配对。（3分）",
        "（1）线性回归",
        "（3）Q学习",
        "A.监督学习",
        "D.自监督学习",
        f"{n}(1)____(2)____(3)____",  # its answer-sheet cell: a letter per premise
    ]:
        assert needle in paper_text, needle
    key_text = squeeze("".join(pdf_pages(render_key(view, tmp_path / "k.pdf"))))
    assert "(1)A；(2)B；(3)C" in key_text
