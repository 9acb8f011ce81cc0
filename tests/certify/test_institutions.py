"""Institutions as records: what each is authorised for, enforced where sittings and courses are
opened, keys made and certificates issued, and published in the trust list so that every
verifier enforces it too."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, select

from certify.certificates.issuance import IssuanceError, Issuer
from certify.entitlements.training import TrainingError, create_course
from certify.infra import audit_log, db
from certify.infra.errors import DatabaseError
from certify.institutions.registry import (
    Grant,
    InstitutionError,
    NotAuthorised,
    add_institution,
    authorise,
    check_authorised,
    end_authorisation,
    grants_of,
    list_institutions,
)
from certify.keys.store import KeyProblem, create_key
from certify.registration.sittings import SittingError, create_sitting, set_sitting
from certify.signing.trust import TrustedKey
from certify.signing.verify import verify_token
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import assemble_papers
from question_bank.samples import sample_blueprints, sample_files
from schemas.enums import CertificateKind
from schemas.tables import AuditEntry, Authorisation, Institution, Sitting
from tests.certify.exam_helpers import graded_sitting, run
from tests.certify.signing_helpers import PASS, claims, fresh_revocations, issue, trust
from tests.conftest import Database
from tests.helpers import table_counts

TODAY = date.today()
LEVEL, TRAINING = CertificateKind.LEVEL, CertificateKind.TRAINING


def narrow(database: Database, **window: Any) -> None:
    """窄评价机构 (SD-EVAL-09): authorised to examine ai/junior only, over ``window``."""
    add_institution(database.engine, "SD-EVAL-09", "窄评价机构", region="山东省青岛市")
    authorise(
        database.engine,
        "SD-EVAL-09",
        kind="level",
        occupations=["ai"],
        levels=["junior"],
        valid_from=window.get("valid_from", TODAY - timedelta(days=30)),
        valid_until=window.get("valid_until"),
    )


@pytest.fixture
def assembled(database: Database) -> Database:
    for path in sample_files():
        if path.name in ("ai-junior.json", "ai-senior.json"):
            import_bank(database.engine, path)
    for path in sample_blueprints():
        if path.name in ("ai-junior.yaml", "ai-senior.yaml"):
            assemble_papers(database.engine, load_blueprint(path))
    return database


# --- the records -----------------------------------------------------------------------------


def test_an_institution_is_added_authorised_ended_and_every_step_audited(
    database: Database,
) -> None:
    narrow(database)
    made = authorise(
        database.engine,
        "窄评价机构",  # by name as well as by code
        kind="training",
        occupations=["人工智能", "bigdata"],
        levels=["初级", "senior"],
        valid_from=TODAY,
        valid_until=TODAY + timedelta(days=365),
    )
    assert sorted((g.occupation, g.level) for g in made) == [
        ("ai", "junior"),
        ("ai", "senior"),
        ("bigdata", "junior"),
        ("bigdata", "senior"),
    ]
    ended = end_authorisation(
        database.engine,
        "SD-EVAL-09",
        kind="training",
        occupation="ai",
        level="senior",
        last_day=TODAY + timedelta(days=10),
    )
    assert ended.valid_until == TODAY + timedelta(days=10)
    (view,) = list_institutions(database.engine)
    assert (view.code, view.name, view.region) == ("SD-EVAL-09", "窄评价机构", "山东省青岛市")
    assert len(view.grants) == 5
    assert len(view.current(TODAY + timedelta(days=11))) == 4
    with Session(database.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
        assert audit_log.verify_chain(session).ok
    assert actions == [
        "institution.add",
        "institution.authorise",
        "institution.authorise",
        "institution.end",
    ]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda e: add_institution(e, "bad code!", "某机构"), "code"),
        (lambda e: add_institution(e, "OK-1", "  "), "name"),
        (lambda e: add_institution(e, "OK-1", "某机构", region="省" * 65), "region"),
        (lambda e: add_institution(e, "SD-EVAL-09", "另一个机构"), "code"),
        (lambda e: add_institution(e, "OTHER", "窄评价机构"), "name"),
        (lambda e: authorise(e, "NOPE", kind="level", occupations=["ai"], levels=["junior"],
                             valid_from=TODAY), "institution"),
        (lambda e: authorise(e, "SD-EVAL-09", kind="licence", occupations=["ai"],
                             levels=["junior"], valid_from=TODAY), "kind"),
        (lambda e: authorise(e, "SD-EVAL-09", kind="level", occupations=["astrology"],
                             levels=["junior"], valid_from=TODAY), "occupation"),
        (lambda e: authorise(e, "SD-EVAL-09", kind="level", occupations=["ai"],
                             levels=["expert"], valid_from=TODAY), "level"),
        (lambda e: authorise(e, "SD-EVAL-09", kind="level", occupations=["ai"],
                             levels=["senior"], valid_from=TODAY,
                             valid_until=TODAY - timedelta(days=1)), "valid_until"),
        # overlaps the authorisation it holds (open-ended, from 30 days ago)
        (lambda e: authorise(e, "SD-EVAL-09", kind="level", occupations=["ai", "cloud"],
                             levels=["junior"], valid_from=TODAY + timedelta(days=400)),
         "valid_from"),
        (lambda e: end_authorisation(e, "SD-EVAL-09", kind="training", occupation="ai",
                                     level="junior", last_day=TODAY), "valid_until"),
    ],
)  # fmt: skip
def test_bad_input_is_named_and_changes_nothing(database: Database, call: Any, field: str) -> None:
    narrow(database)
    before = table_counts(database.engine)
    with pytest.raises(InstitutionError) as refused:
        call(database.engine)
    assert refused.value.field == field
    assert table_counts(database.engine) == before


# --- where the authorisation is enforced -----------------------------------------------------


def test_a_sitting_opens_only_for_an_institution_authorised_on_its_day(
    assembled: Database,
) -> None:
    engine = assembled.engine
    narrow(assembled, valid_until=TODAY + timedelta(days=60))
    before = table_counts(engine)
    cases = [
        ("NOPE", "ai-junior-sample", None, "no institution"),
        ("窄评价机构", "ai-senior-sample", None, "not authorised for level in ai/senior"),
        (
            "SD-EVAL-09",
            "ai-junior-sample",
            datetime.combine(TODAY + timedelta(days=61), datetime.min.time(), UTC),
            "not authorised",
        ),
        (
            "SD-EVAL-09",
            "ai-junior-sample",
            datetime.combine(TODAY - timedelta(days=31), datetime.min.time(), UTC),
            "not authorised",
        ),
    ]
    for name, blueprint, starts_at, why in cases:
        with pytest.raises(SittingError, match=why):
            create_sitting(engine, "S1", blueprint, institution=name, starts_at=starts_at)
    assert table_counts(engine) == before
    # by code, on a day inside the window: the sitting names the institution by its name
    row = create_sitting(
        engine,
        "S1",
        "ai-junior-sample",
        institution="SD-EVAL-09",
        starts_at=datetime.combine(TODAY + timedelta(days=60), datetime.min.time(), UTC),
    )
    assert row.institution == "窄评价机构"
    # moving it past the window is refused and leaves it where it was
    with pytest.raises(SittingError, match="not authorised"):
        set_sitting(
            engine,
            "S1",
            blueprint_code="ai-junior-sample",
            starts_at=datetime.combine(TODAY + timedelta(days=90), datetime.min.time(), UTC),
        )
    with Session(engine) as session:
        sitting = session.exec(select(Sitting)).one()
        assert sitting.starts_at is not None
        assert sitting.starts_at.date() == TODAY + timedelta(days=60)


def test_the_database_keeps_a_sitting_to_an_institution_on_record(assembled: Database) -> None:
    """Even a write that goes around the services cannot name an institution nobody added."""
    with pytest.raises(DatabaseError), db.transaction(assembled.engine) as session:
        session.add(Sitting(code="X", occupation="ai", level="junior", institution="无此机构"))


def test_a_course_needs_a_training_authorisation(database: Database) -> None:
    narrow(database)  # examines ai/junior, trains for nothing
    course = {"occupation": "ai", "level": "junior", "hours": 8, "syllabus": []}
    with pytest.raises(TrainingError, match="not authorised for training"):
        create_course(database.engine, "T1", institution="窄评价机构", **course)  # type: ignore[arg-type]
    authorise(
        database.engine,
        "SD-EVAL-09",
        kind="training",
        occupations=["ai"],
        levels=["junior"],
        valid_from=TODAY,
    )
    made = create_course(database.engine, "T1", institution="SD-EVAL-09", **course)  # type: ignore[arg-type]
    assert made.institution == "窄评价机构"


def test_a_key_is_made_only_for_an_institution_on_record_under_its_code_and_name(
    database: Database,
) -> None:
    with pytest.raises(KeyProblem, match="no institution"):
        create_key(
            database.engine, role="institution", issuer="SD-EVAL-09", name="", passphrase=PASS
        )
    narrow(database)
    with pytest.raises(KeyProblem, match="is named 窄评价机构"):
        create_key(
            database.engine,
            role="institution",
            issuer="SD-EVAL-09",
            name="冒名评价机构",
            passphrase=PASS,
        )
    row = create_key(
        database.engine, role="institution", issuer="窄评价机构", name="", passphrase=PASS
    )
    assert (row.issuer, row.scope["name"]) == ("SD-EVAL-09", "窄评价机构")


# --- the trust list and every verifier -------------------------------------------------------


@pytest.fixture
def narrow_keys(database: Database) -> Database:
    """A root and 窄评价机构's key, whose own scope is wide open (every kind, occupation and
    level): only the published authorisation narrows it."""
    create_key(database.engine, role="root", issuer="SD-HRSS", name="山东省人社厅", passphrase=PASS)
    narrow(database, valid_from=TODAY, valid_until=TODAY + timedelta(days=30))
    create_key(database.engine, role="institution", issuer="SD-EVAL-09", name="", passphrase=PASS)
    return database


def _verdict(database: Database, **changes: Any) -> tuple[bool, str]:
    c = claims(**{"issuer": "SD-EVAL-09", "occupation": "ai", "level": "junior", **changes})
    report = verify_token(issue(database, c, "SD-EVAL-09"), trust(database))
    scope = next((ch for ch in report.checks if ch.name == "scope"), None)
    return (scope is not None and scope.ok), (scope.message_en if scope else "")


def test_the_trust_list_publishes_the_authorisation_and_verifiers_keep_to_it(
    narrow_keys: Database,
) -> None:
    (key,) = [k for k in trust(narrow_keys).keys.values() if k.role == "institution"]
    assert key.scope["grants"] == [
        {
            "kind": 1,
            "occupation": "ai",
            "level": "junior",
            "from": TODAY.isoformat(),
            "until": (TODAY + timedelta(days=30)).isoformat(),
        }
    ]
    assert _verdict(narrow_keys) == (True, "within the key's validity and scope")
    outside = "kind, occupation or level outside the issuer's scope"
    assert _verdict(narrow_keys, level="senior") == (False, outside)
    assert _verdict(narrow_keys, occupation="cloud") == (False, outside)
    assert _verdict(narrow_keys, kind=TRAINING.code) == (False, outside)
    assert _verdict(narrow_keys, issued=TODAY + timedelta(days=31)) == (False, outside)
    # Ending the authorisation early: what was issued before still verifies, nothing after.
    end_authorisation(
        narrow_keys.engine,
        "SD-EVAL-09",
        kind="level",
        occupation="ai",
        level="junior",
        last_day=TODAY + timedelta(days=5),
    )
    assert _verdict(narrow_keys, issued=TODAY + timedelta(days=5))[0]
    assert _verdict(narrow_keys, issued=TODAY + timedelta(days=6)) == (False, outside)
    # A status check does not rescue a token out of scope.
    report = verify_token(
        issue(narrow_keys, claims(issuer="SD-EVAL-09", level="senior"), "SD-EVAL-09"),
        trust(narrow_keys),
        fresh_revocations(narrow_keys),
    )
    assert report.verdict == "not_genuine" and report.claims is None


grant_days = st.integers(-40, 40)


@st.composite
def grants(draw: st.DrawFn) -> Grant:
    start = draw(grant_days)
    length = draw(st.none() | st.integers(0, 40))
    return Grant(
        draw(st.sampled_from([LEVEL, TRAINING])),
        draw(st.sampled_from(["ai", "cloud"])),
        draw(st.sampled_from(["junior", "senior"])),
        TODAY + timedelta(days=start),
        None if length is None else TODAY + timedelta(days=start + length),
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    given_grants=st.lists(grants(), max_size=6),
    asks=st.lists(
        st.tuples(
            st.sampled_from([LEVEL, TRAINING]),
            st.sampled_from(["ai", "cloud"]),
            st.sampled_from(["junior", "senior"]),
            st.integers(-50, 90),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_the_service_and_the_published_grants_give_the_same_answer(
    database: Database, given_grants: list[Grant], asks: list[tuple[Any, str, str, int]]
) -> None:
    """Whatever an institution was authorised for (an overlapping grant being refused), the
    issuing side (check_authorised) and a verifier reading the trust list's grants
    (TrustedKey.allows) answer every question alike."""
    database.reset()
    add_institution(database.engine, "P1", "性质评价机构")
    for g in given_grants:
        with contextlib.suppress(InstitutionError):
            authorise(
                database.engine,
                "P1",
                kind=g.kind,
                occupations=[g.occupation],
                levels=[g.level],
                valid_from=g.valid_from,
                valid_until=g.valid_until,
            )
    with Session(database.engine) as session:
        published = grants_of(session, "P1")
        assert published is not None
        key = TrustedKey(
            issuer="P1",
            name="性质评价机构",
            role="institution",
            kid="00",
            alg=-8,
            public_key=b"",
            valid_from=datetime(2000, 1, 1, tzinfo=UTC),
            valid_until=None,
            scope={"grants": json.loads(json.dumps([g.as_json() for g in published]))},
        )
        for kind, occupation, level, offset in asks:
            day = TODAY + timedelta(days=offset)
            try:
                check_authorised(session, "P1", kind, occupation, level, day)
                service = True
            except NotAuthorised:
                service = False
            assert key.allows(kind.code, occupation, level, day) == service
            expected = any(
                (g.kind, g.occupation, g.level) == (kind, occupation, level) and g.holds_on(day)
                for g in published
            )
            assert service == expected


# --- issuance --------------------------------------------------------------------------------


@pytest.fixture
def two_institutions(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A graded sitting S1 of 测试评价机构 (SD-EVAL-01), its pass list published two weeks ago;
    a root, and a second institution 乙评价机构 (SD-EVAL-02) with a key of its own."""
    from certify.certificates.publication import publish

    monkeypatch.setenv("CERTIFY_KEY_PASSPHRASE", PASS)
    graded_sitting(database, tmp_path)
    publish(database.engine, "S1", tmp_path / "n", days=7, opened_on=TODAY - timedelta(14))
    run(database, "keys", "root", "--issuer", "SD-HRSS", "--name", "山东省人社厅")
    run(database, "institution", "add", "SD-EVAL-02", "乙评价机构", "--region", "山东省烟台市")
    run(
        database,
        *("institution", "authorise", "乙评价机构", "--occupation", "ai"),
        *("--level", "junior,intermediate,senior", "--from", "2000-01-01"),
    )
    run(database, "keys", "create", "SD-EVAL-02")
    run(database, "keys", "create", "SD-EVAL-01")
    return database


