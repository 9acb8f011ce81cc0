"""Browsing the bank a page at a time, an item's history and its differences, retiring and
restoring items, and the bank's counts — in a real database."""

from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from certify.infra.errors import ItemNotFound, Refused, ValidationFailed
from question_bank.bank import bank_items, bank_summary, import_bank, import_items, summarise
from question_bank.catalogue import (
    ItemSearch,
    diff_versions,
    item_history,
    restore_item,
    retire_item,
    search_items,
    text_runs,
)
from question_bank.formats import read_items, write_items
from question_bank.samples import sample_files
from question_bank.synth import synth_items
from schemas.enums import ItemStatus, ItemType, Level
from schemas.reference import get_occupation
from schemas.tables import AuditEntry
from tests.conftest import Database
from tests.helpers import item, snapshot


@pytest.fixture
def samples(database: Database) -> Database:
    for path in sample_files():
        import_bank(database.engine, path)
    return database


def test_a_page_is_cut_by_the_database_and_pages_never_overlap(samples: Database) -> None:
    everything = bank_items(samples.engine)
    seen: list[str] = []
    page = 1
    while True:
        found = search_items(samples.engine, ItemSearch(sort="type", per_page=37, page=page))
        assert found.total == len(everything)
        seen += [r.item_id for r in found.rows]
        if page >= found.pages:
            break
        page += 1
    assert len(seen) == len(set(seen)) == len(everything)


def test_sorting_either_way_with_ties_broken_by_item_id(samples: Database) -> None:
    up = search_items(samples.engine, ItemSearch(sort="points", per_page=200)).rows
    down = search_items(samples.engine, ItemSearch(sort="points", descending=True, per_page=200))
    assert [r.points for r in up] == sorted(r.points for r in up)
    assert [r.points for r in down.rows] == sorted((r.points for r in down.rows), reverse=True)
    same = [r.item_id for r in up if r.points == up[0].points]
    assert same == sorted(same)
    with pytest.raises(ValueError, match="sort must be"):
        search_items(samples.engine, ItemSearch(sort="stem; DROP TABLE item"))


def test_filters_combine(samples: Database) -> None:
    search = ItemSearch(
        occupation="ai",
        level=Level.JUNIOR,
        type=ItemType.SINGLE,
        knowledge_area="1",
        status=ItemStatus.READY,
        per_page=200,
    )
    found = search_items(samples.engine, search)
    expected = [
        i.item_id
        for i in bank_items(samples.engine, occupation="ai", level=Level.JUNIOR)
        if i.type is ItemType.SINGLE and i.knowledge_area == "1"
    ]
    assert sorted(r.item_id for r in found.rows) == sorted(expected) and found.total > 0


def test_text_is_found_in_ids_and_stems_and_wildcards_are_plain_characters(
    database: Database,
) -> None:
    items = [
        item(item_id="P-1", stem="完成率达到 100% 的任务"),
        item(item_id="P-2", stem="完成率达到 1000 的任务"),
        item(item_id="U_1", stem="下划线"),
        item(item_id="UX1", stem="没有下划线"),
    ]
    import_items(database.engine, "t", items)

    def ids(text: str) -> list[str]:
        return [r.item_id for r in search_items(database.engine, ItemSearch(text=text)).rows]

    assert ids("100%") == ["P-1"]
    assert ids("U_") == ["U_1"]
    assert ids("u_1") == ["U_1"]  # ids case-blind
    assert sorted(ids("下划线")) == ["UX1", "U_1"]
    assert ids("' OR 1=1 --") == []


def test_a_long_stem_is_cut_in_the_list(database: Database) -> None:
    import_items(database.engine, "t", [item(stem="长" * 500)])
    (row,) = search_items(database.engine, ItemSearch()).rows
    assert row.stem == "长" * 120 + "…"


def test_history_lists_every_version_and_the_diff_names_each_changed_column(
    database: Database, tmp_path: Path
) -> None:
    import_items(database.engine, "v1", [item()])
    import_items(database.engine, "v2", [item(stem="Python 中表示「空」的关键字是？", key="A")])
    history = item_history(database.engine, "T-001")
    assert [(v.version, v.status) for v in history.versions] == [
        (1, ItemStatus.RETIRED),
        (2, ItemStatus.READY),
    ]
    changes = diff_versions(history.version(1).data, history.version(2).data)
    assert [c.field for c in changes] == ["stem", "key", "status"]
    assert changes[1].runs == (("removed", "B"), ("added", "A"))
    with pytest.raises(ItemNotFound):
        history.version(3)
    with pytest.raises(ItemNotFound):
        item_history(database.engine, "NOPE")


def test_text_runs_rebuild_both_texts() -> None:
    old, new = "监督学习的评价曲线", "无监督学习的聚类曲线"
    runs = text_runs(old, new)
    assert "".join(t for k, t in runs if k != "added") == old
    assert "".join(t for k, t in runs if k != "removed") == new


def test_retire_and_restore_are_audited_and_refused_when_pointless(database: Database) -> None:
    import_items(database.engine, "t", [item()])
    changed = retire_item(database.engine, "T-001", "题干有歧义", actor="web:admin")
    assert (changed.before, changed.after) == (ItemStatus.READY, ItemStatus.RETIRED)
    assert bank_items(database.engine)[0].status is ItemStatus.RETIRED
    before = snapshot(database.engine)
    with pytest.raises(Refused, match="retired already"):
        retire_item(database.engine, "T-001", "again", actor="web:admin")
    with pytest.raises(Refused, match="give a reason"):
        restore_item(database.engine, "T-001", "  ", actor="web:admin")
    with pytest.raises(Refused, match="at most 500"):
        restore_item(database.engine, "T-001", "x" * 501, actor="web:admin")
    with pytest.raises(ItemNotFound):
        retire_item(database.engine, "NOPE", "x", actor="web:admin")
    assert snapshot(database.engine) == before
    restore_item(database.engine, "T-001", "已修订", actor="web:admin")
    assert bank_items(database.engine)[0].status is ItemStatus.READY
    with pytest.raises(Refused, match="not retired"):
        restore_item(database.engine, "T-001", "x", actor="web:admin")
    with Session(database.engine) as session:
        entries = session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.action).in_(["bank.retire", "bank.restore"]))
            .order_by(col(AuditEntry.id))
        ).all()
    assert [(e.action, e.actor, e.subject, e.detail["reason"]) for e in entries] == [
        ("bank.retire", "web:admin", "T-001", "题干有歧义"),
        ("bank.restore", "web:admin", "T-001", "已修订"),
    ]


def test_the_counted_summary_equals_the_summary_of_the_items(samples: Database) -> None:
    extra = list(synth_items(get_occupation("ai"), Level.SENIOR, 300, 3))
    import_items(samples.engine, "synth", extra)
    retire_item(samples.engine, extra[0].item_id, "x", actor="t")
    assert bank_summary(samples.engine) == summarise(bank_items(samples.engine))
    assert bank_summary(samples.engine)[0].occupation == "ai"


def test_a_refused_file_still_writes_its_rejects_when_asked(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "bank.csv"
    write_items(path, [item(item_id="T-001"), item(item_id="T-002")])
    text = path.read_text("utf-8-sig").replace("T-002,ai,junior", "T-002,ai,expert")
    path.write_text(text, "utf-8-sig")
    before = snapshot(database.engine)
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(ValidationFailed) as refused:
        import_bank(database.engine, path, rejects_path=rejects)
    assert refused.value.rejects_file == rejects
    assert snapshot(database.engine) == before
    (row,) = read_items(rejects)
    assert row.values["item_id"] == "T-002" and row.row == 2
