"""Reading what people send, within bounds — what a workbook may expand to, how long a cell may
be — and the one writer of tables people open in Excel, whose files read back unchanged."""

from __future__ import annotations

import json
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import openpyxl  # imported here so that its import is not counted in the memory measured
import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from certify.infra.errors import InputError
from certify.infra.tabular import read_grid, table_bytes, write_table
from certify.infra.xlsx_guard import MAX_CELL_CHARS
from cli import cli
from question_bank.columns import COLUMNS
from question_bank.formats import read_items
from tests.certify.bomb_files import (
    Bomb,
    Raw,
    billion_laughs,
    declare_size,
    quadratic_blowup,
    workbook,
)
from tests.conftest import Database
from tests.helpers import snapshot

MB = 2**20
assert openpyxl.__version__


@dataclass
class Measured:
    peak: int = 0
    seconds: float = 0.0


@contextmanager
def measured() -> Iterator[Measured]:
    """Peak memory Python allocated (tracemalloc) and time taken inside the block."""
    found = Measured()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield found
    finally:
        found.seconds = time.perf_counter() - start
        found.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def refused(path: Path, code: str) -> tuple[InputError, Measured]:
    with measured() as memory, pytest.raises(InputError) as error:
        read_grid(path)
    assert error.value.problem.code == code, error.value
    assert error.value.problem.file == str(path)
    return error.value, memory


# --- what a workbook may expand to -----------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["inline", "shared_strings"])
def test_a_huge_string_in_a_small_workbook_is_refused_from_the_zip_directory(
    tmp_path: Path, shared: bool
) -> None:
    path = workbook(tmp_path / "bomb.xlsx", [["serial"], [Bomb(100 * MB)]], shared_strings=shared)
    assert path.stat().st_size < 200_000
    error, memory = refused(path, "xlsx_too_large")
    part = "xl/sharedStrings.xml" if shared else "xl/worksheets/sheet1.xml"
    assert part in str(error) and "64 MB" in str(error)
    assert memory.peak < 2 * MB and memory.seconds < 1


@pytest.mark.parametrize("shared", [False, True], ids=["inline", "shared_strings"])
def test_a_long_text_within_the_size_limits_is_refused_while_it_streams(
    tmp_path: Path, shared: bool
) -> None:
    rows = [["serial"], ["ok"], [Bomb(16 * MB)]]
    path = workbook(tmp_path / "long.xlsx", rows, shared_strings=shared)
    error, memory = refused(path, "cell_too_long")
    if shared:
        assert "xl/sharedStrings.xml" in str(error) and "text number 3" in str(error)
    else:
        assert (error.problem.row, error.problem.field) == (3, "A3")
    assert "32,767" in str(error)
    assert memory.peak < 4 * MB


def test_excels_own_cell_limit_is_the_limit(tmp_path: Path) -> None:
    fits = workbook(tmp_path / "fits.xlsx", [["serial", "note"], ["1", "x" * MAX_CELL_CHARS]])
    ((row, cells),) = read_grid(fits).rows
    assert (row, cells[:2]) == (2, ["1", "x" * MAX_CELL_CHARS])
    over = workbook(tmp_path / "over.xlsx", [["serial", "note"], ["1", "x" * (MAX_CELL_CHARS + 1)]])
    error, _ = refused(over, "cell_too_long")
    assert (error.problem.row, error.problem.field) == (2, "B2")


def test_a_cell_put_together_from_short_runs_is_measured_whole(tmp_path: Path) -> None:
    """Rich text: each run is short, the cell openpyxl joins from them is not."""
    half = "x" * 20_000
    rich = Raw(f"</t><r><t>{half}</t></r><r><t>{half}</t></r><t>")
    path = workbook(tmp_path / "rich.xlsx", [["serial", "note"], ["1", rich]])
    error, _ = refused(path, "cell_too_long")
    assert (error.problem.row, error.problem.field) == (2, "note")


@pytest.mark.parametrize("bomb", [billion_laughs, quadratic_blowup])
@pytest.mark.parametrize("shared", [False, True], ids=["inline", "shared_strings"])
def test_xml_entities_are_refused_before_anything_expands(
    tmp_path: Path, bomb: object, shared: bool
) -> None:
    doctype, cell = bomb()  # type: ignore[operator]
    path = workbook(
        tmp_path / "entities.xlsx", [["serial"], [cell]], shared_strings=shared, doctype=doctype
    )
    assert path.stat().st_size < 10_000
    error, memory = refused(path, "xlsx_dtd")
    assert "DOCTYPE" in str(error)
    assert memory.peak < 4 * MB and memory.seconds < 1


def test_a_workbook_of_thousands_of_parts_is_refused(tmp_path: Path) -> None:
    path = workbook(tmp_path / "parts.xlsx", [["serial"], ["1"]], extra_members=5_000)
    _, memory = refused(path, "xlsx_members")
    assert memory.seconds < 1


def test_a_zip_directory_of_many_entries_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        for n in range(30_000):
            archive.writestr(f"{n}", b"")
    _, memory = refused(path, "xlsx_members")
    assert memory.peak < 1 * MB  # zipfile would hold 30,000 entries (about 15 MB)


def test_zipfile_never_expands_a_member_past_its_declared_size(tmp_path: Path) -> None:
    """The claim the size checks rest on: a member whose directory entry understates it
    yields no more than the stated size, then a CRC error."""
    path = workbook(tmp_path / "lying.xlsx", [["serial"], [Bomb(50 * MB)]])
    declare_size(path, "xl/worksheets/sheet1.xml", 10_000)
    got = 0
    with (
        measured() as memory,
        zipfile.ZipFile(path) as archive,
        archive.open("xl/worksheets/sheet1.xml") as member,
        pytest.raises(zipfile.BadZipFile, match="CRC"),
    ):
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size == 10_000
        while chunk := member.read(64 * 1024):
            got += len(chunk)
    assert got <= 10_000 and memory.peak < 1 * MB
    error, memory = refused(path, "xlsx")
    assert "CRC" in str(error) and memory.peak < 2 * MB