def test_a_key_of_one_institution_never_issues_for_another(
    two_institutions: Database, tmp_path: Path
) -> None:
    before = table_counts(two_institutions.engine)
    issuer = Issuer.open(two_institutions.engine, "SD-EVAL-02", PASS, out=tmp_path / "c")
    with pytest.raises(IssuanceError, match="the key of 乙评价机构 cannot issue for them"):
        issuer.issue_level("S1")
    assert table_counts(two_institutions.engine) == before
    out = run(
        two_institutions, "issue", "S1", "--issuer", "SD-EVAL-02", "--out", str(tmp_path), code=1
    )
    assert "cannot issue for them" in out


def test_an_ended_authorisation_stops_issuance_from_the_next_day(
    two_institutions: Database, tmp_path: Path
) -> None:
    engine = two_institutions.engine
    end_authorisation(
        engine,
        "SD-EVAL-01",
        kind="level",
        occupation="ai",
        level="junior",
        last_day=TODAY - timedelta(days=1),
    )
    before = table_counts(engine)
    issuer = Issuer.open(engine, "SD-EVAL-01", PASS, out=tmp_path / "c")
    with pytest.raises(IssuanceError, match="not authorised for level in ai/junior"):
        issuer.issue_level("S1")
    assert table_counts(engine) == before
    report = issuer.issue_level("S1", today=TODAY - timedelta(days=1))
    assert report.issued


