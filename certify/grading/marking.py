"""Subjective marks (双评): two blind marks, a third when they are too far apart.

Rule, per script and question, with marks on the item's own scale (0 to its maximum):

* two marks within ``tolerance`` of each other: the final mark is their mean;
* further apart: a third mark is required; the final mark is the mean of the third mark and
  whichever of the first two is nearer to it (the nearer of two equal distances: the higher);
* the final mark is then scaled to the question's points on the paper:
  ``points × final / maximum``.

Raters see scripts by an anonymous script number only; the service layer never gives them the
candidate's identity, and locks round one once round two starts.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

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
