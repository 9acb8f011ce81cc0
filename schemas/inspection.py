"""检查计划: a 双随机 inspection plan — what may be drawn (the population), how many (the
sampling rule), by whom (the inspector pool, with their conflicts of interest), and the
commitment to the seed the draw will use, published before the draw (docs/supervision.md)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Inspector(Strict):
    """One inspector of the pool: never drawn for their own institution or a declared conflict."""

    id: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=64)
    institution: str = Field(default="", max_length=200, description="Where the inspector works.")
    conflicts: list[str] = Field(
        default_factory=list, description="Institutions the inspector declared a conflict with."
    )


class PopulationSpec(Strict):
    """What may be drawn: the sittings that started, or the certificates issued, in a period."""

    kind: Literal["sittings", "certificates"]
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    occupation: str | None = None


class SamplingRule(Strict):
    """How many targets: a count or a rate, over the whole population or per stratum."""

    count: int | None = Field(default=None, ge=1, le=100_000)
    rate: float | None = Field(default=None, gt=0, le=1)
    strata: Literal["none", "occupation", "level", "institution"] = "none"

    @model_validator(mode="after")
    def _one_of(self) -> SamplingRule:
        if (self.count is None) == (self.rate is None):
            raise ValueError("give exactly one of count and rate")
        return self


class InspectionPlan(Strict):
    """A whole plan, as published before the draw."""

    code: str = Field(pattern=CODE)
    title: str = Field(min_length=1, max_length=200)
    region: str = Field(default="", max_length=64)
    population: PopulationSpec
    sampling: SamplingRule
    inspectors: list[Inspector] = Field(min_length=1, max_length=1_000)
    inspectors_per_target: int = Field(default=2, ge=1, le=5)
    commitment: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the seed's text, published before the draw.",
    )

    @model_validator(mode="after")
    def _distinct(self) -> InspectionPlan:
        ids = [i.id for i in self.inspectors]
        if len(set(ids)) != len(ids):
            raise ValueError("inspector ids repeat")
        if self.population.end < self.population.start:
            raise ValueError("the period ends before it starts")
        return self