# --- the command line and the migration ------------------------------------------------------


def test_the_institution_commands(database: Database) -> None:
    assert "no institutions yet" in run(database, "institution", "list")
    run(database, "institution", "add", "SD-TRAIN-01", "某培训机构")
    out = run(
        database,
        *("institution", "authorise", "SD-TRAIN-01", "--kind", "training"),
        *("--occupation", "ai,cloud", "--level", "初级", "--from", "2026-01-01"),
        *("--until", "2026-12-31"),
    )
    assert out.count("授权 authorised") == 2 and "培训 ai/junior 2026-01-01…2026-12-31" in out
    run(database, "institution", "region", "某培训机构", "山东省淄博市")
    out = run(database, "institution", "list")
    assert "SD-TRAIN-01\t某培训机构\t山东省淄博市" in out and "培训 cloud/junior" in out
    out = run(
        database,
        *("institution", "end", "SD-TRAIN-01", "--kind", "training", "--occupation", "cloud"),
        *("--level", "junior", "--last-day", "2026-06-30"),
    )
    assert "2026-01-01…2026-06-30" in out
    out = run(database, "institution", "add", "SD-TRAIN-01", "重复", code=1)
    assert "exists already" in out


def _insert(conn: Any, table: str, **values: Any) -> None:
    names = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)


