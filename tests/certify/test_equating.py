"""Score equating: equipercentile equating by Kolen & Brennan's definitions, IRT true-score and
observed-score equating, and the pass mark carried from one form to another."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.grading.equating import (
    equipercentile,
    equivalent,
    observed_score,
    percentile_ranks,
    true_score,
)
from certify.grading.irt import CalibrationError, ItemParameters, summed_score_distribution
from certify.grading.linking import transform


def form(
    rng: np.random.Generator, count: int, shift: float = 0.0, c: float = 0.0
) -> list[ItemParameters]:
    a = rng.lognormal(0.0, 0.3, count)
    b = rng.normal(shift, 1.0, count)
    model = "3pl" if c else "2pl"
    return [
        ItemParameters(model, float(ai), (float(-ai * bi),), c) for ai, bi in zip(a, b, strict=True)
    ]


def test_percentile_ranks_and_their_inverse_by_the_books_definitions() -> None:
    """A small example worked by hand from Kolen & Brennan's definitions (eqs. 2.14–2.18)."""
    freq = np.array([2.0, 3.0, 5.0])  # F = .2, .5, 1.0
    assert np.allclose(percentile_ranks(freq), [10.0, 35.0, 75.0])
    same = equipercentile(freq, freq)
    assert np.allclose(same.equivalents, [0, 1, 2])
    # X: uniform over 0–2; Y as above. P_X(1) = 50 → Y's score 1 has F(0) = .2 < .5 ≤ F(1) = .5,
    # so the smallest y* with F(y*) > .5 is 2: (0.5 − 0.5)/(1 − 0.5) + 1.5 = 1.5
    conv = equipercentile(np.array([1.0, 1.0, 1.0]), freq)
    assert conv.equivalents[1] == pytest.approx(1.5)
    # P_X(0) = 100/6 → in Y's score 0: (1/6)/.2 − .5
    assert conv.equivalents[0] == pytest.approx((1 / 6) / 0.2 - 0.5)


@settings(max_examples=60, deadline=None)
@given(
    fx=st.lists(st.integers(0, 50), min_size=3, max_size=30).filter(lambda v: sum(v) > 0),
    fy=st.lists(st.integers(0, 50), min_size=3, max_size=30).filter(lambda v: sum(v) > 0),
)
def test_equipercentile_is_monotone_in_range_and_does_not_depend_on_the_group_size(
    fx: list[int], fy: list[int]
) -> None:
    conv = equipercentile(np.array(fx, dtype=float), np.array(fy, dtype=float))
    eq = conv.equivalents
    assert np.all(np.diff(eq) >= -1e-12)
    assert np.all(eq >= -0.5) and np.all(eq <= len(fy) - 0.5)
    doubled = equipercentile(np.array(fx, dtype=float) * 3, np.array(fy, dtype=float) * 7)
    assert np.allclose(doubled.equivalents, eq)


def test_identical_forms_equate_to_themselves_by_every_method() -> None:
    items = form(np.random.default_rng(1), 20)
    for conv in (true_score(items, items), observed_score(items, items)):
        assert np.allclose(conv.equivalents[1:-1], conv.scores[1:-1], atol=1e-6), conv.method


def test_a_harder_form_needs_fewer_points_for_the_same_standing() -> None:
    rng = np.random.default_rng(2)
    base = form(rng, 40)
    harder = [transform(it, 1.0, 0.4) for it in base]  # every item 0.4 harder
    for conv in (true_score(harder, base), observed_score(harder, base)):
        inner = conv.equivalents[2:-2] - conv.scores[2:-2]
        assert np.all(inner > 0), conv.method  # a score on the harder form is worth more
        assert np.all(np.diff(conv.equivalents) > 0)
        mark = equivalent(conv, 24.0)  # 60 % on the base form
        assert mark < 24.0
        assert conv(mark) == pytest.approx(24.0, abs=1e-9)


def test_true_score_equating_extends_below_the_guessing_floor_linearly() -> None:
    rng = np.random.default_rng(3)
    x = form(rng, 20, c=0.2)  # floor 4.0
    y = form(rng, 20, c=0.25)  # floor 5.0
    conv = true_score(x, y)
    assert conv.equivalents[0] == 0.0
    assert conv.equivalents[2] == pytest.approx(2 * 5.0 / 4.0)
    assert conv.equivalents[4] == pytest.approx(5.0)
    assert conv.equivalents[-1] == 20.0
    assert np.all(np.diff(conv.equivalents) > 0)


def test_observed_score_equating_matches_the_scores_of_one_simulated_population() -> None:
    """The model's summed-score distribution of a form agrees with scores simulated in the
    same population (so the equipercentile step is fed the right distributions)."""
    from certify.grading.irt import simulate

    rng = np.random.default_rng(4)
    items = form(rng, 15)
    grid = np.linspace(-6, 6, 121)
    model = summed_score_distribution(items, grid, np.exp(-0.5 * grid**2))
    scores = simulate(items, rng.normal(size=200_000), rng).sum(axis=1).astype(int)
    seen = np.bincount(scores, minlength=16) / scores.size
    assert np.abs(model - seen).max() < 0.005


