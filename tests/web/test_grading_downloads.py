"""The marking progress (per question, per rater) and the grading's pending list download as
workbooks holding what the pages show, for the admin only."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl

from certify.grading import simulate
from certify.grading.marks import marking_progress
from certify.grading.sheets import candidate_copies
from schemas.enums import JobState
from tests.web.conftest import Site
from tests.web.test_sittings import create, graded_in_the_background, people
from tests.web.test_uploads import post_file

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rows_of(response: Any) -> list[tuple[Any, ...]]:
    assert response.status_code == 200 and response.headers["Content-Type"] == XLSX
    return list(
        openpyxl.load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True)
    )


def test_the_marking_progress_downloads_as_the_page_shows_it(site: Site) -> None:
    client = site.signed_in("admin")
    progress = marking_progress(site.database.engine, "S1")
    page = client.get("/admin/sittings/S1/marking").get_data(as_text=True)
    assert "/admin/sittings/S1/marking-questions.xlsx" in page
    assert "/admin/sittings/S1/marking-raters.xlsx" in page
    questions = rows_of(client.get("/admin/sittings/S1/marking-questions.xlsx"))
    assert questions[0][0] == "题号 question" and len(questions) == len(progress.questions) + 1
    assert [r[:3] for r in questions[1:]] == [
        (q.question, item, q.scripts) for q, item in progress.questions
    ]
    assert sum(r[8] for r in questions[1:]) == progress.final > 0
    raters = rows_of(client.get("/admin/sittings/S1/marking-raters.xlsx"))
    assert raters[0][0] == "评分员 rater"
    assert raters[1:] == [(r.rater, *r.rounds, r.total) for r in progress.raters]
    assert client.get("/admin/sittings/NOPE/marking-raters.xlsx").status_code == 404


def test_the_pending_list_downloads_with_who_has_no_sheet(site: Site, tmp_path: Path) -> None:
    client = site.signed_in("admin")
    empty = rows_of(client.get("/admin/sittings/S1/pending.xlsx"))
    assert empty == [("准考证号 admission", "原因 reason")]
    assert create(site, client).status_code == 302
    roster = people(4)
    path = simulate.write_roster(tmp_path / "r.csv", roster)
    post_file(site, client, "/admin/sittings/S2/roster", "r.csv", path.read_bytes())
    _, copies = candidate_copies(site.database.engine, "S2")
    views = {a: v for a, (_, v) in copies.items() if a != roster[3].admission_no}
    sheets = simulate.write_sheets(
        tmp_path / "s.csv", views, dict.fromkeys(views, 1.0), np.random.default_rng(2)
    )
    post_file(site, client, "/admin/sittings/S2/sheets", "s.csv", sheets.read_bytes())
    assert graded_in_the_background(site, client, "S2").state is JobState.DONE
    assert "/admin/sittings/S2/pending.xlsx" in client.get("/admin/sittings/S2/grading").get_data(
        as_text=True
    )
    rows = rows_of(client.get("/admin/sittings/S2/pending.xlsx"))
    pending = {a for a, reason in rows[1:] if reason.startswith("待评分")}
    no_sheet = {a for a, reason in rows[1:] if reason.startswith("无答题卡")}
    assert pending == {p.admission_no for p in roster}
    assert no_sheet == {roster[3].admission_no}
    secrets = [p.id_number for p in roster] + [p.name for p in roster]
    assert not [s for s in secrets if any(s in str(c) for row in rows for c in row)]


def test_the_downloads_are_for_the_admin_only(site: Site) -> None:
    urls = ["/admin/sittings/S1/marking-questions.xlsx", "/admin/sittings/S1/marking-raters.xlsx",
            "/admin/sittings/S1/pending.xlsx"]  # fmt: skip
    for url in urls:
        assert site.client().get(url).status_code == 302
        for role in ("committee", "rater", "invigilator"):
            assert site.signed_in(role).get(url).status_code == 403, (role, url)
