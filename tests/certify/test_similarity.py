"""雷同卷 detection: copied answer sheets are flagged, honest ones are not."""

from __future__ import annotations

import numpy as np

from certify.grading.similarity import similar_pairs


def sitting(seed: int, candidates: int = 400, items: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 4, items)
    ability = rng.normal(size=candidates)
    p_right = 1 / (1 + np.exp(-(ability[:, None] - rng.normal(size=items)[None, :])))
    right = rng.random((candidates, items)) < p_right
    # wrong answers favour one attractive distractor per item, as real ones do
    distractor = (
        keys
        + 1
        + (rng.random((candidates, items)) < 0.35) * rng.integers(1, 3, (candidates, items))
    ) % 4
    codes = np.where(right, keys, distractor)
    return (1 << codes).astype(np.uint16), (1 << keys).astype(np.uint16)


def test_a_copied_sheet_is_flagged_with_its_evidence() -> None:
    responses, keys = sitting(1)
    source, copier = 10, 250
    copy = np.random.default_rng(2).random(responses.shape[1]) < 0.85
    responses[copier, copy] = responses[source, copy]
    pairs = similar_pairs(responses, keys)
    assert [(p.a, p.b) for p in pairs] == [(source, copier)]
    pair = pairs[0]
    assert pair.identical_wrong <= pair.both_wrong and pair.identical_wrong > pair.expected
    assert pair.identical_all >= pair.identical_wrong + pair.identical_right - 0


def test_honest_sittings_raise_no_flags() -> None:
    for seed in (3, 4, 5):
        responses, keys = sitting(seed)
        assert similar_pairs(responses, keys) == []


def test_blanks_never_count_as_identical_answers() -> None:
    responses, keys = sitting(6)
    responses[7, :] = 0
    responses[8, :] = 0
    assert all(7 not in (p.a, p.b) for p in similar_pairs(responses, keys, threshold=2.0))
