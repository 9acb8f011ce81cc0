"""分数等值: the score on one form that means what a score means on another.

Equipercentile equating of two summed-score distributions (Kolen & Brennan 2014, ch. 2): with
F the cumulative distribution of integer scores 0…K, the percentile rank of x is

    P(x) = 100·[F(x* − 1) + (x − x* + 0.5)·(F(x*) − F(x* − 1))],  x* = round(x), −0.5 ≤ x ≤ K + 0.5

(scores spread uniformly over [x* − 0.5, x* + 0.5]), and e_Y(x) = Q_Y(P_X(x)) with Q_Y the
inverse of Y's percentile rank function — the smallest y* whose F(y*) exceeds P/100, then the
linear interpolation inside its interval.

From calibrated items on one scale (after :mod:`certify.grading.linking`):

* **IRT true-score equating** (Lord 1980; Kolen & Brennan ch. 6): for a summed score τ on form
  X inside the test characteristic curve's range, the θ with TCC_X(θ) = τ (bisection, all
  scores at once), then TCC_Y(θ). Scores at or below the curve's floor — Σc_i for 3PL items,
  the guessing floor — are extended linearly from (0, 0) to (floor_X, floor_Y) (Kolen &
  Brennan's convention), and scores above its ceiling linearly to the two maxima (weakly
  discriminating items can leave a curve short of the maximum at any reasonable θ; the range
  is taken over θ ∈ [−40, 40]). Each item's categories can stand for any scores (``points``).
* **IRT observed-score equating** (Lord & Wingersky 1984): each form's summed-score
  distribution in one population (θ ~ N(0, 1) on the base scale unless weights are given), by
  the Lord–Wingersky recursion integrated over θ, then equipercentile equating of the two;
  with ``points``, the recursion runs in the finest unit the scores need (half, quarter… of a
  point) and each total is counted at its nearest whole point.

A conversion table lists every integer score of X with its equivalent on Y;
:func:`equivalent` reads the score on X that corresponds to a pass mark on Y.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from certify.grading.irt import (
    CalibrationError,
    ItemParameters,
    probabilities,
    summed_score_distribution,
)

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Conversion:
    """Scores 0…K on form X and their equivalents on form Y's scale."""

    method: str
    scores: Floats
    equivalents: Floats

    def __call__(self, x: float) -> float:
        """The equivalent of any score on X (linear between the table's rows)."""
        return float(np.interp(x, self.scores, self.equivalents))


def percentile_ranks(freq: Floats) -> Floats:
    """P(x) at the integer scores 0…K of a frequency (or probability) distribution."""
    f = np.asarray(freq, dtype=np.float64)
    if f.ndim != 1 or f.size < 2 or np.any(f < 0) or f.sum() <= 0:
        raise CalibrationError(
            "分数分布无效 / a score distribution is a non-negative frequency per score 0…K"
        )
    cum = np.cumsum(f) / f.sum()
    below = np.concatenate([[0.0], cum[:-1]])
    return np.asarray(100 * (below + 0.5 * (cum - below)), dtype=np.float64)


def _inverse_rank(freq: Floats, p: float) -> float:
    """Q(p): the score with percentile rank p (Kolen & Brennan eq. 2.17, upper form)."""
    f = np.asarray(freq, dtype=np.float64)
    cum = np.cumsum(f) / f.sum()
    k = f.size - 1
    if p >= 100.0:
        return k + 0.5
    if p <= 0.0:
        return -0.5
    y = int(np.searchsorted(cum, p / 100.0, side="right"))
    y = min(y, k)
    below = cum[y - 1] if y > 0 else 0.0
    share = cum[y] - below
    if share <= 0:
        return float(y - 0.5)
    return float((p / 100.0 - below) / share + y - 0.5)


def equipercentile(freq_x: Floats, freq_y: Floats) -> Conversion:
    """e_Y(x) for x = 0…K_X from the two distributions (random groups, or two distributions
    in one population)."""
    ranks = percentile_ranks(freq_x)
    percentile_ranks(freq_y)  # the same checks for Y
    equivalents = np.array([_inverse_rank(freq_y, float(p)) for p in ranks])
    return Conversion("equipercentile", np.arange(len(ranks), dtype=np.float64), equivalents)


Points = Sequence[Sequence[float]]
"""Per item, the score each of its categories stands for (0, 1, … when not given)."""


