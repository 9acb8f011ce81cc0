"""项目反应理论: item calibration by marginal maximum likelihood, abilities and information.

Input is a (candidates × items) matrix ``x`` of scores 0, 1, …, K−1 with NaN where an item was
not on the candidate's form (missing: one calibration spans every form of a sitting through their
common items), and each item's model. Ability θ ~ N(0, 1) in the calibrated group.

Models (slope–intercept form inside, difficulty form reported):

* ``2pl``   P(x = 1 | θ) = σ(aθ + d),   b = −d/a                               (Birnbaum 1968)
* ``1pl``   the 2PL with one slope a shared by every 1PL item of the calibration: the Rasch
            model with the latent standard deviation a                       (Thissen 1982)
* ``3pl``   P(x = 1 | θ) = c + (1 − c) σ(aθ + d), with a Beta(α, β) prior on c, default
            Beta(5, 17) (mode 0.2, a four-option item), estimated at its posterior mode
                                                                             (Mislevy 1986)
* ``gpcm``  P(x = k | θ) ∝ exp(Σ_{v=1..k} (aθ + d_v)) = exp(k·aθ + D_k), D_k = Σ_{v≤k} d_v,
            D_0 = 0; step difficulties b_v = −d_v/a                          (Muraki 1992)
            A 2PL item is a GPCM item with two categories.

Estimation is Bock & Aitkin's (1981) EM over a fixed grid of ``nodes`` quadrature points on
[−6, 6] with N(0, 1) weights. E-step: each candidate's posterior weight w_nq at each node, from
the likelihood of their observed answers only. M-step: expected counts r_ikq (candidates at
node q answering item i in category k) and one Fisher-scoring step per item on the expected
complete-data log-likelihood, all items at once (the information of a GPCM item is
Σ_q n_iq Cov_q[T], T(k) = (kθ_q, 1[k≥1], …, 1[k≥K−1]); of a 3PL item
Σ_q n_iq ∇P ∇Pᵀ / (P(1 − P)) plus the prior's). The steps stop when no parameter moves more
than ``tol``.

Standard errors: the inverse of the cross-product of the candidates' score vectors (the "XPD"
estimate of the observed information of the marginal likelihood; Mislevy 1984, as ``mirt``'s
``SE.type = "crossprod"``) over every estimated parameter.

Abilities: EAP θ̂ = Σ_q w_nq θ_q with posterior SD as its standard error (Bock & Mislevy 1982).
Information: 2PL a²P(1 − P); 3PL a²(P − c)²(1 − P) / ((1 − c)²P) (Lord 1980); GPCM a²·Var_θ(k).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from certify.infra.errors import Error
from question_bank.assembly.information import item_information

Floats = NDArray[np.float64]

MODELS = ("1pl", "2pl", "3pl", "gpcm")

MIN_ANSWERS = {"1pl": 50, "2pl": 100, "3pl": 250, "gpcm": 100}
"""Fewest candidates who must have answered an item for its model to be calibrated: rules of
thumb from the calibration literature (about 100 for the 2PL, several hundred for the 3PL; De
Ayala 2009, ch. 12), stated here so that a refusal can say how many are needed."""

SLOPE_BOUNDS = (0.05, 8.0)
GUESS_BOUNDS = (1e-4, 0.5)


class CalibrationError(Error):
    """The data cannot be calibrated as asked; nothing is returned or stored."""

    code = "irt_calibration"


@dataclass(frozen=True)
class ItemParameters:
    """One calibrated item: slope ``a``, intercepts ``d`` (one per step), guessing ``c`` (3PL;
    0 otherwise), their standard errors, and the difficulty form ``b`` (one per step)."""

    model: str
    a: float
    d: tuple[float, ...]
    c: float = 0.0
    se_a: float = float("nan")
    se_d: tuple[float, ...] = ()
    se_c: float = float("nan")

    @property
    def b(self) -> tuple[float, ...]:
        return tuple(-dv / self.a for dv in self.d)

    @property
    def categories(self) -> int:
        return len(self.d) + 1


@dataclass(frozen=True)
class Calibration:
    """The result: per item parameters, the log-likelihood, how the EM went, and the grid."""

    items: list[ItemParameters]
    log_likelihood: float
    iterations: int
    converged: bool
    nodes: Floats = field(repr=False)
    weights: Floats = field(repr=False)
    candidates: int = 0


@dataclass
class _Item:
    model: str
    a: float
    d: Floats
    c: float
    cols: slice  # its categories' columns in the one-hot matrix


def _grid(nodes: int) -> tuple[Floats, Floats]:
    theta = np.linspace(-6.0, 6.0, nodes)
    w = np.exp(-0.5 * theta**2)
    return theta, w / w.sum()


def _category_probs(item: _Item, theta: Floats) -> Floats:
    """P(x = k | θ_q) for every category k and node q: shape (K, Q)."""
    if item.model == "3pl":
        p = item.c + (1 - item.c) / (1 + np.exp(-(item.a * theta + item.d[0])))
        return np.vstack([1 - p, p])
    k = np.arange(len(item.d) + 1)[:, None]
    cum = np.concatenate([[0.0], np.cumsum(item.d)])[:, None]
    z = k * item.a * theta[None, :] + cum
    z -= z.max(axis=0, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=0, keepdims=True))


def _validate(x: Floats, models: Sequence[str]) -> tuple[Floats, list[int]]:
    """The scores as floats with NaN for missing and each item's category count; raises
    CalibrationError naming every item that cannot be calibrated and why."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise CalibrationError(
            "作答矩阵应为二维（考生 × 试题）/ the responses must be candidates × items"
        )
    n, k = x.shape
    if len(models) != k:
        raise CalibrationError(
            f"模型数 {len(models)} 与试题数 {k} 不符 / {len(models)} models for {k} items"
        )
    problems: list[str] = []
    categories: list[int] = []
    for i, model in enumerate(models):
        if model not in MODELS:
            problems.append(f"item {i + 1}: unknown model {model!r} (choose {', '.join(MODELS)})")
            categories.append(2)
            continue
        col = x[:, i]
        seen = col[~np.isnan(col)]
        if seen.size and (np.any(seen < 0) or np.any(seen != np.round(seen))):
            problems.append(f"item {i + 1}: scores must be whole numbers 0, 1, 2, …")
            categories.append(2)
            continue
        top = int(seen.max()) if seen.size else 0
        count = top + 1 if model == "gpcm" else 2
        if model != "gpcm" and top > 1:
            problems.append(f"item {i + 1}: a {model} item is scored 0 or 1, found {top}")
        categories.append(max(count, 2))
        need = MIN_ANSWERS[model]
        if seen.size < need:
            problems.append(
                f"item {i + 1}: {seen.size} answers, the {model} model needs at least {need}"
            )
            continue
        present = set(seen.astype(int).tolist())
        missing_categories = [c for c in range(max(count, 2)) if c not in present]
        if missing_categories == [0]:
            problems.append(f"item {i + 1}: everybody who had it scored above 0")
        elif present == {0}:
            problems.append(f"item {i + 1}: nobody who had it scored above 0")
        elif missing_categories:
            problems.append(
                f"item {i + 1}: no candidate scored {missing_categories} (merge the categories)"
            )
    if problems:
        raise CalibrationError(
            f"{len(problems)} 道试题无法标定 / {len(problems)} items cannot be calibrated:\n  "
            + "\n  ".join(problems)
        )
    if n < 2:
        raise CalibrationError("考生过少 / too few candidates")
    return x, categories


