"""Linking two calibrations through common items: the constants of a known change of scale are
found again by every method, a calibration's own items land back on the base scale, drifting
items are named, and unusable anchors are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.grading.irt import (
    CalibrationError,
    ItemParameters,
    calibrate,
    expected_scores,
    simulate,
)
from certify.grading.linking import METHODS, link, transform


def items(rng: np.random.Generator, count: int, model: str = "2pl") -> list[ItemParameters]:
    a = rng.lognormal(0.0, 0.3, count)
    b = rng.normal(0.0, 1.0, count)
    if model == "gpcm":
        return [
            ItemParameters("gpcm", float(ai), (float(-ai * (bi - 0.6)), float(-ai * (bi + 0.6))))
            for ai, bi in zip(a, b, strict=True)
        ]
    c = rng.uniform(0.1, 0.25, count) if model == "3pl" else np.zeros(count)
    return [
        ItemParameters(model, float(ai), (float(-ai * bi),), float(ci))
        for ai, bi, ci in zip(a, b, c, strict=True)
    ]


def on_new_scale(base: list[ItemParameters], A: float, B: float) -> list[ItemParameters]:
    """The same items as a calibration in a group whose θ is (θ_base − B)/A would report them."""
    return [transform(it, 1 / A, -B / A) for it in base]


def test_transform_moves_difficulty_and_slope_and_keeps_the_curves() -> None:
    item = ItemParameters("3pl", 1.2, (-0.6,), 0.2)
    moved = transform(item, 1.5, 0.4)
    assert moved.a == pytest.approx(0.8) and moved.c == 0.2
    assert moved.b[0] == pytest.approx(1.5 * item.b[0] + 0.4)
    theta_new = np.linspace(-3, 3, 7)
    # the same candidate, the same expected score, on either scale
    assert np.allclose(
        expected_scores(item, theta_new), expected_scores(moved, 1.5 * theta_new + 0.4)
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    A=st.floats(0.6, 1.6),
    B=st.floats(-1.0, 1.0),
    model=st.sampled_from(["2pl", "3pl", "gpcm"]),
)
def test_every_method_finds_a_known_change_of_scale(
    seed: int, A: float, B: float, model: str
) -> None:
    base = items(np.random.default_rng(seed), 15, model)
    new = on_new_scale(base, A, B)
    for method in METHODS:
        found = link(base, new, method)
        assert pytest.approx(A, abs=1e-4) == found.A, method
        assert pytest.approx(B, abs=1e-4) == found.B, method
        assert found.drifting == () and max(found.drift) < 1e-3


def test_a_drifting_item_is_named_and_the_curve_methods_resist_it() -> None:
    rng = np.random.default_rng(3)
    base = items(rng, 20)
    new = on_new_scale(base, 1.2, 0.3)
    # item 5 became 1.2 logits easier between the sittings (exposed, taught to the test)
    shifted = new[4]
    new[4] = ItemParameters("2pl", shifted.a, (shifted.d[0] + shifted.a * 1.2,))
    for method in METHODS:
        found = link(base, new, method)
        assert 4 in found.drifting, method
    sl = link(base, new, "stocking-lord")
    without = link(base[:4] + base[5:], new[:4] + new[5:], "stocking-lord")
    assert pytest.approx(1.2, abs=1e-4) == without.A and pytest.approx(0.3, abs=1e-4) == without.B
    assert without.drifting == ()
    assert abs(sl.B - 0.3) > abs(without.B - 0.3)


def test_two_calibrations_of_different_groups_meet_on_one_scale() -> None:
    """Two groups, the second abler (θ ~ N(0.5, 1.2²) on the base scale), each calibrated on
    its own; linked through 15 common items, the second's unique items land on the base
    scale near their generating values."""
    rng = np.random.default_rng(8)
    bank = items(rng, 45)
    common, only_a, only_b = bank[:15], bank[15:30], bank[30:]
    first = calibrate(simulate(common + only_a, rng.normal(size=4000), rng), "2pl")
    second = calibrate(simulate(common + only_b, rng.normal(0.5, 1.2, size=4000), rng), "2pl")
    found = link(first.items[:15], second.items[:15], "stocking-lord")
    assert pytest.approx(1.2, abs=0.1) == found.A and pytest.approx(0.5, abs=0.1) == found.B
    placed = [transform(it, found.A, found.B) for it in second.items[15:]]
    got_b = np.array([it.b[0] for it in placed])
    assert float(np.sqrt(np.mean((got_b - [it.b[0] for it in only_b]) ** 2))) < 0.15


def test_unusable_anchors_are_refused() -> None:
    rng = np.random.default_rng(4)
    base = items(rng, 5)
    with pytest.raises(CalibrationError, match="5 base and 4 new common items"):
        link(base, base[:4])
    with pytest.raises(CalibrationError, match="1 common items: linking needs at least 2"):
        link(base[:1], base[:1])
    mixed = [*base[:4], ItemParameters("gpcm", 1.0, (0.5, -0.5))]
    with pytest.raises(CalibrationError, match="common item 5 is 2pl with 2 categories"):
        link(base, mixed)
    same = [ItemParameters("2pl", 1.0, (0.0,))] * 3
    with pytest.raises(CalibrationError, match="all have one difficulty"):
        link(same, same, "mean/sigma")
    with pytest.raises(CalibrationError, match="unknown method"):
        link(base, base, "tucker")
