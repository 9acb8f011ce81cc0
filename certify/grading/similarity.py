"""雷同卷: pairs of candidates with improbably many identical wrong answers.

Method: error similarity analysis (Bellezza & Bellezza, 1989, "Detection of cheating on
multiple-choice tests by using error-similarity analysis", *Teaching of Psychology* 16(3)).
Identical *wrong* answers are the evidence — right answers agree for an honest reason — so for
candidates a and b:

* Wab = items both answered wrongly (a blank is not an answer and never matches);
* Mab = of those, items where both gave the same wrong answer;
* under independence, two wrong answers to item i agree with probability
  qᵢ = Σₒ fᵢₒ², fᵢₒ the share of wrong answers to item i that were option pattern o;
* E = Σ qᵢ and V = Σ qᵢ(1 − qᵢ) over the items both got wrong, and z = (Mab − E) / √V.

A pair is flagged when z is at least the threshold and the pair shares at least
``min_matches`` identical wrong answers. The default threshold 5.0 is a one-sided normal tail of
about 2.9·10⁻⁷: a sitting of 1,000 honest candidates (about 500,000 pairs) expects 0.14 false
alarms; for 10,000 candidates (50 million pairs) raise it to about 6. Flagged pairs are evidence for a person to weigh,
never an automatic verdict. Identical right answers and all identical answers are reported
alongside.

All pairs are computed with matrix products over one-hot encodings of the wrong answers, in
blocks of rows so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class SimilarPair:
    """One flagged pair and the evidence."""

    a: int
    b: int
    z: float
    identical_wrong: int
    both_wrong: int
    expected: float
    identical_right: int
    identical_all: int


def similar_pairs(
    responses: NDArray[np.integer],
    keys: NDArray[np.integer],
    *,
    threshold: float = 5.0,
    min_matches: int = 3,
    block: int = 2048,
) -> list[SimilarPair]:
    """Flagged pairs (row indices a < b) of a (candidates × items) response matrix.

    Responses are integer codes (e.g. option bitmasks), 0 for blank; ``keys`` the right codes.
    """
    n = responses.shape[0]
    answered = responses != 0
    wrong = answered & (responses != keys)
    right = answered & (responses == keys)
    onehot, q = _wrong_patterns(responses, wrong)
    both_w = wrong.astype(np.float32)
    qw = both_w * q.astype(np.float32)
    vw = both_w * (q * (1 - q)).astype(np.float32)
    right_f = right.astype(np.float32)
    flagged: list[SimilarPair] = []
    for start in range(0, n, block):
        stop = min(start + block, n)
        matches = onehot[start:stop] @ onehot.T
        expected = qw[start:stop] @ both_w.T
        variance = vw[start:stop] @ both_w.T
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (matches - expected) / np.sqrt(variance)
        z[~np.isfinite(z)] = 0
        rows = np.arange(start, stop)[:, None]
        hit = (z >= threshold) & (matches >= min_matches) & (np.arange(n)[None, :] > rows)
        for r, c in zip(*np.nonzero(hit), strict=True):
            a, b = start + int(r), int(c)
            flagged.append(
                SimilarPair(
                    a,
                    b,
                    float(z[r, c]),
                    int(matches[r, c]),
                    int((wrong[a] & wrong[b]).sum()),
                    float(expected[r, c]),
                    int(right_f[a] @ right_f[b]),
                    int((answered[a] & (responses[a] == responses[b])).sum()),
                )
            )
    flagged.sort(key=lambda p: -p.z)
    return flagged


def _wrong_patterns(
    responses: NDArray[np.integer], wrong: NDArray[np.bool_]
) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """One-hot columns per (item, wrong answer) and each item's chance two wrong answers agree."""
    n, k = responses.shape
    columns = []
    q = np.zeros(k)
    for i in range(k):
        codes = responses[wrong[:, i], i]
        if len(codes) == 0:
            continue
        values, counts = np.unique(codes, return_counts=True)
        share = counts / counts.sum()
        q[i] = float((share**2).sum())
        for v in values:
            columns.append((responses[:, i] == v) & wrong[:, i])
    if not columns:
        return np.zeros((n, 1), dtype=np.float32), q
    return np.stack(columns, axis=1).astype(np.float32), q
