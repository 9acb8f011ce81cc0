"""The engine's new parts — per-form targets, information targets, proofs of infeasibility, the
HiGHS polish — and the benchmark's one checker, against independent counts and an exact model."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bench.assembly import to_problem
from bench.assembly_check import check
from bench.assembly_instances import (
    Instance,
    forced_overlap,
    infeasible_near,
    item_information,
    tif,
    tight,
)
from question_bank.assembly.bounds import least_shared, proofs_of_infeasibility
from question_bank.assembly.engine import AssemblyProblem, Cell, assemble
from tests.question_bank.test_assembly_engine import broken_constraints, exact_forms, problems


def as_instance(problem: AssemblyProblem) -> Instance:
    """A one-part engine problem in the benchmark's terms (for the checker)."""
    pairs = [(int(g[a]), int(g[b])) for g in problem.enemies for a in range(len(g))
             for b in range(a + 1, len(g))]  # fmt: skip
    return Instance(
        "tiny",
        np.round(problem.difficulty, 2),
        [c.pool for c in problem.cells],
        np.array([c.count for c in problem.cells], dtype=np.int64),
        problem.forms,
        problem.max_overlap if problem.max_overlap is not None else 10**6,
        problem.max_uses,
        np.array(pairs, dtype=np.int64).reshape(-1, 2),
        np.full(problem.forms, float(problem.targets[0])),
    )


@settings(max_examples=120, deadline=None)
@given(problem=problems(), data=st.data())
def test_the_checker_agrees_with_an_independent_count(
    problem: AssemblyProblem, data: st.DataObject
) -> None:
    """On the engine's forms and on the same forms with random items swapped in, the checker
    finds a broken rule exactly when the engine tests' own recount does."""
    problem = dataclasses.replace(
        problem,
        targets=problem.targets[:1],
        cells=[Cell(0, c.count, c.pool, c.label) for c in problem.cells],
    )
    forms = [list(row) for row in assemble(problem).forms]
    n = len(problem.difficulty)
    for _ in range(data.draw(st.integers(0, 3))):
        f = data.draw(st.integers(0, problem.forms - 1))
        c = data.draw(st.integers(0, len(problem.cells) - 1))
        if len(forms[f][c]):
            items = forms[f][c].copy()
            items[data.draw(st.integers(0, len(items) - 1))] = data.draw(st.integers(0, n - 1))
            forms[f][c] = items
    counted = check(as_instance(problem), forms)
    independent = broken_constraints(problem, forms)
    event("broken" if independent else "valid")
    assert (counted["violations"] == 0) == (independent == [])


@settings(max_examples=150, deadline=None)
@given(problem=problems())
def test_a_proof_of_infeasibility_is_confirmed_by_the_exact_model(
    problem: AssemblyProblem,
) -> None:
    """Overlap and use limits drawn at random: whenever a necessary condition fails, HiGHS proves
    that no forms exist; and the engine never returns forms it calls valid that break a rule."""
    proofs = proofs_of_infeasibility(problem)
    result = assemble(problem)
    event("proof" if proofs else "no proof")
    if proofs:
        assert exact_forms(problem) is None, [p.message_en for p in proofs]
        assert result.violations > 0 and result.proofs
    if result.violations == 0:
        assert broken_constraints(problem, result.forms) == []


