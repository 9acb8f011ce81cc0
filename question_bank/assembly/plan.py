"""From a blueprint and a pool of ready items to the engine's cells, or an explanation why not.

The blueprint fixes counts along several dimensions — per item type, per knowledge area or
(area, type) cell, per difficulty band. The plan turns them into one table of per-form counts
per (area, type[, band]) cell that meets every count and fits the pool (two small max-flow
problems), so that the engine only chooses items. Every shortfall found on the way is explained
*before* any search, naming the constraint and what to relax.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from certify.infra.errors import Error
from question_bank.assembly.bounds import enemy_loss
from question_bank.assembly.engine import AssemblyProblem, Cell, FloatArray
from schemas.blueprint import BAND_NAMES, Blueprint, PartSpec, band_of
from schemas.enums import ItemType
from schemas.reference import LEVEL_NAMES_ZH, get_occupation

DEFAULT_DIFFICULTY = 0.5
"""Difficulty assumed for an item without an estimate (it also counts as medium band)."""


@dataclass(frozen=True)
class PoolItem:
    """A ready item version that may go on a form."""

    version_pk: int
    code: str
    version: int
    area: str
    type: ItemType
    difficulty: float | None

    def band(self, edges: tuple[float, float]) -> str:
        return band_of(self.difficulty, edges)


@dataclass(frozen=True)
class Shortfall:
    """One reason the blueprint cannot be met, with what to relax."""

    constraint: str
    message_zh: str
    message_en: str

    def __str__(self) -> str:
        return f"{self.constraint}: {self.message_zh} / {self.message_en}"


class Infeasible(Error):
    """The blueprint cannot be met by the bank; says which constraint and by how much."""

    code = "infeasible"

    def __init__(self, shortfalls: list[Shortfall]) -> None:
        self.shortfalls = shortfalls
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        head = "蓝图无法满足，未生成试卷 / the blueprint cannot be met; no paper was made:"
        return "\n".join([head, *(f"  - {s}" for s in self.shortfalls)])


@dataclass(frozen=True)
class PlannedCell:
    part: int
    area: str
    type: ItemType
    band: str | None
    count: int
    pool: tuple[int, ...]

    @property
    def label(self) -> str:
        band = f"/{self.band}" if self.band else ""
        return f"{self.area}/{self.type.value}{band}"


@dataclass(frozen=True)
class Plan:
    """Cells with per-form counts, part targets and the problem for the engine."""

    blueprint: Blueprint
    pool: tuple[PoolItem, ...]
    cells: tuple[PlannedCell, ...]
    targets: tuple[float, ...]
    enemies: tuple[tuple[int, ...], ...]
    information: FloatArray | None = None
    """Each pool item's information at the blueprint's abilities, (items, points), when the
    blueprint sets an information target (the pool then holds calibrated items only)."""
    calibration: int | None = None
    """The calibration run that information was read from."""

    def problem(self, *, seed: int | None = None, time_budget_s: float = 1.5) -> AssemblyProblem:
        bp = self.blueprint
        difficulty = np.array([_difficulty(p) for p in self.pool], dtype=np.float64)
        cells = [
            Cell(c.part, c.count, np.array(c.pool, dtype=np.int64), c.label) for c in self.cells
        ]
        targets = np.array(
            [
                part.difficulty.form_targets or [self.targets[p]] * bp.forms
                for p, part in enumerate(bp.parts)
            ],
            dtype=np.float64,
        ).T  # (forms, parts)
        return AssemblyProblem(
            difficulty=difficulty,
            cells=cells,
            targets=targets,
            forms=bp.forms,
            max_overlap=bp.max_overlap,
            max_uses=bp.max_uses,
            enemies=[np.array(e, dtype=np.int64) for e in self.enemies],
            seed=bp.seed if seed is None else seed,
            time_budget_s=time_budget_s,
            information=self.information,
            information_targets=self.information_targets(),
        )

    def information_targets(self) -> FloatArray | None:
        """The target information curve per form, (forms, points), if the blueprint sets one."""
        spec = self.blueprint.information
        if spec is None or self.information is None:
            return None
        rows = spec.form_targets or [spec.target or []] * self.blueprint.forms
        return np.array(rows, dtype=np.float64)


def _difficulty(item: PoolItem) -> float:
    return DEFAULT_DIFFICULTY if item.difficulty is None else item.difficulty


def _uses(bp: Blueprint) -> int:
    return bp.max_uses if bp.max_uses is not None else bp.forms


def _capacity(members: Sequence[int], bp: Blueprint, enemies: tuple[tuple[int, ...], ...]) -> int:
    """Most questions one form may take from these items, given forms, max_uses and enemies.

    At most one member of an enemy set fits on a form, so each set costs its other members
    (sets sharing items counted once, see :func:`enemy_loss`).
    """
    available = len(members)
    inside = set(members)
    usable = available - enemy_loss(inside, enemies)
    return min(usable, available * _uses(bp) // bp.forms)


def make_plan(bp: Blueprint, pool: Sequence[PoolItem]) -> Plan:
    """The cells for ``bp`` over ``pool``; raises Infeasible listing every shortfall found."""
    pool = tuple(pool)
    enemies = _enemies(bp, pool)
    shortfalls: list[Shortfall] = []
    cells: list[PlannedCell] = []
    targets: list[float] = []
    for index, part in enumerate(bp.parts):
        part_cells, found = _plan_part(bp, index, part, pool, enemies)
        shortfalls += found
        cells += part_cells
        targets.append(_target(part, part_cells, pool))
    if shortfalls:
        raise Infeasible(shortfalls)
    shortfalls += _overlap_bound(bp, cells) + _enemy_room(bp, cells, enemies)
    if shortfalls:
        raise Infeasible(shortfalls)
    return Plan(bp, pool, tuple(cells), tuple(targets), enemies)


def _target(part: PartSpec, cells: list[PlannedCell], pool: tuple[PoolItem, ...]) -> float:
    if part.difficulty.target is not None:
        return part.difficulty.target
    total = sum(c.count for c in cells)
    if not total:
        return DEFAULT_DIFFICULTY
    weighted = 0.0
    for c in cells:
        ds = [_difficulty(pool[i]) for i in c.pool]
        weighted += c.count * sum(ds) / len(ds)
    return round(weighted / total, 4)


def _plan_part(
    bp: Blueprint,
    index: int,
    part: PartSpec,
    pool: tuple[PoolItem, ...],
    enemies: tuple[tuple[int, ...], ...],
) -> tuple[list[PlannedCell], list[Shortfall]]:
    where = f"parts[{index}] {part.title}"
    edges = bp.difficulty_bands
    types = [t for t, spec in part.types.items() if spec.count > 0]
    members = [i for i, p in enumerate(pool) if p.type in types]
    by_at: dict[tuple[str, ItemType], list[int]] = defaultdict(list)
    by_atb: dict[tuple[str, ItemType, str], list[int]] = defaultdict(list)
    for i in members:
        item = pool[i]
        by_at[(item.area, item.type)].append(i)
        by_atb[(item.area, item.type, item.band(edges))].append(i)
    shortfalls = _count_checks(bp, where, part, pool, members, by_at)
    if shortfalls:
        return [], shortfalls
    table, found = _area_type_table(bp, where, part, by_at, enemies)
    if found:
        return [], found
    if part.difficulty.bands is None:
        cells = [
            PlannedCell(index, a, t, None, n, tuple(by_at[(a, t)]))
            for (a, t), n in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1].value))
            if n > 0
        ]
        return cells, []
    return _band_cells(bp, index, where, part, table, by_atb, enemies)


def _level_words(bp: Blueprint) -> tuple[str, str]:
    occ = get_occupation(bp.occupation)
    return f"{occ.short_zh}{LEVEL_NAMES_ZH[bp.level]}", f"{bp.occupation}/{bp.level.value}"


def _count_checks(
    bp: Blueprint,
    where: str,
    part: PartSpec,
    pool: tuple[PoolItem, ...],
    members: list[int],
    by_at: dict[tuple[str, ItemType], list[int]],
) -> list[Shortfall]:
    """Each count the blueprint asks for, against the ready items that could fill it."""
    zh_bank, en_bank = _level_words(bp)
    out: list[Shortfall] = []
    uses = _uses(bp)

    def short(constraint: str, need: int, have: int, zh_what: str, en_what: str) -> None:
        if need <= have:
            if bp.forms * need <= uses * have:
                return
            out.append(
                Shortfall(
                    constraint,
                    f"{bp.forms} 份试卷每份需 {need} 道{zh_what}，共 {bp.forms * need} 题次；题库中{zh_bank}只有 {have} 道"
                    f"可用，每题最多使用 {uses} 次，最多 {uses * have} 题次。请减少试卷份数、提高 max_uses 或补充题目",
                    f"{bp.forms} forms × {need} {en_what} = {bp.forms * need} uses; the bank has {have} ready "
                    f"{en_bank} items usable {uses} times each = {uses * have}. Make fewer forms, raise max_uses or add items",
                )
            )
            return
        out.append(
            Shortfall(
                constraint,
                f"每份试卷需要 {need} 道{zh_what}；题库中{zh_bank}只有 {have} 道可用（ready）",
                f"needs {need} {en_what} per form; the bank has {have} ready at {en_bank}",
            )
        )

    type_count = Counter(pool[i].type for i in members)
    for t, spec in part.types.items():
        short(
            f"{where}.types.{t.value}",
            spec.count,
            type_count[t],
            f"{t.short_zh}题",
            f"{t.value} items",
        )
    if part.areas is not None:
        area_count = Counter(pool[i].area for i in members)
        for area, n in part.areas.items():
            short(
                f"{where}.areas.{area}",
                n,
                area_count[area],
                f"知识领域 {area} 的题（本部分题型）",
                f"items of knowledge area {area} (of the part's types)",
            )
    for n, cell in enumerate(part.cells):
        have = len(by_at.get((cell.area, cell.type), []))
        short(
            f"{where}.cells[{n}]",
            cell.count,
            have,
            f"知识领域 {cell.area} 的{cell.type.short_zh}题",
            f"{cell.type.value} items of knowledge area {cell.area}",
        )
    if part.difficulty.bands is not None:
        band_count = Counter(pool[i].band(bp.difficulty_bands) for i in members)
        for band, n in part.difficulty.bands.items():
            short(
                f"{where}.difficulty.bands.{band}",
                n,
                band_count[band],
                f"{band} 难度档的题",
                f"items in the {band} band",
            )
    return out


def _area_type_table(
    bp: Blueprint,
    where: str,
    part: PartSpec,
    by_at: dict[tuple[str, ItemType], list[int]],
    enemies: tuple[tuple[int, ...], ...],
) -> tuple[dict[tuple[str, ItemType], int], list[Shortfall]]:
    """Per-form counts per (area, type): fixed cells first, the rest by weight and max-flow."""
    occ = get_occupation(bp.occupation)
    areas = [a.code for a in occ.areas_at(bp.level)]
    types = [t for t, s in part.types.items() if s.count > 0]
    table: Counter[tuple[str, ItemType]] = Counter()
    for cell in part.cells:
        table[(cell.area, cell.type)] += cell.count
    cap = {
        (a, t): _capacity(by_at.get((a, t), []), bp, enemies) - table[(a, t)]
        for a in areas
        for t in types
    }
    need_t = {t: part.types[t].count - sum(table[(a, t)] for a in areas) for t in types}
    if part.areas is None:
        return _by_weight(bp, where, areas, types, need_t, cap, table)
    need_a = {a: part.areas.get(a, 0) - sum(table[(a, t)] for t in types) for a in areas}
    flow = _transport(
        areas,
        [t.value for t in types],
        need_a,
        {t.value: n for t, n in need_t.items()},
        {(a, t.value): n for (a, t), n in cap.items()},
    )
    if flow is None:
        return {}, [_combination_shortfall(bp, where, part, need_a, need_t, cap)]
    for (a, t), n in flow.items():
        table[(a, ItemType(t))] += n
    return dict(table), []


def _by_weight(
    bp: Blueprint,
    where: str,
    areas: list[str],
    types: list[ItemType],
    need_t: dict[ItemType, int],
    cap: dict[tuple[str, ItemType], int],
    table: Counter[tuple[str, ItemType]],
) -> tuple[dict[tuple[str, ItemType], int], list[Shortfall]]:
    """No area counts given: spread each type over the areas by the standard's weights."""
    occ = get_occupation(bp.occupation)
    weights = {a.code: a.weight(bp.level) for a in occ.knowledge_areas}
    shortfalls = []
    for t in types:
        placed = dict.fromkeys(areas, 0)
        for _ in range(need_t[t]):
            open_areas = [a for a in areas if placed[a] < cap[(a, t)]]
            if not open_areas:
                room = sum(max(cap[(a, t)], 0) for a in areas)
                shortfalls.append(
                    Shortfall(
                        f"{where}.types.{t.value}",
                        f"每份试卷需要 {need_t[t]} 道{t.short_zh}题，按试卷份数和使用次数最多只能安排 {room} 道；"
                        "请减少试卷份数、提高 max_uses 或补充题目",
                        f"needs {need_t[t]} {t.value} items per form, but forms and max_uses allow only {room}; "
                        "make fewer forms, raise max_uses or add items",
                    )
                )
                break
            total = sum(weights[a] for a in open_areas) or 1
            best = max(open_areas, key=lambda a: weights[a] / total * need_t[t] - placed[a])
            placed[best] += 1
        for a, n in placed.items():
            table[(a, t)] += n
    return dict(table), shortfalls


