"""Item response theory: calibration recovers the parameters that generated the data, the
standard errors are the size of the errors, abilities and information follow the models, and
data that cannot be calibrated is refused naming the items."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.grading.irt import (
    MIN_ANSWERS,
    CalibrationError,
    ItemParameters,
    abilities,
    calibrate,
    information,
    item_fit,
    log_likelihood,
    simulate,
)

Bank = tuple[np.ndarray, np.ndarray]


def two_pl(a: np.ndarray, b: np.ndarray, model: str = "2pl") -> list[ItemParameters]:
    return [
        ItemParameters(model, float(ai), (float(-ai * bi),)) for ai, bi in zip(a, b, strict=True)
    ]


def rmse(estimate: Any, truth: Any) -> float:
    return float(np.sqrt(np.mean((np.asarray(estimate) - np.asarray(truth)) ** 2)))


@pytest.fixture(scope="module")
def bank() -> Bank:
    rng = np.random.default_rng(11)
    return rng.lognormal(0.0, 0.3, 30), rng.normal(0.0, 1.0, 30)


def test_two_pl_recovers_its_parameters_with_honest_standard_errors(bank: Bank) -> None:
    a, b = bank
    rng = np.random.default_rng(1)
    x = simulate(two_pl(a, b), rng.normal(size=3000), rng)
    cal = calibrate(x, "2pl")
    assert cal.converged and cal.candidates == 3000
    got_a = np.array([it.a for it in cal.items])
    got_b = np.array([it.b[0] for it in cal.items])
    assert rmse(got_a, a) < 0.1 and rmse(got_b, b) < 0.1
    # about 95 % of the 60 estimates lie within 1.96 standard errors of the truth
    z = np.concatenate(
        [
            (got_a - a) / [it.se_a for it in cal.items],
            (np.array([it.d[0] for it in cal.items]) + a * b) / [it.se_d[0] for it in cal.items],
        ]
    )
    assert 0.85 <= float(np.mean(np.abs(z) <= 1.96)) <= 1.0, z
    # the maximum: the estimates explain the data at least as well as the generating values
    assert cal.log_likelihood >= log_likelihood(x, two_pl(a, b)) - 1e-6


def test_one_calibration_spans_two_forms_through_their_common_items(bank: Bank) -> None:
    a, b = bank
    rng = np.random.default_rng(2)
    x = simulate(two_pl(a, b), rng.normal(size=4000), rng)
    x[:2000, 20:] = np.nan  # form A: items 1–20
    x[2000:, 10:20] = np.nan  # form B: items 1–10 and 21–30; items 1–10 are common
    cal = calibrate(x, "2pl")
    got_b = np.array([it.b[0] for it in cal.items])
    assert rmse(got_b, b) < 0.15
    assert rmse([it.a for it in cal.items], a) < 0.15
    # items seen by half the candidates have larger standard errors than the common ones
    se = np.array([it.se_d[0] for it in cal.items])
    assert se[10:].mean() > se[:10].mean()


def test_three_pl_recovers_guessing_under_its_prior(bank: Bank) -> None:
    a, b = bank
    rng = np.random.default_rng(3)
    c = rng.uniform(0.1, 0.3, a.size)
    truth = [
        ItemParameters("3pl", float(1.3 * ai), (float(-1.3 * ai * bi),), float(ci))
        for ai, bi, ci in zip(a, b, c, strict=True)
    ]
    x = simulate(truth, rng.normal(size=6000), rng)
    cal = calibrate(x, "3pl")
    assert rmse([it.c for it in cal.items], c) < 0.07
    assert rmse([it.b[0] for it in cal.items], b) < 0.2
    assert all(0 < it.c < 0.5 and np.isfinite(it.se_c) for it in cal.items)


def test_gpcm_recovers_its_steps_and_a_one_pl_shares_one_slope(bank: Bank) -> None:
    a, b = bank
    rng = np.random.default_rng(4)
    steps = [np.sort(rng.normal(0, 1, 3))[::-1] * ai for ai in a[:12]]
    truth = [
        ItemParameters("gpcm", float(ai), tuple(map(float, s)))
        for ai, s in zip(a, steps, strict=False)
    ]
    x = simulate(truth, rng.normal(size=3000), rng)
    cal = calibrate(x, "gpcm")
    assert rmse([it.a for it in cal.items], a[:12]) < 0.1
    assert rmse(np.array([it.d for it in cal.items]), np.array(steps)) < 0.15
    assert all(len(it.se_d) == 3 for it in cal.items)

    x1 = simulate(two_pl(np.full(a.size, 1.4), b, "1pl"), rng.normal(size=2000), rng)
    one = calibrate(x1, "1pl")
    slopes = {it.a for it in one.items}
    assert len(slopes) == 1 and abs(slopes.pop() - 1.4) < 0.1
    assert rmse([it.b[0] for it in one.items], b) < 0.1


def test_mixed_models_in_one_calibration(bank: Bank) -> None:
    a, b = bank
    rng = np.random.default_rng(5)
    truth = two_pl(a[:20], b[:20]) + [
        ItemParameters("gpcm", float(ai), (float(0.8 * ai), float(-0.6 * ai))) for ai in a[20:]
    ]
    x = simulate(truth, rng.normal(size=3000), rng)
    cal = calibrate(x, ["2pl"] * 20 + ["gpcm"] * 10)
    assert [it.model for it in cal.items] == ["2pl"] * 20 + ["gpcm"] * 10
    assert rmse([it.a for it in cal.items], a) < 0.12


def test_eap_abilities_follow_the_answers_and_fall_back_to_the_prior(bank: Bank) -> None:
    a, b = bank
    rng = np.random.default_rng(6)
    theta = rng.normal(size=2000)
    params = two_pl(a, b)
    x = simulate(params, theta, rng)
    got = abilities(x, params)
    assert np.corrcoef(got.theta, theta)[0, 1] > 0.85
    assert np.all(got.se > 0) and np.all(got.se < 1)
    # more right answers never lower the estimate: all wrong < all right
    extremes = abilities(np.vstack([np.zeros(a.size), np.ones(a.size)]), params)
    assert extremes.theta[0] < -1.5 < 1.5 < extremes.theta[1]
    nothing = abilities(np.full((1, a.size), np.nan), params)  # no answers: the prior
    assert abs(nothing.theta[0]) < 1e-9 and abs(nothing.se[0] - 1) < 1e-3


def test_information_is_the_fisher_information_of_each_model() -> None:
    """Against the definition Σ_k (∂P_k/∂θ)² / P_k, by finite differences."""
    items = [
        ItemParameters("2pl", 1.3, (0.4,)),
        ItemParameters("3pl", 1.7, (-0.5,), 0.22),
        ItemParameters("gpcm", 0.9, (1.1, 0.2, -0.9)),
    ]
    theta = np.linspace(-3, 3, 13)
    h = 1e-5

    def probs(t: np.ndarray) -> list[np.ndarray]:
        # category probabilities through simulate's model: P(x ≤ k) from many draws is too
        # rough, so compute them from the parameters directly
        out = []
        for it in items:
            if it.model == "3pl":
                p = it.c + (1 - it.c) / (1 + np.exp(-(it.a * t + it.d[0])))
                out.append(np.vstack([1 - p, p]))
            else:
                k = np.arange(it.categories)[:, None]
                cum = np.concatenate([[0.0], np.cumsum(it.d)])[:, None]
                e = np.exp(k * it.a * t[None, :] + cum)
                out.append(e / e.sum(axis=0))
        return out

    up, down, mid = probs(theta + h), probs(theta - h), probs(theta)
    expected = np.vstack(
        [(((u - d) / (2 * h)) ** 2 / m).sum(axis=0) for u, d, m in zip(up, down, mid, strict=True)]
    )
    assert np.allclose(information(items, theta), expected, rtol=1e-5)


def test_data_that_cannot_be_calibrated_is_refused_naming_the_items(bank: Bank) -> None:
    a, b = bank
    rng = np.random.default_rng(7)
    x = simulate(two_pl(a[:5], b[:5]), rng.normal(size=400), rng)
    easy = x.copy()
    easy[:, 1] = 1  # everybody right
    easy[:, 3] = 0  # nobody right
    with pytest.raises(CalibrationError) as caught:
        calibrate(easy, "2pl")
    text = str(caught.value)
    assert "item 2: everybody who had it scored above 0" in text
    assert "item 4: nobody who had it scored above 0" in text
    few_x = x.copy()
    few_x[MIN_ANSWERS["3pl"] - 10 :, 0] = np.nan
    with pytest.raises(
        CalibrationError, match=r"item 1: 240 answers, the 3pl model needs at least 250"
    ):
        calibrate(few_x, "3pl")
    with pytest.raises(CalibrationError, match="scores must be whole numbers"):
        calibrate(np.where(x == 1, 0.5, x), "2pl")
    with pytest.raises(CalibrationError, match="a 2pl item is scored 0 or 1, found 2"):
        calibrate(np.where(x == 1, 2, x), "2pl")
    gap = np.where(x == 1, 2, x)  # categories 0 and 2, nobody scored 1
    with pytest.raises(CalibrationError, match=r"no candidate scored \[1\]"):
        calibrate(gap, "gpcm")
    with pytest.raises(CalibrationError, match="did not converge in 2 iterations"):
        calibrate(x, "2pl", max_iter=2)
    with pytest.raises(CalibrationError, match="unknown model 'rasch'"):
        calibrate(x, "rasch")


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31), spread=st.floats(0.2, 0.5), centre=st.floats(-0.8, 0.8))
def test_any_two_pl_bank_is_recovered_and_no_worse_than_its_truth(
    seed: int, spread: float, centre: float
) -> None:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, spread, 15).clip(0.3, 3.0)
    b = rng.normal(centre, 1.0, 15).clip(-2.5, 2.5)
    truth = two_pl(a, b)
    x = simulate(truth, rng.normal(size=2500), rng)
    try:
        cal = calibrate(x, "2pl")
    except CalibrationError as refused:  # an extreme item everybody got right: named, fine
        assert "everybody" in str(refused) or "nobody" in str(refused)
        return
    assert cal.log_likelihood >= log_likelihood(x, truth) - 1e-6
    assert rmse([it.b[0] for it in cal.items], b) < 0.35
    assert rmse([it.a for it in cal.items], a) < 0.35


def test_item_fit_flags_the_item_the_model_does_not_describe(bank: Bank) -> None:
    """S-X²: data from the 2PL fit the 2PL (p-values spread, at most 2 of 25 under 0.01); an
    item that is really a 3PL with much guessing, calibrated as a 2PL, is flagged."""
    a, b = bank
    rng = np.random.default_rng(12)
    truth = two_pl(a[:25], b[:25])
    truth[3] = ItemParameters("3pl", 2.5, (-2.0,), 0.4)
    x = simulate(truth, rng.normal(size=3000), rng)
    fit = item_fit(x, calibrate(x, "2pl").items)
    assert fit[3].misfit and fit[3].p < 1e-6
    others = [f for i, f in enumerate(fit) if i != 3]
    assert sum(f.misfit for f in others) <= 2
    assert all(f.df > 10 and 0 <= f.p <= 1 for f in others)
    assert np.median([f.p for f in others]) > 0.2


def test_item_fit_adds_up_over_forms_and_leaves_out_small_ones(bank: Bank) -> None:
    a, b = bank
    rng = np.random.default_rng(13)
    truth = [*two_pl(a[:20], b[:20]), ItemParameters("gpcm", 1.0, (0.7, -0.7))]
    x = simulate(truth, rng.normal(size=3000), rng)
    x[:1500, 10:15] = np.nan  # form A misses items 11–15, form B has all
    x[:50, 15:20] = np.nan  # a form of 50: too small to count
    cal = calibrate(x, ["2pl"] * 20 + ["gpcm"])
    fit = item_fit(x, cal.items)
    both = fit[0].df  # item 1 is on both counted forms
    only_b = fit[10].df  # item 11 only on form B
    assert both > only_b > 0
    assert fit[20].df > 0 and np.isfinite(fit[20].s_x2)  # the GPCM item: categories × groups
    assert sum(f.misfit for f in fit) <= 2  # data from the models fit them