def _points(form: Sequence[ItemParameters], points: Points | None) -> list[Floats]:
    if points is None:
        return [np.arange(it.categories, dtype=np.float64) for it in form]
    if len(points) != len(form) or any(
        len(p) != it.categories for p, it in zip(points, form, strict=False)
    ):
        raise CalibrationError(
            "每道题每个类别需要一个分值 / one score per category of every item is needed"
        )
    return [np.asarray(p, dtype=np.float64) for p in points]


THETA_END = 40.0
"""θ beyond ±40 is no one's ability: the test characteristic curve is taken at ±40 as its
floor and ceiling (for a 3PL form the floor is then Σ c_i to any printed precision)."""


def _tcc(form: Sequence[ItemParameters], values: list[Floats], theta: Floats) -> Floats:
    """The test characteristic curve in points at each θ."""
    t = np.atleast_1d(np.asarray(theta, dtype=np.float64))
    total = np.zeros_like(t)
    for it, v in zip(form, values, strict=True):
        total += v @ probabilities(it, t)
    return total


def _solve_theta(form: Sequence[ItemParameters], values: list[Floats], scores: Floats) -> Floats:
    """θ with TCC(θ) = score for every score at once, by bisection on [−40, 40] (the curve
    increases; 64 halvings leave the interval below 1e-17)."""
    lo = np.full(scores.shape, -THETA_END)
    hi = np.full(scores.shape, THETA_END)
    for _ in range(64):
        mid = (lo + hi) / 2
        below = _tcc(form, values, mid) < scores
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.asarray((lo + hi) / 2, dtype=np.float64)


def _check(form_x: Sequence[ItemParameters], form_y: Sequence[ItemParameters]) -> None:
    if not form_x or not form_y:
        raise CalibrationError("试卷没有题目 / a form without items cannot be equated")


def true_score(
    form_x: Sequence[ItemParameters],
    form_y: Sequence[ItemParameters],
    *,
    points_x: Points | None = None,
    points_y: Points | None = None,
) -> Conversion:
    """IRT true-score equating of every integer score on X, both forms' items on one scale;
    ``points_x``/``points_y`` give the score each category of each item stands for, so the
    test characteristic curves are in points."""
    _check(form_x, form_y)
    vx, vy = _points(form_x, points_x), _points(form_y, points_y)
    top_x = sum(float(v[-1]) for v in vx)
    top_y = sum(float(v[-1]) for v in vy)
    ends = np.array([-THETA_END, THETA_END])
    (floor_x, ceiling_x), (floor_y, ceiling_y) = _tcc(form_x, vx, ends), _tcc(form_y, vy, ends)
    scores = np.arange(int(np.floor(top_x + 1e-9)) + 1, dtype=np.float64)
    # below the curve's reach (the guessing floor, or what weak items cannot get down to):
    # the straight line from (0, 0); above it, the straight line to the two maxima
    out = np.interp(scores, [0.0, floor_x], [0.0, floor_y]) if floor_x > 0 else scores * 0.0
    high = scores >= ceiling_x
    if high.any():
        out[high] = np.interp(scores[high], [ceiling_x, top_x], [ceiling_y, top_y])
    inner = (scores > floor_x) & ~high
    if inner.any():
        out[inner] = _tcc(form_y, vy, _solve_theta(form_x, vx, scores[inner]))
    return Conversion("irt-true-score", scores, np.asarray(out, dtype=np.float64))


UNITS = (1.0, 0.5, 0.25, 0.2, 0.125, 0.1, 0.05, 0.025, 0.02, 0.01)


def _points_distribution(
    form: Sequence[ItemParameters], values: list[Floats], grid: Floats, w: Floats
) -> Floats:
    """P(total points = s), s = 0…⌈Σ max⌉, in the population (grid, w): the Lord–Wingersky
    recursion over totals in the finest unit the items' scores need (whole, half, quarter… of
    a point), each total then counted at the nearest whole point, as observed totals are."""
    flat = np.concatenate(values)
    if np.any(flat < 0):
        raise CalibrationError("分值不能为负 / scores are not negative")
    unit = next((u for u in UNITS if np.all(np.abs(flat / u - np.rint(flat / u)) < 1e-6)), None)
    if unit is None:
        raise CalibrationError(
            "分值须为 0.01 分的整数倍 / observed-score equating needs scores in steps of 0.01"
        )
    steps = [np.rint(v / unit).astype(int) for v in values]
    top = int(sum(int(s.max()) for s in steps))
    f = np.zeros((top + 1, grid.size))
    f[0] = 1.0
    reach = 0
    for it, s in zip(form, steps, strict=True):
        probs = probabilities(it, grid)
        nxt = np.zeros_like(f)
        for k, step in enumerate(s):
            nxt[step : step + reach + 1] += f[: reach + 1] * probs[k]
        f = nxt
        reach += int(s.max())
    fine = np.asarray(f @ w, dtype=np.float64)
    whole = np.rint(np.arange(top + 1) * unit).astype(int)
    return np.asarray(np.bincount(whole, weights=fine), dtype=np.float64)


