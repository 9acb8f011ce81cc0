"""How keys and answers are written in a cell: option letters and separators. Plain constants,
so that the numeric cores that read answers depend on nothing else."""

OPTION_LETTERS = "ABCDEFGH"
"""Option letters an item may use, in order; at most eight options."""

LIST_SEPARATOR = ";"
"""Separates tags, and the blanks of a fill-in key, in one cell."""

ALTERNATIVE_SEPARATOR = "|"
"""Separates the accepted answers of one fill-in blank."""

__all__ = ["ALTERNATIVE_SEPARATOR", "LIST_SEPARATOR", "OPTION_LETTERS"]
