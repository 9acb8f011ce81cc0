"""Importing into a real database: all or nothing, idempotent, versioned."""

import csv
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from certify.infra.errors import ValidationFailed
from question_bank.bank import bank_items, export_bank, import_bank
from question_bank.formats import write_items
from schemas.enums import ItemStatus
from schemas.tables import AuditEntry, ItemVersion
from tests.conftest import Database
from tests.helpers import item, snapshot


def _bank(tmp_path: Path, name: str = "bank.csv", **changes: object) -> Path:
    path = tmp_path / name
    items = [item(item_id=f"T-{n:03d}", **changes) for n in range(1, 4)]
    write_items(path, items)
    return path


def test_import_then_reimport_changes_nothing(database: Database, tmp_path: Path) -> None:
    path = _bank(tmp_path)
    first = import_bank(database.engine, path)
    assert (first.created, first.unchanged) == (3, 0)
    before = snapshot(database.engine)
    again = import_bank(database.engine, path)
    assert (again.created, again.new_versions, again.unchanged) == (0, 0, 3)
    assert snapshot(database.engine) == before


def test_changed_content_becomes_a_new_version_and_retires_the_old(
    database: Database, tmp_path: Path
) -> None:
    import_bank(database.engine, _bank(tmp_path))
    report = import_bank(
        database.engine, _bank(tmp_path, "v2.csv", key="A", options={"A": "None", "B": "null"})
    )
    assert report.new_versions == 3
    with Session(database.engine) as session:
        versions = session.exec(
            select(ItemVersion).order_by(col(ItemVersion.item_id), col(ItemVersion.version))
        ).all()
    assert [(v.version, v.status) for v in versions[:2]] == [(1, "retired"), (2, "ready")]
    assert all(i.key == "A" for i in bank_items(database.engine))


def test_a_status_change_is_not_a_new_version(database: Database, tmp_path: Path) -> None:
    import_bank(database.engine, _bank(tmp_path))
    report = import_bank(database.engine, _bank(tmp_path, "retire.csv", status=ItemStatus.RETIRED))
    assert (report.status_changed, report.new_versions) == (3, 0)
    assert {i.status for i in bank_items(database.engine)} == {ItemStatus.RETIRED}


def test_one_bad_row_imports_nothing_and_names_row_and_field(
    database: Database, tmp_path: Path
) -> None:
    import_bank(database.engine, _bank(tmp_path))
    path = tmp_path / "bad.csv"
    write_items(path, [item(item_id="N-1", stem="新题"), item(item_id="N-2")])
    text = path.read_text(encoding="utf-8-sig").replace(
        ",B,1,", ",E,1,"
    )  # a key not among the options
    path.write_text(text, encoding="utf-8-sig")
    before = snapshot(database.engine)
    with pytest.raises(ValidationFailed) as err:
        import_bank(database.engine, path)
    assert [(p.row, p.field, p.code) for p in err.value.problems] == [
        (2, "key", "key_not_option"),
        (3, "key", "key_not_option"),
    ]
    assert "nothing was imported" in err.value.diagnostics()
    assert snapshot(database.engine) == before


def test_skip_invalid_imports_good_rows_and_writes_rejects_that_import_once_fixed(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    write_items(path, [item(item_id="G-1"), item(item_id="B-2", points=5), item(item_id="G-3")])
    path.write_text(
        path.read_text(encoding="utf-8-sig").replace("B-2,ai,junior", "B-2,ai,五级"),
        encoding="utf-8-sig",
    )
    report = import_bank(database.engine, path, skip_invalid=True)
    assert (report.created, report.rejected_rows) == (2, 1)
    assert report.rejects_file == tmp_path / "mixed.csv.rejected.csv"
    with report.rejects_file.open(encoding="utf-8-sig", newline="") as fh:
        [row] = list(csv.DictReader(fh))
    assert row["_row"] == "3" and "level" in row["_reason_en"] and row["item_id"] == "B-2"
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(
        report.rejects_file.read_text(encoding="utf-8-sig").replace("五级", "初级"),
        encoding="utf-8-sig",
    )
    assert import_bank(database.engine, fixed).created == 1


def test_an_item_cannot_move_to_another_occupation(database: Database, tmp_path: Path) -> None:
    import_bank(database.engine, _bank(tmp_path))
    with pytest.raises(ValidationFailed) as err:
        import_bank(database.engine, _bank(tmp_path, "moved.csv", occupation="bigdata"))
    assert {p.code for p in err.value.problems} == {"item_moved"}


def test_imports_that_change_the_bank_are_audited(database: Database, tmp_path: Path) -> None:
    path = _bank(tmp_path)
    import_bank(database.engine, path, actor="考务老师")
    import_bank(database.engine, path)
    with Session(database.engine) as session:
        entries = session.exec(select(AuditEntry)).all()
    assert [(e.actor, e.action, e.detail["created"]) for e in entries] == [
        ("考务老师", "bank.import", 3)
    ]


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "json"])
def test_export_round_trips_through_a_fresh_database(
    database: Database, tmp_path: Path, suffix: str
) -> None:
    import_bank(database.engine, _bank(tmp_path, stem="=SUM(A1:A2) 不是公式\n第二行"))
    out = tmp_path / f"export.{suffix}"
    export_bank(database.engine, out)
    database.reset()
    import_bank(database.engine, out)
    assert [i.stem for i in bank_items(database.engine)] == ["=SUM(A1:A2) 不是公式\n第二行"] * 3
    again = tmp_path / f"again.{suffix}"
    export_bank(database.engine, again)
    if suffix != "xlsx":  # a workbook embeds its creation time
        assert again.read_bytes() == out.read_bytes()


def test_two_imports_racing_for_the_same_items_leave_one_whole_and_a_clear_error(
    database: Database, tmp_path: Path
) -> None:
    """The loser of a race on the same item ids rolls back whole and says to run again."""
    import threading

    from certify.infra.errors import DatabaseError
    from question_bank import bank

    path = _bank(tmp_path)
    barrier = threading.Barrier(2, timeout=30)
    original = bank._latest_versions

    def synchronised(session, codes):  # type: ignore[no-untyped-def]
        found = original(session, codes)
        barrier.wait()  # both importers have looked and found nothing before either writes
        return found

    outcomes: list[object] = []

    def run() -> None:
        try:
            outcomes.append(import_bank(database.engine, path))
        except DatabaseError as exc:
            outcomes.append(exc)

    bank._latest_versions = synchronised  # type: ignore[assignment]
    try:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        bank._latest_versions = original  # type: ignore[assignment]
    errors = [o for o in outcomes if isinstance(o, DatabaseError)]
    assert len(outcomes) == 2 and len(errors) == 1
    assert "run it again" in errors[0].diagnostics()
    assert len(bank_items(database.engine)) == 3


@pytest.mark.parametrize(("progress", "shown"), [(True, True), (False, False), (None, False)])
def test_the_progress_bar_shows_when_asked_and_on_a_terminal_only(
    database: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    progress: bool | None,
    shown: bool,
) -> None:
    """``progress=None`` (what the CLI passes) shows the bar when stderr is a terminal; under
    capture it is not one, so only ``True`` draws."""
    import_bank(database.engine, _bank(tmp_path), progress=progress)
    assert ("导入 import" in capsys.readouterr().err) is shown


def test_the_cli_passes_a_bar_that_a_terminal_shows(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal, ``progress=None`` draws (it used to be read as "never")."""
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    import_bank(database.engine, _bank(tmp_path), progress=None)
    assert "导入 import" in err.getvalue()
