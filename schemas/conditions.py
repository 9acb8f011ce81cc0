"""Reference data for eligibility: application conditions (申报条件) and what a certificate entitles.

``schemas/data/conditions.json`` holds, per level, the routes by which an applicant may sit the
exam (any one route suffices) and the training hours every applicant must first have;
``schemas/data/eligibility.json`` holds, per region, what each certificate counts for (title
review, title recognition, training subsidy, continuing-education hours). Each file names its
source and which values are placeholders; ``docs/eligibility.md`` repeats both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from schemas.enums import CertificateKind, EntitlementKind, Level


@dataclass(frozen=True)
class Route:
    """One way to meet a level's application conditions; every field given must hold."""

    id: str
    zh: str
    en: str
    title: str | None = None
    """Least professional title held (code of :data:`titles`)."""
    education: str | None = None
    """Least education held (code of :data:`education`)."""
    related_major: bool = False
    graduating_ok: bool = False
    """A final-year student of the required education qualifies (初级 only)."""
    certificate: str | None = None
    """Level of this occupation's certificate the applicant must hold."""
    years: int = 0
    """Full years of related work, counted from the latest of: starting related work, obtaining
    the required title, obtaining the required certificate."""


@dataclass(frozen=True)
class Rank:
    code: str
    rank: int
    zh: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Conditions:
    source: str
    status: dict[str, str]
    training_hours: dict[Level, int]
    routes: dict[Level, tuple[Route, ...]]
    education: dict[str, Rank]
    titles: dict[str, Rank]

    def education_code(self, text: str) -> str | None:
        return _lookup(self.education, text)

    def title_code(self, text: str) -> str | None:
        return _lookup(self.titles, text)


def _lookup(table: dict[str, Rank], text: str) -> str | None:
    wanted = text.strip().lower()
    return next((r.code for r in table.values() if wanted in (r.code, *r.aliases)), None)


def _ranks(raw: dict[str, Any]) -> dict[str, Rank]:
    return {
        code: Rank(code, int(v["rank"]), v["zh"], tuple(a.lower() for a in v["aliases"]))
        for code, v in raw.items()
    }


def _read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("schemas").joinpath(f"data/{name}").read_text("utf-8")
    )
    return data


@cache
def conditions() -> Conditions:
    """The application conditions of every level."""
    raw = _read("conditions.json")
    return Conditions(
        source=raw["source"],
        status=raw["status"],
        training_hours={Level(k): int(v) for k, v in raw["training_hours"].items()},
        routes={
            Level(level): tuple(Route(**route) for route in routes)
            for level, routes in raw["levels"].items()
        },
        education=_ranks(raw["education"]),
        titles=_ranks(raw["titles"]),
    )


@dataclass(frozen=True)
class Entitlement:
    """What one certificate counts for: a kind and its wording."""

    kind: EntitlementKind
    zh: str
    en: str
    title: str = ""
    hours: float = 0.0
    category: str = ""


@dataclass(frozen=True)
class RegionRules:
    code: str
    name: str
    status: str
    level: dict[Level, tuple[Entitlement, ...]]
    training: tuple[Entitlement, ...]
    ce_category: str
    ce_level_hours: dict[Level, float]

    def entitlements(
        self, kind: CertificateKind, level: Level, course_hours: float = 0.0
    ) -> list[Entitlement]:
        """Every entitlement of a certificate: its kind's rules, then its continuing-education
        hours (a training certificate credits its course's hours)."""
        training = kind == CertificateKind.TRAINING
        rules = list(self.training if training else self.level[level])
        hours = course_hours if training else self.ce_level_hours[level]
        if hours > 0:
            rules.append(
                Entitlement(
                    EntitlementKind.CE_HOURS,
                    f"计入继续教育学时 {hours:g} 学时（{self.ce_category}）",
                    f"{hours:g} continuing-education hours ({self.ce_category})",
                    hours=hours,
                    category=self.ce_category,
                )
            )
        return rules


@cache
def region_rules(code: str | None = None) -> RegionRules:
    """The eligibility rules of a region (province code): its own entry, or the national rules
    for a province without one."""
    raw = _read("eligibility.json")
    found = str(code if code in raw["regions"] else raw["default_region"])
    region = raw["regions"][found]

    def entitlement(rule: dict[str, Any]) -> Entitlement:
        return Entitlement(
            EntitlementKind(rule["kind"]), rule["zh"], rule["en"], title=rule.get("title", "")
        )

    ce = region["ce_hours"]
    return RegionRules(
        code=found,
        name=region["name"],
        status=region["status"],
        level={Level(k): tuple(map(entitlement, v)) for k, v in region["level"].items()},
        training=tuple(map(entitlement, region["training"])),
        ce_category=ce["category"],
        ce_level_hours={Level(k): float(v) for k, v in ce["level"].items()},
    )
