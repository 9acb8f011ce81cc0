"""Training in the browser: a course created, trainees enrolled, attendance and the completion
assessment uploaded — each file through the ``certify training`` services, refused whole with
every problem by row and field — training certificates issued with the passphrase typed in the
form and downloaded as PDFs, the trainees as a workbook; every change audited under the admin."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from certify.accounts import create_account
from certify.grading import simulate
from certify.infra.settings import Settings
from certify.signing.reader import read_token_text
from certify.signing.token import from_text, parse_token
from certify.web import create_app
from schemas.tables import AuditEntry, Certificate, Course, Enrolment
from tests.certify.exam_helpers import VAULT
from tests.certify.signing_helpers import PASS, make_keys
from tests.conftest import Database
from tests.helpers import institution, snapshot
from tests.web.conftest import PASSWORDS, REGIONS, Site
from tests.web.test_certificates import finished, jobs
from tests.web.test_uploads import page_text, post_file

HOSTILE = "<script>alert('x')</script>'; DROP TABLE course; --"


@pytest.fixture
def training_site(database: Database, tmp_path: Path) -> Site:
    """The app with an account of every role and an institution's key for training
    certificates (no sitting: quick)."""
    for role, password in PASSWORDS.items():
        create_account(database.engine, role, role, password, region=REGIONS.get(role))
    make_keys(database, kinds=[1, 2])
    settings = Settings.load(
        {}, web_secret="test-secret", data_dir=tmp_path, sweep_seconds=0, province="11"
    )
    app = create_app(settings, engine=database.engine, vault=VAULT, trust_document=None)
    app.config["TESTING"] = True
    return Site(database, app, [], [], {}, {}, {}, tmp_path)


def post(site: Site, client: FlaskClient, url: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": site.csrf(client), **data})


def new_course(site: Site, client: FlaskClient, **changes: str) -> Any:
    fields = {
        "code": "T1",
        "occupation": "ai",
        "level": "junior",
        "hours": "16",
        "institution": "测试评价机构",  # examines and trains: one key for both kinds
        "pass_mark": "60",
        "syllabus": "基础\n\n实践",
        **changes,
    }
    return post(site, client, "/admin/training/new", **fields)


def audit(site: Site) -> list[tuple[str, str, Any]]:
    with Session(site.database.engine) as session:
        return [
            (e.actor, e.action, e.detail)
            for e in session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))
            if e.action.startswith("course.")
        ]


def test_a_course_from_creation_to_downloaded_certificates(
    training_site: Site, tmp_path: Path
) -> None:
    site = training_site
    admin = site.signed_in("admin")
    created = new_course(site, admin)
    assert created.status_code == 302 and created.location == "/admin/training/T1"
    people = simulate.candidates(5, ["A"], np.random.default_rng(1), area="370203")
    trainees = simulate.write_trainees(tmp_path / "学员.csv", people).read_bytes()
    enrolled = post_file(site, admin, "/admin/training/T1/enrol", "学员.csv", trainees)
    assert enrolled.status_code == 302
    page = page_text(admin.get("/admin/training/T1"))
    assert "报名 enrolled 5" in page and "共 5 人" in page
    assert people[0].id_number not in page and people[0].name in page
    hours = {p.id_number: 16.0 for p in people}
    hours[people[0].id_number] = 15.0
    attended = simulate.write_hours(tmp_path / "h.xlsx", hours).read_bytes()
    assert (
        post_file(site, admin, "/admin/training/T1/attendance", "考勤.xlsx", attended).status_code
        == 302
    )
    scores = {p.id_number: 80.0 for p in people}
    scores[people[1].id_number] = 59.5
    scored = simulate.write_scores(tmp_path / "s.csv", scores).read_bytes()
    assessed = post_file(site, admin, "/admin/training/T1/assess", "考核.csv", scored)
    assert assessed.status_code == 302
    assert "结业 completed 3，未结业 not completed 2" in page_text(admin.get("/admin/training/T1"))

    wrong = post(site, admin, "/admin/training/T1/issue", issuer="SD-EVAL-01", passphrase="nope")
    assert wrong.status_code == 400 and "passphrase" in page_text(wrong).lower()
    assert not jobs(site)  # refused before any job
    issued = post(site, admin, "/admin/training/T1/issue", issuer="SD-EVAL-01", passphrase=PASS)
    assert issued.status_code == 302 and "/admin/jobs/" in issued.location
    job = finished(site, int(issued.location.rsplit("/", 1)[-1]))
    assert job.kind == "training.issue" and job.result["issued"] == 3, job.error
    assert "新发 3，已有 0" in page_text(admin.get("/admin/training/T1"))
    with Session(site.database.engine) as session:
        certs = session.exec(select(Certificate).order_by(col(Certificate.serial))).all()
    assert len(certs) == 3 and all(c.serial.startswith("11") for c in certs)  # the province set
    pdf = admin.get(f"/admin/training/T1/certificates/{certs[0].serial}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Type"] == "application/pdf"
    saved = tmp_path / "downloaded.pdf"
    saved.write_bytes(pdf.data)
    token = read_token_text(str(saved))
    assert token.startswith("HTTP://LOCALHOST/V/")  # the app's own verification page
    assert parse_token(from_text(token.rsplit("/", 1)[-1])).claims.kind.name == "TRAINING"
    assert site.client().get(token.replace("HTTP://LOCALHOST", "")).status_code in (200, 503)
    again = post(site, admin, "/admin/training/T1/issue", issuer="SD-EVAL-01", passphrase=PASS)
    assert again.status_code == 302
    finished(site, int(again.location.rsplit("/", 1)[-1]))
    assert "新发 0，已有 3" in page_text(admin.get("/admin/training/T1"))

    sheet = openpyxl.load_workbook(io.BytesIO(admin.get("/admin/training/T1/trainees.xlsx").data))
    rows = list(sheet.active.iter_rows(values_only=True))
    assert len(rows) == 6 and sum(1 for r in rows[1:] if r[5]) == 3
    assert not [r for r in rows if people[0].id_number in str(r)]
    assert [(actor, action) for actor, action, _ in audit(site)] == [
        ("web:admin", "course.create"),
        ("web:admin", "course.enrol"),
        ("web:admin", "course.attendance"),
        ("web:admin", "course.assess"),
    ]
    assert audit(site)[1][2]["file"] == "学员.csv"  # the name as uploaded, not the saved copy
    listing = page_text(admin.get("/admin/training/"))
    assert "T1" in listing and "测试评价机构" in listing


def test_a_refused_file_changes_nothing_and_shows_each_problem(
    training_site: Site, tmp_path: Path
) -> None:
    site = training_site
    admin = site.signed_in("admin")
    new_course(site, admin, code="T2", hours="8")
    people = simulate.candidates(2, ["A"], np.random.default_rng(1), area="370203")
    post_file(
        site,
        admin,
        "/admin/training/T2/enrol",
        "e.csv",
        simulate.write_trainees(tmp_path / "e.csv", people).read_bytes(),
    )
    before = snapshot(site.database.engine)
    bad = {people[0].id_number: 9.0, "37010219900101001X": 1.0}
    response = post_file(
        site,
        admin,
        "/admin/training/T2/attendance",
        "考勤.csv",
        simulate.write_hours(tmp_path / "h.csv", bad).read_bytes(),
    )
    assert response.status_code == 400
    rows = page_text(response)
    assert "考勤.csv" in rows and "upload.csv" not in rows
    assert "hours" in rows and "id_number" in rows and "未报名本课程" in rows
    assert snapshot(site.database.engine) == before
    twice = post_file(
        site,
        admin,
        "/admin/training/T2/enrol",
        "e.csv",
        simulate.write_trainees(tmp_path / "e.csv", people).read_bytes(),
    )
    assert twice.status_code == 400 and "已报名本课程" in page_text(twice)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"hours": "0"}, "hours must be 1-2000"),
        ({"hours": "many"}, "must be a number"),
        ({"occupation": "astrology"}, "unknown occupation"),
        ({"pass_mark": "101"}, "pass mark"),
        ({"institution": " "}, "institution is required"),
        ({"institution": "无此机构"}, "no institution"),
        ({"code": ""}, "course code"),
    ],
)
def test_a_refused_course_keeps_what_was_typed(
    training_site: Site, changes: dict[str, str], says: str
) -> None:
    site = training_site
    admin = site.signed_in("admin")
    response = new_course(site, admin, syllabus=HOSTILE, **changes)
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and says in page_text(response)
    assert "&lt;script&gt;alert(" in body and "<script>alert" not in body  # kept, inert
    with Session(site.database.engine) as session:
        assert session.exec(select(Course)).all() == []


def test_hostile_text_is_stored_and_shown_inert(training_site: Site, tmp_path: Path) -> None:
    site = training_site
    admin = site.signed_in("admin")
    institution(site.database.engine, HOSTILE)
    assert new_course(site, admin, institution=HOSTILE, syllabus=HOSTILE).status_code == 302
    people = simulate.candidates(1, ["A"], np.random.default_rng(2), area="370203")
    people = [p.__class__(**{**p.__dict__, "name": HOSTILE[:40]}) for p in people]
    post_file(
        site,
        admin,
        "/admin/training/T1/enrol",
        "e.csv",
        simulate.write_trainees(tmp_path / "e.csv", people).read_bytes(),
    )
    with Session(site.database.engine) as session:
        assert session.exec(select(Course)).one().institution == HOSTILE
    for url in ("/admin/training/", "/admin/training/T1"):
        body = admin.get(url).get_data(as_text=True)
        assert "<script>alert" not in body and "&lt;script&gt;" in body, url


def test_unknown_courses_and_other_courses_certificates_are_404(training_site: Site) -> None:
    site = training_site
    admin = site.signed_in("admin")
    assert admin.get("/admin/training/NOPE").status_code == 404
    assert post(site, admin, "/admin/training/NOPE/issue", issuer="x").status_code == 404
    response = post_file(site, admin, "/admin/training/NOPE/enrol", "e.csv", b"a,b\n")
    assert response.status_code == 404
    new_course(site, admin)
    assert admin.get("/admin/training/T1/certificates/0000.pdf").status_code == 404
    assert admin.get("/admin/training/T1/../T1").status_code in (308, 404, 200)


def test_every_training_form_needs_the_csrf_token(training_site: Site) -> None:
    site = training_site
    admin = site.signed_in("admin")
    new_course(site, admin)
    for url in (
        "/admin/training/new",
        "/admin/training/T1/enrol",
        "/admin/training/T1/attendance",
        "/admin/training/T1/assess",
        "/admin/training/T1/issue",
    ):
        assert admin.post(url, data={"code": "T9"}).status_code == 400, url
    with Session(site.database.engine) as session:
        assert [c.code for c in session.exec(select(Course))] == ["T1"]
        assert session.exec(select(Enrolment)).all() == []
