"""The methods raced against the engine, each on the benchmark's own ``Instance`` and each given
a stated budget; every one returns forms (``forms[f][c]``) for the one checker, or None.

* :func:`cpsat` — OR-Tools CP-SAT on a sound model (below), optionally hinted with given forms.
* :func:`highs_sequential` — HiGHS (``scipy.optimize.milp``), one form at a time, overlap to the
  earlier forms and the uses left as linear constraints.
* :func:`highs_shadow` — the same with van der Linden's shadow test: each form is chosen together
  with a shadow test of the forms still to come, so the last forms are not left the dregs.
* :func:`mirt_parallel` — the ``mirt`` package's exact joint parallel-form assembly (HiGHS) on
  the tif instance, as a user of that package would call it.
* :func:`random_swap` — a plain local search: random replacement or exchange in a random cell,
  kept when (violations, objective) is no worse. No cleverness; the floor.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from bench.assembly_instances import Instance

IntArray = NDArray[np.int64]
Forms = list[list[IntArray]]
SCALE = 10_000  # CP-SAT's relative-deviation objective in units of 1e-4


def _used_items(inst: Instance) -> IntArray:
    return np.concatenate([p for p, k in zip(inst.pools, inst.counts, strict=True) if k > 0])


def _split(inst: Instance, chosen: list[set[int]]) -> Forms:
    return [
        [np.array(sorted(set(p.tolist()) & s), dtype=np.int64) if k else np.zeros(0, np.int64)
         for p, k in zip(inst.pools, inst.counts, strict=True)]
        for s in chosen
    ]  # fmt: skip


def _objective_rows(inst: Instance) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Integer item values (items, K), integer goals (forms, K) and the divisor per unit."""
    if inst.information is not None:
        assert inst.information_targets is not None
        values = np.round(inst.information * 1000).astype(np.int64)
        goals = np.broadcast_to(
            np.round(inst.information_targets * 1000).astype(np.int64),
            (inst.forms, values.shape[1]),
        )
        return values, goals, 1000
    values = inst.d100[:, None]
    goals = (np.round(inst.targets * 100).astype(np.int64) * inst.per_form)[:, None]
    return values, goals, 100


# --- CP-SAT -----------------------------------------------------------------------------------


