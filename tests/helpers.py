"""Small builders shared by tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, SQLModel

from schemas.enums import ItemType, Level
from schemas.items import ItemData
from schemas.papers import PaperPart, PaperQuestion, PaperView


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


CODES = {"测试评价机构": "SD-EVAL-01"}
"""The codes tests' institutions go by (the issuer their keys carry), where one is needed;
any other institution gets one made from its name."""


def institution(
    engine: Engine,
    name: str,
    *,
    code: str | None = None,
    region: str = "",
    kinds: tuple[str, ...] = ("level", "training"),
    occupations: tuple[str, ...] | None = None,
) -> str:
    """An institution named ``name`` (unless it exists), authorised from 2000-01-01 with no end
    for every level of ``occupations`` (default: every occupation of the programme) in each of
    ``kinds``; returns its name."""
    import hashlib
    from datetime import date

    from certify.institutions.registry import add_institution, authorise, find
    from schemas.reference import occupations as programme

    code = code or CODES.get(name) or "T" + hashlib.sha256(name.encode()).hexdigest()[:10]
    with Session(engine) as session:
        found = find(session, name)
        if found is not None:
            assert found.code == code, f"{name} is {found.code}, not {code}"
            return name
    made = add_institution(engine, code, name, region=region)
    for kind in kinds:
        authorise(
            engine,
            made.code,
            kind=kind,
            occupations=occupations or tuple(o.slug for o in programme()),
            levels=tuple(lv.value for lv in Level),
            valid_from=date(2000, 1, 1),
        )
    return name


def table_counts(engine: Engine) -> dict[str, int]:
    """Row count of every table: two equal snapshots mean nothing was written."""
    with Session(engine) as session:
        return {
            t.name: session.execute(select(func.count()).select_from(t)).scalar_one()
            for t in SQLModel.metadata.sorted_tables
        }


def snapshot(engine: Engine, *, but: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but those named), for exact before/after comparisons; a web
    upload refused leaves its import job behind (``but=("job",)``), the record of the try."""
    with Session(engine) as session:
        return {
            t.name: [tuple(r) for r in session.execute(select(t).order_by(*t.primary_key.columns))]
            for t in SQLModel.metadata.sorted_tables
            if t.name not in but
        }


def _question(n: int, part: str, item_type: ItemType) -> PaperQuestion:
    options = {c: f"选项{c}{n}" for c in "ABCDE"[: 4 + n % 2]} if item_type.has_options else {}
    key = {"single": "C", "multiple": "ABD", "true_false": "T", "fill": "答案", "subjective": ""}[
        item_type.value
    ]
    return PaperQuestion(
        number=n,
        part=part,
        type=item_type,
        item_id=f"Q-{n}",
        item_version=1,
        item_version_pk=100 + n,
        knowledge_area="2",
        stem=f"第 {n} 题",
        options=options,
        key=key,
        points=2,
        option_map={c: c for c in options},
    )


def paper() -> PaperView:
    """A hand-made two-part paper: 15 theory questions of four types, 3 practical."""
    types = (
        [ItemType.SINGLE] * 6
        + [ItemType.MULTIPLE] * 4
        + [ItemType.TRUE_FALSE] * 3
        + [ItemType.FILL] * 2
    )
    theory = [_question(n, "theory", t) for n, t in enumerate(types, start=1)]
    practical = [_question(n, "practical", ItemType.SUBJECTIVE) for n in range(16, 19)]
    return PaperView(
        code="P-1A",
        blueprint_code="P",
        title="样卷",
        occupation="ai",
        occupation_name="人工智能工程技术人员",
        level=Level.JUNIOR,
        level_name="初级",
        form="A",
        seed=1,
        instructions=[],
        parts=[
            PaperPart(
                part="theory",
                title="理论知识",
                total_points=30,
                pass_mark=18,
                time_limit_minutes=60,
                questions=theory,
            ),
            PaperPart(
                part="practical",
                title="专业能力",
                total_points=6,
                pass_mark=4,
                time_limit_minutes=60,
                questions=practical,
            ),
        ],
    )