def _start(x: Floats, models: Sequence[str], categories: list[int]) -> list[_Item]:
    """Starting values from each item's category proportions: a = 1, d from the logits."""
    items = []
    offset = 0
    for i, (model, count) in enumerate(zip(models, categories, strict=True)):
        col = x[:, i]
        seen = col[~np.isnan(col)]
        shares = np.array([(seen == k).mean() for k in range(count)]).clip(1e-3, None)
        d = np.log(shares[1:] / shares[:-1])  # adjacent-category logits at θ = 0
        c = 0.2 if model == "3pl" else 0.0
        if model == "3pl":
            p = float(np.clip((seen.mean() - c) / (1 - c), 0.05, 0.95))
            d = np.array([np.log(p / (1 - p))])
        items.append(_Item(model, 1.0, d.astype(np.float64), c, slice(offset, offset + count)))
        offset += count
    return items


def _one_hot(x: Floats, categories: list[int]) -> NDArray[np.float32]:
    """Y: (n, ΣK) with Y[n, col(i, k)] = 1 when candidate n scored k on item i (the item's
    columns all 0 when the candidate did not have it)."""
    n = x.shape[0]
    y = np.zeros((n, sum(categories)), dtype=np.float32)
    offset = 0
    for i, count in enumerate(categories):
        col = x[:, i]
        had = ~np.isnan(col)
        rows = np.nonzero(had)[0]
        y[rows, offset + col[had].astype(int)] = 1.0
        offset += count
    return y