def cpsat(
    inst: Instance,
    seconds: float,
    workers: int = 2,
    seed: int = 1,
    hint: Forms | None = None,
) -> dict[str, Any]:
    """CP-SAT on a sound model; returns forms, status, the proven bound and timings.

    Binary choices only for items of used cells. Per form and cell ``Σ x = count``; per item
    ``Σ_f x <= max_uses``; per enemy pair and form ``x_i + x_j <= 1``. Overlap: with
    ``max_uses = 1`` nothing (forms are disjoint); with ``max_uses = 2`` an item's placement is
    one *pattern* — alone on form f (a_if) or on exactly the pair {f, g} (p_ifg), at most one —
    so x_if = a_if + Σ_g p_ifg and the overlap of f and g is the plain sum Σ_i p_ifg <= K, no
    AND-booleans; with more uses, y_ifg >= x_if + x_ig − 1 and Σ_i y_ifg <= K. Symmetry: forms
    with the same target are ordered by Σ_i (i + 1) x_if. Objective: minimise z with, per form
    and criterion, ``±(Σ v_i x_if − G_f) <= z`` for mean difficulty (v = 100·d, G = 100·N·t), or
    ``±SCALE (Σ I_i x_if − T) <= z T`` for information (I, T in thousandths), so the objective
    in the checker's units is z / (100 N) or z / SCALE.
    """
    from ortools.sat.python import cp_model

    built = time.perf_counter()
    model = cp_model.CpModel()
    F, K, U = inst.forms, inst.max_overlap, inst.max_uses or inst.forms
    items = [int(i) for i in _used_items(inst)]
    pairs = list(itertools.combinations(range(F), 2))
    x: dict[int, list[Any]] = {}
    shared: dict[tuple[int, int], list[Any]] = {pair: [] for pair in pairs}
    patterns: dict[int, tuple[list[Any], dict[tuple[int, int], Any]]] = {}
    for i in items:
        if U == 2 and F > 1:
            alone = [model.new_bool_var("") for _ in range(F)]
            pattern = {pair: model.new_bool_var("") for pair in pairs}
            patterns[i] = (alone, pattern)
            model.add_at_most_one([*alone, *pattern.values()])
            x[i] = [alone[f] + sum(v for pair, v in pattern.items() if f in pair) for f in range(F)]
            for pair, v in pattern.items():
                shared[pair].append(v)
        else:
            x[i] = [model.new_bool_var("") for _ in range(F)]
            if U < F:
                model.add(sum(x[i]) <= U)
            if U >= 3 and inst.per_form > K:
                for pair in pairs:
                    y = model.new_bool_var("")
                    model.add_bool_or([x[i][pair[0]].Not(), x[i][pair[1]].Not(), y])
                    shared[pair].append(y)
    for c, pool in enumerate(inst.pools):
        if inst.counts[c]:
            for f in range(F):
                model.add(sum(x[int(i)][f] for i in pool) == int(inst.counts[c]))
    for i, j in inst.enemies:
        for f in range(F):
            model.add(x[int(i)][f] + x[int(j)][f] <= 1)
    for vs in shared.values():
        if vs:
            model.add(sum(vs) <= K)
    same = inst.targets if inst.information is None else np.zeros(F)
    for f in range(F - 1):
        if same[f] == same[f + 1]:
            model.add(
                sum((i + 1) * x[i][f] for i in items) <= sum((i + 1) * x[i][f + 1] for i in items)
            )
    values, goals, unit = _objective_rows(inst)
    info = inst.information is not None
    z = model.new_int_var(0, 10**9, "z")
    for f in range(F):
        for k in range(values.shape[1]):
            total = sum(int(values[i, k]) * x[i][f] for i in items if values[i, k])
            g = int(goals[f, k])
            if info:
                model.add(SCALE * (total - g) <= z * g)
                model.add(SCALE * (g - total) <= z * g)
            else:
                model.add(total - g <= z)
                model.add(g - total <= z)
    model.minimize(z)
    divisor = SCALE if info else unit * inst.per_form
    if hint is not None:
        chosen = [set(np.concatenate(row).tolist()) for row in hint]
        for i in items:
            on = {f for f in range(F) if i in chosen[f]}
            if i in patterns:
                alone, pattern = patterns[i]
                for f in range(F):
                    model.add_hint(alone[f], on == {f})
                for pair, v in pattern.items():
                    model.add_hint(v, on == set(pair))
            else:
                for f in range(F):
                    model.add_hint(x[i][f], f in on)
    build_s = time.perf_counter() - built
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed

    class Trace(cp_model.CpSolverSolutionCallback):
        def __init__(self) -> None:
            super().__init__()
            self.points: list[tuple[float, float]] = []

        def on_solution_callback(self) -> None:
            self.points.append((time.perf_counter() - started, self.objective_value / divisor))

    trace = Trace()
    started = time.perf_counter()
    status = solver.solve(model, trace)
    out: dict[str, Any] = {
        "s": time.perf_counter() - started,
        "build_s": build_s,
        "status": solver.status_name(status),
        "bound": solver.best_objective_bound / divisor
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        else None,
        "variables": len(model.proto.variables),
        "trace": [(round(t, 2), round(v, 6)) for t, v in trace.points],
        "forms": None,
        "budget": f"{seconds:g} s wall, {workers} workers",
    }
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        out["forms"] = _split(inst, [{i for i in items if solver.value(x[i][f])} for f in range(F)])
    return out


# --- HiGHS, one form at a time ----------------------------------------------------------------


