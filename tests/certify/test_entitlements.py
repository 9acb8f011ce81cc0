"""From a pass to what it entitles: publication (公示) and objections, the issuance gate,
training certificates, eligibility records, the committee lookup and the exports."""

from __future__ import annotations

import base64
import csv
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from sqlmodel import Session, col, func, select

from certify.certificates.issuance import IssuanceError, Issuer
from certify.certificates.publication import (
    PublicationError,
    file_objection,
    publish,
    resolve_objection,
)
from certify.certificates.revocation import change_status
from certify.entitlements.eligibility import (
    EligibilityError,
    credentials,
    export_ce_hours,
    export_eligibility,
)
from certify.entitlements.training import (
    TrainingError,
    assess,
    create_course,
    enrol,
    record_attendance,
)
from certify.grading import simulate
from certify.infra.errors import CourseNotFound, ValidationFailed
from certify.signing.reader import read_token_text
from certify.signing.token import from_text, parse_token
from schemas.tables import (
    AuditEntry,
    Candidate,
    Certificate,
    EligibilityRecord,
    Objection,
    Publication,
)
from tests.certify.exam_helpers import VAULT, graded_sitting, run
from tests.certify.signing_helpers import PASS, make_keys
from tests.conftest import Database
from tests.helpers import institution
from tests.pdf_tools import pdf_pages

TODAY = date.today()


def pdf_text_of(path: Path) -> str:
    return "\n".join(pdf_pages(path))


@pytest.fixture
def graded(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("CERTIFY_KEY_PASSPHRASE", PASS)
    monkeypatch.setenv("CERTIFY_SECRET_KEY", base64.b64encode(VAULT.secret).decode())
    graded_sitting(database, tmp_path)
    make_keys(database, kinds=[1, 2])
    return database


def issuer(database: Database, folder: Path) -> Issuer:
    return Issuer.open(database.engine, "SD-EVAL-01", PASS, out=folder)


def issue(database: Database, folder: Path, today: date = TODAY) -> list[str]:
    return issuer(database, folder).issue_level("S1", today=today).issued


def test_the_pass_list_is_masked_and_issuance_waits_for_the_period(
    graded: Database, tmp_path: Path
) -> None:
    with pytest.raises(PublicationError, match="publish the pass list"):
        issue(graded, tmp_path / "c")
    report = publish(graded.engine, "S1", tmp_path / "notice", days=5, opened_on=TODAY)
    assert report.closes_on == TODAY + timedelta(days=4)
    page = report.html.read_text("utf-8")
    text = pdf_text_of(report.pdf)
    for listed in report.listed:
        assert listed.admission_no in page and listed.id_number in page
        assert "*" in listed.name and "********" in listed.id_number
    assert "模拟考生" not in page and "模拟考生" not in text
    assert "公示期为" in page and report.listed[0].admission_no in text
    with pytest.raises(PublicationError, match="published already"):
        publish(graded.engine, "S1", tmp_path / "again")
    for day in (TODAY, report.closes_on):
        with pytest.raises(PublicationError, match="notice period"):
            issue(graded, tmp_path / "c", today=day)
    assert issue(graded, tmp_path / "c", today=report.closes_on + timedelta(days=1))


def test_objections_hold_back_their_candidate_until_resolved(
    graded: Database, tmp_path: Path
) -> None:
    opened = TODAY - timedelta(days=10)
    report = publish(graded.engine, "S1", tmp_path / "notice", days=7, opened_on=opened)
    first, second, third = (x.admission_no for x in report.listed[:3])
    filed = [
        file_objection(graded.engine, "S1", a, reason="举报", filed_on=opened + timedelta(days=1))
        for a in (first, second, third)
    ]
    assert all(o.id for o in filed)
    # Unknown candidate, outside the period, no reason: refused, nothing written.
    with Session(graded.engine) as session:
        before = session.exec(select(func.count()).select_from(Objection)).one()
    for admission, day, reason in (
        ("NOBODY", opened, "举报"),
        (first, opened + timedelta(days=7), "举报"),
        (first, opened - timedelta(days=1), "举报"),
        (first, opened, " "),
    ):
        with pytest.raises(PublicationError):
            file_objection(graded.engine, "S1", admission, reason=reason, filed_on=day)
    with Session(graded.engine) as session:
        assert session.exec(select(func.count()).select_from(Objection)).one() == before
    with pytest.raises(PublicationError, match="needs a reason"):
        resolve_objection(
            graded.engine, filed[0].id or 0, decision="dismissed", resolution="", admin="管理员"
        )
    resolve_objection(
        graded.engine, filed[0].id or 0, decision="dismissed", resolution="不属实", admin="管理员"
    )
    resolve_objection(
        graded.engine, filed[1].id or 0, decision="upheld", resolution="属实", admin="管理员"
    )
    with pytest.raises(PublicationError, match="dismissed already"):
        resolve_objection(
            graded.engine, filed[0].id or 0, decision="upheld", resolution="改判", admin="管理员"
        )
    result = issuer(graded, tmp_path / "c").issue_level("S1")
    assert result.held == {second: "upheld", third: "open"}
    assert len(result.issued) == len(report.listed) - 2
    # Once the last objection is dismissed, a rerun issues that one certificate.
    resolve_objection(
        graded.engine, filed[2].id or 0, decision="dismissed", resolution="不属实", admin="管理员"
    )
    again = issuer(graded, tmp_path / "c").issue_level("S1")
    assert len(again.issued) == 1 and again.held == {second: "upheld"}
    with Session(graded.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEntry))]
    assert actions.count("objection.file") == 3 and actions.count("objection.resolve") == 3