def _log_probs(items: list[_Item], theta: Floats) -> Floats:
    """log P for every (item, category) column and node: shape (ΣK, Q)."""
    stacked = np.vstack([_category_probs(it, theta) for it in items])
    return np.asarray(np.log(stacked.clip(1e-300, None)), dtype=np.float64)


def _posterior(y: NDArray[np.float32], log_p: Floats, log_prior: Floats) -> tuple[Floats, Floats]:
    """Posterior weights (n, Q) and each candidate's marginal log-likelihood."""
    log_l = (y @ log_p.astype(np.float32)).astype(np.float64) + log_prior[None, :]
    top = log_l.max(axis=1, keepdims=True)
    w = np.exp(log_l - top)
    total = w.sum(axis=1, keepdims=True)
    return w / total, (np.log(total) + top)[:, 0]


def _step_gpcm(item: _Item, r: Floats, theta: Floats, slope_fixed: bool) -> Floats:
    """One Fisher-scoring step of a GPCM (or 2PL/1PL) item from its expected counts r (K, Q);
    returns the change in (a, d_1..d_{K−1}) (a's change 0 when the slope is shared)."""
    probs = _category_probs(item, theta)  # (K, Q)
    count = probs.shape[0]
    n_q = r.sum(axis=0)  # (Q,)
    k = np.arange(count)[:, None]
    # T(k) = (k θ_q, 1[k ≥ 1], …, 1[k ≥ K−1]): its mean and covariance under P at each node
    steps = (k >= np.arange(1, count)[None, :]).astype(np.float64)  # (K, K−1)
    t = np.concatenate(
        [
            (k * theta[None, :])[:, :, None],
            np.broadcast_to(steps[:, None, :], (count, theta.size, count - 1)),
        ],
        axis=2,
    )  # (K, Q, p)
    mean = np.einsum("kq,kqp->qp", probs, t)
    observed = np.einsum("kq,kqp->qp", r, t)
    grad = (observed - n_q[:, None] * mean).sum(axis=0)
    second = np.einsum("kq,kqp,kqs->qps", probs, t, t) - mean[:, :, None] * mean[:, None, :]
    info = np.einsum("q,qps->ps", n_q, second)
    if slope_fixed:
        delta = np.zeros(count)
        delta[1:] = np.linalg.solve(info[1:, 1:] + 1e-9 * np.eye(count - 1), grad[1:])
        return delta
    return np.asarray(np.linalg.solve(info + 1e-9 * np.eye(count), grad))