def _form_milp(
    inst: Instance,
    f: int,
    earlier: list[set[int]],
    uses_left: NDArray[np.int64],
    seconds: float,
    shadow: int = 0,
) -> tuple[set[int] | None, str]:
    """One form (and, with ``shadow`` > 0, a shadow test of that many forms) by HiGHS.

    Columns: x_i (binary, this form), then s_i (integer, 0 … min(uses left, shadow); the shadow
    test) when asked, then t (the largest normalised deviation, minimised).
    """
    items = _used_items(inst)
    items = items[uses_left[items] > 0]
    n = len(items)
    pos = {int(i): k for k, i in enumerate(items)}
    width = n * (2 if shadow else 1) + 1
    t = width - 1
    rows: list[tuple[dict[int, float], float, float]] = []
    for c, pool in enumerate(inst.pools):
        if inst.counts[c]:
            cols = [pos[int(i)] for i in pool if int(i) in pos]
            rows.append(({k: 1.0 for k in cols}, inst.counts[c], inst.counts[c]))
            if shadow:
                count = shadow * inst.counts[c]
                rows.append(({n + k: 1.0 for k in cols}, count, count))
    if shadow:
        for i, k in pos.items():
            rows.append(({k: 1.0, n + k: 1.0}, 0, float(uses_left[i])))
    for i, j in inst.enemies:
        if int(i) in pos and int(j) in pos:
            rows.append(({pos[int(i)]: 1.0, pos[int(j)]: 1.0}, 0, 1))
    for form in earlier:
        cols = [pos[i] for i in form if i in pos]
        if len(cols) > inst.max_overlap:
            rows.append(({k: 1.0 for k in cols}, 0, inst.max_overlap))
    values, goals, unit = _objective_rows(inst)
    for k in range(values.shape[1]):
        g = float(goals[f, k])
        scale = g if inst.information is not None else unit * inst.per_form
        tests = [(0, 1)] + ([(n, shadow)] if shadow else [])
        for offset, forms in tests:
            row = {offset + p: float(values[i, k]) / scale for i, p in pos.items() if values[i, k]}
            goal = forms * g / scale
            rows.append(({**row, t: -float(forms)}, -np.inf, goal))  # Σ − goal <= forms·t
            rows.append(({**row, t: float(forms)}, goal, np.inf))  # goal − Σ <= forms·t
    data = [v for r, _, _ in rows for v in r.values()]
    ri = [m for m, (r, _, _) in enumerate(rows) for _ in r]
    ci = [k for r, _, _ in rows for k in r]
    matrix = coo_array((data, (ri, ci)), shape=(len(rows), width)).tocsr()
    upper = np.r_[np.ones(n), np.minimum(uses_left[items], shadow)] if shadow else np.ones(n)
    cost = np.zeros(width)
    cost[t] = 1.0
    found = milp(
        cost,
        constraints=LinearConstraint(matrix, [r[1] for r in rows], [r[2] for r in rows]),
        integrality=np.r_[np.ones(width - 1), 0],
        bounds=Bounds(np.zeros(width), np.r_[upper, np.inf]),
        options={"time_limit": max(seconds, 0.05), "mip_rel_gap": 1e-6},
    )
    if found.x is None:
        return None, "proved infeasible" if found.status == 2 else "time limit, no solution"
    return {int(i) for i in items[found.x[:n] > 0.5]}, ""


def highs_sequential(inst: Instance, seconds: float, shadow: bool = False) -> dict[str, Any]:
    """Forms one after another by HiGHS, ``seconds / forms`` each; stops at a form it cannot make."""
    start = time.perf_counter()
    uses_left = np.full(len(inst.difficulty), inst.max_uses or inst.forms, dtype=np.int64)
    chosen: list[set[int]] = []
    failed, why = None, ""
    for f in range(inst.forms):
        rest = inst.forms - f - 1
        form, why = _form_milp(
            inst, f, chosen, uses_left, seconds / inst.forms, rest if shadow else 0
        )
        if form is None:
            failed = f
            break
        chosen.append(form)
        uses_left[list(form)] -= 1
    return {
        "s": time.perf_counter() - start,
        "forms": None if failed is not None else _split(inst, chosen),
        "status": f"form {failed + 1}: {why}" if failed is not None else "forms found",
        "bound": None,
        "budget": f"{seconds:g} s wall in all ({seconds / inst.forms:.2g} s per form)",
    }


# --- mirt ------------------------------------------------------------------------------------


class _PoolModel:
    """The instance's item information, in the shape ``mirt``'s assembly asks of a model."""

    n_factors = 1

    def __init__(self, inst: Instance) -> None:
        assert inst.information is not None and inst.theta is not None
        self.info = inst.information
        self.theta = inst.theta
        self.n_items = len(inst.information)

    def information(self, theta: NDArray[np.float64], item_idx: int | None = None) -> Any:
        cols = [int(np.argmin(np.abs(self.theta - t))) for t in np.ravel(theta)]
        out = self.info[:, cols].T
        return out if item_idx is None else out[:, item_idx]


def mirt_parallel(inst: Instance, seconds: float) -> dict[str, Any]:
    """``mirt.cat.parallel_assembly.assemble_parallel_forms`` with the instance's rules: each
    cell a content area of exactly its count, target information per θ, enemies, uses, overlap;
    HiGHS time limit ``seconds``. Its objective is the mean absolute deviation from the target
    (not the largest relative one); the checker scores its forms by ours."""
    from mirt.cat.content import ContentArea, ContentBlueprint
    from mirt.cat.parallel_assembly import assemble_parallel_forms

    assert inst.theta is not None
    used = [c for c, k in enumerate(inst.counts) if k]
    blueprint = ContentBlueprint(
        [
            ContentArea(
                f"c{c}",
                items={int(i) for i in inst.pools[c]},
                min_items=int(inst.counts[c]),
                max_items=int(inst.counts[c]),
            )
            for c in used
        ]
    )
    start = time.perf_counter()
    try:
        result = assemble_parallel_forms(
            _PoolModel(inst),  # type: ignore[arg-type]
            inst.forms,
            inst.per_form,
            inst.theta,
            target_information=inst.information_targets,
            blueprint=blueprint,
            candidate_items=[int(i) for i in _used_items(inst)],
            enemy_pairs=[(int(i), int(j)) for i, j in inst.enemies],
            max_item_usage=inst.max_uses or inst.forms,
            max_pairwise_overlap=inst.max_overlap,
            solver_options={"time_limit": seconds},
        )
    except RuntimeError as error:
        return {"s": time.perf_counter() - start, "forms": None, "status": str(error)[:80],
                "bound": None, "budget": f"{seconds:g} s HiGHS time limit"}  # fmt: skip
    chosen = [{int(i) for i in form.selected_items} for form in result.forms]
    return {
        "s": time.perf_counter() - start,
        "forms": _split(inst, chosen),
        "status": "optimal (its objective)" if result.is_optimal else f"gap {result.mip_gap}",
        "bound": None,
        "budget": f"{seconds:g} s HiGHS time limit",
    }


