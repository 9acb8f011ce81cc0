"""组卷蓝图: the blueprint a paper of one occupation and level is assembled from.

A blueprint is data (YAML or JSON, schema in ``schemas/json/blueprint.schema.json``): parts with
items and points per item type, items per knowledge area or per (area, type) cell, a difficulty
target with optional per-band counts (or a target test information curve), and the rules across
forms — how many forms, how many items any two may share, enemy sets, exposure, and the
multiple-choice partial-credit rule grading uses.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.enums import ItemType, Level

BAND_NAMES = ("easy", "medium", "hard")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TypeSpec(Strict):
    """How many questions of one type a part has, and what each is worth on the paper."""

    count: int = Field(ge=0)
    points: float = Field(gt=0, le=100)


class CellSpec(Strict):
    """A fixed number of questions of one type from one knowledge area (e.g. area 3, multiple: 2)."""

    area: str
    type: ItemType
    count: int = Field(ge=0)


class DifficultySpec(Strict):
    """Target mean difficulty (share answering wrongly) and, optionally, questions per band."""

    target: float | None = Field(default=None, ge=0, le=1)
    bands: dict[str, int] | None = None
    form_targets: list[float] | None = Field(
        default=None,
        description="A target mean difficulty per form, in form order (one per form); "
        "overrides target, e.g. an easier retake form.",
        examples=[[0.45, 0.45, 0.55]],
    )


class InformationSpec(Strict):
    """A target test information curve (item response theory): each form's information at the
    abilities ``theta`` — the sum over its questions of each item's information, from the item's
    calibrated parameters — should meet ``target`` (or each form its own row of
    ``form_targets``). With it the assembly minimises the largest relative deviation of a
    form's information from its target over the abilities, instead of balancing mean
    difficulty; only items calibrated in ``calibration`` (default: the newest calibration of
    the blueprint's occupation and level), in the very version the bank holds now, may go on a
    form. The standard error of an ability estimate at θ is about 1/√information."""

    theta: list[float] = Field(
        min_length=1,
        max_length=9,
        description="The abilities the curve is aimed at, increasing, between -4 and 4.",
        examples=[[-1.5, -0.5, 0.5, 1.5]],
    )
    target: list[float] | None = Field(
        default=None,
        description="The information every form should have at each ability (one per theta, "
        "each above 0).",
        examples=[[6.0, 9.0, 9.0, 6.0]],
    )
    form_targets: list[list[float]] | None = Field(
        default=None,
        description="A target curve per form, in form order (one row per form, one value per "
        "theta); instead of target.",
        examples=[[[6.0, 9.0, 9.0, 6.0], [4.0, 8.0, 10.0, 8.0]]],
    )
    calibration: int | None = Field(
        default=None,
        ge=1,
        description="The calibration run whose item parameters are used (certify irt "
        "calibrate); default: the newest of the blueprint's occupation and level.",
    )


class PartSpec(Strict):
    """One part of the exam: 理论知识 (theory) or 专业能力 (practical)."""

    part: str = Field(pattern=r"^[a-z][a-z0-9_]{0,15}$")
    title: str
    total_points: float = Field(gt=0)
    pass_mark: float = Field(ge=0)
    time_limit_minutes: int = Field(gt=0, le=600)
    types: dict[ItemType, TypeSpec]
    areas: dict[str, int] | None = None
    cells: list[CellSpec] = Field(default_factory=list)
    difficulty: DifficultySpec = DifficultySpec()

    @property
    def count(self) -> int:
        return sum(t.count for t in self.types.values())


class PartialCredit(StrEnum):
    """How a multiple-choice answer is scored."""

    ALL_OR_NOTHING = "all_or_nothing"  # only the exact key earns points
    SUBSET_PARTIAL = "subset_partial"  # exact key: full; a correct subset: a fraction; any wrong: 0


class MultipleChoiceRule(Strict):
    rule: PartialCredit = PartialCredit.SUBSET_PARTIAL
    partial_fraction: float = Field(default=0.5, ge=0, le=1)


class ExposureRule(Strict):
    """Items on the papers of the last ``recent_sittings`` sittings are kept off new forms."""

    recent_sittings: int = Field(default=0, ge=0)


class Blueprint(Strict):
    """A whole blueprint: what every parallel form must contain."""

    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    name: str
    occupation: str
    level: Level
    forms: int = Field(default=1, ge=1, le=100)
    seed: int = Field(default=1, ge=0)
    max_overlap: int | None = Field(default=None, ge=0)
    max_uses: int | None = Field(default=None, ge=1)
    enemies: list[list[str]] = Field(default_factory=list)
    exposure: ExposureRule = ExposureRule()
    difficulty_bands: tuple[float, float] = (0.3, 0.6)
    multiple_choice: MultipleChoiceRule = MultipleChoiceRule()
    instructions: list[str] = Field(default_factory=list)
    information: InformationSpec | None = None
    parts: list[PartSpec] = Field(min_length=1)

    @property
    def count(self) -> int:
        """Questions on one form."""
        return sum(p.count for p in self.parts)


def band_of(difficulty: float | None, edges: tuple[float, float]) -> str:
    """``easy`` below the first edge, ``hard`` from the second, ``medium`` between."""
    if difficulty is None:
        return "medium"
    if difficulty < edges[0]:
        return "easy"
    return "medium" if difficulty < edges[1] else "hard"
