"""Score equating: equipercentile equating by Kolen & Brennan's definitions, IRT true-score and
observed-score equating, and the pass mark carried from one form to another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from certify.grading.equating import (
    AnchorGroup,
    Conversion,
    bootstrap_se,
    chained_equipercentile,
    equipercentile,
    equivalent,
    frequency_estimation,
    joint_table,
    linear_cineg,
    loglinear,
    loglinear_bivariate,
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


# --- published examples: Kolen & Brennan's data (tests/certify/data/kolen-brennan) -------------

KB = Path(__file__).parent / "data" / "kolen-brennan"


def _kbneat() -> tuple[AnchorGroup, AnchorGroup]:
    x = np.loadtxt(KB / "KBneatX.csv", delimiter=",", skiprows=1)
    y = np.loadtxt(KB / "KBneatY.csv", delimiter=",", skiprows=1)
    return AnchorGroup(x[:, 0], x[:, 1]), AnchorGroup(y[:, 0], y[:, 1])


def test_equipercentile_reproduces_kolen_and_brennans_table_2_7() -> None:
    """ACT Mathematics, random groups: the book's unsmoothed Form Y equivalents, scores 1–10."""
    act = np.loadtxt(KB / "ACTmath.csv", delimiter=",", skiprows=1)
    conv = equipercentile(act[:, 1], act[:, 2])
    published = [0.9796, 1.6462, 2.2856, 2.8932, 3.6205, 4.4997, 5.5148, 6.3124, 7.2242, 8.1607]
    assert np.abs(conv.equivalents[1:11] - published).max() < 1e-3
    assert np.abs(np.round(conv.equivalents[1:11], 4) - published).max() == 0


def test_frequency_estimation_with_presmoothing_reproduces_the_equate_package() -> None:
    """KBneat, frequency estimation equipercentile equating after log-linear presmoothing
    (x and v to the 4th power, x^i·v^j for i, j ≤ 2), as printed in the equate package's
    vignette. equate builds the synthetic population from frequencies, not proportions, with
    w = n1/(n1 + n2): in proportions that is the weight n1²/(n1² + n2²), passed here."""
    new, old = _kbneat()
    tx = loglinear_bivariate(joint_table(new, 36, 12))
    ty = loglinear_bivariate(joint_table(old, 36, 12))
    n1, n2 = len(new.total), len(old.total)
    conv = frequency_estimation(tx, ty, w_new=n1**2 / (n1**2 + n2**2))
    published = [0.04288325, 1.11109348, 2.18987042, 3.27622528, 4.36895117, 5.46596150]
    assert np.abs(conv.equivalents[:6] - published).max() < 1e-3
    for score, expected in (
        (3, 3.276225),
        (29, 29.814745),
        (8, 8.696398),
        (7, 7.614016),
        (13, 14.125088),
    ):
        assert conv(score) == pytest.approx(expected, abs=1e-3)
    # the book's own weighting (proportions, w1 = n1/(n1 + n2)) moves no score by 1e-3 here
    plain = frequency_estimation(tx, ty)
    assert np.abs(plain.equivalents - conv.equivalents).max() < 1e-3


def test_presmoothing_keeps_the_moments_it_names_and_smooths_the_rest() -> None:
    new, _ = _kbneat()
    table = joint_table(new, 36, 12)
    smooth = loglinear_bivariate(table)
    assert np.all(smooth > 0)
    x, v = np.meshgrid(np.arange(37.0), np.arange(13.0), indexing="ij")
    for power in range(5):
        assert (smooth * x**power).sum() == pytest.approx((table * x**power).sum(), rel=1e-8)
        assert (smooth * v**power).sum() == pytest.approx((table * v**power).sum(), rel=1e-8)
    assert (smooth * x * v).sum() == pytest.approx((table * x * v).sum(), rel=1e-8)
    margin = table.sum(axis=1)
    for degree in (2, 4, 6):
        fitted = loglinear(margin, degree)
        scores = np.arange(37.0)
        for power in range(degree + 1):
            assert (fitted * scores**power).sum() == pytest.approx(
                (margin * scores**power).sum(), rel=1e-8
            )
    # smoothing reduces the jaggedness: the second differences shrink
    assert np.abs(np.diff(loglinear(margin, 4), 2)).sum() < np.abs(np.diff(margin, 2)).sum()


def test_linear_cineg_agrees_with_an_independent_implementation_on_kbneat() -> None:
    """Tucker and Levine observed-score (internal anchor) coefficients, as Equate.jl's tests
    state them to four decimals, the synthetic weight being the new group's share."""
    new, old = _kbneat()
    for method, slope, intercept in (("tucker", 1.0292, 0.5378), ("levine", 1.0110, 0.2514)):
        conv = linear_cineg(new, old, method=method, top=36)
        assert conv.equivalents[1] - conv.equivalents[0] == pytest.approx(slope, abs=6e-5)
        assert conv.equivalents[0] == pytest.approx(intercept, abs=6e-5)


