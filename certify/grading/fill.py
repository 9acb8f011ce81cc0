"""Scoring fill-in answers (填空题): normalisation, alternatives and numeric tolerance.

A response gives one answer per blank, separated by ``;`` (also ``；``), like the key. Before
comparing, both sides are normalised:

1. Unicode NFKC — full-width letters, digits and punctuation become half-width (ＡＢＣ１ → ABC1);
2. case is folded (ReLU = relu);
3. all white space is removed (“修正 线性 单元” = “修正线性单元”);
4. trailing sentence punctuation is dropped (。．. ，,).

A blank is right when its normalised answer equals any accepted alternative (``|`` in the key),
or, for a numeric alternative, when the answer is a number within the tolerance — ``3.14±0.01``
accepts 3.13 to 3.15, and a plain ``0.5`` accepts any number equal to 0.5 (``.50``, ``0.500``).
Each blank carries an equal share of the question's points.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from certify.grading.scoring import score_text
from schemas.notation import ALTERNATIVE_SEPARATOR, LIST_SEPARATOR

_SPACE = re.compile(r"\s+")
_TOLERANCE = re.compile(r"([+-]?\d+(?:\.\d+)?)±(\d+(?:\.\d+)?)")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def normalise(text: str) -> str:
    """The comparable form of an answer (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub("", folded).rstrip("。.，,")


def _number(text: str) -> float | None:
    return float(text) if _NUMBER.fullmatch(text) else None


def blank_right(answer: str, alternatives: Sequence[str]) -> bool:
    """Is one blank's answer among the accepted alternatives?"""
    given = normalise(answer)
    if not given:
        return False
    value = _number(given)
    for alternative in alternatives:
        accepted = normalise(alternative)
        tolerance = _TOLERANCE.fullmatch(accepted)
        if tolerance:
            if (
                value is not None
                and abs(value - float(tolerance[1])) <= float(tolerance[2]) + 1e-12
            ):
                return True
            continue
        if given == accepted:
            return True
        target = _number(accepted)
        if value is not None and target is not None and value == target:
            return True
    return False


def credit(response: str, key: str) -> float:
    """Share of the blanks answered right, 0 to 1."""
    blanks = [b.split(ALTERNATIVE_SEPARATOR) for b in key.split(LIST_SEPARATOR)]
    answers = response.replace("；", LIST_SEPARATOR).split(LIST_SEPARATOR)
    answers += [""] * (len(blanks) - len(answers))
    right = sum(blank_right(a, alts) for a, alts in zip(answers, blanks, strict=False))
    return right / len(blanks)


def score_fill(responses: Sequence[str], key: str, points: float) -> NDArray[np.float32]:
    """Scores of one fill-in question for every candidate."""
    return score_text(responses, key, points, credit)
