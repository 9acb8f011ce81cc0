"""Files the command line writes for people to open in Excel: whatever a candidate wrote, no
cell of them starts a formula, and certify reads each back to what was written."""

from __future__ import annotations

import csv
from pathlib import Path

from certify.grading.analysis import export_responses
from certify.grading.service import grade_sitting
from certify.grading.sheets import candidate_copies, import_sheets
from certify.infra.tabular import FORMULA_STARTS, read_grid
from schemas.enums import ItemType
from tests.certify.exam_helpers import run
from tests.certify.test_grading_flow import sitting, write_marks, write_sheets
from tests.conftest import Database

assert sitting  # the fixture
ANSWERS = {"K0": '=HYPERLINK("http://evil.example/")', "K1": "-5", "K2": "@SUM(1)"}


def cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [c for row in csv.reader(fh) for c in row]


def test_cli_exports_never_start_a_formula(sitting: Database, tmp_path: Path) -> None:
    sheets = tmp_path / "sheets.csv"
    write_sheets(sitting, sheets, {"K0", "K1", "K2", "K3"})
    with sheets.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    _, copies = candidate_copies(sitting.engine, "S1")
    for row in rows[1:]:  # every fill-in answer of these candidates is written like a formula
        if row[0] in ANSWERS:
            fill = {q.number for q in copies[row[0]][1].questions if q.type is ItemType.FILL}
            row[2:] = [
                ANSWERS[row[0]] if int(n) in fill else v
                for n, v in zip(rows[0][2:], row[2:], strict=True)
            ]
    with sheets.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    import_sheets(sitting.engine, "S1", sheets)
    write_marks(sitting, tmp_path / "r1.csv", {}, "甲")
    write_marks(sitting, tmp_path / "r2.csv", {}, "乙")
    run(sitting, "marks", "import", "S1", str(tmp_path / "r1.csv"))
    run(sitting, "marks", "import", "S1", str(tmp_path / "r2.csv"))
    grade_sitting(sitting.engine, "S1")

    responses = tmp_path / "作答明细.csv"
    export_responses(sitting.engine, "S1", responses)
    run(sitting, "marks", "list", "S1", "--out", str(tmp_path / "list.csv"))
    run(sitting, "results", "S1", "--out", str(tmp_path / "results.csv"))
    for path in (responses, tmp_path / "list.csv", tmp_path / "results.csv"):
        assert not [c for c in cells(path) if c.startswith(FORMULA_STARTS)], path.name
    assert '\'=HYPERLINK("http://evil.example/")' in cells(responses)

    grid = read_grid(responses)  # and certify reads back exactly what the candidate wrote
    admission, kind, answer = (grid.header.index(c) for c in ("admission_no", "type", "response"))
    for candidate, expected in ANSWERS.items():
        found = {
            row[answer]
            for _, row in grid.rows
            if row[admission] == candidate and row[kind] == ItemType.FILL.value
        }
        assert found == {expected}