def _transport(
    rows: list[str],
    cols: list[str],
    supply: dict[str, int],
    demand: dict[str, int],
    cap: dict[tuple[str, str], int],
) -> dict[tuple[str, str], int] | None:
    """Integer table with row sums `supply`, column sums `demand`, cells within `cap`.

    Starts from the proportional table (rounded down) so counts spread evenly, then completes
    it with augmenting paths (Ford–Fulkerson on a graph of a few dozen nodes). None if no
    such table exists.
    """
    if any(v < 0 for v in [*supply.values(), *demand.values()]):
        return None
    total = sum(demand.values())
    if sum(supply.values()) != total:
        return None
    flow: dict[tuple[str, str], int] = {}
    for r in rows:
        for c in cols:
            ideal = supply[r] * demand[c] / total if total else 0
            flow[(r, c)] = max(0, min(int(ideal), cap[(r, c)]))
    left_r = {r: supply[r] - sum(flow[(r, c)] for c in cols) for r in rows}
    left_c = {c: demand[c] - sum(flow[(r, c)] for r in rows) for c in cols}
    if any(v < 0 for v in [*left_r.values(), *left_c.values()]):
        flow = dict.fromkeys(flow, 0)
        left_r, left_c = dict(supply), dict(demand)
    while True:
        path = _augmenting_path(rows, cols, left_r, left_c, flow, cap)
        if path is None:
            break
        for step, (r, c) in enumerate(path):
            flow[(r, c)] += 1 if step % 2 == 0 else -1
        left_r[path[0][0]] -= 1
        left_c[path[-1][1]] -= 1
    if any(left_c.values()) or any(left_r.values()):
        return None
    return flow


