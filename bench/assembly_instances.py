"""The assembly benchmark's instances, each generated from a seed; every method reads the same one.

Items have a knowledge area, an item type and a difficulty (0–1, two decimals; higher is harder),
banded easy < 0.3 <= medium < 0.6 <= hard; blueprint cells are area × type × band and every form
takes a fixed count from each cell. Four instances (``quick=True`` gives smaller ones of the
same shape, for development):

* ``scale_offcentre``: 20,000 items; 10 forms × 100; each item used at most twice; any two forms
  share at most 10; 200 enemy pairs; mean-difficulty targets 0.38 for nine forms and 0.62 for
  the tenth, both off the pool's 0.5, so every form wants the same scarce end of each cell.
* ``tight``: 1,000 items; 20 forms × 100; each item used at most 3 times; overlap <= 12; 100
  enemy pairs; targets alternate 0.47 / 0.53 (with most items used two or three times, the
  reachable range is narrow, so the easy and the hard items are contested).
* ``tif``: 2,000 items with 2PL (true/false, fill) or 3PL (single and multiple choice, guessing
  c ~ Beta(5, 17)) parameters — discrimination a ~ lognormal(0, 0.3), difficulty b ~ N(0, 1) —,
  8 forms × 40, cells area (5) × family (choice 3PL, constructed 2PL) × band (30 cells), uses <= 2, overlap <= 4, 60 enemy pairs,
  and a target test information curve at θ = −1.5, −0.5, 0.5, 1.5: 40 × 1.25 × the pool's mean
  item information at each θ (a form a quarter better than an average one). The objective is the
  largest relative deviation of any form's information from the target (van der Linden's
  minimax ATA model).
* ``infeasible_near``: ``tight``'s pool and cells with the overlap limit one below what the cell
  sizes force: a cell of ``s`` items filling ``F × k`` places puts some item on several forms, and
  spreading the uses evenly is the fewest shared pairs (Σ_i C(u_i, 2), minimised when the u_i
  differ by at most one); summed over cells and divided by the F(F−1)/2 pairs of forms, that is
  the average overlap any assembly must reach. The limit is set one below its ceiling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

AREAS, TYPES, BANDS = 10, 4, 3
BAND_EDGES = (0.3, 0.6)
THETA = np.array([-1.5, -0.5, 0.5, 1.5])
D = 1.702  # the logistic scaling constant that makes the logistic close to the normal ogive


@dataclass
class Instance:
    """One assembly problem in the benchmark's own terms (no engine types)."""

    name: str
    difficulty: FloatArray  # per item, two decimals
    pools: list[IntArray]  # per cell, its item indices
    counts: IntArray  # per cell, items per form
    forms: int
    max_overlap: int
    max_uses: int | None
    enemies: IntArray  # (pairs, 2)
    targets: FloatArray  # per form, mean-difficulty target (unused with information)
    information: FloatArray | None = None  # (items, points), three decimals
    information_targets: FloatArray | None = None  # (points,), three decimals
    theta: FloatArray | None = None
    params: dict[str, FloatArray] = field(default_factory=dict)  # a, b, c of the tif items
    note: str = ""

    @property
    def per_form(self) -> int:
        return int(self.counts.sum())

    @property
    def d100(self) -> IntArray:
        out: IntArray = np.round(self.difficulty * 100).astype(np.int64)
        return out


def apportion(weights: FloatArray, total: int, caps: IntArray | None = None) -> IntArray:
    """Integers proportional to ``weights`` summing to ``total`` (largest remainder), <= caps."""
    share = total * weights / weights.sum()
    out: IntArray = np.floor(share).astype(np.int64)
    if caps is not None:
        assert caps.sum() >= total, "the caps leave too little room"
        out = np.minimum(out, caps)
    room = np.ones(len(out), bool) if caps is None else out < caps
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    while out.sum() < total:
        for c in order:
            if out.sum() == total:
                break
            if room[c]:
                out[c] += 1
                room[c] = caps is None or out[c] < caps[c]
    return out


def _band(d: FloatArray) -> IntArray:
    return np.digitize(d, BAND_EDGES).astype(np.int64)


def _weights(rng: np.random.Generator, areas: int) -> tuple[FloatArray, FloatArray]:
    """Uneven knowledge-area and item-type shares, as in real blueprints."""
    return rng.dirichlet(np.full(areas, 4.0)), rng.dirichlet(np.full(TYPES, 2.0))


