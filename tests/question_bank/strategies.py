"""Hypothesis strategies for valid items and banks of every occupation, level and type."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from schemas.enums import ItemStatus, ItemType, Level
from schemas.items import ItemData
from schemas.notation import OPTION_LETTERS
from schemas.reference import occupations

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="_;|±")
PUNCT = st.sampled_from("，。？！：；、（）《》“”—…　")
CHAR = st.one_of(CJK, ASCII, PUNCT)


def line(max_size: int = 30, exclude: str = "") -> st.SearchStrategy[str]:
    chars = CHAR.filter(lambda c: c not in exclude) if exclude else CHAR
    return st.text(chars, min_size=1, max_size=max_size).map(str.strip).filter(bool)


def multiline(max_size: int = 60) -> st.SearchStrategy[str]:
    return st.lists(line(max_size // 2), min_size=1, max_size=3).map("\n".join)


ITEM_ID = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)


@st.composite
def items(draw: st.DrawFn, item_id: str | None = None) -> ItemData:
    occ = draw(st.sampled_from(occupations()))
    level = draw(st.sampled_from(list(Level)))
    area = draw(st.sampled_from(occ.areas_at(level)))
    item_type = draw(st.sampled_from(list(ItemType)))
    stem = draw(multiline())
    options: dict[str, str] = {}
    premises: list[str] = []
    rubric = ""
    if item_type is ItemType.SINGLE:
        width = draw(st.integers(2, 8))
        options = {c: draw(multiline(20)) for c in OPTION_LETTERS[:width]}
        key = draw(st.sampled_from(OPTION_LETTERS[:width]))
    elif item_type is ItemType.MULTIPLE:
        width = draw(st.integers(3, 8))
        options = {c: draw(multiline(20)) for c in OPTION_LETTERS[:width]}
        key = "".join(sorted(draw(st.sets(st.sampled_from(OPTION_LETTERS[:width]), min_size=2))))
    elif item_type is ItemType.TRUE_FALSE:
        key = draw(st.sampled_from("TF"))
    elif item_type is ItemType.FILL:
        blanks = draw(st.lists(st.lists(line(8), min_size=1, max_size=3), min_size=1, max_size=3))
        stem += "".join(" ______ " for _ in blanks).rstrip()
        key = ";".join("|".join(b) for b in blanks)
    elif item_type is ItemType.MATCHING:
        width = draw(st.integers(2, 8))
        options = {c: draw(multiline(20)) for c in OPTION_LETTERS[:width]}
        premises = draw(st.lists(multiline(20), min_size=2, max_size=8))
        key = "".join(draw(st.sampled_from(OPTION_LETTERS[:width])) for _ in premises)
    else:
        key = draw(st.one_of(st.just(""), multiline()))
        rubric = draw(multiline())
    fields: dict[str, Any] = {
        "item_id": item_id or draw(ITEM_ID),
        "occupation": occ.slug,
        "level": level,
        "type": item_type,
        "knowledge_area": area.code,
        "stem": stem,
        "options": options,
        "premises": premises,
        "key": key,
        "points": draw(st.integers(1, 10_000)) / 100,
        "difficulty": draw(st.one_of(st.none(), st.integers(0, 100).map(lambda n: n / 100))),
        "source": draw(st.one_of(st.just(""), line())),
        "tags": draw(st.lists(line(10), max_size=3)),
        "rubric": rubric,
        "status": draw(st.sampled_from(list(ItemStatus))),
    }
    return ItemData(**fields)


@st.composite
def banks(draw: st.DrawFn, min_size: int = 1, max_size: int = 8) -> list[ItemData]:
    ids = draw(st.lists(ITEM_ID, min_size=min_size, max_size=max_size, unique_by=str.casefold))
    return [draw(items(item_id=i)) for i in ids]