# --- CSV and JSON ----------------------------------------------------------------------------


def test_a_giant_csv_field_is_refused_naming_its_row(tmp_path: Path) -> None:
    path = tmp_path / "field.csv"
    path.write_text("serial,note\n1,ok\n2," + "x" * (20 * MB) + "\n", encoding="utf-8")
    error, _ = refused(path, "cell_too_long")
    assert error.problem.row == 3 and "32,767" in str(error)


def test_the_cell_limit_holds_in_csv_and_json_too(tmp_path: Path) -> None:
    long = "x" * (MAX_CELL_CHARS + 1)
    csv_path = tmp_path / "long.csv"
    csv_path.write_text(f"serial,note\n1,ok\n2,{long}\n", encoding="utf-8")
    error, _ = refused(csv_path, "cell_too_long")
    assert (error.problem.row, error.problem.field) == (3, "note")
    json_path = tmp_path / "long.json"
    json_path.write_text(json.dumps([{"serial": "1"}, {"serial": "2", "note": long}]))
    error, _ = refused(json_path, "cell_too_long")
    assert (error.problem.row, error.problem.field) == (2, "note")


def test_item_files_in_json_have_the_cell_limit_too(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    long = "x" * (MAX_CELL_CHARS + 1)
    items = [{"item_id": "A-1", "stem": "ok"}, {"item_id": "A-2", "options": {"B": long}}]
    path.write_text(json.dumps({"format": "certify-bank/1", "items": items}))
    with pytest.raises(InputError) as error:
        read_items(path)
    assert error.value.problem.code == "cell_too_long"
    assert (error.value.problem.row, error.value.problem.field) == (2, "options.B")


def test_deeply_nested_json_is_refused_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    refused(path, "json")


# --- nothing is written ----------------------------------------------------------------------


def bank_bomb(path: Path, size: int) -> Path:
    values: dict[str, str | Bomb] = dict.fromkeys(COLUMNS, "")
    values.update(item_id="B-1", occupation="ai", level="junior", type="subjective")
    values.update(knowledge_area="2", stem=Bomb(size), points="5", rubric="要点")
    return workbook(path, [list(COLUMNS), [values[c] for c in COLUMNS]], shared_strings=True)


@pytest.mark.parametrize("size", [100 * MB, 1 * MB], ids=["over_the_part_limit", "long_cell"])
def test_bank_import_of_a_bomb_says_why_and_writes_nothing(
    database: Database, tmp_path: Path, size: int
) -> None:
    path = bank_bomb(tmp_path / "bank.xlsx", size)
    before = snapshot(database.engine)
    with measured() as memory:
        result = CliRunner().invoke(cli, ["--db", database.url, "bank", "import", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert memory.peak < 8 * MB
    assert str(path) in result.stderr
    assert ("64 MB" if size > 64 * MB else "32,767") in result.stderr
    assert snapshot(database.engine) == before


# --- the one writer --------------------------------------------------------------------------

TEXT = st.text(
    st.one_of(
        st.sampled_from("=+-@'\t\r\n \"，题"),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.characters(min_codepoint=0x4E00, max_codepoint=0x4E20),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(st.one_of(TEXT, st.integers(-(10**6), 10**6)), min_size=1, max_size=6))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_what_the_writer_writes_reads_back_the_same(
    tmp_path_factory: pytest.TempPathFactory, fmt: str, cells: list[str | int]
) -> None:
    # XML turns a bare CR into LF: an XLSX cell cannot hold one (Excel writes _x000D_).
    assume(fmt == "csv" or not any(isinstance(c, str) and "\r" in c for c in cells))
    path = tmp_path_factory.mktemp("table") / f"t.{fmt}"
    header = ["id", *(f"c{n}" for n in range(len(cells)))]
    write_table(path, header, [["k", *cells]], sheet="t")
    grid = read_grid(path)
    assert grid.header == header
    expected = ["k", *(str(c) if fmt == "csv" and isinstance(c, int) else c for c in cells)]
    read = [None if c == "" else c for c in grid.rows[0][1][: len(header)]]
    assert read == [None if c == "" else c for c in expected]


def test_the_writer_keeps_formulas_out_and_numbers_in(tmp_path: Path) -> None:
    rows = [['=HYPERLINK("http://x")', "-5", -5, 2.5, "'=x", "@SUM(A1)", "王芳"]]
    header = ["a", "b", "c", "d", "e", "f", "g"]
    text = table_bytes(header, rows, "csv", "t").decode("utf-8-sig").splitlines()[1]
    assert text == '"\'=HYPERLINK(""http://x"")",\'-5,-5,2.5,\'\'=x,\'@SUM(A1),王芳'
    path = write_table(tmp_path / "t.xlsx", header, rows, sheet="t")
    sheet = openpyxl.load_workbook(path)["t"]
    (cells,) = sheet.iter_rows(min_row=2)
    assert [c.data_type for c in cells] == ["s", "s", "n", "n", "s", "s", "s"]
    assert [c.value for c in cells] == [
        '=HYPERLINK("http://x")',
        "-5",
        -5,
        2.5,
        "''=x",
        "@SUM(A1)",
        "王芳",
    ]
    assert [c.quotePrefix for c in cells] == [True, True, False, False, True, True, False]
    assert sheet.freeze_panes == "A2"