def published(graded: Database, tmp_path: Path) -> None:
    publish(graded.engine, "S1", tmp_path / "notice", days=7, opened_on=TODAY - timedelta(days=9))


def test_the_issuer_s_province_starts_every_serial(graded: Database, tmp_path: Path) -> None:
    published(graded, tmp_path)
    beijing = Issuer.open(graded.engine, "SD-EVAL-01", PASS, out=tmp_path / "c", province="11")
    issued = beijing.issue_level("S1").issued
    assert issued and all(serial.startswith("11") for serial in issued)
    with pytest.raises(IssuanceError, match="two digits"):
        Issuer.open(graded.engine, "SD-EVAL-01", PASS, out=tmp_path / "c", province="SD")


def test_eligibility_records_follow_the_level_and_are_withdrawn_on_revocation(
    graded: Database, tmp_path: Path
) -> None:
    published(graded, tmp_path)
    serials = issue(graded, tmp_path / "c")
    with Session(graded.engine) as session:
        records = session.exec(select(EligibilityRecord)).all()
        certs = {c.id: c for c in session.exec(select(Certificate))}
    kinds = {(r.certificate_id, r.kind) for r in records}
    assert kinds == {(i, k) for i in certs for k in ("title_recognition", "ce_hours")}
    assert all(r.detail["region"] == "37" and r.detail["zh"] for r in records)
    assert {r.detail["zh"] for r in records if r.kind == "title_recognition"} == {
        "可纳入初级职称认定"
    }
    change_status(graded.engine, serials[0], "suspend", "核查中")
    change_status(graded.engine, serials[1], "revoke", "证书信息不实")
    with Session(graded.engine) as session:
        status = {
            (c.serial, r.status)
            for r, c in session.exec(
                select(EligibilityRecord, Certificate).join(
                    Certificate, col(Certificate.id) == col(EligibilityRecord.certificate_id)
                )
            )
            if c.serial in serials[:2]
        }
        revoke = session.exec(
            select(AuditEntry).where(AuditEntry.action == "certificate.revoke")
        ).one()
    assert status == {(serials[0], "active"), (serials[1], "withdrawn")}
    assert revoke.detail["records_withdrawn"] == 2