def test_an_existing_database_gets_a_record_of_every_institution_it_names(
    empty_database_url: str,
) -> None:
    """A database at 0020: two sittings of an institution that holds a key (named by its
    code on the key and its certificates), a course of another with no key. After the
    migration both are records, authorised from the first day they acted, and the sitting and
    course refer to them."""
    engine = db.make_engine(empty_database_url)
    db.upgrade(engine, "0020")
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    with engine.begin() as conn:
        for code, day in (("S1", 5), ("S2", 1)):
            _insert(conn, "sitting", code=code, occupation="ai", level="junior",
                    institution="甲评价机构", starts_at=at.replace(day=day), status="planned",
                    pass_rule="raw")  # fmt: skip
        _insert(conn, "sitting", code="S3", occupation="ai", level="senior",
                institution="甲评价机构", starts_at=None, status="planned", pass_rule="raw")  # fmt: skip
        _insert(conn, "course", code="C1", occupation="cloud", level="junior", hours=8,
                syllabus="[]", institution="乙培训机构", pass_mark=60.0,
                created_at=at.replace(month=2))  # fmt: skip
        _insert(conn, "signing_key", kid="k1", issuer="SD-EVAL-01", role="institution",
                algorithm="EdDSA", public_key=b"x", scope=json.dumps({"name": "甲评价机构"}),
                valid_from=at)  # fmt: skip
    db.upgrade(engine)
    with Session(engine) as session:
        rows = {i.name: i for i in session.exec(select(Institution))}
        assert {name: r.code for name, r in rows.items()} == {
            "甲评价机构": "SD-EVAL-01",
            "乙培训机构": "I0001",
        }
        grants = {
            (a.institution_id, a.kind.value, a.occupation, a.level): (a.valid_from, a.valid_until)
            for a in session.exec(select(Authorisation))
        }
    first = rows["甲评价机构"].id
    assert grants == {
        (first, "level", "ai", "junior"): (date(2026, 3, 1), None),
        # a sitting without a date counts from the day of the migration
        (first, "level", "ai", "senior"): (datetime.now(UTC).date(), None),
        (rows["乙培训机构"].id, "training", "cloud", "junior"): (date(2026, 2, 1), None),
    }
    db.downgrade(engine, "0020")
    db.upgrade(engine)
    with Session(engine) as session:
        assert len(session.exec(select(Institution)).all()) == 2
    engine.dispose()
