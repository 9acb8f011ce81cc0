"""Once a sitting's pass list is published or a certificate issued, results move only through
a confirmed, audited regrade, and a certified pass that becomes a fail suspends the certificate."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from certify.certificates.regrade import apply_regrade
from certify.certificates.verification import verify_live
from certify.grading.marks import import_marks, marking_list
from certify.grading.service import grade_sitting, regrade_diff
from certify.grading.sheets import candidate_copies, import_sheets
from certify.infra.errors import Error
from certify.registration.sittings import create_sitting, import_roster
from cli import cli
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import assemble_papers
from question_bank.samples import sample_blueprints, sample_files
from schemas.enums import ItemType
from schemas.tables import (
    AuditEntry,
    Certificate,
    PublicationEntry,
    Registration,
    Result,
    Revocation,
)
from tests.certify.exam_helpers import run
from tests.certify.signing_helpers import PASS, make_keys, trust
from tests.certify.test_grading_flow import VAULT, id_number, write_marks, write_sheets
from tests.conftest import Database
from tests.helpers import institution, snapshot

TODAY = date.today()
CANDIDATES = ["K0", "K1", "K2", "K3"]


def graded(database: Database, folder: Path, correct: set[str], *, pending: str = "") -> None:
    """Four candidates, ``correct`` answering every objective question right; every script
    marked twice at full marks, except that ``pending``'s second marks are too far apart."""
    for path in sample_files():
        if path.name == "ai-junior.json":
            import_bank(database.engine, path)
    bp = next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")
    assemble_papers(database.engine, load_blueprint(bp))
    create_sitting(
        database.engine,
        "S1",
        "ai-junior-sample",
        institution=institution(database.engine, "测试评价机构"),
    )
    roster = folder / "roster.csv"
    roster.write_text(
        "准考证号,姓名,身份证号,试卷\n"
        + "".join(f"K{n},考生{n},{id_number(n)},{'AB'[n % 2]}\n" for n in range(4)),
        encoding="utf-8",
    )
    import_roster(database.engine, "S1", roster, VAULT)
    write_sheets(database, folder / "sheets.csv", correct)
    import_sheets(database.engine, "S1", folder / "sheets.csv")
    far = {s.code: 0.0 for s in scripts_of(database, pending)}
    write_marks(database, folder / "r1.csv", {}, "甲")
    write_marks(database, folder / "r2.csv", far, "乙")
    import_marks(database.engine, "S1", folder / "r1.csv")
    import_marks(database.engine, "S1", folder / "r2.csv")
    grade_sitting(database.engine, "S1")


def scripts_of(database: Database, admission_no: str) -> list[Any]:
    _, copies = candidate_copies(database.engine, "S1")
    reg = copies[admission_no][0] if admission_no else None
    return [s for s in marking_list(database.engine, "S1") if reg and s.registration_id == reg.id]


def publish(database: Database, folder: Path) -> None:
    opened = (TODAY - timedelta(days=10)).isoformat()
    run(database, "publish", "S1", "--out", str(folder / "notice"), "--opened", opened)


