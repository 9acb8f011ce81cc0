"""Certificates and keys in the browser: a sitting's certificates issued by a background job that
holds the opened key in its own process only (a wrong passphrase refused before anything is
queued, the passphrase in no table and no log, the job claimed by no other process, an
interrupted run resumed once the passphrase is typed again), downloaded one by one or as a ZIP
whose every PDF's QR code verifies; keys listed, created and rotated; the signed trust and
revocation lists made for download; passphrases refused over plain HTTP in production."""

from __future__ import annotations

import io
import logging
import os
import socket
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import text, update
from sqlmodel import Session, SQLModel, col, select

import certify.web as web
from certify.accounts import create_account
from certify.certificates.issuance import Issuer
from certify.certificates.issuance_job import (
    ISSUE_LEVEL,
    IssueRequest,
    certificate_folder,
    issuance_lock,
    issuing,
)
from certify.certificates.publication import publish
from certify.certificates.revocation import change_status
from certify.infra.jobs import STALE_AFTER, JobView, claim_job, get_job, submit_job
from certify.infra.settings import Settings
from certify.keys.publish import TRUST_LIST, publish_list
from certify.keys.store import KeyProblem
from certify.signing.reader import decode_pdf
from certify.signing.trust import load_trust_list
from certify.signing.verify import load_revocation_list, verify_token
from certify.web import create_app
from certify.web.jobs import make_runner
from schemas.enums import JobState
from schemas.tables import AuditEntry, Certificate, Job, PublishedList, SigningKey, utcnow
from tests.certify.exam_helpers import VAULT, graded_sitting
from tests.certify.signing_helpers import PASS, make_keys
from tests.conftest import Database
from tests.helpers import institution
from tests.web.conftest import PASSWORDS, REGIONS, Site
from tests.web.test_uploads import page_text

WRONG = "not the passphrase at all"


def certificates_app(database: Database, folder: Path, **overrides: Any) -> Site:
    """A graded sitting S1 whose notice period is over, a root and an institution key, an
    account of every role, no certificate issued yet."""
    people = graded_sitting(database, folder)
    publish(
        database.engine, "S1", folder / "notices", days=7, opened_on=date.today() - timedelta(10)
    )
    make_keys(database, kinds=[1, 2])
    for role, password in PASSWORDS.items():
        create_account(database.engine, role, role, password, region=REGIONS.get(role))
    values = {"sweep_seconds": 0, "job_seconds": 0, "rate_limit": 100_000, **overrides}
    settings = Settings.load({}, web_secret="test-secret", data_dir=folder / "data", **values)
    app = create_app(settings, engine=database.engine, vault=VAULT, trust_document=None)
    app.config["TESTING"] = True
    return Site(database, app, people, [], {}, {}, {}, folder)


@pytest.fixture
def certs_site(database: Database, tmp_path: Path) -> Site:
    return certificates_app(database, tmp_path)


def post(at: Site, client: FlaskClient, url: str, **data: Any) -> Any:
    return client.post(url, data={"csrf_token": at.csrf(client), **data})


def issue(at: Site, client: FlaskClient, passphrase: str = PASS, **changes: str) -> Any:
    fields = {"issuer": "SD-EVAL-01", "passphrase": passphrase, "site": "https://verify.example.cn"}
    return post(at, client, "/admin/sittings/S1/certificates/issue", **{**fields, **changes})


