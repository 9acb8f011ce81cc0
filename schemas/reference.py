"""Reference data: the programme's occupations, levels and knowledge areas.

The data lives in ``schemas/data/occupations.json``; ``docs/reference-data.md`` says which facts
are official and which are placeholders an institution replaces with its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta, timezone
from functools import cache
from importlib import resources
from typing import Any

from schemas.enums import Level

CST = timezone(timedelta(hours=8), "CST")
"""China Standard Time (北京时间), the zone every exam is timed and every printed time is in."""


@dataclass(frozen=True)
class KnowledgeArea:
    """知识领域: one row of an occupational standard's weight table (权重表)."""

    code: str
    name_zh: str
    name_en: str
    weights: dict[Level, int]

    def weight(self, level: Level) -> int:
        """Share of the theory exam, in percent, this area carries at ``level`` (0 = not examined)."""
        return self.weights[level]


@dataclass(frozen=True)
class Occupation:
    """A digital-technology occupation examined under the programme."""

    slug: str
    short_zh: str
    name_zh: str
    name_en: str
    code_2015: str | None
    code_2015_status: str
    code_2022: str | None
    code_2022_status: str
    weights_status: str
    knowledge_areas: tuple[KnowledgeArea, ...]

    def areas_at(self, level: Level) -> tuple[KnowledgeArea, ...]:
        """Knowledge areas examined at ``level`` (weight above zero), in standard order."""
        return tuple(a for a in self.knowledge_areas if a.weight(level) > 0)

    def area(self, code: str) -> KnowledgeArea | None:
        return next((a for a in self.knowledge_areas if a.code == code), None)

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every spelling an import file may use for this occupation."""
        names = [self.slug, self.short_zh, self.name_zh, self.name_en]
        names += [c for c in (self.code_2015, self.code_2022) if c]
        return tuple(names)


LEVEL_NAMES_ZH: dict[Level, str] = {
    Level.JUNIOR: "初级",
    Level.INTERMEDIATE: "中级",
    Level.SENIOR: "高级",
}


@cache
def _raw() -> dict[str, Any]:
    text = resources.files("schemas").joinpath("data/occupations.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _area(raw: dict[str, Any]) -> KnowledgeArea:
    weights = {Level(k): int(v) for k, v in raw["weights"].items()}
    return KnowledgeArea(raw["code"], raw["name_zh"], raw["name_en"], weights)


@cache
def occupations() -> tuple[Occupation, ...]:
    """All occupations of the programme, in the order the programme lists them."""
    result = []
    for raw in _raw()["occupations"]:
        areas = tuple(_area(a) for a in raw["knowledge_areas"])
        fields = {k: v for k, v in raw.items() if k != "knowledge_areas"}
        result.append(Occupation(**fields, knowledge_areas=areas))
    return tuple(result)


@cache
def _occupation_index() -> dict[str, Occupation]:
    index: dict[str, Occupation] = {}
    for occ in occupations():
        for alias in occ.aliases:
            index[alias.casefold()] = occ
    return index


def find_occupation(name: str) -> Occupation | None:
    """The occupation ``name`` denotes (slug, Chinese name, English name or code), or None."""
    return _occupation_index().get(name.strip().casefold())


def get_occupation(slug: str) -> Occupation:
    """The occupation with this slug; raises KeyError for an unknown one."""
    return _by_slug()[slug]


@cache
def _by_slug() -> dict[str, Occupation]:
    return {o.slug: o for o in occupations()}


_LEVEL_ALIASES: dict[str, Level] = {
    **{lv.value: lv for lv in Level},
    **{name: lv for lv, name in LEVEL_NAMES_ZH.items()},
    "初级工程技术人员": Level.JUNIOR,
    "中级工程技术人员": Level.INTERMEDIATE,
    "高级工程技术人员": Level.SENIOR,
}


def find_level(name: str) -> Level | None:
    """The level ``name`` denotes (``junior`` or 初级 and so on), or None."""
    return _LEVEL_ALIASES.get(name.strip().casefold())
