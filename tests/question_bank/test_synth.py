from pathlib import Path

from question_bank.formats import read_items, write_items
from question_bank.synth import SYNTHETIC_TAG, synth_items
from question_bank.validate import validate_rows
from schemas.enums import ItemType, Level
from schemas.reference import get_occupation


def test_same_seed_same_items_other_seed_other_items() -> None:
    occ = get_occupation("ai")
    a = list(synth_items(occ, Level.SENIOR, 200, seed=1))
    assert a == list(synth_items(occ, Level.SENIOR, 200, seed=1))
    assert a != list(synth_items(occ, Level.SENIOR, 200, seed=2))


def test_synthetic_items_are_marked_and_valid(tmp_path: Path) -> None:
    items = list(synth_items(get_occupation("bigdata"), Level.JUNIOR, 500, seed=3))
    assert all(
        i.item_id.startswith("SYN-") and i.stem.startswith("[合成]") and SYNTHETIC_TAG in i.tags
        for i in items
    )
    path = tmp_path / "synth.csv"
    write_items(path, items)
    checked = validate_rows(str(path), read_items(path))
    assert checked.problems == [] and len(checked.items) == 500


def test_synthetic_areas_follow_the_level_weights_and_every_type_appears() -> None:
    occ = get_occupation("cloud")
    items = list(synth_items(occ, Level.JUNIOR, 5000, seed=9))
    examined = {a.code for a in occ.areas_at(Level.JUNIOR)}
    assert {i.knowledge_area for i in items} == examined
    share = sum(i.knowledge_area == "2" for i in items) / len(items)
    assert abs(share - occ.area("2").weight(Level.JUNIOR) / 100) < 0.03
    assert {i.type for i in items} == set(ItemType)