def _enemy_pairs(
    rng: np.random.Generator,
    d: FloatArray,
    pools: list[IntArray],
    counts: IntArray,
    forms: int,
    pairs: int,
    target: float,
) -> IntArray:
    """80 % inside cells with count >= 2 among the items nearest the target (the ones a balancing
    assembler wants, so the pairs bite), 20 % between random items of used cells."""
    within = [c for c in range(len(pools)) if counts[c] >= 2 and len(pools[c]) >= 2]
    weight = counts[within] / max(counts[within].sum(), 1)
    used = np.concatenate([pools[c] for c in range(len(pools)) if counts[c] > 0])
    seen: set[tuple[int, int]] = set()
    while len(seen) < pairs:
        if within and len(seen) < 0.8 * pairs:
            c = within[int(rng.choice(len(within), p=weight))]
            pool = pools[c]
            near = pool[np.argsort(np.abs(d[pool] - target), kind="stable")]
            near = near[: max(2, min(len(near), 2 * forms * int(counts[c])))]
            i, j = rng.choice(near, 2, replace=False)
        else:
            i, j = rng.choice(used, 2, replace=False)
        seen.add((int(min(i, j)), int(max(i, j))))
    return np.array(sorted(seen), dtype=np.int64)


def _pools(cell: IntArray, cells: int) -> list[IntArray]:
    return [np.flatnonzero(cell == c).astype(np.int64) for c in range(cells)]


def scale_offcentre(seed: int, quick: bool = False) -> Instance:
    """20,000 items (4,000 quick), 10 forms × 100 (6 × 50), uses <= 2, overlap <= 10 (5)."""
    rng = np.random.default_rng([seed, 11])
    n, forms, per_form, overlap, pairs = (
        (4_000, 6, 50, 5, 60) if quick else (20_000, 10, 100, 10, 200)
    )
    area_w, type_w = _weights(rng, AREAS)
    area = rng.choice(AREAS, n, p=area_w)
    kind = rng.choice(TYPES, n, p=type_w)
    d = np.round(rng.beta(2.0, 2.0, n), 2)
    pools = _pools((area * TYPES + kind) * BANDS + _band(d), AREAS * TYPES * BANDS)
    sizes = np.array([len(p) for p in pools], dtype=np.int64)
    counts = apportion(sizes.astype(float), per_form, caps=sizes)
    targets = np.full(forms, 0.38)
    targets[-1] = 0.62
    enemies = _enemy_pairs(rng, d, pools, counts, forms, pairs, 0.38)
    return Instance(
        "scale_offcentre", d, pools, counts, forms, overlap, 2, enemies, targets,
        note=f"{n:,} items, {forms} forms × {per_form}, uses <= 2, overlap <= {overlap}, "
        f"{pairs} enemy pairs, targets 0.38 ×{forms - 1} and 0.62",
    )  # fmt: skip


def tight(seed: int, quick: bool = False) -> Instance:
    """1,000 items (300 quick), 20 forms × 100 (10 × 40), uses <= 3, overlap <= 12 (8)."""
    rng = np.random.default_rng([seed, 12])
    n, forms, per_form, uses, overlap, pairs = (
        (300, 10, 40, 3, 8, 30) if quick else (1_000, 20, 100, 3, 12, 100)
    )
    area_w, type_w = _weights(rng, AREAS)
    # P(round(Beta(2,2), 2) < 0.3) = F(0.295), with the Beta(2,2) CDF F(x) = 3x² - 2x³.
    cdf = [3 * x * x - 2 * x**3 for x in (0.295, 0.595)]
    band_w = np.array([cdf[0], cdf[1] - cdf[0], 1 - cdf[1]])
    weight = np.einsum("a,t,b->atb", area_w, type_w, band_w).ravel()
    counts = apportion(weight, per_form)
    need = np.array([math.ceil(forms * k / uses) + 1 if k else 0 for k in counts], dtype=np.int64)
    assert need.sum() <= n, need.sum()
    sizes = need + rng.multinomial(n - int(need.sum()), weight / weight.sum())
    cells = AREAS * TYPES * BANDS
    d = np.zeros(n)
    cell = np.repeat(np.arange(cells), sizes)
    for c in range(cells):  # Beta(2,2) difficulties conditioned on the cell's band
        band, got = c % BANDS, np.zeros(0)
        while len(got) < sizes[c]:
            draw = np.round(rng.beta(2.0, 2.0, 4 * int(sizes[c]) + 8), 2)
            got = np.concatenate([got, draw[_band(draw) == band]])
        d[cell == c] = got[: sizes[c]]
    order = rng.permutation(n)  # item ids do not follow the cells
    d, cell = d[order], cell[order]
    pools = _pools(cell, cells)
    targets = np.where(np.arange(forms) % 2 == 0, 0.47, 0.53)
    enemies = _enemy_pairs(rng, d, pools, counts, forms, pairs, 0.47)
    return Instance(
        "tight", d, pools, counts, forms, overlap, uses, enemies, targets,
        note=f"{n:,} items, {forms} forms × {per_form}, uses <= {uses}, overlap <= {overlap}, "
        f"{pairs} enemy pairs, targets 0.47 / 0.53 alternating",
    )  # fmt: skip


