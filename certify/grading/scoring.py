"""Scoring objective answers: responses as option bitmasks, keys as bitmasks, numpy throughout.

Encoding (one ``uint16`` per candidate and question):

* single / multiple choice: bit k set when option letter k (A = bit 0 … H = bit 7) was marked;
* true / false: T = bit 0, F = bit 1;
* ``0`` means blank; :data:`INVALID` marks an answer that could not be read (a letter the
  question does not have, a stray symbol) and scores zero like a wrong answer.

Rules, per question:

* single choice and true/false: full points when the response equals the key, else 0;
* multiple choice, ``subset_partial``: full points for the exact key; ``partial_fraction`` of the
  points when the response is a non-empty proper subset of the key (no wrong option); else 0;
* multiple choice, ``all_or_nothing``: full points for the exact key, else 0;
* matching (:func:`score_matching`, answers as text, one letter per premise): each premise
  matched right earns an equal share of the points, as fill-in blanks do.

    score[c, i] = points[i] * (R == K  ?  1  :  multiple[i] & partial & R≠0 & (R & ~K) = 0  ?  f  :  0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from schemas.notation import OPTION_LETTERS, UNMATCHED

INVALID = np.uint16(1 << 15)
CHUNK = 1 << 14


def encode_letters(text: str, letters: str = OPTION_LETTERS, width: int = 8) -> int:
    """Bitmask of ``text`` (e.g. ``"ACD"`` → 0b1101); INVALID for a letter outside ``letters[:width]``.

    Spaces, commas and 、 between letters are ignored; lower case counts as upper case; a
    letter given twice counts once. The empty string is 0 (blank).
    """
    mask = 0
    for ch in text.upper():
        if ch in " ,，、;；":
            continue
        k = letters.find(ch)
        if k < 0 or k >= width:
            return int(INVALID)
        mask |= 1 << k
    return mask


def encode_true_false(text: str) -> int:
    """T → 1, F → 2 (also 对/错, √/×, true/false); blank 0; anything else INVALID."""
    word = text.strip().lower()
    if not word:
        return 0
    if word in {"t", "true", "对", "正确", "√", "✓", "y"}:
        return 1
    if word in {"f", "false", "错", "错误", "×", "✗", "n"}:
        return 2
    return int(INVALID)


def score_choices(
    responses: NDArray[np.uint16],
    keys: NDArray[np.uint16],
    points: NDArray[np.float64],
    multiple: NDArray[np.bool_],
    *,
    partial_fraction: float = 0.5,
) -> NDArray[np.float32]:
    """Scores (candidates × questions, float32) of bitmask responses against bitmask keys.

    ``multiple`` marks multiple-choice columns, which get ``partial_fraction`` of the points for
    a correct proper subset (pass 0 for all-or-nothing). Raises ValueError on shape mismatch.
    """
    if responses.ndim != 2 or responses.shape[1] != keys.shape[0]:
        raise ValueError(f"responses {responses.shape} do not match {keys.shape[0]} keys")
    out = np.empty(responses.shape, dtype=np.float32)
    full = points.astype(np.float32)
    part = (points * partial_fraction).astype(np.float32) * multiple
    not_key = ~keys
    for start in range(0, len(responses), CHUNK):  # chunks stay in cache and bound memory
        r = responses[start : start + CHUNK]
        exact = r == keys
        chunk = out[start : start + CHUNK]
        np.multiply(exact, full, out=chunk)
        if partial_fraction and multiple.any():
            subset = (r != 0) & ((r & not_key) == 0) & ~exact
            chunk += subset * part
    return out


def matching_credit(response: str, key: str) -> float:
    """Share of a matching question's premises matched right, 0 to 1: ``response`` and ``key``
    give one letter per premise in the premises' order (:data:`UNMATCHED` for none); a
    response longer than the key earns nothing for the extra letters."""
    answer = response.upper()
    return sum(a == k != UNMATCHED for a, k in zip(answer, key, strict=False)) / len(key)


def score_matching(responses: Sequence[str], key: str, points: float) -> NDArray[np.float32]:
    """Scores of one matching question for every candidate."""
    return score_text(responses, key, points, matching_credit)


def score_text(
    responses: Sequence[str], key: str, points: float, credit: Callable[[str, str], float]
) -> NDArray[np.float32]:
    """Scores of one question answered in text, ``credit`` (0 to 1) of each answer against
    ``key`` times ``points``; each distinct answer is judged once (a sitting's answers repeat:
    a few hundred distinct among thousands)."""
    values, inverse = np.unique(
        np.asarray(responses, dtype=object).astype(str), return_inverse=True
    )
    judged = np.array([credit(v, key) for v in values], dtype=np.float32)
    scores: NDArray[np.float32] = judged[inverse] * np.float32(points)
    return scores
