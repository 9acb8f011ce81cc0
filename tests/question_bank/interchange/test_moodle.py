"""Moodle XML in and out: Moodle's fixtures, round trips, hostile XML, sanitised HTML."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from certify.infra.errors import InputError
from question_bank.interchange.common import Placement
from question_bank.interchange.moodle import read_moodle, write_moodle
from question_bank.validate import validate_rows
from schemas.items import ItemData
from tests.question_bank.strategies import banks

DATA = Path(__file__).resolve().parent.parent / "data" / "moodle"
AI = Placement(occupation="ai", level="senior", area="3")


def _quiz(*questions: str) -> bytes:
    return ("<quiz>" + "".join(questions) + "</quiz>").encode()


def _q(kind: str, body: str, text: str = "题干", fmt: str = "html", name: str = "q") -> str:
    return (
        f'<question type="{kind}"><name><text>{name}</text></name>'
        f'<questiontext format="{fmt}"><text><![CDATA[{text}]]></text></questiontext>{body}</question>'
    )


def _answer(fraction: str, text: str, extra: str = "") -> str:
    return f'<answer fraction="{fraction}"><text>{text}</text>{extra}</answer>'


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(banks())
def test_any_bank_writes_to_moodle_xml_and_reads_back_the_same_items(bank: list[ItemData]) -> None:
    checked = validate_rows("b.xml", read_moodle("b.xml", write_moodle(bank), Placement()))
    assert checked.problems == []
    assert [item for _, item in checked.items] == bank


def test_every_supported_type_with_negative_fractions_and_tolerance() -> None:
    data = _quiz(
        '<question type="category"><category><text>$course$/机器学习</text></category></question>',
        _q("multichoice", "<single>true</single>" + _answer("0", "甲") + _answer("100", "乙")),
        _q(
            "multichoice",
            "<single>false</single>"
            + _answer("50", "甲")
            + _answer("-100", "乙")
            + _answer("50", "丙"),
        ),
        _q("truefalse", _answer("0", "true") + _answer("100", "false")),
        _q(
            "shortanswer",
            _answer("100", "ReLU") + _answer("100", "修正线性单元") + _answer("0", "*"),
        ),
        _q("numerical", _answer("100", "3.14", "<tolerance>0.01</tolerance>")),
        _q("essay", "<graderinfo format='html'><text>要点 2 分</text></graderinfo>"),
    )
    placement = Placement(
        occupation="ai", level="senior", categories={"$course$/机器学习": {"area": "3"}}
    )
    checked = validate_rows("m.xml", read_moodle("m.xml", data, placement))
    assert checked.problems == []
    assert [(i.type.value, i.key, i.knowledge_area) for _, i in checked.items] == [
        ("single", "B", "3"),
        ("multiple", "AC", "3"),
        ("true_false", "F", "3"),
        ("fill", "ReLU|修正线性单元", "3"),
        ("fill", "3.14±0.01", "3"),
        ("subjective", "", "3"),
    ]
    assert checked.items[5][1].rubric == "要点 2 分"


def test_moodles_nested_categories_fixture() -> None:
    data = (DATA / "nested_categories_with_questions.xml").read_bytes()
    placement = Placement(
        occupation="ai",
        level="senior",
        area="1",
        categories={"$course$/Iota/Kappa": {"area": "3"}},
    )
    rows = read_moodle("n.xml", data, placement)
    assert [(r.category, r.values["knowledge_area"]) for r in rows] == [
        ("$course$/Iota", "1"),
        ("$course$/Iota/Kappa", "3"),
        ("$course$/Iota/Kappa", "3"),
        ("$course$/Iota/Kappa/Lambda", "3"),
        ("$course$/Iota/Mu", "1"),
    ]
    checked = validate_rows("n.xml", rows)
    assert [i.stem for _, i in checked.items] == [
        "Testing Iota Question",
        "Testing Kappa Question",
        "Testing Lambda Question",
        "Testing Mu Question",
    ]
    # the essay has no grader information: certify needs a rubric for a subjective item
    assert [(p.row, p.code) for p in checked.problems] == [(2, "rubric_required")]


def test_moodles_cloze_fixture_is_refused_by_name_with_its_files() -> None:
    rows = read_moodle("c.xml", (DATA / "multianswer.trimmed.xml").read_bytes(), AI)
    assert [(p.row, p.code, p.field) for p in rows[0].problems] == [
        (1, "unsupported_type", "«cloze with images»: type")
    ]


def test_unsupported_types_unreadable_images_and_partial_credit_are_named() -> None:
    data = _quiz(
        _q("ordering", "", name="排序"),
        _q("calculated", "", name="计算"),
        _q(
            "truefalse",
            _answer("100", "true"),
            text='<img src="@@PLUGINFILE@@/a.png">图',
            name="图",
        ).replace(
            "</questiontext>", '<file name="a.png" encoding="base64">AA==</file></questiontext>'
        ),
        _q("shortanswer", _answer("100", "a") + _answer("50", "b"), name="部分"),
    )
    rows = read_moodle("u.xml", data, AI)
    assert [(p.row, p.code, p.field) for r in rows for p in r.problems] == [
        (1, "unsupported_type", "«排序»: type"),
        (2, "unsupported_type", "«计算»: type"),
        (3, "bad_image", "«图»: questiontext"),  # two bytes are not a PNG
        (4, "partial_credit", "«部分»: answer"),
    ]


def test_html_is_sanitised_and_plain_text_kept_inert() -> None:
    data = _quiz(
        _q("truefalse", _answer("100", "true"),
           text='<p onmouseover="x()">正文<script>alert(1)</script><a href="javascript:alert(2)">链</a></p>'),
        _q("truefalse", _answer("100", "true"), text="<script>alert(3)</script>", fmt="plain_text"),
    )  # fmt: skip
    rows = read_moodle("h.xml", data, AI)
    assert [r.values["stem"] for r in rows] == ["正文链", "<script>alert(3)</script>"]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE quiz [
 <!ENTITY a "aaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<quiz><question type="truefalse"><name><text>&d;</text></name></question></quiz>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE quiz [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<quiz><question type="truefalse"><name><text>&secret;</text></name></question></quiz>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "external"])
def test_hostile_xml_is_refused_before_anything_is_expanded(data: bytes) -> None:
    with pytest.raises(InputError) as refused:
        read_moodle("evil.xml", data, AI)
    assert refused.value.code == "xml_refused"


def test_malformed_xml_and_another_root_are_clear_errors() -> None:
    with pytest.raises(InputError) as bad:
        read_moodle("x.xml", b"<quiz><question>", AI)
    assert bad.value.code == "bad_xml"
    with pytest.raises(InputError) as other:
        read_moodle("x.xml", b"<html/>", AI)
    assert other.value.code == "not_moodle_xml"


def test_moodles_matching_fixture_imports_with_its_distractor_and_feedback_named() -> None:
    rows = read_moodle("m.xml", (DATA / "match_testquestion.moodle.xml").read_bytes(), AI)
    checked = validate_rows("m.xml", rows)
    assert checked.problems == []
    [(_, found)] = checked.items
    assert (found.type.value, found.stem) == ("matching", "Classify the animals.")
    assert found.premises == ["frog", "cat", "newt"]
    assert found.options == {"A": "amphibian", "B": "mammal", "C": "insect"}
    assert found.key == "ABA"  # amphibian twice; insect is the distractor
    assert {p.field for p in rows[0].notices} == {
        "«matching-001»: generalfeedback",
        "«matching-001»: correctfeedback",
    }


def test_a_matching_question_written_for_moodle_reads_back_from_its_pairs_alone() -> None:
    written = ItemData(
        item_id="M-1",
        occupation="ai",
        level="senior",
        type="matching",
        knowledge_area="3",
        stem="配对",
        options={"A": "监督", "B": "无监督", "C": "强化", "D": "半监督"},
        premises=["K 均值", "线性回归", "Q 学习", "决策树"],
        key="BACA",
        points=2,
    )
    data = write_moodle([written]).decode()
    bare = data[: data.index("<certify>")] + data[data.index("</certify>") + len("</certify>") :]
    [(_, found)] = validate_rows("m.xml", read_moodle("m.xml", bare.encode(), AI)).items
    # Moodle's pairs carry no letters: the options come in the order the answers first appear
    assert found.premises == written.premises
    pairs = [(p, found.options[c]) for p, c in zip(found.premises, found.key, strict=True)]
    assert pairs == [
        (p, written.options[c]) for p, c in zip(written.premises, written.key, strict=True)
    ]
    assert set(found.options.values()) == set(written.options.values())  # 半监督: a distractor