@pytest.fixture
def certified(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """K0 and K1 passed, were published and hold certificates; K2 and K3 failed."""
    monkeypatch.setenv("CERTIFY_KEY_PASSPHRASE", PASS)
    monkeypatch.setenv("CERTIFY_SECRET_KEY", base64.b64encode(VAULT.secret).decode())
    graded(database, tmp_path, {"K0", "K1"})
    make_keys(database, kinds=[1, 2])
    publish(database, tmp_path)
    run(database, "issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(tmp_path / "certs"))
    return database


def certificate_of(database: Database, admission_no: str) -> Certificate:
    with Session(database.engine) as session:
        found = session.exec(
            select(Certificate)
            .join(Registration, col(Registration.id) == col(Certificate.registration_id))
            .where(Registration.admission_no == admission_no)
        ).one()
    return found


def results(database: Database) -> dict[str, tuple[Any, ...]]:
    """Every stored result row of the sitting by admission number, exactly as stored."""
    with Session(database.engine) as session:
        return {
            reg.admission_no: (r.id, r.part_scores, r.total, r.passed, r.computed_at)
            for r, reg in session.exec(
                select(Result, Registration).join(
                    Registration, col(Registration.id) == col(Result.registration_id)
                )
            )
        }


def replace_sheets(database: Database, folder: Path, correct: set[str]) -> None:
    write_sheets(database, folder / "again.csv", correct)
    import_sheets(database.engine, "S1", folder / "again.csv", replace=True)


def test_replaced_sheets_reach_a_certified_result_only_through_a_confirmed_regrade(
    certified: Database, tmp_path: Path
) -> None:
    cert = certificate_of(certified, "K0")
    assert cert.status == "valid"
    write_sheets(certified, tmp_path / "worse.csv", {"K1"})  # K0 now answers nothing
    run(certified, "sheets", "S1", str(tmp_path / "worse.csv"), "--replace")
    before = snapshot(certified.engine)

    refused = run(certified, "grade", "S1", code=1)
    assert "results_locked" in refused and "certify regrade" in refused
    assert "1 stored result" in refused and "Traceback" not in refused
    assert snapshot(certified.engine) == before

    declined = CliRunner().invoke(cli, ["--db", certified.url, "regrade", "S1"], input="n\n")
    assert declined.exit_code == 0, declined.output
    assert "K0" in declined.output and cert.serial in declined.output
    assert "未应用 not applied" in declined.output
    assert snapshot(certified.engine) == before

    applied = CliRunner().invoke(cli, ["--db", certified.url, "regrade", "S1"], input="y\n")
    assert applied.exit_code == 0, applied.output
    assert "合格→不合格" in applied.output and cert.serial in applied.output
    assert results(certified)["K0"][3] is False
    assert certificate_of(certified, "K0").status == "suspended"
    assert certificate_of(certified, "K1").status == "valid"
    with Session(certified.engine) as session:
        change = session.exec(select(Revocation)).one()
        regrade = session.exec(select(AuditEntry).where(AuditEntry.action == "regrade")).one()
        suspend = session.exec(
            select(AuditEntry).where(AuditEntry.action == "certificate.suspend")
        ).one()
    assert change.action == "suspend" and "S1" in change.reason and "regrade" in change.reason
    assert suspend.subject == cert.serial and suspend.detail["reason"] == change.reason
    [k0] = regrade.detail["changes"]
    assert (k0["admission_no"], k0["passed_before"], k0["passed_after"]) == ("K0", True, False)
    assert k0["before"]["theory"] == 100 and k0["after"]["theory"] == 0
    assert regrade.detail["certificates_suspended"] == [cert.serial]
    report, _ = verify_live(certified.engine, cert.token, trust(certified))
    assert report.verdict == "suspended"

    settled = results(certified)
    run(certified, "grade", "S1")  # nothing left to move: grading is allowed and changes nothing
    assert results(certified) == settled


def test_a_pass_regained_after_publication_is_flagged_and_reinstated_by_a_person(
    certified: Database, tmp_path: Path
) -> None:
    serial = certificate_of(certified, "K0").serial
    replace_sheets(certified, tmp_path, {"K1"})
    run(certified, "regrade", "S1", "--yes")
    replace_sheets(certified, tmp_path, {"K0", "K1", "K2"})
    out = run(certified, "regrade", "S1", "--yes")
    assert "K0" in out and "K2" in out and "不合格→合格" in out
    assert "new publication" in out and out.count("须重新公示") == 1 and "reinstate" in out
    assert certificate_of(certified, "K0").status == "suspended"  # a person decides
    assert serial in out
    # K2 passes now, but was never on the published pass list: issuance leaves them out.
    issued = run(certified, "issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(tmp_path / "c"))
    assert "issued 0" in issued and "K2" in issued and "not on the published pass list" in issued
    with Session(certified.engine) as session:
        holders = session.exec(
            select(Registration.admission_no).join(
                Certificate, col(Certificate.registration_id) == col(Registration.id)
            )
        ).all()
    assert sorted(holders) == ["K0", "K1"]


@pytest.mark.parametrize("path", ["sheets", "key correction"])
def test_grading_refuses_to_move_a_published_result_and_writes_nothing(
    certified: Database, tmp_path: Path, path: str
) -> None:
    if path == "sheets":
        replace_sheets(certified, tmp_path, {"K0", "K1", "K2"})
    else:
        correct_a_key(certified, tmp_path)
    before = snapshot(certified.engine)
    with pytest.raises(Error) as err:
        grade_sitting(certified.engine, "S1")
    assert err.value.code == "results_locked"
    assert "certify regrade" in err.value.diagnostics()
    assert snapshot(certified.engine) == before


def correct_a_key(database: Database, folder: Path) -> None:
    """A new version of one of K0's single-choice questions with another key."""
    _, copies = candidate_copies(database.engine, "S1")
    q = next(q for q in copies["K0"][1].questions if q.type is ItemType.SINGLE)
    bank = json.loads(
        next(p for p in sample_files() if p.name == "ai-junior.json").read_text("utf-8")
    )
    item = next(i for i in bank["items"] if i["item_id"] == q.item_id)
    item["key"] = next(c for c in item["options"] if c != item["key"])
    fixed = folder / "fix.json"
    fixed.write_text(
        json.dumps({"format": "certify-bank/1", "items": [item]}, ensure_ascii=False),
        encoding="utf-8",
    )
    assert import_bank(database.engine, fixed).new_versions == 1


@pytest.mark.parametrize(("k3_passes", "written"), [(False, True), (True, False)])
def test_a_candidate_graded_after_publication_gets_a_fail_but_not_an_unpublished_pass(
    database: Database, tmp_path: Path, k3_passes: bool, written: bool
) -> None:
    graded(database, tmp_path, {"K0", "K1", "K3"} if k3_passes else {"K0", "K1"}, pending="K3")
    assert "K3" not in results(database)
    publish(database, tmp_path)
    third = tmp_path / "r3.csv"
    third.write_text(
        "评分员,评卷号,分数\n"
        + "".join(f"丙,{s.code},{s.maximum}\n" for s in scripts_of(database, "K3")),
        encoding="utf-8",
    )
    import_marks(database.engine, "S1", third)
    stored = results(database)
    report = grade_sitting(database.engine, "S1")
    after = results(database)
    assert {k: v for k, v in after.items() if k != "K3"} == stored
    assert ("K3" in after) is written
    if written:
        assert after["K3"][3] is False
    else:
        assert report.held == ["K3"]
        out = run(database, "grade", "S1")
        assert "K3" in out and "new publication" in out


def test_a_regrade_applies_once_and_refuses_a_stale_diff(
    certified: Database, tmp_path: Path
) -> None:
    replace_sheets(certified, tmp_path, {"K0", "K1", "K2"})
    changes = regrade_diff(certified.engine, "S1")
    assert [c.admission_no for c in changes] == ["K2"]
    assert apply_regrade(certified.engine, "S1", changes).changed == 1
    before = snapshot(certified.engine)
    with pytest.raises(Error) as err:
        apply_regrade(certified.engine, "S1", changes)
    assert err.value.code == "regrade_stale"
    assert snapshot(certified.engine) == before


def test_a_regrade_and_its_suspensions_are_one_transaction(
    certified: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from certify.certificates import revocation

    def broken(*args: Any, **kwargs: Any) -> None:
        raise revocation.StatusError("simulated failure")

    replace_sheets(certified, tmp_path, {"K1"})
    changes = regrade_diff(certified.engine, "S1")
    monkeypatch.setattr(revocation, "apply_status", broken)
    before = snapshot(certified.engine)
    with pytest.raises(revocation.StatusError):
        apply_regrade(certified.engine, "S1", changes)
    assert snapshot(certified.engine) == before


@pytest.fixture
def published(database: Database, tmp_path: Path) -> Database:
    graded(database, tmp_path, {"K0", "K1"})
    publish(database, tmp_path)
    return database


STEP = st.one_of(
    st.tuples(st.just("sheets"), st.frozensets(st.sampled_from(CANDIDATES))),
    st.tuples(st.just("grade"), st.just(frozenset[str]())),
    st.tuples(st.just("regrade"), st.just(frozenset[str]())),
)


@pytest.mark.slow
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(STEP, min_size=1, max_size=5))
def test_published_results_move_only_through_apply_regrade(
    published: Database, tmp_path: Path, steps: list[tuple[str, frozenset[str]]]
) -> None:
    expected = results(published)
    for action, correct in steps:
        if action == "sheets":
            replace_sheets(published, tmp_path, set(correct))
        elif action == "grade":
            pending = regrade_diff(published.engine, "S1")
            try:
                grade_sitting(published.engine, "S1")
            except Error as exc:
                assert exc.code == "results_locked" and pending
            else:
                assert not pending
        else:
            apply_regrade(published.engine, "S1", regrade_diff(published.engine, "S1"))
            assert regrade_diff(published.engine, "S1") == []
            expected = results(published)
        assert results(published) == expected


def test_publications_made_before_their_list_was_kept_get_it_from_the_passes(
    certified: Database,
) -> None:
    """Migration 0010 backfills the list of an earlier publication with the sitting's passes."""
    from certify.infra import db

    def entries() -> list[str]:
        with Session(certified.engine) as session:
            return sorted(
                session.exec(
                    select(Registration.admission_no).join(
                        PublicationEntry,
                        col(PublicationEntry.registration_id) == col(Registration.id),
                    )
                ).all()
            )

    assert entries() == ["K0", "K1"]
    db.downgrade(certified.engine, "0009")
    db.upgrade(certified.engine)
    assert entries() == ["K0", "K1"]


def test_a_regrade_that_lands_while_issuance_runs_leaves_no_certificate_behind(
    published: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issuance reads the pass list, then a regrade turns K0's pass into a fail and commits
    before the batch does: the batch re-reads the results under the sitting's lock and leaves
    K0 out."""
    from certify.certificates import issuance
    from certify.certificates.issuance import Issuer

    make_keys(published, kinds=[1, 2])
    read = issuance.pass_list

    def read_then_regrade(session: Session, sitting: Any) -> Any:
        rows = read(session, sitting)
        replace_sheets(published, tmp_path, {"K1"})
        apply_regrade(published.engine, "S1", regrade_diff(published.engine, "S1"))
        return rows

    monkeypatch.setattr(issuance, "pass_list", read_then_regrade)
    report = Issuer.open(published.engine, "SD-EVAL-01", PASS, out=tmp_path / "c").issue_level("S1")
    assert len(report.issued) == 1
    assert certificate_of(published, "K1").status == "valid"
    with Session(published.engine) as session:
        assert len(session.exec(select(Certificate)).all()) == 1


def test_issuing_shows_its_bar_on_a_terminal(
    published: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI issues with ``progress=None``: a terminal gets the bar (it used to read None as
    "never")."""
    import io

    from certify.certificates.issuance import Issuer

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    make_keys(published, kinds=[1, 2])
    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    issuer = Issuer.open(published.engine, "SD-EVAL-01", PASS, out=tmp_path / "c", progress=None)
    assert len(issuer.issue_level("S1").issued) == 2
    assert "发证 issue" in err.getvalue()


def test_the_lock_check_holds_the_sitting_until_its_transaction_ends(database: Any) -> None:
    """The row lock is taken before the check, on both databases: a second writer waits (here,
    with a short wait, gives up) until the first transaction ends, so it can never act on a
    check made stale meanwhile. SQLite ignores FOR UPDATE; its one write lock does the work."""
    from sqlalchemy import text

    from certify.grading.lock import result_lock
    from certify.infra.db import make_engine, transaction
    from schemas.tables import Sitting

    with transaction(database.engine) as s:
        s.add(
            Sitting(
                code="L1",
                occupation="ai",
                level="junior",
                institution=institution(database.engine, "某评价机构"),
            )
        )
    other = make_engine(database.url)
    try:
        with transaction(database.engine) as s:
            sitting = s.exec(select(Sitting).where(Sitting.code == "L1")).one()
            assert not result_lock(s, sitting, for_update=True)
            with other.connect() as conn:
                if database.backend == "sqlite":
                    conn.exec_driver_sql("PRAGMA busy_timeout=100")
                    with pytest.raises(Exception, match="locked"):
                        conn.execute(text("UPDATE sitting SET status = 'x' WHERE code = 'L1'"))
                        conn.commit()
                else:
                    with pytest.raises(Exception, match="could not obtain lock"):
                        conn.execute(
                            text("SELECT id FROM sitting WHERE code = 'L1' FOR UPDATE NOWAIT")
                        )
                conn.rollback()
        with other.begin() as conn:  # the first transaction is over: the writer gets through
            conn.execute(text("UPDATE sitting SET status = 'open' WHERE code = 'L1'"))
    finally:
        other.dispose()
