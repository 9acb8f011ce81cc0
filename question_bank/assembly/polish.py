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


class _Rows:
    """The rows of an integer programme, one at a time: columns, coefficients and bounds."""

    def __init__(self) -> None:
        self.cols: list[list[int]] = []
        self.vals: list[list[float]] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: list[int], coef: list[float], low: float, high: float) -> None:
        self.cols.append(cols)
        self.vals.append(coef)
        self.lo.append(low)
        self.hi.append(high)

    def constraints(self, width: int) -> LinearConstraint:
        """The rows as one sparse constraint over ``width`` variables."""
        matrix = coo_array(
            (
                [v for r in self.vals for v in r],
                (
                    [m for m, r in enumerate(self.cols) for _ in r],
                    [k for r in self.cols for k in r],
                ),
            ),
            shape=(len(self.cols), width),
        ).tocsr()
        return LinearConstraint(matrix, self.lo, self.hi)


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
    program = _Rows()
    add = program.add
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
    cost = np.zeros(n + 1)
    cost[t] = 1.0
    found = milp(
        cost,
        constraints=program.constraints(n + 1),
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


def polish_pairs(state: _State, deadline: float) -> int:
    """Once no form can be bettered alone: re-choose the worst form together with another, in
    one programme (:func:`_best_pair`), so that items held by the other can move to it. Tries
    the other forms from the closest to its goal; stops at the first pair that lowers the
    objective (returning 1) or when none does."""
    devs = np.abs(state.devs()).max(axis=1)
    f = int(np.argmax(devs))
    if devs[f] < IMPROVEMENT:
        return 0
    for g in (int(g) for g in np.argsort(devs, kind="stable")):
        if g == f or time.perf_counter() >= deadline - 0.02:
            continue
        chosen = _best_pair(state, f, g, deadline)
        if chosen is None:
            continue
        now = max(_worst_if(state, f, chosen[0]), _worst_if(state, g, chosen[1]))
        if now < devs[f] - IMPROVEMENT:
            _apply_pair(state, (f, g), chosen)
            return 1
    return 0


def _apply_pair(state: _State, forms: tuple[int, int], chosen: tuple[list[IntArray], ...]) -> None:
    """Make both forms hold what was chosen, one form after the other (the counters follow; a
    use may pass the limit between the two, never once both are done)."""
    for f, items in zip(forms, chosen, strict=True):
        _apply(state, f, items)


def _best_pair(state: _State, f: int, g: int, deadline: float) -> tuple[list[IntArray], ...] | None:
    """Forms f and g chosen together: each cell's count, each form's overlap with every other
    form (and with each other) and enemy sets, the use limit over both, minimising the larger
    worst deviation of the two; per form per cell the chosen items, or None."""
    others = state.X.sum(axis=0) - state.X[f] - state.X[g]
    cand = [
        [
            cell.pool[(others[cell.pool] < state.U)] if cell.count else cell.pool[:0]
            for cell in state.p.cells
        ]
        for _ in (f, g)
    ]
    flat = [np.concatenate(c) if c else np.zeros(0, np.int64) for c in cand]
    n_f, n_g = len(flat[0]), len(flat[1])
    if n_f == 0 or n_g == 0:
        return None
    shared = np.intersect1d(flat[0], flat[1])
    col_f = {int(i): k for k, i in enumerate(flat[0])}
    col_g = {int(i): n_f + k for k, i in enumerate(flat[1])}
    z0 = n_f + n_g  # one overlap variable per item both may hold
    z = {int(i): z0 + k for k, i in enumerate(shared)}
    t = z0 + len(shared)
    program = _Rows()
    add = program.add
    for cells, offset in ((cand[0], 0), (cand[1], n_f)):
        start = offset
        for c, pool in enumerate(cells):
            count = state.p.cells[c].count
            if count:
                add(list(range(start, start + len(pool))), [1.0] * len(pool), count, count)
            start += len(pool)
    for i in shared.tolist():
        if others[i] >= state.U - 1:  # room for one of the two only
            add([col_f[i], col_g[i]], [1.0, 1.0], 0, 1)
        add([col_f[i], col_g[i], z[i]], [1.0, 1.0, -1.0], -np.inf, 1)  # z >= x_f + x_g - 1
    if state.p.max_overlap is not None:
        add(list(z.values()), [1.0] * len(z), 0, state.K)
        for h in range(state.p.forms):
            if h in (f, g):
                continue
            held = np.flatnonzero(state.X[h]).tolist()
            for col in (col_f, col_g):
                on = [col[i] for i in held if i in col]
                if len(on) > state.K:
                    add(on, [1.0] * len(on), 0, state.K)
    for group in state.p.enemies:
        for col in (col_f, col_g):
            on = [col[int(i)] for i in group if int(i) in col]
            if len(on) > 1:
                add(on, [1.0] * len(on), 0, 1)
    crit = state.crit
    for form, cells, items, offset in ((f, cand[0], flat[0], 0), (g, cand[1], flat[1], n_f)):
        for k in range(state.A.shape[1]):
            part = crit.part[k]
            mask = np.array(
                [part < 0 or state.p.cells[c].part == part for c, p in enumerate(cells) for _ in p],
                dtype=bool,
            )
            coef = np.where(mask, state.A[items, k], 0.0) / crit.scale[form, k]
            goal = crit.goal[form, k] / crit.scale[form, k]
            cols = [*(np.flatnonzero(coef) + offset).tolist(), t]
            nz = coef[coef != 0].tolist()
            add(cols, [*nz, -1.0], -np.inf, goal)
            add(cols, [*nz, 1.0], goal, np.inf)
    width = t + 1
    cost = np.zeros(width)
    cost[t] = 1.0
    integral = np.r_[np.ones(n_f + n_g), np.zeros(len(shared) + 1)]
    found = milp(
        cost,
        constraints=program.constraints(width),
        integrality=integral,
        bounds=Bounds(np.zeros(width), np.r_[np.ones(t), np.inf]),
        options={"time_limit": _pair_time_limit(state, deadline), "mip_rel_gap": 1e-6},
    )
    if found.x is None:
        return None
    out: list[list[IntArray]] = []
    for cells, offset, n in ((cand[0], 0, n_f), (cand[1], n_f, n_g)):
        picked = found.x[offset : offset + n] > 0.5
        chosen, start = [], 0
        for pool in cells:
            chosen.append(pool[picked[start : start + len(pool)]])
            start += len(pool)
        out.append(chosen)
    return tuple(out)


def _pair_time_limit(state: _State, deadline: float) -> float:
    left = deadline - time.perf_counter()
    return max(min(left, max(left / PAIR_SHARE, MIN_SECONDS)), 0.01)


PAIR_SHARE = 8
