"""The one checker every method's forms go through: it recounts every rule and the objective
from the chosen items alone, with its own code (nothing from the engine or the solvers).

Rules: each form takes exactly ``counts[c]`` items from cell ``c`` and only items of that cell;
no item twice on a form; each item on at most ``max_uses`` forms; no enemy pair on one form; any
two forms share at most ``max_overlap`` items. Each broken rule counts once per excess unit (one
item too many or too few, one use too many, one enemy pair together, one shared item too many).

Objective: without item information, the largest |mean difficulty − the form's target| over the
forms, computed in integer hundredths until the last division; with it, the largest
|Σ information(θ_k) − T_k| / T_k over the forms and the θ points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.assembly_instances import Instance

Forms = Sequence[Sequence[NDArray[np.int64]]]  # forms[f][c] = items chosen for cell c of form f
KINDS = ("count", "wrong_cell", "duplicate", "uses", "enemy", "overlap")


def check(inst: Instance, forms: Forms) -> dict[str, Any]:
    """Violations (total and by kind), the objective and what each form reached."""
    kinds = dict.fromkeys(KINDS, 0)
    if len(forms) != inst.forms:
        kinds["count"] += abs(len(forms) - inst.forms) * inst.per_form
    members: list[list[int]] = []
    for form in forms:
        items: list[int] = []
        for c, pool in enumerate(inst.pools):
            chosen = [int(i) for i in (form[c] if c < len(form) else [])]
            kinds["count"] += abs(len(chosen) - int(inst.counts[c]))
            cell = set(pool.tolist())
            kinds["wrong_cell"] += sum(i not in cell for i in chosen)
            items += chosen
        kinds["duplicate"] += len(items) - len(set(items))
        members.append(items)
    sets = [set(m) for m in members]
    uses: dict[int, int] = {}
    for s in sets:
        for i in s:
            uses[i] = uses.get(i, 0) + 1
    if inst.max_uses is not None:
        kinds["uses"] = sum(max(u - inst.max_uses, 0) for u in uses.values())
    for s in sets:
        kinds["enemy"] += sum(int(i) in s and int(j) in s for i, j in inst.enemies)
    shared = [len(sets[f] & sets[g]) for f in range(len(sets)) for g in range(f + 1, len(sets))]
    kinds["overlap"] = sum(max(k - inst.max_overlap, 0) for k in shared)
    reached, objective = _objective(inst, members)
    return {
        "violations": sum(kinds.values()),
        "by_kind": {k: v for k, v in kinds.items() if v},
        "objective": objective,
        "reached": reached,
        "max_overlap_seen": max(shared, default=0),
        "max_uses_seen": max(uses.values(), default=0),
    }


def _objective(inst: Instance, members: list[list[int]]) -> tuple[list[list[float]], float]:
    if inst.information is not None:
        assert inst.information_targets is not None
        target = inst.information_targets
        curves = [inst.information[m].sum(axis=0) if m else np.zeros(len(target)) for m in members]
        worst = max((float((np.abs(cv - target) / target).max()) for cv in curves), default=0.0)
        return [[round(float(v), 4) for v in cv] for cv in curves], worst
    d100 = inst.d100
    means, worst = [], 0.0
    for f, m in enumerate(members):
        t100 = round(float(inst.targets[f]) * 100)
        dev = abs(int(d100[m].sum()) - len(m) * t100) / (100 * max(len(m), 1))
        means.append([round(float(d100[m].sum()) / (100 * max(len(m), 1)), 6)])
        worst = max(worst, dev)
    return means, worst
