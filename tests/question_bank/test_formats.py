"""Reading item files as Chinese institutions save them, and refusing what cannot be read."""

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from certify.infra.errors import InputError
from question_bank.columns import COLUMNS
from question_bank.formats import read_items, write_items
from tests.helpers import item

HEADER_ZH = "题目编号,职业,等级,题型,知识领域,题干,选项A,选项B,选项C,答案,分值"
ROW_ZH = "Z-1,人工智能,初级,单选,2,以下哪个是 Python 的关键字？,def,function,var,A,1"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_utf8_or_gbk_with_chinese_headers(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(f"{HEADER_ZH}\r\n{ROW_ZH}\r\n".encode(encoding))
    [row] = read_items(path)
    assert row.row == 2
    assert row.values["stem"] == "以下哪个是 Python 的关键字？"
    assert row.values["options"] == {"A": "def", "B": "function", "C": "var"}
    assert row.label("item_id") == "题目编号 (item_id)"


def test_utf16_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(f"{HEADER_ZH}\n{ROW_ZH}\n".encode("utf-16"))
    with pytest.raises(InputError, match="CSV UTF-8") as err:
        read_items(path)
    assert err.value.problem.code == "encoding"


def test_bytes_that_are_neither_utf8_nor_gb18030_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b"item_id,stem\n\x81\x20\xff\xfe\x80\n")
    with pytest.raises(InputError) as err:
        read_items(path)
    assert err.value.problem.code == "encoding"


def test_missing_and_unknown_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,occupation,level,type,stem,key,points,colour\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_items(path)
    problem = err.value.problem
    assert problem.code == "columns" and problem.row == 1
    assert "knowledge_area" in problem.message_en and "colour" in problem.message_en


def test_a_row_longer_than_the_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(f"{HEADER_ZH}\n{ROW_ZH},surplus\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_items(path)
    assert err.value.problem.row == 2


def test_note_columns_starting_with_underscore_and_blank_rows_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(f"_note,{HEADER_ZH}\nhello,{ROW_ZH}\n,,,,,,,,,,,\n", encoding="utf-8")
    assert len(read_items(path)) == 1


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:
        fh.truncate(200 * 2**20)  # 200 MB, sparse
    with pytest.raises(InputError) as err:
        read_items(path)
    assert err.value.problem.code == "file_too_large"
    assert "200.0 MB" in err.value.problem.message_en


def test_unknown_file_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "items.docx"
    path.write_bytes(b"PK")
    with pytest.raises(InputError, match="unsupported"):
        read_items(path)


def test_a_damaged_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "items.xlsx"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(InputError) as err:
        read_items(path)
    assert err.value.problem.code == "xlsx"


def test_xlsx_numbers_and_sheet_rows(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(
        ["item_id", "occupation", "level", "type", "knowledge_area", "stem", "key", "points"]
    )
    sheet.append([1001, "ai", "初级", "判断", 1, "题干", "对", 1])
    book.save(tmp_path / "items.xlsx")
    [row] = read_items(tmp_path / "items.xlsx")
    assert row.row == 2 and row.values["item_id"] == 1001 and row.values["knowledge_area"] == 1


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text('{"items": [\n  {"item_id": }\n]}', encoding="utf-8")
    with pytest.raises(InputError, match="line 2"):
        read_items(path)


def test_json_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text('{"format": "other/2", "items": []}', encoding="utf-8")
    with pytest.raises(InputError, match="unsupported format"):
        read_items(path)


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "json"])
def test_written_files_read_back_to_the_same_cells(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"items.{suffix}"
    write_items(path, [item(stem='第一行\n第二行, "引号"')])
    [row] = read_items(path)
    assert row.values["stem"] == '第一行\n第二行, "引号"'


def test_csv_export_starts_with_a_bom_so_excel_reads_utf8(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    write_items(path, [item()])
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data[3:].decode().split("\r\n")[0] == ",".join(COLUMNS)


def test_json_export_has_its_format_tag(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    write_items(path, [item()])
    assert json.loads(path.read_text())["format"] == "certify-bank/1"
