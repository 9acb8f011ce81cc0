"""`certify irt`: the graded answers of a sitting calibrated and kept run after run; data that
cannot be calibrated refused naming the bank's items, nothing stored."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, col, func, select

from certify.grading.calibration import calibrate_sittings
from certify.grading.irt import CalibrationError
from schemas.tables import (
    AuditEntry,
    CalibrationRun,
    Item,
    ItemCalibration,
    ItemVersion,
    PaperItem,
)
from tests.certify.exam_helpers import graded_sitting, run
from tests.conftest import Database


def count(database: Database, table: type) -> int:
    with Session(database.engine) as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


@pytest.fixture
def sitting(database: Database, tmp_path: Path) -> Database:
    graded_sitting(database, tmp_path, "S1", count=400)
    return database


def test_a_sitting_is_calibrated_kept_and_shown(sitting: Database) -> None:
    out = run(sitting, "irt", "calibrate", "S1")
    assert "标定 run 1: ai junior, S1; 400 人 candidates" in out
    with Session(sitting.engine) as s:
        runs = s.exec(select(CalibrationRun)).all()
        stored = s.exec(select(ItemCalibration)).all()
        on_papers = set(s.exec(select(PaperItem.item_version_id)).all())
        audit = s.exec(select(AuditEntry).where(AuditEntry.action == "irt.calibrate")).all()
    assert len(runs) == 1 and runs[0].candidates == 400 and runs[0].sittings == ["S1"]
    assert {c.item_version_id for c in stored} == on_papers  # every item of both forms
    assert all(c.a > 0 and c.answers >= 100 for c in stored)
    assert {c.model for c in stored} <= {"2pl", "gpcm"}
    assert any(c.model == "gpcm" and len(c.d) >= 2 for c in stored)  # the marked questions
    for c in stored:
        assert c.scores == sorted(c.scores) and len(c.scores) == len(c.d) + 1
        assert c.se["a"] is None or c.se["a"] > 0
    assert len(audit) == 1 and audit[0].detail["items"] == len(stored)

    again = calibrate_sittings(sitting.engine, ["S1"], dichotomous="1pl", actor="test")
    assert again.run_id == 2
    assert count(sitting, CalibrationRun) == 2
    assert count(sitting, ItemCalibration) == 2 * len(stored)  # the first run is kept as it was
    with Session(sitting.engine) as s:
        first = s.exec(
            select(ItemCalibration)
            .where(ItemCalibration.run_id == 1)
            .order_by(col(ItemCalibration.id))
        ).all()
    assert [(c.a, c.d) for c in first] == [(c.a, c.d) for c in stored]
    assert again.base_run_id == 1 and again.linking is not None
    assert again.common == sum(c.model == "gpcm" for c in stored)  # 1PL items are not 2PL's

    # the same answers again under the same model: linked to run 1 as they are
    out = run(sitting, "irt", "calibrate", "S1", "--link", "haebara")
    assert "linked to run 1 by haebara through" in out
    with Session(sitting.engine) as s:
        third = s.exec(select(CalibrationRun).where(CalibrationRun.id == 3)).one()
        placed = s.exec(
            select(ItemCalibration)
            .where(ItemCalibration.run_id == 3)
            .order_by(col(ItemCalibration.id))
        ).all()
    assert third.base_run_id == 1 and third.link_method == "haebara" and third.drifting == []
    # the scale's pool holds run 2's GPCM items (its newest), so the constants are near, not at,
    # the identity
    assert third.link_a == pytest.approx(1.0, abs=0.01)
    assert third.link_b == pytest.approx(0.0, abs=0.01)
    for mine, base in zip(placed, stored, strict=True):
        assert mine.a == pytest.approx(base.a, rel=0.02)
    shown = run(sitting, "irt", "show")
    assert "run 3 (" in shown and "run 1 (" not in shown
    assert "misfitting items (S-X², p < 0.01)" in shown
    run(sitting, "irt", "calibrate", "S1", "--base", "99", code=1)
    assert count(sitting, CalibrationRun) == 3


def test_a_sitting_too_small_is_refused_naming_the_items(
    database: Database, tmp_path: Path
) -> None:
    graded_sitting(database, tmp_path, "S1", count=30)
    out = run(database, "irt", "calibrate", "S1", code=1)
    assert "needs at least 100" in out
    assert "AI-J-" in out or " v1:" in out  # items named by bank code and version
    assert count(database, CalibrationRun) == 0 and count(database, ItemCalibration) == 0
    with pytest.raises(CalibrationError, match="unknown model"):
        calibrate_sittings(database.engine, ["S1"], dichotomous="4pl")
    run(database, "irt", "calibrate", "NOPE", code=1)


def test_the_exam_report_draws_each_forms_information_once_calibrated(
    sitting: Database, tmp_path: Path
) -> None:
    from certify.grading.analysis import exam_report
    from certify.grading.report import render_exam_report
    from tests.pdf_tools import dark_share, pdf_pages, squeeze

    before = exam_report(sitting.engine, "S1")
    assert before.irt is None
    plain = render_exam_report(before, tmp_path / "before.pdf")
    assert "尚未标定" in squeeze("".join(pdf_pages(plain)))

    calibrate_sittings(sitting.engine, ["S1"])
    data = exam_report(sitting.engine, "S1")
    assert data.irt is not None and data.irt.run_id == 1 and data.irt.base_run_id is None
    assert [f.form for f in data.irt.forms] == ["A", "B"]
    for f in data.irt.forms:
        assert f.candidates == 200
        assert all(v > 0 for v in f.information)
        peak = data.irt.theta[int(np.argmax(f.information))]
        assert -3 < peak < 3  # the forms measure best inside the group's range
        assert f.ability_mean is not None and abs(f.ability_mean) < 0.5
        assert f.ability_se is not None and 0 < f.ability_se < 1
    pdf = render_exam_report(data, tmp_path / "after.pdf")
    pages = pdf_pages(pdf)
    text = squeeze("".join(pages))
    for needle in (
        "七、项目反应理论",
        "参数来自第1次标定",
        "测验信息",
        "测量标准误",
        "平均能力θ（EAP）",
    ):
        assert needle in text, needle
    page = next(n for n, t in enumerate(pages, 1) if "七、项目反应理论" in t)
    assert 0.005 < dark_share(pdf, tmp_path / "irt", page=page, dpi=40) < 0.5
    # misfitting items are named in the report, with their p
    with Session(sitting.engine) as s:
        flagged = s.exec(
            select(Item.code, ItemVersion.version, ItemCalibration.fit_p)
            .join(ItemVersion, col(ItemVersion.id) == col(ItemCalibration.item_version_id))
            .join(Item, col(Item.id) == col(ItemVersion.item_id))
            .where(col(ItemCalibration.misfit))
        ).all()
    assert sorted(label for label, _ in data.irt.misfits) == sorted(
        f"{code} v{version}" for code, version, _ in flagged
    )
    assert ("拟合不良的试题" in text) == bool(flagged)
    assert ("均未见异常" in text) == (not flagged)
    forced = data.model_copy(
        update={"irt": data.irt.model_copy(update={"misfits": [("AI-J-099 v2", 0.0012)]})}
    )
    named = squeeze("".join(pdf_pages(render_exam_report(forced, tmp_path / "misfit.pdf"))))
    assert "拟合不良的试题（S-X²，p<0.01）：AI-J-099v2（p=0.001）" in named


def test_calibrations_are_exported_with_the_bank(sitting: Database, tmp_path: Path) -> None:
    run(sitting, "irt", "calibrate", "S1")
    out = run(
        sitting,
        "bank",
        "export",
        str(tmp_path / "bank.json"),
        "--occupation",
        "ai",
        "--calibrations",
        str(tmp_path / "cal.csv"),
    )
    with Session(sitting.engine) as s:
        stored = {c.item_version_id: c for c in s.exec(select(ItemCalibration))}
        labels = {
            pk: (code, version)
            for pk, code, version in s.exec(
                select(ItemVersion.id, Item.code, ItemVersion.version).join(
                    Item, col(Item.id) == col(ItemVersion.item_id)
                )
            )
        }
    assert f"exported {len(stored)} calibrated item versions" in out
    with (tmp_path / "cal.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(stored)
    by_label = {(r["item_id"], int(r["version"])): r for r in rows}
    for pk, c in stored.items():
        row = by_label[labels[pk]]
        assert (row["occupation"], row["level"], row["run"], row["model"]) == (
            "ai",
            "junior",
            "1",
            c.model,
        )
        assert float(row["a"]) == pytest.approx(c.a, rel=1e-5)
        assert json.loads(row["d"]) == pytest.approx(c.d, rel=1e-5)
        assert json.loads(row["b"]) == pytest.approx([-v / c.a for v in c.d], rel=1e-5)
        assert json.loads(row["scores"]) == c.scores
        assert int(row["answers"]) == c.answers
    # another occupation: nothing
    run(
        sitting,
        "bank",
        "export",
        str(tmp_path / "b2.json"),
        "--occupation",
        "iot",
        "--calibrations",
        str(tmp_path / "none.csv"),
    )
    with (tmp_path / "none.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert list(csv.DictReader(fh)) == []
