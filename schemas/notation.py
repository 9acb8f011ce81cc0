"""How keys and answers are written in a cell: option letters and separators. Plain constants,
so that the numeric cores that read answers depend on nothing else."""

OPTION_LETTERS = "ABCDEFGH"
"""Option letters an item may use, in order; at most eight options."""

LIST_SEPARATOR = ";"
"""Separates tags, and the blanks of a fill-in key, in one cell."""

ALTERNATIVE_SEPARATOR = "|"
"""Separates the accepted answers of one fill-in blank."""

MAX_PREMISES = 8
"""A matching item's premises (the left column), numbered 1…8."""

UNMATCHED = "-"
"""In a matching answer (one option letter per premise, in the premises' order), a premise left
unmatched: ``"B-A"`` matches premise 1 with B, leaves 2, matches 3 with A."""

__all__ = [
    "ALTERNATIVE_SEPARATOR",
    "LIST_SEPARATOR",
    "MAX_PREMISES",
    "OPTION_LETTERS",
    "UNMATCHED",
]