def observed_score(
    form_x: Sequence[ItemParameters],
    form_y: Sequence[ItemParameters],
    *,
    theta: Floats | None = None,
    weights: Floats | None = None,
    nodes: int = 81,
    points_x: Points | None = None,
    points_y: Points | None = None,
) -> Conversion:
    """IRT observed-score equating in one population: θ ~ N(0, 1) unless ``theta`` and
    ``weights`` (a discrete distribution, e.g. the two groups' pooled posterior) are given;
    with ``points_x``/``points_y``, the distributions are of whole-point totals."""
    _check(form_x, form_y)
    if theta is None:
        grid = np.linspace(-6.0, 6.0, nodes)
        w = np.exp(-0.5 * grid**2)
    else:
        grid = np.asarray(theta, dtype=np.float64)
        w = np.ones_like(grid) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    if points_x is None and points_y is None:
        fx = summed_score_distribution(form_x, grid, w)
        fy = summed_score_distribution(form_y, grid, w)
    else:
        fx = _points_distribution(form_x, _points(form_x, points_x), grid, w)
        fy = _points_distribution(form_y, _points(form_y, points_y), grid, w)
    found = equipercentile(fx, fy)
    return Conversion("irt-observed-score", found.scores, found.equivalents)


def equivalent(conversion: Conversion, mark_on_y: float) -> float:
    """The score on X whose equivalent on Y is ``mark_on_y`` (the pass mark carried to X):
    the inverse of the conversion, which is increasing, by linear interpolation."""
    eq = conversion.equivalents
    if np.any(np.diff(eq) < -1e-9):
        raise CalibrationError(
            "换算表不单调 / the conversion is not increasing: it cannot be inverted"
        )
    return float(np.interp(mark_on_y, eq, conversion.scores))


@dataclass(frozen=True)
class AnchorGroup:
    """One group of a common-item non-equivalent-groups design: its total scores on its form
    and its scores on the common items (the anchor), candidate by candidate."""

    total: Floats
    anchor: Floats


def _moments(group: AnchorGroup) -> tuple[float, float, float, float, float]:
    total = np.asarray(group.total, dtype=np.float64)
    anchor = np.asarray(group.anchor, dtype=np.float64)
    if total.shape != anchor.shape or total.ndim != 1 or total.size < 3:
        raise CalibrationError(
            "每组需要至少 3 名考生的总分和锚题分 / each group needs the total and anchor scores "
            "of at least 3 candidates, one pair each"
        )
    if np.var(anchor, ddof=1) == 0:
        raise CalibrationError("锚题分没有差异 / the anchor scores do not vary: no linking")
    cov = float(np.cov(total, anchor, ddof=1)[0, 1])
    return (
        float(total.mean()),
        float(np.var(total, ddof=1)),
        float(anchor.mean()),
        float(np.var(anchor, ddof=1)),
        cov,
    )


