"""Invariants of the bank files: round trips, all-or-nothing imports, idempotence."""

from __future__ import annotations

import csv
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certify.infra.errors import ValidationFailed
from certify.infra.tabular import FORMULA_STARTS
from question_bank.bank import bank_items, export_bank, import_bank
from question_bank.columns import COLUMNS
from question_bank.formats import item_row, write_items
from schemas.enums import ItemType
from schemas.items import ItemData
from tests.conftest import Database
from tests.helpers import snapshot
from tests.question_bank.strategies import banks

DB_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
@DB_SETTINGS
@given(bank=banks())
def test_any_valid_bank_imports_and_exports_back_identically(
    database: Database, fmt: str, bank: list[ItemData]
) -> None:
    database.reset()
    with TemporaryDirectory() as tmp:
        source = Path(tmp) / f"in.{fmt}"
        write_items(source, bank)
        import_bank(database.engine, source)
        stored = bank_items(database.engine)
        assert sorted(stored, key=lambda i: i.item_id) == sorted(bank, key=lambda i: i.item_id)
        ordered = Path(tmp) / f"ordered.{fmt}"
        write_items(ordered, stored)
        exported = Path(tmp) / f"out.{fmt}"
        export_bank(database.engine, exported)
        if fmt != "xlsx":
            assert exported.read_bytes() == ordered.read_bytes()


CORRUPTIONS = {
    "item_id": "坏 编号",
    "occupation": "人工智能训练师",
    "level": "五级",
    "type": "排序题",
    "knowledge_area": "99",
    "stem": "",
    "points": "0",
    "difficulty": "1.5",
    "status": "published",
    "key": "Z",
}


def _corruptible(item: ItemData) -> list[str]:
    fields = list(CORRUPTIONS)
    if item.type in (ItemType.SUBJECTIVE, ItemType.FILL):
        fields.remove("key")  # any text is a valid reference answer; "Z" a valid blank
    return fields


@DB_SETTINGS
@given(bank=banks(min_size=2), data=st.data())
def test_any_single_corrupted_field_is_reported_and_changes_nothing(
    database: Database, bank: list[ItemData], data: st.DataObject
) -> None:
    database.reset()
    with TemporaryDirectory() as tmp:
        first = Path(tmp) / "first.json"
        write_items(first, bank[:1])
        import_bank(database.engine, first)
        before = snapshot(database.engine)
        index = data.draw(st.integers(0, len(bank) - 1), label="row")
        field = data.draw(st.sampled_from(_corruptible(bank[index])), label="field")
        rows = [item_row(i) for i in bank]
        rows[index][COLUMNS.index(field)] = CORRUPTIONS[field]
        path = Path(tmp) / "bank.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(rows)
        with pytest.raises(ValidationFailed) as err:
            import_bank(database.engine, path)
        assert (index + 2, field) in {(p.row, p.field) for p in err.value.problems}
        assert {p.row for p in err.value.problems} == {index + 2}
        assert snapshot(database.engine) == before


@DB_SETTINGS
@given(bank=banks())
def test_import_is_idempotent(database: Database, bank: list[ItemData]) -> None:
    database.reset()
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "bank.json"
        write_items(path, bank)
        import_bank(database.engine, path)
        once = snapshot(database.engine)
        report = import_bank(database.engine, path)
        assert report.unchanged == len(bank) and not report.changed
        assert snapshot(database.engine) == once


FORMULA_LIKE = st.sampled_from(["=", "+", "-", "@", "'", "'=", "''-", '=HYPERLINK("http://x")&'])


@st.composite
def formula_banks(draw: st.DrawFn) -> list[ItemData]:
    """Valid banks whose free text starts like a spreadsheet formula, or with apostrophes."""
    found = []
    for item in draw(banks()):
        data = item.model_dump()
        data["stem"] = draw(FORMULA_LIKE) + item.stem
        data["options"] = {k: draw(FORMULA_LIKE) + v for k, v in item.options.items()}
        data["tags"] = [draw(FORMULA_LIKE) + t for t in item.tags]
        data["source"] = draw(FORMULA_LIKE) + item.source if item.source else ""
        if item.type is ItemType.SUBJECTIVE:
            data["rubric"] = draw(FORMULA_LIKE) + item.rubric
            data["key"] = draw(FORMULA_LIKE) + item.key if item.key else ""
        found.append(ItemData(**data))
    return found


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@DB_SETTINGS
@given(bank=formula_banks())
def test_text_that_looks_like_a_formula_is_exported_as_text_and_imports_back_the_same(
    database: Database, fmt: str, bank: list[ItemData]
) -> None:
    database.reset()
    with TemporaryDirectory() as tmp:
        source = Path(tmp) / f"in.{fmt}"
        write_items(source, bank)
        if fmt == "csv":  # what Excel would open: no cell starts a formula
            with source.open(encoding="utf-8-sig", newline="") as fh:
                cells = [c for row in csv.reader(fh) for c in row]
            assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
        import_bank(database.engine, source)
        stored = bank_items(database.engine)
        assert sorted(stored, key=lambda i: i.item_id) == sorted(bank, key=lambda i: i.item_id)
        exported = Path(tmp) / f"out.{fmt}"
        export_bank(database.engine, exported)
        report = import_bank(database.engine, exported)
        assert report.unchanged == len(bank) and not report.changed