def test_the_committee_lookup_and_the_exports(graded: Database, tmp_path: Path) -> None:
    published(graded, tmp_path)
    serials = issue(graded, tmp_path / "c")
    with Session(graded.engine) as session:
        cert = session.exec(select(Certificate).where(Certificate.serial == serials[0])).one()
        person = session.get(Candidate, cert.candidate_id)
    assert person is not None
    id_number = VAULT.decrypt(person.id_number_cipher)
    found = credentials(graded.engine, VAULT, id_number.lower())
    assert [c.serial for c in found] == [serials[0]]
    assert found[0].issuer == "测试评价机构"  # the institution's name, not its code
    assert {e.kind for e in found[0].eligibility} == {"title_recognition", "ce_hours"}
    assert credentials(graded.engine, VAULT, "11010519491231002X") == []
    change_status(graded.engine, serials[0], "revoke", "违纪")
    after = credentials(graded.engine, VAULT, id_number)[0]
    assert after.status == "revoked" and {e.status for e in after.eligibility} == {"withdrawn"}
    # CE hours: full ID numbers for the platform, revoked certificates left out.
    rows = export_ce_hours(graded.engine, VAULT, tmp_path / "ce.csv")
    with (tmp_path / "ce.csv").open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0][:3] == ["身份证号", "姓名", "学时"] and rows == len(serials) - 1
    assert serials[0] not in {r[6] for r in table[1:]}
    assert all(len(r[0]) == 18 and "*" not in r[0] for r in table[1:])
    # Eligibility for committees: masked, CSV or XLSX, withdrawn ones on request.
    assert export_eligibility(graded.engine, tmp_path / "e.xlsx") == 2 * (len(serials) - 1)
    sheet = load_workbook(tmp_path / "e.xlsx").active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][0] == "证书编号" and all("********" in str(r[3]) for r in values[1:])
    assert export_eligibility(graded.engine, tmp_path / "e.csv", include_withdrawn=True) == 2 * len(
        serials
    )
    with pytest.raises(EligibilityError, match=r"\.csv or \.xlsx"):
        export_eligibility(graded.engine, tmp_path / "e.pdf")


def test_a_training_course_to_its_certificates(graded: Database, tmp_path: Path) -> None:
    create_course(
        graded.engine,
        "T1",
        occupation="人工智能",
        level="junior",
        hours=16,
        institution=institution(graded.engine, "测试评价机构"),
        syllabus=["基础", "", "实践"],
    )
    people = simulate.candidates(5, ["A"], np.random.default_rng(1), area="370203")
    enrol(graded.engine, "T1", simulate.write_trainees(tmp_path / "e.csv", people), VAULT)
    hours = {p.id_number: 8.0 for p in people}
    record_attendance(graded.engine, "T1", simulate.write_hours(tmp_path / "h1.csv", hours), VAULT)
    hours[people[0].id_number] = 7.0  # misses an hour
    record_attendance(graded.engine, "T1", simulate.write_hours(tmp_path / "h2.csv", hours), VAULT)
    scores = {p.id_number: 80.0 for p in people}
    scores[people[1].id_number] = 59.5
    report = assess(graded.engine, "T1", simulate.write_scores(tmp_path / "s.csv", scores), VAULT)
    assert report.completed == 3
    assert sorted(why for _, why in report.not_completed) == [
        "出勤 15/16 学时",
        "成绩 59.5 低于 60",
    ]
    issued = issuer(graded, tmp_path / "t").issue_training("T1")
    assert len(issued.issued) == 3 and all(s[6] == "4" for s in issued.issued)  # training, junior
    text = read_token_text(str(tmp_path / "t" / f"{issued.issued[0]}.pdf"))
    assert parse_token(from_text(text.rsplit("/", 1)[-1])).claims.kind.name == "TRAINING"
    with Session(graded.engine) as session:
        records = session.exec(select(EligibilityRecord)).all()
    assert {r.kind for r in records} == {"training_subsidy", "ce_hours"}
    assert {r.detail["hours"] for r in records if r.kind == "ce_hours"} == {16.0}
    assert "培训合格证书" in pdf_text_of(tmp_path / "t" / f"{issued.issued[0]}.pdf")
    again = issuer(graded, tmp_path / "t").issue_training("T1")
    assert again.issued == [] and again.already == 3