@given(slots=st.integers(0, 60), items=st.integers(1, 20))
def test_least_shared_is_the_even_spread(slots: int, items: int) -> None:
    """Brute force over how many forms each item is on: the fewest shared pairs."""
    uses = [0] * items
    for _ in range(slots):  # greedy onto the least used item is optimal for a convex cost
        uses[uses.index(min(uses))] += 1
    best = sum(u * (u - 1) // 2 for u in uses)
    assert least_shared(slots, items) == best


def test_per_form_targets_are_reached_form_by_form() -> None:
    rng = np.random.default_rng(3)
    d = np.round(rng.beta(2, 2, 600), 2)
    key = rng.integers(0, 6, 600)
    cells = [Cell(0, 5, np.flatnonzero(key == c)) for c in range(6)]
    targets = np.array([[0.4], [0.4], [0.6]])
    problem = AssemblyProblem(d, cells, targets, forms=3, max_overlap=2, max_uses=1, seed=2)
    result = assemble(problem)
    assert result.violations == 0 and broken_constraints(problem, result.forms) == []
    means = [d[result.form_items(f)].mean() for f in range(3)]
    assert np.allclose(result.means[:, 0], means)
    worst = max(abs(m - t) for m, t in zip(means, targets[:, 0], strict=True))
    assert worst < 0.002 and abs(result.objective - worst) < 1e-9


def test_information_targets_are_met_within_a_percent_on_the_quick_tif() -> None:
    inst = tif(1, quick=True)
    result = assemble(to_problem(inst, 5.0, 1))
    checked = check(inst, result.forms)
    assert checked["violations"] == 0 and result.violations == 0
    assert abs(checked["objective"] - result.objective) < 1e-9  # the engine reports what it holds
    assert checked["objective"] < 0.01


def test_item_information_matches_its_formula_and_peaks_near_b() -> None:
    a, b, c = np.array([1.2]), np.array([0.3]), np.array([0.2])
    theta = np.linspace(-3, 3, 601)
    info = item_information(a, b, c, theta)[0]
    p = c + (1 - c) / (1 + np.exp(-1.702 * a * (theta - b)))
    assert np.allclose(info, (1.702 * a) ** 2 * (1 - p) / p * ((p - c) / (1 - c)) ** 2)
    # 3PL information peaks a little above b (Lord 1980): b + ln((1 + sqrt(1 + 8c)) / 2) / (D a)
    peak = b[0] + np.log((1 + np.sqrt(1 + 8 * c[0])) / 2) / (1.702 * a[0])
    assert abs(theta[np.argmax(info)] - peak) < 0.01


def test_the_near_infeasible_instance_is_refused_with_the_rule_and_the_margin() -> None:
    inst = infeasible_near(1, quick=True)
    assert inst.max_overlap == forced_overlap(tight(1, quick=True)) - 1
    result = assemble(to_problem(inst, 2.0, 1))
    assert [p.constraint for p in result.proofs] == ["max_overlap"]
    assert result.proofs[0].needed - result.proofs[0].allowed == 1
    assert check(inst, result.forms)["violations"] > 0


def test_enemy_sets_sharing_an_item_are_not_counted_twice() -> None:
    """Items 0, 1, 2 of one cell, sets {0, 1} and {0, 2}: the form {1, 2} keeps both rules."""
    cell = Cell(0, 2, np.arange(3))
    enemies = [np.array([0, 1]), np.array([0, 2])]
    problem = AssemblyProblem(
        np.array([0.4, 0.5, 0.6]), [cell], np.array([0.55]), forms=1, enemies=enemies
    )
    assert proofs_of_infeasibility(problem) == []
    assert exact_forms(problem) is not None
    result = assemble(problem)
    assert result.violations == 0 and sorted(result.form_items(0).tolist()) == [1, 2]


@settings(max_examples=80, deadline=None)
@given(problem=problems())
def test_the_batched_best_scores_equal_the_cell_by_cell_ones(problem: AssemblyProblem) -> None:
    """The one binary search over every cell finds, per cell, the best unchecked replacement
    score that scoring the cell's whole pool finds."""
    from question_bank.assembly.engine import _deal, _least_scores, _State

    state = _State(problem)
    _deal(state, np.random.default_rng(problem.seed))
    for f in range(problem.forms):
        for part in range(state.parts):
            cells = [c for c, cell in enumerate(problem.cells) if cell.count and cell.part == part]
            if not cells:
                continue
            direct = [state.replacement_scores(f, c, state.slots[f][c]).min() for c in cells]
            assert np.allclose(_least_scores(state, f, cells), direct, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(problem=problems(), data=st.data())
def test_per_form_and_information_goals_keep_every_rule_and_report_the_truth(
    problem: AssemblyProblem, data: st.DataObject
) -> None:
    """Targets drawn per form, or item information with a target curve: forms the engine calls
    valid meet every rule, and its objective is what the chosen items give."""
    forms, parts = problem.forms, len(problem.targets)
    if data.draw(st.booleans(), label="information"):
        n = len(problem.difficulty)
        info = np.array(data.draw(st.lists(st.integers(1, 900), min_size=4 * n, max_size=4 * n)))
        goal = np.array(data.draw(st.lists(st.integers(100, 3000), min_size=4, max_size=4)))
        problem = dataclasses.replace(
            problem, information=info.reshape(n, 4) / 1000, information_targets=goal / 1000
        )
    else:
        targets = data.draw(st.lists(st.integers(20, 80), min_size=forms * parts,
                                     max_size=forms * parts))  # fmt: skip
        problem = dataclasses.replace(problem, targets=np.reshape(targets, (forms, parts)) / 100)
    result = assemble(problem)
    if result.violations:
        return
    assert broken_constraints(problem, result.forms) == []
    worst = 0.0
    for f in range(forms):
        if problem.information is not None:
            assert problem.information_targets is not None
            curve = problem.information[result.form_items(f)].sum(axis=0)
            goal = problem.information_targets
            worst = max(worst, float((np.abs(curve - goal) / goal).max()))
            continue
        for p in range(parts):
            chosen = [int(i) for c, cell in enumerate(problem.cells) if cell.part == p
                      for i in result.forms[f][c]]  # fmt: skip
            if chosen:
                target = problem.form_targets()[f, p]
                worst = max(worst, abs(float(problem.difficulty[chosen].mean()) - target))
    assert abs(result.objective - worst) < 1e-9


def test_re_choosing_two_forms_together_frees_what_neither_can_alone() -> None:
    """Two forms of one question each, two items, each usable once: the easy form holds the
    hard item and the hard form the easy one. Neither form can be bettered alone (the other
    item is taken); re-chosen together they swap, every rule kept."""
    import time

    from question_bank.assembly import engine
    from question_bank.assembly.polish import polish, polish_pairs

    problem = AssemblyProblem(
        difficulty=np.array([0.9, 0.1]),
        cells=[Cell(0, 1, np.array([0, 1]))],
        targets=np.array([[0.1], [0.9]]),  # form 0 easy, form 1 hard
        forms=2,
        max_uses=1,
    )
    state = engine._State(problem)
    state.place(0, 0, np.array([0]))  # the hard item on the easy form
    state.place(1, 0, np.array([1]))
    deadline = time.perf_counter() + 10
    assert polish(state, deadline) == 0 and float(np.abs(state.devs()).max()) > 0.79
    assert polish_pairs(state, deadline) == 1
    assert [int(row[0][0]) for row in state.slots] == [1, 0]
    assert float(np.abs(state.devs()).max()) < 1e-9 and state.violations() == 0
