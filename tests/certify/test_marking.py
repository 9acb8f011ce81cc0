"""The blind-marking rounds as a pure rule: which round each mark of a file is, and which marks
are refused — no database, no files."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from certify.grading.marking import FileMark, GivenMark, Placed, place_marks

TOLERANCE = {"S1": 2.0, "S2": 2.0}


def given_marks(**scripts: list[tuple[str, float]]) -> dict[str, list[GivenMark]]:
    marks = {code: [] for code in TOLERANCE} | {
        code: [GivenMark(rater, n, mark) for n, (rater, mark) in enumerate(found, start=1)]
        for code, found in scripts.items()
    }
    return marks


def rows(*marks: tuple[str, str, float | None]) -> list[FileMark]:
    return [FileMark(n, rater, script, mark) for n, (rater, script, mark) in enumerate(marks, 2)]


def codes(
    file: Sequence[FileMark], given: Mapping[str, Sequence[GivenMark]]
) -> tuple[list[tuple[int, int, bool]], list[tuple[int | None, str | None, str]]]:
    placed, refused = place_marks(file, given, TOLERANCE, file="marks.csv")
    return (
        [(p.row, p.round, p.corrects) for p in placed],
        [(p.row, p.field, p.code) for p in refused],
    )


def test_the_first_two_raters_of_a_script_are_rounds_one_and_two() -> None:
    placed, refused = place_marks(
        rows(("甲", "S1", 3), ("乙", "S1", 4)), given_marks(), TOLERANCE, file="marks.csv"
    )
    assert placed == [Placed(2, "甲", "S1", 1, 3), Placed(3, "乙", "S1", 2, 4)] and not refused


def test_a_rater_corrects_round_one_until_round_two_starts_anywhere_in_the_sitting() -> None:
    assert codes(rows(("甲", "S1", 5)), given_marks(S1=[("甲", 3)])) == ([(2, 1, True)], [])
    locked = given_marks(S1=[("甲", 3)], S2=[("甲", 1), ("乙", 1)])
    placed, refused = place_marks(rows(("甲", "S1", 5)), locked, TOLERANCE, file="marks.csv")
    assert placed == [] and [(p.row, p.field, p.code) for p in refused] == [
        (2, "rater", "marked_twice")
    ]
    assert "locked" in refused[0].message_en and "第一轮已锁定" in refused[0].message_zh


def test_round_two_started_earlier_in_the_same_file_locks_round_one_too() -> None:
    # Else 甲 could move the first mark after a third mark was accepted because of it.
    file = rows(("乙", "S1", 10), ("丙", "S1", 5), ("甲", "S1", 10))
    assert codes(file, given_marks(S1=[("甲", 0)])) == (
        [(2, 2, False), (3, 3, False)],
        [(4, "rater", "marked_twice")],
    )


def test_a_rater_never_marks_the_same_script_in_two_rounds() -> None:
    placed, refused = place_marks(
        rows(("乙", "S1", 4)), given_marks(S1=[("甲", 3), ("乙", 3)]), TOLERANCE, file="m.csv"
    )
    assert placed == [] and refused[0].code == "marked_twice"
    assert "locked" not in refused[0].message_en and refused[0].file == "m.csv"


def test_a_third_mark_only_where_the_first_two_are_too_far_apart_and_never_a_fourth() -> None:
    apart = given_marks(S1=[("甲", 0), ("乙", 2.5)], S2=[("甲", 0), ("乙", 2)])
    assert codes(rows(("丙", "S1", 1), ("丙", "S2", 1)), apart) == (
        [(2, 3, False)],
        [(3, "script", "no_more_marks")],
    )
    full = given_marks(S1=[("甲", 0), ("乙", 9), ("丙", 5)])
    assert codes(rows(("丁", "S1", 1)), full) == ([], [(2, "script", "no_more_marks")])


def test_a_raters_two_rows_for_one_script_refuse_the_later_naming_both() -> None:
    file = rows(("甲", "S1", 1), ("甲", "S2", 2), ("乙", "S1", 1), ("甲", "S1", 3))
    placed, refused = place_marks(file, given_marks(), TOLERANCE, file="marks.csv")
    assert [(p.row, p.round) for p in placed] == [(2, 1), (3, 1), (4, 2)]
    (repeat,) = refused
    assert (repeat.row, repeat.field, repeat.code) == (5, "script", "repeated")
    assert "rows 2 and 5" in repeat.message_en and "第 2 行和第 5 行" in repeat.message_zh


def test_a_row_whose_mark_could_not_be_read_counts_only_for_repeats() -> None:
    file = rows(("甲", "S1", None), ("甲", "S1", 3), ("乙", "S1", 4))
    assert codes(file, given_marks()) == ([(4, 1, False)], [(3, "script", "repeated")])


# --- invariants ----------------------------------------------------------------------------------

RATERS = ("甲", "乙", "丙", "丁")
marks_strategy = st.sampled_from([0.0, 1.0, 2.0, 2.5, 4.0, 10.0])


@st.composite
def sittings(draw: st.DrawFn) -> dict[str, list[GivenMark]]:
    """Stored marks the rules could have produced: distinct raters, rounds 1..n, a third mark
    only where the first two are apart."""
    found = {}
    for code in TOLERANCE:
        raters = draw(st.permutations(RATERS))[: draw(st.sampled_from([0, 1, 1, 2, 3]))]
        marks = [GivenMark(r, n, draw(marks_strategy)) for n, r in enumerate(raters, start=1)]
        if len(marks) == 3 and abs(marks[0].mark - marks[1].mark) <= TOLERANCE[code]:
            marks = marks[:2]
        found[code] = marks
    return found


files = st.lists(
    st.tuples(
        st.sampled_from(RATERS),
        st.sampled_from(sorted(TOLERANCE)),
        st.one_of(marks_strategy, marks_strategy, marks_strategy, st.none()),
    ),
    max_size=12,
).map(lambda marks: rows(*marks))


@settings(max_examples=400)
@given(given_=sittings(), file=files)
def test_whatever_the_file_the_rounds_stay_sound(
    given_: dict[str, list[GivenMark]], file: list[FileMark]
) -> None:
    before = copy.deepcopy(given_)
    placed, refused = place_marks(file, given_, TOLERANCE, file="marks.csv")
    assert given_ == before  # pure
    by_row = {p.row: p for p in placed}
    refused_rows = [p.row for p in refused]
    # Every readable row is placed or refused, once; an unreadable one is only ever refused as a
    # repeat.
    assert len(by_row) == len(placed) and len(set(refused_rows)) == len(refused_rows)
    assert not set(by_row) & set(refused_rows)
    earlier: set[tuple[str, str]] = set()
    for r in file:
        key = (r.rater, r.script)
        repeated = key in earlier
        earlier.add(key)
        codes_of_row = [p.code for p in refused if p.row == r.row]
        assert (codes_of_row == ["repeated"]) == repeated
        if r.mark is None:
            assert r.row not in by_row
        else:
            assert (r.row in by_row) != bool(codes_of_row)
    # The marks after the file: distinct raters, rounds 1..n, at most three, a third only where
    # the first two are apart; corrections only of one's own round-one mark before round two.
    after = {code: {m.rater: m for m in marks} for code, marks in given_.items()}
    for p in placed:
        round_two = any(len(marks) >= 2 for marks in after.values())
        if p.corrects:
            assert not round_two and after[p.script][p.rater].round == 1 and p.round == 1
            after[p.script][p.rater] = GivenMark(p.rater, 1, p.mark)
        else:
            assert p.rater not in after[p.script] and p.round == len(after[p.script]) + 1
            after[p.script][p.rater] = GivenMark(p.rater, p.round, p.mark)
    for code, marks in after.items():
        ordered = sorted(marks.values(), key=lambda m: m.round)
        assert [m.round for m in ordered] == list(range(1, len(ordered) + 1)) and len(ordered) <= 3
        if len(ordered) == 3:
            assert abs(ordered[0].mark - ordered[1].mark) > TOLERANCE[code]


# --- progress ------------------------------------------------------------------------------------


def test_progress_counts_rounds_third_marks_and_raters() -> None:
    from certify.grading.marking import ScriptMarks, tally_marks

    scripts = [
        ScriptMarks(1, [], 2.0),
        ScriptMarks(1, [GivenMark("甲", 1, 5.0)], 2.0),
        ScriptMarks(1, [GivenMark("甲", 1, 5.0), GivenMark("乙", 2, 6.0)], 2.0),
        ScriptMarks(2, [GivenMark("乙", 1, 1.0), GivenMark("甲", 2, 9.0)], 2.0),
        ScriptMarks(
            2, [GivenMark("乙", 1, 1.0), GivenMark("甲", 2, 9.0), GivenMark("丙", 3, 8.0)], 2.0
        ),
    ]
    questions, raters = tally_marks(scripts)
    one, two = questions
    assert (one.question, one.scripts, one.first, one.second, one.final) == (1, 3, 2, 1, 1)
    assert (one.third_needed, one.third_pending, one.unfinished) == (0, 0, 2)
    assert (two.scripts, two.second, two.third_needed, two.third_done, two.final) == (2, 2, 2, 1, 1)
    assert two.third_pending == 1
    assert {r.rater: r.rounds for r in raters} == {
        "丙": (0, 0, 1),
        "乙": (2, 1, 0),
        "甲": (2, 2, 0),
    }


marks_of_a_script = st.lists(st.floats(0, 10), max_size=3).map(
    lambda found: [GivenMark(f"r{n % 4}", n + 1, m) for n, m in enumerate(found)]
)


@given(st.lists(st.tuples(st.integers(1, 5), marks_of_a_script, st.floats(0, 5)), max_size=40))
def test_progress_never_counts_more_than_there_is(found: list[Any]) -> None:
    from certify.grading.marking import ScriptMarks, tally_marks

    scripts = [ScriptMarks(q, marks, tolerance) for q, marks, tolerance in found]
    questions, raters = tally_marks(scripts)
    assert sum(q.scripts for q in questions) == len(scripts)
    for q in questions:
        assert q.scripts >= q.first >= q.second >= q.third_needed >= q.third_done >= 0
        assert q.second >= q.final >= 0 and q.third_pending >= 0
        assert q.final == q.second - q.third_pending
    assert sum(r.total for r in raters) == sum(len(s.marks) for s in scripts)
