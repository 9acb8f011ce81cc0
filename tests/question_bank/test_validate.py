"""Every kind of bad row is reported with its row, its field and a reason in both languages."""

from typing import Any

import pytest

from question_bank.formats import RawItem, item_json
from question_bank.validate import validate_rows
from schemas.enums import ItemStatus, ItemType
from tests.helpers import item


def _raw(row: int = 1, **changes: Any) -> RawItem:
    values = item_json(item())
    for name, value in changes.items():
        if value is _DROP:
            values.pop(name)
        else:
            values[name] = value
    return RawItem(row, values)


_DROP = object()

CASES = [
    ({"occupation": "人工智能训练师"}, "occupation", "unknown_occupation"),
    ({"level": "五级"}, "level", "unknown_level"),
    ({"type": "排序"}, "type", "unknown_type"),
    ({"knowledge_area": "42"}, "knowledge_area", "unknown_area"),
    ({"knowledge_area": "9"}, "knowledge_area", "area_not_examined"),
    ({"stem": "   "}, "stem", "empty"),
    ({"stem": "a\x07b"}, "stem", "control_character"),
    ({"options": {"A": "x", "B": "y", "Z": "z"}}, "options", "bad_option_letter"),
    ({"options": {"A": "x", "B": "y", "D": "z"}}, "options", "option_gap"),
    ({"options": {"A": "only one"}, "key": "A"}, "options", "too_few_options"),
    ({"key": "E"}, "key", "key_not_option"),
    ({"key": ""}, "key", "empty"),
    ({"points": 0}, "points", "bad_points"),
    ({"points": -2}, "points", "bad_points"),
    ({"points": 1.234}, "points", "bad_points"),
    ({"points": "two"}, "points", "not_a_number"),
    ({"difficulty": 1.5}, "difficulty", "bad_difficulty"),
    ({"status": "published"}, "status", "unknown_status"),
    ({"tags": ["a;b"]}, "tags", "bad_tag"),
    ({"tags": "a;;b"}, "tags", "empty_tag"),
    ({"rubric": "评分"}, "rubric", "rubric_not_allowed"),
    ({"premises": ["x", "y"]}, "premises", "premises_not_allowed"),
    ({"item_id": "含中文"}, "item_id", "bad_id"),
    ({"stem": _DROP}, "stem", "missing"),
    ({"colour": "red"}, "colour", "unknown_field"),
]


@pytest.mark.parametrize(("changes", "field", "code"), CASES)
def test_each_bad_field_is_reported_with_row_and_field(
    changes: dict[str, Any], field: str, code: str
) -> None:
    result = validate_rows("bank.json", [_raw(7, **changes)])
    assert result.items == []
    assert [(p.row, p.field, p.code) for p in result.problems] == [(7, field, code)]
    problem = result.problems[0]
    assert problem.file == "bank.json" and problem.message_zh and problem.message_en


def test_every_bad_row_is_reported_at_once() -> None:
    rows = [
        _raw(1, item_id="A-1"),
        _raw(2, item_id="A-2", key="Q"),
        _raw(3, item_id="A-3", points=0, stem=""),
    ]
    result = validate_rows("f.csv", rows)
    assert [p.row for p in result.problems] == [2, 3, 3]
    assert [i.item_id for _, i in result.items] == ["A-1"]


def test_duplicate_ids_in_one_file_name_the_first_row() -> None:
    result = validate_rows("f.csv", [_raw(2), _raw(5)])
    [problem] = result.problems
    assert (problem.row, problem.code) == (5, "duplicate_id")
    assert "row 2" in problem.message_en


def test_multiple_choice_keys_are_normalised_and_checked() -> None:
    opts = {"A": "1", "B": "2", "C": "3", "D": "4"}
    ok = validate_rows("f", [_raw(type="多选", options=opts, key="d, a、C")])
    assert ok.items[0][1].key == "ACD"
    short = validate_rows("f", [_raw(type="multiple", options=opts, key="A")])
    assert short.problems[0].code == "key_too_short"
    repeat = validate_rows("f", [_raw(type="multiple", options=opts, key="AAB")])
    assert repeat.problems[0].code == "key_repeats"


@pytest.mark.parametrize(("given", "key"), [("对", "T"), ("×", "F"), ("true", "T"), ("错误", "F")])
def test_true_false_keys_accept_chinese_words(given: str, key: str) -> None:
    result = validate_rows("f", [_raw(type="判断", options={}, key=given)])
    assert result.items[0][1].key == key


