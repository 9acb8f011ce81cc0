"""A marks file: one mark per rater and script, or the file is refused naming both rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from certify.grading.marks import import_marks, marking_list, repeated_rows
from certify.infra.errors import ValidationFailed
from certify.infra.tabular import write_table
from tests.certify.test_grading_flow import sitting
from tests.conftest import Database
from tests.helpers import snapshot

assert sitting  # the fixture


def test_repeated_rows_point_at_the_first_row_with_the_same_key() -> None:
    rows = [
        (2, ("甲", "A")),
        (3, ("乙", "A")),
        (4, ("甲", "A")),
        (5, ("甲", "B")),
        (7, ("甲", "A")),
    ]
    assert repeated_rows(rows) == {4: 2, 7: 2}
    assert repeated_rows([]) == {}


def test_two_marks_by_one_rater_for_one_script_in_one_file_are_refused(
    sitting: Database, tmp_path: Path
) -> None:
    first, second = marking_list(sitting.engine, "S1")[:2]
    path = write_table(
        tmp_path / "marks.csv",
        ["评分员", "评卷号", "分数"],
        [["甲", first.code, 1], ["甲", second.code, 2], ["甲", first.code.lower(), 3]],
    )
    before = snapshot(sitting.engine)
    with pytest.raises(ValidationFailed) as refused:
        import_marks(sitting.engine, "S1", path)
    (problem,) = refused.value.problems
    assert (problem.row, problem.field, problem.code) == (4, "script", "repeated")
    assert "rows 2 and 4" in problem.message_en and "第 2 行和第 4 行" in problem.message_zh
    assert snapshot(sitting.engine) == before
    # Another rater's mark for the same script in the same file is round two, as before.
    path = write_table(
        tmp_path / "two.csv",
        ["评分员", "评卷号", "分数"],
        [["甲", first.code, 1], ["乙", first.code, 1]],
    )
    assert import_marks(sitting.engine, "S1", path) == 2


def test_a_rater_correcting_a_round_one_mark_changes_that_row_only(
    sitting: Database, tmp_path: Path
) -> None:
    """A second file from the same rater before round two replaces their own round-one marks
    in place (the stored rows, not new ones, with the time of the correction); new scripts in
    it are added."""
    from sqlmodel import Session, select

    from schemas.tables import Mark

    first, second, third = marking_list(sitting.engine, "S1")[:3]
    header = ["评分员", "评卷号", "分数"]
    path = write_table(tmp_path / "a.csv", header, [["甲", first.code, 1], ["甲", second.code, 2]])
    assert import_marks(sitting.engine, "S1", path) == 2
    with Session(sitting.engine) as session:
        before = {(m.registration_id, m.item_version_id): m for m in session.exec(select(Mark))}
    again = write_table(tmp_path / "b.csv", header, [["甲", second.code, 3], ["甲", third.code, 4]])
    assert import_marks(sitting.engine, "S1", again) == 2
    with Session(sitting.engine) as session:
        after = {(m.registration_id, m.item_version_id): m for m in session.exec(select(Mark))}
    key = {s.code: (s.registration_id, s.item_version_pk) for s in (first, second, third)}
    assert len(after) == 3 and {m.rater for m in after.values()} == {"甲"}
    assert {m.round for m in after.values()} == {1}
    assert after[key[first.code]].mark == 1.0
    corrected = after[key[second.code]]
    assert corrected.mark == 3.0 and corrected.id == before[key[second.code]].id
    # stored anew: statistics computed between the two files are out of date
    assert corrected.recorded_at > before[key[second.code]].recorded_at
    assert after[key[third.code]].mark == 4.0
