"""Small builders shared by tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, SQLModel

from schemas.enums import ItemType, Level
from schemas.items import ItemData


def item(**overrides: Any) -> ItemData:
    """A valid single-choice item of ai/junior; fields overridden by keyword."""
    fields: dict[str, Any] = {
        "item_id": "T-001",
        "occupation": "ai",
        "level": Level.JUNIOR,
        "type": ItemType.SINGLE,
        "knowledge_area": "2",
        "stem": "Python 中表示空值的关键字是？",
        "options": {"A": "null", "B": "None", "C": "nil", "D": "undefined"},
        "key": "B",
        "points": 1,
        "difficulty": 0.2,
        "source": "测试",
        "tags": ["Python"],
    }
    fields.update(overrides)
    return ItemData(**fields)


def table_counts(engine: Engine) -> dict[str, int]:
    """Row count of every table: two equal snapshots mean nothing was written."""
    with Session(engine) as session:
        return {
            t.name: session.execute(select(func.count()).select_from(t)).scalar_one()
            for t in SQLModel.metadata.sorted_tables
        }


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for exact before/after comparisons."""
    with Session(engine) as session:
        return {
            t.name: [tuple(r) for r in session.execute(select(t).order_by(*t.primary_key.columns))]
            for t in SQLModel.metadata.sorted_tables
        }
