"""A frozen paper as a QTI 3.0 package: its test in the paper's order and parts, its exact item
versions, validated against the QTI 3.0 XSD; refused for a paper not frozen; audited."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from sqlmodel import Session, col, select

from certify.infra.errors import PaperNotFound
from cli import cli
from question_bank.bank import import_bank, to_item_data
from question_bank.blueprints import load_blueprint
from question_bank.interchange.common import Placement
from question_bank.interchange.qti import read_qti
from question_bank.interchange.qti_test import item_scale
from question_bank.paper_catalogue import paper_qti
from question_bank.papers import PaperError, assemble_papers, freeze_paper, paper_view
from question_bank.samples import sample_files
from question_bank.validate import validate_rows
from schemas.tables import AuditEntry, Item, ItemVersion
from tests.conftest import Database
from tests.helpers import snapshot

ROOT = Path(__file__).resolve().parents[3]
XSD = ROOT / "tests" / "question_bank" / "data" / "qti3" / "qtiv3p0"
BLUEPRINT = ROOT / "question_bank" / "samples" / "blueprints" / "ai-junior.yaml"
Q = "{http://www.imsglobal.org/xsd/imsqtiasi_v3p0}"
CP = "{http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1}"


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD / "imsqti_asiv3p0_sbacv1p0_v1p0.xsd")))


@pytest.fixture
def paper(database: Database) -> tuple[Database, str]:
    for path in sample_files():
        if path.name.startswith("ai-"):
            import_bank(database.engine, path)
    report = assemble_papers(database.engine, load_blueprint(BLUEPRINT))
    return database, report.papers[0].code


def _members(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_a_draft_paper_is_refused_and_nothing_is_recorded(paper: tuple[Database, str]) -> None:
    database, code = paper
    before = snapshot(database.engine)
    with pytest.raises(PaperError, match="not frozen"):
        paper_qti(database.engine, code, actor="web:admin")
    with pytest.raises(PaperNotFound):
        paper_qti(database.engine, "NO-SUCH-PAPER")
    assert snapshot(database.engine) == before


def test_the_test_holds_every_question_in_order_by_part_and_validates(
    paper: tuple[Database, str], schema: etree.XMLSchema
) -> None:
    database, code = paper
    freeze_paper(database.engine, code)
    view = paper_view(database.engine, code)
    members = _members(paper_qti(database.engine, code, actor="考务老师"))
    test_path = f"tests/{code}.xml"
    test = etree.fromstring(members[test_path])
    assert schema.validate(test), schema.error_log
    for name, data in members.items():
        if name.startswith("items/"):
            assert schema.validate(etree.fromstring(data)), (name, schema.error_log)
    parts = test.findall(f"{Q}qti-test-part")
    assert [p.get("identifier") for p in parts] == [f"P-{p.part}" for p in view.parts]
    items = _stored_items(database, [q.item_version_pk for q in view.questions])
    for part, element in zip(view.parts, parts, strict=True):
        section = element.find(f"{Q}qti-assessment-section")
        assert section is not None and section.get("title") == part.title
        limit = element.find(f"{Q}qti-time-limits")
        assert (
            limit is not None and float(limit.get("max-time", "")) == part.time_limit_minutes * 60
        )
        refs = section.findall(f"{Q}qti-assessment-item-ref")
        assert [r.get("href") for r in refs] == [
            f"../items/{q.item_id}.xml" for q in part.questions
        ]
        for ref, q in zip(refs, part.questions, strict=True):
            assert ref.get("href", "")[3:] in members
            weight = ref.find(f"{Q}qti-weight")
            assert weight is not None
            scaled = float(weight.get("value", "")) * item_scale(items[q.item_version_pk])
            assert scaled == pytest.approx(q.points)
        assert sum(q.points for q in part.questions) == part.total_points
    passes = test.findall(f".//{Q}qti-set-outcome-value")
    assert {p.get("identifier") for p in passes} == {"SCORE"} | {
        f"{kind}_{p.part}" for p in view.parts for kind in ("SCORE", "PASS")
    }
    manifest = etree.fromstring(members["imsmanifest.xml"])
    first = manifest.find(f"{CP}resources/{CP}resource")
    assert first is not None and first.get("type") == "imsqti_test_xmlv3p0"
    assert first.get("href") == test_path
    assert len(first.findall(f"{CP}dependency")) == len(view.questions)


def test_the_package_imports_back_as_the_papers_exact_item_versions(
    paper: tuple[Database, str],
) -> None:
    database, code = paper
    freeze_paper(database.engine, code)
    view = paper_view(database.engine, code)
    package = paper_qti(database.engine, code)
    checked = validate_rows("paper.zip", read_qti("paper.zip", package, Placement()))
    assert checked.problems == []
    items = _stored_items(database, [q.item_version_pk for q in view.questions])
    assert [i for _, i in checked.items] == [items[q.item_version_pk] for q in view.questions]


def test_the_export_is_audited_under_the_account(paper: tuple[Database, str]) -> None:
    database, code = paper
    freeze_paper(database.engine, code)
    paper_qti(database.engine, code, actor="web:考务老师")
    with Session(database.engine) as session:
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.action == "papers.export_qti")
        ).all()
    assert [(e.actor, e.subject, len(e.detail["sha256"])) for e in entries] == [
        ("web:考务老师", code, 64)
    ]


def test_the_command_writes_the_package_and_refuses_a_draft(
    paper: tuple[Database, str], tmp_path: Path
) -> None:
    database, code = paper
    out = tmp_path / "paper.zip"
    refused = CliRunner().invoke(
        cli, ["--db", database.url, "papers", "export-qti", code, str(out)]
    )
    assert refused.exit_code == 1 and "not frozen" in refused.stderr and not out.exists()
    freeze_paper(database.engine, code)
    done = CliRunner().invoke(cli, ["--db", database.url, "papers", "export-qti", code, str(out)])
    assert done.exit_code == 0 and "exported" in done.stdout
    assert f"tests/{code}.xml" in _members(out.read_bytes())


def _stored_items(database: Database, pks: list[int]) -> dict[int, object]:
    with Session(database.engine) as session:
        rows = session.exec(
            select(Item, ItemVersion)
            .join(ItemVersion, col(ItemVersion.item_id) == col(Item.id))
            .where(col(ItemVersion.id).in_(pks))
        )
        return {v.id: to_item_data(i, v) for i, v in rows}