Node = tuple[str, str]  # ("r", row) or ("c", column)
Edge = tuple[str, str]  # (row, column)


def _augmenting_path(
    rows: list[str],
    cols: list[str],
    left_r: dict[str, int],
    left_c: dict[str, int],
    flow: dict[Edge, int],
    cap: dict[Edge, int],
) -> list[Edge] | None:
    """Breadth-first: row with supply left → col (room) → row (undo) → … → col with demand left."""
    parent: dict[Node, tuple[Node, Edge] | None] = {("r", r): None for r in rows if left_r[r] > 0}
    queue: list[Node] = list(parent)
    while queue:
        kind, node = queue.pop(0)
        if kind == "r":
            for c in cols:
                if flow[(node, c)] < cap[(node, c)] and ("c", c) not in parent:
                    parent[("c", c)] = (("r", node), (node, c))
                    if left_c[c] > 0:
                        return _trace(parent, ("c", c))
                    queue.append(("c", c))
        else:
            for r in rows:
                if flow[(r, node)] > 0 and ("r", r) not in parent:
                    parent[("r", r)] = (("c", node), (r, node))
                    queue.append(("r", r))
    return None


def _trace(parent: dict[Node, tuple[Node, Edge] | None], end: Node) -> list[Edge]:
    path: list[Edge] = []
    step = parent[end]
    while step is not None:
        prev, edge = step
        path.append(edge)
        step = parent[prev]
    return path[::-1]


