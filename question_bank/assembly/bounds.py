"""Necessary conditions on an assembly problem: each one that fails proves no forms exist, and
says which rule and by how much, before any search.

* **uses**: a cell of ``s`` items fills ``F × k`` places, each item at most ``U`` times:
  ``F k <= U s``.
* **enemies**: at most one member of an enemy set fits on a form, so a cell offers one form at
  most ``s − Σ_sets (|set ∩ cell| − 1)`` items, the sum over enemy sets no two of which share an
  item: that must be at least ``k``.
* **max_overlap** (pigeonhole): when ``F k > s`` some items go on several forms; with item i on
  u_i forms the pairs of forms sharing it number C(u_i, 2), and Σ_i C(u_i, 2) over Σ_i u_i = F k
  is least when the u_i differ by at most one. Summed over the cells this is the fewest shared
  (item, pair of forms) there can be; spread over the F(F−1)/2 pairs, some pair shares at least
  the ceiling of the average, which must not exceed the limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from question_bank.assembly.engine import AssemblyProblem


@dataclass(frozen=True)
class Proof:
    """A rule no forms can meet: what it allows, what the pool forces, and where."""

    constraint: str
    allowed: int
    needed: int
    where: str

    @property
    def message_en(self) -> str:
        return (
            f"{self.constraint}: {self.where} needs {self.needed}, the rule allows {self.allowed} "
            f"(short by {self.needed - self.allowed})"
        )

    @property
    def message_zh(self) -> str:
        return (
            f"{self.constraint}：{self.where} 至少需要 {self.needed}，规则只允许 {self.allowed}"
            f"（差 {self.needed - self.allowed}）"
        )


def enemy_loss(members: set[int], enemies: Sequence[Sequence[int]]) -> int:
    """Items of ``members`` that cannot share a form: |set ∩ members| − 1 per enemy set, over
    sets that share no item (with {a, b} and {a, c}, b and c still fit together)."""
    taken: set[int] = set()
    lost = 0
    for group in enemies:
        inside = members.intersection(group)
        if len(inside) > 1 and not inside & taken:
            taken |= inside
            lost += len(inside) - 1
    return lost


def least_shared(slots: int, items: int) -> int:
    """Fewest (item, pair of forms) sharings when ``items`` items fill ``slots`` places."""
    if items <= 0 or slots <= items:
        return 0
    q, r = divmod(slots, items)
    return (items - r) * q * (q - 1) // 2 + r * (q + 1) * q // 2


def proofs_of_infeasibility(problem: AssemblyProblem) -> list[Proof]:
    """Every necessary condition ``problem`` fails (empty: none of these rules it out)."""
    forms = problem.forms
    uses = problem.max_uses if problem.max_uses is not None else forms
    found: list[Proof] = []
    shared = 0
    for c, cell in enumerate(problem.cells):
        size, count = len(cell.pool), cell.count
        name = cell.label or f"cell {c}"
        if forms * count > uses * size:
            found.append(
                Proof("max_uses", uses * size, forms * count, f"{name} (uses of its items)")
            )
        lost = enemy_loss(set(cell.pool.tolist()), [g.tolist() for g in problem.enemies])
        if count > size - lost:
            found.append(Proof("enemies", size - lost, count, f"{name} (items on one form)"))
        shared += least_shared(forms * count, size)
    pairs = forms * (forms - 1) // 2
    if problem.max_overlap is not None and pairs:
        need = math.ceil(shared / pairs)
        if need > problem.max_overlap:
            found.append(
                Proof("max_overlap", problem.max_overlap, need, "the average pair of forms")
            )
    return found
