"""`certify irt equate` and the pass rule: each form's pass mark carried from the reference
form, kept run by run; pass decisions on raw or equated scores, recorded, with the decisions
that differ counted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from sqlmodel import Session, col, func, select

from certify.grading.form_equating import (
    EquatingError,
    decisions,
    equate_sitting,
    set_pass_rule,
)
from certify.grading.service import PassRuleError, grade_sitting, score_sitting
from schemas.tables import (
    AuditEntry,
    EquatingRun,
    FormEquating,
    PaperItem,
    Registration,
    Result,
    Sitting,
)
from tests.certify.exam_helpers import graded_sitting, run
from tests.conftest import Database
from tests.pdf_tools import squeeze


def count(database: Database, table: type) -> int:
    with Session(database.engine) as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


@pytest.fixture
def sitting(database: Database, tmp_path: Path) -> Database:
    graded_sitting(database, tmp_path, "S1", count=300, strength=0.0)  # scores around the mark
    return database


def test_forms_are_equated_to_the_reference_and_every_run_is_kept(
    sitting: Database, tmp_path: Path
) -> None:
    out = run(
        sitting, "irt", "equate", "S1", "--replications", "30", "--out", str(tmp_path / "c.xlsx")
    )
    assert "等值 run 1: S1 by equipercentile, reference form A, 300 人 candidates" in out
    with Session(sitting.engine) as s:
        rows = s.exec(select(FormEquating).order_by(col(FormEquating.part))).all()
        audit = s.exec(select(AuditEntry).where(AuditEntry.action == "equate")).all()
    _, scored = score_sitting(sitting.engine, "S1")
    parts = sorted({p for c in scored for p in c.parts})
    assert sorted(r.part for r in rows) == parts and {r.form for r in rows} == {"B"}
    for r in rows:
        assert r.candidates + r.reference_candidates == 300
        table = np.array(r.table)
        assert np.all(np.diff(table[:, 1]) >= -1e-9)  # the conversion increases
        assert np.all(table[:, 2] >= 0)
        # the equivalent is where the table reaches the pass mark
        assert np.interp(r.equivalent, table[:, 0], table[:, 1]) == pytest.approx(r.pass_mark)
        assert f"{r.equivalent:8.2f}" in out
    theory, practical = (next(r for r in rows if r.part == p) for p in ("theory", "practical"))
    # the practical questions are the same on both papers: one test, the identity
    assert practical.equivalent == 60.0 and practical.se == 0.0
    assert all(x == e for x, e, _ in practical.table)
    # the theory papers differ: parallel forms, the pass mark moves a little, measured
    assert 0 < theory.common_items < 40  # of the 40 theory questions
    assert abs(theory.equivalent - 60.0) < 8
    assert theory.se is not None and 0 < theory.se < 5
    assert len(audit) == 1 and audit[0].detail["run"] == 1
    sheet = openpyxl.load_workbook(tmp_path / "c.xlsx").active
    assert sheet is not None
    got = list(sheet.iter_rows(values_only=True))
    assert got[0] == ("part", "form", "score", "equivalent_on_A", "se")
    assert len(got) - 1 == sum(len(r.table) for r in rows)
    theory_rows = [g for g in got[1:] if g[0] == "theory"]
    stored = next(r for r in rows if r.part == "theory").table
    assert [(g[2], g[3]) for g in theory_rows] == [(x, round(e, 4)) for x, e, _ in stored]
    first = [(r.part, r.equivalent, r.table) for r in rows]

    equate_sitting(sitting.engine, "S1", smoothing=0, replications=0, actor="test")
    assert count(sitting, EquatingRun) == 2
    with Session(sitting.engine) as s:
        again = s.exec(
            select(FormEquating).where(FormEquating.run_id == 1).order_by(col(FormEquating.part))
        ).all()
        second = s.exec(select(FormEquating).where(FormEquating.run_id == 2)).all()
    assert [(r.part, r.equivalent, r.table) for r in again] == first  # run 1 kept as it was
    assert all(r.se is None for r in second)  # no bootstrap asked


def test_common_item_methods_use_the_shared_items_as_the_anchor(sitting: Database) -> None:
    with Session(sitting.engine) as s:
        by_form = {
            form: set(s.exec(select(PaperItem.item_version_id).where(PaperItem.paper_id == pk)))
            for form, pk in (("A", 1), ("B", 2))
        }
    shared = len(by_form["A"] & by_form["B"])
    for method in ("tucker", "levine", "frequency-estimation", "chained"):
        if shared == 0:
            with pytest.raises(EquatingError, match="share no items"):
                equate_sitting(sitting.engine, "S1", method=method, replications=0)
            continue
        summary = equate_sitting(sitting.engine, "S1", method=method, replications=20)
        assert sum(f.common_items for f in summary.forms) == shared
        for f in summary.forms:
            assert abs(f.equivalent - f.pass_mark) < 10, (method, f)
    assert shared > 0, "the sample papers share items, so every common-item method ran"


def test_irt_methods_equate_from_the_calibrated_parameters(sitting: Database) -> None:
    with pytest.raises(EquatingError, match="not calibrated"):
        equate_sitting(sitting.engine, "S1", method="irt-true-score")
    run(sitting, "irt", "calibrate", "S1")
    observed = equate_sitting(sitting.engine, "S1", replications=0)
    by_part = {f.part: f for f in observed.forms}
    for method in ("irt-true-score", "irt-observed-score"):
        summary = equate_sitting(sitting.engine, "S1", method=method, replications=20, seed=1)
        for f in summary.forms:
            table = np.array([row[:2] for row in f.table])
            assert np.all(np.diff(table[:, 1]) >= -1e-9), method
            assert f.se is not None and f.se >= 0
            if f.part == "practical":
                assert f.equivalent == 60.0  # the same questions on both papers
            else:
                # the model's view and the score distributions' agree within a few points
                assert abs(f.equivalent - by_part[f.part].equivalent) < 4, (method, f)
                assert 0 < f.se < 3


def test_the_pass_rule_is_recorded_applied_and_its_differences_counted(
    sitting: Database, tmp_path: Path
) -> None:
    with pytest.raises(EquatingError, match="no equating run"):
        set_pass_rule(sitting.engine, "S1", "equated")
    summary = equate_sitting(sitting.engine, "S1", replications=0, actor="test")
    found = decisions(sitting.engine, "S1")
    assert found is not None and found.rule == "raw" and found.candidates == 300
    assert found.both_pass + found.both_fail + found.differ == 300

    out = run(sitting, "sitting", "pass-rule", "S1", "equated")
    assert "pass rule equated (equating run 1)" in out
    grade_sitting(sitting.engine, "S1")
    marks = {(f.part, f.form): f.equivalent for f in summary.forms}
    _, scored = score_sitting(sitting.engine, "S1")
    with Session(sitting.engine) as s:
        stored = {
            reg.admission_no: res
            for reg, res in s.exec(
                select(Registration, Result).join(
                    Result, col(Result.registration_id) == col(Registration.id)
                )
            )
        }
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "pass-rule")).one()
    assert entry.detail == {"rule": "equated", "run": 1, "before": {"rule": "raw", "run": None}}
    raw_passes = 0
    for c in scored:
        assert c.passed is not None
        expected = all(c.parts[p] >= marks.get((p, c.form), 60.0) - 1e-9 for p in c.parts)
        assert stored[c.admission_no].passed is expected
        raw_passes += all(v >= 60.0 - 1e-9 for v in c.parts.values())
    now = decisions(sitting.engine, "S1")
    assert now is not None and now.rule == "equated"
    equated_passes = sum(r.passed for r in stored.values())
    assert equated_passes - raw_passes == len(now.equated_only) - len(now.raw_only)

    # the exam report shows the rule, each form's equated mark and the decisions compared
    run(sitting, "stats", "S1", "--out", str(tmp_path / "stats"))
    text = squeeze(
        subprocess.run(
            ["pdftotext", "-layout", str(tmp_path / "stats" / "S1-统计分析.pdf"), "-"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert "八、分数等值与合格判定" in text
    assert "按第1次等值的等值合格分判定" in text
    theory = next(f for f in summary.forms if f.part == "theory")
    assert f"{theory.equivalent:.2f}" in text
    differ = len(now.raw_only) + len(now.equated_only)
    assert f"判定不同{differ}人" in text and f"均合格{now.both_pass}人" in text

    # back to raw, by the same command; a run of another sitting is refused
    set_pass_rule(sitting.engine, "S1", "raw")
    with pytest.raises(EquatingError, match="not of this sitting"):
        set_pass_rule(sitting.engine, "S1", "equated", run_id=99)


def test_an_equated_rule_with_a_form_the_run_lacks_is_refused_at_grading(
    sitting: Database,
) -> None:
    equate_sitting(sitting.engine, "S1", replications=0)
    set_pass_rule(sitting.engine, "S1", "equated")
    with Session(sitting.engine) as s:
        for row in s.exec(select(FormEquating).where(FormEquating.form == "B")):
            s.delete(row)
        s.commit()
    with pytest.raises(PassRuleError, match="form\\(s\\) B"):
        grade_sitting(sitting.engine, "S1")


def test_too_few_candidates_or_an_unknown_reference_is_refused_and_nothing_stored(
    database: Database, tmp_path: Path
) -> None:
    graded_sitting(database, tmp_path, "S1", count=40)
    with pytest.raises(EquatingError, match="at least 30 graded candidates") as refused:
        equate_sitting(database.engine, "S1")
    assert "A (" in str(refused.value) and "B (" in str(refused.value)
    with pytest.raises(EquatingError, match="reference form Z"):
        equate_sitting(database.engine, "S1", reference="Z")
    with pytest.raises(EquatingError, match="unknown method"):
        equate_sitting(database.engine, "S1", method="magic")
    assert count(database, EquatingRun) == 0 and count(database, FormEquating) == 0
    with Session(database.engine) as s:
        assert s.exec(select(Sitting)).one().pass_rule == "raw"


def test_forms_without_common_items_are_refused_for_common_item_methods() -> None:
    """Two forms of a part that share no question: a common-item method has no anchor and
    says so, naming the part and forms; equipercentile (random groups) still equates them."""
    from certify.grading import form_equating as fe
    from certify.grading.service import CandidateScores

    rng = np.random.default_rng(4)
    scores = []
    for i in range(200):
        form = "AB"[i % 2]
        pks = range(1, 11) if form == "A" else range(11, 21)
        answers = {pk: float(rng.random() < 0.6) * 10 for pk in pks}
        scores.append(
            CandidateScores(f"K{i}", form, answers, {"theory": sum(answers.values())}, True)
        )
    part = fe._Part(
        "theory", {"A": 100.0, "B": 100.0}, {"A": set(range(1, 11)), "B": set(range(11, 21))}, 60.0
    )
    for method in fe.ANCHORED:
        with pytest.raises(EquatingError, match=r"theory B → A.*share no items"):
            fe._equate_form(part, "B", "A", scores, method, 4, 0, 0)
    found = fe._equate_form(part, "B", "A", scores, "equipercentile", 4, 20, 0)
    assert found.common_items == 0 and abs(found.equivalent - 60.0) < 15
