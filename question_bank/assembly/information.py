"""试题信息量: the Fisher information of a calibrated item at given abilities θ — what a test
information curve sums over a form's questions (van der Linden 2005, ch. 5), and what assembling
to an information target needs (:mod:`question_bank.assembly.engine`).

Parameters are the calibration's (:mod:`certify.grading.irt`, whose ``information`` is this):
slope ``a``, intercepts ``d`` (one per score step) and guessing ``c``. A 3PL item,
P = c + (1 − c)/(1 + e^−(aθ + d)), has I = a²(P − c)²(1 − P)/((1 − c)²P); a 2PL item (c = 0)
and a generalized partial credit item have I = a²·Var(k | θ), the variance of the category k
(Muraki 1993)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def category_probabilities(a: float, d: Sequence[float], theta: FloatArray) -> FloatArray:
    """P(x = k | θ) of a generalized partial credit (or 2PL) item for every category k and θ:
    shape (len(d) + 1, len(theta))."""
    k = np.arange(len(d) + 1)[:, None]
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(d, dtype=np.float64))])[:, None]
    z = k * a * theta[None, :] + cum
    z -= z.max(axis=0, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=0, keepdims=True))


def item_information(
    model: str, a: float, d: Sequence[float], c: float, theta: Sequence[float] | FloatArray
) -> FloatArray:
    """The item's information at each θ of ``theta``: shape (len(theta),)."""
    points = np.asarray(theta, dtype=np.float64)
    if model == "3pl":
        p = c + (1 - c) / (1 + np.exp(-(a * points + d[0])))
        return np.asarray(a**2 * (p - c) ** 2 * (1 - p) / ((1 - c) ** 2 * p))
    probs = category_probabilities(a, d, points)
    k = np.arange(probs.shape[0])[:, None]
    mean = (probs * k).sum(axis=0)
    return np.asarray(a**2 * ((probs * k**2).sum(axis=0) - mean**2))