def test_true_false_items_have_no_options() -> None:
    result = validate_rows("f", [_raw(type="true_false", key="T")])
    assert result.problems[0].code == "options_not_allowed"


def test_fill_in_blanks_must_match_the_stem() -> None:
    good = validate_rows(
        "f",
        [
            _raw(
                type="fill",
                options={},
                stem="激活函数 ______ 和 ______",
                key="ReLU | relu ;Sigmoid",
            )
        ],
    )
    data = good.items[0][1]
    assert data.key == "ReLU|relu;Sigmoid" and data.fill_blanks == [["ReLU", "relu"], ["Sigmoid"]]
    bad = validate_rows("f", [_raw(type="fill", options={}, stem="一个空 ______", key="a;b")])
    assert bad.problems[0].code == "blank_count"
    tol = validate_rows("f", [_raw(type="fill", options={}, stem="π≈______", key="3.14±0.01")])
    assert tol.items
    bad_tol = validate_rows("f", [_raw(type="fill", options={}, stem="π≈______", key="3.14±")])
    assert bad_tol.problems[0].code == "bad_tolerance"


def test_subjective_items_need_a_rubric_and_may_omit_the_reference_answer() -> None:
    missing = validate_rows("f", [_raw(type="主观", options={}, key="")])
    assert missing.problems[0].code == "rubric_required"
    ok = validate_rows(
        "f", [_raw(type="实操", options={}, key="", rubric="1. 要点（10分）", points=10)]
    )
    data = ok.items[0][1]
    assert data.type is ItemType.SUBJECTIVE and data.key == "" and data.status is ItemStatus.READY


def test_whitespace_is_trimmed_and_windows_line_ends_folded() -> None:
    result = validate_rows("f", [_raw(stem="  第一行\r\n第二行  ", key=" b ")])
    data = result.items[0][1]
    assert data.stem == "第一行\n第二行" and data.key == "B"


def _matching(**changes: Any) -> RawItem:
    fields: dict[str, Any] = {
        "type": "配对题",
        "options": {"A": "监督学习", "B": "无监督学习", "C": "强化学习"},
        "premises": ["线性回归", "K 均值", "Q 学习"],
        "key": "A、B、C",
    }
    fields.update(changes)
    return _raw(**fields)


def test_a_matching_item_keys_one_letter_per_premise_and_may_reuse_letters() -> None:
    [(_, data)] = validate_rows("f", [_matching()]).items
    assert data.type is ItemType.MATCHING and data.key == "ABC"
    assert data.premises == ["线性回归", "K 均值", "Q 学习"]
    [(_, reused)] = validate_rows("f", [_matching(key="aab")]).items
    assert reused.key == "AAB"  # C is a distractor, A serves two premises


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"premises": []}, "premises", "too_few_premises"),
        ({"premises": ["只有一个"], "key": "A"}, "premises", "too_few_premises"),
        ({"premises": ["a", "", "c"]}, "premises", "premise_gap"),
        (
            {"premises": [f"p{n}" for n in range(9)], "key": "A" * 9},
            "premises",
            "too_many_premises",
        ),
        ({"premises": "a;b;c"}, "premises", "type"),
        ({"key": "AB"}, "key", "key_premise_count"),
        ({"key": "ABD"}, "key", "key_not_option"),
        ({"options": {"A": "只有一个"}, "key": "AAA"}, "options", "too_few_options"),
    ],
)
def test_each_bad_matching_field_is_reported(
    changes: dict[str, Any], field: str, code: str
) -> None:
    result = validate_rows("bank.json", [_matching(**changes)])
    assert result.items == []
    assert [(p.field, p.code) for p in result.problems] == [(field, code)]


def test_matching_premises_come_from_numbered_columns_and_a_gap_names_the_column(
    tmp_path: Any,
) -> None:
    from question_bank.formats import read_items

    path = tmp_path / "bank.csv"
    path.write_text(
        "题目编号,职业,等级,题型,知识领域,题干,选项A,选项B,题项1,题项2,题项3,答案,分值\n"
        "M-1,ai,junior,配对,2,配对：,甲,乙,一,二,,BA,2\n"
        "M-2,ai,junior,配对,2,配对：,甲,乙,一,,三,BAA,2\n",
        encoding="utf-8",
    )
    result = validate_rows(str(path), read_items(path))
    assert [(i.item_id, i.premises, i.key) for _, i in result.items] == [
        ("M-1", ["一", "二"], "BA")
    ]
    assert [(p.row, p.code) for p in result.problems] == [(3, "premise_gap")]
