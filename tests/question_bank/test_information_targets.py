"""Assembling to a target test information curve from a blueprint file: the items' information
read from their calibrated parameters, only calibrated items (in the version the bank holds) on
a form, each form's information reported beside its target and recounted independently, and a
blueprint without a calibration to read refused with what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlmodel import Session, col, select

from certify.grading.irt import ItemParameters, information
from certify.infra.errors import ValidationFailed
from question_bank.assembly.plan import Infeasible
from question_bank.bank import import_bank
from question_bank.blueprints import parse_blueprint
from question_bank.papers import assemble_papers, load_pool
from question_bank.samples import sample_files
from schemas.tables import CalibrationRun, ItemCalibration, Paper, PaperItem
from tests.certify.exam_helpers import run
from tests.conftest import Database

BLUEPRINTS = Path(__file__).resolve().parents[2] / "question_bank" / "samples" / "blueprints"
THETA = [-1.5, -0.5, 0.5, 1.5]


@pytest.fixture
def bank(database: Database) -> Database:
    for path in sample_files():
        if path.name == "ai-junior.json":
            import_bank(database.engine, path)
    return database


def blueprint(**changes: Any) -> Any:
    data = yaml.safe_load((BLUEPRINTS / "ai-junior.yaml").read_text("utf-8"))
    data["exposure"] = {"recent_sittings": 0}
    data.update(changes)
    return parse_blueprint(data)


def calibrate(
    database: Database, *, leave_out: int = 0, seed: int = 5
) -> dict[int, ItemParameters]:
    """A calibration run of the ai junior bank's items (all but the first ``leave_out``), with
    parameters drawn as a calibration finds them: a ~ lognormal(0, 0.3), b ~ N(0, 1); the
    subjective questions as partial-credit items of three steps."""
    rng = np.random.default_rng(seed)
    params: dict[int, ItemParameters] = {}
    with Session(database.engine) as session:
        pool = load_pool(session, blueprint())
        calibration = CalibrationRun(
            occupation="ai", level="junior", sittings=["S0"], candidates=1000, items=0,
            log_likelihood=-1.0, iterations=10,
        )  # fmt: skip
        session.add(calibration)
        session.flush()
        for item in pool[leave_out:]:
            a = float(np.exp(rng.normal(0, 0.3)))
            steps = 3 if item.type.value == "subjective" else 1
            d = tuple(float(-a * b) for b in np.sort(rng.normal(0, 1, steps)))
            model = "gpcm" if steps > 1 else "2pl"
            params[item.version_pk] = ItemParameters(model, a, d)
            session.add(
                ItemCalibration(
                    run_id=calibration.id or 0, item_version_id=item.version_pk, model=model,
                    a=a, d=list(d), scores=list(range(steps + 1)), answers=1000,
                )
            )  # fmt: skip
        session.commit()
    return params


def on_forms(database: Database) -> dict[str, list[int]]:
    with Session(database.engine) as session:
        papers = session.exec(select(Paper).where(Paper.status == "draft")).all()
        return {
            p.code: list(
                session.exec(select(PaperItem.item_version_id).where(PaperItem.paper_id == p.id))
            )
            for p in papers
        }


def worst(achieved: np.ndarray, target: np.ndarray) -> float:
    return float((np.abs(achieved - target) / target).max())


def test_forms_meet_an_information_target_better_than_forms_balanced_by_difficulty(
    bank: Database,
) -> None:
    params = calibrate(bank, leave_out=6)
    # A target every form can reach only by choosing: the information of an average pick.
    mean = information(list(params.values()), np.array(THETA)).mean(axis=0)
    target = [round(float(v) * 44 * 1.1, 3) for v in mean]
    spec = {"theta": THETA, "target": target}
    report = assemble_papers(bank.engine, blueprint(information=spec, max_overlap=44))
    forms = on_forms(bank)
    assert report.theta == THETA and report.calibration == 1
    assert all(pk in params for items in forms.values() for pk in items)  # calibrated items only
    recounted = []
    for form in report.papers:
        achieved = information([params[pk] for pk in forms[form.code]], np.array(THETA)).sum(0)
        assert form.information == pytest.approx(achieved.tolist(), rel=1e-6)
        recounted.append(worst(achieved, np.array(target)))
    assert report.objective == pytest.approx(max(recounted), abs=1e-6)
    with Session(bank.engine) as session:
        stats = session.exec(select(Paper.stats).order_by(col(Paper.id))).all()
    assert [s["information"]["target"] for s in stats] == [target, target]
    # The same blueprint balanced by mean difficulty, its forms judged by the same curve.
    assemble_papers(bank.engine, blueprint(max_overlap=44))
    by_difficulty = [
        worst(information([params[pk] for pk in items if pk in params], np.array(THETA)).sum(0),
              np.array(target))
        for items in on_forms(bank).values()
    ]  # fmt: skip
    assert report.objective < max(by_difficulty)


def test_each_form_may_aim_at_its_own_curve(bank: Database) -> None:
    calibrate(bank)
    curves = [[4.0, 6.0, 6.0, 4.0], [3.0, 5.0, 7.0, 6.0]]
    report = assemble_papers(
        bank.engine, blueprint(information={"theta": THETA, "form_targets": curves})
    )
    assert report.information_targets == curves
    for form, curve in zip(report.papers, curves, strict=True):
        assert form.information is not None
        assert worst(np.array(form.information), np.array(curve)) <= report.objective + 1e-9


def test_without_a_calibration_the_blueprint_is_refused_with_what_to_do(bank: Database) -> None:
    with pytest.raises(Infeasible) as refused:
        assemble_papers(bank.engine, blueprint(information={"theta": [0.0], "target": [5.0]}))
    assert [s.constraint for s in refused.value.shortfalls] == ["information.calibration"]
    assert "certify irt calibrate" in str(refused.value)
    assert on_forms(bank) == {}


def test_too_few_calibrated_items_say_how_many_were_left_out(bank: Database) -> None:
    calibrate(bank, leave_out=40)
    with pytest.raises(Infeasible) as refused:
        assemble_papers(bank.engine, blueprint(information={"theta": [0.0], "target": [5.0]}))
    assert "40 have none" in str(refused.value)


def test_the_command_prints_each_forms_curve_beside_its_target(
    bank: Database, tmp_path: Path
) -> None:
    calibrate(bank)
    data = yaml.safe_load((BLUEPRINTS / "ai-junior.yaml").read_text("utf-8"))
    data["exposure"] = {"recent_sittings": 0}
    data["information"] = {"theta": [-1.0, 1.0], "target": [5.0, 5.0]}
    path = tmp_path / "tif.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    out = run(bank, "papers", "assemble", str(path))
    assert "test information (calibration 1)" in out
    assert "θ=-1.00" in out and "θ=+1.00" in out
    assert "/ 5.00 (" in out and "largest relative deviation" in out


@pytest.mark.parametrize(
    ("information", "field", "code"),
    [
        ({"theta": [0.5, -0.5], "target": [1, 1]}, "information.theta", "bad_theta"),
        ({"theta": [5.0], "target": [1]}, "information.theta", "bad_theta"),
        ({"theta": [0.0]}, "information", "information_target"),
        ({"theta": [0.0], "target": [1], "form_targets": [[1], [1]]}, "information",
         "information_target"),
        ({"theta": [0.0, 1.0], "target": [1]}, "information.target", "information_points"),
        ({"theta": [0.0], "target": [0]}, "information.target", "information_range"),
        ({"theta": [0.0], "form_targets": [[1]]}, "information.form_targets", "form_targets_count"),
        ({"theta": [0.0], "form_targets": [[1], [1, 2]]}, "information.form_targets[1]",
         "information_points"),
        ({"theta": [], "target": []}, "information.theta", "blueprint_field"),
    ],
)  # fmt: skip
def test_bad_information_targets_name_the_field(
    information: dict[str, Any], field: str, code: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        blueprint(information=information)
    assert (field, code) in {(p.field, p.code) for p in err.value.problems}


def test_the_documented_information_example_is_valid() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "blueprints.md").read_text("utf-8")
    block = text.split("```text\ninformation:", 1)[1].split("```", 1)[0]
    spec = yaml.safe_load("information:" + block)["information"]
    parsed = blueprint(information=spec)
    assert parsed.information is not None and parsed.information.theta == THETA