def finished(site: Site, job_id: int, seconds: float = 180) -> JobView:
    """The job once it ended (read from the database, as the job's page does)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        job = get_job(site.database.engine, job_id)
        if job.finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end: {get_job(site.database.engine, job_id)}")


def job_id_of(response: Any) -> int:
    problem = page_text(response)[-1500:]
    assert response.status_code == 302 and "/admin/jobs/" in response.location, problem
    return int(response.location.rsplit("/", 1)[-1])


def certificates(site: Site) -> list[Certificate]:
    with Session(site.database.engine) as session:
        return list(session.exec(select(Certificate).order_by(col(Certificate.serial))))


def audit(site: Site, action: str) -> list[AuditEntry]:
    with Session(site.database.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def jobs(site: Site) -> list[Job]:
    with Session(site.database.engine) as session:
        return list(session.exec(select(Job)))


def test_issuing_runs_in_the_background_and_every_pdf_of_the_zip_verifies(
    certs_site: Site, tmp_path: Path
) -> None:
    site = certs_site
    admin = site.signed_in("admin")
    page = page_text(admin.get("/admin/sittings/S1/certificates"))
    assert "尚未发证" in page and 'name="passphrase"' in page and "SD-EVAL-01" in page
    url = "/admin/sittings/S1/certificates/issue"
    assert admin.post(url, data={"issuer": "SD-EVAL-01", "passphrase": PASS}).status_code == 400
    wrong = issue(site, admin, WRONG, site="https://typed.example.cn")
    assert wrong.status_code == 400 and "wrong passphrase" in page_text(wrong)
    assert 'value="https://typed.example.cn"' in page_text(wrong)  # what was typed stays
    assert PASS not in page_text(wrong) and WRONG not in page_text(wrong)
    bad_site = issue(site, admin, site="javascript:alert(1)")
    assert bad_site.status_code == 400 and "verification site" in page_text(bad_site)
    assert jobs(site) == [] and certificates(site) == []  # refused before any job

    job = finished(site, job_id_of(issue(site, admin)))
    assert job.state is JobState.DONE, job.error
    issued = certificates(site)
    assert issued and job.result["issued"] == len(issued) and job.done == job.total == len(issued)
    assert job.params == {"issuer": "SD-EVAL-01", "site": "https://verify.example.cn",
                          "province": "37"}  # fmt: skip
    done_page = page_text(admin.get(f"/admin/jobs/{job.id}"))
    assert "已完成" in done_page and f"新发 {len(issued)}" in done_page
    listing = page_text(admin.get("/admin/sittings/S1/certificates"))
    assert f"共 {len(issued)} 张" in listing and issued[0].serial in listing
    assert issued[0].holder_name not in listing  # masked
    assert {e.actor for e in audit(site, "certificate.issue")} == {"web:admin"}

    # Issuing again issues nobody twice.
    again = finished(site, job_id_of(issue(site, admin)))
    assert again.result["issued"] == 0 and again.result["already"] == len(issued)
    assert len(certificates(site)) == len(issued)

    archive = admin.get("/admin/sittings/S1/certificates.zip")
    assert archive.status_code == 200 and archive.headers["Content-Type"] == "application/zip"
    members = zipfile.ZipFile(io.BytesIO(archive.data))
    assert sorted(members.namelist()) == [f"{c.serial}.pdf" for c in issued]
    trust = load_trust_list(site_trust(site), pinned_root_kid=root_kid(site), allow_unpinned=False)
    for cert in issued:
        saved = tmp_path / f"{cert.serial}.pdf"
        saved.write_bytes(members.read(f"{cert.serial}.pdf"))
        token = decode_pdf(saved)
        assert token.endswith(cert.token)
        report = verify_token(token, trust, None)
        assert report.claims is not None and report.claims.serial == cert.serial
        assert report.verdict.value in ("genuine", "status_unknown"), report.checks
    (zipped,) = audit(site, "certificate.download_zip")
    assert zipped.actor == "web:admin" and zipped.detail["count"] == len(issued)

    one = admin.get(f"/admin/sittings/S1/certificates/{issued[0].serial}.pdf")
    assert one.status_code == 200 and one.data == members.read(f"{issued[0].serial}.pdf")
    (downloaded,) = audit(site, "certificate.download")
    assert (downloaded.actor, downloaded.subject) == ("web:admin", issued[0].serial)
    assert admin.get("/admin/sittings/S1/certificates/3700000000000.pdf").status_code == 404
    assert admin.get(f"/admin/sittings/NOPE/certificates/{issued[0].serial}.pdf").status_code == 404
    assert admin.get("/admin/sittings/NOPE/certificates").status_code == 404
    assert issue(site, admin, sitting="x").status_code == 302  # a field too many is harmless
    finished(site, jobs(site)[-1].id or 0)

    # A PDF changed on disk is refused, not served.
    folder = certificate_folder(site.out / "data", ISSUE_LEVEL, "S1")
    (folder / f"{issued[1].serial}.pdf").write_bytes(b"%PDF-1.4 forged")
    damaged = admin.get(f"/admin/sittings/S1/certificates/{issued[1].serial}.pdf")
    assert damaged.status_code == 400 and "issue the sitting again" in page_text(damaged)
    assert admin.get("/admin/sittings/S1/certificates.zip").status_code == 400

    sheet = openpyxl.load_workbook(
        io.BytesIO(admin.get("/admin/sittings/S1/certificates.xlsx").data)
    )
    rows = list(sheet.active.iter_rows(values_only=True))
    assert len(rows) == len(issued) + 1 and rows[1][0] == issued[0].serial
    by_status = page_text(admin.get("/admin/sittings/S1/certificates?sort=serial&dir=desc"))
    assert by_status.index(issued[-1].serial) < by_status.index(issued[0].serial)
    paged = page_text(admin.get("/admin/sittings/S1/certificates?per_page=20&page=2"))
    assert "2 / " in paged and issued[20].serial in paged and issued[0].serial not in paged


def site_trust(site: Site) -> dict[str, Any]:
    from certify.keys.publish import build_trust_list

    return build_trust_list(site.database.engine, PASS)


def root_kid(site: Site) -> str:
    with Session(site.database.engine) as session:
        root = session.exec(select(SigningKey).where(SigningKey.role == "root")).one()
    return root.kid


def test_the_passphrase_reaches_no_table_and_no_log(
    certs_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    site = certs_site
    caplog.set_level(logging.DEBUG)
    admin = site.signed_in("admin")
    assert issue(site, admin, WRONG).status_code == 400
    job = finished(site, job_id_of(issue(site, admin)))
    assert job.state is JobState.DONE, job.error
    with Session(site.database.engine) as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in session.execute(select(table)):
                stored = " ".join(
                    v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row
                )
                assert PASS not in stored and WRONG not in stored, table.name
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert PASS not in logged and WRONG not in logged
    assert set(job.params) == {"issuer", "site", "province"}


def test_a_held_job_is_claimed_by_no_other_process(certs_site: Site) -> None:
    """The job is written already running under a worker of this process; a runner of another
    process (another app on the same database) finds nothing to claim, even one that would run
    issuance jobs."""
    site = certs_site
    admin = site.signed_in("admin")
    job_id = job_id_of(issue(site, admin))
    seen = get_job(site.database.engine, job_id)
    assert seen.state in (JobState.RUNNING, JobState.DONE)
    with Session(site.database.engine) as session:
        worker = session.get(Job, job_id).worker  # type: ignore[union-attr]
    assert worker is not None
    assert worker.startswith(f"{socket.gethostname()[:60]}:{os.getpid()}:held-")
    other = make_runner(site.database.engine, 0, None)
    assert ISSUE_LEVEL not in other.handlers
    assert claim_job(site.database.engine, "elsewhere:1:1", {ISSUE_LEVEL: None}) is None
    assert other.run_pending() == []
    job = finished(site, job_id)
    assert job.state is JobState.DONE and job.attempts == 1
    # One run at a time per sitting: a second one while the first holds the lock is refused.
    engine = site.database.engine
    holder = submit_job(engine, ISSUE_LEVEL, "S1", lock_key=issuance_lock(ISSUE_LEVEL, "S1"),
                        actor="t", worker="elsewhere:2:held-x")  # fmt: skip
    busy = issue(site, admin)
    assert busy.status_code == 400 and f"Job {holder.id}" in page_text(busy)


class Died(BaseException):
    """The process running the job ends after its first batch."""


def interrupted_run(site: Site) -> tuple[JobView, int]:
    """A run of S1 whose process died after its first batch of 10: (the job, passed count)."""
    engine = site.database.engine
    request = IssueRequest("SD-EVAL-01", "https://verify.example.cn", "37")
    job = submit_job(engine, ISSUE_LEVEL, "S1", lock_key=issuance_lock(ISSUE_LEVEL, "S1"),
                     params=request.params(), actor="web:admin", worker="gone:1:held-1")  # fmt: skip
    opened = Issuer.open(engine, "SD-EVAL-01", PASS, out=certificate_folder(
        site.out / "data", ISSUE_LEVEL, "S1"), site=request.site, batch_size=10)  # fmt: skip

    def dying(engine: Any, job: JobView, progress: Any) -> Any:
        original = progress.advance

        def advance(steps: int = 1, step: str | None = None) -> None:
            original(steps, step)
            if progress.done >= 10:
                raise Died

        progress.advance = advance
        return issuing(opened)(engine, job, progress)

    from certify.infra.jobs import Progress

    with pytest.raises(Died):
        dying(engine, job, Progress(engine, job, "gone:1:held-1"))
    total = get_job(engine, job.id).total
    with Session(engine) as session, session.begin():
        session.execute(update(Job).values(heartbeat_at=utcnow() - STALE_AFTER * 2))
    return get_job(engine, job.id), total


def test_an_interrupted_run_resumes_once_the_passphrase_is_typed_again(certs_site: Site) -> None:
    site = certs_site
    admin = site.signed_in("admin")
    job, total = interrupted_run(site)
    assert job.interrupted and len(certificates(site)) == 10 and total > 10
    url = f"/admin/jobs/{job.id}"
    page = page_text(admin.get(url))
    assert "已中断" in page and 'name="passphrase"' in page and "10 / " in page
    listing = page_text(admin.get("/admin/sittings/S1/certificates"))
    assert "已中断" in listing
    assert admin.post(url + "/resume", data={"passphrase": PASS}).status_code == 400  # CSRF
    wrong = post(site, admin, url + "/resume", passphrase=WRONG)
    assert wrong.status_code == 400 and "wrong passphrase" in page_text(wrong)
    assert get_job(site.database.engine, job.id).interrupted and audit(site, "job.resume") == []
    busy = issue(site, admin)  # the interrupted run still holds the sitting
    assert busy.status_code == 400 and "resume it" in page_text(busy)
    resumed = post(site, admin, url + "/resume", passphrase=PASS)
    assert resumed.status_code == 302 and resumed.location == url
    done = finished(site, job.id)
    assert done.state is JobState.DONE and done.attempts == 2, done.error
    assert done.result["issued"] == total - 10 and done.result["already"] == 10
    serials = [c.serial for c in certificates(site)]
    assert len(serials) == len(set(serials)) == total
    numbers = sorted(int(s[-6:]) for s in serials)
    assert numbers == list(range(1, total + 1))  # no gap, no duplicate
    (entry,) = audit(site, "job.resume")
    assert (entry.actor, entry.subject) == ("web:admin", str(job.id))
    refused = post(site, admin, url + "/resume", passphrase=PASS)
    assert refused.status_code == 400 and "not interrupted" in page_text(refused)


def test_issuing_refuses_what_the_key_or_the_notice_does_not_allow(
    certs_site: Site,
) -> None:
    site = certs_site
    admin = site.signed_in("admin")
    assert post(site, admin, "/admin/sittings/NOPE/certificates/issue",
                issuer="SD-EVAL-01", passphrase=PASS).status_code == 404  # fmt: skip
    unknown = issue(site, admin, issuer="NOBODY")
    assert unknown.status_code == 400 and "no active signing key" in page_text(unknown)
    province = issue(site, admin, province="3X")
    assert province.status_code == 400 and "two digits" in page_text(province)
    with Session(site.database.engine) as session, session.begin():
        session.execute(text("UPDATE publication SET closes_on = :d"), {"d": date.today()})
    early = issue(site, admin)
    assert early.status_code == 400 and "notice period" in page_text(early)
    assert jobs(site) == [] and certificates(site) == []


def test_pages_show_no_passphrase_no_key_and_no_holder_in_full(certs_site: Site) -> None:
    site = certs_site
    admin = site.signed_in("admin")
    job = finished(site, job_id_of(issue(site, admin)))
    issued = certificates(site)
    with Session(site.database.engine) as session:
        blobs = [k.private_key_encrypted for k in session.exec(select(SigningKey))]
    secrets = [PASS, *(b.decode("latin-1")[40:80] for b in blobs if b)]
    secrets += [p.id_number for p in site.people] + [
        c.holder_name for c in issued if len(c.holder_name) > 1
    ]
    urls = [
        "/admin/sittings/S1/certificates",
        "/admin/sittings/S1/certificates?sort=status&dir=desc",
        f"/admin/jobs/{job.id}",
        f"/admin/jobs/{job.id}.json",
        "/admin/keys/",
        "/admin/keys/?sort=algorithm&dir=desc",
        "/admin/sittings/S1",
        "/admin/",
    ]
    for url in urls:
        body = admin.get(url).get_data(as_text=True)
        assert not [s for s in secrets if s in body], url
    for url in ("/admin/keys.xlsx", "/admin/sittings/S1/certificates.xlsx"):
        sheet = openpyxl.load_workbook(io.BytesIO(admin.get(url).data))
        cells = " ".join(str(c) for row in sheet.active.iter_rows(values_only=True) for c in row)
        assert not [s for s in secrets if s in cells], url


# --- keys ------------------------------------------------------------------------------------


def test_keys_are_listed_created_and_rotated(certs_site: Site) -> None:
    site = certs_site
    admin = site.signed_in("admin")
    page = page_text(admin.get("/admin/keys/"))
    assert "SD-HRSS" in page and "SD-EVAL-01" in page and "共 2 把" in page and "EdDSA" in page
    new = {"issuer": "SD-TRAIN-02", "algorithm": "sm2", "kinds": ["training"],
           "occupations": ["ai", "bigdata"], "levels": ["junior"]}  # fmt: skip
    unknown = post(site, admin, "/admin/keys/new", **new, passphrase=PASS, confirm=PASS)
    assert unknown.status_code == 400 and "no institution" in page_text(unknown)
    institution(site.database.engine, "某培训机构", code="SD-TRAIN-02")
    assert (
        admin.post("/admin/keys/new", data={**new, "passphrase": PASS, "confirm": PASS}).status_code
        == 400
    )
    differ = post(site, admin, "/admin/keys/new", **new, passphrase=PASS, confirm=PASS + "x")
    assert differ.status_code == 400 and "differ" in page_text(differ)
    assert 'value="SD-TRAIN-02" selected' in page_text(differ) and PASS not in page_text(differ)
    short = post(site, admin, "/admin/keys/new", **new, passphrase="short", confirm="short")
    assert short.status_code == 400 and "12 characters" in page_text(short)
    odd = post(site, admin, "/admin/keys/new", **{**new, "occupations": ["nope"]},
               passphrase=PASS, confirm=PASS)  # fmt: skip
    assert odd.status_code == 400 and "unknown occupation" in page_text(odd)
    hostile = post(site, admin, "/admin/keys/new", **{**new, "issuer": "<script>x</script>"},
                   passphrase=PASS, confirm=PASS)  # fmt: skip
    assert hostile.status_code == 400 and "<script>x" not in hostile.get_data(as_text=True)
    created = post(site, admin, "/admin/keys/new", **new, passphrase=PASS, confirm=PASS)
    assert created.status_code == 302
    twice = post(site, admin, "/admin/keys/new", **new, passphrase=PASS, confirm=PASS)
    assert twice.status_code == 400 and "rotate it" in page_text(twice)
    with Session(site.database.engine) as session:
        row = session.exec(select(SigningKey).where(SigningKey.issuer == "SD-TRAIN-02")).one()
    assert row.algorithm == "SM2" and row.scope["kinds"] == [2]
    assert row.scope["occupations"] == ["ai", "bigdata"] and row.scope["levels"] == ["junior"]
    (made,) = audit(site, "key.create")[-1:]
    assert made.actor == "web:admin" and made.subject == "SD-TRAIN-02"

    rotate = {"issuer": "SD-EVAL-01", "algorithm": "sm2"}
    refused = post(site, admin, "/admin/keys/rotate", **rotate, current=WRONG,
                   passphrase=PASS, confirm=PASS)  # fmt: skip
    assert refused.status_code == 400 and "wrong passphrase" in page_text(refused)
    assert audit(site, "key.rotate") == []
    rotated = post(site, admin, "/admin/keys/rotate", **rotate, current=PASS,
                   passphrase=PASS + "-2", confirm=PASS + "-2")  # fmt: skip
    assert rotated.status_code == 302
    with Session(site.database.engine) as session:
        rows = session.exec(
            select(SigningKey).where(SigningKey.issuer == "SD-EVAL-01").order_by(
                col(SigningKey.valid_from))
        ).all()  # fmt: skip
    assert len(rows) == 2 and rows[0].retired_at is not None and rows[1].retired_at is None
    assert rows[1].algorithm == "SM2"
    (entry,) = audit(site, "key.rotate")
    assert entry.actor == "web:admin"
    listing = page_text(admin.get("/admin/keys/?sort=retired_at&dir=desc"))
    assert "已停用" in listing and "共 4 把" in listing
    sheet = openpyxl.load_workbook(io.BytesIO(admin.get("/admin/keys.xlsx").data))
    assert len(list(sheet.active.iter_rows(values_only=True))) == 5


def test_the_trust_and_revocation_lists_are_signed_for_download(certs_site: Site) -> None:
    site = certs_site
    admin = site.signed_in("admin")
    job = finished(site, job_id_of(issue(site, admin)))
    assert job.state is JobState.DONE
    cert = certificates(site)[0]
    change_status(site.database.engine, cert.serial, "revoke", "测试吊销")
    assert admin.post("/admin/keys/trust-list.json", data={"passphrase": PASS}).status_code == 400
    wrong = post(site, admin, "/admin/keys/trust-list.json", passphrase=WRONG)
    assert wrong.status_code == 400 and "wrong passphrase" in page_text(wrong)
    signed = post(site, admin, "/admin/keys/trust-list.json", passphrase=PASS)
    assert signed.status_code == 200 and "attachment" in signed.headers["Content-Disposition"]
    trust = load_trust_list(signed.json, pinned_root_kid=root_kid(site), allow_unpinned=False)
    assert {k["issuer"] for k in signed.json["keys"]} == {"SD-HRSS", "SD-EVAL-01"}
    (made,) = audit(site, "trust_list.sign")
    assert made.actor == "web:admin"
    hours = post(site, admin, "/admin/keys/revocations.json", passphrase=PASS, max_age_hours="x")
    assert hours.status_code == 400 and "maximum age" in page_text(hours)
    listed = post(site, admin, "/admin/keys/revocations.json", passphrase=PASS, max_age_hours="12")
    assert listed.status_code == 200
    revoked = load_revocation_list(listed.json, trust)
    assert verify_token(cert.token, trust, revoked).verdict.value == "revoked"
    assert audit(site, "revocations.sign")[0].detail["entries"] == 1


def test_passphrases_travel_over_https_only_in_production(
    database: Database, tmp_path: Path
) -> None:
    site = certificates_app(database, tmp_path, secure_cookies=True)
    client = site.client()
    https = {"base_url": "https://localhost"}
    client.get("/login", **https)
    with client.session_transaction() as session:
        csrf = session["csrf"]
    signed = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                         "csrf_token": csrf}, **https)  # fmt: skip
    assert signed.status_code == 302
    with client.session_transaction(**https) as session:
        csrf = session["csrf"]  # a new one for the signed-in session
    page = page_text(client.get("/admin/sittings/S1/certificates", **https))
    assert 'name="passphrase"' in page
    form = {"csrf_token": csrf, "issuer": "SD-EVAL-01", "passphrase": WRONG,
            "site": "https://verify.example.cn"}  # fmt: skip
    over_https = client.post("/admin/sittings/S1/certificates/issue", data=form, **https)
    assert over_https.status_code == 400 and "wrong passphrase" in page_text(over_https)
    # Over plain HTTP the secure cookie stays home; were it sent, the form is still refused.
    plain = client.post("/admin/sittings/S1/certificates/issue", data=form)
    assert plain.status_code in (302, 403) and "/admin/jobs/" not in (plain.location or "")
    with site.app.test_request_context("/admin/keys/", base_url="http://localhost"):
        from certify.web.common import passphrase_allowed

        assert not passphrase_allowed()
    with site.app.test_request_context("/admin/keys/", base_url="https://localhost"):
        assert passphrase_allowed()
    assert jobs(site) == []


def test_lists_published_from_the_keys_page_are_served_and_verified_against_without_a_restart(
    certs_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No trust list configured: the QR page cannot verify (503). An admin publishes one from
    the keys page; this process serves it and verifies against it at once, another process on
    the same database within LISTS_LOOKED_AT_EVERY, with no restart. A revocation list is
    published after it; a list that does not verify is refused and nothing is stored."""
    site = certs_site
    admin = site.signed_in("admin")
    assert finished(site, job_id_of(issue(site, admin))).state is JobState.DONE
    cert = certificates(site)[0]
    other = create_app(
        Settings.load(
            {},
            web_secret="test-secret",
            data_dir=tmp_path / "other",
            rate_limit=100_000,
            sweep_seconds=0,
            job_seconds=0,
        ),
        engine=site.database.engine,
        vault=VAULT,
    )
    page = f"/V/{cert.token}"
    assert site.client().get(page).status_code == 503
    assert other.test_client().get("/trust-list.json").status_code == 404
    # A revocation list first: refused (it is verified under the published trust list).
    early = post(site, admin, "/admin/keys/revocations.json", passphrase=PASS, publish="1")
    assert early.status_code == 400 and "publish a trust list first" in page_text(early)
    assert 'name="publish" value="1" checked' in page_text(early)  # what was typed is kept
    published = post(site, admin, "/admin/keys/trust-list.json", passphrase=PASS, publish="1")
    assert published.status_code == 302 and published.headers["Location"].endswith("/admin/keys/")
    served = site.client().get("/trust-list.json")
    assert served.status_code == 200 and {k["issuer"] for k in served.json["keys"]} == {
        "SD-HRSS",
        "SD-EVAL-01",
    }
    assert "真实有效" in page_text(site.client().get(page))
    # The other process looks again after LISTS_LOOKED_AT_EVERY seconds: made 0 here.
    monkeypatch.setattr(web, "LISTS_LOOKED_AT_EVERY", 0.0)
    assert other.test_client().get("/trust-list.json").json == served.json
    assert "真实有效" in page_text(other.test_client().get(page))
    (entry,) = audit(site, "trust_list.publish")
    assert entry.actor == "web:admin"
    # Revoked, then the revocation list published: served by both.
    change_status(site.database.engine, cert.serial, "revoke", "测试吊销")
    listed = post(site, admin, "/admin/keys/revocations.json", passphrase=PASS, publish="1")
    assert listed.status_code == 302
    revoked = other.test_client().get("/revocations.json").json
    trust = load_trust_list(served.json, pinned_root_kid=root_kid(site), allow_unpinned=False)
    assert verify_token(cert.token, trust, load_revocation_list(revoked, trust)).verdict.value == (
        "revoked"
    )
    # A list whose signature does not hold is refused by the service; nothing is stored.
    forged = dict(served.json, keys=served.json["keys"][:1])
    with Session(site.database.engine) as session:
        before = len(session.exec(select(PublishedList)).all())
    with pytest.raises(KeyProblem):
        publish_list(site.database.engine, TRUST_LIST, forged, actor="test")
    with Session(site.database.engine) as session:
        assert len(session.exec(select(PublishedList)).all()) == before
    keys_page = page_text(admin.get("/admin/keys/"))
    assert "trust_list #" in keys_page and "revocations #" in keys_page