# --- plain random-swap local search ----------------------------------------------------------


def random_swap(inst: Instance, seconds: float, seed: int = 1) -> dict[str, Any]:
    """Random start (each cell filled with random distinct items per form), then random moves —
    replace a random slot by a random item of its cell, or exchange it with a random slot of the
    same cell on another form — kept when (violations, objective) does not get worse."""
    rng = np.random.default_rng([seed, 99])
    start = time.perf_counter()
    F, n = inst.forms, len(inst.difficulty)
    U = inst.max_uses or F
    used = [c for c, k in enumerate(inst.counts) if k]
    slots = [[rng.choice(inst.pools[c], int(inst.counts[c]), replace=False) for c in used]
             for _ in range(F)]  # fmt: skip
    partners: dict[int, list[int]] = {}
    for i, j in inst.enemies:
        partners.setdefault(int(i), []).append(int(j))
        partners.setdefault(int(j), []).append(int(i))
    values, goals, unit = _objective_rows(inst)
    vals = values.astype(np.float64)
    if inst.information is not None:
        scale = goals.astype(np.float64)
    else:
        scale = np.full(goals.shape, float(unit * inst.per_form))
    X = np.zeros((F, n), dtype=np.int64)
    shared = np.zeros((F, F), dtype=np.int64)
    uses = np.zeros(n, dtype=np.int64)
    S = np.zeros(goals.shape)
    broken = {"uses": 0, "enemy": 0}

    def toggle(f: int, i: int, sign: int) -> None:
        if sign < 0:
            X[f, i] = 0
        col = X[:, i].copy()
        col[f] = 0
        shared[f] += sign * col
        shared[:, f] += sign * col
        before = max(int(uses[i]) - U, 0)
        uses[i] += sign
        broken["uses"] += max(int(uses[i]) - U, 0) - before
        broken["enemy"] += sign * sum(int(X[f, j]) for j in partners.get(i, ()))
        S[f] += sign * vals[i]
        if sign > 0:
            X[f, i] = 1

    def move(f: int, i: int, j: int) -> None:
        toggle(f, i, -1)
        toggle(f, j, 1)

    def score() -> tuple[int, float]:
        over = int(np.triu(np.maximum(shared - inst.max_overlap, 0), 1).sum())
        return over + broken["uses"] + broken["enemy"], float((np.abs(S - goals) / scale).max())

    for f in range(F):
        for items in slots[f]:
            for i in items:
                toggle(f, int(i), 1)
    current = score()
    moves = 0
    while time.perf_counter() - start < seconds:
        f = int(rng.integers(F))
        c = int(rng.integers(len(used)))
        pos = int(rng.integers(len(slots[f][c])))
        i = int(slots[f][c][pos])
        if F > 1 and rng.random() < 0.5:
            g = int(rng.integers(F - 1))
            g += g >= f
            pos_g = int(rng.integers(len(slots[g][c])))
            j = int(slots[g][c][pos_g])
            if X[f, j] or X[g, i]:
                continue
            move(f, i, j), move(g, j, i)
            slots[f][c][pos], slots[g][c][pos_g] = j, i
            after = score()
            if after > current:
                move(f, j, i), move(g, i, j)
                slots[f][c][pos], slots[g][c][pos_g] = i, j
                continue
        else:
            j = int(rng.choice(inst.pools[used[c]]))
            if X[f, j]:
                continue
            move(f, i, j)
            slots[f][c][pos] = j
            after = score()
            if after > current:
                move(f, j, i)
                slots[f][c][pos] = i
                continue
        current = after
        moves += 1
    forms: Forms = []
    for f in range(F):
        row = [np.zeros(0, np.int64) for _ in inst.pools]
        for k, c in enumerate(used):
            row[c] = np.sort(slots[f][k]).astype(np.int64)
        forms.append(row)
    return {
        "s": time.perf_counter() - start,
        "forms": forms,
        "status": f"{moves} moves kept",
        "bound": None,
        "budget": f"{seconds:g} s wall",
    }
