"""The assembly engine: parallel forms from cell requirements, by dealing and local search.

Pure numpy, no database. The problem arrives as *cells* — sets of interchangeable items (same
part, knowledge area, type and difficulty band) and how many of each every form takes — so every
count constraint of the blueprint holds by construction, and every move below (replacing an item
by another of the same cell, or exchanging two between forms) keeps them holding. What is left
to search is which items: overlap between forms, enemy sets, how often an item may be used, and
the objective. By default that is the largest deviation of any form's (part's) mean difficulty
from its target, which may differ per form:

    objective = max over forms f and parts p of | mean_{i in f, p} d_i - target_{f, p} |

Given item information at a few abilities θ_k and a target test information curve T_k (the
classic parallel-form problem of van der Linden, *Linear Models for Optimal Test Design*, 2005),
it is instead the largest relative deviation of a form's information from the target:

    objective = max over forms f and points k of | sum_{i in f} I_i(θ_k) - T_{f, k} | / T_{f, k}

Both are one shape inside: *criteria* k, each a column of item values A_ik summed over the items
of one part (or of the whole form), a per-form goal G_fk and a scale s_k, deviation
(sum - G_fk) / s_k.

1. *Deal*: per cell, take the items nearest the part's target, sort by difficulty and deal them
   in snake order over the forms, so forms start balanced and share as few items as the pool
   allows (an item is reused only when the cell has fewer items than forms × count).
2. *Repair*: while a hard constraint is broken (overlap above the limit, two enemies on a form,
   an item used too often), replace an offending item by a same-cell item that breaks nothing;
   where no single move helps, move an offending item at random and repair on from there.
3. *Improve*: take the form-part furthest from its target; find, vectorised over each cell, the
   replacement or the exchange with another form that brings it closest to target without
   breaking a constraint; apply it; repeat until the worst form cannot improve.
4. *Polish*: if the objective is still above zero, re-choose the worst form whole by an exact
   integer programme with the other forms fixed (:mod:`question_bank.assembly.polish`), then
   improve again. Single moves stall on a minimax over several criteria; this does not. When
   no form can be bettered alone, the worst form is re-chosen together with another in one
   programme, so items the other holds can move to it.
5. *Perturb*: with the time left, move a few items of the worst form at random (each move
   keeping every rule), improve again, and keep the result only if the objective went down;
   stop after :data:`PATIENCE` fruitless tries in a row (so a run that ends before its budget
   repeats exactly) or at the budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from question_bank.assembly.bounds import Proof, proofs_of_infeasibility
from question_bank.assembly.polish import polish, polish_pairs

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Cell:
    """Interchangeable items (indices into the pool) and how many each form takes."""

    part: int
    count: int
    pool: IntArray
    label: str = ""


@dataclass(frozen=True)
class AssemblyProblem:
    """Everything the engine needs, as arrays: pool difficulties, cells, rules across forms."""

    difficulty: FloatArray
    cells: list[Cell]
    targets: FloatArray
    forms: int
    max_overlap: int | None = None
    max_uses: int | None = None
    enemies: list[IntArray] = field(default_factory=list)
    seed: int = 1
    time_budget_s: float = 1.5
    """A safety net only: the search normally stops at a local optimum, so runs repeat exactly."""
    information: FloatArray | None = None
    """Item information at the target abilities, (items, points); with it the objective is the
    largest relative deviation from ``information_targets``."""
    information_targets: FloatArray | None = None
    """The target information curve, (points,) or per form (forms, points)."""

    def form_targets(self) -> FloatArray:
        """Mean-difficulty targets per form and part, (forms, parts)."""
        targets = np.asarray(self.targets, dtype=np.float64)
        if targets.ndim == 1:
            return np.broadcast_to(targets, (self.forms, len(targets))).copy()
        return targets


@dataclass(frozen=True)
class _Criteria:
    """What the objective sums: item values (items, K), the part of each criterion (-1: every
    part), the goal per form (forms, K) and the scale the deviation is divided by (forms, K)."""

    values: FloatArray
    part: IntArray
    goal: FloatArray
    scale: FloatArray

    @staticmethod
    def of(problem: AssemblyProblem, n_part: IntArray) -> _Criteria:
        if problem.information is not None:
            if problem.information_targets is None:
                raise ValueError("item information needs a target information curve")
            info = np.asarray(problem.information, dtype=np.float64)
            goal = np.broadcast_to(
                np.asarray(problem.information_targets, dtype=np.float64),
                (problem.forms, info.shape[1]),
            ).copy()
            if (goal <= 0).any():
                raise ValueError("a target information must be positive")
            return _Criteria(info, np.full(info.shape[1], -1, np.int64), goal, goal.copy())
        targets = problem.form_targets()
        values = np.repeat(np.asarray(problem.difficulty, np.float64)[:, None], len(n_part), 1)
        goal = targets * n_part[None, :]
        scale = np.broadcast_to(np.maximum(n_part, 1).astype(np.float64), goal.shape).copy()
        return _Criteria(values, np.arange(len(n_part), dtype=np.int64), goal, scale)


@dataclass
class Assembly:
    """The forms found: per form, per cell, the chosen pool indices; and how good they are."""

    forms: list[list[IntArray]]
    means: FloatArray
    objective: float
    violations: int
    overlap: IntArray
    max_uses_seen: int
    iterations: int
    seconds: float
    timed_out: bool = False
    proofs: tuple[Proof, ...] = ()
    """Rules proved impossible before any search (then the forms are only the dealt start)."""

    def form_items(self, f: int) -> IntArray:
        return np.concatenate(self.forms[f]) if self.forms[f] else np.zeros(0, np.int64)


class _State:
    """Membership matrix and the running sums the moves update incrementally."""

    def __init__(self, problem: AssemblyProblem) -> None:
        self.p = problem
        n = len(problem.difficulty)
        forms = problem.forms
        self.d = problem.difficulty
        self.X = np.zeros((forms, n), dtype=np.int64)
        self.K = problem.max_overlap if problem.max_overlap is not None else n
        self.U = problem.max_uses if problem.max_uses is not None else forms
        self.targets = problem.form_targets()
        self.parts = self.targets.shape[1]
        self.n_part = np.zeros(self.parts, dtype=np.int64)
        for cell in problem.cells:
            self.n_part[cell.part] += cell.count
        self.crit = _Criteria.of(problem, self.n_part)
        self.A = self.crit.values
        self.cell_crit = [
            np.flatnonzero((self.crit.part == cell.part) | (self.crit.part < 0))
            for cell in problem.cells
        ]
        self.A_cell = [
            self.A[cell.pool][:, kc]
            for cell, kc in zip(problem.cells, self.cell_crit, strict=False)
        ]
        self._sorted: dict[
            int, tuple[FloatArray, FloatArray, IntArray, IntArray, float, float]
        ] = {}
        self.S = np.zeros((forms, self.A.shape[1]))  # per form, each criterion's sum
        self.D = np.zeros((forms, self.parts))  # per form, each part's difficulty sum
        self.slots: list[list[IntArray]] = [
            [np.zeros(0, np.int64) for _ in problem.cells] for _ in range(forms)
        ]
        groups = len(problem.enemies)
        self.M = np.zeros((n, max(groups, 1)), dtype=np.int64)
        for g, members in enumerate(problem.enemies):
            self.M[members, g] = 1
        self.has_enemies = groups > 0
        self.M_cell = [  # each cell's rows of M, for one matrix product per candidate scan
            self.M[cell.pool].astype(np.float32) if groups else self.M[:0].astype(np.float32)
            for cell in problem.cells
        ]
        self.shared_counts = np.zeros(
            (forms, forms), dtype=np.int64
        )  # items shared by each pair of forms
        self.E = np.zeros((forms, self.M.shape[1]), dtype=np.int64)  # members of each enemy set

    # --- derived quantities ----------------------------------------------------------------

    def overlap(self) -> IntArray:
        return self.shared_counts

    def enemy_counts(self) -> IntArray:
        return self.E

    def _toggle(self, f: int, i: int, sign: int) -> None:
        """Add (sign=1) or remove (sign=-1) item i in form f, keeping the overlap and enemy counts current."""
        if sign < 0:
            self.X[f, i] -= 1
        shared = self.X[:, i].copy()
        shared[f] = 0
        self.shared_counts[f] += sign * shared
        self.shared_counts[:, f] += sign * shared
        self.E[f] += sign * self.M[i]
        if sign > 0:
            self.X[f, i] += 1

    def means(self) -> FloatArray:
        """Mean difficulty per form and part (the target where a part has no items)."""
        out: FloatArray = np.where(
            self.n_part > 0, self.D / np.maximum(self.n_part, 1), self.targets
        )
        return out

    def devs(self) -> FloatArray:
        """Each form's deviation from its goal per criterion, (forms, K), in objective units."""
        out: FloatArray = (self.S - self.crit.goal) / self.crit.scale
        return out

    def sorted_values(
        self, k: int
    ) -> tuple[FloatArray, FloatArray, IntArray, IntArray, float, float]:
        """Every cell's pool values of criterion k, sorted within the cell and laid end to end
        with keys ``cell × span + value − low`` (so one search finds a value within its cell),
        the values, each cell's start and end, the lowest value and the span. Cached."""
        if k not in self._sorted:
            column = self.A[:, k]
            low = float(column.min()) if len(column) else 0.0
            span = float(column.max() - low + 1) if len(column) else 1.0
            parts = [np.sort(column[cell.pool]) for cell in self.p.cells]
            sizes = np.array([len(v) for v in parts], dtype=np.int64)
            end = np.cumsum(sizes)
            values = np.concatenate(parts) if parts else np.zeros(0)
            keys = np.repeat(np.arange(len(parts)), sizes) * span + (values - low)
            self._sorted[k] = (keys, values, end - sizes, end, low, span)
        return self._sorted[k]

    def replacement_scores(
        self, f: int, c: int, out: IntArray, pool: IntArray | None = None
    ) -> FloatArray:
        """For each (outgoing, pool item): form f's worst |deviation| over the criteria cell c
        touches, had the pool item replaced the outgoing one; (len(out), len(pool)). The pool
        is the cell's unless given."""
        kc = self.cell_crit[c]
        base = self.S[f, kc] - self.crit.goal[f, kc]
        values = self.A_cell[c] if pool is None else self.A[pool][:, kc]
        delta = values[None, :, :] - self.A[out][:, kc][:, None, :]
        score: FloatArray = (np.abs(base + delta) / self.crit.scale[f, kc]).max(axis=2)
        return score

    def violations(self) -> int:
        shared_counts = self.overlap()
        over = int(np.triu(np.maximum(shared_counts - self.K, 0), 1).sum())
        enemy = int(np.maximum(self.enemy_counts() - 1, 0).sum()) if self.has_enemies else 0
        uses = int(np.maximum(self.X.sum(0) - self.U, 0).sum())
        dup = int(np.maximum(self.X - 1, 0).sum())  # an item twice on one form
        return over + enemy + uses + dup

    # --- moves -----------------------------------------------------------------------------

    def place(self, f: int, c: int, items: IntArray) -> None:
        cell = self.p.cells[c]
        self.slots[f][c] = items
        for i in items:
            self._toggle(f, int(i), 1)
        kc = self.cell_crit[c]
        self.S[f, kc] += self.A[items][:, kc].sum(axis=0)
        self.D[f, cell.part] += self.d[items].sum()

    def replace(self, f: int, c: int, pos: int, j: int) -> None:
        i = int(self.slots[f][c][pos])
        part = self.p.cells[c].part
        self._toggle(f, i, -1)
        self._toggle(f, j, 1)
        kc = self.cell_crit[c]
        self.S[f, kc] += self.A[j, kc] - self.A[i, kc]
        self.D[f, part] += self.d[j] - self.d[i]
        self.slots[f][c] = self.slots[f][c].copy()
        self.slots[f][c][pos] = j

    def candidate_mask(self, f: int, c: int, out_items: IntArray) -> NDArray[np.bool_]:
        """For each (outgoing item, pool item) pair: may the pool item replace it in form f?"""
        pool = self.p.cells[c].pool
        Xj = self.X[:, pool]  # (F, m)
        ok = (Xj[f] == 0) & (Xj.sum(0) < self.U)
        mask: NDArray[np.bool_]
        if self.p.max_overlap is not None and self.p.forms > 1:
            shared_counts = self.overlap()[f]  # (F,)
            Xi = self.X[:, out_items]  # (F, k)
            new = shared_counts[:, None, None] - Xi[:, :, None] + Xj[:, None, :]  # (F, k, m)
            new[f] = 0
            mask = (new <= self.K).all(axis=0) & ok[None, :]
        else:
            mask = np.repeat(ok[None, :], len(out_items), axis=0)
        if self.has_enemies:
            # pool item j may come in for out item k unless it shares an enemy set with an
            # item that stays: a set g still present once k leaves (E - M[k] >= 1) and j in g
            present = (self.enemy_counts()[f][None, :] - self.M[out_items]) > 0  # (k, G)
            mask &= (self.M_cell[c] @ present.T.astype(np.float32)).T == 0
        return mask


