"""Fairness across parallel forms: are the forms' score distributions the same?

Per form: candidates, mean and SD of the total. Test of difference: Welch's one-way ANOVA
(Welch, 1951), which does not assume equal variances across forms; with two forms it is
Welch's t-test. A warning is raised when the p-value is below ``alpha`` *and* the largest gap
between form means exceeds ``max_gap`` points — a statistically detectable but tiny gap in a
large sitting is not worth a warning, and a large gap in a small one is reported with its p-value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class FormSummary:
    form: str
    candidates: int
    mean: float
    sd: float


@dataclass(frozen=True)
class FairnessReport:
    forms: list[FormSummary]
    statistic: float
    p_value: float
    largest_gap: float
    warning: bool


def compare_forms(
    totals: NDArray[np.float64],
    forms: NDArray[np.str_],
    *,
    alpha: float = 0.01,
    max_gap: float = 3.0,
) -> FairnessReport:
    """Welch's ANOVA of totals grouped by form; NaN statistic with fewer than two usable forms."""
    names = sorted(set(forms.tolist()))
    groups = [totals[forms == name] for name in names]
    summary = [
        FormSummary(
            name, len(g), float(g.mean()), float(g.std(ddof=1)) if len(g) > 1 else float("nan")
        )
        for name, g in zip(names, groups, strict=True)
    ]
    usable = [g for g in groups if len(g) > 1 and g.var(ddof=1) > 0]
    statistic, p_value = _welch_anova(usable) if len(usable) > 1 else (float("nan"), float("nan"))
    means = [s.mean for s in summary]
    gap = max(means) - min(means) if means else 0.0
    return FairnessReport(summary, statistic, p_value, gap, bool(p_value < alpha and gap > max_gap))


def _welch_anova(groups: list[NDArray[np.float64]]) -> tuple[float, float]:
    k = len(groups)
    n = np.array([len(g) for g in groups], dtype=float)
    means = np.array([g.mean() for g in groups])
    weights = n / np.array([g.var(ddof=1) for g in groups])
    grand = (weights * means).sum() / weights.sum()
    a = (weights * (means - grand) ** 2).sum() / (k - 1)
    lam = ((1 - weights / weights.sum()) ** 2 / (n - 1)).sum()
    b = 1 + 2 * (k - 2) / (k**2 - 1) * lam
    f = a / b
    df2 = (k**2 - 1) / (3 * lam)
    from scipy import stats  # deferred: importing scipy.stats takes a third of a second

    return float(f), float(stats.f.sf(f, k - 1, df2))