def _slope_gradient(item: _Item, r: Floats, theta: Floats) -> tuple[float, float]:
    """The shared-slope part of a 1PL item: gradient and information for a."""
    probs = _category_probs(item, theta)
    k = np.arange(probs.shape[0])[:, None]
    n_q = r.sum(axis=0)
    e_k = (probs * k).sum(axis=0)
    var_k = (probs * k**2).sum(axis=0) - e_k**2
    grad = float((theta * ((r * k).sum(axis=0) - n_q * e_k)).sum())
    info = float((n_q * theta**2 * var_k).sum())
    return grad, info


def _three_pl_pieces(item: _Item, theta: Floats) -> tuple[Floats, Floats]:
    """P at each node and ∇P with respect to (a, d, c): shapes (Q,) and (Q, 3)."""
    s = 1 / (1 + np.exp(-(item.a * theta + item.d[0])))
    p = item.c + (1 - item.c) * s
    ds = (1 - item.c) * s * (1 - s)
    grad = np.stack([ds * theta, ds, 1 - s], axis=1)
    return p, grad


def _step_3pl(item: _Item, r: Floats, theta: Floats, prior: tuple[float, float]) -> Floats:
    """One Fisher-scoring step of a 3PL item with the Beta prior on c: change in (a, d, c)."""
    p, dp = _three_pl_pieces(item, theta)
    right, n_q = r[1], r.sum(axis=0)
    pq = (p * (1 - p)).clip(1e-12, None)
    grad = ((right - n_q * p) / pq) @ dp
    info = (dp * (n_q / pq)[:, None]).T @ dp
    alpha, beta = prior
    c = item.c
    grad[2] += (alpha - 1) / c - (beta - 1) / (1 - c)
    info[2, 2] += (alpha - 1) / c**2 + (beta - 1) / (1 - c) ** 2
    return np.asarray(np.linalg.solve(info + 1e-9 * np.eye(3), grad))


