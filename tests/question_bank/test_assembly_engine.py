"""The engine on its own: any feasible problem gives forms that meet every hard constraint."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from question_bank.assembly.engine import Assembly, AssemblyProblem, Cell, assemble


def broken_constraints(problem: AssemblyProblem, result: Assembly) -> list[str]:
    """An independent check of a result (not the engine's own counters)."""
    found = []
    members = []
    for f in range(problem.forms):
        items = []
        for c, cell in enumerate(problem.cells):
            chosen = [int(i) for i in result.forms[f][c]]
            if len(chosen) != cell.count:
                found.append(f"form {f} cell {c}: {len(chosen)} items, wants {cell.count}")
            if not set(chosen) <= {int(i) for i in cell.pool}:
                found.append(f"form {f} cell {c}: item outside the cell")
            items += chosen
        if len(items) != len(set(items)):
            found.append(f"form {f}: an item twice")
        for group in problem.enemies:
            if len(set(items) & {int(i) for i in group}) > 1:
                found.append(f"form {f}: enemies together")
        members.append(set(items))
    for f in range(problem.forms):
        for g in range(f + 1, problem.forms):
            if (
                problem.max_overlap is not None
                and len(members[f] & members[g]) > problem.max_overlap
            ):
                found.append(f"forms {f},{g} share {len(members[f] & members[g])}")
    if problem.max_uses is not None:
        uses = np.bincount(
            np.concatenate([list(m) for m in members]).astype(int),
            minlength=len(problem.difficulty),
        )
        if uses.max() > problem.max_uses:
            found.append("an item used too often")
    return found


@st.composite
def problems(draw: st.DrawFn) -> AssemblyProblem:
    forms = draw(st.integers(1, 5))
    max_uses = draw(st.one_of(st.none(), st.integers(1, forms)))
    uses = max_uses or forms
    cells, start = [], 0
    for _ in range(draw(st.integers(1, 6))):
        count = draw(st.integers(0, 4))
        least = max(count, -(-forms * count // uses), 1)
        size = draw(st.integers(least, least + 6))
        cells.append(Cell(0, count, np.arange(start, start + size)))
        start += size
    difficulty = np.array(draw(st.lists(st.integers(0, 100), min_size=start, max_size=start))) / 100
    enemies = []
    for cell in cells:  # enemy pairs only where the cell keeps room for its count
        spare = len(cell.pool) - cell.count
        pairs = draw(st.integers(0, max(0, min(spare, len(cell.pool) // 2))))
        for k in range(pairs):
            enemies.append(np.array([cell.pool[2 * k], cell.pool[2 * k + 1]]))
    return AssemblyProblem(
        difficulty=difficulty,
        cells=cells,
        targets=np.array([draw(st.integers(20, 80)) / 100]),
        forms=forms,
        max_overlap=None,
        max_uses=max_uses,
        enemies=enemies,
        seed=draw(st.integers(0, 2**32)),
        time_budget_s=5,
    )


@settings(max_examples=150, deadline=None)
@given(problem=problems())
def test_forms_meet_every_hard_constraint(problem: AssemblyProblem) -> None:
    result = assemble(problem)
    if result.violations == 0:
        assert broken_constraints(problem, result) == []
    else:  # enemy pairs and a use limit can genuinely clash; the engine must then say so
        assert broken_constraints(problem, result) != []


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
    assert broken_constraints(problem, result) == [] and result.violations == 0
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
    assert broken_constraints(problem, result) == []
    assert result.max_uses_seen <= 3 and result.overlap.max() <= 12
