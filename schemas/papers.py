"""Papers as people see them: a form (or one candidate's shuffled copy) ready to print or score.

These are data models only; ``question_bank.papers`` builds them from the database and
``question_bank.render`` prints them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas.enums import ItemType, Level


class PaperQuestion(BaseModel):
    """One question at its printed number; ``options``/``key`` are in the printed letters."""

    model_config = ConfigDict(frozen=True)

    number: int
    part: str
    type: ItemType
    item_id: str
    item_version: int
    item_version_pk: int
    knowledge_area: str
    stem: str
    options: dict[str, str]
    premises: list[str] = []
    """A matching item's premises, in the bank's order (never shuffled: the options are)."""
    key: str
    points: float
    difficulty: float | None = None
    rubric: str = ""
    option_map: dict[str, str] = {}
    """Printed letter -> canonical letter; identity for a form, a permutation for a candidate."""


class PaperPart(BaseModel):
    """One part: 理论知识 or 专业能力, with its questions in printed order."""

    model_config = ConfigDict(frozen=True)

    part: str
    title: str
    total_points: float
    pass_mark: float
    time_limit_minutes: int
    questions: list[PaperQuestion]


class PaperView(BaseModel):
    """A whole paper: one form of a blueprint, or a candidate's shuffled copy of it."""

    model_config = ConfigDict(frozen=True)

    code: str
    blueprint_code: str
    title: str
    occupation: str
    occupation_name: str
    level: Level
    level_name: str
    form: str
    seed: int
    instructions: list[str]
    parts: list[PaperPart]
    candidate_seed: int | None = None
    candidate_label: str = ""

    @property
    def questions(self) -> list[PaperQuestion]:
        return [q for part in self.parts for q in part.questions]