def item_information(a: FloatArray, b: FloatArray, c: FloatArray, theta: FloatArray) -> FloatArray:
    """Fisher information of 3PL items at each θ, (items, points).

    P = c + (1 − c) / (1 + exp(−D a (θ − b))),
    I(θ) = (D a)² · (Q / P) · ((P − c) / (1 − c))²   (Birnbaum; c = 0 gives the 2PL's
    (D a)² P Q).
    """
    z = D * a[:, None] * (theta[None, :] - b[:, None])
    p = c[:, None] + (1 - c[:, None]) / (1 + np.exp(-z))
    info: FloatArray = (
        (D * a[:, None]) ** 2 * ((1 - p) / p) * ((p - c[:, None]) / (1 - c[:, None])) ** 2
    )
    return info


def tif(seed: int, quick: bool = False) -> Instance:
    """2,000 items (600 quick), 8 forms × 40 (5 × 20), 2PL/3PL, a target information curve."""
    rng = np.random.default_rng([seed, 13])
    n, forms, per_form, overlap, pairs = (600, 5, 20, 2, 20) if quick else (2_000, 8, 40, 4, 60)
    areas = 5
    area_w, type_w = _weights(rng, areas)
    area = rng.choice(areas, n, p=area_w)
    kind = rng.choice(TYPES, n, p=type_w)
    a = np.round(rng.lognormal(0.0, 0.3, n), 2)
    b = np.round(np.clip(rng.normal(0.0, 1.0, n), -3, 3), 2)
    c = np.where(kind < 2, np.round(rng.beta(5, 17, n), 2), 0.0)  # choice items guess
    family = (kind >= 2).astype(np.int64)  # 3PL choice items, 2PL constructed ones
    info = np.round(item_information(a, b, c, THETA), 3)
    # classical difficulty: the proportion failing in a N(0, 1) population (normal-ogive
    # approximation of the 2PL, guessing ignored), two decimals; banded by it
    d = np.round(0.5 * (1 + np.vectorize(math.erf)(b / np.sqrt(2 * (1 + 1 / (D * a) ** 2)))), 2)
    pools = _pools((area * 2 + family) * BANDS + _band(d), areas * 2 * BANDS)
    sizes = np.array([len(p) for p in pools], dtype=np.int64)
    counts = apportion(sizes.astype(float), per_form, caps=sizes)
    target = np.round(per_form * 1.25 * info.mean(axis=0), 3)
    enemies = _enemy_pairs(rng, d, pools, counts, forms, pairs, 0.5)
    return Instance(
        "tif", d, pools, counts, forms, overlap, 2, enemies, np.full(forms, 0.5),
        information=info, information_targets=target, theta=THETA.copy(),
        params={"a": a, "b": b, "c": c},
        note=f"{n:,} items (2PL/3PL), {forms} forms × {per_form}, uses <= 2, overlap <= {overlap}, "
        f"{pairs} enemy pairs, target information {target.tolist()} at θ {THETA.tolist()}",
    )  # fmt: skip


def forced_overlap(inst: Instance) -> int:
    """The least average pairwise overlap the cell sizes force, rounded up (0 if none)."""
    pairs = inst.forms * (inst.forms - 1) // 2
    shared = 0
    for count, pool in zip(inst.counts, inst.pools, strict=True):
        slots, items = inst.forms * int(count), len(pool)
        if slots > items and items:
            q, r = divmod(slots, items)
            shared += (items - r) * q * (q - 1) // 2 + r * (q + 1) * q // 2
    return math.ceil(shared / pairs) if pairs else 0


def infeasible_near(seed: int, quick: bool = False) -> Instance:
    """``tight`` with the overlap limit one below what its cells force on average."""
    inst = tight(seed, quick)
    inst.name = "infeasible_near"
    inst.max_overlap = forced_overlap(inst) - 1
    inst.note = (
        f"tight's pool and blueprint, overlap <= {inst.max_overlap}: the cells force an average "
        f"overlap of at least {forced_overlap(inst)}"
    )
    return inst


MAKERS = {
    "scale_offcentre": scale_offcentre,
    "tight": tight,
    "tif": tif,
    "infeasible_near": infeasible_near,
}
