"""GIFT, Moodle XML and QTI files through the one import path: all or nothing, versioned,
placed by category, and through the ``certify bank`` commands."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from certify.infra.errors import ValidationFailed
from cli import cli
from question_bank.bank import bank_items, export_bank, import_bank
from question_bank.interchange.common import Placement, load_placement
from question_bank.interchange.files import write_any
from tests.conftest import Database
from tests.helpers import item, snapshot

FORMATS = {"gift": "bank.gift", "moodle": "bank.xml", "qti": "bank.zip"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _bank() -> list:
    return [
        item(item_id="Z-1", stem="中文题干：哪个是空值？"),
        item(item_id="Z-2", type="true_false", options={}, key="F", stem="判断：1+1=3"),
        item(
            item_id="Z-3",
            type="subjective",
            options={},
            key="参考答案",
            rubric="要点一 2 分",
            stem="论述题",
        ),
    ]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_an_exported_bank_imports_into_another_database_unchanged(
    fmt: str, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / FORMATS[fmt]
    write_any(path, _bank(), fmt)
    report = import_bank(database.engine, path, fmt=fmt)
    assert report.created == 3
    assert bank_items(database.engine) == _bank()
    out = tmp_path / f"again.{fmt}"
    export_bank(database.engine, out, fmt)
    assert import_bank(database.engine, out, fmt=fmt).unchanged == 3


def test_one_unsupported_question_leaves_the_database_unchanged(
    database: Database, tmp_path: Path
) -> None:
    import_bank(database.engine, _write(tmp_path, "ok.gift", "::a::一{T}"), placement=_ai())
    before = snapshot(database.engine)
    path = _write(tmp_path, "bad.gift", "::b::二{T}\n\n::部分::部分{=a =%50%b}")
    with pytest.raises(ValidationFailed) as refused:
        import_bank(database.engine, path, placement=_ai())
    assert [(p.row, p.code, p.field) for p in refused.value.problems] == [
        (2, "partial_credit", "«部分», line 3: answers")
    ]
    assert snapshot(database.engine) == before


def test_a_changed_question_becomes_a_new_version(database: Database, tmp_path: Path) -> None:
    import_bank(
        database.engine, _write(tmp_path, "v1.gift", "// [id:Q-1]\n::a::一{T}"), placement=_ai()
    )
    report = import_bank(
        database.engine, _write(tmp_path, "v2.gift", "// [id:Q-1]\n::a::一{F}"), placement=_ai()
    )
    assert (report.created, report.new_versions) == (0, 1)


def test_feedback_left_behind_is_reported(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, "fb.gift", "::a::一{=对#很好 ~错#再想想}")
    report = import_bank(database.engine, path, placement=_ai())
    assert [n.code for n in report.notices] == ["feedback_dropped"]


def test_the_mapping_file_places_categories(tmp_path: Path) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "occupation: ai\nlevel: senior\narea: '1'\ncategories:\n"
        "  $course$/机器学习: '3'\n  $course$/云: {area: '2', level: junior}\n",
        encoding="utf-8",
    )
    placement = load_placement(mapping)
    assert placement.place("$course$/机器学习/监督") == {
        "occupation": "ai",
        "level": "senior",
        "knowledge_area": "3",
    }
    assert placement.place("$course$/云")["level"] == "junior"
    assert placement.place("$course$/其他")["knowledge_area"] == "1"


def test_cli_dry_run_shows_where_categories_go_and_imports_nothing(
    database: Database, tmp_path: Path
) -> None:
    path = _write(tmp_path, "c.gift", "$CATEGORY: $course$/机器学习\n\n::a::一{T}\n\n::b::二{F}")
    mapping = tmp_path / "map.json"
    mapping.write_text('{"categories": {"$course$/机器学习": "3"}}', encoding="utf-8")
    before = snapshot(database.engine)
    code, out, _ = run(
        "--db", database.url, "bank", "import", str(path), "--map", str(mapping),
        "--occupation", "ai", "--level", "senior", "--dry-run",
    )  # fmt: skip
    assert code == 0
    assert "$course$/机器学习 -> ai/senior/3: 2" in out
    assert snapshot(database.engine) == before


def test_cli_import_and_export_with_a_format(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, "q.txt", "::a::一{T}")
    code, out, _ = run(
        "--db", database.url, "bank", "import", str(path), "--format", "gift",
        "--occupation", "ai", "--level", "senior", "--area", "3",
    )  # fmt: skip
    assert code == 0 and "created 1" in out
    out_path = tmp_path / "out.gift"
    code, out, _ = run("--db", database.url, "bank", "export", str(out_path))
    assert code == 0 and "exported 1" in out
    assert "{TRUE}" in out_path.read_text("utf-8")


def _ai() -> Placement:
    return Placement(occupation="ai", level="senior", area="3")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
