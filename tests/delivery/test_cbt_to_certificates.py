"""A sitting taken at computers ends where a paper sitting does: the same response rows, the
same grading and statistics, a published pass list and certificates that verify."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlmodel import Session, col, select

from certify.certificates.issuance import Issuer
from certify.certificates.publication import publish
from certify.delivery import attempts
from certify.delivery.copies import COPIES
from certify.grading import simulate
from certify.grading.analysis import exam_report
from certify.grading.marks import import_marks, marking_list
from certify.grading.service import grade_sitting, score_sitting
from certify.grading.sheets import import_sheets
from schemas.enums import ItemType
from schemas.tables import Certificate, Registration, Response, Result
from tests.certify.signing_helpers import PASS, make_keys
from tests.conftest import Database
from tests.delivery.delivery_helpers import START, ready_exam


def test_answers_given_at_computers_grade_publish_and_certify_as_paper_ones(
    database: Database, tmp_path: Path
) -> None:
    exam = ready_exam(database, tmp_path, count=8, part="", rooms=1, handin_minutes=0)
    engine = database.engine
    rng = np.random.default_rng(11)
    now = START + timedelta(minutes=5)
    typed: dict[str, dict[int, str]] = {}
    for n, person in enumerate(exam.people):
        token = exam.sign_in(person)
        paper = attempts.paper(engine, token, now=now)
        copy = COPIES.get(engine, _registration(database, person.admission_no), "")
        strong = n % 4 != 3  # one in four answers at random, the rest mostly right
        entries, answers = [], {}
        for q in copy.questions:
            if q.type is ItemType.SUBJECTIVE:
                value = f"第{q.number}题的作答：数据清洗、特征工程与模型评估。"
            elif strong and rng.random() < 0.9:
                value = q.key
            elif q.type.has_options:
                value = str(rng.choice(sorted(q.options)))
            elif q.type is ItemType.TRUE_FALSE:
                value = str(rng.choice(["T", "F"]))
            else:
                value = "不知道"
            answers[q.number] = value
            entries.append(attempts.Entry(len(entries) + 1, q.number, value))
        assert len(paper["parts"]) == 2
        saved = attempts.save(engine, token, entries, now=now)
        assert saved["refused"] == [] and len(saved["acked"]) == len(entries)
        if n == 0:  # one never hands in: the sweeper closes them at the deadline
            continue
        assert attempts.hand_in(engine, token, now=now)["status"] == "handed_in"
        typed[person.admission_no] = answers
    attempts.sweep(engine, now=START + timedelta(minutes=121))

    # The response rows are what was typed, in the candidate's own printed letters.
    for person in exam.people[1:]:
        reg = _registration(database, person.admission_no)
        copy = COPIES.get(engine, reg, "")
        with Session(engine) as session:
            rows = {
                r.item_version_id: r.raw
                for r in session.exec(select(Response).where(Response.registration_id == reg))
            }
        assert rows == {
            q.item_version_pk: typed[person.admission_no][q.number] for q in copy.questions
        }

    # Scoring a computer-based sitting equals scoring the same answers given on paper sheets.
    _, cbt = score_sitting(engine, "S1")
    sheets = tmp_path / "sheets.csv"
    _write_sheets(sheets, exam, typed | {exam.people[0].admission_no: _first(database, exam)})
    import_sheets(engine, "S1", sheets, replace=True)
    _, paper_scores = score_sitting(engine, "S1")
    first = COPIES.get(engine, _registration(database, exam.people[0].admission_no), "")
    objective = {q.item_version_pk for q in first.questions if q.type.is_objective}
    for a, b in zip(cbt, paper_scores, strict=True):
        assert a.admission_no == b.admission_no
        assert {k: v for k, v in a.questions.items() if k in objective} == {
            k: v for k, v in b.questions.items() if k in objective
        }

    scripts = [(s.code, s.maximum, 1.5) for s in marking_list(engine, "S1")]
    for path in simulate.write_marks(tmp_path, scripts, rng):
        import_marks(engine, "S1", path)
    report = grade_sitting(engine, "S1")
    assert not report.pending
    with Session(engine) as session:
        results = session.exec(select(Result)).all()
    assert len(results) == 8 and any(r.passed for r in results)
    assert exam_report(engine, "S1").candidates == 8

    publish(engine, "S1", tmp_path / "notices", days=7, opened_on=date.today() - timedelta(days=10))
    make_keys(database, kinds=[1, 2])
    issued = Issuer.open(engine, "SD-EVAL-01", PASS, out=tmp_path / "certs").issue_level("S1")
    with Session(engine) as session:
        certificates = session.exec(select(Certificate)).all()
    assert len(certificates) == sum(r.passed for r in results) == len(issued.issued)


def _registration(database: Database, admission_no: str) -> int:
    with Session(database.engine) as session:
        return (
            session.exec(
                select(Registration.id).where(Registration.admission_no == admission_no)
            ).one()
            or 0
        )


def _first(database: Database, exam: object) -> dict[int, str]:
    """The answers the sweeper handed in for the candidate who never did."""
    person = exam.people[0]  # type: ignore[attr-defined]
    reg = _registration(database, person.admission_no)
    copy = COPIES.get(database.engine, reg, "")
    with Session(database.engine) as session:
        rows = {
            r.item_version_id: r.raw
            for r in session.exec(select(Response).where(col(Response.registration_id) == reg))
        }
    return {q.number: rows[q.item_version_pk] for q in copy.questions}


def _write_sheets(path: Path, exam: object, answers: dict[str, dict[int, str]]) -> None:
    """An answer-sheet file of the same answers (subjective questions are not on sheets)."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        numbers = sorted({n for a in answers.values() for n in a})
        writer = csv.writer(fh)
        writer.writerow(["admission_no", *numbers])
        for admission, given in answers.items():
            reg = _registration(exam.database, admission)  # type: ignore[attr-defined]
            copy = COPIES.get(exam.database.engine, reg, "")  # type: ignore[attr-defined]
            writer.writerow(
                [
                    admission,
                    *[
                        given.get(n, "") if copy.by_number[n].type.is_objective else ""
                        for n in numbers
                    ],
                ]
            )