def calibrate(
    x: Floats,
    models: Sequence[str] | str = "2pl",
    *,
    nodes: int = 41,
    tol: float = 1e-4,
    max_iter: int = 500,
    guess_prior: tuple[float, float] = (5.0, 17.0),
    standard_errors: bool = True,
) -> Calibration:
    """Calibrate every item of ``x`` (candidates × items, NaN = not on the form) under
    ``models`` (one per item, or one for all). Raises CalibrationError for data that cannot be
    calibrated, naming the items, and for an EM that does not converge within ``max_iter``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise CalibrationError(
            "作答矩阵应为二维（考生 × 试题）/ the responses must be candidates × items"
        )
    model_list = [models] * x.shape[1] if isinstance(models, str) else list(models)
    x, categories = _validate(x, model_list)
    theta, prior_w = _grid(nodes)
    log_prior = np.log(prior_w)
    items = _start(x, model_list, categories)
    y = _one_hot(x, categories)
    # the one-hot matrix in float64 once (the expected counts sum up to n candidates, kept in
    # float64), not converted again on every iteration
    y_t = np.ascontiguousarray(y.T, dtype=np.float64)
    shared = [i for i, it in enumerate(items) if it.model == "1pl"]
    log_l = np.zeros(x.shape[0])
    converged = False
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        w, log_l = _posterior(y, _log_probs(items, theta), log_prior)
        counts = y_t @ w  # (ΣK, Q): expected candidates per category, node
        moved = 0.0
        for it in items:
            r = counts[it.cols]
            before = np.concatenate([[it.a, it.c], it.d])
            if it.model == "3pl":
                delta = np.clip(_step_3pl(it, r, theta, guess_prior), -1.0, 1.0)
                it.a = float(np.clip(it.a + delta[0], *SLOPE_BOUNDS))
                it.d = it.d + delta[1:2]
                it.c = float(np.clip(it.c + delta[2], *GUESS_BOUNDS))
            else:
                delta = np.clip(_step_gpcm(it, r, theta, it.model == "1pl"), -1.0, 1.0)
                if it.model != "1pl":
                    it.a = float(np.clip(it.a + delta[0], *SLOPE_BOUNDS))
                it.d = it.d + delta[1:]
            # what actually moved: a step pushing a parameter against its bound moves nothing
            after = np.concatenate([[it.a, it.c], it.d])
            moved = max(moved, float(np.abs(after - before).max()))
        if shared:
            grad = info = 0.0
            for i in shared:
                g, h = _slope_gradient(items[i], counts[items[i].cols], theta)
                grad, info = grad + g, info + h
            step = float(np.clip(grad / max(info, 1e-9), -1.0, 1.0))
            a = float(np.clip(items[shared[0]].a + step, *SLOPE_BOUNDS))
            for i in shared:
                items[i].a = a
            moved = max(moved, abs(step))
        if moved < tol:
            converged = True
            break
    if not converged:
        raise CalibrationError(
            f"EM 在 {max_iter} 轮内未收敛 / the EM did not converge in {max_iter} iterations "
            f"(largest change in the last {moved:.2g}); the data may not fit the models, or "
            "more iterations are needed"
        )
    w, log_l = _posterior(y, _log_probs(items, theta), log_prior)
    se = _standard_errors(items, x, w, theta, guess_prior) if standard_errors else None
    out = []
    for i, it in enumerate(items):
        errors = se[i] if se is not None else _Errors(float("nan"), (), float("nan"))
        out.append(
            ItemParameters(
                it.model,
                it.a,
                tuple(map(float, it.d)),
                it.c,
                se_a=errors.a,
                se_d=errors.d,
                se_c=errors.c,
            )
        )
    return Calibration(
        items=out,
        log_likelihood=float(log_l.sum()),
        iterations=iteration,
        converged=converged,
        nodes=theta,
        weights=prior_w,
        candidates=x.shape[0],
    )


@dataclass
class _Columns:
    """Where an item's parameters sit among the score vector's columns."""

    a: int | None = None
    d: list[int] = field(default_factory=list)
    c: int | None = None


@dataclass(frozen=True)
class _Errors:
    a: float
    d: tuple[float, ...]
    c: float


def _standard_errors(
    items: list[_Item],
    x: Floats,
    w: Floats,
    theta: Floats,
    guess_prior: tuple[float, float],
) -> list[_Errors]:
    """Per item standard errors from the inverse of Σ_n s_n s_nᵀ, s_n the candidate's score
    vector over every estimated parameter (the shared 1PL slope counted once), plus the
    guessing prior's curvature for a 3PL item's c (its estimate is the posterior mode)."""
    columns: list[Floats] = []
    index: list[_Columns] = []
    shared_column: int | None = None
    shared_parts: list[Floats] = []
    prior_curvature: dict[int, float] = {}  # the guessing prior's −∂² at the estimate
    for i, it in enumerate(items):
        col = x[:, i]
        had = ~np.isnan(col)
        k_obs = np.where(had, col, 0).astype(int)
        entry = _Columns()
        if it.model == "3pl":
            p, dp = _three_pl_pieces(it, theta)  # (Q,), (Q, 3)
            pq = (p * (1 - p)).clip(1e-12, None)
            resid = (k_obs[:, None] - p[None, :]) / pq[None, :]  # (n, Q)
            cols = []
            for j in range(3):
                cols.append(len(columns))
                columns.append(np.where(had, (w * resid * dp[None, :, j]).sum(axis=1), 0.0))
            entry = _Columns(a=cols[0], d=[cols[1]], c=cols[2])
            alpha, beta = guess_prior
            prior_curvature[cols[2]] = (alpha - 1) / it.c**2 + (beta - 1) / (1 - it.c) ** 2
        else:
            probs = _category_probs(it, theta)  # (K, Q)
            count = probs.shape[0]
            kk = np.arange(count)[:, None]
            e_k = (probs * kk).sum(axis=0)  # (Q,)
            s_a = np.where(
                had, (w * (k_obs[:, None] - e_k[None, :]) * theta[None, :]).sum(axis=1), 0.0
            )
            if it.model == "1pl":
                shared_parts.append(s_a)
            else:
                entry.a = len(columns)
                columns.append(s_a)
            d_cols = []
            for v in range(1, count):
                tail = probs[v:].sum(axis=0)  # P(K ≥ v | θ_q)
                s = np.where(had, (w * ((k_obs >= v)[:, None] - tail[None, :])).sum(axis=1), 0.0)
                d_cols.append(len(columns))
                columns.append(s)
            entry.d = d_cols
        index.append(entry)
    if shared_parts:
        shared_column = len(columns)
        columns.append(np.sum(shared_parts, axis=0))
    scores = np.stack(columns, axis=1)
    info = scores.T @ scores
    for j, curvature in prior_curvature.items():
        info[j, j] += curvature
    try:
        cov = np.linalg.inv(info)
        se_all = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se_all = np.full(len(columns), np.nan)
    out = []
    for it, entry in zip(items, index, strict=True):
        a_col = shared_column if it.model == "1pl" else entry.a
        out.append(
            _Errors(
                a=float(se_all[a_col]) if a_col is not None else float("nan"),
                d=tuple(float(se_all[j]) for j in entry.d),
                c=float(se_all[entry.c]) if entry.c is not None else float("nan"),
            )
        )
    return out


def _as_items(params: Sequence[ItemParameters]) -> list[_Item]:
    items = []
    offset = 0
    for p in params:
        count = p.categories
        items.append(
            _Item(
                p.model, p.a, np.asarray(p.d, dtype=np.float64), p.c, slice(offset, offset + count)
            )
        )
        offset += count
    return items


@dataclass(frozen=True)
class Abilities:
    """EAP ability and its standard error (posterior SD) per candidate."""

    theta: Floats
    se: Floats


def abilities(x: Floats, params: Sequence[ItemParameters], *, nodes: int = 41) -> Abilities:
    """EAP estimates for the candidates of ``x`` (NaN = not on their form) under ``params``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(params):
        raise CalibrationError(
            f"作答矩阵的试题数与参数不符 / the responses have {x.shape[-1]} items, the parameters {len(params)}"
        )
    items = _as_items(params)
    categories = [p.categories for p in params]
    seen = x[~np.isnan(x)]
    if seen.size and (np.any(seen < 0) or np.any(seen != np.round(seen))):
        raise CalibrationError("分数应为 0, 1, 2, … 的整数 / scores must be whole numbers")
    for i, count in enumerate(categories):
        col = x[:, i]
        if np.nanmax(np.append(col, 0)) >= count:
            raise CalibrationError(
                f"第 {i + 1} 题的分数超出其类别 / item {i + 1} has a score above its {count - 1}"
            )
    theta, prior_w = _grid(nodes)
    y = _one_hot(x, categories)
    w, _ = _posterior(y, _log_probs(items, theta), np.log(prior_w))
    mean = w @ theta
    var = w @ theta**2 - mean**2
    return Abilities(theta=mean, se=np.sqrt(np.clip(var, 0, None)))


