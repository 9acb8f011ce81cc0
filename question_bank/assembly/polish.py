"""Large-neighbourhood polish: re-choose the worst form whole, by an exact integer programme,
with every other form held fixed.

Single replacements and exchanges stall on a minimax objective over several criteria (a test
information curve at four abilities): a move that lowers the worst point raises another. Once
the local search stops, the form furthest from its goal is re-chosen by HiGHS
(``scipy.optimize.milp``) over its cells' items — every rule linear, as in the sequential model
of van der Linden (2005, ch. 5), but with *all* other forms fixed, not only earlier ones:

    min t   s.t.  Σ_{i ∈ cell c} x_i = k_c                        (each cell)
                  Σ_{i ∈ form g} x_i <= K                          (each other form g)
                  Σ_{i ∈ enemy set} x_i <= 1                       (each set)
                  x_i = 0 where item i is already on max_uses other forms
                  ± (Σ_i A_ik x_i − G_fk) / s_fk <= t              (each criterion k)

Since the other forms do not move, the new form keeps every rule, and it replaces the old one
only when its worst deviation is lower. Then the next worst form, until the worst form's
programme brings nothing or the deadline.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

if TYPE_CHECKING:
    from question_bank.assembly.engine import IntArray, _State

MIN_SECONDS = 0.1
"""The least time one programme is given while time is left."""
IMPROVEMENT = 1e-9
"""How much lower a form's worst deviation must be for the programme's form to replace it."""


def polish(state: _State, deadline: float) -> int:
    """Re-choose worst forms while that helps; returns how many forms were replaced."""
    replaced = 0
    tried: set[int] = set()
    while time.perf_counter() < deadline - 0.02:
        devs = np.abs(state.devs())
        worst = devs.max(axis=1)
        f = int(np.argmax(worst))
        if worst[f] < IMPROVEMENT or f in tried:
            break
        chosen = _best_form(state, f, deadline)
        if chosen is None or _worst_if(state, f, chosen) >= worst[f] - IMPROVEMENT:
            tried.add(f)  # the programme found nothing better: this form is as good as it gets
            continue
        _apply(state, f, chosen)
        tried.clear()
        replaced += 1
    return replaced


def _candidates(state: _State, f: int) -> list[IntArray]:
    """Per cell, the items form f may hold: its own, and those below the use limit elsewhere."""
    uses_elsewhere = state.X.sum(axis=0) - state.X[f]
    return [
        cell.pool[(uses_elsewhere[cell.pool] < state.U) | (state.X[f, cell.pool] > 0)]
        if cell.count
        else cell.pool[:0]
        for cell in state.p.cells
    ]


def _best_form(state: _State, f: int, deadline: float) -> list[IntArray] | None:
    """The programme above for form f; per cell the chosen items, or None (no better found)."""
    cand = _candidates(state, f)
    items = np.concatenate(cand) if cand else np.zeros(0, np.int64)
    n = len(items)
    if n == 0:
        return None
    col = {int(i): k for k, i in enumerate(items)}
    rows: list[list[int]] = []
    vals: list[list[float]] = []
    lo: list[float] = []
    hi: list[float] = []

    def add(cols: list[int], coef: list[float], low: float, high: float) -> None:
        rows.append(cols)
        vals.append(coef)
        lo.append(low)
        hi.append(high)

    start = 0
    for c, pool in enumerate(cand):
        count = state.p.cells[c].count
        if count:
            add(list(range(start, start + len(pool))), [1.0] * len(pool), count, count)
        start += len(pool)
    if state.p.max_overlap is not None:
        for g in range(state.p.forms):
            if g == f:
                continue
            on = [col[int(i)] for i in np.flatnonzero(state.X[g]) if int(i) in col]
            if len(on) > state.K:
                add(on, [1.0] * len(on), 0, state.K)
    for group in state.p.enemies:
        on = [col[int(i)] for i in group if int(i) in col]
        if len(on) > 1:
            add(on, [1.0] * len(on), 0, 1)
    crit = state.crit
    t = n
    for k in range(state.A.shape[1]):
        part = crit.part[k]
        mask = np.array(
            [part < 0 or state.p.cells[c].part == part for c, p in enumerate(cand) for _ in p],
            dtype=bool,
        )
        coef = np.where(mask, state.A[items, k], 0.0) / crit.scale[f, k]
        goal = crit.goal[f, k] / crit.scale[f, k]
        cols = [*np.flatnonzero(coef).tolist(), t]
        nz = coef[coef != 0].tolist()
        add(cols, [*nz, -1.0], -np.inf, goal)  # Σ − goal <= t
        add(cols, [*nz, 1.0], goal, np.inf)  # goal − Σ <= t
    matrix = coo_array(
        (
            [v for r in vals for v in r],
            ([m for m, r in enumerate(rows) for _ in r], [k for r in rows for k in r]),
        ),
        shape=(len(rows), n + 1),
    ).tocsr()
    cost = np.zeros(n + 1)
    cost[t] = 1.0
    found = milp(
        cost,
        constraints=LinearConstraint(matrix, lo, hi),
        integrality=np.r_[np.ones(n), 0.0],
        bounds=Bounds(np.zeros(n + 1), np.r_[np.ones(n), np.inf]),
        options={"time_limit": _time_limit(state, deadline), "mip_rel_gap": 1e-6},
    )
    if found.x is None:
        return None
    picked = found.x[:n] > 0.5
    out: list[IntArray] = []
    start = 0
    for pool in cand:
        out.append(pool[picked[start : start + len(pool)]])
        start += len(pool)
    return out


def _time_limit(state: _State, deadline: float) -> float:
    """A share of the time left, so that every form can be re-chosen about twice: HiGHS finds
    good forms early and spends the rest proving them optimal, which the race does not need."""
    left = deadline - time.perf_counter()
    return max(min(left, max(left / (2 * state.p.forms), MIN_SECONDS)), 0.01)


def _worst_if(state: _State, f: int, chosen: list[IntArray]) -> float:
    """Form f's worst |deviation| were it made of ``chosen``."""
    crit = state.crit
    sums = np.zeros(state.A.shape[1])
    for c, items in enumerate(chosen):
        kc = state.cell_crit[c]
        sums[kc] += state.A[items][:, kc].sum(axis=0)
    return float((np.abs(sums - crit.goal[f]) / crit.scale[f]).max())


def _apply(state: _State, f: int, chosen: list[IntArray]) -> None:
    """Make form f hold ``chosen``, one replacement at a time (the counters follow)."""
    for c, items in enumerate(chosen):
        current = set(state.slots[f][c].tolist())
        incoming = [int(i) for i in items if int(i) not in current]
        keep = set(items.tolist())
        for pos in range(len(current)):
            if int(state.slots[f][c][pos]) not in keep:
                state.replace(f, c, pos, incoming.pop())
