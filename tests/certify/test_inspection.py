"""双随机 draws anyone can re-run: the same plan, population and seed always give the same
targets and inspectors, whatever order the population comes in; each stratum gives what the rule
asks; no inspector is drawn for their own institution or a declared conflict; a seed the plan
did not commit to, a population made for another plan or changed after publication are refused;
and `certify inspect` publishes a draw that `certify inspect redraw` confirms without a database."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from certify.infra.errors import InputError, ValidationFailed
from certify.registration.sittings import create_sitting
from certify.supervision.draw import SeedMismatch, Target, commitment_of, draw, plan_digest
from certify.supervision.inspections import population_document, read_plan, read_population
from question_bank.blueprints import load_blueprint
from question_bank.papers import save_blueprint
from question_bank.samples import sample_blueprints
from schemas.inspection import InspectionPlan
from schemas.tables import AuditEntry
from tests.certify.exam_helpers import run
from tests.conftest import Database
from tests.pdf_tools import pdf_pages, squeeze

SEED = "7f3a" * 16
INSTITUTIONS = ["甲评价机构", "乙评价机构", "丙评价机构"]


def plan(**changes: Any) -> InspectionPlan:
    data: dict[str, Any] = {
        "code": "SD-2026-Q4",
        "title": "2026 年第四季度考核评价双随机抽查",
        "region": "山东",
        "population": {"kind": "sittings", "from": "2026-10-01", "to": "2026-12-31"},
        "sampling": {"count": 2, "strata": "institution"},
        "inspectors": [
            {"id": "I1", "name": "王检查", "institution": "甲评价机构"},
            {"id": "I2", "name": "李检查", "institution": "人社厅", "conflicts": ["乙评价机构"]},
            {"id": "I3", "name": "赵检查", "institution": "人社厅"},
            {"id": "I4", "name": "钱检查", "institution": "乙评价机构"},
        ],
        "inspectors_per_target": 2,
        "commitment": commitment_of(SEED),
    }
    data.update(changes)
    return InspectionPlan.model_validate(data)


targets_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(INSTITUTIONS)), min_size=0, max_size=40
).map(
    lambda rows: [
        Target(f"T{n:03d}", f"s{stratum}", institution, f"对象 {n}")
        for n, (stratum, institution) in enumerate(rows)
    ]
)


@given(
    targets=targets_strategy,
    count=st.one_of(st.integers(1, 6), st.none()),
    rate=st.floats(0.05, 1.0),
    per_target=st.integers(1, 4),
    seed=st.text(min_size=1, max_size=20),
    order=st.randoms(use_true_random=False),
)
@settings(max_examples=150, deadline=None)
def test_a_draw_is_the_same_every_time_and_keeps_its_rules(
    targets: list[Target], count: int | None, rate: float, per_target: int, seed: str, order: Any
) -> None:
    sampling = {"count": count} if count is not None else {"rate": rate}
    p = plan(
        sampling={**sampling, "strata": "occupation"},
        inspectors_per_target=per_target,
        commitment=commitment_of(seed),
    )
    first = draw(p, targets, seed)
    shuffled = list(targets)
    order.shuffle(shuffled)
    assert draw(p, shuffled, seed) == first  # the population's order does not matter
    by_stratum: dict[str, int] = {}
    for t in targets:
        by_stratum[t.stratum] = by_stratum.get(t.stratum, 0) + 1
    drawn_by: dict[str, int] = {}
    for d in first.drawn:
        drawn_by[d.target.stratum] = drawn_by.get(d.target.stratum, 0) + 1
    for stratum, size in by_stratum.items():
        want = count if count is not None else math.ceil(rate * size)
        assert drawn_by.get(stratum, 0) == min(want, size)
    assert len({d.target.id for d in first.drawn}) == len(first.drawn)
    people = {i.id: i for i in p.inspectors}
    for d in first.drawn:
        eligible = [
            i for i in p.inspectors
            if i.institution != d.target.institution and d.target.institution not in i.conflicts
        ]  # fmt: skip
        assert len(set(d.inspectors)) == len(d.inspectors) == min(per_target, len(eligible))
        assert d.short == per_target - len(d.inspectors)
        for i in d.inspectors:
            assert people[i].institution != d.target.institution
            assert d.target.institution not in people[i].conflicts


def test_the_inspectors_share_the_work() -> None:
    targets = [Target(f"T{n}", "", "丁评价机构", "") for n in range(12)]
    result = draw(plan(sampling={"count": 12}, inspectors_per_target=1), targets, SEED)
    load = [sum(i in d.inspectors for d in result.drawn) for i in ("I1", "I2", "I3", "I4")]
    assert load == [3, 3, 3, 3]


def test_a_seed_the_plan_did_not_commit_to_is_refused() -> None:
    with pytest.raises(SeedMismatch):
        draw(plan(), [Target("T1", "", "甲", "")], SEED + "0")


def test_a_plan_changed_after_publication_draws_otherwise() -> None:
    targets = [Target(f"T{n:03d}", "", "丁", "") for n in range(200)]
    before = draw(plan(sampling={"count": 5}), targets, SEED)
    after = draw(plan(sampling={"count": 5}, title="改过的标题"), targets, SEED)
    assert before.plan_digest != after.plan_digest
    assert [d.target.id for d in before.drawn] != [d.target.id for d in after.drawn]


def test_a_population_for_another_plan_or_changed_is_refused(tmp_path: Path) -> None:
    targets = [Target(f"T{n}", "", "丁", f"对象{n}") for n in range(5)]
    path = tmp_path / "population.json"
    document = population_document(plan(), targets)
    path.write_text(json.dumps(document, ensure_ascii=False), "utf-8")
    assert read_population(path, plan()) == targets
    with pytest.raises(InputError) as other:
        read_population(path, plan(title="另一份计划"))
    assert other.value.problem.code == "population_plan"
    document["targets"] = document["targets"][1:]  # one target dropped after publication
    path.write_text(json.dumps(document, ensure_ascii=False), "utf-8")
    with pytest.raises(InputError) as changed:
        read_population(path, plan())
    assert changed.value.problem.code == "population_digest"


def test_a_bad_plan_names_each_field(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    bad = plan().model_dump(mode="json", by_alias=True)
    bad["sampling"] = {"count": 2, "rate": 0.5}
    bad["commitment"] = "not-a-hash"
    bad["inspectors"][1]["id"] = "I1"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), "utf-8")
    with pytest.raises(ValidationFailed) as err:
        read_plan(path)
    fields = {p.field for p in err.value.problems}
    assert {"sampling", "commitment"} <= fields


def test_the_command_publishes_a_draw_the_redraw_confirms(
    database: Database, tmp_path: Path
) -> None:
    blueprint = next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")
    save_blueprint(database.engine, load_blueprint(blueprint))
    for n in range(9):
        create_sitting(
            database.engine, f"S{n}", "ai-junior-sample", institution=INSTITUTIONS[n % 3],
            starts_at=datetime(2026, 11, 1 + n, 9, tzinfo=UTC),
        )  # fmt: skip
    create_sitting(
        database.engine, "LATE", "ai-junior-sample", institution="甲评价机构",
        starts_at=datetime(2027, 1, 5, 9, tzinfo=UTC),
    )  # fmt: skip
    out = run(database, "inspect", "seed")
    seed = out.split("seed (keep it secret until the draw): ")[1].split()[0]
    commitment = out.split("commitment (publish it in the plan): ")[1].split()[0]
    assert commitment == commitment_of(seed)
    plan_file = tmp_path / "plan.yaml"
    data = plan(commitment=commitment).model_dump(mode="json", by_alias=True)
    plan_file.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    population_file = tmp_path / "population.json"
    said = run(database, "inspect", "population", str(plan_file), "--out", str(population_file))
    assert "9 个对象 targets" in said  # the sitting of January is outside the period
    notice = tmp_path / "notice.json"
    drawn = run(
        database, "inspect", "draw", str(plan_file), "--population", str(population_file),
        "--seed", seed, "--out", str(notice),
    )  # fmt: skip
    published = json.loads(notice.read_text("utf-8"))
    assert len(published["drawn"]) == 6  # two of each institution's three
    assert published["plan_digest"] == plan_digest(read_plan(plan_file))
    for row in published["drawn"]:
        assert row["institution"] not in {"甲评价机构"} or "I1" not in row["inspectors"]
        assert row["institution"] != "乙评价机构" or not {"I2", "I4"} & set(row["inspectors"])
    assert "抽取 draw of SD-2026-Q4: 6 of 9" in drawn
    text = squeeze("".join(pdf_pages(notice.with_suffix(".pdf"))))
    assert "双随机抽查结果公示" in text and squeeze(seed) in text
    assert all(squeeze(row["label"]) in text for row in published["drawn"])
    with Session(database.engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "inspect.draw")).one()
    assert entry.subject == "SD-2026-Q4" and len(entry.detail["drawn"]) == 6
    # Anyone: the plan, the population, the seed, and the notice — no database.
    again = run(
        database, "inspect", "redraw", str(plan_file), seed, "--population", str(population_file),
        "--notice", str(notice),
    )  # fmt: skip
    assert "exactly this one" in again
    published["drawn"][0]["inspectors"] = ["I3", "I1"]  # a notice edited after the draw
    notice.write_text(json.dumps(published, ensure_ascii=False), "utf-8")
    refused = run(
        database, "inspect", "redraw", str(plan_file), seed, "--population", str(population_file),
        "--notice", str(notice), code=1,
    )  # fmt: skip
    assert "NOT this one: drawn" in refused
    wrong = run(
        database, "inspect", "redraw", str(plan_file), "0" * 64, "--population",
        str(population_file), code=1,
    )  # fmt: skip
    assert "does not match the commitment" in wrong