def log_likelihood(x: Floats, params: Sequence[ItemParameters], *, nodes: int = 41) -> float:
    """The marginal log-likelihood of ``x`` under ``params`` (θ ~ N(0, 1) on the same grid as
    :func:`calibrate`): what the calibration maximises."""
    x = np.asarray(x, dtype=np.float64)
    categories = [p.categories for p in params]
    theta, prior_w = _grid(nodes)
    y = _one_hot(x, categories)
    _, log_l = _posterior(y, _log_probs(_as_items(params), theta), np.log(prior_w))
    return float(log_l.sum())


def probabilities(item: ItemParameters, theta: Floats) -> Floats:
    """P(x = k | θ) of one item for every category and θ: shape (K, len(theta))."""
    return _category_probs(_as_items([item])[0], np.asarray(theta, dtype=np.float64))


def expected_scores(item: ItemParameters, theta: Floats) -> Floats:
    """E(x | θ) = Σ_k k·P(x = k | θ): the item characteristic curve (its sum over a form's
    items is the test characteristic curve)."""
    probs = probabilities(item, theta)
    return np.asarray(np.arange(probs.shape[0]) @ probs, dtype=np.float64)


def information(params: Sequence[ItemParameters], theta: Floats) -> Floats:
    """Item information at each θ: shape (items, len(theta)); the test information is the sum
    over the items of a form, its standard error 1/√I
    (:func:`question_bank.assembly.information.item_information`, which assembling to an
    information target uses too)."""
    theta = np.asarray(theta, dtype=np.float64)
    rows = [item_information(p.model, p.a, p.d, p.c, theta) for p in params]
    return np.vstack(rows) if rows else np.zeros((0, theta.size))


