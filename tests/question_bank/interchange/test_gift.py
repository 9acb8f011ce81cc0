"""GIFT in and out: the grammar, Moodle's own fixture files, round trips, what is refused."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.interchange.common import Placement
from question_bank.interchange.gift import LITERAL, escape, read_gift, scan, write_gift
from question_bank.validate import validate_rows
from schemas.items import ItemData
from tests.question_bank.strategies import banks

DATA = Path(__file__).resolve().parent.parent / "data" / "moodle"
AI = Placement(occupation="ai", level="senior", area="3")


def _read(text: str, placement: Placement = AI) -> list[dict[str, object]]:
    return [dict(r.values) for r in read_gift("t.gift", text, placement)]


def _items(text: str, placement: Placement = AI) -> list[ItemData]:
    checked = validate_rows("t.gift", read_gift("t.gift", text, placement))
    assert checked.problems == []
    return [item for _, item in checked.items]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(banks())
def test_any_bank_writes_to_gift_and_reads_back_the_same_items(bank: list[ItemData]) -> None:
    again = _items(write_gift(bank), Placement())
    assert again == bank
    assert [i.content_hash() for i in again] == [i.content_hash() for i in bank]


def test_escapes_are_literal_text_and_newlines_come_back() -> None:
    text = "a~b=c#d{e}f:g\\h\n第二行"
    assert scan(escape(text)).text == text
    assert set(scan(escape(text)).marks) == {LITERAL}


def test_a_backslash_before_an_ordinary_character_stays() -> None:
    chars = scan(r"C:\path")
    assert chars.text == "C:\\path"
    assert chars.marks == "\0:" + "\0" * 5


def test_single_multiple_true_false_numeric_short_answer_and_essay() -> None:
    rows = _read(
        "::单选::人工智能之父是？{=图灵 ~冯·诺依曼 ~香农}\n\n"
        "::多选::哪些是监督学习？{~%50%回归 ~%50%分类 ~%-100%聚类}\n\n"
        "::判断::深度学习是机器学习的分支。{T}\n\n"
        "::数值::圆周率约为？{#3.14:0.01}\n\n"
        "::区间::1 到 5 之间的数？{#1..5}\n\n"
        "::填空::激活函数 {=ReLU =修正线性单元} 常用于隐藏层。\n\n"
        "::论述::论述过拟合。{####参考答案：正则化}"
    )
    assert [(r["type"], r["key"]) for r in rows] == [
        ("single", "A"),
        ("multiple", "AB"),
        ("true_false", "T"),
        ("fill", "3.14±0.01"),
        ("fill", "3±2"),
        ("fill", "ReLU|修正线性单元"),
        ("subjective", "参考答案：正则化"),
    ]
    assert rows[0]["options"] == {"A": "图灵", "B": "冯·诺依曼", "C": "香农"}
    assert rows[5]["stem"] == "激活函数 ______ 常用于隐藏层。"
    assert rows[3]["stem"] == "圆周率约为？ ______"


def test_title_format_comments_and_category_place_the_question() -> None:
    placement = Placement(
        occupation="ai", level="senior", area="1", categories={"$course$/机器学习": {"area": "3"}}
    )
    rows = _read(
        "$CATEGORY: $course$/机器学习/监督\n\n"
        "// [id:ML-7] [tag:基础] [tag:a\\]b]\n"
        "::标题::[markdown]**粗体** 文本{T}",
        placement,
    )
    assert rows[0]["item_id"] == "ML-7"
    assert rows[0]["tags"] == ["基础", "a]b"]
    assert rows[0]["knowledge_area"] == "3"
    assert rows[0]["stem"] == "**粗体** 文本"


def test_questions_without_an_id_keep_the_same_generated_id() -> None:
    text = "::Q1::一{T}\n\n::Q2::二{F}"
    first, second = _read(text), _read(text)
    assert [r["item_id"] for r in first] == [r["item_id"] for r in second]
    assert len({r["item_id"] for r in first}) == 2


def test_html_is_sanitised_to_inert_text() -> None:
    rows = _read(
        '::x::[html]<p onclick\\="steal()">正文<script>alert(1)</script>'
        '<a href\\="javascript\\:alert(2)">链接</a></p>{T}\n\n'
        "::y::[plain]<script>alert(3)</script>{T}"
    )
    assert rows[0]["stem"] == "正文链接"
    # plain text is stored as the characters written; every page escapes it when shown
    assert rows[1]["stem"] == "<script>alert(3)</script>"


def test_moodles_fixture_imports_the_supported_and_names_the_rest() -> None:
    rows = read_gift("questions.gift.txt", (DATA / "questions.gift.txt").read_text("utf-8"), AI)
    checked = validate_rows("questions.gift.txt", rows)
    kinds = [(row, item.type.value, item.key) for row, item in checked.items]
    assert kinds == [
        (2, "matching", "ABCD"),  # Moodle activities; "= -> Chat" a distractor
        (3, "single", "A"),
        (4, "multiple", "AC"),
        (5, "fill", "3±2"),
        (7, "true_false", "F"),
        (8, "true_false", "T"),
        (9, "true_false", "T"),  # the same title again: its own generated id
    ]
    problems = {(p.row, p.code) for p in checked.problems}
    assert problems == {
        (1, "rubric_required"),  # Q8: an essay needs a rubric in certify
        (6, "partial_credit"),  # Shortanswer: Cat at 50%
    }
    named = {p.field for p in checked.problems}
    assert "«Shortanswer», line 34: answers" in named
    matching = next(item for row, item in checked.items if row == 2)
    assert matching.stem == "Match the activity to the description."
    assert matching.premises == [
        "An activity supporting asynchronous discussions.",
        "A teacher asks a question and specifies a choice of multiple responses.",
        "A bank of record entries which participants can add to.",
        "A collection of web pages that anyone can add to or edit.",
    ]
    assert matching.options == {
        "A": "Forum",
        "B": "Choice",
        "C": "Database",
        "D": "Wiki",
        "E": "Chat",
    }


def test_moodles_category_fixture() -> None:
    text = (DATA / "questions_in_category.gift.txt").read_text("utf-8")
    rows = read_gift("q.gift", text, Placement(occupation="ai", level="senior", area="3"))
    checked = validate_rows("q.gift", rows)
    assert [item.type.value for _, item in checked.items] == [
        "matching",
        "single",
        "fill",
        "true_false",
    ]
    assert checked.items[0][1].key == "ABCD" and checked.items[0][1].options["E"] == "Chat"
    assert checked.items[1][1].stem == (
        "Listen to this greeting: (http://demo.moodle.net/file.php/5/media/bonjour.mp3)\n\n"
        "What language is being spoken?"
    )
    assert checked.problems == []


def test_an_image_a_gift_file_cannot_hold_is_refused_by_name() -> None:
    rows = read_gift("t.gift", '::pic::[html]<img src\\="@@PLUGINFILE@@/a.png">?{T}', AI)
    assert [(p.code, p.field) for p in rows[0].problems] == [
        ("image_missing", "«pic», line 1: text")
    ]
    assert "@@PLUGINFILE@@/a.png" in rows[0].problems[0].message_en


def test_a_multi_blank_fill_item_travels_as_an_essay_with_its_key() -> None:
    item = ItemData(
        item_id="F-1", occupation="ai", level="senior", type="fill", knowledge_area="3",
        stem="___ 和 ______", key="a|b;c", points=2,
    )  # fmt: skip
    text = write_gift([item])
    assert "{}" in text
    assert _items(text, Placement()) == [item]


def _scan_by_character(text: str) -> tuple[str, str]:
    """The scanner's definition, one character at a time: the fast scanner must agree."""
    texts, marks, i = [], [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "~=#{}:\\n":
            texts.append("\n" if text[i + 1] == "n" else text[i + 1])
            marks.append(LITERAL)
            i += 2
            continue
        texts.append(text[i])
        marks.append(text[i] if text[i] in "~=#{}:" else LITERAL)
        i += 1
    return "".join(texts), "".join(marks)


@given(st.text(alphabet="ab \\n~=#{}:\n中", max_size=40))
def test_the_scanner_marks_exactly_the_unescaped_specials(text: str) -> None:
    chars = scan(text)
    assert (chars.text, chars.marks) == _scan_by_character(text)


def test_matching_pairs_split_at_the_first_arrow_and_a_written_item_comes_back_whole() -> None:
    rows = _read("::m::配对{=a -> x -> y =b -> z = -> w}")
    assert (rows[0]["premises"], rows[0]["key"]) == (["a", "b"], "AB")
    assert rows[0]["options"] == {"A": "x -> y", "B": "z", "C": "w"}
    written = ItemData(
        item_id="M-1",
        occupation="ai",
        level="senior",
        type="matching",
        knowledge_area="3",
        stem="配对",
        options={"A": "x -> y", "B": "{z}"},
        premises=["a -> b", "c"],
        key="BB",
        points=1,
    )
    text = write_gift([written])
    assert "=a → b -> \\{z\\}" in text  # what Moodle reads: no arrow inside a premise
    [(_, back)] = validate_rows("m.gift", read_gift("m.gift", text, Placement())).items
    assert back == written
