"""Assembling papers into a real database from blueprints and the sample bank."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session, col, select

from certify.infra.errors import ValidationFailed
from question_bank.assembly.plan import Infeasible
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint, parse_blueprint
from question_bank.papers import PaperError, assemble_papers, freeze_paper, paper_view
from question_bank.samples import sample_files
from schemas.blueprint import ExposureRule, band_of
from schemas.tables import Candidate, Paper, PaperItem, Registration, Sitting
from tests.conftest import Database
from tests.helpers import institution, snapshot

BLUEPRINTS = Path(__file__).resolve().parents[2] / "question_bank" / "samples" / "blueprints"


@pytest.fixture
def bank(database: Database) -> Database:
    for path in sample_files():
        if path.name.startswith("ai-"):
            import_bank(database.engine, path)
    return database


def blueprint(level: str = "junior", **changes: Any) -> Any:
    data = yaml.safe_load((BLUEPRINTS / f"ai-{level}.yaml").read_text("utf-8"))
    data.update(changes)
    return parse_blueprint(data)


def stored_items(database: Database, code: str) -> list[int]:
    with Session(database.engine) as session:
        paper = session.exec(select(Paper).where(Paper.code == code)).one()
        return list(
            session.exec(
                select(PaperItem.item_version_id)
                .where(PaperItem.paper_id == paper.id)
                .order_by(col(PaperItem.position))
            )
        )


@pytest.mark.parametrize("level", ["junior", "intermediate", "senior"])
def test_sample_blueprints_give_forms_that_meet_the_blueprint(bank: Database, level: str) -> None:
    bp = load_blueprint(BLUEPRINTS / f"ai-{level}.yaml")
    report = assemble_papers(bank.engine, bp)
    views = [paper_view(bank.engine, p.code) for p in report.papers]
    for view in views:
        for spec, part in zip(bp.parts, view.parts, strict=True):
            assert sum(q.points for q in part.questions) == spec.total_points
            for item_type, type_spec in spec.types.items():
                assert sum(q.type is item_type for q in part.questions) == type_spec.count
        ids = [q.item_id for q in view.questions]
        assert len(ids) == len(set(ids))
        for group in bp.enemies:
            assert len(set(group) & set(ids)) <= 1
    shared = set(q.item_id for q in views[0].questions) & set(q.item_id for q in views[1].questions)
    assert len(shared) <= bp.max_overlap
    assert report.max_uses_seen <= bp.max_uses
    assert report.converged


def test_the_same_seed_rebuilds_the_same_papers(bank: Database) -> None:
    bp = blueprint()
    first = assemble_papers(bank.engine, bp)
    before = [stored_items(bank, p.code) for p in first.papers]
    second = assemble_papers(bank.engine, bp)  # replaces the drafts of run 1
    assert [stored_items(bank, p.code) for p in second.papers] == before
    other = assemble_papers(bank.engine, bp, seed=99)
    assert [stored_items(bank, p.code) for p in other.papers] != before


def test_frozen_papers_stay_and_their_blueprint_cannot_change(bank: Database) -> None:
    bp = blueprint()
    first = assemble_papers(bank.engine, bp)
    freeze_paper(bank.engine, first.papers[0].code)
    items = stored_items(bank, first.papers[0].code)
    again = assemble_papers(bank.engine, bp)
    assert again.run == 2 and stored_items(bank, first.papers[0].code) == items
    changed = blueprint(name="改过的名称")
    before = snapshot(bank.engine)
    with pytest.raises(PaperError, match="new code"):
        assemble_papers(bank.engine, changed)
    assert snapshot(bank.engine) == before


def test_a_count_the_bank_cannot_meet_is_explained_and_nothing_is_written(bank: Database) -> None:
    data = yaml.safe_load((BLUEPRINTS / "ai-senior.yaml").read_text("utf-8"))
    data["parts"][0]["types"] = {
        "single": {"count": 25, "points": 2},
        "multiple": {"count": 16, "points": 3},
        "fill": {"count": 1, "points": 2},
    }
    data["parts"][0]["difficulty"] = {"target": 0.4}
    bp = parse_blueprint(data)
    before = snapshot(bank.engine)
    with pytest.raises(Infeasible) as err:
        assemble_papers(bank.engine, bp)
    [short] = err.value.shortfalls
    assert short.constraint == "parts[0] 理论知识.types.multiple"
    assert (
        "needs 16 multiple items per form; the bank has 12 ready at ai/senior" in short.message_en
    )
    assert snapshot(bank.engine) == before


def test_a_cell_with_too_few_items_names_the_area_and_type(bank: Database) -> None:
    data = yaml.safe_load((BLUEPRINTS / "ai-senior.yaml").read_text("utf-8"))
    data["parts"][0]["cells"] = [{"area": "9", "type": "multiple", "count": 8}]
    with pytest.raises(Infeasible) as err:
        assemble_papers(bank.engine, parse_blueprint(data))
    assert any(
        "needs 8 multiple items of knowledge area 9" in s.message_en for s in err.value.shortfalls
    )


def test_an_overlap_limit_the_pool_cannot_meet_says_how_far_to_relax(bank: Database) -> None:
    with pytest.raises(Infeasible) as err:
        assemble_papers(bank.engine, blueprint(max_overlap=5))
    [short] = err.value.shortfalls
    assert short.constraint == "max_overlap" and "Raise max_overlap to at least" in short.message_en


def test_band_counts_are_met(bank: Database) -> None:
    data = yaml.safe_load((BLUEPRINTS / "ai-junior.yaml").read_text("utf-8"))
    data["forms"], data["max_overlap"], data["max_uses"] = 1, None, None
    data["parts"][0]["difficulty"] = {"target": 0.3, "bands": {"easy": 22, "medium": 18}}
    bp = parse_blueprint(data)
    report = assemble_papers(bank.engine, bp)
    view = paper_view(bank.engine, report.papers[0].code)
    bands = [band_of(q.difficulty, bp.difficulty_bands) for q in view.parts[0].questions]
    assert (bands.count("easy"), bands.count("medium"), bands.count("hard")) == (22, 18, 0)


def test_items_of_the_last_sittings_are_kept_off_new_forms(bank: Database) -> None:
    bp = blueprint(forms=1, max_overlap=None, max_uses=None)
    first = assemble_papers(bank.engine, bp)
    with Session(bank.engine) as session:
        paper = session.exec(select(Paper).where(Paper.code == first.papers[0].code)).one()
        sitting = Sitting(
            code="S1",
            occupation="ai",
            level="junior",
            institution=institution(bank.engine, "测试机构"),
        )
        person = Candidate(
            name="张三", id_number_cipher=b"x", id_number_digest="d" * 64, id_number_masked="110***"
        )
        session.add_all([sitting, person])
        session.flush()
        session.add(
            Registration(
                sitting_id=sitting.id, candidate_id=person.id, paper_id=paper.id, shuffle_seed=1
            )
        )
        session.commit()
    used = {q.item_id for q in paper_view(bank.engine, first.papers[0].code).questions}
    with pytest.raises(Infeasible, match="exposure rule left out"):
        assemble_papers(bank.engine, bp)  # its own items are now exposed
    assemble_papers(bank.engine, bp.model_copy(update={"exposure": ExposureRule()}))
    with Session(bank.engine) as session:
        kept = session.exec(select(Paper).where(Paper.code == first.papers[0].code)).one()
    assert kept.status == "frozen"  # a paper in use is frozen, never replaced
    data = yaml.safe_load((BLUEPRINTS / "ai-junior.yaml").read_text("utf-8"))
    data.update(code="ai-junior-next", forms=1, max_overlap=None, max_uses=None)
    data["parts"][0]["types"] = {
        "single": {"count": 5, "points": 8},
        "multiple": {"count": 2, "points": 30},
    }
    data["parts"][1]["types"] = {"subjective": {"count": 2, "points": 50}}
    later = assemble_papers(bank.engine, parse_blueprint(data))
    again = {q.item_id for q in paper_view(bank.engine, later.papers[0].code).questions}
    assert again.isdisjoint(used)


BAD_BLUEPRINTS = [
    ({"parts": [{"areas": {"42": 40}}]}, "parts[0].areas.42", "unknown_area"),
    (
        {"parts": [{"types": {"single": {"count": 20, "points": 2}}}]},
        "parts[0].types",
        "points_total",
    ),
    (
        {"parts": [{"types": {"single": {"count": -1, "points": 2}}}]},
        "parts[0].types.single.count",
        "blueprint_field",
    ),
    (
        {"parts": [{"types": {"essay": {"count": 1, "points": 100}}}]},
        "parts[0].types.essay.[key]",
        "blueprint_field",
    ),
    (
        {"parts": [{"difficulty": {"bands": {"easy": 1}}}]},
        "parts[0].difficulty.bands",
        "band_total",
    ),
    ({"forms": 0}, "forms", "blueprint_field"),
    ({"max_overlap": 1000}, "max_overlap", "bad_overlap"),
]


@pytest.mark.parametrize(("change", "field", "code"), BAD_BLUEPRINTS)
def test_bad_blueprints_name_the_field(change: dict[str, Any], field: str, code: str) -> None:
    data = yaml.safe_load((BLUEPRINTS / "ai-junior.yaml").read_text("utf-8"))
    for key, value in change.items():
        if key == "parts":
            data["parts"][0].update(value[0])
        else:
            data[key] = value
    with pytest.raises(ValidationFailed) as err:
        parse_blueprint(data)
    assert (field, code) in {(p.field, p.code) for p in err.value.problems}
