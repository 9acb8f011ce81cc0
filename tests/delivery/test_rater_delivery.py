"""Raters mark typed answers blind: the marking list's answer column, a script's page and its
attachments, reached by the script code only."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import numpy as np

from certify.accounts import create_account
from certify.delivery import attempts
from certify.grading import simulate
from certify.grading.marks import marking_list
from certify.registration.sittings import create_sitting, import_roster
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.delivery.delivery_helpers import START, ready_exam, staff_client
from tests.helpers import institution

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ANSWER = "<script>alert(1)</script>\n第二行：用决策树分类，准确率 0.92"


def typed_exam(database: Database, folder: Path) -> tuple[dict[str, int], list[str]]:
    """S1 delivered at computers (every part); two candidates hand in a typed answer to the
    first subjective question, each with an attachment. Returns attachment ids by admission
    number and the admission numbers."""
    exam = ready_exam(database, folder, count=4, part="", rooms=1)
    files: dict[str, int] = {}
    for n, person in enumerate(exam.people[:2]):
        token = exam.sign_in(person)
        at = START + timedelta(minutes=5)
        paper = attempts.paper(database.engine, token, now=at)
        q = next(q for p in paper["parts"] for q in p["questions"] if q["type"] == "subjective")
        text = ANSWER if n == 0 else "另一位考生的作答"
        entry = attempts.Entry(1, q["number"], text)
        assert attempts.save(database.engine, token, [entry], now=at)["acked"] == [1]
        name = "截图.png" if n == 0 else "other.png"
        files[person.admission_no] = attempts.attach(
            database.engine, token, q["number"], name, PNG, now=at
        )["id"]
        attempts.hand_in(database.engine, token, now=START + timedelta(minutes=40))
    # A paper sitting of the same blueprint beside it.
    rng = np.random.default_rng(9)
    create_sitting(
        database.engine,
        "P1",
        "ai-junior-sample",
        institution=institution(database.engine, "测试评价机构"),
    )
    paper_people = simulate.candidates(2, ["A"], rng, prefix="PAP")
    import_roster(
        database.engine,
        "P1",
        simulate.write_roster(folder / "p.csv", paper_people),
        VAULT,
        shuffle_seed=simulate.seeds(rng),
    )
    create_account(database.engine, "rater", "rater", "rater-password-1")
    create_account(database.engine, "inv", "invigilator", "inv-password-12")
    return files, [p.admission_no for p in exam.people]


def test_the_marking_list_carries_typed_answers_and_paper_leaves_them_empty(
    database: Database, tmp_path: Path
) -> None:
    typed_exam(database, tmp_path)
    client = staff_client(database, "rater", "rater-password-1")
    rows = list(
        csv.DictReader(
            io.StringIO(client.get("/rater/sittings/S1/marking-list.csv").data.decode("utf-8-sig"))
        )
    )
    assert list(rows[0]) == [
        "script", "question", "item_id", "maximum", "stem", "rubric", "answer", "rater", "mark",
    ]  # fmt: skip
    answers = {r["answer"] for r in rows}
    assert ANSWER.replace("\n", "\r\n") in answers or ANSWER in answers
    assert "另一位考生的作答" in answers and "" in answers  # unanswered questions stay empty
    paper = client.get("/rater/sittings/P1/marking-list.csv").data.decode("utf-8-sig")
    assert all(r["answer"] == "" for r in csv.DictReader(io.StringIO(paper)))


def test_a_rater_reads_a_script_and_downloads_its_attachment_never_the_candidate(
    database: Database, tmp_path: Path
) -> None:
    files, admissions = typed_exam(database, tmp_path)
    scripts = marking_list(database.engine, "S1")
    mine = next(s for s in scripts if s.answer == ANSWER)
    other = next(s for s in scripts if s.answer == "另一位考生的作答")
    client = staff_client(database, "rater", "rater-password-1")
    listing = client.get("/rater/sittings/S1/scripts").get_data(as_text=True)
    assert mine.code in listing and all(a not in listing for a in admissions)
    page = client.get(f"/rater/sittings/S1/scripts/{mine.code.lower()}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert mine.rubric[:20] in html and mine.stem[:20] in html and "截图.png" in html
    assert all(a not in html for a in admissions)
    own = files[admissions[0]] if "截图.png" in html else files[admissions[1]]
    link = f"/rater/sittings/S1/scripts/{mine.code}/attachments/{own}"
    assert link in html
    download = client.get(link)
    assert download.status_code == 200 and download.data == PNG
    assert download.headers["Content-Type"] == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    theirs = files[admissions[1]] if own == files[admissions[0]] else files[admissions[0]]
    for forged in (
        f"/rater/sittings/S1/scripts/{mine.code}/attachments/{theirs}",  # another script's file
        f"/rater/sittings/S1/scripts/{other.code}/attachments/{own}",
        f"/rater/sittings/S1/scripts/{mine.code}/attachments/99999",
        f"/rater/sittings/P1/scripts/{mine.code}/attachments/{own}",  # another sitting
        "/rater/sittings/S1/scripts/NOSUCHCODE",
        f"/rater/sittings/NOPE/scripts/{mine.code}",
    ):
        assert client.get(forged).status_code == 404, forged
    # Not for other roles.
    invigilator = staff_client(database, "inv", "inv-password-12")  # lands on the console
    assert invigilator.get("/invigilate/").status_code == 200
    assert invigilator.get(link).status_code in (403, 404)
    assert invigilator.get(f"/rater/sittings/S1/scripts/{mine.code}").status_code in (403, 404)
