"""Application conditions (申报条件): the rule check against an independent reading of the data,
its date boundaries, the applicant file's errors, registration and the admin override."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from certify.infra.errors import ValidationFailed
from certify.registration.applications import (
    ApplicationError,
    Facts,
    evaluate,
    full_years,
    override,
    read_applicants,
    register_applicants,
    write_applicants,
)
from certify.registration.identity import IdentityVault, check_character
from certify.registration.sittings import create_sitting
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import assemble_papers
from question_bank.samples import sample_blueprints, sample_files
from schemas.enums import Level
from schemas.tables import Application, AuditEntry, Candidate, Registration
from tests.conftest import Database
from tests.helpers import institution

RAW = json.loads(resources.files("schemas").joinpath("data/conditions.json").read_text("utf-8"))
VAULT = IdentityVault(b"a" * 32)
ON = date(2026, 6, 30)


def anniversary(since: date, years: int) -> date:
    """The day ``years`` full years after ``since`` are complete (29 February → 1 March)."""
    try:
        return since.replace(year=since.year + years)
    except ValueError:
        return date(since.year + years, 3, 1)


def oracle(level: str, facts: dict[str, Any], held: dict[str, date], on: date) -> str | None:
    """The first route of the JSON data that admits, read straight from the file."""
    if facts["training_hours"] < RAW["training_hours"][level]:
        return None
    edu = RAW["education"]
    titles = RAW["titles"]
    for route in RAW["levels"][level]:
        starts = []
        if "title" in route:
            if titles[facts["title"]]["rank"] < titles[route["title"]]["rank"]:
                continue
            if facts["title_since"]:
                starts.append(facts["title_since"])
        if "education" in route:
            if edu[facts["education"]]["rank"] < edu[route["education"]]["rank"]:
                continue
            if facts["graduating"] and not route.get("graduating_ok"):
                continue
            if route.get("related_major") and not facts["related_major"]:
                continue
        if "certificate" in route:
            if route["certificate"] not in held:
                continue
            starts.append(held[route["certificate"]])
        if route.get("years"):
            if facts["work_since"] is None:
                continue
            if anniversary(max([facts["work_since"], *starts]), route["years"]) > on:
                continue
        return str(route["id"])
    return None


days = st.dates(min_value=date(2000, 1, 1), max_value=ON)
fact_strategy = st.fixed_dictionaries(
    {
        "education": st.sampled_from(sorted(RAW["education"])),
        "related_major": st.booleans(),
        "graduating": st.booleans(),
        "title": st.sampled_from(sorted(RAW["titles"])),
        "title_since": st.none() | days,
        "work_since": st.none() | days,
        "training_hours": st.sampled_from([0.0, 64.0, 127.5, 128.0, 159.0, 160.0, 400.0]),
    }
)


@settings(max_examples=400, deadline=None)
@given(
    level=st.sampled_from(["junior", "intermediate", "senior"]),
    facts=fact_strategy,
    held=st.dictionaries(st.sampled_from(["junior", "intermediate"]), days, max_size=2),
    on=st.dates(min_value=date(2018, 1, 1), max_value=ON),
)
def test_the_decision_follows_the_rules_as_written(
    level: str, facts: dict[str, Any], held: dict[str, date], on: date
) -> None:
    decision = evaluate(
        Level(level), Facts(**facts), held={Level(k): v for k, v in held.items()}, on=on
    )
    expected = oracle(level, facts, held, on)
    assert decision.accepted == (expected is not None)
    assert decision.route == (expected or "")
    if not decision.accepted:
        # Every route says what it misses, in both languages.
        assert [s.route for s in decision.shortfalls] == [r["id"] for r in RAW["levels"][level]]
        assert all(
            s.missing and all(zh and en for zh, en in s.missing) for s in decision.shortfalls
        )


@settings(max_examples=200, deadline=None)
@given(since=st.dates(min_value=date(1990, 1, 1), max_value=date(2024, 12, 31)))
def test_a_year_of_work_counts_from_its_anniversary_not_a_day_before(since: date) -> None:
    """Route J3 (college, related major, one year): the anniversary admits, the day before not."""
    facts = Facts("college", related_major=True, work_since=since, training_hours=128)
    due = anniversary(since, 1)
    on_time = evaluate(Level.JUNIOR, facts, held={}, on=due)
    early = evaluate(Level.JUNIOR, facts, held={}, on=due - timedelta(days=1))
    assert on_time.accepted and on_time.route == "J3"
    assert not early.accepted and "不足 1 年" in early.reason_zh()
    assert full_years(since, due) == 1 and full_years(since, due - timedelta(days=1)) == 0


@settings(max_examples=100, deadline=None)
@given(issued=st.dates(min_value=date(2015, 1, 1), max_value=date(2022, 12, 31)))
def test_years_after_a_certificate_count_from_its_issue(issued: date) -> None:
    """Route I2: three years of related work after the junior certificate, not before it."""
    facts = Facts("bachelor", work_since=date(2010, 1, 1), training_hours=128)
    due = anniversary(issued, 3)
    held = {Level.JUNIOR: issued}
    assert evaluate(Level.INTERMEDIATE, facts, held=held, on=due).route == "I2"
    assert not evaluate(Level.INTERMEDIATE, facts, held=held, on=due - timedelta(days=1)).accepted


def test_training_hours_come_first_for_every_route() -> None:
    facts = Facts("doctorate", training_hours=127)
    decision = evaluate(Level.INTERMEDIATE, facts, held={}, on=ON)
    assert not decision.accepted
    assert all("培训学时 127" in s.missing[0][0] for s in decision.shortfalls)
    assert evaluate(Level.INTERMEDIATE, facts, held={}, on=ON, recorded_hours=128).route == "I4"


# --- the applicant file ------------------------------------------------------------------------


def id_number(n: int, born: str = "19900101") -> str:
    first17 = f"370102{born}{n % 1000:03d}"
    return first17 + check_character(first17)


def applicant(n: int, **changes: str) -> dict[str, str]:
    row = {
        "name": f"申报人{n}",
        "id_number": id_number(n),
        "education": "本科",
        "related_major": "是",
        "graduating": "否",
        "title": "无",
        "title_since": "",
        "work_since": "2015-07-01",
        "training_hours": "128",
        "admission_no": "",
        "form": "",
    }
    row.update(changes)
    return row


def problems_of(
    tmp_path: Path, rows: list[dict[str, str]]
) -> list[tuple[int | None, str | None, str]]:
    path = write_applicants(tmp_path / "applicants.csv", rows)
    _, found = read_applicants(path, on=ON)
    return [(p.row, p.field, p.code) for p in found]


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        (
            {"id_number": id_number(1)[:-1] + ("0" if id_number(1)[-1] != "0" else "1")},
            "id_number",
            "bad_id_number",
        ),
        ({"id_number": "37010219900230001X"}, "id_number", "bad_id_number"),  # 30 February
        ({"work_since": "2023-02-30"}, "work_since", "bad_date"),
        ({"work_since": "2027-01-01"}, "work_since", "future_date"),
        ({"work_since": "1999-05-01"}, "work_since", "impossible_date"),  # aged 9
        ({"title_since": "明年"}, "title_since", "bad_date"),
        ({"education": "小学学历"}, "education", "unknown_education"),
        ({"title": "总工"}, "title", "unknown_title"),
        ({"related_major": "也许"}, "related_major", "bad_flag"),
        ({"training_hours": "-3"}, "training_hours", "bad_hours"),
        ({"name": ""}, "name", "bad_name"),
    ],
)
def test_each_bad_field_is_named_with_its_row(
    tmp_path: Path, changes: dict[str, str], field: str, code: str
) -> None:
    assert problems_of(tmp_path, [applicant(1), applicant(2, **changes)]) == [(3, field, code)]


def test_a_duplicate_applicant_names_both_rows(tmp_path: Path) -> None:
    found = problems_of(tmp_path, [applicant(1), applicant(2), applicant(1, name="同一人")])
    assert found == [(4, "id_number", "duplicate")]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(0, 16), digit=st.sampled_from("0123456789"))
def test_any_single_digit_error_in_an_id_number_is_caught(
    tmp_path: Path, position: int, digit: str
) -> None:
    good = id_number(7)
    bad = good[:position] + digit + good[position + 1 :]
    assume(bad != good)
    assert problems_of(tmp_path, [applicant(1, id_number=bad)]) == [
        (2, "id_number", "bad_id_number")
    ]


def test_dates_in_the_forms_applicant_files_use(tmp_path: Path) -> None:
    rows = [
        applicant(n, work_since=text)
        for n, text in enumerate(["2015/07/01", "2015.07.01", "20150701", "2015年7月1日"], start=1)
    ]
    path = write_applicants(tmp_path / "a.csv", rows)
    found, problems = read_applicants(path, on=ON)
    assert not problems and {a.facts.work_since for a in found} == {date(2015, 7, 1)}


# --- registration and override ------------------------------------------------------------------


@pytest.fixture
def sitting(database: Database) -> Database:
    """A junior AI sitting with two assembled forms."""
    for path in sample_files():
        if path.name == "ai-junior.json":
            import_bank(database.engine, path)
    assemble_papers(
        database.engine,
        load_blueprint(next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")),
    )
    create_sitting(
        database.engine,
        "J1",
        "ai-junior-sample",
        institution=institution(database.engine, "测试评价机构"),
    )
    return database


def counts(database: Database) -> tuple[int, ...]:
    with Session(database.engine) as session:
        return tuple(
            session.exec(select(func.count()).select_from(table)).one()
            for table in (Candidate, Application, Registration, AuditEntry)
        )


def test_registration_accepts_refuses_and_records_why(sitting: Database, tmp_path: Path) -> None:
    rows = [
        applicant(1),  # bachelor, related: J2
        applicant(2, education="大专", work_since="2025-07-01"),  # college, under a year
        applicant(3, training_hours="100"),  # too few training hours
        applicant(4, education="大专", title="技术员", work_since=""),  # technician title: J1
    ]
    path = write_applicants(tmp_path / "a.csv", rows)
    report = register_applicants(sitting.engine, "J1", path, VAULT, on=ON)
    assert sorted(route for _, _, route in report.accepted) == ["J1", "J2"]
    assert [row for row, _, _ in report.refused] == [3, 4]
    assert "不足 1 年" in report.refused[0][2].reason_zh()
    assert "training hours" in report.refused[1][2].reason_en()
    with Session(sitting.engine) as session:
        apps = session.exec(select(Application).order_by(Application.row)).all()
        regs = session.exec(select(Registration)).all()
    assert [a.decision for a in apps] == ["accepted", "refused", "refused", "accepted"]
    assert {a.registration_id for a in apps if a.decision == "accepted"} == {r.id for r in regs}
    assert {r.admission_no for r in regs} == {"J1-0001", "J1-0002"}
    assert apps[1].reasons[0]["route"] == "J1" and apps[1].facts["work_since"] == "2025-07-01"
    # Applying again to the same sitting is refused outright, and nothing is written.
    before = counts(sitting)
    with pytest.raises(ValidationFailed) as failed:
        register_applicants(sitting.engine, "J1", path, VAULT, on=ON)
    assert {p.code for p in failed.value.problems} == {"already_applied"}
    assert counts(sitting) == before


def test_one_bad_row_and_nothing_is_written(sitting: Database, tmp_path: Path) -> None:
    before = counts(sitting)
    path = write_applicants(
        tmp_path / "a.csv", [applicant(1), applicant(2, form="Z"), applicant(3, education="?")]
    )
    with pytest.raises(ValidationFailed) as failed:
        register_applicants(sitting.engine, "J1", path, VAULT, on=ON)
    assert [(p.row, p.field) for p in failed.value.problems] == [(3, "form"), (4, "education")]
    assert "row 3, field form" in failed.value.diagnostics()
    assert counts(sitting) == before


def test_an_override_needs_a_reason_and_an_admin_and_is_audited(
    sitting: Database, tmp_path: Path
) -> None:
    refused_id = id_number(3)
    path = write_applicants(tmp_path / "a.csv", [applicant(3, training_hours="0")])
    register_applicants(sitting.engine, "J1", path, VAULT, on=ON)
    before = counts(sitting)
    for reason, admin in (("", "管理员"), ("   ", "管理员"), ("业绩突出", "")):
        with pytest.raises(ApplicationError):
            override(sitting.engine, "J1", refused_id, VAULT, reason=reason, admin=admin)
    with pytest.raises(ApplicationError, match="no application"):
        override(sitting.engine, "J1", id_number(9), VAULT, reason="x", admin="管理员")
    assert counts(sitting) == before
    reg = override(
        sitting.engine, "J1", refused_id, VAULT, reason="业绩突出，集体研究同意", admin="张管理员"
    )
    with Session(sitting.engine) as session:
        app = session.exec(select(Application)).one()
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "application.override")
        ).one()
    assert app.decision == "accepted" and app.registration_id == reg.id and app.route == "override"
    assert app.override_by == "张管理员" and entry.detail["reason"] == "业绩突出，集体研究同意"
    assert refused_id not in json.dumps(entry.detail)  # masked in the log
    with pytest.raises(ApplicationError, match="accepted already"):
        override(sitting.engine, "J1", refused_id, VAULT, reason="again", admin="张管理员")


def test_the_file_may_be_xlsx_with_date_cells(sitting: Database, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "身份证号", "学历", "相关专业", "相关工作起始日期", "培训学时"])
    sheet.append(["王五", id_number(5), "大专", "是", date(2020, 3, 1), 130])
    book.save(tmp_path / "a.xlsx")
    report = register_applicants(sitting.engine, "J1", tmp_path / "a.xlsx", VAULT, on=ON)
    assert [route for _, _, route in report.accepted] == ["J3"]


def test_a_csv_in_gbk_reads(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    with path.open("w", encoding="gbk", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "身份证号", "学历"])
        writer.writerow(["李四", id_number(4), "硕士"])
    found, problems = read_applicants(path, on=ON)
    assert not problems and found[0].facts.education == "master"


_examples = iter(range(10**6))
GOOD_ID = id_number(999)
BAD_FIELDS = {
    "id_number": GOOD_ID[:-1] + ("1" if GOOD_ID[-1] != "1" else "2"),  # wrong check character
    "education": "幼儿园",
    "work_since": "2020-13-01",
    "title": "院士",
    "training_hours": "很多",
}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    faults=st.lists(st.none() | st.sampled_from(sorted(BAD_FIELDS)), min_size=1, max_size=6),
    hours=st.lists(st.sampled_from(["0", "127", "128", "500"]), min_size=6, max_size=6),
)
def test_registration_is_all_or_nothing(
    sitting: Database, tmp_path: Path, faults: list[str | None], hours: list[str]
) -> None:
    """Any mix of good and bad rows: either every applicant is decided, or nothing is written."""
    n = next(_examples)
    code = f"H{n}"
    create_sitting(
        sitting.engine,
        code,
        "ai-junior-sample",
        institution=institution(sitting.engine, "测试评价机构"),
    )
    rows = [
        applicant(100 * n + i, **{"training_hours": hours[i], **({f: BAD_FIELDS[f]} if f else {})})
        for i, f in enumerate(faults)
    ]
    path = write_applicants(tmp_path / f"h{n}.csv", rows)
    before = counts(sitting)
    if any(faults):
        with pytest.raises(ValidationFailed) as failed:
            register_applicants(sitting.engine, code, path, VAULT, on=ON)
        bad_rows = {i + 2 for i, f in enumerate(faults) if f}
        assert {(p.row, p.field) for p in failed.value.problems} == {
            (i + 2, f) for i, f in enumerate(faults) if f
        } and {p.row for p in failed.value.problems} == bad_rows
        assert counts(sitting) == before
    else:
        report = register_applicants(sitting.engine, code, path, VAULT, on=ON)
        accepted = sum(float(h) >= 128 for h in hours[: len(rows)])
        assert len(report.accepted) == accepted and len(report.refused) == len(rows) - accepted
        after = counts(sitting)
        assert after[1] - before[1] == len(rows) and after[2] - before[2] == accepted


def test_certificates_and_training_hours_recorded_here_count_for_an_applicant(
    sitting: Database, tmp_path: Path
) -> None:
    """What the database holds of a person counts beside what they declare: completed course
    hours of the sitting's occupation and level (not an unfinished course, not another level),
    and valid certificates of the occupation (not a revoked one, not another occupation) — read
    for a whole file at once."""
    from certify.registration.applications import held_certificates, recorded_training_hours
    from certify.registration.sittings import new_candidate
    from schemas.enums import CertificateKind, CertificateStatus
    from schemas.tables import Certificate, Course, Enrolment, Sitting

    trainer = institution(sitting.engine, "培训机构")
    with Session(sitting.engine) as session:
        occupation = session.exec(select(Sitting.occupation)).one()
        trained, other = (new_candidate(session, VAULT, f"候选{n}", id_number(n)) for n in (7, 8))
        assert trained.id is not None and other.id is not None
        courses = [
            Course(
                code=code,
                occupation=occ,
                level=level,
                hours=hours,
                institution=trainer,
            )
            for code, occ, level, hours in (
                ("C1", occupation, "junior", 100),
                ("C2", occupation, "junior", 40),
                ("C3", occupation, "intermediate", 300),
                ("C4", occupation, "junior", 500),
            )
        ]
        session.add_all(courses)
        session.flush()
        done = {"C1": True, "C2": True, "C3": True, "C4": False}
        session.add_all(
            Enrolment(course_id=c.id or 0, candidate_id=trained.id, completed=done[c.code])
            for c in courses
        )
        for serial, person, occ, level, issued, status in (
            ("S1", trained, occupation, "junior", date(2020, 5, 1), CertificateStatus.VALID),
            ("S2", trained, occupation, "junior", date(2019, 5, 1), CertificateStatus.VALID),
            (
                "S3",
                trained,
                occupation,
                "intermediate",
                date(2023, 1, 1),
                CertificateStatus.REVOKED,
            ),
            ("S4", other, "other-occupation", "junior", date(2021, 1, 1), CertificateStatus.VALID),
        ):
            session.add(
                Certificate(
                    serial=serial,
                    kind=CertificateKind.LEVEL,
                    candidate_id=person.id or 0,
                    holder_name=person.name,
                    occupation=occ,
                    level=level,
                    issued_on=issued,
                    issuer="测试评价机构",
                    kid="k",
                    token="t",
                    status=status,
                )
            )
        session.commit()
        ids = [trained.id, other.id]
        assert held_certificates(session, ids, occupation) == {
            trained.id: {Level.JUNIOR: date(2019, 5, 1)}
        }
        assert recorded_training_hours(session, ids, occupation, "junior") == {trained.id: 140.0}
    # Declared 0 hours each: the recorded 140 admit one (128 needed), the other is refused.
    path = write_applicants(
        tmp_path / "a.csv", [applicant(7, training_hours="0"), applicant(8, training_hours="0")]
    )
    report = register_applicants(sitting.engine, "J1", path, VAULT, on=ON)
    assert len(report.accepted) == 1 and [row for row, _, _ in report.refused] == [3]