def _deal(state: _State, rng: np.random.Generator) -> None:
    """Fill every cell of every form: forms with the same goals take, per cell, the items
    nearest their ideal item, sorted and dealt in snake order among them."""
    p = state.p
    crit = state.crit
    # what one item would add to each criterion if all items of a form were alike, per form
    counts = np.where(crit.part >= 0, state.n_part[np.maximum(crit.part, 0)], state.n_part.sum())
    ideals = crit.goal / np.maximum(counts, 1)
    _, group_of = np.unique(np.round(ideals, 9), axis=0, return_inverse=True)
    groups = [np.flatnonzero(group_of.ravel() == g) for g in range(int(group_of.max()) + 1)]
    levels = np.array([_level(state, ideals[members[0]]) for members in groups])
    for c, cell in enumerate(p.cells):
        if cell.count == 0:
            continue
        kc = state.cell_crit[c]
        order = rng.permutation(cell.pool)
        if len(groups) > 1 and len(order) >= p.forms * cell.count:
            left = order
            for g, members in enumerate(groups):
                ideal = ideals[members[0], kc]
                aim = float(np.quantile(_key(state, cell.pool, kc, ideal), levels[g]))
                picked = _nearest(state, left, kc, ideal, len(members) * cell.count, aim)
                _snake(state, c, members, picked, ideal, rng)
                left = left[~np.isin(left, picked)]
            continue
        ideal = ideals[:, kc].mean(axis=0)
        aim = float(np.quantile(_key(state, cell.pool, kc, ideal), levels.mean()))
        chosen = _nearest(state, order, kc, ideal, p.forms * cell.count, aim)
        if len(chosen) >= p.forms * cell.count:
            _snake(state, c, np.arange(p.forms), chosen, ideal, rng)
            continue
        # Fewer items than slots: consecutive windows over an easy-hard alternation keep each
        # form's items distinct and its difficulty mixed, and spread the reuse evenly.
        chosen = chosen[np.argsort(_key(state, chosen, kc, ideal), kind="stable")]
        lanes = rng.permutation(p.forms)  # which forms share a reused item differs per cell
        low_high = np.empty_like(chosen)
        low_high[0::2] = chosen[: (len(chosen) + 1) // 2]
        low_high[1::2] = chosen[(len(chosen) + 1) // 2 :][::-1]
        for f in range(p.forms):
            start = int(lanes[f]) * cell.count
            picks = [low_high[(start + r) % len(low_high)] for r in range(cell.count)]
            state.place(f, c, np.array(picks, dtype=np.int64))


def _key(state: _State, items: IntArray, kc: IntArray, ideal: FloatArray) -> FloatArray:
    key: FloatArray = (state.A[items][:, kc] / np.maximum(np.abs(ideal), 1e-9)).sum(axis=1)
    return key


def _level(state: _State, ideal: FloatArray) -> float:
    """The quantile q such that taking, in every cell, items at the cell's own q-quantile (of
    the key below) gives forms on goal on average: cells differ (an easy-band cell cannot give
    a medium item), so the ideal item of each cell is the one at a common quantile, not the one
    nearest the goal. Found by bisection over q in [0, 1]."""
    cells = [(c, cell) for c, cell in enumerate(state.p.cells) if cell.count]
    if not cells:
        return 0.5
    keys = [np.sort(_key(state, cell.pool, state.cell_crit[c], ideal[state.cell_crit[c]]))
            for c, cell in cells]  # fmt: skip
    goal = sum(cell.count * len(state.cell_crit[c]) for c, cell in cells)
    low, high = 0.0, 1.0
    for _ in range(30):
        q = (low + high) / 2
        total = sum(
            cell.count * float(k[round(q * (len(k) - 1))])
            for (_, cell), k in zip(cells, keys, strict=True)
        )
        low, high = (q, high) if total < goal else (low, q)
    return (low + high) / 2


def _nearest(
    state: _State, items: IntArray, kc: IntArray, ideal: FloatArray, need: int, aim: float
) -> IntArray:
    """The ``need`` items (or all) whose key is nearest ``aim``."""
    closeness = np.abs(_key(state, items, kc, ideal) - aim)
    out: IntArray = items[np.argsort(closeness, kind="stable")][: min(len(items), need)]
    return out


def _snake(
    state: _State,
    c: int,
    forms: IntArray,
    chosen: IntArray,
    ideal: FloatArray,
    rng: np.random.Generator,
) -> None:
    """Deal ``chosen`` (len(forms) × count items) over ``forms`` in snake order of value."""
    count = state.p.cells[c].count
    n = len(forms)
    chosen = chosen[np.argsort(_key(state, chosen, state.cell_crit[c], ideal), kind="stable")]
    lanes = rng.permutation(n)
    for k, f in enumerate(forms):
        lane = int(lanes[k])
        picks = [chosen[r * n + (lane if r % 2 == 0 else n - 1 - lane)] for r in range(count)]
        state.place(int(f), c, np.array(picks, dtype=np.int64))


POLISH_ABOVE = 1e-6
"""The local search's objective above which the worst forms are re-chosen by HiGHS."""

KICKS = 50
"""Random moves the repair may make to leave a point where no single move helps."""


def _repair(state: _State, rng: np.random.Generator, deadline: float) -> None:
    """Replace or exchange offending items until no hard constraint is broken.

    When no single move lowers the number of broken constraints, an offending item is moved at
    random (a kick) and the repair goes on from there: some feasible forms are reached only
    through a worse point. Stops when nothing is broken, after :data:`KICKS` kicks (keeping the
    forms that broke the fewest constraints) or at the deadline.
    """
    best = state.violations()
    kept = _snapshot(state)
    kicks = 0
    while time.perf_counter() < deadline:
        offenders = _offenders(state)
        if not offenders:
            return
        before = state.violations()
        order = rng.permutation(len(offenders))
        if any(
            _repair_one(state, *offenders[int(k)], before)
            for k in order
            if time.perf_counter() < deadline
        ):
            continue
        if before < best:
            best, kept = before, _snapshot(state)
        if kicks == KICKS:
            break
        kicks += 1
        _kick(state, rng, offenders[int(rng.integers(len(offenders)))])
    if state.violations() > best:
        _restore(state, kept)


def _snapshot(state: _State) -> list[list[IntArray]]:
    return [[items.copy() for items in row] for row in state.slots]


def _restore(state: _State, slots: list[list[IntArray]]) -> None:
    for f, row in enumerate(slots):
        for c, items in enumerate(row):
            for pos in np.flatnonzero(state.slots[f][c] != items):
                state.replace(f, c, int(pos), int(items[pos]))


def _kick(state: _State, rng: np.random.Generator, offender: tuple[int, int, int]) -> None:
    """Move an offending item at random: replace it by a same-cell item its form lacks, else
    exchange it with a same-cell item of another form, whatever that breaks."""
    f, c, pos = offender
    i = int(state.slots[f][c][pos])
    pool = state.p.cells[c].pool
    free = pool[state.X[f, pool] == 0]
    if len(free):
        state.replace(f, c, pos, int(rng.choice(free)))
        return
    swaps = [
        (g, pos_g, int(j))
        for g in range(state.p.forms)
        if g != f and not state.X[g, i]
        for pos_g, j in enumerate(state.slots[g][c])
        if not state.X[f, j]
    ]
    if swaps:
        g, pos_g, j = swaps[int(rng.integers(len(swaps)))]
        state.replace(f, c, pos, j)
        state.replace(g, c, pos_g, i)


def _repair_one(state: _State, f: int, c: int, pos: int, before: int) -> bool:
    """Try to fix one offending item by a replacement, else by an exchange with another form."""
    cell = state.p.cells[c]
    i = int(state.slots[f][c][pos])
    mask = state.candidate_mask(f, c, state.slots[f][c][pos : pos + 1])[0]
    if mask.any():
        pool = cell.pool[mask]
        score = state.replacement_scores(f, c, state.slots[f][c][pos : pos + 1], pool)[0]
        for j in pool[np.argsort(score, kind="stable")][:8]:
            state.replace(f, c, pos, int(j))
            if state.violations() < before:
                return True
            state.replace(f, c, pos, i)
    for g in range(state.p.forms):
        if g == f or state.X[g, i]:
            continue
        for pos_g, j in enumerate(state.slots[g][c]):
            j = int(j)
            if state.X[f, j]:
                continue
            state.replace(f, c, pos, j)
            state.replace(g, c, pos_g, i)
            if state.violations() < before:
                return True
            state.replace(g, c, pos_g, j)
            state.replace(f, c, pos, i)
    return False


def _offenders(state: _State) -> list[tuple[int, int, int]]:
    """(form, cell, position) of items involved in a broken constraint, in form, cell and
    position order: a second copy of an item in its cell, an item used beyond the limit, an
    item shared with a form too close to this one, a member of an enemy set the form holds
    twice. One vector test per form (a loop over every item cost most of a repair)."""
    found: list[tuple[int, int, int]] = []
    shared_counts = state.overlap()
    E = state.enemy_counts() if state.has_enemies else None
    over_used = state.X.sum(0) > state.U
    for f in range(state.p.forms):
        slots = state.slots[f]
        lengths = [len(items) for items in slots]
        items = np.concatenate(slots) if slots else np.zeros(0, np.int64)
        if not len(items):
            continue
        cells = np.repeat(np.arange(len(slots)), lengths)
        bad = over_used[items]
        too_close = np.flatnonzero(shared_counts[f] > state.K)
        if len(too_close):
            bad |= state.X[too_close][:, items].sum(0) > 0
        bad_groups = np.flatnonzero(E[f] > 1) if E is not None else np.zeros(0, np.int64)
        if len(bad_groups):
            bad |= state.M[items][:, bad_groups].any(axis=1)
        keys = cells * state.X.shape[1] + items
        first = np.unique(keys, return_index=True)[1]
        if len(first) < len(keys):  # a later copy of an item in the same cell
            later = np.ones(len(keys), dtype=bool)
            later[first] = False
            bad |= later
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for k in np.flatnonzero(bad):
            c = int(cells[k])
            found.append((f, c, int(k - starts[c])))
    return found


PERTURB_MOVES = 4
"""Random rule-keeping replacements on the worst form before each new local search."""
PATIENCE = 50
"""Perturbations in a row that bring nothing before the search stops (so that runs repeat
exactly whenever they end before their time budget)."""


def _perturbed(state: _State, rng: np.random.Generator, deadline: float) -> int:
    """Iterated local search with the time left: move a few items of the worst form at random
    (each replacement keeping every rule), search again, and keep the result only when the
    objective went down — else go back. Returns the improving moves kept."""
    kept_moves, fruitless = 0, 0
    best = float(np.abs(state.devs()).max(initial=0.0))
    while best > POLISH_ABOVE and fruitless < PATIENCE and time.perf_counter() < deadline - 0.05:
        saved = _snapshot(state)
        devs = np.abs(state.devs())
        f = int(np.argmax(devs.max(axis=1)))
        cells = [c for c, cell in enumerate(state.p.cells) if cell.count]
        for c in rng.choice(cells, size=min(PERTURB_MOVES, len(cells)), replace=False):
            c = int(c)
            pos = int(rng.integers(len(state.slots[f][c])))
            mask = state.candidate_mask(f, c, state.slots[f][c][pos : pos + 1])[0]
            allowed = state.p.cells[c].pool[mask]
            if len(allowed):
                state.replace(f, c, pos, int(rng.choice(allowed)))
        moves = _improve(state, rng, deadline)
        now = float(np.abs(state.devs()).max(initial=0.0))
        if now < best - 1e-12 and state.violations() == 0:
            best, kept_moves, fruitless = now, kept_moves + moves, 0
        else:
            _restore(state, saved)
            fruitless += 1
    return kept_moves


def _improve(state: _State, rng: np.random.Generator, deadline: float) -> int:
    """Move the worst form-criterion toward its goal until it cannot move; returns iterations.

    Only a move on the worst form can lower the objective, so when it has no improving move
    the search has reached a local optimum and stops.
    """
    iterations = 0
    cells_of = [
        [c for c, cell in enumerate(state.p.cells) if cell.count and k in state.cell_crit[c]]
        for k in range(state.A.shape[1])
    ]
    while time.perf_counter() < deadline:
        devs = np.abs(state.devs())
        f, k = (int(v) for v in np.unravel_index(np.argmax(devs), devs.shape))
        if devs[f, k] < 1e-12 or not _best_move(state, f, float(devs[f, k]), cells_of[k]):
            break
        iterations += 1
    return iterations


def _best_move(state: _State, f: int, current: float, cells: list[int]) -> bool:
    """Apply the best replacement bringing form f below ``current``, else the best exchange."""
    current -= 1e-12
    best: tuple[float, int, int, int] | None = None
    # Scores first, rules after: the rules (overlap, enemies, uses) cost most to check, so they
    # are checked only for cells whose best unchecked score could still win, best first.
    leasts = _least_scores(state, f, cells)
    scored = sorted(
        (float(least), c) for least, c in zip(leasts, cells, strict=True) if least < current
    )
    for least, c in scored:
        if best is not None and least >= best[0]:
            break
        pool = state.p.cells[c].pool
        score = state.replacement_scores(f, c, state.slots[f][c])
        score = np.where(state.candidate_mask(f, c, state.slots[f][c]), score, np.inf)
        k, m = np.unravel_index(np.argmin(score), score.shape)
        if score[k, m] < current and (best is None or score[k, m] < best[0]):
            best = (float(score[k, m]), c, int(k), int(pool[m]))
    if best is not None:
        _, cell, pos, j = best
        state.replace(f, cell, pos, j)
        return True
    return _best_exchange(state, f, cells, current)


def _least_scores(state: _State, f: int, cells: list[int]) -> FloatArray:
    """Per cell, the best replacement score before any rule is checked (the least of
    :meth:`_State.replacement_scores`). With one criterion per cell — mean difficulty — all
    cells at once: the pool item nearest the value each outgoing item would need, by one
    binary search over every cell's sorted values."""
    kcs = {tuple(state.cell_crit[c].tolist()) for c in cells}
    if len(kcs) != 1 or len(next(iter(kcs))) != 1:
        return np.array([state.replacement_scores(f, c, state.slots[f][c]).min() for c in cells])
    k = next(iter(kcs))[0]
    keys, values, start, end, low, span = state.sorted_values(k)
    outs = [state.slots[f][c] for c in cells]
    lens = np.array([len(o) for o in outs])
    owner = np.repeat(np.asarray(cells), lens)
    base = state.S[f, k] - state.crit.goal[f, k]
    want = state.A[np.concatenate(outs), k] - base  # the value an incoming item would need
    at = np.searchsorted(keys, owner * span + (np.clip(want, low, low + span - 1) - low))
    near = np.minimum(
        np.abs(values[np.clip(at - 1, start[owner], end[owner] - 1)] - want),
        np.abs(values[np.clip(at, start[owner], end[owner] - 1)] - want),
    )
    out: FloatArray = np.minimum.reduceat(near, np.r_[0, np.cumsum(lens)[:-1]]) / float(
        state.crit.scale[f, k]
    )
    return out


def _best_exchange(state: _State, f: int, cells: list[int], current: float) -> bool:
    """Apply the best exchange of an item of form f with one of another form in the same cell."""
    forms = state.p.forms
    if forms < 2:
        return False
    goal, scale = state.crit.goal, state.crit.scale
    candidates: list[tuple[float, int, int, int, int]] = []
    for c in cells:
        kc = state.cell_crit[c]
        out = state.slots[f][c]
        theirs = np.stack([state.slots[g][c] for g in range(forms)])  # (F, k)
        # (F, k, k, criteria): what form f gains taking theirs[g, m] for out[k]
        delta = state.A[theirs][:, None, :, :][..., kc] - state.A[out][None, :, None, :][..., kc]
        base = state.S[:, kc] - goal[:, kc]
        mine = np.abs(base[f] + delta) / scale[f, kc]
        other = np.abs(base[:, None, None, :] - delta) / scale[:, None, None, kc]
        score = np.maximum(mine, other).max(axis=3)
        valid = (state.X[:, out][:, :, None] == 0) & (state.X[f, theirs][:, None, :] == 0)
        valid[f] = False
        score = np.where(valid, score, np.inf)
        for flat in np.argsort(score, axis=None)[:3]:
            g, k, m = np.unravel_index(flat, score.shape)
            if score[g, k, m] < current:
                candidates.append((float(score[g, k, m]), c, int(g), int(k), int(m)))
    for _, c, g, k, m in sorted(candidates):
        i, j = int(state.slots[f][c][k]), int(state.slots[g][c][m])
        if _exchange_ok(state, f, g, i, j):
            state.replace(f, c, k, j)
            state.replace(g, c, m, i)
            return True
    return False


def _exchange_ok(state: _State, f: int, g: int, i: int, j: int) -> bool:
    """Does swapping i (in f) and j (in g) keep overlap and enemy rules?"""
    X = state.X
    if state.p.max_overlap is not None:
        shared_counts = state.overlap()
        delta_f = X[:, j] - X[:, i]
        delta_g = X[:, i] - X[:, j]
        new_f = shared_counts[f] + delta_f
        new_g = shared_counts[g] + delta_g
        new_f[[f, g]] = 0
        new_g[[f, g]] = 0
        if (new_f > state.K).any() or (new_g > state.K).any():
            return False
    if state.has_enemies:
        E = state.enemy_counts()
        after_f = E[f] - state.M[i] + state.M[j]
        after_g = E[g] - state.M[j] + state.M[i]
        if ((after_f > 1) & (state.M[j] > 0)).any() or ((after_g > 1) & (state.M[i] > 0)).any():
            return False
    return True


def assemble(problem: AssemblyProblem) -> Assembly:
    """Forms meeting every count by construction, repaired and improved as described above.

    When a necessary condition of :mod:`question_bank.assembly.bounds` fails, no search is made:
    the result carries the proofs and the dealt forms, whose violations are counted."""
    start = time.perf_counter()
    deadline = start + problem.time_budget_s
    rng = np.random.default_rng(problem.seed)
    state = _State(problem)
    proofs = tuple(proofs_of_infeasibility(problem))
    _deal(state, rng)
    iterations = 0
    if not proofs:
        _repair(state, rng, deadline)
    if not proofs and state.violations() == 0:
        iterations = _improve(state, rng, deadline)
        if np.abs(state.devs()).max(initial=0.0) > POLISH_ABOVE and polish(state, deadline):
            iterations += _improve(state, rng, deadline)
        while np.abs(state.devs()).max(initial=0.0) > POLISH_ABOVE and polish_pairs(
            state, deadline
        ):
            polish(state, deadline)
            iterations += _improve(state, rng, deadline)
        iterations += _perturbed(state, rng, deadline)
    timed_out = time.perf_counter() >= deadline
    devs = state.devs()
    shared_counts = state.overlap()
    return Assembly(
        forms=[list(row) for row in state.slots],
        means=state.means(),
        objective=float(np.abs(devs).max()) if devs.size else 0.0,
        violations=state.violations(),
        overlap=shared_counts,
        max_uses_seen=int(state.X.sum(0).max()) if state.X.size else 0,
        iterations=iterations,
        seconds=time.perf_counter() - start,
        timed_out=timed_out,
        proofs=proofs,
    )
