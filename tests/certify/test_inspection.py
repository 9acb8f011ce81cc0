"""双随机 draws anyone can re-run: the same plan, population and seed always give the same
targets and inspectors, whatever order the population comes in; each stratum gives what the rule
asks; no inspector is drawn for their own institution or a declared conflict; a seed the plan
did not commit to, a population made for another plan or changed after publication are refused;
and `certify inspect` publishes a draw that `certify inspect redraw` confirms without a database."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, date, datetime
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
from tests.helpers import institution
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
        create_sitting(database.engine, f"S{n}", "ai-junior-sample", institution=institution(database.engine, INSTITUTIONS[n % 3]),
            starts_at=datetime(2026, 11, 1 + n, 9, tzinfo=UTC),
        )  # fmt: skip
    create_sitting(database.engine, "LATE", "ai-junior-sample", institution=institution(database.engine, "甲评价机构"),
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
    first = published["drawn"][0]
    first["inspectors"] = first["inspectors"][::-1]  # a notice edited after the draw
    assert len(set(first["inspectors"])) == 2
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


# --- the records that follow a draw -----------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def notice(plan_code: str = "SD-2026-Q4") -> dict[str, Any]:
    targets = [Target(f"S{n}", "", INSTITUTIONS[n % 3], f"S{n} 场次") for n in range(3)]
    p = plan(code=plan_code, sampling={"count": 3})
    from certify.supervision.inspections import notice_document

    return notice_document(p, draw(p, targets, SEED))


def test_a_record_goes_from_finding_to_closing_and_refuses_steps_out_of_order(
    database: Database, tmp_path: Path
) -> None:
    from certify.supervision.records import (
        StepRefused,
        close_record,
        evidence_of,
        open_records,
        read_evidence,
        record_finding,
        record_response,
        request_rectification,
    )

    engine = database.engine
    assert open_records(engine, notice(), actor="王检查") == 3
    assert open_records(engine, notice(), actor="王检查") == 0  # already open: left as they are
    today = date(2026, 12, 1)
    with pytest.raises(StepRefused):  # nothing found yet: nothing to put right
        request_rectification(engine, "SD-2026-Q4", "S0", "整改", date(2026, 12, 31), actor="x",
                              today=today)  # fmt: skip
    picture = tmp_path / "现场.png"
    picture.write_bytes(PNG)
    record = record_finding(
        engine, "SD-2026-Q4", "S0", "考场未张贴考生须知", [read_evidence(picture)], actor="王检查"
    )
    assert record.status == "open" and len(record.findings) == 1
    [kept] = evidence_of(engine, record.id or 0)
    assert (kept.name, kept.media_type, kept.data) == ("现场.png", "image/png", PNG)
    assert kept.sha256 == hashlib.sha256(PNG).hexdigest()
    with pytest.raises(StepRefused):  # a deadline in the past
        request_rectification(engine, "SD-2026-Q4", "S0", "整改", date(2026, 11, 1), actor="x",
                              today=today)  # fmt: skip
    with pytest.raises(StepRefused):  # findings are not closed before a response
        close_record(engine, "SD-2026-Q4", "S0", "办结", actor="x")
    request_rectification(engine, "SD-2026-Q4", "S0", "张贴须知并培训考务人员",
                          date(2026, 12, 31), actor="王检查", today=today)  # fmt: skip
    answered = record_response(engine, "SD-2026-Q4", "S0", "已张贴，已培训", actor="甲评价机构")
    assert answered.status == "responded" and answered.responded_at is not None
    closed = close_record(engine, "SD-2026-Q4", "S0", "整改到位", actor="王检查")
    assert closed.status == "closed"
    with pytest.raises(StepRefused):
        record_finding(engine, "SD-2026-Q4", "S0", "又一条", actor="王检查")
    assert close_record(engine, "SD-2026-Q4", "S1", "未发现问题", actor="x").status == "closed"
    with Session(engine) as session:
        actions = [
            e.action
            for e in session.exec(select(AuditEntry).where(AuditEntry.subject == "SD-2026-Q4/S0"))
        ]
    assert actions == ["inspect.finding", "inspect.rectify", "inspect.respond", "inspect.close"]


def test_evidence_is_recognised_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    from certify.supervision.records import read_evidence

    fake = tmp_path / "evidence.pdf"
    fake.write_bytes(b"<script>alert(1)</script>")
    with pytest.raises(InputError) as err:
        read_evidence(fake)
    assert err.value.problem.code == "evidence_type" and err.value.problem.file == "evidence.pdf"
    real = tmp_path / "scan.bin"
    real.write_bytes(b"%PDF-1.7\n%...")
    assert read_evidence(real).media_type == "application/pdf"


def test_the_record_commands(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "notice.json"
    path.write_text(json.dumps(notice(), ensure_ascii=False), "utf-8")
    assert "3 record(s) opened" in run(database, "inspect", "open", str(path))
    picture = tmp_path / "photo.png"
    picture.write_bytes(PNG)
    said = run(database, "inspect", "finding", "SD-2026-Q4", "S2", "--text", "试卷保管不规范",
               "--evidence", str(picture))  # fmt: skip
    assert "SD-2026-Q4/S2: open, 发现 1 条" in said
    run(database, "inspect", "rectify", "SD-2026-Q4", "S2", "--text", "整改", "--deadline",
        "2099-01-31")  # fmt: skip
    bad = run(database, "inspect", "close", "SD-2026-Q4", "S2", "--text", "办结", code=1)
    assert "closes after the institution's response" in bad
    listed = run(database, "inspect", "records", "SD-2026-Q4")
    assert (
        "试卷保管不规范" in listed and "photo.png (image/png" in listed and "3 record(s)" in listed
    )
    missing = run(database, "inspect", "respond", "SD-2026-Q4", "NOPE", "--text", "x", code=1)
    assert "NOPE" in missing


def test_files_that_are_not_what_they_claim_are_refused_by_name(
    database: Database, tmp_path: Path
) -> None:
    junk = tmp_path / "notice.json"
    junk.write_text('{"plan": "X", "drawn": [{"id": 1}]}', "utf-8")
    said = run(database, "inspect", "open", str(junk), code=1)
    assert "not a draw's notice" in said and "Traceback" not in said
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan().model_dump(mode="json", by_alias=True)), "utf-8")
    population_file = tmp_path / "population.json"
    population_file.write_text("[1, 2", "utf-8")
    said = run(database, "inspect", "redraw", str(plan_file), SEED, "--population",
               str(population_file), code=1)  # fmt: skip
    assert "not a population file" in said and "Traceback" not in said


def test_a_plan_with_yaml_aliases_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    laughs += [f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]"
               for p, c in zip("abcdefgh", "bcdefghi", strict=True)]  # fmt: skip
    path.write_text("\n".join(laughs) + "\n", "utf-8")
    with pytest.raises(InputError) as err:
        read_plan(path)
    assert err.value.problem.code == "plan_syntax" and "aliases" in err.value.problem.message_en
