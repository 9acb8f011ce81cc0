"""试题分析: item and test statistics with Moodle's published definitions, plus KR-20.

Input is a (candidates × items) matrix of scores ``x`` with NaN where an item was not on the
candidate's paper (missing), and each item's maximum mark. With S candidates who had item i,
X the candidate's total over the items they had, and X₋ᵢ = X − xᵢ (the rest of the test):

* facility            Fᵢ   = 100 · mean(xᵢ) / maxᵢ
* standard deviation  SDᵢ  = 100 · sqrt(V(xᵢ)) / maxᵢ, V with the S − 1 denominator
* discrimination      Dᵢ   = 100 · r(xᵢ, X₋ᵢ)      (Moodle's "discrimination index", corrected)
* discriminative eff. DEᵢ  = 100 · C(xᵢ, X₋ᵢ) / Cmax(xᵢ, X₋ᵢ), Cmax the covariance when xᵢ and
  X₋ᵢ are each sorted in ascending order (the largest covariance these values allow)
* intended weight     IWᵢ  = 100 · maxᵢ / Σⱼ maxⱼ
* effective weight    EWᵢ  = 100 · sqrt(C(xᵢ, X)) / Σⱼ sqrt(C(xⱼ, X)); NaN for an item whose
  covariance with the total is negative (its square root is undefined), which is also left
  out of the sum
* internal consistency CIC = 100 · k/(k−1) · (1 − trace(C)/ΣC), C the item covariance matrix
  (pairwise-complete with missing values; Cronbach's α, as pingouin computes it)
* error ratio         ER   = 100 · sqrt(1 − CIC/100)
* standard error      SE   = ER/100 · SD(X)
* KR-20               = k/(k−1) · (1 − Σ pᵢqᵢ / σ²) on full-credit indicators, pᵢ the share
  with full marks, σ² the population variance of their sum (complete cases)

Source: Moodle developer docs, "Quiz statistics calculations"; Kuder & Richardson (1937).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class ItemStatistics:
    """Per item arrays (length k) and whole-test figures; percentages as Moodle shows them."""

    facility: Floats
    sd: Floats
    discrimination: Floats
    discriminative_efficiency: Floats
    intended_weight: Floats
    effective_weight: Floats
    attempts: NDArray[np.int64]
    cic: float
    error_ratio: float
    standard_error: float
    kr20: float
    mean_total: float
    sd_total: float
    candidates: int

    def flags(
        self, *, low: float = 5.0, high: float = 95.0, min_efficiency: float = 15.0
    ) -> list[list[str]]:
        """Per item, the reasons it needs a look: weak efficiency, negative discrimination, facility."""
        out = []
        for i in range(len(self.facility)):
            reasons = []
            if self.discriminative_efficiency[i] < min_efficiency:
                reasons.append("low_efficiency")
            if self.discrimination[i] < 0:
                reasons.append("negative_discrimination")
            if not low <= self.facility[i] <= high:
                reasons.append("facility_out_of_band")
            out.append(reasons)
        return out


def pairwise_covariance(x: Floats) -> Floats:
    """Covariance matrix over pairwise-complete observations (NaN = missing), S−1 denominator."""
    observed = ~np.isnan(x)
    filled = np.where(observed, x, 0.0)
    m = observed.astype(np.float64)
    n = m.T @ m
    sums = filled.T @ m  # sums[i, j]: Σ x_i over candidates who also had j
    products = filled.T @ filled
    with np.errstate(invalid="ignore", divide="ignore"):
        cov: Floats = (products - sums * sums.T / n) / (n - 1)
    return cov


def item_statistics(x: Floats, max_marks: Floats) -> ItemStatistics:
    """All statistics of a score matrix; raises ValueError for fewer than 2 candidates or items.

    Figures a degenerate matrix leaves undefined (an item nobody varies on, a test with no
    variance) are NaN, never an error.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return _item_statistics(x, max_marks)


