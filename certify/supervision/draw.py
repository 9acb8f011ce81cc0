"""双随机抽取: the draw of an inspection plan — random targets, random inspectors — made so that
anyone holding the published plan, the published population and the revealed seed gets exactly
the same selection, with nothing but SHA-256 (docs/supervision.md states the rule to re-implement
it elsewhere).

1. Before the draw the supervisor publishes the plan with ``commitment`` = SHA-256 of the seed's
   text, and the population (every target that may be drawn, with its stratum and institution).
2. At the draw the seed is revealed; a seed whose SHA-256 is not the commitment is refused.
3. Every target gets a rank, SHA-256(seed ␟ plan digest ␟ "target" ␟ target id) in hex; within
   each stratum (in the order of the strata's names) the targets of lowest rank are drawn: the
   rule's count, or ⌈rate × size⌉, or all when the stratum is smaller.
4. Inspectors, target by target in drawing order: of those eligible (not of the target's
   institution, no declared conflict with it), the ones with the fewest targets so far, ties
   broken by the lowest SHA-256(seed ␟ plan digest ␟ "inspector" ␟ target id ␟ inspector id),
   as many as the plan asks; a target short of eligible inspectors says how many are missing.

The plan digest is SHA-256 of the plan's canonical JSON (keys sorted, no spaces, UTF-8), so a
plan changed after publication gives another selection; the population's digest is recorded
beside it. Pure: no database, no files."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from certify.infra.errors import Error
from schemas.inspection import InspectionPlan

SEPARATOR = "\x1f"
"""Between the parts hashed for a rank (the ASCII unit separator, never in an id)."""


class SeedMismatch(Error):
    """The seed revealed is not the one the plan committed to."""

    code = "seed_mismatch"

    def __init__(self, plan: str) -> None:
        super().__init__(
            f"种子与检查计划 {plan} 公布的承诺值不符，不能抽取 / the seed does not match the "
            f"commitment published with plan {plan}: no draw is made"
        )


@dataclass(frozen=True)
class Target:
    """One thing that may be drawn: its id, its stratum, the institution it belongs to, and what
    a public notice may show of it (names masked)."""

    id: str
    stratum: str
    institution: str
    label: str


@dataclass(frozen=True)
class Drawn:
    target: Target
    rank: str
    inspectors: tuple[str, ...]
    short: int
    """Inspectors the plan asks for that no eligible one could fill."""


@dataclass(frozen=True)
class Draw:
    plan: str
    plan_digest: str
    population_digest: str
    population: int
    seed: str
    commitment: str
    drawn: tuple[Drawn, ...]

    def public(self) -> dict[str, Any]:
        """The draw as published (公开): inputs' digests, the seed, every target drawn with its
        rank and inspectors."""
        return {
            "plan": self.plan,
            "plan_digest": self.plan_digest,
            "population_digest": self.population_digest,
            "population": self.population,
            "seed": self.seed,
            "commitment": self.commitment,
            "drawn": [
                {
                    **asdict(d.target),
                    "rank": d.rank,
                    "inspectors": list(d.inspectors),
                    "short": d.short,
                }
                for d in self.drawn
            ],
        }


def canonical(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def plan_digest(plan: InspectionPlan) -> str:
    return hashlib.sha256(canonical(plan.model_dump(mode="json", by_alias=True))).hexdigest()


def population_digest(population: Sequence[Target]) -> str:
    rows = sorted((asdict(t) for t in population), key=lambda r: r["id"])
    return hashlib.sha256(canonical(rows)).hexdigest()


def commitment_of(seed: str) -> str:
    """What a plan publishes before the draw: SHA-256 of the seed's text (hex)."""
    return hashlib.sha256(seed.encode()).hexdigest()


def rank(seed: str, digest: str, *parts: str) -> str:
    return hashlib.sha256(SEPARATOR.join([seed, digest, *parts]).encode()).hexdigest()


def draw(plan: InspectionPlan, population: Sequence[Target], seed: str) -> Draw:
    """The plan's selection from ``population`` with the revealed ``seed``; raises SeedMismatch
    for a seed the plan did not commit to."""
    if commitment_of(seed) != plan.commitment:
        raise SeedMismatch(plan.code)
    digest = plan_digest(plan)
    strata: dict[str, list[Target]] = defaultdict(list)
    for target in population:
        strata[target.stratum].append(target)
    chosen: list[tuple[Target, str]] = []
    for name in sorted(strata):
        ranked = sorted(
            ((t, rank(seed, digest, "target", t.id)) for t in strata[name]),
            key=lambda pair: (pair[1], pair[0].id),
        )
        rule = plan.sampling
        size = rule.count if rule.count is not None else math.ceil((rule.rate or 0) * len(ranked))
        chosen += ranked[: min(size, len(ranked))]
    load: Counter[str] = Counter()
    drawn = []
    for target, target_rank in chosen:
        eligible = [
            i
            for i in plan.inspectors
            if i.institution != target.institution and target.institution not in i.conflicts
        ]
        eligible.sort(
            key=lambda i: (load[i.id], rank(seed, digest, "inspector", target.id, i.id), i.id)
        )
        picked = tuple(i.id for i in eligible[: plan.inspectors_per_target])
        load.update(picked)
        drawn.append(Drawn(target, target_rank, picked, plan.inspectors_per_target - len(picked)))
    return Draw(
        plan=plan.code,
        plan_digest=digest,
        population_digest=population_digest(population),
        population=len(population),
        seed=seed,
        commitment=plan.commitment,
        drawn=tuple(drawn),
    )