def simulate(params: Sequence[ItemParameters], theta: Floats, rng: np.random.Generator) -> Floats:
    """Scores drawn from the models at the given abilities: (len(theta), items)."""
    theta = np.asarray(theta, dtype=np.float64)
    out = np.empty((theta.size, len(params)))
    for i, it in enumerate(_as_items(params)):
        probs = _category_probs(it, theta)  # (K, n)
        cum = np.cumsum(probs, axis=0)
        u = rng.random(theta.size)
        out[:, i] = (u[None, :] > cum).sum(axis=0)
    return out


@dataclass(frozen=True)
class ItemFit:
    """S-X² of one item (Orlando & Thissen 2000; Kang & Chen 2008 for items scored in steps):
    its value, degrees of freedom, p-value, and whether it is flagged (p < ``alpha``)."""

    s_x2: float
    df: int
    p: float
    misfit: bool


def _summed_score_likelihoods(items: list[_Item], theta: Floats) -> Floats:
    """Lord & Wingersky's (1984) recursion: f[s, q] = P(summed score s | θ_q) over ``items``."""
    f = np.ones((1, theta.size))
    for it in items:
        probs = _category_probs(it, theta)  # (K, Q)
        grown = np.zeros((f.shape[0] + probs.shape[0] - 1, theta.size))
        for k in range(probs.shape[0]):
            grown[k : k + f.shape[0]] += f * probs[k]
        f = grown
    return f


def _collapse(observed: Floats, expected: Floats, minimum: float) -> tuple[Floats, Floats]:
    """Merge adjacent score groups (rows) from both ends inwards until every cell of the
    expected counts is at least ``minimum``."""
    obs, exp = [list(r) for r in observed], [list(r) for r in expected]
    while len(exp) > 1 and min(exp[0]) < minimum:
        exp[1] = [a + b for a, b in zip(exp[0], exp[1], strict=True)]
        obs[1] = [a + b for a, b in zip(obs[0], obs[1], strict=True)]
        del exp[0], obs[0]
    while len(exp) > 1 and min(exp[-1]) < minimum:
        exp[-2] = [a + b for a, b in zip(exp[-1], exp[-2], strict=True)]
        obs[-2] = [a + b for a, b in zip(obs[-1], obs[-2], strict=True)]
        del exp[-1], obs[-1]
    i = 1
    while i < len(exp) - 1:  # a thin group inside: into its neighbour
        if min(exp[i]) < minimum:
            exp[i + 1] = [a + b for a, b in zip(exp[i], exp[i + 1], strict=True)]
            obs[i + 1] = [a + b for a, b in zip(obs[i], obs[i + 1], strict=True)]
            del exp[i], obs[i]
        else:
            i += 1
    return np.array(obs, dtype=np.float64), np.array(exp, dtype=np.float64)