def test_bad_input_is_refused() -> None:
    with pytest.raises(CalibrationError, match="non-negative frequency"):
        equipercentile(np.array([1.0, -1.0, 2.0]), np.array([1.0, 1.0]))
    with pytest.raises(CalibrationError, match="without items"):
        true_score([], form(np.random.default_rng(5), 3))


def test_linear_cineg_with_groups_alike_on_the_anchor_is_plain_linear_equating() -> None:
    from certify.grading.equating import AnchorGroup, linear_cineg

    rng = np.random.default_rng(6)
    anchor = rng.normal(6, 2, 500).round()
    x = anchor * 2 + rng.normal(10, 3, 500)
    y = anchor * 2.5 + rng.normal(8, 2, 500)
    for method in ("tucker", "levine"):
        conv = linear_cineg(AnchorGroup(x, anchor), AnchorGroup(y, anchor), method=method, top=40)
        slope = np.std(y, ddof=1) / np.std(x, ddof=1)
        assert np.allclose(conv.equivalents, slope * (conv.scores - x.mean()) + y.mean())


def test_tucker_recovers_the_synthetic_population_when_its_assumptions_hold() -> None:
    """X = 2V + e in every population, Y = 2.2V + 1 + e′ likewise: the synthetic population's
    linear relation is known in closed form, and Tucker finds it from the two groups."""
    from certify.grading.equating import AnchorGroup, linear_cineg

    rng = np.random.default_rng(7)
    n = 200_000
    v1, v2 = rng.normal(0.0, 1.0, n), rng.normal(0.5, 1.2, n)
    x = 2 * v1 + rng.normal(0, 2, n)
    y = 2.2 * v2 + 1 + rng.normal(0, 1.5, n)
    conv = linear_cineg(AnchorGroup(x, v1), AnchorGroup(y, v2), top=10, w_new=0.5)
    mean_v = 0.25
    var_v = 0.5 * 1.0 + 0.5 * 1.44 + 0.25 * 0.25
    mu_x, sd_x = 2 * mean_v, np.sqrt(4 * var_v + 4)
    mu_y, sd_y = 2.2 * mean_v + 1, np.sqrt(2.2**2 * var_v + 2.25)
    truth = sd_y / sd_x * (conv.scores - mu_x) + mu_y
    # sampling error only: the slope within 1 %, every equivalent within 0.1 of a point
    slope = conv.equivalents[1] - conv.equivalents[0]
    assert slope == pytest.approx(sd_y / sd_x, rel=0.01)
    assert np.abs(conv.equivalents - truth).max() < 0.1


def test_linear_cineg_backwards_is_the_inverse_and_levine_differs_from_tucker() -> None:
    from certify.grading.equating import AnchorGroup, linear_cineg

    rng = np.random.default_rng(8)
    v1, v2 = rng.normal(5, 2, 3000), rng.normal(6, 2.4, 3000)
    new = AnchorGroup(v1 * 2.5 + rng.normal(6, 3, 3000), v1)
    old = AnchorGroup(v2 * 2.4 + rng.normal(7, 3, 3000), v2)
    for method in ("tucker", "levine"):
        forward = linear_cineg(new, old, method=method, top=40, w_new=0.3)
        backward = linear_cineg(old, new, method=method, top=40, w_new=0.7)
        assert backward(forward(17.0)) == pytest.approx(17.0)
    tucker = linear_cineg(new, old, top=40)
    levine = linear_cineg(new, old, method="levine", top=40)
    external = linear_cineg(new, old, method="levine", top=40, internal_anchor=False)
    assert not np.allclose(tucker.equivalents, levine.equivalents)
    assert not np.allclose(levine.equivalents, external.equivalents)
    assert np.all(np.diff(levine.equivalents) > 0)


def test_linear_cineg_refuses_what_it_cannot_use() -> None:
    from certify.grading.equating import AnchorGroup, linear_cineg

    ok = AnchorGroup(np.array([1.0, 2, 3, 4]), np.array([1.0, 1, 2, 2]))
    flat = AnchorGroup(np.array([1.0, 2, 3]), np.array([1.0, 1, 1]))
    with pytest.raises(CalibrationError, match="do not vary"):
        linear_cineg(ok, flat, top=4)
    with pytest.raises(CalibrationError, match="at least 3 candidates"):
        linear_cineg(ok, AnchorGroup(np.array([1.0, 2]), np.array([1.0, 2])), top=4)
    with pytest.raises(CalibrationError, match="unknown method"):
        linear_cineg(ok, ok, method="braun-holland", top=4)
    with pytest.raises(CalibrationError, match=r"in \[0, 1\]"):
        linear_cineg(ok, ok, top=4, w_new=1.5)
