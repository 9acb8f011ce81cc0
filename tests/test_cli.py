"""The ``certify`` command, driven through click's runner against real databases."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

from click.testing import CliRunner

from certify.infra import db
from cli import cli
from question_bank.formats import write_items
from tests.conftest import Database
from tests.helpers import item, snapshot


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_init_creates_the_default_sqlite_file_here(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("init")
    assert code == 0 and (tmp_path / "certify.db").exists() and "database ready" in out
    code, out, _ = run("db", "current")
    assert code == 0 and f"current: {db.head_revision()}" in out


def test_commands_refuse_an_uninitialised_database_without_a_traceback(tmp_path: Path) -> None:
    code, _, err = run("--db", f"sqlite:///{tmp_path / 'x.db'}", "bank", "summary")
    assert code == 1 and "certify init" in err and "Traceback" not in err


def test_import_reports_every_bad_row_and_exits_non_zero(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    write_items(path, [item(item_id="A-1", points=3), item(item_id="A-2", points=3)])
    path.write_text(
        path.read_text(encoding="utf-8-sig").replace(",3,", ",-1,"), encoding="utf-8-sig"
    )
    before = snapshot(database.engine)
    code, _, err = run("--db", database.url, "bank", "import", str(path))
    assert code == 1
    assert "row 2, field points" in err and "row 3, field points" in err
    assert "分值须大于 0" in err and "nothing was imported" in err and "Traceback" not in err
    assert snapshot(database.engine) == before


def test_import_of_a_gbk_csv_and_export_to_xlsx(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    write_items(path, [item()], encoding="gbk")
    code, out, _ = run("--db", database.url, "bank", "import", str(path))
    assert code == 0 and "created 1" in out
    code, out, _ = run(
        "--db", database.url, "bank", "export", str(tmp_path / "out.xlsx"), "--level", "初级"
    )
    assert code == 0 and "exported 1" in out


def test_a_file_too_large_is_a_clear_error(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "huge.xlsx"
    with path.open("wb") as fh:
        fh.truncate(200 * 2**20)
    code, _, err = run("--db", database.url, "bank", "import", str(path))
    assert code == 1 and "over the 50 MB limit" in err


def test_template_files_import_as_drafts(database: Database, tmp_path: Path) -> None:
    for suffix in ("csv", "xlsx", "json"):
        code, _, _ = run("bank", "template", str(tmp_path / f"t.{suffix}"))
        assert code == 0
    code, out, _ = run(
        "--db",
        database.url,
        "bank",
        "import",
        *(str(tmp_path / f"t.{s}") for s in ("csv", "xlsx", "json")),
    )
    assert code == 0 and "created 6" in out and out.count("unchanged 6") == 2


def test_synth_imports_marked_items_and_is_seeded(database: Database, tmp_path: Path) -> None:
    code, out, _ = run(
        "--db",
        database.url,
        "bank",
        "synth",
        "--occupation",
        "云计算",
        "--level",
        "senior",
        "--count",
        "300",
        "--seed",
        "4",
    )
    assert code == 0 and "created 300" in out
    code, out, _ = run(
        "--db",
        database.url,
        "bank",
        "synth",
        "--occupation",
        "cloud",
        "--level",
        "高级",
        "--count",
        "300",
        "--seed",
        "4",
    )
    assert "unchanged 300" in out


def test_reference_lists_occupations_and_areas() -> None:
    code, out, _ = run("reference", "--occupation", "大数据")
    assert code == 0 and "大数据工程技术人员" in out and "placeholder" in out


def test_audit_verify(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "bank.json"
    write_items(path, [item()])
    run("--db", database.url, "bank", "import", str(path))
    code, out, _ = run("--db", database.url, "audit", "verify")
    assert code == 0 and "1 entries" in out


def test_papers_from_blueprint_to_pdf(database: Database, tmp_path: Path) -> None:
    from question_bank.samples import sample_blueprints, sample_files

    for path in sample_files():
        if path.name.startswith("ai-junior"):
            run("--db", database.url, "bank", "import", str(path))
    blueprint = next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")
    code, out, _ = run("--db", database.url, "papers", "check", str(blueprint))
    assert code == 0 and "the blueprint can be met" in out
    code, out, _ = run(
        "--db", database.url, "papers", "assemble", str(blueprint), "--out", str(tmp_path)
    )
    assert code == 0 and "ai-junior-sample-1A" in out and "ai-junior-sample-1B" in out
    assert (tmp_path / "ai-junior-sample-1B-试卷.pdf").exists()
    code, out, _ = run(
        "--db",
        database.url,
        "papers",
        "render",
        "ai-junior-sample-1A",
        "--out",
        str(tmp_path),
        "--candidate-seed",
        "7",
    )
    assert code == 0 and "ai-junior-sample-1A-s7-试卷.pdf" in out
    code, out, _ = run("--db", database.url, "papers", "freeze", "ai-junior-sample-1A")
    assert code == 0 and "frozen" in out
    code, out, _ = run("--db", database.url, "papers", "list")
    assert "ai-junior-sample-1A" in out and "frozen" in out and "draft" in out


def test_papers_are_sealed_and_opened_with_custodians_share_files(
    database: Database, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from question_bank.samples import sample_blueprints, sample_files

    for path in sample_files():
        if path.name.startswith("ai-junior"):
            run("--db", database.url, "bank", "import", str(path))
    blueprint = next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")
    run("--db", database.url, "papers", "assemble", str(blueprint))
    papers = ["ai-junior-sample-1A", "ai-junior-sample-1B"]
    beijing = datetime.now(UTC).astimezone(timezone(timedelta(hours=8)))
    shares = tmp_path / "shares"
    args = [
        "--db",
        database.url,
        "papers",
        "seal",
        *papers,
        "--custodian",
        "甲",
        "--custodian",
        "乙",
    ]
    code, out, _ = run(
        *args,
        "--custodian",
        "丙",
        "--threshold",
        "2",
        "--opens",
        (beijing - timedelta(minutes=1)).isoformat(timespec="minutes"),
        "--ends",
        (beijing + timedelta(hours=2)).isoformat(timespec="minutes"),
        "--out",
        str(shares),
    )
    assert code == 0 and "seal 1" in out and "须 2/3 位保管人" in out
    files = sorted(shares.iterdir())
    assert [f.name for f in files] == ["seal-1-1.txt", "seal-1-2.txt", "seal-1-3.txt"]
    assert (
        "保管人 custodian: 乙" in files[1].read_text("utf-8")
        and files[1].stat().st_mode & 0o077 == 0
    )
    code, _, err = run("--db", database.url, "papers", "render", papers[0], "--out", str(tmp_path))
    assert code == 1 and "已密封" in err and "Traceback" not in err
    code, out, _ = run("--db", database.url, "papers", "seals")
    assert "密封中 sealed" in out and papers[1] in out
    code, _, err = run("--db", database.url, "papers", "open", "1", "--share-file", str(files[0]))
    assert code == 1 and "需要 2 位保管人" in err
    code, out, _ = run(
        "--db",
        database.url,
        "papers",
        "open",
        "1",
        "--share-file",
        str(files[2]),
        "--share-file",
        str(files[0]),
    )
    assert code == 0 and "已开启 opened" in out and "丙, 甲" in out
    code, out, _ = run("--db", database.url, "papers", "render", papers[0], "--out", str(tmp_path))
    assert code == 0 and "试卷.pdf" in out and "the key is held until the session ends" in out
    code, out, _ = run("--db", database.url, "papers", "list")
    assert "seal 1" in out


def test_an_infeasible_blueprint_is_explained_without_a_traceback(database: Database) -> None:
    from question_bank.samples import sample_blueprints

    blueprint = next(p for p in sample_blueprints() if p.name == "ai-senior.yaml")
    code, _, err = run("--db", database.url, "papers", "assemble", str(blueprint))
    assert code == 1 and "the bank has 0 ready at ai/senior" in err and "Traceback" not in err