def _combination_shortfall(
    bp: Blueprint,
    where: str,
    part: PartSpec,
    need_a: dict[str, int],
    need_t: dict[ItemType, int],
    cap: dict[tuple[str, ItemType], int],
) -> Shortfall:
    """Name the area (or type) whose questions cannot be found among the part's types."""
    worst_area = None
    for a, n in need_a.items():
        room = sum(max(cap[(a, t)], 0) for t in need_t)
        if n > room and (worst_area is None or n - room > worst_area[1] - worst_area[2]):
            worst_area = (a, n, room)
    if worst_area:
        a, n, room = worst_area
        return Shortfall(
            f"{where}.areas.{a}",
            f"知识领域 {a} 需要 {n} 题，但在本部分题型（{'、'.join(t.short_zh for t in need_t)}）中只能提供 {room} 题；"
            "请放宽该领域题数或题型题数，或补充题目",
            f"knowledge area {a} needs {n} questions but the part's types offer only {room} per form; "
            "relax the area's count or the type counts, or add items",
        )
    return Shortfall(
        f"{where}.areas",
        "各知识领域题数与各题型题数无法同时满足；请放宽其中之一",
        "the area counts and the type counts cannot be met together; relax one of them",
    )


def _band_cells(
    bp: Blueprint,
    index: int,
    where: str,
    part: PartSpec,
    table: dict[tuple[str, ItemType], int],
    by_atb: dict[tuple[str, ItemType, str], list[int]],
    enemies: tuple[tuple[int, ...], ...],
) -> tuple[list[PlannedCell], list[Shortfall]]:
    """Split each (area, type) count over the difficulty bands to meet the band counts."""
    assert part.difficulty.bands is not None
    keys = [k for k, n in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1].value)) if n > 0]
    labels = [f"{a}|{t.value}" for a, t in keys]
    bands = list(BAND_NAMES)
    supply = {label: table[key] for label, key in zip(labels, keys, strict=True)}
    demand = {b: part.difficulty.bands.get(b, 0) for b in bands}
    cap = {
        (label, b): _capacity(by_atb.get((*key, b), []), bp, enemies)
        for label, key in zip(labels, keys, strict=True)
        for b in bands
    }
    flow = _transport(labels, bands, supply, demand, cap)
    if flow is None:
        return [], [
            Shortfall(
                f"{where}.difficulty.bands",
                "难度档题数与知识领域、题型题数无法同时满足；请放宽难度档题数或补充相应难度的题目",
                "the band counts cannot be met together with the area and type counts; relax the band counts or add items of the missing difficulty",
            )
        ]
    cells = []
    for label, key in zip(labels, keys, strict=True):
        for b in bands:
            n = flow[(label, b)]
            if n:
                cells.append(PlannedCell(index, key[0], key[1], b, n, tuple(by_atb[(*key, b)])))
    return cells, []