def linear_cineg(
    new: AnchorGroup,
    old: AnchorGroup,
    *,
    method: str = "tucker",
    top: int,
    w_new: float | None = None,
    internal_anchor: bool = True,
) -> Conversion:
    """Linear equating of the new form X to the old form Y under the common-item non-equivalent
    groups design (Kolen & Brennan 2014, §4.1–4.2), in the synthetic population weighting the
    new form's group by ``w_new`` (default: its share of the candidates):

        μs(X) = μ1(X) − w2·γ1·[μ1(V) − μ2(V)],     μs(Y) = μ2(Y) + w1·γ2·[μ1(V) − μ2(V)]
        σs²(X) = σ1²(X) − w2·γ1²·[σ1²(V) − σ2²(V)] + w1·w2·γ1²·[μ1(V) − μ2(V)]²
        σs²(Y) = σ2²(Y) + w1·γ2²·[σ1²(V) − σ2²(V)] + w1·w2·γ2²·[μ1(V) − μ2(V)]²
        l_Y(x) = σs(Y)/σs(X)·[x − μs(X)] + μs(Y)

    with γ1 = σ1(X,V)/σ1²(V), γ2 = σ2(Y,V)/σ2²(V) (``tucker``: the regressions of X on V and of
    Y on V the same in both populations) or, for ``levine`` observed scores, γ1 = σ1²(X)/σ1(X,V)
    and γ2 = σ2²(Y)/σ2(Y,V) with an internal anchor, [σ1²(X) + σ1(X,V)]/[σ1²(V) + σ1(X,V)] and
    likewise with an external one (true scores of X, Y and V congeneric). The table runs over
    the scores 0…``top`` of X."""
    if method not in ("tucker", "levine"):
        raise CalibrationError(f"未知的线性等值方法 {method!r} / unknown method (tucker, levine)")
    mx, vx, mv1, vv1, cxv = _moments(new)
    my, vy, mv2, vv2, cyv = _moments(old)
    if method == "tucker":
        g1, g2 = cxv / vv1, cyv / vv2
    elif internal_anchor:
        g1, g2 = vx / cxv, vy / cyv
    else:
        g1, g2 = (vx + cxv) / (vv1 + cxv), (vy + cyv) / (vv2 + cyv)
    n1, n2 = len(new.total), len(old.total)
    w1 = n1 / (n1 + n2) if w_new is None else w_new
    if not 0 <= w1 <= 1:
        raise CalibrationError("合成总体权重应在 0 与 1 之间 / the synthetic weight is in [0, 1]")
    w2 = 1 - w1
    dm, dv = mv1 - mv2, vv1 - vv2
    mu_x = mx - w2 * g1 * dm
    mu_y = my + w1 * g2 * dm
    var_x = vx - w2 * g1**2 * dv + w1 * w2 * g1**2 * dm**2
    var_y = vy + w1 * g2**2 * dv + w1 * w2 * g2**2 * dm**2
    if var_x <= 0 or var_y <= 0:
        raise CalibrationError(
            "合成总体方差不为正 / the synthetic population's variance is not positive: the groups "
            "differ too much on the anchor for linear equating"
        )
    scores = np.arange(top + 1, dtype=np.float64)
    slope = float(np.sqrt(var_y / var_x))
    return Conversion(method, scores, slope * (scores - mu_x) + mu_y)


# --- log-linear presmoothing and equipercentile equating under the CINEG design ---------------


def _basis(columns: list[Floats]) -> Floats:
    """An orthonormal basis of the span of ``columns`` and the constant: the fitted values of a
    log-linear model depend only on that span, and orthonormal columns keep Newton's method
    well conditioned where raw powers up to x⁴·v⁴ would not be."""
    design = np.column_stack([np.ones_like(columns[0]), *columns])
    q, r = np.linalg.qr(design)
    keep = np.abs(np.diag(r)) > 1e-10 * np.abs(r).max()
    return np.asarray(q[:, keep], dtype=np.float64)


def _poisson_fit(counts: Floats, basis: Floats, *, tolerance: float = 1e-10) -> Floats:
    """Maximum likelihood fitted frequencies of log m = Bβ (Holland & Thayer 2000): Newton's
    method on Σ n·log m − m, halving steps that do not improve it. At the optimum the fitted
    frequencies reproduce the observed total and every moment the basis spans."""
    n = np.asarray(counts, dtype=np.float64).ravel()
    total = n.sum()
    beta = np.zeros(basis.shape[1])
    beta[0] = np.log(total / n.size) / basis[0, 0] if basis[0, 0] else 0.0
    eta = basis @ beta
    m = np.exp(eta)
    value = float(n @ eta - m.sum())
    for _ in range(200):
        gradient = basis.T @ (n - m)
        if np.max(np.abs(gradient)) <= tolerance * total:
            return m
        hessian = basis.T @ (basis * m[:, None])
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while True:
            trial = beta + scale * step
            eta = basis @ trial
            if np.all(eta < 700):
                m_trial = np.exp(eta)
                trial_value = float(n @ eta - m_trial.sum())
                if trial_value >= value - 1e-12 * abs(value):
                    break
            scale /= 2
            if scale < 1e-12:
                return m
        beta, m, value = trial, m_trial, trial_value
    raise CalibrationError(
        "对数线性平滑不收敛 / log-linear presmoothing did not converge: use a lower degree"
    )


