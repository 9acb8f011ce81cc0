"""等值链接: putting a new calibration on a base scale through common items.

Two calibrations of the same items, each with θ ~ N(0, 1) in its own group, differ by a linear
change of scale θ_base = A·θ_new + B. Under it an item's parameters become

    a* = a / A,   b* = A·b + B   (so d* = d − a·B/A for every step),   c* = c,

and :func:`transform` applies that. The constants come from the common items:

* ``mean/sigma``   A = σ(b_base) / σ(b_new), B = μ(b_base) − A·μ(b_new)   (Marco 1977)
* ``mean/mean``    A = μ(a_new) / μ(a_base), B as above                    (Loyd & Hoover 1980)
* ``haebara``      minimises Σ_q w_q Σ_i Σ_k [P_ik(θ_q; base) − P_ik(θ_q; new*)]²  (Haebara 1980)
* ``stocking-lord`` minimises Σ_q w_q [Σ_i E_i(θ_q; base) − Σ_i E_i(θ_q; new*)]²,
  E_i the item's expected score                                          (Stocking & Lord 1983)

the characteristic-curve criteria over ``nodes`` points of [−4, 4] with N(0, 1) weights on the
base scale, minimised by BFGS from the mean/sigma constants (Kolen & Brennan 2014, ch. 6). Each
common item's characteristic curve after linking is compared with the base's over θ in
[−3, 3]: an item whose expected score moved by more than ``drift`` (default 0.15 of a score
point, a probability of 0.15 for an item scored right or wrong) somewhere is flagged as
drifting — a candidate for leaving out of the anchor and linking again. (The curve, not the
difficulty: an item that hardly discriminates has a difficulty far out that small changes in
its slope move a long way, with no change a candidate would notice.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from certify.grading.irt import CalibrationError, ItemParameters, expected_scores, probabilities

Floats = NDArray[np.float64]

METHODS = ("mean/sigma", "mean/mean", "haebara", "stocking-lord")


@dataclass(frozen=True)
class Linking:
    """θ_base = A·θ_new + B, the method that found it, and the drift of each common item (the
    largest difference of its expected score over θ in [−3, 3] after linking, base − new*)."""

    method: str
    A: float
    B: float
    drift: tuple[float, ...]
    drifting: tuple[int, ...]
    """Positions (in the common items given) of the items that moved more than the limit."""


def transform(item: ItemParameters, A: float, B: float) -> ItemParameters:
    """The item's parameters on the base scale: a/A, d − a·B/A (so b → A·b + B), c kept; a's
    standard error scaled alike, d's kept as they were (the linking constants' own errors and
    the a–d covariance are not in them)."""
    return replace(
        item,
        a=item.a / A,
        d=tuple(dv - item.a * B / A for dv in item.d),
        se_a=item.se_a / A,
    )


def _check(base: Sequence[ItemParameters], new: Sequence[ItemParameters]) -> None:
    if len(base) != len(new):
        raise CalibrationError(
            f"共同题数不一致 / {len(base)} base and {len(new)} new common items: give the same "
            "items in the same order"
        )
    if len(base) < 2:
        raise CalibrationError(
            f"共同题过少 / {len(base)} common items: linking needs at least 2 (and 20 % of a "
            "form, 20 items or more, is the usual advice)"
        )
    for n, (x, y) in enumerate(zip(base, new, strict=True), start=1):
        if x.model != y.model or x.categories != y.categories:
            raise CalibrationError(
                f"第 {n} 道共同题的模型不同 / common item {n} is {x.model} with {x.categories} "
                f"categories in the base but {y.model} with {y.categories} in the new calibration"
            )


def _moments(
    base: Sequence[ItemParameters], new: Sequence[ItemParameters], method: str
) -> tuple[float, float]:
    b_base = np.array([b for it in base for b in it.b])
    b_new = np.array([b for it in new for b in it.b])
    if method == "mean/mean":
        A = float(np.mean([it.a for it in new]) / np.mean([it.a for it in base]))
    else:
        spread = float(np.std(b_new))
        if spread == 0:
            raise CalibrationError(
                "共同题难度全部相同 / the common items all have one difficulty: mean/sigma "
                "cannot find the scale"
            )
        A = float(np.std(b_base)) / spread
    return A, float(b_base.mean() - A * b_new.mean())


def _grid(nodes: int) -> tuple[Floats, Floats]:
    theta = np.linspace(-4.0, 4.0, nodes)
    w = np.exp(-0.5 * theta**2)
    return theta, w / w.sum()


def link(
    base: Sequence[ItemParameters],
    new: Sequence[ItemParameters],
    method: str = "stocking-lord",
    *,
    nodes: int = 41,
    drift: float = 0.15,
) -> Linking:
    """The constants that put ``new``'s scale on ``base``'s, from the common items given in the
    same order in both; raises CalibrationError for unusable anchors, naming the items."""
    if method not in METHODS:
        raise CalibrationError(
            f"未知的链接方法 {method!r} / unknown method (choose {', '.join(METHODS)})"
        )
    _check(base, new)
    A, B = _moments(base, new, "mean/mean" if method == "mean/mean" else "mean/sigma")
    if method in ("haebara", "stocking-lord"):
        theta, w = _grid(nodes)
        target = [probabilities(it, theta) for it in base]
        target_tcc = sum(expected_scores(it, theta) for it in base)

        def loss(x: Floats) -> float:
            moved = [transform(it, float(x[0]), float(x[1])) for it in new]
            if method == "haebara":
                return float(
                    sum(
                        ((p - probabilities(it, theta)) ** 2 * w).sum()
                        for p, it in zip(target, moved, strict=True)
                    )
                )
            tcc = sum(expected_scores(it, theta) for it in moved)
            return float((((target_tcc - tcc) ** 2) * w).sum())

        found = minimize(loss, np.array([A, B]), method="BFGS", options={"gtol": 1e-10})
        if not np.all(np.isfinite(found.x)) or found.x[0] <= 0:
            raise CalibrationError(
                f"{method} 未找到有效的链接常数 / {method} found no usable constants "
                f"(A = {found.x[0]:.3g}); check the common items' drift with mean/sigma"
            )
        A, B = float(found.x[0]), float(found.x[1])
    moves = []
    span = np.linspace(-3.0, 3.0, 61)
    for x, y in zip(base, new, strict=True):
        moved = transform(y, A, B)
        moves.append(float(np.abs(expected_scores(x, span) - expected_scores(moved, span)).max()))
    return Linking(
        method=method,
        A=A,
        B=B,
        drift=tuple(moves),
        drifting=tuple(i for i, m in enumerate(moves) if m > drift),
    )
