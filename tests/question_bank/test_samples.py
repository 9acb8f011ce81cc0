"""The shipped sample bank: real Chinese questions covering every area and type it claims."""

from collections import Counter, defaultdict

from question_bank.formats import read_items
from question_bank.samples import sample_files
from question_bank.validate import validate_rows
from schemas.enums import ItemType, Level
from schemas.items import ItemData
from schemas.reference import get_occupation


def _sample_items() -> list[ItemData]:
    items = []
    for path in sample_files():
        checked = validate_rows(path.name, read_items(path))
        assert checked.problems == [], checked.problems[:5]
        items += [i for _, i in checked.items]
    return items


def _groups() -> dict[tuple[str, Level], list[ItemData]]:
    groups: dict[tuple[str, Level], list[ItemData]] = defaultdict(list)
    for item in _sample_items():
        groups[(item.occupation, item.level)].append(item)
    return groups


def test_at_least_three_occupations_at_every_level_with_sixty_items_each() -> None:
    groups = _groups()
    occupations = {occ for occ, _ in groups}
    assert len(occupations) >= 3
    for occ in occupations:
        for level in Level:
            assert len(groups[(occ, level)]) >= 60, (occ, level)


def test_every_examined_knowledge_area_and_every_type_is_covered() -> None:
    for (slug, level), items in _groups().items():
        areas = Counter(i.knowledge_area for i in items)
        for area in get_occupation(slug).areas_at(level):
            assert areas[area.code] >= 2, (slug, level, area.code)
        assert {i.type for i in items} == set(ItemType), (slug, level)


def test_item_ids_are_unique_across_the_sample_bank() -> None:
    ids = [i.item_id for i in _sample_items()]
    assert len(ids) == len(set(ids))


def test_stems_are_chinese_and_not_repeated() -> None:
    items = _sample_items()
    assert len({i.stem for i in items}) == len(items)
    for item in items:
        assert sum("\u4e00" <= c <= "\u9fff" for c in item.stem) >= 4, item.item_id


def test_single_choice_keys_are_spread_over_the_options() -> None:
    for (slug, level), items in _groups().items():
        keys = Counter(i.key for i in items if i.type is ItemType.SINGLE)
        assert len(keys) == 4 and max(keys.values()) <= 0.5 * sum(keys.values()), (
            slug,
            level,
            keys,
        )
