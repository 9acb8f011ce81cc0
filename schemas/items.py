"""Question-bank item shapes: the canonical item of the import/export formats.

``ItemData`` is what a row of an item file means once validated; the table models in
``schemas.tables`` store it as an item entry with versions.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Field, SQLModel

from schemas.enums import ItemStatus, ItemType, Level
from schemas.notation import ALTERNATIVE_SEPARATOR, LIST_SEPARATOR

CONTENT_FIELDS = (
    "type",
    "knowledge_area",
    "stem",
    "options",
    "key",
    "points",
    "difficulty",
    "source",
    "tags",
    "rubric",
)
"""Fields whose change makes a new item version (status changes do not); a matching item's
``premises`` too (kept out of every other item's content, so their hashes stay as they were)."""


class ItemData(SQLModel):
    """One item as an institution writes it in a bank file (题目)."""

    item_id: str = Field(description="Institution's stable identifier of the item (题目编号)")
    occupation: str = Field(description="Occupation slug, e.g. 'ai'")
    level: Level
    type: ItemType
    knowledge_area: str = Field(description="Knowledge-area code of the occupation, e.g. '3'")
    stem: str = Field(description="题干")
    options: dict[str, str] = Field(default_factory=dict, description="Letter -> option text")
    premises: list[str] = Field(
        default_factory=list,
        description="A matching item's premises, numbered from 1; each is matched to an option",
    )
    key: str = Field(description="Canonical key; see docs/bank-format.md")
    points: float = Field(gt=0, description="分值; for subjective items the maximum mark")
    difficulty: float | None = Field(default=None, ge=0, le=1)
    source: str = ""
    tags: list[str] = Field(default_factory=list)
    rubric: str = ""
    status: ItemStatus = ItemStatus.READY

    def content(self) -> dict[str, Any]:
        """The fields that define one version of the item."""
        data = self.model_dump(mode="json")
        content = {name: data[name] for name in CONTENT_FIELDS}
        if self.premises:
            content["premises"] = list(self.premises)
        return content

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`content`; equal content, equal hash."""
        text = json.dumps(self.content(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def fill_blanks(self) -> list[list[str]]:
        """For a fill-in item: per blank, the accepted answers."""
        return [blank.split(ALTERNATIVE_SEPARATOR) for blank in self.key.split(LIST_SEPARATOR)]
