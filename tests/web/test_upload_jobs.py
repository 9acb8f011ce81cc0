"""Uploads imported as background jobs: a file whose import takes longer than the page waits is
answered at once with its job's page, which follows it to the end — the result, or every problem
row by row with the CSV of them all; the kept file is gone afterwards; a job whose process stopped
resumes from the kept file; one job at a time per sitting; a rater follows their own job and no
one else's."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlmodel import Session, func, select

from certify.accounts import create_account
from certify.grading import simulate
from certify.grading.grading_job import submit_grading
from certify.infra.jobs import JobView, get_job
from certify.infra.tabular import write_table
from certify.infra.uploads import UPLOADS, keep_upload
from certify.registration.import_jobs import ROSTER, submit_roster
from schemas.enums import JobState
from schemas.tables import Job, Registration, utcnow
from tests.helpers import snapshot
from tests.web.conftest import Site
from tests.web.test_sittings import HOSTILE, audit, create, people, runner
from tests.web.test_uploads import bad_marks, page_text, post_file


@pytest.fixture
def slow(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """The site, its upload pages waiting for no import at all: every upload shows its job."""
    monkeypatch.setitem(site.app.config, "UPLOAD_WAIT_SECONDS", 0)
    return site


def finished(site: Site, job_id: int) -> JobView:
    deadline = time.monotonic() + 60
    while not (job := get_job(site.database.engine, job_id)).finished:
        assert time.monotonic() < deadline, "the import job did not end"
        time.sleep(0.05)
    return job


def kept_files(site: Site) -> list[Path]:
    folder: Path = site.app.extensions["certify"].data_dir / UPLOADS
    return sorted(folder.iterdir()) if folder.exists() else []


def job_id_of(response: Any) -> int:
    assert response.status_code == 302, response.data
    assert response.location.startswith("/admin/jobs/"), response.location
    return int(response.location.rsplit("/", 1)[1])


def registered(site: Site) -> int:
    with Session(site.database.engine) as session:
        return session.exec(select(func.count()).select_from(Registration)).one()


def test_a_slow_import_answers_at_once_and_its_page_follows_it_to_the_result(
    slow: Site, tmp_path: Path
) -> None:
    client = slow.signed_in("admin")
    assert create(slow, client).status_code == 302
    roster = simulate.write_roster(tmp_path / "r.csv", people(4))
    before = registered(slow)
    response = post_file(slow, client, "/admin/sittings/S2/roster", "名册.csv", roster.read_bytes())
    job_id = job_id_of(response)
    page = page_text(client.get(response.location))
    assert "导入名册" in page and "正在后台导入" in page  # the flash says why this page
    job = finished(slow, job_id)
    assert job.state is JobState.DONE and job.kind == ROSTER and job.actor == "web:admin"
    assert job.result["registered"] == 4 and registered(slow) == before + 4
    state = client.get(f"/admin/jobs/{job_id}.json").get_json()
    assert state["state"] == "done" and state["leads_to"] == "/admin/sittings/S2/roster"
    assert state["stays"] is True  # the page reloads to say what the import did
    done = page_text(client.get(f"/admin/jobs/{job_id}"))
    assert "名册.csv: 登记 4 人，新考生 4" in done and 'href="/admin/sittings/S2/roster"' in done
    assert "file" not in state and "params" not in state  # where the file was kept stays inside
    assert kept_files(slow) == []


def test_a_slow_refused_import_shows_every_problem_on_its_page_and_as_csv(
    slow: Site, tmp_path: Path
) -> None:
    client = slow.signed_in("admin")
    assert create(slow, client).status_code == 302
    bad = write_table(
        tmp_path / "a.csv",
        ["姓名", "身份证号", "学历"],
        [[HOSTILE, f"1101{n}", "本科"] for n in range(12)],
    )
    before = snapshot(slow.database.engine, but=("job",))
    response = post_file(
        slow, client, "/admin/sittings/S2/applications", "申报 2026.csv", bad.read_bytes()
    )
    job = finished(slow, job_id_of(response))
    assert job.state is JobState.FAILED and job.result["problem_count"] == len(job.problems) >= 12
    assert snapshot(slow.database.engine, but=("job",)) == before
    assert kept_files(slow) == []
    page = client.get(f"/admin/jobs/{job.id}")
    text = page_text(page)
    assert page.status_code == 200 and "nothing was imported" in text
    assert "<td>申报 2026.csv</td><td>2</td><td>id_number</td>" in text
    assert "<script>alert" not in page.get_data(as_text=True)
    download = client.get(f"/admin/jobs/{job.id}/problems.csv")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert len(rows) == 1 + len(job.problems)
    assert {r[0] for r in rows[1:]} == {"申报 2026.csv"}  # never the name it was kept under
    assert not any(str(tmp_path) in cell or "uploads" in cell for r in rows for cell in r)


def test_an_interrupted_import_resumes_from_its_kept_file(site: Site, tmp_path: Path) -> None:
    client = site.signed_in("admin")
    assert create(site, client).status_code == 302
    engine = site.database.engine
    roster = simulate.write_roster(tmp_path / "r.csv", people(3))
    saved = tmp_path / "saved.csv"  # as the upload's request saved it, then kept it
    saved.write_bytes(roster.read_bytes())
    kept = keep_upload(site.app.extensions["certify"].data_dir, saved)
    # A process took the job and stopped before it imported anything.
    job = submit_roster(
        engine, "S2", kept, "名册.csv", max_bytes=1 << 20, actor="web:admin", account_id=None,
        worker="gone:1",
    )  # fmt: skip
    with Session(engine) as session:
        stale = utcnow() - timedelta(minutes=5)
        session.exec(update(Job).where(Job.id == job.id).values(heartbeat_at=stale))  # type: ignore[call-overload]
        session.commit()
    assert get_job(engine, job.id).interrupted
    assert "继续执行" in page_text(client.get(f"/admin/jobs/{job.id}"))
    # Another import of the sitting waits for it.
    busy = post_file(site, client, "/admin/sittings/S2/roster", "again.csv", roster.read_bytes())
    assert busy.status_code == 400 and f"Job {job.id}" in page_text(busy)
    assert kept_files(site) == [kept]  # the refused upload was not kept
    resumed = client.post(f"/admin/jobs/{job.id}/resume", data={"csrf_token": site.csrf(client)})
    assert resumed.status_code == 302
    before = registered(site)
    [ran] = runner(site).run_pending()
    assert ran.id == job.id and ran.state is JobState.DONE and ran.attempts == 2
    assert registered(site) == before + 3 and kept_files(site) == []


def test_the_runner_resumes_an_interrupted_import_by_itself_a_few_times_only(
    site: Site, tmp_path: Path
) -> None:
    client = site.signed_in("admin")
    assert create(site, client).status_code == 302
    engine = site.database.engine
    roster = simulate.write_roster(tmp_path / "r.csv", people(2))
    kept = keep_upload(site.app.extensions["certify"].data_dir, roster)
    job = submit_roster(
        engine, "S2", kept, "名册.csv", max_bytes=1 << 20, actor="web:admin", account_id=None,
        worker="gone:1",
    )  # fmt: skip

    def stopped(attempts: int) -> None:
        with Session(engine) as session:
            stale = utcnow() - timedelta(minutes=5)
            values = {"heartbeat_at": stale, "attempts": attempts, "state": JobState.RUNNING}
            session.exec(update(Job).where(Job.id == job.id).values(**values))  # type: ignore[call-overload]
            session.commit()

    stopped(3)  # brought its process down three times: left to a person
    assert runner(site).run_pending() == [] and get_job(engine, job.id).interrupted
    stopped(1)
    before = registered(site)
    [ran] = runner(site).run_pending()  # no one pressed anything
    assert ran.id == job.id and ran.state is JobState.DONE and registered(site) == before + 2
    entries = audit(site, "job.resume")
    assert entries[-1].actor == "certify:jobs" and entries[-1].subject == str(job.id)


def test_uploads_wait_for_the_sittings_other_jobs(site: Site, tmp_path: Path) -> None:
    client = site.signed_in("admin")
    holder = submit_grading(site.database.engine, "S1", actor="web:admin", account_id=None)
    sheets = write_table(tmp_path / "s.csv", ["准考证号", "试卷", "1"], [["SIM0001", "A", "A"]])
    before = snapshot(site.database.engine)
    busy = post_file(site, client, "/admin/sittings/S1/sheets", "卡.csv", sheets.read_bytes())
    assert busy.status_code == 400 and f"Job {holder.id}" in page_text(busy)
    assert snapshot(site.database.engine) == before and kept_files(site) == []
    runner(site).run_pending()  # the grading ends; the sitting is free again


def rater_client(site: Site, name: str) -> FlaskClient:
    create_account(site.database.engine, name, "rater", f"{name}-password")
    client = site.client()
    client.get("/login")
    data = {"username": name, "password": f"{name}-password", "csrf_token": site.csrf(client)}
    assert client.post("/login", data=data).status_code == 302
    return client


def test_a_rater_follows_their_own_import_and_no_one_elses(slow: Site) -> None:
    client = slow.signed_in("rater")
    response = post_file(slow, client, "/rater/sittings/S1/marks", "m.csv", bad_marks(slow, 12))
    job = finished(slow, job_id_of(response))
    assert job.state is JobState.FAILED and len(job.problems) == 12
    page = client.get(f"/admin/jobs/{job.id}")
    assert page.status_code == 200 and "NOPE0011" in page_text(page)
    assert client.get(f"/admin/jobs/{job.id}/problems.csv").status_code == 200
    other = rater_client(slow, "rater3")
    for url in (f"/admin/jobs/{job.id}", f"/admin/jobs/{job.id}.json",
                f"/admin/jobs/{job.id}/problems.csv"):  # fmt: skip
        assert other.get(url).status_code == 404
    assert (
        other.post(
            f"/admin/jobs/{job.id}/resume", data={"csrf_token": slow.csrf(other)}
        ).status_code
        == 404
    )
    # Another job altogether (an admin's) is not the rater's either.
    grading = submit_grading(slow.database.engine, "S1", actor="web:admin", account_id=None)
    assert client.get(f"/admin/jobs/{grading.id}").status_code == 404
    runner(slow).run_pending()