def loglinear(freq: Floats, degree: int = 4) -> Floats:
    """Presmoothed frequencies of one score distribution 0…K: the polynomial log-linear model
    of ``degree`` (Holland & Thayer 2000; Kolen & Brennan 2014, §3.4), which keeps the total
    and the first ``degree`` moments (mean, variance, skewness, kurtosis for 4) and smooths
    the rest. Every fitted frequency is positive."""
    f = np.asarray(freq, dtype=np.float64)
    percentile_ranks(f)  # the same checks
    if not 0 <= degree < f.size:
        raise CalibrationError(
            f"平滑阶数须在 0 与 {f.size - 1} 之间 / the degree is 0…{f.size - 1} for {f.size} scores"
        )
    x = np.arange(f.size, dtype=np.float64)
    z = (x - x.mean()) / x.std()
    return _poisson_fit(f, _basis([z**i for i in range(1, degree + 1)]))


def loglinear_bivariate(
    table: Floats, degrees: tuple[int, int] = (4, 4), interaction: int = 2
) -> Floats:
    """Presmoothed joint frequencies of (total, anchor) scores, ``table[x, v]``: the
    log-linear model with x^i and v^j up to ``degrees`` and the cross products x^i·v^j for
    1 ≤ i, j ≤ ``interaction`` (the R package equate's default is (4, 4) and 2; Kolen & Brennan
    often use 6, 6 and 1). It keeps both margins' first moments and the covariances those
    terms name. Every cell of the table, including scores an internal anchor makes
    impossible, is modelled, as equate does."""
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2 or min(t.shape) < 2 or np.any(t < 0) or t.sum() <= 0:
        raise CalibrationError(
            "联合分布无效 / a joint distribution is a non-negative table of total × anchor scores"
        )
    x, v = np.meshgrid(
        np.arange(t.shape[0], dtype=np.float64),
        np.arange(t.shape[1], dtype=np.float64),
        indexing="ij",
    )
    zx = ((x - x.mean()) / x.std()).ravel()
    zv = ((v - v.mean()) / v.std()).ravel()
    columns = [zx**i for i in range(1, degrees[0] + 1)]
    columns += [zv**j for j in range(1, degrees[1] + 1)]
    columns += [zx**i * zv**j for i in range(1, interaction + 1) for j in range(1, interaction + 1)]
    return _poisson_fit(t.ravel(), _basis(columns)).reshape(t.shape)


def joint_table(group: AnchorGroup, top: int, anchor_top: int) -> Floats:
    """Counts of candidates by (total score 0…``top``, anchor score 0…``anchor_top``), the
    scores rounded to whole points."""
    total = np.rint(np.asarray(group.total, dtype=np.float64)).astype(int)
    anchor = np.rint(np.asarray(group.anchor, dtype=np.float64)).astype(int)
    if total.size == 0 or total.shape != anchor.shape:
        raise CalibrationError("每名考生需要一对总分和锚题分 / one total and one anchor score each")
    if total.min() < 0 or total.max() > top or anchor.min() < 0 or anchor.max() > anchor_top:
        raise CalibrationError(
            f"分数超出范围 / a score is outside 0…{top} (total) or 0…{anchor_top} (anchor)"
        )
    out = np.zeros((top + 1, anchor_top + 1))
    np.add.at(out, (total, anchor), 1.0)
    return out


def _rank_at(freq: Floats, points: Floats) -> Floats:
    """P(x) at any scores in [−0.5, K + 0.5], not only integers (Kolen & Brennan eq. 2.14)."""
    f = np.asarray(freq, dtype=np.float64)
    cum = np.cumsum(f) / f.sum()
    x = np.clip(np.asarray(points, dtype=np.float64), -0.5, f.size - 0.5)
    star = np.clip(np.floor(x + 0.5).astype(int), 0, f.size - 1)
    below = np.where(star > 0, cum[np.maximum(star - 1, 0)], 0.0)
    return np.asarray(100 * (below + (x - star + 0.5) * (cum[star] - below)), dtype=np.float64)


def _conditional(table: Floats) -> Floats:
    """f(x | v): each anchor score's column of the joint table as a distribution."""
    h = table.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(h > 0, table / np.where(h > 0, h, 1.0), 0.0)
    return np.asarray(out, dtype=np.float64)