def _enemies(bp: Blueprint, pool: tuple[PoolItem, ...]) -> tuple[tuple[int, ...], ...]:
    where = {p.code: i for i, p in enumerate(pool)}
    groups = []
    for group in bp.enemies:
        members = tuple(sorted({where[c] for c in group if c in where}))
        if len(members) > 1:
            groups.append(members)
    return tuple(groups)


def _overlap_bound(bp: Blueprint, cells: list[PlannedCell]) -> list[Shortfall]:
    """Forms must share items when a cell is smaller than forms × count: is max_overlap enough?"""
    if bp.max_overlap is None or bp.forms < 2:
        return []
    pairs = bp.forms * (bp.forms - 1) // 2
    shared = 0
    tight: list[tuple[int, PlannedCell]] = []
    for cell in cells:
        slots, items = bp.forms * cell.count, len(cell.pool)
        if slots <= items:
            continue
        q, r = divmod(slots, items)
        least = (items - r) * q * (q - 1) // 2 + r * (q + 1) * q // 2
        shared += least
        tight.append((least, cell))
    if shared <= bp.max_overlap * pairs:
        return []
    need = math.ceil(shared / pairs)
    worst = ", ".join(c.label for _, c in sorted(tight, key=lambda x: -x[0])[:5])
    return [
        Shortfall(
            "max_overlap",
            f"题量不足以让 {bp.forms} 份试卷两两重叠不超过 {bp.max_overlap} 题：平均每对试卷至少要共用 {need} 题。"
            f"请把 max_overlap 提高到至少 {need}、减少试卷份数，或为这些单元补充题目：{worst}",
            f"the pool cannot keep {bp.forms} forms within {bp.max_overlap} shared items per pair: on average "
            f"each pair must share at least {need}. Raise max_overlap to at least {need}, make fewer forms, or add "
            f"items to these cells: {worst}",
        )
    ]


def _enemy_room(
    bp: Blueprint, cells: list[PlannedCell], enemies: tuple[tuple[int, ...], ...]
) -> list[Shortfall]:
    """Within a cell, at most one member of an enemy set fits on a form: is the cell still big enough?"""
    out = []
    for cell in cells:
        members = set(cell.pool)
        lost = enemy_loss(members, enemies)
        usable = len(members) - lost
        if lost and cell.count > usable:
            out.append(
                Shortfall(
                    "enemies",
                    f"单元 {cell.label} 每份试卷需要 {cell.count} 题，但互斥题组使同一份试卷最多只能用其中 {usable} 题；请拆分互斥题组或补充题目",
                    f"cell {cell.label} needs {cell.count} per form but enemy sets leave room for only {usable} on one form; "
                    "split the enemy sets or add items",
                )
            )
    return out