def test_training_files_are_checked_whole(graded: Database, tmp_path: Path) -> None:
    create_course(
        graded.engine,
        "T2",
        occupation="ai",
        level="junior",
        hours=8,
        institution=institution(graded.engine, "机构"),
        syllabus=[],
    )
    people = simulate.candidates(2, ["A"], np.random.default_rng(1), area="370203")
    enrol(graded.engine, "T2", simulate.write_trainees(tmp_path / "e.csv", people), VAULT)
    with pytest.raises(ValidationFailed) as failed:
        enrol(graded.engine, "T2", simulate.write_trainees(tmp_path / "e.csv", people), VAULT)
    assert {p.code for p in failed.value.problems} == {"enrolled"}
    bad = {people[0].id_number: 9.0, "37010219900101001X": 1.0}
    with pytest.raises(ValidationFailed) as failed:
        record_attendance(graded.engine, "T2", simulate.write_hours(tmp_path / "h.csv", bad), VAULT)
    assert [(p.row, p.field) for p in failed.value.problems] == [(2, "hours"), (3, "id_number")]
    with pytest.raises(CourseNotFound, match="no course"):
        enrol(graded.engine, "NOPE", tmp_path / "e.csv", VAULT)
    with pytest.raises(TrainingError, match="hours must be"):
        create_course(
            graded.engine,
            "T3",
            occupation="ai",
            level="junior",
            hours=0,
            institution="机构",
            syllabus=[],
        )


def test_the_commands_from_publication_to_lookup(graded: Database, tmp_path: Path) -> None:
    notice = tmp_path / "notice"
    opened = (TODAY - timedelta(days=10)).isoformat()
    out = run(graded, "publish", "S1", "--out", str(notice), "--days", "7", "--opened", opened)
    assert "公示" in out and (notice / "S1-公示.pdf").exists()
    with Session(graded.engine) as session:
        assert session.exec(select(Publication)).one().listed > 0
    run(graded, "objection", "file", "S1", "NOBODY", "--reason", "x", "--on", opened, code=1)
    out = run(graded, "objection", "file", "S1", "SIM00001", "--reason", "举报", "--on", opened)
    assert "open" in out
    run(
        graded,
        "objection",
        "resolve",
        "1",
        "--decision",
        "dismissed",
        "--reason",
        "不属实",
        "--admin",
        "管理员",
    )
    assert "dismissed" in run(graded, "objection", "list", "S1")
    run(graded, "issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(tmp_path / "c"))
    with Session(graded.engine) as session:
        cert = session.exec(select(Certificate).order_by(col(Certificate.serial))).first()
        assert cert is not None
        person = session.get(Candidate, cert.candidate_id)
        assert person is not None
    id_number = VAULT.decrypt(person.id_number_cipher)
    looked = json.loads(run(graded, "lookup", id_number, "--json"))
    assert looked[0]["serial"] == cert.serial and looked[0]["eligibility"][0]["zh"]
    assert id_number not in json.dumps(looked)
    assert "no certificate" in run(graded, "lookup", "11010519491231002X")
    run(graded, "lookup", "123", code=1)
    assert "rows" in run(graded, "export", "ce-hours", "--out", str(tmp_path / "ce.csv"))
    assert "rows" in run(graded, "export", "eligibility", "--out", str(tmp_path / "e.xlsx"))
