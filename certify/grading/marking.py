"""Subjective marks (双评): two blind marks, a third when they are too far apart.

Rule, per script and question, with marks on the item's own scale (0 to its maximum):

* two marks within ``tolerance`` of each other: the final mark is their mean;
* further apart: a third mark is required; the final mark is the mean of the third mark and
  whichever of the first two is nearer to it (the nearer of two equal distances: the higher);
* the final mark is then scaled to the question's points on the paper:
  ``points × final / maximum``.

Raters see scripts by an anonymous script number only; the service layer never gives them the
candidate's identity. Which round a mark of a file is, and which marks are refused (round one
locked once round two starts, no rater twice on a script, a third mark only where needed), is
:func:`place_marks`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from certify.infra.errors import Problem

Floats = NDArray[np.float64]


def needs_third(first: Floats, second: Floats, tolerance: float) -> NDArray[np.bool_]:
    """Which scripts need a third mark (the first two differ by more than ``tolerance``)."""
    out: NDArray[np.bool_] = np.abs(first - second) > tolerance + 1e-9
    return out


def final_marks(first: Floats, second: Floats, third: Floats, tolerance: float) -> Floats:
    """Final marks by the rule above; NaN where a needed third mark is missing."""
    gap = needs_third(first, second, tolerance)
    d1, d2 = np.abs(first - third), np.abs(second - third)
    nearer = np.where(d1 < d2, first, np.where(d2 < d1, second, np.maximum(first, second)))
    resolved = (third + nearer) / 2
    out: Floats = np.where(gap, resolved, (first + second) / 2)
    return out


def scaled(marks: Floats, maximum: Floats, points: Floats) -> Floats:
    """Marks on the item's scale → points on the paper."""
    out: Floats = points * marks / maximum
    return out


# --- the rounds: which mark of a file goes where ------------------------------------------------


@dataclass(frozen=True)
class GivenMark:
    """A mark stored already: who gave it, in which round, how much."""

    rater: str
    round: int
    mark: float


@dataclass(frozen=True)
class FileMark:
    """One row of a marks file that names a known script and a rater. ``mark`` is None where
    the mark itself could not be read (the row is refused for that already and counts only
    for the rule against a rater's repeated rows)."""

    row: int
    rater: str
    script: str
    mark: float | None


@dataclass(frozen=True)
class Placed:
    """A mark of the file the rules accept, with its round; ``corrects`` when it replaces the
    rater's own round-one mark (which stays round 1)."""

    row: int
    rater: str
    script: str
    round: int
    mark: float
    corrects: bool = False


def repeated_rows(keys: Iterable[tuple[int, Hashable]]) -> dict[int, int]:
    """Row → the first earlier row with the same key, for every row whose key came before."""
    first: dict[Hashable, int] = {}
    repeats = {}
    for row, key in keys:
        if key in first:
            repeats[row] = first[key]
        else:
            first[key] = row
    return repeats


def place_marks(
    rows: Sequence[FileMark],
    given: Mapping[str, Sequence[GivenMark]],
    tolerance: Mapping[str, float],
    *,
    file: str = "",
) -> tuple[list[Placed], list[Problem]]:
    """The marks of one file that the blind-marking rules accept, each with its round, and a
    problem (naming ``file``, row and field) for each they refuse.

    ``given`` holds the stored marks of every script of the sitting, by script code, in round
    order; ``tolerance`` each script's largest gap between two marks that needs no third. Each
    row in turn, the file's accepted marks counting for the rows after it:

    * one rater marks a script once in a file: a later row with the same rater and script is
      refused (``repeated``), naming both rows, as two marks would make the later silently win;
    * a rater who has marked the script may correct their round-one mark until round two starts
      in the sitting (any script with two marks, stored or from an earlier row of the file);
      otherwise refused (``marked_twice``);
    * otherwise the mark is the script's next round: one and two always, a third only where the
      first two differ by more than the tolerance (:func:`needs_third`), never a fourth
      (``no_more_marks``).

    Pure: the arguments are left as they are.
    """
    round_two = any(len(marks) >= 2 for marks in given.values())
    state = {code: list(marks) for code, marks in given.items()}
    repeats = repeated_rows((r.row, (r.rater, r.script)) for r in rows)
    placed: list[Placed] = []
    refused: list[Problem] = []
    for r in rows:
        if r.row in repeats:
            refused.append(_repeated(file, r, repeats[r.row]))
            continue
        if r.mark is None:
            continue
        marks = state.setdefault(r.script, [])
        mine = next((k for k, m in enumerate(marks) if m.rater == r.rater), None)
        if mine is not None and marks[mine].round == 1 and not round_two:
            marks[mine] = GivenMark(r.rater, 1, r.mark)
            placed.append(Placed(r.row, r.rater, r.script, 1, r.mark, corrects=True))
        elif mine is not None:
            refused.append(_marked_twice(file, r, locked=marks[mine].round == 1))
        elif len(marks) >= 3 or (len(marks) == 2 and not _apart(marks, tolerance[r.script])):
            refused.append(
                Problem(
                    file,
                    r.row,
                    "script",
                    "no_more_marks",
                    "该答卷不需要再评（两评分差在允许范围内或已三评）",
                    "this script needs no further mark (the first two agree, or it has three)",
                )
            )
        else:
            marks.append(GivenMark(r.rater, len(marks) + 1, r.mark))
            placed.append(Placed(r.row, r.rater, r.script, len(marks), r.mark))
            round_two = round_two or len(marks) == 2
    return placed, refused