def _anchor_check(table_x: Floats, table_y: Floats) -> None:
    if table_x.shape[1] != table_y.shape[1]:
        raise CalibrationError(
            "两组的锚题分范围不同 / the two groups' anchor score ranges differ: one anchor, one range"
        )


def frequency_estimation(
    table_x: Floats, table_y: Floats, *, w_new: float | None = None
) -> Conversion:
    """Frequency estimation equipercentile equating (Kolen & Brennan 2014, §5.1) of the new form
    X, taken by group 1 with joint distribution ``table_x[x, v]``, to the old form Y, taken by
    group 2 with ``table_y[y, v]``, through the common anchor V:

        f2(x) = Σv f1(x|v)·h2(v),  g1(y) = Σv g2(y|v)·h1(v)
        fs(x) = w1·f1(x) + w2·f2(x),  gs(y) = w1·g1(y) + w2·g2(y)

    (the conditional distribution of a form given the anchor is taken to be the same in both
    groups), then the equipercentile equating of fs to gs. ``w_new`` is w1, the new group's
    weight in the synthetic population (default: its share of the candidates). An anchor
    score one group never had leaves the other group's candidates with that score unplaced:
    presmooth the tables (:func:`loglinear_bivariate`) so that every cell is positive."""
    tx = np.asarray(table_x, dtype=np.float64)
    ty = np.asarray(table_y, dtype=np.float64)
    _anchor_check(tx, ty)
    n1, n2 = tx.sum(), ty.sum()
    w1 = n1 / (n1 + n2) if w_new is None else w_new
    if not 0 <= w1 <= 1:
        raise CalibrationError("合成总体权重应在 0 与 1 之间 / the synthetic weight is in [0, 1]")
    h1, h2 = tx.sum(axis=0) / n1, ty.sum(axis=0) / n2
    f1, g2 = tx.sum(axis=1) / n1, ty.sum(axis=1) / n2
    f2 = _conditional(tx) @ h2
    g1 = _conditional(ty) @ h1
    fs = w1 * f1 + (1 - w1) * f2
    gs = w1 * g1 + (1 - w1) * g2
    found = equipercentile(fs, gs)
    return Conversion("frequency-estimation", found.scores, found.equivalents)


def chained_equipercentile(table_x: Floats, table_y: Floats) -> Conversion:
    """Chained equipercentile equating (Kolen & Brennan 2014, §5.4): X to the anchor V in group
    1, then V to Y in group 2 — e_Y(x) = e_{Y2}(e_{V1}(x)) — with no synthetic population."""
    tx = np.asarray(table_x, dtype=np.float64)
    ty = np.asarray(table_y, dtype=np.float64)
    _anchor_check(tx, ty)
    to_anchor = equipercentile(tx.sum(axis=1), tx.sum(axis=0)).equivalents
    ranks = _rank_at(ty.sum(axis=0), to_anchor)
    y = ty.sum(axis=1)
    equivalents = np.array([_inverse_rank(y, float(p)) for p in ranks])
    return Conversion(
        "chained-equipercentile", np.arange(tx.shape[0], dtype=np.float64), equivalents
    )


def bootstrap(
    equate: Callable[..., Conversion],
    samples: Sequence[NDArray[np.float64]],
    *,
    replications: int = 200,
    seed: int = 0,
) -> list[Conversion]:
    """The equating done again on ``replications`` bootstrap draws (Efron & Tibshirani 1993;
    Kolen & Brennan 2014, §7.2): each group's candidates — the rows of each array in
    ``samples``, e.g. one (total, anchor) pair per candidate — drawn with replacement, and
    ``equate`` called with the drawn arrays, in order. Seeded, so a report can be reproduced."""
    if replications < 2:
        raise CalibrationError(
            "自助法至少需要 2 次重复 / the bootstrap needs at least 2 replications"
        )
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(s, dtype=np.float64) for s in samples]
    return [
        equate(*[a[rng.integers(0, len(a), len(a))] for a in arrays]) for _ in range(replications)
    ]


def bootstrap_se(
    equate: Callable[..., Conversion],
    samples: Sequence[NDArray[np.float64]],
    *,
    replications: int = 200,
    seed: int = 0,
) -> Floats:
    """The bootstrap standard error of every row of the conversion table: the standard
    deviation of each row over the replications of :func:`bootstrap`."""
    rows = [c.equivalents for c in bootstrap(equate, samples, replications=replications, seed=seed)]
    return np.asarray(np.std(np.vstack(rows), axis=0, ddof=1), dtype=np.float64)
