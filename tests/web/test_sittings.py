"""A sitting's workflow in the browser: creating it and setting its blueprint and date,
applications with each refusal's reasons and overrides, the roster and answer sheets, the
marking progress, grading and regrading as background jobs (the regrade's changes shown before
they are confirmed), results and the statistics report — every post CSRF-checked and audited,
every refusal on its page with the database unchanged, every string shown inert, no ID number
or full name on any page."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from certify.grading import simulate
from certify.grading.analysis import exam_report
from certify.grading.sheets import candidate_copies, import_sheets
from certify.infra.tabular import write_table
from schemas.enums import CertificateStatus, JobState
from schemas.tables import (
    Application,
    AuditEntry,
    Candidate,
    Certificate,
    Registration,
    Result,
    Sitting,
)
from tests.helpers import snapshot
from tests.pdf_tools import pdf_pages, squeeze
from tests.web.conftest import Site
from tests.web.test_uploads import page_text, post_file

HOSTILE = "<script>alert('x')</script>'; DROP TABLE sitting; --"
BLUEPRINT = "ai-junior-sample"


def runner(site: Site) -> Any:
    return site.app.extensions["certify"].jobs


def audit(site: Site, action: str) -> list[AuditEntry]:
    with Session(site.database.engine) as session:
        return list(
            session.exec(
                select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
            )
        )


def create(site: Site, client: FlaskClient, **fields: str) -> Any:
    data = {"code": "S2", "blueprint": BLUEPRINT, "institution": "测试评价机构", **fields}
    return client.post("/admin/sittings", data={"csrf_token": site.csrf(client), **data})


def people(count: int, prefix: str = "W") -> list[simulate.SimulatedCandidate]:
    return simulate.candidates(
        count, ["A", "B"], np.random.default_rng(7), prefix=prefix, area="110101"
    )


# --- every page answers ----------------------------------------------------------------------


def test_every_page_of_a_sitting_answers_the_admin(site: Site) -> None:
    client = site.signed_in("admin")
    pages = ["settings", "applications", "roster", "sheets", "marking", "grading", "regrade",
             "results"]  # fmt: skip
    for name in pages:
        response = client.get(f"/admin/sittings/S1/{name}")
        assert response.status_code == 200, name
        assert "S1" in page_text(response)
    for name in ("roster", "applications", "results"):
        workbook = client.get(f"/admin/sittings/S1/{name}.xlsx")
        assert workbook.status_code == 200 and workbook.data[:2] == b"PK", name
    stats = client.get("/admin/sittings/S1/stats")
    assert stats.status_code == 200 and "尚未统计" in page_text(stats)
    assert client.get("/admin/sittings/NOPE/roster").status_code == 404
    hub = page_text(client.get("/admin/sittings/S1"))
    assert "/admin/sittings/S1/applications" in hub and "/admin/sittings/S1/regrade" in hub
    assert "申报/登记" in hub and f"{BLUEPRINT}</a>" in hub


def test_every_post_needs_the_forms_csrf_token(site: Site) -> None:
    client = site.signed_in("admin")
    before = snapshot(site.database.engine)
    posts = [
        "/admin/sittings",
        "/admin/sittings/S1/settings",
        "/admin/sittings/S1/applications",
        "/admin/sittings/S1/applications/1/override",
        "/admin/sittings/S1/roster",
        "/admin/sittings/S1/sheets",
        "/admin/sittings/S1/grade",
        "/admin/sittings/S1/regrade",
        "/admin/sittings/S1/regrade/confirm",
        "/admin/sittings/S1/stats",
    ]
    for url in posts:
        response = client.post(url, data={"code": "X", "reason": "r", "confirm": "yes"})
        assert response.status_code == 400 and "表单已过期" in page_text(response), url
    assert snapshot(site.database.engine) == before


def test_other_roles_are_refused_every_sitting_page(site: Site) -> None:
    for role in ("rater", "committee", "invigilator"):
        client = site.signed_in(role)
        assert client.get("/admin/sittings/S1/roster").status_code == 403
        refused = client.post("/admin/sittings/S1/grade", data={"csrf_token": site.csrf(client)})
        assert refused.status_code == 403
    assert site.client().get("/admin/sittings/S1/results").status_code == 302


# --- creating, blueprint and date ------------------------------------------------------------


def test_a_sitting_is_created_and_its_date_set_under_the_account(site: Site) -> None:
    client = site.signed_in("admin")
    created = create(site, client, starts_at="2026-06-01 09:00")
    assert created.status_code == 302 and created.location == "/admin/sittings/S2"
    with Session(site.database.engine) as session:
        row = session.exec(select(Sitting).where(Sitting.code == "S2")).one()
    assert row.institution == "测试评价机构" and row.starts_at is not None
    assert row.starts_at.strftime("%Y-%m-%d %H:%M") == "2026-06-01 09:00"
    entry = audit(site, "sitting.create")[-1]
    assert (entry.actor, entry.subject) == ("web:admin", "S2")
    settings_page = page_text(client.get("/admin/sittings/S2/settings"))
    assert 'value="2026-06-01 09:00"' in settings_page and f'value="{BLUEPRINT}"' in settings_page
    saved = client.post(
        "/admin/sittings/S2/settings",
        data={"csrf_token": site.csrf(client), "blueprint": BLUEPRINT, "starts_at": "2026-07-02"},
    )
    assert saved.status_code == 302
    (entry,) = audit(site, "sitting.set")
    assert entry.actor == "web:admin" and entry.detail["starts_at"].startswith("2026-07-02")
    assert entry.detail["before"]["starts_at"].startswith("2026-06-01")


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"blueprint": "none-such"}, "no blueprint none-such"),
        ({"code": "S1"}, "sitting S1 exists already"),
        ({"code": "../x"}, "a sitting code is 1-64 letters"),
        ({"institution": "  "}, "the institution is required"),
        ({"institution": "无此机构"}, "no institution"),
        ({"starts_at": "June the first"}, "YYYY-MM-DD"),
    ],
)
def test_a_refused_sitting_keeps_what_was_typed_and_stores_nothing(
    site: Site, fields: dict[str, str], says: str
) -> None:
    client = site.signed_in("admin")
    before = snapshot(site.database.engine)
    refused = create(site, client, **fields)
    text = page_text(refused)
    assert refused.status_code == 400 and says in text
    for value in fields.values():
        if value.strip():
            assert f'value="{value}"' in text
    assert snapshot(site.database.engine) == before


def test_the_blueprint_cannot_change_once_candidates_are_registered(site: Site) -> None:
    client = site.signed_in("admin")
    before = snapshot(site.database.engine)
    refused = client.post(
        "/admin/sittings/S1/settings",
        data={"csrf_token": site.csrf(client), "blueprint": "none-such", "starts_at": "x"},
    )
    assert refused.status_code == 400 and 'value="none-such"' in page_text(refused)
    refused = client.post(
        "/admin/sittings/S1/settings",
        data={"csrf_token": site.csrf(client), "blueprint": "none-such", "starts_at": ""},
    )
    assert refused.status_code == 400 and "no blueprint none-such" in page_text(refused)
    assert snapshot(site.database.engine) == before


# --- applications ----------------------------------------------------------------------------


def applicants_file(folder: Path, applied: list[simulate.SimulatedCandidate], short: int) -> Path:
    rng = np.random.default_rng(1)
    on = date(2026, 6, 1)
    return simulate.write_applicants(folder / "申报.csv", applied, "junior", on, rng, short=short)


def test_applications_show_each_refusal_with_its_reasons_and_take_an_override(
    site: Site, tmp_path: Path
) -> None:
    client = site.signed_in("admin")
    assert create(site, client).status_code == 302
    applied = people(5)
    path = applicants_file(tmp_path, applied, short=2)
    uploaded = post_file(
        site, client, "/admin/sittings/S2/applications", "申报.csv", path.read_bytes()
    )
    assert uploaded.status_code == 302 and "decision=refused" in uploaded.location
    page = page_text(client.get(uploaded.location))
    assert "共 2 份申请" in page and "培训学时" in page and 'data-decision="refused"' in page
    assert applied[3].id_number not in page and applied[3].name not in page
    english = page_text(client.get(uploaded.location + "&lang=en"))
    assert "training hours" in english
    client.get("/admin/sittings/S2/applications?lang=zh")
    with Session(site.database.engine) as session:
        refused_ids = [
            a.id
            for a in session.exec(
                select(Application)
                .where(Application.decision == "refused")
                .order_by(col(Application.row))
            )
        ]
    url = f"/admin/sittings/S2/applications/{refused_ids[0]}/override"
    before = snapshot(site.database.engine)
    no_reason = client.post(url, data={"csrf_token": site.csrf(client), "reason": " ", "form": "B"})
    assert no_reason.status_code == 400 and "an override needs a reason" in page_text(no_reason)
    assert snapshot(site.database.engine) == before
    # an application of another sitting is not reachable through this one
    other = client.post(
        f"/admin/sittings/S1/applications/{refused_ids[0]}/override",
        data={"csrf_token": site.csrf(client), "reason": "x"},
    )
    assert other.status_code == 400 and "has no application" in page_text(other)
    done = client.post(url, data={"csrf_token": site.csrf(client), "reason": HOSTILE, "form": ""})
    assert done.status_code == 302
    page = page_text(client.get("/admin/sittings/S2/applications"))
    assert "破格受理" in page and HOSTILE not in page and "&lt;script&gt;" in page
    (entry,) = audit(site, "application.override")
    assert entry.actor == "web:admin" and entry.detail["reason"] == HOSTILE
    again = client.post(url, data={"csrf_token": site.csrf(client), "reason": "again"})
    assert again.status_code == 400 and "accepted already" in page_text(again)
    workbook = openpyxl.load_workbook(
        io.BytesIO(client.get("/admin/sittings/S2/applications.xlsx").data)
    )
    cells = [[c.value for c in row] for row in workbook.active.iter_rows()]
    assert len(cells) == 6 and any(HOSTILE in str(c) for row in cells for c in row)


def test_a_bad_applicant_file_lists_every_problem_and_stores_nothing(
    site: Site, tmp_path: Path
) -> None:
    client = site.signed_in("admin")
    assert create(site, client).status_code == 302
    path = write_table(
        tmp_path / "a.csv", ["姓名", "身份证号", "学历"], [[HOSTILE, HOSTILE, HOSTILE]] * 3
    )
    before = snapshot(site.database.engine, but=("job",))
    refused = post_file(
        site, client, "/admin/sittings/S2/applications", "申报.csv", path.read_bytes()
    )
    text = page_text(refused)
    assert refused.status_code == 400 and "申报.csv" in text and "id_number" in text
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    assert snapshot(site.database.engine, but=("job",)) == before


# --- the roster and answer sheets ------------------------------------------------------------


def test_a_roster_with_hostile_names_is_stored_as_typed_and_shown_inert(
    site: Site, tmp_path: Path
) -> None:
    client = site.signed_in("admin")
    assert create(site, client).status_code == 302
    roster = people(3)
    rows = [[p.admission_no, HOSTILE + str(n), p.id_number, p.form] for n, p in enumerate(roster)]
    path = write_table(tmp_path / "r.csv", ["准考证号", "姓名", "身份证号", "试卷"], rows)
    uploaded = post_file(site, client, "/admin/sittings/S2/roster", "名册.csv", path.read_bytes())
    assert uploaded.status_code == 302
    with Session(site.database.engine) as session:
        names = set(
            session.exec(select(Candidate.name).where(col(Candidate.name).startswith("<script>")))
        )
    assert names == {HOSTILE + str(n) for n in range(3)}
    html = client.get("/admin/sittings/S2/roster").get_data(as_text=True)
    assert "<script>alert" not in html and "DROP TABLE" not in html  # masked, and escaped
    assert "共 3 名考生" in page_text(client.get("/admin/sittings/S2/roster"))
    assert all(p.id_number not in html for p in roster)
    entry = audit(site, "sitting.roster")[-1]
    assert entry.actor == "web:admin" and entry.detail["registered"] == 3
    # the same file again: every row is already registered; nothing changes
    before = snapshot(site.database.engine, but=("job",))
    again = post_file(site, client, "/admin/sittings/S2/roster", "名册.csv", path.read_bytes())
    assert again.status_code == 400 and "already registered" in page_text(again)
    assert "<script>alert" not in again.get_data(as_text=True)
    assert snapshot(site.database.engine, but=("job",)) == before


def test_the_roster_pages_and_sorts_on_the_server(site: Site) -> None:
    client = site.signed_in("admin")
    first = page_text(client.get("/admin/sittings/S1/roster?per_page=20"))
    assert "共 30 名考生" in first and "1 / 2" in first
    last = page_text(client.get("/admin/sittings/S1/roster?per_page=20&sort=admission_no&dir=desc"))
    numbers = re.findall(r"<tr><td>(SIM\d+)</td>", last)
    assert numbers == sorted(numbers, reverse=True) and len(numbers) == 20
    beyond = client.get("/admin/sittings/S1/roster?per_page=20&page=9")
    assert beyond.status_code == 302 and "page=2" in beyond.location
    wrong = client.get("/admin/sittings/S1/roster?sort=name&per_page=7")
    assert wrong.status_code == 400 and "sort, per_page" in page_text(wrong)


def test_answer_sheets_upload_and_a_bad_file_is_refused_whole(site: Site, tmp_path: Path) -> None:
    client = site.signed_in("admin")
    assert create(site, client).status_code == 302
    roster = people(4)
    path = simulate.write_roster(tmp_path / "r.csv", roster)
    assert (
        post_file(site, client, "/admin/sittings/S2/roster", "r.csv", path.read_bytes()).status_code
        == 302
    )
    _, copies = candidate_copies(site.database.engine, "S2")
    views = {a: v for a, (_, v) in copies.items()}
    sheets = simulate.write_sheets(
        tmp_path / "s.csv", views, dict.fromkeys(views, 1.0), np.random.default_rng(2)
    )
    bad = write_table(
        tmp_path / "bad.csv", ["准考证号", "试卷", "1"], [[HOSTILE, HOSTILE, HOSTILE]]
    )
    before = snapshot(site.database.engine, but=("job",))
    refused = post_file(site, client, "/admin/sittings/S2/sheets", "卡.csv", bad.read_bytes())
    assert refused.status_code == 400 and "卡.csv" in page_text(refused)
    assert "<script>alert" not in refused.get_data(as_text=True)
    assert snapshot(site.database.engine, but=("job",)) == before
    done = post_file(site, client, "/admin/sittings/S2/sheets", "s.csv", sheets.read_bytes())
    assert done.status_code == 302
    roster_page = page_text(client.get(done.location))
    assert roster_page.count("<td>✓</td>") == 4
    entry = audit(site, "sheets.import")[-1]
    assert entry.actor == "web:admin"


# --- marking, grading, regrading -------------------------------------------------------------


def test_the_marking_progress_counts_every_question_and_rater(site: Site) -> None:
    from certify.grading.marks import marking_progress

    client = site.signed_in("admin")
    progress = marking_progress(site.database.engine, "S1")
    page = page_text(client.get("/admin/sittings/S1/marking"))
    assert progress.scripts > 0 and progress.final == progress.scripts
    assert f"主观题答卷 {progress.scripts} 份，已有最终分 {progress.final} 份" in page
    for q, item in progress.questions:
        assert f"<td>{q.question}</td><td>{item}</td><td>{q.scripts}</td>" in page
    for r in progress.raters:
        assert f"<td>{r.rater}</td>" in page
    assert sum(r.total for r in progress.raters) == sum(
        q.first + q.second + q.third_done for q, _ in progress.questions
    )


def graded_in_the_background(site: Site, client: FlaskClient, code: str) -> Any:
    submitted = client.post(f"/admin/sittings/{code}/grade", data={"csrf_token": site.csrf(client)})
    assert submitted.status_code == 302 and "/admin/jobs/" in submitted.location
    (job,) = runner(site).run_pending()
    return job


def test_grading_runs_in_the_background_and_lists_who_is_pending(
    site: Site, tmp_path: Path
) -> None:
    client = site.signed_in("admin")
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
    job = graded_in_the_background(site, client, "S2")
    assert job.state is JobState.DONE, job.error
    page = page_text(client.get("/admin/sittings/S2/grading"))
    # nobody's subjective answers are marked: everyone is pending, one has no sheet either
    assert "待评分的考生" in page
    for p in roster:
        assert f"<li>{p.admission_no}</li>" in page
    assert "无答题卡的考生" in page and roster[3].admission_no in page
    entry = audit(site, "grade")[-1]
    assert entry.actor == "web:admin" and entry.detail["pending"] == 4
    job_page = page_text(client.get(f"/admin/jobs/{job.id}"))
    assert "阅卷评分" in job_page and 'href="/admin/sittings/S2/grading"' in job_page


def test_one_grading_or_regrade_at_a_time_per_sitting(site: Site) -> None:
    client = site.signed_in("admin")
    first = client.post("/admin/sittings/S1/grade", data={"csrf_token": site.csrf(client)})
    assert first.status_code == 302
    busy = client.post("/admin/sittings/S1/regrade", data={"csrf_token": site.csrf(client)})
    assert busy.status_code == 400 and "holds this" in page_text(busy)
    (job,) = runner(site).run_pending()
    assert job.state is JobState.DONE  # a locked sitting: nothing moves, everything kept
    assert "成绩已锁定" in page_text(client.get("/admin/sittings/S1/grading"))


def worse_sheet(site: Site, folder: Path) -> tuple[str, str, Path]:
    """A replaced sheet with no answers for a certified candidate; (admission number, serial)."""
    with Session(site.database.engine) as session:
        cert, admission = session.exec(
            select(Certificate, Registration.admission_no)
            .join(Registration, col(Registration.id) == col(Certificate.registration_id))
            .order_by(col(Certificate.serial))
        ).first() or (None, "")
    assert cert is not None
    _, copies = candidate_copies(site.database.engine, "S1")
    view = copies[admission][1]
    path = write_table(folder / "worse.csv", ["准考证号", "试卷"], [[admission, view.form]])
    return admission, cert.serial, path


def test_a_regrade_shows_its_changes_before_they_are_confirmed(site: Site, tmp_path: Path) -> None:
    client = site.signed_in("admin")
    admission, serial, path = worse_sheet(site, tmp_path)
    replaced = client.post(
        "/admin/sittings/S1/sheets",
        data={
            "csrf_token": site.csrf(client),
            "replace": "1",
            "file": (io.BytesIO(path.read_bytes()), "w.csv"),
        },
        content_type="multipart/form-data",
    )
    assert replaced.status_code == 302
    started = client.post("/admin/sittings/S1/regrade", data={"csrf_token": site.csrf(client)})
    assert started.status_code == 302
    before = snapshot(site.database.engine)
    (diff,) = runner(site).run_pending()
    assert diff.state is JobState.DONE, diff.error
    page = page_text(client.get("/admin/sittings/S1/regrade"))
    assert admission in page and serial in page and "跨越合格线" in page
    assert "证书将暂停待复核" in page and "确认并应用" in page
    assert f"{serial} ({CertificateStatus.VALID.zh})" in page
    # working out the differences wrote nothing but the job's own row
    after = snapshot(site.database.engine)
    assert {k: v for k, v in after.items() if k not in ("job",)} == {
        k: v for k, v in before.items() if k not in ("job",)
    }
    unticked = client.post(
        "/admin/sittings/S1/regrade/confirm",
        data={"csrf_token": site.csrf(client), "diff": str(diff.id)},
    )
    assert unticked.status_code == 400 and "tick the confirmation" in page_text(unticked)
    wrong = client.post(
        "/admin/sittings/S1/regrade/confirm",
        data={"csrf_token": site.csrf(client), "diff": str(diff.id + 100), "confirm": "yes"},
    )
    assert wrong.status_code == 400 and "newest regrade" in page_text(wrong)
    confirmed = client.post(
        "/admin/sittings/S1/regrade/confirm",
        data={"csrf_token": site.csrf(client), "diff": str(diff.id), "confirm": "yes"},
    )
    assert confirmed.status_code == 302
    (applied,) = runner(site).run_pending()
    assert applied.state is JobState.DONE and applied.result["suspended"] == [serial]
    with Session(site.database.engine) as session:
        cert = session.exec(select(Certificate).where(Certificate.serial == serial)).one()
        result = session.exec(
            select(Result)
            .join(Registration, col(Registration.id) == col(Result.registration_id))
            .where(Registration.admission_no == admission)
        ).one()
    assert cert.status == "suspended" and result.passed is False
    (entry,) = audit(site, "regrade")
    assert entry.actor == "web:admin" and entry.detail["certificates_suspended"] == [serial]
    # the same diff cannot be applied twice: the stored results moved
    twice = client.post(
        "/admin/sittings/S1/regrade/confirm",
        data={"csrf_token": site.csrf(client), "diff": str(diff.id), "confirm": "yes"},
    )
    assert twice.status_code == 302
    (stale,) = runner(site).run_pending()
    assert stale.state is JobState.FAILED and "regrade_stale" in stale.error
    assert len(audit(site, "regrade")) == 1


# --- results ---------------------------------------------------------------------------------


def test_the_statistics_are_computed_in_the_background_and_shown_with_their_date(
    site: Site, tmp_path: Path
) -> None:
    """The statistics page and its PDF show what the newest statistics job computed (the same
    call as ``certify stats``), say when, and say so once a later grading changed the results."""
    client = site.signed_in("admin")
    early = client.get("/admin/sittings/S1/report.pdf")
    assert early.status_code == 302 and early.location.endswith("/admin/sittings/S1/stats")
    assert "尚未统计" in page_text(client.get(early.location))
    submitted = client.post("/admin/sittings/S1/stats", data={"csrf_token": site.csrf(client)})
    assert submitted.status_code == 302 and "/admin/jobs/" in submitted.location
    busy = client.post("/admin/sittings/S1/grade", data={"csrf_token": site.csrf(client)})
    assert busy.status_code == 400 and "holds this" in page_text(busy)  # one job per sitting
    (job,) = runner(site).run_pending()
    assert job.kind == "sitting.report" and job.state is JobState.DONE, job.error
    expected = exam_report(site.database.engine, "S1")
    page = page_text(client.get("/admin/sittings/S1/stats"))
    assert f"{expected.candidates} · 合格 {expected.passed}" in page
    assert f"任务 #{job.id}" in page and "已过时" not in page
    for item in expected.items:
        assert f"<td>{item.label}</td><td>{item.item_id}</td><td>{item.attempts}</td>" in page
    pdf = client.get("/admin/sittings/S1/report.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    (tmp_path / "report.pdf").write_bytes(pdf.data)
    text = squeeze("".join(pdf_pages(tmp_path / "report.pdf")))
    assert "S1" in text and f"{expected.candidates}" in text
    graded = graded_in_the_background(site, client, "S1")
    assert graded.state is JobState.DONE
    stale = page_text(client.get("/admin/sittings/S1/stats"))
    assert f"此后成绩有变动（任务 #{graded.id}）" in stale and "已过时" in stale
    sitting_page = page_text(client.get("/admin/sittings/S1"))
    assert f"/admin/jobs/{job.id}" in sitting_page


def test_statistics_say_they_are_out_of_date_once_answers_change_from_anywhere(
    site: Site, tmp_path: Path
) -> None:
    """A sheet stored from the command line (no job of the web's) after the statistics were
    computed: the page says they are out of date, until they are computed again."""
    client = site.signed_in("admin")
    client.post("/admin/sittings/S1/stats", data={"csrf_token": site.csrf(client)})
    runner(site).run_pending()
    assert "已过时" not in page_text(client.get("/admin/sittings/S1/stats"))
    _, copies = candidate_copies(site.database.engine, "S1")
    admission, (_, view) = min(copies.items())
    sheet = simulate.write_sheets(
        tmp_path / "one.csv", {admission: view}, {admission: 1.0}, np.random.default_rng(3)
    )
    import_sheets(site.database.engine, "S1", sheet, replace=True, actor="cli")
    stale = page_text(client.get("/admin/sittings/S1/stats"))
    assert "此后有新的作答、评分或成绩" in stale and "已过时" in stale
    client.post("/admin/sittings/S1/stats", data={"csrf_token": site.csrf(client)})
    runner(site).run_pending()
    assert "已过时" not in page_text(client.get("/admin/sittings/S1/stats"))


def test_results_page_sort_and_download(site: Site) -> None:
    client = site.signed_in("admin")
    page = page_text(client.get("/admin/sittings/S1/results?sort=total&dir=desc&per_page=20"))
    totals = [
        float(t) for t in re.findall(r"</td><td>(\d+\.\d)</td><td>(?:合格|不合格)</td></tr>", page)
    ]
    assert len(totals) == 20 and totals == sorted(totals, reverse=True)
    workbook = openpyxl.load_workbook(
        io.BytesIO(client.get("/admin/sittings/S1/results.xlsx").data)
    )
    rows = list(workbook.active.iter_rows(values_only=True))
    assert len(rows) == 31 and rows[0][0] == "准考证号 admission"


def test_no_sitting_page_shows_an_id_number_or_a_full_name(site: Site) -> None:
    """Every GET page and download of a sitting, as the admin (its statistics computed)."""
    client = site.signed_in("admin")
    client.post("/admin/sittings/S1/stats", data={"csrf_token": site.csrf(client)})
    (computed,) = runner(site).run_pending()
    assert computed.state is JobState.DONE, computed.error
    secrets = [p.id_number for p in site.people] + [p.name for p in site.people]
    urls = ["/admin/sittings/S1"]
    for rule in site.app.url_map.iter_rules():
        get = rule.endpoint.startswith(("sittings.", "grading.")) and "GET" in (rule.methods or ())
        if get and "<token>" not in rule.rule:
            urls.append(rule.rule.replace("<code>", "S1"))
    assert len(urls) >= 12
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.data.decode("utf-8", "replace")
        if url.endswith(".xlsx"):
            body = " ".join(
                str(c.value)
                for row in openpyxl.load_workbook(io.BytesIO(response.data)).active.iter_rows()
                for c in row
            )
        if url.endswith(".pdf"):
            continue
        leaked = [s for s in secrets if s in body]
        assert not leaked, (url, leaked[:3])


def test_a_regrade_resumed_after_its_changes_were_written_reports_them(
    site: Site, tmp_path: Path
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from certify.certificates.regrade import apply_regrade
    from certify.certificates.regrade_job import APPLY_REGRADE, run_regrade_apply
    from certify.grading.grading_job import change_of
    from certify.infra.jobs import STALE_AFTER, claim_job
    from schemas.tables import Job, utcnow

    engine = site.database.engine
    client = site.signed_in("admin")
    _, serial, path = worse_sheet(site, tmp_path)
    post = {"csrf_token": site.csrf(client), "replace": "1"}
    client.post(
        "/admin/sittings/S1/sheets",
        data={**post, "file": (io.BytesIO(path.read_bytes()), "w.csv")},
        content_type="multipart/form-data",
    )
    client.post("/admin/sittings/S1/regrade", data={"csrf_token": site.csrf(client)})
    (diff,) = runner(site).run_pending()
    confirm = {"csrf_token": site.csrf(client), "diff": str(diff.id), "confirm": "yes"}
    assert client.post("/admin/sittings/S1/regrade/confirm", data=confirm).status_code == 302
    job = claim_job(engine, "gone:1:1", {APPLY_REGRADE: run_regrade_apply})
    assert job is not None
    # the process wrote the changes, then stopped before recording the job's end
    changes = [change_of(c) for c in diff.result["changes"]]
    assert apply_regrade(engine, "S1", changes, actor=job.actor).suspended == [serial]
    with Session(engine) as session, session.begin():
        session.execute(
            update(Job).values(heartbeat_at=utcnow() - STALE_AFTER - timedelta(seconds=1))
        )
    resumed = client.post(f"/admin/jobs/{job.id}/resume", data={"csrf_token": site.csrf(client)})
    assert resumed.status_code == 302
    (done,) = runner(site).run_pending()
    assert done.state is JobState.DONE and done.result["resumed"] is True
    assert len(audit(site, "regrade")) == 1


def test_an_unknown_sitting_is_404_on_every_page_and_post(site: Site) -> None:
    client = site.signed_in("admin")
    for rule in site.app.url_map.iter_rules():
        if not rule.endpoint.startswith(("sittings.", "grading.")) or "<code>" not in rule.rule:
            continue
        url = rule.rule.replace("<code>", "NO-SUCH").replace("<int:application_id>", "1")
        if "GET" in (rule.methods or ()):
            assert client.get(url).status_code == 404, url
        if "POST" in (rule.methods or ()):
            data = {"csrf_token": site.csrf(client), "reason": "x", "diff": "1", "confirm": "yes"}
            response = client.post(url, data=data)
            assert response.status_code == 404 and "no sitting NO-SUCH" in page_text(response), url
