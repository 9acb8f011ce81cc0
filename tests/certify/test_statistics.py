"""Item statistics against pingouin and a plain-Python reference of Moodle's definitions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pingouin
import pytest

from certify.grading.statistics import item_statistics, pairwise_covariance


def random_scores(
    seed: int, candidates: int = 300, items: int = 12, missing: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=candidates)
    max_marks = rng.choice([1.0, 2.0, 5.0], size=items)
    difficulty = rng.normal(size=items)
    p = 1 / (1 + np.exp(-(ability[:, None] - difficulty[None, :])))
    x = np.round(p * max_marks + rng.normal(scale=0.5, size=p.shape)).clip(0, max_marks)
    x[rng.random(x.shape) < missing] = np.nan
    return x, max_marks


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def cov(a: list[float], b: list[float]) -> float:
    ma, mb = mean(a), mean(b)
    return sum((u - ma) * (v - mb) for u, v in zip(a, b, strict=True)) / (len(a) - 1)


def reference(x: np.ndarray, max_marks: np.ndarray) -> dict[str, list[float]]:
    """Moodle's definitions, one loop at a time, in plain Python."""
    rows = [[None if math.isnan(v) else float(v) for v in row] for row in x.tolist()]
    totals = [sum(v for v in row if v is not None) for row in rows]
    out: dict[str, list[float]] = {k: [] for k in ("facility", "sd", "disc", "eff", "ew")}
    covs_total = []
    for i, top in enumerate(max_marks.tolist()):
        xi = [row[i] for row in rows if row[i] is not None]
        rest = [t - row[i] for row, t in zip(rows, totals, strict=True) if row[i] is not None]
        out["facility"].append(100 * mean(xi) / top)
        out["sd"].append(100 * math.sqrt(cov(xi, xi)) / top)
        out["disc"].append(100 * cov(xi, rest) / math.sqrt(cov(xi, xi) * cov(rest, rest)))
        out["eff"].append(100 * cov(xi, rest) / cov(sorted(xi), sorted(rest)))
        tot = [t for row, t in zip(rows, totals, strict=True) if row[i] is not None]
        covs_total.append(cov(xi, tot))
    roots = [math.sqrt(c) if c >= 0 else float("nan") for c in covs_total]
    positive = sum(r for r in roots if not math.isnan(r))
    out["ew"] = [100 * r / positive for r in roots]
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_per_item_statistics_match_the_plain_reference(seed: int) -> None:
    x, max_marks = random_scores(seed)
    stats = item_statistics(x, max_marks)
    ref = reference(x, max_marks)
    np.testing.assert_allclose(stats.facility, ref["facility"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(stats.sd, ref["sd"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(stats.discrimination, ref["disc"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(stats.discriminative_efficiency, ref["eff"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(stats.effective_weight, ref["ew"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(stats.intended_weight, 100 * max_marks / max_marks.sum(), atol=1e-12)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_internal_consistency_matches_pingouin_with_missing_responses(seed: int) -> None:
    x, max_marks = random_scores(seed, missing=0.15)
    alpha, _ = pingouin.cronbach_alpha(pd.DataFrame(x))
    stats = item_statistics(x, max_marks)
    assert stats.cic / 100 == pytest.approx(alpha, abs=1e-9)
    np.testing.assert_allclose(pairwise_covariance(x), pd.DataFrame(x).cov().to_numpy(), atol=1e-9)


def test_complete_data_error_ratio_and_standard_error_follow_from_alpha() -> None:
    x, max_marks = random_scores(7, missing=0.0)
    stats = item_statistics(x, max_marks)
    alpha, _ = pingouin.cronbach_alpha(pd.DataFrame(x))
    assert stats.cic == pytest.approx(100 * alpha, abs=1e-9)
    assert stats.error_ratio == pytest.approx(100 * math.sqrt(1 - alpha), abs=1e-9)
    assert stats.standard_error == pytest.approx(
        math.sqrt(1 - alpha) * np.std(np.nansum(x, 1), ddof=1), abs=1e-9
    )


def test_kr20_equals_alpha_on_dichotomous_items() -> None:
    rng = np.random.default_rng(8)
    x = (rng.random((400, 20)) < rng.random(20)).astype(float) + (rng.random((400, 1)) < 0.3)
    x = x.clip(0, 1)
    stats = item_statistics(x, np.ones(20))
    # on 0/1 items KR-20 is alpha with population instead of sample variances, which cancel
    assert stats.kr20 == pytest.approx(stats.cic / 100, abs=1e-9)


def test_weak_items_are_flagged() -> None:
    x, max_marks = random_scores(9, missing=0.0)
    x[:, 0] = max_marks[0]  # everybody right: facility 100
    x[:, 1] = np.where(np.nansum(x, 1) > np.median(np.nansum(x, 1)), 0, max_marks[1])  # reversed
    flags = item_statistics(x, max_marks).flags()
    assert "facility_out_of_band" in flags[0]
    assert "negative_discrimination" in flags[1] and "low_efficiency" in flags[1]