def _item_statistics(x: Floats, max_marks: Floats) -> ItemStatistics:
    candidates, k = x.shape
    if candidates < 2 or k < 2:
        raise ValueError("statistics need at least two candidates and two items")
    observed = ~np.isnan(x)
    filled = np.where(observed, x, 0.0)
    total = filled.sum(axis=1)
    attempts = observed.sum(axis=0)
    mean = filled.sum(axis=0) / attempts
    var = (np.where(observed, (filled - mean) ** 2, 0.0)).sum(axis=0) / (attempts - 1)
    facility = 100 * mean / max_marks
    sd = 100 * np.sqrt(var) / max_marks
    rest = total[:, None] - filled  # X₋ᵢ for every candidate and item
    disc, eff = _discrimination(filled, rest, observed, mean)
    cov_total = _covariance_with(filled, total[:, None], observed)
    root = np.sqrt(np.where(cov_total >= 0, cov_total, np.nan))
    effective = 100 * root / np.nansum(root)
    cov = pairwise_covariance(x)
    cic = 100 * k / (k - 1) * (1 - np.trace(cov) / cov.sum())
    sd_total = float(np.std(total, ddof=1))
    error_ratio = 100 * float(np.sqrt(1 - cic / 100)) if cic <= 100 else float("nan")
    return ItemStatistics(
        facility=facility,
        sd=sd,
        discrimination=disc,
        discriminative_efficiency=eff,
        intended_weight=100 * max_marks / max_marks.sum(),
        effective_weight=effective,
        attempts=attempts,
        cic=float(cic),
        error_ratio=error_ratio,
        standard_error=error_ratio / 100 * sd_total,
        kr20=kr20(x, max_marks),
        mean_total=float(total.mean()),
        sd_total=sd_total,
        candidates=candidates,
    )


def _covariance_with(filled: Floats, other: Floats, observed: NDArray[np.bool_]) -> Floats:
    """Per item, covariance of xᵢ with a per-candidate quantity, over candidates who had item i."""
    n = observed.sum(axis=0)
    other_b = np.broadcast_to(other, filled.shape)
    sx = filled.sum(axis=0)
    so = np.where(observed, other_b, 0.0).sum(axis=0)
    sxo = (filled * np.where(observed, other_b, 0.0)).sum(axis=0)
    out: Floats = (sxo - sx * so / n) / (n - 1)
    return out


def _discrimination(
    filled: Floats, rest: Floats, observed: NDArray[np.bool_], mean: Floats
) -> tuple[Floats, Floats]:
    """Corrected discrimination index and discriminative efficiency, item by item."""
    k = filled.shape[1]
    disc = np.full(k, np.nan)
    eff = np.full(k, np.nan)
    # item-major copies: each item's column becomes contiguous, which makes the per-item
    # gathers below several times faster than striding down a candidate-major matrix
    by_item, rest_by_item, seen_by_item = (
        np.ascontiguousarray(a.T) for a in (filled, rest, observed)
    )
    for i in range(k):
        rows = seen_by_item[i]
        xi, yi = by_item[i][rows], rest_by_item[i][rows]
        n = len(xi)
        if n < 2:
            continue
        dx, dy = xi - xi.mean(), yi - yi.mean()
        cov = float(dx @ dy) / (n - 1)
        vx, vy = float(dx @ dx) / (n - 1), float(dy @ dy) / (n - 1)
        if vx > 0 and vy > 0:
            disc[i] = 100 * cov / np.sqrt(vx * vy)
        best = _max_covariance(xi, yi)
        if best > 0:
            eff[i] = 100 * cov / best
    return disc, eff


def _max_covariance(x: Floats, y: Floats) -> float:
    """Covariance of x and y with both sorted ascending.

    An item takes few distinct marks, so instead of sorting y the largest-covariance pairing
    gives the c₁ smallest y to the smallest mark, the next c₂ to the next, and so on; the
    sums of y inside those blocks come from partitions, in linear time.
    """
    n = len(x)
    values, counts = np.unique(x, return_counts=True)
    if len(values) > 16:  # many distinct marks: sorting is simpler and as fast
        return float((np.sort(x) - x.mean()) @ (np.sort(y) - y.mean())) / (n - 1)
    bounds = np.cumsum(counts)[:-1]
    parts = np.partition(y, bounds) if len(bounds) else y
    edges = np.concatenate([[0], bounds, [n]])
    block_sums = np.array([parts[a:b].sum() for a, b in pairwise(edges)])
    return float((values - x.mean()) @ (block_sums - counts * y.mean())) / (n - 1)


def kr20(x: Floats, max_marks: Floats) -> float:
    """KR-20 over complete cases, on full-credit (0/1) indicators."""
    complete = x[~np.isnan(x).any(axis=1)]
    if len(complete) < 2:
        return float("nan")
    right = (complete >= max_marks - 1e-9).astype(np.float64)
    k = right.shape[1]
    p = right.mean(axis=0)
    total_var = right.sum(axis=1).var()
    if total_var == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - (p * (1 - p)).sum() / total_var))
