"""A sitting graded end to end in a real database: sheets, blind marks, results."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlmodel import Session, select

from certify.grading.marks import import_marks, marking_list
from certify.grading.service import grade_sitting, score_sitting
from certify.grading.sheets import candidate_copies, import_sheets
from certify.infra.errors import ValidationFailed
from certify.registration.identity import IdentityVault, check_character
from certify.registration.sittings import create_sitting, import_roster
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import assemble_papers
from question_bank.samples import sample_blueprints, sample_files
from schemas.enums import ItemType
from schemas.tables import Result
from tests.conftest import Database
from tests.helpers import institution, snapshot

VAULT = IdentityVault(b"g" * 32)


def id_number(n: int) -> str:
    first17 = f"37010219900101{n:03d}"
    return first17 + check_character(first17)


@pytest.fixture
def sitting(database: Database, tmp_path: Path) -> Database:
    for path in sample_files():
        if path.name == "ai-junior.json":
            import_bank(database.engine, path)
    bp = next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")
    assemble_papers(database.engine, load_blueprint(bp))
    create_sitting(
        database.engine,
        "S1",
        "ai-junior-sample",
        institution=institution(database.engine, "测试评价机构"),
    )
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "准考证号,姓名,身份证号,试卷\n"
        + "".join(f"K{n},考生{n},{id_number(n)},{'AB'[n % 2]}\n" for n in range(4)),
        encoding="utf-8",
    )
    import_roster(database.engine, "S1", roster, VAULT)
    return database


def write_sheets(database: Database, path: Path, correct: set[str]) -> None:
    """Candidates in ``correct`` answer every objective question right, in their own letters."""
    _, copies = candidate_copies(database.engine, "S1")
    numbers = sorted(
        {
            q.number
            for _, v in copies.values()
            for q in v.questions
            if q.type is not ItemType.SUBJECTIVE
        }
    )
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["准考证号", "试卷", *numbers])
        for admission, (_, view) in sorted(copies.items()):
            by_number = {q.number: q for q in view.questions}
            row = []
            for n in numbers:
                q = by_number[n]
                if admission not in correct:
                    row.append("")
                elif q.type is ItemType.FILL:
                    row.append(";".join(blank.split("|")[0] for blank in q.key.split(";")))
                else:
                    row.append(q.key)
            writer.writerow([admission, view.form, *row])


def write_marks(database: Database, path: Path, marks: dict[str, float], rater: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["评分员", "评卷号", "分数"])
        for script in marking_list(database.engine, "S1"):
            writer.writerow([rater, script.code, marks.get(script.code, script.maximum)])


def test_right_answers_in_shuffled_copies_score_full_marks(
    sitting: Database, tmp_path: Path
) -> None:
    write_sheets(sitting, tmp_path / "sheets.csv", {"K0", "K1"})
    import_sheets(sitting.engine, "S1", tmp_path / "sheets.csv")
    write_marks(sitting, tmp_path / "r1.csv", {}, "评分员甲")
    write_marks(sitting, tmp_path / "r2.csv", {}, "评分员乙")
    import_marks(sitting.engine, "S1", tmp_path / "r1.csv")
    import_marks(sitting.engine, "S1", tmp_path / "r2.csv")
    report = grade_sitting(sitting.engine, "S1")
    assert (report.graded, report.passed) == (4, 2)
    _, scores = score_sitting(sitting.engine, "S1")
    by_admission = {s.admission_no: s for s in scores}
    assert by_admission["K0"].parts == {"theory": 100.0, "practical": 100.0}
    assert by_admission["K2"].parts == {"theory": 0.0, "practical": 100.0}
    with Session(sitting.engine) as session:
        assert len(session.exec(select(Result)).all()) == 4


def test_candidates_without_both_marks_stay_pending(sitting: Database, tmp_path: Path) -> None:
    write_sheets(sitting, tmp_path / "sheets.csv", {"K0"})
    import_sheets(sitting.engine, "S1", tmp_path / "sheets.csv")
    write_marks(sitting, tmp_path / "r1.csv", {}, "甲")
    import_marks(sitting.engine, "S1", tmp_path / "r1.csv")
    report = grade_sitting(sitting.engine, "S1")
    assert report.graded == 0 and sorted(report.pending) == ["K0", "K1", "K2", "K3"]


def test_far_apart_marks_need_a_third_and_no_fourth(sitting: Database, tmp_path: Path) -> None:
    scripts = marking_list(sitting.engine, "S1")
    first = scripts[0]
    write_marks(sitting, tmp_path / "r1.csv", {first.code: 0}, "甲")
    write_marks(sitting, tmp_path / "r2.csv", {}, "乙")
    import_marks(sitting.engine, "S1", tmp_path / "r1.csv")
    import_marks(sitting.engine, "S1", tmp_path / "r2.csv")
    third = tmp_path / "r3.csv"
    third.write_text(f"评分员,评卷号,分数\n丙,{first.code},{first.maximum}\n", encoding="utf-8")
    assert import_marks(sitting.engine, "S1", third) == 1
    other = tmp_path / "r4.csv"
    other.write_text(f"评分员,评卷号,分数\n丙,{scripts[1].code},1\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as err:
        import_marks(sitting.engine, "S1", other)
    assert err.value.problems[0].code == "no_more_marks"


def test_bad_marks_refuse_the_whole_file(sitting: Database, tmp_path: Path) -> None:
    scripts = marking_list(sitting.engine, "S1")
    path = tmp_path / "bad.csv"
    path.write_text(
        "评分员,评卷号,分数\n"
        f"甲,{scripts[0].code},{scripts[0].maximum + 1}\n"
        f"甲,NOSUCH,1\n"
        f"甲,{scripts[1].code},2\n",
        encoding="utf-8",
    )
    before = snapshot(sitting.engine)
    with pytest.raises(ValidationFailed) as err:
        import_marks(sitting.engine, "S1", path)
    assert [(p.row, p.field, p.code) for p in err.value.problems] == [
        (2, "mark", "out_of_range"),
        (3, "script", "unknown_script"),
    ]
    assert snapshot(sitting.engine) == before


def test_the_marking_list_carries_no_identity(sitting: Database) -> None:
    for script in marking_list(sitting.engine, "S1"):
        text = " ".join(str(v) for v in vars(script).values())
        assert "K0" not in text and "考生" not in text and id_number(0) not in text


def test_bad_sheets_are_refused_with_row_and_question(sitting: Database, tmp_path: Path) -> None:
    _, copies = candidate_copies(sitting.engine, "S1")
    view = copies["K0"][1]
    single = next(q for q in view.questions if q.type is ItemType.SINGLE)
    subjective = next(q for q in view.questions if q.type is ItemType.SUBJECTIVE)
    path = tmp_path / "bad.csv"
    path.write_text(
        f"准考证号,试卷,{single.number},{subjective.number}\n"
        f"K0,A,Z,\n"
        f"K9,A,A,\n"
        f"K1,A,A,\n"
        f"K2,A,,写了答案\n",
        encoding="utf-8",
    )
    before = snapshot(sitting.engine)
    with pytest.raises(ValidationFailed) as err:
        import_sheets(sitting.engine, "S1", path)
    found = [(p.row, p.field, p.code) for p in err.value.problems]
    assert found == [
        (2, str(single.number), "bad_answer"),
        (3, "admission_no", "unknown_candidate"),
        (4, "form", "wrong_form"),
        (5, str(subjective.number), "bad_answer"),
    ]
    assert snapshot(sitting.engine) == before


def test_the_commands_grade_report_and_export(sitting: Database, tmp_path: Path) -> None:
    import subprocess

    from click.testing import CliRunner

    from cli import cli

    write_sheets(sitting, tmp_path / "sheets.csv", {"K0", "K1", "K2"})
    write_marks(sitting, tmp_path / "r1.csv", {}, "甲")
    write_marks(sitting, tmp_path / "r2.csv", {}, "乙")

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--db", sitting.url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("sheets", "S1", str(tmp_path / "sheets.csv"))
    run("marks", "list", "S1", "--out", str(tmp_path / "list.csv"))
    assert "K0" not in (tmp_path / "list.csv").read_text("utf-8-sig")
    run("marks", "import", "S1", str(tmp_path / "r1.csv"))
    run("marks", "import", "S1", str(tmp_path / "r2.csv"))
    assert "graded 4, 合格 passed 3" in run("grade", "S1")
    out = run("results", "S1", "--out", str(tmp_path / "results.csv"))
    assert "考* " in out or "考*" in out
    assert "考生0" not in out and "考生0" not in (tmp_path / "results.csv").read_text("utf-8-sig")
    stats = run("stats", "S1", "--out", str(tmp_path / "stats"))
    assert "4 人 candidates" in stats
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "stats" / "S1-统计分析.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "试题分析" in text
    with (tmp_path / "stats" / "S1-作答明细.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 * 44 and {r["admission_no"] for r in rows} == {"K0", "K1", "K2", "K3"}
    right = [r for r in rows if r["admission_no"] == "K0" and r["type"] == "single"]
    assert all(r["response"] == r["key_printed"] and r["score"] == r["points"] for r in right)


def test_a_planted_copier_is_found_across_shuffled_copies_and_honest_ones_are_not(
    database: Database, tmp_path: Path
) -> None:
    import numpy as np

    from certify.grading import simulate
    from certify.grading.analysis import exam_report

    for path in sample_files():
        if path.name == "ai-senior.json":
            import_bank(database.engine, path)
    bp = next(p for p in sample_blueprints() if p.name == "ai-senior.yaml")
    assemble_papers(database.engine, load_blueprint(bp))
    create_sitting(
        database.engine,
        "S2",
        "ai-senior-sample",
        institution=institution(database.engine, "测试评价机构"),
    )
    rng = np.random.default_rng(1)  # repeatable: seeds for shuffles come from it too
    people = simulate.candidates(60, ["A", "B"], rng)
    import_roster(
        database.engine,
        "S2",
        simulate.write_roster(tmp_path / "r.csv", people),
        VAULT,
        shuffle_seed=simulate.seeds(rng),
    )
    _, copies = candidate_copies(database.engine, "S2")
    weakest = sorted((p for p in people if p.form == "A"), key=lambda p: p.ability)
    pair = (weakest[0].admission_no, weakest[1].admission_no)
    views = {a: v for a, (_, v) in copies.items()}
    simulate.write_sheets(
        tmp_path / "s.csv", views, {p.admission_no: p.ability for p in people}, rng, copier=pair
    )
    import_sheets(database.engine, "S2", tmp_path / "s.csv")
    for path in simulate.write_marks(
        tmp_path, [(s.code, s.maximum, 0.0) for s in marking_list(database.engine, "S2")], rng
    ):
        import_marks(database.engine, "S2", path)
    grade_sitting(database.engine, "S2")
    data = exam_report(database.engine, "S2")
    assert [(p.a, p.b) for p in data.similar_pairs] == [tuple(sorted(pair))]
    assert data.candidates == 60 and 0 < data.cic <= 100


def test_a_key_correction_regrades_with_a_dry_run_first(sitting: Database, tmp_path: Path) -> None:
    import json

    from certify.certificates.regrade import apply_regrade
    from certify.grading.service import regrade_diff, sitting_results
    from schemas.tables import AuditEntry

    write_sheets(sitting, tmp_path / "sheets.csv", {"K0", "K1"})
    import_sheets(sitting.engine, "S1", tmp_path / "sheets.csv")
    for n, rater in enumerate(["甲", "乙"]):
        write_marks(sitting, tmp_path / f"m{n}.csv", {}, rater)
        import_marks(sitting.engine, "S1", tmp_path / f"m{n}.csv")
    grade_sitting(sitting.engine, "S1")
    assert regrade_diff(sitting.engine, "S1") == []
    # correct the key of one single-choice question on form A: a new version, same options
    _, copies = candidate_copies(sitting.engine, "S1")
    q = next(q for q in copies["K0"][1].questions if q.type is ItemType.SINGLE)
    bank = json.loads(
        next(p for p in sample_files() if p.name == "ai-junior.json").read_text("utf-8")
    )
    item = next(i for i in bank["items"] if i["item_id"] == q.item_id)
    item["key"] = next(c for c in item["options"] if c != item["key"])
    fixed = tmp_path / "fix.json"
    fixed.write_text(
        json.dumps({"format": "certify-bank/1", "items": [item]}, ensure_ascii=False),
        encoding="utf-8",
    )
    assert import_bank(sitting.engine, fixed).new_versions == 1
    before = snapshot(sitting.engine)
    changes = regrade_diff(sitting.engine, "S1")
    assert snapshot(sitting.engine) == before  # a dry run writes nothing
    assert "K0" in {c.admission_no for c in changes}
    k0 = next(c for c in changes if c.admission_no == "K0")
    assert k0.before["theory"] - k0.after["theory"] == q.points
    assert apply_regrade(sitting.engine, "S1", changes).changed == len(changes)
    stored = {r.admission_no: r for r in sitting_results(sitting.engine, "S1")}
    assert stored["K0"].parts == k0.after
    with Session(sitting.engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "regrade")).one()
    assert {c["admission_no"] for c in entry.detail["changes"]} == {c.admission_no for c in changes}
    assert regrade_diff(sitting.engine, "S1") == []


def test_answer_sheets_can_be_json(sitting: Database, tmp_path: Path) -> None:
    import json

    _, copies = candidate_copies(sitting.engine, "S1")
    view = copies["K0"][1]
    answers = {
        str(q.number): q.key
        for q in view.questions
        if q.type in (ItemType.SINGLE, ItemType.MULTIPLE)
    }
    path = tmp_path / "sheets.json"
    path.write_text(
        json.dumps([{"准考证号": "K0", "试卷": "A", **answers}], ensure_ascii=False),
        encoding="utf-8",
    )
    report = import_sheets(sitting.engine, "S1", path)
    assert report.sheets == 1


def test_round_one_can_be_corrected_until_round_two_starts(
    sitting: Database, tmp_path: Path
) -> None:
    script = marking_list(sitting.engine, "S1")[0]

    def mark(rater: str, value: float, name: str) -> Path:
        path = tmp_path / name
        path.write_text(f"评分员,评卷号,分数\n{rater},{script.code},{value}\n", encoding="utf-8")
        return path

    import_marks(sitting.engine, "S1", mark("甲", 3, "a.csv"))
    assert (
        import_marks(sitting.engine, "S1", mark("甲", 4, "b.csv")) == 1
    )  # a correction, still round one
    import_marks(sitting.engine, "S1", mark("乙", 4, "c.csv"))  # round two starts
    with pytest.raises(ValidationFailed) as err:
        import_marks(sitting.engine, "S1", mark("甲", 5, "d.csv"))
    assert (
        err.value.problems[0].code == "marked_twice"
        and "locked" in err.value.problems[0].message_en
    )