def _apart(marks: Sequence[GivenMark], tolerance: float) -> bool:
    first, second = np.array([marks[0].mark]), np.array([marks[1].mark])
    return bool(needs_third(first, second, tolerance)[0])


def _repeated(file: str, r: FileMark, first: int) -> Problem:
    return Problem(
        file,
        r.row,
        "script",
        "repeated",
        f"{r.rater} 对评卷号 {r.script} 的评分在第 {first} 行和第 {r.row} 行重复，请只保留一行",
        f"{r.rater} marks script {r.script} in rows {first} and {r.row}: keep one",
    )


def _marked_twice(file: str, r: FileMark, *, locked: bool) -> Problem:
    reason = "第一轮已锁定" if locked else "同一评分员不能重复评同一份答卷"
    return Problem(
        file,
        r.row,
        "rater",
        "marked_twice",
        f"{r.rater} 已评过该答卷（{reason}）",
        f"{r.rater} has marked this script already" + (" (round one is locked)" if locked else ""),
    )


# --- progress: how far the marking has come ----------------------------------------------------


@dataclass(frozen=True)
class ScriptMarks:
    """One script as the progress counts it: its question, its marks so far (in round order)
    and its largest gap between two marks that needs no third."""

    question: int
    marks: Sequence[GivenMark]
    tolerance: float


@dataclass(frozen=True)
class QuestionProgress:
    """How far the marking of one question has come, in scripts."""

    question: int
    scripts: int
    first: int
    """Scripts with a round-one mark."""
    second: int
    """Scripts with two marks."""
    third_needed: int
    """Scripts whose first two marks are too far apart."""
    third_done: int
    final: int
    """Scripts with a final mark (two that agree, or a third)."""

    @property
    def third_pending(self) -> int:
        return self.third_needed - self.third_done

    @property
    def unfinished(self) -> int:
        return self.scripts - self.final


@dataclass(frozen=True)
class RaterProgress:
    """The marks one rater has given, by round."""

    rater: str
    rounds: tuple[int, int, int]
    """Marks in rounds one, two and three."""

    @property
    def total(self) -> int:
        return sum(self.rounds)


def tally_marks(
    scripts: Iterable[ScriptMarks],
) -> tuple[list[QuestionProgress], list[RaterProgress]]:
    """The progress of every question (by number) and every rater (by name): a script has its
    final mark once its first two marks agree within its tolerance (:func:`needs_third`) or a
    third mark came. Pure."""
    counts: dict[int, list[int]] = {}
    raters: dict[str, list[int]] = {}
    for s in scripts:
        c = counts.setdefault(s.question, [0, 0, 0, 0, 0, 0])
        c[0] += 1
        n = len(s.marks)
        apart = n >= 2 and _apart(s.marks, s.tolerance)
        c[1] += n >= 1
        c[2] += n >= 2
        c[3] += apart
        c[4] += apart and n >= 3
        c[5] += (n >= 2 and not apart) or n >= 3
        for m in s.marks:
            rounds = raters.setdefault(m.rater, [0, 0, 0])
            rounds[min(max(m.round, 1), 3) - 1] += 1
    questions = [QuestionProgress(q, *c) for q, c in sorted(counts.items())]
    by_rater = [RaterProgress(r, (n[0], n[1], n[2])) for r, n in sorted(raters.items())]
    return questions, by_rater
