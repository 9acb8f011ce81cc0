"""One way to read the rows of a file: the header mapper, the typed cell parsers, and the row
checker that names every problem with file, row and field before anything is written."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from certify.infra.errors import InputError, Problem, ValidationFailed
from certify.infra.rows import (
    Columns,
    Invalid,
    Parser,
    Row,
    Rows,
    day,
    flag,
    lookup,
    number,
    read_rows,
    text,
)
from certify.infra.tabular import write_table
from certify.registration.identity import PERSON_NAME, check_character, id_number_cell
from certify.registration.sittings import create_sitting, import_roster
from schemas.tables import Registration
from tests.certify.test_sittings import VAULT, roster, sitting
from tests.certify.test_sittings import id_number as roster_id
from tests.conftest import Database
from tests.helpers import institution, snapshot

assert sitting  # the fixture

PEOPLE = Columns(
    {
        "code": ("编号",),
        "name": ("name", "姓名"),
        "hours": ("学时",),
        "member": ("会员",),
        "since": ("起始日期",),
        "form": ("试卷", "卷别"),
    },
    required=("code", "name"),
)
PEOPLE_ALIASES = {"code": ("编号",), "name": ("姓名",)}


def refusal(path: Path, header: list[Any], columns: Columns = PEOPLE) -> InputError:
    with pytest.raises(InputError) as refused:
        columns.map(path, header)
    assert (refused.value.problem.file, refused.value.problem.row) == (str(path), 1)
    assert refused.value.problem.code == "columns" and refused.value.problem.field is None
    return refused.value


# --- the header ---------------------------------------------------------------------------------


def test_headers_name_columns_by_name_in_any_case_or_by_a_chinese_alias(tmp_path: Path) -> None:
    header = [" CODE ", "姓名", "学时", "Member", "起始日期", "卷别"]
    assert PEOPLE.map(tmp_path / "f.csv", header) == [
        "code",
        "name",
        "hours",
        "member",
        "since",
        "form",
    ]


def test_note_columns_starting_with_an_underscore_are_left_out(tmp_path: Path) -> None:
    names = PEOPLE.map(tmp_path / "f.csv", ["_备注", "编号", "_姓名", "姓名", "_"])
    assert names == [None, "code", None, "name", None]


def test_an_unknown_column_is_named(tmp_path: Path) -> None:
    error = refusal(tmp_path / "f.csv", ["编号", "姓名", "颜色", None])
    assert "无法识别的列：颜色、（空）" in error.problem.message_zh
    assert "unknown column(s): 颜色, (blank)" in error.problem.message_en


def test_a_repeated_column_is_named_with_the_header_it_repeats(tmp_path: Path) -> None:
    error = refusal(tmp_path / "f.csv", ["编号", "姓名", "name"])
    assert "重复的列：name（同“姓名”）" in error.problem.message_zh
    assert "repeated column(s): name (same as 姓名)" in error.problem.message_en


def test_a_missing_column_is_named_as_a_reader_of_either_language_knows_it(
    tmp_path: Path,
) -> None:
    error = refusal(tmp_path / "f.csv", ["姓名"])
    assert "缺少必需列：编号（code）" in error.problem.message_zh
    assert "missing column(s): code (编号)" in error.problem.message_en


def test_missing_unknown_and_repeated_columns_are_named_together_with_the_hint(
    tmp_path: Path,
) -> None:
    columns = Columns(PEOPLE_ALIASES, required=("code",), hint_zh="（见模板）", hint_en=" (see)")
    error = refusal(tmp_path / "f.csv", ["姓名", "name", "颜色"], columns)
    zh, en = error.problem.message_zh, error.problem.message_en
    assert zh.startswith("缺少必需列") and "无法识别的列" in zh and "重复的列" in zh
    assert zh.endswith("（见模板）") and en.endswith(" (see)")
    assert "missing" in en and "unknown" in en and "repeated" in en


def test_a_required_group_is_met_by_any_one_of_its_columns(tmp_path: Path) -> None:
    columns = Columns(
        {"serial": ("证书编号",), "token": ("二维码内容",)}, required=[("serial", "token")]
    )
    assert columns.map(tmp_path / "f.csv", ["二维码内容"]) == ["token"]
    error = refusal(tmp_path / "f.csv", [], columns)
    assert "证书编号（serial）或二维码内容（token）" in error.problem.message_zh
    assert "serial (证书编号) or token (二维码内容)" in error.problem.message_en


def test_numbered_columns_come_from_their_own_rule(tmp_path: Path) -> None:
    columns = Columns(
        {"code": ("编号",)},
        numbered=lambda h: f"q{int(h[1:])}" if h[:1] in "qQ" and h[1:].isdigit() else None,
    )
    assert columns.map(tmp_path / "f.csv", ["编号", "Q1", "q2"]) == ["code", "q1", "q2"]
    error = refusal(tmp_path / "f.csv", ["编号", "q1", "Q01"], columns)
    assert "Q01 (same as q1)" in error.problem.message_en


def test_a_format_cannot_give_one_header_to_two_columns_or_require_a_column_it_lacks() -> None:
    with pytest.raises(ValueError, match="names both"):
        Columns({"a": ("甲",), "b": ("甲",)})
    with pytest.raises(ValueError, match="without a header"):
        Columns({"a": ()}, required=("b",))


# --- reading rows ------------------------------------------------------------------------------


def test_rows_carry_their_numbers_and_stripped_text_without_note_columns(tmp_path: Path) -> None:
    path = write_table(
        tmp_path / "f.xlsx",
        ["编号", "_备注", "姓名", "学时"],
        [["1", "注", " 张三 ", 12], [None, None, None, None], ["2", "", "李四", 3.5]],
    )
    rows = read_rows(path, PEOPLE)
    assert [(r.number, r.values) for r in rows] == [
        (2, {"code": "1", "name": "张三", "hours": "12"}),
        (4, {"code": "2", "name": "李四", "hours": "3.5"}),
    ]
    assert rows.rows[0].text("form") == "" and rows.rows[0].file == str(path)


def test_json_rows_are_numbered_from_one(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps([{"编号": "1", "姓名": "张三"}], ensure_ascii=False), "utf-8")
    assert [(r.number, r.values) for r in read_rows(path, PEOPLE)] == [
        (1, {"code": "1", "name": "张三"})
    ]


def test_a_file_without_a_required_column_is_refused_by_read_rows(tmp_path: Path) -> None:
    path = write_table(tmp_path / "f.csv", ["姓名"], [["张三"]])
    with pytest.raises(InputError) as refused:
        read_rows(path, PEOPLE)
    assert refused.value.problem.code == "columns"


# --- parsers ------------------------------------------------------------------------------------


def failure(parse: Parser[Any], cell: str) -> tuple[str, str, str]:
    with pytest.raises(Invalid) as invalid:
        parse(cell)
    return invalid.value.code, invalid.value.message_zh, invalid.value.message_en


def test_text_refuses_empty_long_and_misshapen_cells_each_with_its_code() -> None:
    parse = text(required=True, longest=5, pattern=r"[A-Z]+", upper=True)
    assert parse("abc") == "ABC"
    assert failure(parse, "")[0] == "empty"
    assert failure(parse, "abcdef") == (
        "too_long",
        "6 个字符，最多 5 个",
        "6 characters, at most 5",
    )
    assert failure(parse, "a-b")[0] == "bad_format"
    assert text()("") == ""


def test_text_may_name_its_own_code_message_and_hint() -> None:
    parse = text(
        required=True, code="bad_name", zh="须填写", en="required", hint_zh="！", hint_en="!"
    )
    assert failure(parse, "") == ("bad_name", "须填写！", "required!")
    hinted = text(longest=1, hint_zh="；拆开", hint_en="; split it")
    assert failure(hinted, "ab") == (
        "too_long",
        "2 个字符，最多 1 个；拆开",
        "2 characters, at most 1; split it",
    )


def test_number_refuses_text_infinities_and_numbers_out_of_range() -> None:
    parse = number(0, 10, range_code="out_of_range", what_zh="分数", what_en="mark")
    assert parse("0") == 0 and parse("10") == 10 and parse("2.5") == 2.5
    assert failure(parse, "abc") == (
        "not_a_number",
        "分数“abc”应为 0–10 的数",
        "mark 'abc' must be a number from 0 to 10",
    )
    for cell in ("nan", "inf", "-infinity", ""):
        assert failure(parse, cell)[0] == "not_a_number"
    assert failure(parse, "10.5")[0] == "out_of_range"
    assert failure(parse, "-1")[0] == "out_of_range"
    one_code = number(0, 100, code="bad_score")
    assert failure(one_code, "101") == (
        "bad_score",
        "“101”应为 0–100 的数",
        "'101' must be a number from 0 to 100",
    )
    assert number(0, 1, default=0.0)("") == 0.0


def test_flag_reads_yes_and_no_in_either_language() -> None:
    parse = flag()
    assert [parse(c) for c in ("是", "YES", "1", "√", "否", "no", "", "×")] == [True] * 4 + [
        False
    ] * 4
    assert failure(parse, "也许") == ("bad_flag", "“也许”应为 是 或 否", "'也许' must be yes or no")


def test_day_reads_the_forms_files_use_and_refuses_dates_that_do_not_exist() -> None:
    parse = day()
    for cell in (
        "2015-07-01",
        "2015/7/1",
        "2015.07.01",
        "20150701",
        "2015年7月1日",
        "2015-07-01 00:00:00",
    ):
        assert parse(cell) == date(2015, 7, 1)
    assert parse("") is None
    assert failure(parse, "2023-02-30") == (
        "bad_date",
        "“2023-02-30”不是有效日期",
        "'2023-02-30' is not a real date",
    )


def test_lookup_names_what_it_sought_and_the_choices_where_given() -> None:
    forms = {"A": 1, "B": 2}
    parse = lookup(lambda c: forms.get(c.upper()), code="unknown_form", what=("试卷", "form"))
    assert parse("b") == 2
    assert failure(parse, "Z") == ("unknown_form", "没有试卷“Z”", "no form 'Z'")
    listed = lookup(forms.get, code="unknown_form", what=("试卷", "form"), known=("A、B", "A, B"))
    assert failure(listed, "Z") == (
        "unknown_form",
        "无法识别的试卷“Z”（可用：A、B）",
        "unknown form 'Z' (use one of A, B)",
    )


def test_person_names_and_id_numbers_are_parsers_too() -> None:
    first17 = "37010219900101001"
    good = first17 + check_character(first17)
    assert id_number_cell()(good.lower()) == good
    code, zh, en = failure(id_number_cell(), good[:-1] + ("0" if good[-1] != "0" else "1"))
    assert code == "bad_id_number" and "校验码" in zh and "check character" in en
    assert failure(id_number_cell(today=date(1989, 12, 31)), good)[0] == "bad_id_number"
    assert PERSON_NAME("张三") == "张三"
    assert failure(PERSON_NAME, "")[0] == failure(PERSON_NAME, "张" * 65)[0] == "bad_name"


# --- the row checker ----------------------------------------------------------------------------


def rows_of(*values: dict[str, str]) -> Rows:
    return Rows(Path("f.csv"), [Row("f.csv", n, dict(v)) for n, v in enumerate(values, start=2)])


def test_a_cell_that_does_not_parse_is_a_problem_naming_file_row_and_field() -> None:
    rows = rows_of({"hours": "12"}, {"hours": "x"})
    good, bad = rows
    assert good.get("hours", number(0, 20)) == 12 and good.ok
    assert bad.get("hours", number(0, 20)) is None and not bad.ok
    (problem,) = rows.problems()
    assert (problem.file, problem.row, problem.field, problem.code) == (
        "f.csv",
        3,
        "hours",
        "not_a_number",
    )


def test_unique_names_the_first_row_a_key_appeared_on_per_column() -> None:
    rows = rows_of({}, {}, {}, {})
    first, second, third, fourth = rows
    assert rows.unique(first, "code", "A") and rows.unique(second, "name", "A")
    assert not rows.unique(third, "code", "A")
    assert not rows.unique(fourth, "code", "A", zh="编号与第 {first} 行重复")
    assert [(p.row, p.field, p.code, p.message_en) for p in rows.problems()] == [
        (4, "code", "duplicate", "repeats row 2"),
        (5, "code", "duplicate", "repeats row 2"),
    ]
    assert rows.problems()[1].message_zh == "编号与第 2 行重复"


def test_problems_come_in_row_order_with_a_rows_own_before_those_added_later() -> None:
    rows = rows_of({}, {}, {})
    _, second, third = rows
    third.bad("name", "bad_name", "甲", "a")
    rows.add([Problem("f.csv", 4, "form", "unknown_form", "乙", "b")])
    second.bad("code", "empty", "丙", "c")
    rows.add([Problem("f.csv", None, "code", "already_imported", "丁", "d")])
    assert [(p.row, p.code) for p in rows.problems()] == [
        (None, "already_imported"),
        (3, "empty"),
        (4, "bad_name"),
        (4, "unknown_form"),
    ]


def test_refuse_raises_every_problem_with_the_files_row_count_and_passes_a_clean_file() -> None:
    clean = rows_of({}, {})
    clean.refuse()
    rows = rows_of({}, {}, {})
    rows.rows[1].bad("code", "empty", "甲", "a")
    with pytest.raises(ValidationFailed) as refused:
        rows.refuse()
    assert refused.value.total_rows == 3 and [p.row for p in refused.value.problems] == [3]
    assert "1 problem(s) in 1 of 3 row(s)" in refused.value.diagnostics()


# --- all or nothing ------------------------------------------------------------------------------

GOOD = {
    "name": ["张三", "Li Si", "欧阳锋"],
    "hours": ["0", "12.5", "100"],
    "member": ["是", "no", ""],
    "since": ["2020-01-02", "2020/1/2", ""],
    "form": ["A", "b"],
}
BAD = {
    "name": ["", "长" * 65],
    "hours": ["-1", "abc", "100.5", "nan"],
    "member": ["也许"],
    "since": ["2023-02-30", "明年"],
    "form": ["Z"],
}
FORMS = {"A": "A", "B": "B"}


def import_people(path: Path, store: list[tuple[Any, ...]]) -> int:
    """A small importer in the shape of certify's: every problem of the file, then all rows or
    none into ``store``."""
    rows = read_rows(path, PEOPLE)
    found = []
    form = lookup(lambda c: FORMS.get(c.upper()), code="unknown_form", what=("试卷", "form"))
    for row in rows:
        rows.unique(row, "code", row.text("code"))
        found.append(
            (
                row.get("name", PERSON_NAME),
                row.get("hours", number(0, 100, code="bad_hours")),
                row.get("member", flag()),
                row.get("since", day()),
                row.get("form", form),
            )
        )
    rows.refuse()
    store.extend(found)
    return len(found)


cell_choice = st.tuples(st.booleans(), st.integers(0, 10))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    table=st.lists(
        st.tuples(st.sampled_from("ABC"), st.fixed_dictionaries({c: cell_choice for c in GOOD})),
        min_size=1,
        max_size=8,
    ),
    chinese=st.booleans(),
)
def test_every_problem_is_named_and_nothing_written_or_every_row_is_written(
    tmp_path: Path, table: list[tuple[str, dict[str, tuple[bool, int]]]], chinese: bool
) -> None:
    """Any mix of good and bad rows: either every bad cell and every repeated code is named by
    row and field and nothing is stored, or every row is stored."""
    header = ["编号", "姓名", "学时", "会员", "起始日期", "试卷"] if chinese else ["code", *GOOD]
    cells, expected, seen = [], set(), set()
    for n, (code, choices) in enumerate(table, start=2):
        row = [code]
        for column in GOOD:  # in the header's order
            bad, k = choices[column]
            pool = BAD[column] if bad else GOOD[column]
            row.append(pool[k % len(pool)])
            if bad:
                expected.add((n, column))
        if code in seen:
            expected.add((n, "code"))
        seen.add(code)
        cells.append(row)
    path = write_table(tmp_path / "people.csv", ["_备注", *header], [["", *r] for r in cells])
    store: list[tuple[Any, ...]] = []
    if expected:
        with pytest.raises(ValidationFailed) as refused:
            import_people(path, store)
        found = [(p.row, p.field) for p in refused.value.problems]
        assert set(found) == expected and len(found) == len(expected)
        assert all(
            p.file == str(path) and p.message_zh and p.message_en for p in refused.value.problems
        )
        assert store == []
    else:
        assert import_people(path, store) == len(cells)
        assert [s[0] for s in store] == [r[1] for r in cells]


# --- all or nothing, on the database ----------------------------------------------------------

ROSTER_FAULTS = {
    "admission_no": "考号 1",
    "name": "",
    "id_number": "370102199001010010",  # the check character is X
    "form": "Z",  # no such form: found against the database, reported the same way
}
_sittings = iter(range(10**6))


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(faults=st.lists(st.none() | st.sampled_from(sorted(ROSTER_FAULTS)), min_size=1, max_size=6))
def test_a_roster_is_registered_whole_or_refused_naming_every_bad_row_and_field(
    sitting: Database, tmp_path: Path, faults: list[str | None]
) -> None:
    n = next(_sittings)
    code = f"R{n}"
    create_sitting(
        sitting.engine,
        code,
        "ai-junior-sample",
        institution=institution(sitting.engine, "测试评价机构"),
    )
    lines = []
    for i, fault in enumerate(faults):
        cells = {
            "admission_no": f"{code}-{i}",
            "name": f"考生{i}",
            "id_number": roster_id((10 * n + i) % 1000),
            "form": "AB"[i % 2],
        }
        if fault:
            cells[fault] = ROSTER_FAULTS[fault]
        lines.append(",".join(cells.values()))
    path = roster(tmp_path, lines, f"{code}.csv")
    before = snapshot(sitting.engine)
    if any(faults):
        with pytest.raises(ValidationFailed) as refused:
            import_roster(sitting.engine, code, path, VAULT)
        assert [(p.row, p.field) for p in refused.value.problems] == [
            (i + 2, f) for i, f in enumerate(faults) if f
        ]
        assert snapshot(sitting.engine) == before
    else:
        assert import_roster(sitting.engine, code, path, VAULT).registered == len(faults)
        with Session(sitting.engine) as session:
            admitted = session.exec(select(Registration.admission_no)).all()
        assert {f"{code}-{i}" for i in range(len(faults))} <= set(admitted)
