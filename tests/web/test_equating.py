"""Equating and the pass rule in the browser: an equating run as a background job (the same
call as ``certify irt equate``), its pass marks and conversion tables on the page and as a
workbook, and the pass rule switched raw ↔ equated once the decision consistency is confirmed;
refusals answer the page with the form as typed and store nothing."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import Session, col, func, select

from certify.accounts import create_account
from certify.grading.form_equating import decisions
from certify.infra.settings import Settings
from certify.web import create_app
from schemas.enums import JobState
from schemas.tables import AuditEntry, EquatingRun, FormEquating, Sitting
from tests.certify.exam_helpers import VAULT, graded_sitting
from tests.conftest import Database
from tests.web.conftest import PASSWORDS, Site
from tests.web.test_sittings import runner
from tests.web.test_uploads import page_text

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def large(database: Database, tmp_path: Path) -> Site:
    """A graded sitting of 300 on forms A and B, nothing published: equating can run."""
    people = graded_sitting(database, tmp_path, "S1", count=300, strength=0.0)
    for role in ("admin", "committee"):
        create_account(database.engine, role, role, PASSWORDS[role])
    settings = Settings.load(
        {}, web_secret="test-secret", data_dir=tmp_path, rate_limit=100_000, sweep_seconds=0,
        job_seconds=0,
    )  # fmt: skip
    app = create_app(settings, engine=database.engine, vault=VAULT)
    app.config["TESTING"] = True
    return Site(database, app, people, [], {}, {}, {}, tmp_path)


def equate(site: Site, client: Any, **fields: str) -> Any:
    form = {"csrf_token": site.csrf(client), "method": "equipercentile", "reference": "",
            "smoothing": "4", "replications": "20", "seed": "7", **fields}  # fmt: skip
    return client.post("/admin/sittings/S1/equating", data=form)


def count(site: Site, table: type) -> int:
    with Session(site.database.engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_an_equating_runs_in_the_background_and_shows_its_tables(large: Site) -> None:
    site = large
    client = site.signed_in("admin")
    assert "尚无等值结果" in page_text(client.get("/admin/sittings/S1/equating"))
    submitted = equate(site, client)
    assert submitted.status_code == 302 and "/admin/jobs/" in submitted.location
    (job,) = runner(site).run_pending()
    assert job.state is JobState.DONE, job.error
    with Session(site.database.engine) as session:
        run = session.exec(select(EquatingRun)).one()
        rows = session.exec(select(FormEquating).order_by(col(FormEquating.part))).all()
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "equate")).one()
    assert (run.method, run.reference_form, run.replications, run.seed) == (
        "equipercentile", "A", 20, 7,
    )  # fmt: skip
    assert run.actor == entry.actor == "web:admin"
    html = client.get("/admin/sittings/S1/equating").get_data(as_text=True)
    for r in rows:
        assert f"<td>{r.part}</td><td>{r.form}</td><td>{r.candidates}</td>" in html
        assert f"{r.equivalent:.2f}" in html
    expected = decisions(site.database.engine, "S1", run_id=run.id)
    assert expected is not None
    shown = re.search(r'data-count="candidates">(\d+)<', html)
    assert shown and int(shown[1]) == expected.candidates == 300
    raw_only = re.search(r'data-count="raw_only">(\d+)', html)
    assert raw_only and int(raw_only[1]) == len(expected.raw_only)
    workbook = client.get(f"/admin/sittings/S1/equating/{run.id}.xlsx")
    assert workbook.headers["Content-Type"] == XLSX
    sheet = list(
        openpyxl.load_workbook(io.BytesIO(workbook.data)).active.iter_rows(values_only=True)
    )
    assert sheet[0][:3] == ("部分 part", "试卷 form", "原始分 score")
    assert len(sheet) == 1 + sum(len(r.table) for r in rows)
    assert client.get("/admin/sittings/S1/equating/999.xlsx").status_code == 404


def test_the_pass_rule_switches_only_when_confirmed(large: Site) -> None:
    site = large
    client = site.signed_in("admin")
    queued = equate(site, client, replications="0")
    assert queued.status_code == 302, queued.get_data(as_text=True)  # why, if it was refused
    (job,) = runner(site).run_pending()
    run_id = job.result["run"]
    form = {"csrf_token": site.csrf(client), "rule": "equated", "run": str(run_id)}
    refused = client.post("/admin/sittings/S1/pass-rule", data=form)
    assert refused.status_code == 400 and "tick the confirmation" in refused.get_data(as_text=True)
    assert 'value="equated" checked' in refused.get_data(as_text=True)
    with Session(site.database.engine) as session:
        assert session.exec(select(Sitting.pass_rule)).one() == "raw"
    done = client.post("/admin/sittings/S1/pass-rule", data={**form, "confirm": "yes"})
    assert done.status_code == 302 and done.location.endswith(f"/equating?run={run_id}")
    with Session(site.database.engine) as session:
        sitting = session.exec(select(Sitting)).one()
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "pass-rule")).one()
    assert (sitting.pass_rule, sitting.equating_run_id) == ("equated", run_id)
    assert entry.actor == "web:admin" and entry.detail["run"] == run_id
    assert 'data-rule="equated"' in client.get(done.location).get_data(as_text=True)
    back = client.post(
        "/admin/sittings/S1/pass-rule", data={**form, "rule": "raw", "confirm": "yes"}
    )
    assert back.status_code == 302
    with Session(site.database.engine) as session:
        assert session.exec(select(Sitting.pass_rule)).one() == "raw"


def test_a_refused_equating_keeps_the_form_and_stores_nothing(large: Site) -> None:
    site = large
    client = site.signed_in("admin")
    for fields, says in (
        ({"method": "magic"}, "unknown method"),
        ({"smoothing": "9"}, "smoothing is 0 to 8"),
        ({"replications": "lots"}, "replications must be a whole number"),
    ):
        refused = equate(site, client, reference="B", **fields)
        html = refused.get_data(as_text=True)
        assert refused.status_code == 400 and says in html, fields
        assert 'id="reference" name="reference" value="B"' in html
    # an unknown reference form is found by the job: it fails, naming it, and nothing is stored
    equate(site, client, reference="Z")
    (job,) = runner(site).run_pending()
    assert job.state is JobState.FAILED and "reference form Z" in (job.error or "")
    assert "reference form Z" in client.get("/admin/sittings/S1/equating").get_data(as_text=True)
    assert count(site, EquatingRun) == 0
    unknown = client.get("/admin/sittings/S1/equating?run=999")
    assert unknown.status_code == 400 and "no equating run 999" in unknown.get_data(as_text=True)


def test_equating_waits_for_grading_and_a_locked_sitting_keeps_its_rule(site: Site) -> None:
    """The site's sitting is published and certified: its results are locked."""
    client = site.signed_in("admin")
    grading = client.post("/admin/sittings/S1/grade", data={"csrf_token": site.csrf(client)})
    assert grading.status_code == 302
    busy = equate(site, client, reference="B")
    html = busy.get_data(as_text=True)
    assert busy.status_code == 400 and "holds this; wait for it to end" in html
    assert 'id="reference" name="reference" value="B"' in html
    regrade = client.post("/admin/sittings/S1/regrade", data={"csrf_token": site.csrf(client)})
    assert regrade.status_code == 400  # and the other way round
    (graded,) = runner(site).run_pending()
    assert graded.kind == "sitting.grade" and graded.state is JobState.DONE, graded
    # 30 candidates on two forms: too few to equate; the job says so
    queued = equate(site, client, replications="0")
    assert queued.status_code == 302, queued.get_data(as_text=True)  # why, if it was refused
    (job,) = runner(site).run_pending()
    assert job.state is JobState.FAILED and "at least 30" in (job.error or "")
    form = {"csrf_token": site.csrf(client), "rule": "raw", "confirm": "yes"}
    locked = client.post("/admin/sittings/S1/pass-rule", data=form)
    assert locked.status_code == 400 and "cannot change" in locked.get_data(as_text=True)
    assert client.post("/admin/sittings/NOPE/pass-rule", data=form).status_code == 404
    for role in ("committee", "rater", "invigilator"):
        other = site.signed_in(role)
        assert other.get("/admin/sittings/S1/equating").status_code == 403
        assert equate(site, other).status_code == 403
    no_csrf = client.post("/admin/sittings/S1/equating", data={"method": "equipercentile"})
    assert no_csrf.status_code == 400
    assert count(site, EquatingRun) == 0