def item_fit(
    x: Floats,
    params: Sequence[ItemParameters],
    *,
    nodes: int = 41,
    alpha: float = 0.01,
    min_expected: float = 1.0,
    min_form: int = 100,
) -> list[ItemFit]:
    """S-X² per item: within each group of candidates with the same summed score, the share in
    each of the item's score categories observed against the model's expectation,

        E_iks = ∫ P_ik(θ) f⁻ⁱ(s − k | θ) φ(θ) dθ / ∫ f(s | θ) φ(θ) dθ,

    f the summed-score likelihoods of the form's items (f⁻ⁱ without item i), groups merged until
    every expected count is at least ``min_expected``; X² = Σ_s Σ_k N_s (O − E)² / E with
    (groups)(K − 1) − (the item's parameters) degrees of freedom. Candidates are grouped by
    which items they had (their form); a form with fewer than ``min_form`` candidates is left
    out; the contributions of an item's forms add up, values and degrees of freedom. An item
    whose degrees of freedom come to 0 or less gets NaN and is not flagged."""
    from scipy.stats import chi2

    x = np.asarray(x, dtype=np.float64)
    theta, prior_w = _grid(nodes)
    all_items = _as_items(params)
    counts = {"1pl": 1, "2pl": 2, "3pl": 3, "gpcm": 0}
    totals = np.zeros(len(params))
    cells = np.zeros(len(params), dtype=int)  # free cells: groups × (K − 1), over its forms
    patterns, inverse = np.unique(~np.isnan(x), axis=0, return_inverse=True)
    for form, had in enumerate(patterns):
        rows = np.nonzero(inverse.ravel() == form)[0]
        cols = np.nonzero(had)[0]
        if rows.size < min_form or cols.size < 2:
            continue
        scores = x[np.ix_(rows, cols)].astype(int)
        summed = scores.sum(axis=1)
        form_items = [all_items[c] for c in cols]
        f_all = _summed_score_likelihoods(form_items, theta)  # (S, Q)
        marginal = f_all @ prior_w  # P(s)
        for j, c in enumerate(cols):
            it = form_items[j]
            probs = _category_probs(it, theta)
            rest = _summed_score_likelihoods(form_items[:j] + form_items[j + 1 :], theta)
            size = f_all.shape[0]
            expected = np.zeros((size, probs.shape[0]))
            for k in range(probs.shape[0]):
                expected[k : k + rest.shape[0], k] = (rest * probs[k]) @ prior_w
            expected /= marginal[:, None].clip(1e-300, None)
            n_s = np.bincount(summed, minlength=size).astype(np.float64)
            observed = np.zeros((size, probs.shape[0]))
            np.add.at(observed, (summed, scores[:, j]), 1.0)
            keep = n_s > 0
            obs, exp = _collapse(observed[keep], expected[keep] * n_s[keep, None], min_expected)
            totals[c] += float((((obs - exp) ** 2) / exp.clip(1e-12, None)).sum())
            cells[c] += obs.shape[0] * (probs.shape[0] - 1)
    out = []
    for value, cell, it in zip(totals, cells, all_items, strict=True):
        free = counts[it.model] or len(it.d) + 1  # a GPCM item: a and its K − 1 steps
        df = int(cell - free)
        if cell == 0 or df <= 0:
            out.append(ItemFit(float("nan"), int(df), float("nan"), False))
            continue
        p = float(chi2.sf(value, df))
        out.append(ItemFit(float(value), int(df), p, p < alpha))
    return out


def summed_score_distribution(
    params: Sequence[ItemParameters], theta: Floats, weights: Floats
) -> Floats:
    """P(summed score s) for s = 0…Σ(K_i − 1) over the items ``params`` in a population given
    as points ``theta`` with ``weights`` (Lord & Wingersky 1984, integrated over θ)."""
    w = np.asarray(weights, dtype=np.float64)
    f = _summed_score_likelihoods(_as_items(params), np.asarray(theta, dtype=np.float64))
    return np.asarray(f @ (w / w.sum()), dtype=np.float64)