def test_chained_equipercentile_agrees_with_an_independent_implementation_on_kbneat() -> None:
    new, old = _kbneat()
    conv = chained_equipercentile(joint_table(new, 36, 12), joint_table(old, 36, 12))
    assert np.round(conv.equivalents[-3:], 4) == pytest.approx([34.3125, 35.4125, 36.0938])
    assert np.all(np.diff(conv.equivalents) >= 0)  # flat only over scores nobody had


def test_bootstrap_standard_errors_shrink_with_the_sample_and_are_reproducible() -> None:
    new, old = _kbneat()

    def fe(x: np.ndarray, y: np.ndarray) -> Conversion:
        return frequency_estimation(
            loglinear_bivariate(joint_table(AnchorGroup(x[:, 0], x[:, 1]), 36, 12)),
            loglinear_bivariate(joint_table(AnchorGroup(y[:, 0], y[:, 1]), 36, 12)),
        )

    full = [np.column_stack([new.total, new.anchor]), np.column_stack([old.total, old.anchor])]
    se = bootstrap_se(fe, full, replications=40, seed=3)
    again = bootstrap_se(fe, full, replications=40, seed=3)
    assert np.array_equal(se, again)
    quarter = [a[::4] for a in full]
    se_small = bootstrap_se(fe, quarter, replications=40, seed=3)
    middle = slice(8, 28)
    # a quarter of the candidates: about twice the standard error
    ratio = np.median(se_small[middle] / se[middle])
    assert 1.5 < ratio < 2.7
    assert 0.05 < np.median(se[middle]) < 0.6


@settings(max_examples=25, deadline=None)
@given(
    shift=st.floats(-3.0, 3.0),
    seed=st.integers(0, 2**16),
)
@example(shift=-3.0, seed=766)
def test_cineg_equating_is_monotone_and_swapping_the_forms_inverts_it(
    shift: float, seed: int
) -> None:
    """Relabelling: equating Y to X is the inverse of equating X to Y (frequency estimation
    with the weight carried over, and chained), and every conversion increases."""
    rng = np.random.default_rng(seed)
    n = 600
    ability = rng.normal(0, 1, 2 * n)
    ability[n:] += 0.3
    anchor = np.clip(np.rint(6 + 2 * ability + rng.normal(0, 1, 2 * n)), 0, 12)
    total = np.clip(np.rint(anchor + 14 + 5 * ability + rng.normal(0, 2, 2 * n)), 0, 36)
    total[:n] = np.clip(np.rint(total[:n] - shift), 0, 36)
    tx = loglinear_bivariate(joint_table(AnchorGroup(total[:n], anchor[:n]), 36, 12))
    ty = loglinear_bivariate(joint_table(AnchorGroup(total[n:], anchor[n:]), 36, 12))
    forward = frequency_estimation(tx, ty, w_new=0.5)
    backward = frequency_estimation(ty, tx, w_new=0.5)
    for conv in (forward, chained_equipercentile(tx, ty)):
        assert np.all(np.diff(conv.equivalents) > 0), conv.method
    # away from the ends, where a table cannot be read back; a shifted form moves one of its
    # ends inwards by the shift (a shift of 3 read back at 6 missed by 0.17 on its floor)
    margin = int(np.ceil(abs(shift)))
    inner = np.arange(6 + margin, 29 - margin, dtype=float)
    there = np.interp(inner, forward.scores, forward.equivalents)
    back = np.interp(there, backward.scores, backward.equivalents)
    # exact for the continuized distributions; the tables hold integer scores only, and reading
    # between their rows linearly costs a few hundredths of a point
    assert np.allclose(back, inner, atol=0.1)


def test_equating_in_points_is_equating_in_categories_rescaled() -> None:
    """Items worth 2 points a step: the conversion in points is the one in categories, doubled,
    and the whole-point distribution is the category one spread over even totals."""
    rng = np.random.default_rng(8)
    x, y = form(rng, 15, 0.2), form(rng, 15, -0.1)
    doubled_x = [(0.0, 2.0)] * len(x)
    doubled_y = [(0.0, 2.0)] * len(y)
    plain = true_score(x, y)
    scaled = true_score(x, y, points_x=doubled_x, points_y=doubled_y)
    assert np.allclose(scaled.equivalents[::2], 2 * plain.equivalents, atol=1e-9)
    grid = np.linspace(-5, 5, 41)
    w = np.exp(-0.5 * grid**2)
    same = observed_score(
        x, y, theta=grid, weights=w, points_x=[(0.0, 1.0)] * 15, points_y=[(0.0, 1.0)] * 15
    )
    assert np.allclose(same.equivalents, observed_score(x, y, theta=grid, weights=w).equivalents)
    # half points: totals in halves, counted at the nearest whole point
    halves = observed_score(x, y, points_x=[(0.0, 1.5)] * 15, points_y=doubled_y)
    assert halves.scores[-1] == 22 and np.all(np.diff(halves.equivalents) > 0)
    with pytest.raises(CalibrationError, match=r"steps of 0\.01"):
        observed_score(x, y, points_x=[(0.0, 1 / 3)] * 15, points_y=doubled_y)
    with pytest.raises(CalibrationError, match="one score per category"):
        true_score(x, y, points_x=[(0.0, 1.0, 2.0)] * 15)
