"""The engine on its own: every set of forms it returns meets every rule, checked from the chosen
items alone, and it reports failure only when no forms exist, proved by an exact model."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from question_bank.assembly.engine import Assembly, AssemblyProblem, Cell, assemble

Forms = list[list[NDArray[np.int64]]]
"""Per form, per cell, the chosen pool indices (as ``Assembly.forms``)."""


def broken_constraints(problem: AssemblyProblem, forms: Forms) -> list[str]:
    """Every rule a set of forms breaks, recounted from the chosen items (not the engine's
    counters): counts per cell, items from their cell, no item twice on a form, enemies, the
    overlap of each pair of forms, uses per item."""
    found = []
    members = []
    for f in range(problem.forms):
        items = []
        for c, cell in enumerate(problem.cells):
            chosen = [int(i) for i in forms[f][c]]
            if len(chosen) != cell.count:
                found.append(f"form {f} cell {c}: {len(chosen)} items, wants {cell.count}")
            if not set(chosen) <= {int(i) for i in cell.pool}:
                found.append(f"form {f} cell {c}: item outside the cell")
            items += chosen
        if len(items) != len(set(items)):
            found.append(f"form {f}: an item twice")
        for group in problem.enemies:
            if len(set(items) & {int(i) for i in group}) > 1:
                found.append(f"form {f}: enemies {sorted(set(items) & set(group.tolist()))}")
        members.append(set(items))
    if problem.max_overlap is not None:
        for f, g in itertools.combinations(range(problem.forms), 2):
            if len(members[f] & members[g]) > problem.max_overlap:
                found.append(f"forms {f},{g} share {len(members[f] & members[g])}")
    if problem.max_uses is not None:
        for i in range(len(problem.difficulty)):
            uses = sum(i in m for m in members)
            if uses > problem.max_uses:
                found.append(f"item {i} on {uses} forms")
    return found


def assert_reported_figures(problem: AssemblyProblem, result: Assembly) -> None:
    """What the engine reports about its forms (stored with the papers) is what they hold."""
    members = [set(result.form_items(f).tolist()) for f in range(problem.forms)]
    for f, g in itertools.combinations(range(problem.forms), 2):
        assert result.overlap[f, g] == result.overlap[g, f] == len(members[f] & members[g])
    uses = [sum(i in m for m in members) for i in range(len(problem.difficulty))]
    assert result.max_uses_seen == max(uses, default=0)
    for f in range(problem.forms):
        for p, target in enumerate(problem.targets):
            chosen = [
                int(i)
                for c, cell in enumerate(problem.cells)
                if cell.part == p
                for i in result.forms[f][c]
            ]
            mean = problem.difficulty[chosen].mean() if chosen else target
            assert abs(result.means[f, p] - mean) < 1e-9
    assert abs(result.objective - np.abs(result.means - problem.targets).max()) < 1e-9


def exact_forms(problem: AssemblyProblem) -> Forms | None:
    """Forms meeting every rule, found by an integer programme (HiGHS), or None when none exist.

    Binary x[f, c, i]: item i fills a place of cell c on form f. Per form and cell
    ``sum_i x = count``; per form and item ``sum_c x <= 1``; per item ``sum x <= max_uses``; per
    form and enemy set ``sum x <= 1``; per pair of forms (f, g) a continuous
    z_i >= y_fi + y_gi - 1 (y = the item on the form, any cell) and ``sum_i z <= max_overlap``.
    No objective: only whether forms exist matters.
    """
    n = len(problem.difficulty)
    slots = [
        (f, c, int(i))
        for f in range(problem.forms)
        for c, cell in enumerate(problem.cells)
        for i in cell.pool
    ]
    pairs = list(itertools.combinations(range(problem.forms), 2))
    overlap = problem.max_overlap is not None and bool(pairs)
    width = len(slots) + (len(pairs) * n if overlap else 0)
    rows: list[tuple[dict[int, float], float, float]] = []

    def on_form(f: int, items: set[int]) -> dict[int, float]:
        return {k: 1.0 for k, (g, _, i) in enumerate(slots) if g == f and i in items}

    for f in range(problem.forms):
        for c, cell in enumerate(problem.cells):
            places = {k: 1.0 for k, s in enumerate(slots) if s[:2] == (f, c)}
            rows.append((places, cell.count, cell.count))
        for i in range(n):
            rows.append((on_form(f, {i}), 0, 1))
        for group in problem.enemies:
            rows.append((on_form(f, set(group.tolist())), 0, 1))
    if problem.max_uses is not None:
        for i in range(n):
            rows.append(({k: 1.0 for k, s in enumerate(slots) if s[2] == i}, 0, problem.max_uses))
    if overlap:
        for p, (f, g) in enumerate(pairs):
            for i in range(n):
                z = {len(slots) + p * n + i: 1.0}
                y = {k: -1.0 for k, s in enumerate(slots) if s[2] == i and s[0] in (f, g)}
                rows.append(({**z, **y}, -1, np.inf))
            share = {len(slots) + p * n + i: 1.0 for i in range(n)}
            rows.append((share, 0, problem.max_overlap))
    rows = [r for r in rows if r[0] or r[1] > 0]  # an empty row binds only if it asks for more
    matrix = coo_array(
        (
            [v for row, _, _ in rows for v in row.values()],
            (
                [r for r, (row, _, _) in enumerate(rows) for _ in row],
                [k for row, _, _ in rows for k in row],
            ),
        ),
        shape=(len(rows), width),
    )
    found = milp(
        np.zeros(width),
        constraints=LinearConstraint(matrix, [r[1] for r in rows], [r[2] for r in rows]),
        integrality=np.r_[np.ones(len(slots)), np.zeros(width - len(slots))],
        bounds=Bounds(0, 1),
    )
    assert found.status in (0, 2), found.message  # 0: a solution, 2: proved infeasible
    if found.status == 2:
        return None
    chosen = [slots[k] for k in np.flatnonzero(found.x[: len(slots)] > 0.5)]
    return [
        [
            np.array([i for g, d, i in chosen if (g, d) == (f, c)], np.int64)
            for c in range(len(problem.cells))
        ]
        for f in range(problem.forms)
    ]


@st.composite
def problems(draw: st.DrawFn) -> AssemblyProblem:
    """Tiny problems (at most 4 forms, 4 cells of at most 7 items), every rule drawn: some
    have forms, some provably none."""
    forms = draw(st.integers(1, 4))
    parts = draw(st.integers(1, 2))
    cells, start = [], 0
    for _ in range(draw(st.integers(1, 4))):
        count = draw(st.integers(0, 3))
        size = draw(st.integers(max(count - 1, 1), count + 4))
        cells.append(Cell(draw(st.integers(0, parts - 1)), count, np.arange(start, start + size)))
        start += size
    difficulty = np.array(draw(st.lists(st.integers(0, 100), min_size=start, max_size=start))) / 100
    group = st.lists(st.integers(0, start - 1), min_size=2, max_size=3, unique=True)
    enemies = draw(st.lists(group, max_size=3)) if start > 1 else []
    per_form = sum(cell.count for cell in cells)
    return AssemblyProblem(
        difficulty=difficulty,
        cells=cells,
        targets=np.array(draw(st.lists(st.integers(20, 80), min_size=parts, max_size=parts))) / 100,
        forms=forms,
        max_overlap=draw(st.one_of(st.none(), st.integers(0, per_form))),
        max_uses=draw(st.one_of(st.none(), st.integers(1, forms))),
        enemies=[np.array(g, dtype=np.int64) for g in enemies],
        seed=draw(st.integers(0, 2**32)),
        time_budget_s=5,
    )


def tiny(
    forms: int,
    cells: list[tuple[int, int]],
    *,
    max_overlap: int | None = None,
    max_uses: int | None = None,
    enemies: tuple[tuple[int, ...], ...] = (),
    seed: int = 1,
) -> AssemblyProblem:
    """A problem of one part: cells as (count, pool size), pools numbered in order."""
    bounds = np.cumsum([0] + [size for _, size in cells])
    return AssemblyProblem(
        difficulty=np.linspace(0.1, 0.9, int(bounds[-1])),
        cells=[
            Cell(0, count, np.arange(a, b))
            for (count, _), a, b in zip(cells, bounds, bounds[1:], strict=False)
        ],
        targets=np.array([0.5]),
        forms=forms,
        max_overlap=max_overlap,
        max_uses=max_uses,
        enemies=[np.array(g, dtype=np.int64) for g in enemies],
        seed=seed,
        time_budget_s=5,
    )


@settings(max_examples=200, deadline=None)
@given(problem=problems())
# no forms: three forms of two from three items, no two sharing one
@example(problem=tiny(3, [(2, 3)], max_overlap=0))
# no forms: 0 and 1 are needed, so 4 is not allowed, so 2 and 3 are needed, which are enemies
@example(problem=tiny(1, [(2, 2), (2, 3)], enemies=((0, 4), (2, 3))))
# forms exist, reached only through a worse point (a repair of single moves stopped short)
@example(problem=tiny(1, [(0, 3), (3, 4), (2, 3)], enemies=((3, 9), (7, 8))))
@example(
    problem=tiny(
        4,
        [(0, 2), (2, 5), (2, 4), (2, 4)],
        max_overlap=4,
        max_uses=2,
        enemies=((4, 13, 14),),
        seed=19,
    )
)
def test_the_engine_fails_only_where_no_forms_exist(problem: AssemblyProblem) -> None:
    """Forms found meet every rule; "no forms" is believed only when the exact model agrees."""
    result = assemble(problem)
    assert not result.timed_out
    witness = exact_forms(problem)
    event("forms exist" if witness is not None else "no forms exist")
    if witness is not None:  # the exact model's forms are checked like the engine's
        assert broken_constraints(problem, witness) == []
    if result.violations == 0:
        assert broken_constraints(problem, result.forms) == []
        assert_reported_figures(problem, result)
        assert witness is not None, "the exact model finds no forms where the engine found some"
    else:
        assert broken_constraints(problem, result.forms) != []
        assert witness is None, f"the engine gave up, yet these forms meet every rule: {witness}"


@settings(max_examples=60, deadline=None)
@given(problem=problems())
def test_the_same_seed_gives_the_same_forms(problem: AssemblyProblem) -> None:
    first, second = assemble(problem), assemble(problem)
    assert all(
        np.array_equal(a, b)
        for fa, fb in zip(first.forms, second.forms, strict=True)
        for a, b in zip(fa, fb, strict=True)
    )


def test_large_pool_forms_reach_the_target_and_respect_overlap() -> None:
    rng = np.random.default_rng(7)
    n = 4000
    difficulty = np.round(rng.beta(2, 2, n), 2)
    key = rng.integers(0, 40, n)
    cells = [Cell(0, 2 if c < 20 else 3, np.flatnonzero(key == c)) for c in range(40)]
    enemies = [rng.choice(n, 2, replace=False) for _ in range(100)]
    problem = AssemblyProblem(
        difficulty, cells, np.array([0.45]), forms=8, max_overlap=3, enemies=enemies, seed=3
    )
    result = assemble(problem)
    assert broken_constraints(problem, result.forms) == [] and result.violations == 0
    assert result.objective < 0.001
    assert result.overlap.max() <= 3


def test_a_tight_pool_shares_items_within_limits() -> None:
    rng = np.random.default_rng(11)
    sizes = rng.integers(7, 11, 60)
    pool = np.split(np.arange(sizes.sum()), np.cumsum(sizes)[:-1])
    difficulty = np.round(rng.beta(2, 2, sizes.sum()), 2)
    cells = [Cell(0, 1, p) for p in pool]
    problem = AssemblyProblem(
        difficulty, cells, np.array([0.5]), forms=20, max_overlap=12, max_uses=3, seed=5
    )
    result = assemble(problem)
    assert broken_constraints(problem, result.forms) == []
    assert result.max_uses_seen <= 3 and result.overlap.max() <= 12
