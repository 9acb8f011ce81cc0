"""合成题库: a seeded generator of clearly synthetic items for benchmarks and scale tests.

Synthetic items are marked three ways: the id starts with ``SYN-``, the stem with ``[合成]``, and
every item carries the tag ``synthetic``. They never belong in a real exam.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from schemas.enums import ItemType, Level
from schemas.items import ItemData
from schemas.notation import OPTION_LETTERS
from schemas.reference import Occupation

TYPE_MIX: dict[ItemType, float] = {
    ItemType.SINGLE: 0.4,
    ItemType.MULTIPLE: 0.2,
    ItemType.TRUE_FALSE: 0.15,
    ItemType.FILL: 0.1,
    ItemType.MATCHING: 0.05,
    ItemType.SUBJECTIVE: 0.1,
}
POINTS: dict[ItemType, float] = {
    ItemType.SINGLE: 1,
    ItemType.MULTIPLE: 2,
    ItemType.TRUE_FALSE: 1,
    ItemType.FILL: 2,
    ItemType.MATCHING: 3,
    ItemType.SUBJECTIVE: 10,
}
SYNTHETIC_TAG = "synthetic"


def synth_items(occ: Occupation, level: Level, count: int, seed: int) -> Iterator[ItemData]:
    """``count`` synthetic items for one occupation and level, the same for the same seed.

    Knowledge areas follow the level's weights and item types :data:`TYPE_MIX`; difficulty is
    drawn from Beta(2, 2), so most items are of middling difficulty and a few are extreme.
    """
    rng = random.Random(f"{occ.slug}/{level.value}/{seed}")
    areas = occ.areas_at(level)
    weights = [a.weight(level) for a in areas]
    types, mix = list(TYPE_MIX), list(TYPE_MIX.values())
    prefix = f"SYN-{occ.slug.upper()}-{level.value[0].upper()}{seed}"
    for n in range(1, count + 1):
        area = rng.choices(areas, weights)[0]
        item_type = rng.choices(types, mix)[0]
        yield _item(
            rng, occ, level, f"{prefix}-{n:06d}", n, area.code, area.name_zh, item_type, seed
        )


def _item(
    rng: random.Random,
    occ: Occupation,
    level: Level,
    item_id: str,
    n: int,
    area: str,
    area_name: str,
    item_type: ItemType,
    seed: int,
) -> ItemData:
    stem = f"[合成] 第 {n} 题：{occ.short_zh}·{area_name}（合成题，仅供测试）"
    options: dict[str, str] = {}
    premises: list[str] = []
    rubric = ""
    if item_type is ItemType.SINGLE:
        options = {c: f"合成选项 {c}{n}" for c in OPTION_LETTERS[:4]}
        key = rng.choice("ABCD")
    elif item_type is ItemType.MULTIPLE:
        width = rng.choice((4, 5))
        options = {c: f"合成选项 {c}{n}" for c in OPTION_LETTERS[:width]}
        key = "".join(sorted(rng.sample(OPTION_LETTERS[:width], rng.randint(2, width - 1))))
    elif item_type is ItemType.TRUE_FALSE:
        key = rng.choice("TF")
    elif item_type is ItemType.FILL:
        stem += "：______"
        key = f"答案{n}|答{n}"
    elif item_type is ItemType.MATCHING:
        width = rng.choice((3, 4, 5))
        options = {c: f"合成选项 {c}{n}" for c in OPTION_LETTERS[:width]}
        premises = [f"合成题项 {k}-{n}" for k in range(1, rng.randint(2, width) + 1)]
        key = "".join(rng.choice(OPTION_LETTERS[:width]) for _ in premises)
    else:
        key = f"合成参考答案 {n}"
        rubric = "1. 要点一（5分）；2. 要点二（5分）"
    return ItemData(
        item_id=item_id,
        occupation=occ.slug,
        level=level,
        type=item_type,
        knowledge_area=area,
        stem=stem,
        options=options,
        premises=premises,
        key=key,
        points=POINTS[item_type],
        difficulty=round(rng.betavariate(2, 2), 2),
        source=f"synthetic: certify bank synth --seed {seed}",
        tags=[SYNTHETIC_TAG],
        rubric=rubric,
    )
