import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update
from sqlmodel import col, select

from certify.audit import checkpoints
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.signing.algorithms import DEFAULT, key_id
from schemas.tables import AuditCheckpoint, AuditEntry, Certificate, SigningKey
from tests.certify.exam_helpers import graded_sitting, run
from tests.conftest import Database
from tests.helpers import institution
from tests.pdf_tools import pdf_pages, squeeze


def _three_entries(database: Database) -> None:
    for n in range(3):
        with transaction(database.engine) as session:
            audit_log.append(
                session, actor="t", action="test", subject=str(n), detail={"n": n, "名": "张三"}
            )


def test_an_untouched_chain_verifies(database: Database) -> None:
    _three_entries(database)
    with transaction(database.engine) as session:
        report = audit_log.verify_chain(session)
    assert report.ok and report.entries == 3


def test_an_edited_entry_breaks_the_chain_at_that_entry(database: Database) -> None:
    _three_entries(database)
    with transaction(database.engine) as session:
        session.execute(update(AuditEntry).where(AuditEntry.subject == "1").values(detail={"n": 9}))
    with transaction(database.engine) as session:
        report = audit_log.verify_chain(session)
    assert not report.ok and report.broken_at == 2


def test_a_deleted_entry_breaks_the_chain(database: Database) -> None:
    _three_entries(database)
    with transaction(database.engine) as session:
        session.delete(session.get(AuditEntry, 2))
    with transaction(database.engine) as session:
        report = audit_log.verify_chain(session)
    assert report.broken_at == 3 and "prev_hash" in report.reason


# --- the tail and the whole chain, anchored by signed checkpoints (issue #11) -----------------

PASS = "correct horse battery staple"


@pytest.fixture
def keyed(database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    """A root and an institution key (the passphrase in the environment, as for the CLI),
    three more entries, and the working folder in ``tmp_path`` (where a server database's
    verifier state lives)."""
    monkeypatch.setenv("CERTIFY_KEY_PASSPHRASE", PASS)
    monkeypatch.chdir(tmp_path)
    run(database, "keys", "root", "--issuer", "SD-HRSS", "--name", "山东省人力资源和社会保障厅")
    institution(database.engine, "测试评价机构")
    run(database, "keys", "create", "SD-EVAL-01", "--name", "测试评价机构")
    _three_entries(database)
    return database


def _append(database: Database, count: int) -> None:
    with transaction(database.engine) as session:
        audit_log.append_many(
            session,
            actor="t",
            action="test",
            entries=[(f"more-{n}", {"n": n}) for n in range(count)],
        )


def _cut(database: Database, last: int, *, checkpoints: bool = True) -> None:
    """Delete the last ``last`` entries and (unless told not to) every checkpoint that covers
    them, as someone with write access to the database would to hide what they record."""
    with transaction(database.engine) as session:
        ids = session.exec(select(AuditEntry.id).order_by(col(AuditEntry.id))).all()
        kept = len(ids) - last
        session.execute(delete(AuditEntry).where(col(AuditEntry.id).in_(ids[kept:])))
        if checkpoints:
            session.execute(delete(AuditCheckpoint).where(col(AuditCheckpoint.count) > kept))


def _rewrite(database: Database) -> None:
    """Edit the first entry and recompute every hash after it consistently."""
    with transaction(database.engine) as session:
        prev = audit_log.GENESIS
        for n, entry in enumerate(session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))):
            detail = {"rewritten": True} if n == 0 else entry.detail
            new = audit_log.entry_hash(
                prev, entry.at, entry.actor, entry.action, entry.subject, detail
            )
            session.execute(
                update(AuditEntry)
                .where(col(AuditEntry.id) == entry.id)
                .values(detail=detail, prev_hash=prev, hash=new)
            )
            prev = new


def _chain_alone_passes(database: Database) -> None:
    """The hash chain by itself sees nothing wrong: the gap checkpoints close."""
    with transaction(database.engine) as session:
        assert audit_log.verify_chain(session).ok


def _root_kid(database: Database) -> str:
    with transaction(database.engine) as session:
        root = session.exec(select(SigningKey).where(SigningKey.role == "root")).one()
    return root.kid


def test_an_untouched_log_verifies_and_the_verifier_remembers_it(
    keyed: Database, tmp_path: Path
) -> None:
    run(keyed, "trust-list", "--out", str(tmp_path / "trust.json"))
    _append(keyed, 2)
    out = run(keyed, "audit", "verify")
    # the root, the institution (added, authorised to examine and to train), its key, three more
    assert "audit chain intact: 10 entries" in out and "the newest covers 8 entries" in out
    assert "2 entries after it" in out
    state = json.loads((tmp_path / "audit-state.json").read_text("utf-8"))  # CERTIFY_AUDIT_STATE
    assert [seen["count"] for seen in state["logs"].values()] == [10]
    assert "no shorter than when last verified" in run(keyed, "audit", "verify")


def test_the_state_file_sits_beside_a_sqlite_file_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from certify.audit.state import default_path
    from certify.infra import db

    engine = db.make_engine(f"sqlite:///{tmp_path / 'x' / 'certify.db'}")
    assert default_path(engine) == tmp_path / "x" / "certify.audit-state.json"
    monkeypatch.chdir(tmp_path)
    server = db.make_engine("postgresql+psycopg://certify@127.0.0.1:1/none")
    assert default_path(server) == tmp_path / "certify.audit-state.json"


def test_a_cut_tail_is_refused_by_what_the_verifier_remembered(keyed: Database) -> None:
    run(keyed, "audit", "verify")
    _cut(keyed, 2)
    _chain_alone_passes(keyed)
    out = run(keyed, "audit", "verify", code=1)
    assert "its tail was cut" in out and "末尾条目被删除" in out


def test_a_rewritten_log_without_its_checkpoints_is_refused_by_what_the_verifier_remembered(
    keyed: Database, tmp_path: Path
) -> None:
    state = tmp_path / "elsewhere" / "state.json"
    run(keyed, "audit", "verify", "--state", str(state))
    _rewrite(keyed)
    with transaction(keyed.engine) as session:
        session.execute(delete(AuditCheckpoint))
    _chain_alone_passes(keyed)
    assert "the log was rewritten" in run(keyed, "audit", "verify", "--state", str(state), code=1)


@pytest.mark.parametrize(
    "publish",
    [
        ["trust-list", "--out"],
        ["revocations", "--out"],
        ["audit", "checkpoint", "--issuer", "SD-EVAL-01", "--out"],
    ],
    ids=["trust-list", "revocation-list", "checkpoint-file"],
)
def test_a_cut_tail_and_its_checkpoints_are_refused_given_a_published_checkpoint(
    keyed: Database, tmp_path: Path, publish: list[str]
) -> None:
    published = tmp_path / "published.json"
    run(keyed, *publish, str(published))
    run(keyed, "trust-list", "--out", str(tmp_path / "trust.json"))
    _cut(keyed, 3)
    _chain_alone_passes(keyed)
    fresh_state = ["--state", str(tmp_path / "new-verifier.json")]
    assert "audit chain intact" in run(keyed, "audit", "verify", *fresh_state)
    out = run(
        keyed,
        "audit",
        "verify",
        "--trust-list",
        str(tmp_path / "trust.json"),
        "--root-kid",
        _root_kid(keyed),
        "--checkpoint",
        str(published),
        "--state",
        str(tmp_path / "another-verifier.json"),
        code=1,
    )
    assert "its tail was cut" in out and "published.json" in out


def test_a_rewritten_chain_is_refused_by_its_checkpoints(keyed: Database, tmp_path: Path) -> None:
    run(keyed, "trust-list", "--out", str(tmp_path / "trust.json"))
    _rewrite(keyed)
    _chain_alone_passes(keyed)
    out = run(keyed, "audit", "verify", code=1)
    assert "[diverged]" in out and "the log was rewritten" in out


def test_a_checkpoint_signed_with_another_key_is_refused(keyed: Database, tmp_path: Path) -> None:
    run(keyed, "trust-list", "--out", str(tmp_path / "trust.json"))
    _cut(keyed, 2)
    private, public = DEFAULT.generate()
    forger = checkpoints.Signer(key_id(public).hex(), DEFAULT, private)
    with transaction(keyed.engine) as session:
        checkpoints.record(session, forger, "forged")
    out = run(keyed, "audit", "verify", code=1)
    assert "[signature]" in out and "not among the trusted keys" in out
    # Even a key slipped into the database's key table does not pass a pinned trust list.
    with transaction(keyed.engine) as session:
        session.add(
            SigningKey(
                kid=forger.kid,
                issuer="FORGER",
                role="institution",
                public_key=public,
                valid_from=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )
    run(keyed, "audit", "verify", "--state", str(tmp_path / "weak.json"))
    trusted = [
        "--trust-list",
        str(tmp_path / "trust.json"),
        "--root-kid",
        _root_kid(keyed),
        "--state",
        str(tmp_path / "strong.json"),
    ]
    assert "not among the trusted keys" in run(keyed, "audit", "verify", *trusted, code=1)


def test_an_edited_checkpoint_no_longer_verifies(keyed: Database) -> None:
    run(keyed, "audit", "checkpoint")
    _cut(keyed, 2, checkpoints=False)
    with transaction(keyed.engine) as session:
        session.execute(update(AuditCheckpoint).values(count=AuditCheckpoint.count - 2))
    assert "[signature]" in run(keyed, "audit", "verify", code=1)


def test_a_published_checkpoint_must_carry_one(keyed: Database, tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text('{"format": "certify-notice/1", "audit_checkpoint": null}', "utf-8")
    out = run(keyed, "audit", "verify", "--checkpoint", str(empty), code=1)
    assert "holds no audit checkpoint" in out


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=st.integers(0, 8), after=st.integers(0, 4), data=st.data())
def test_any_cut_below_the_newest_checkpoint_is_refused(
    database: Database, before: int, after: int, data: st.DataObject
) -> None:
    database.reset()
    private, public = DEFAULT.generate()
    signer = checkpoints.Signer(key_id(public).hex(), DEFAULT, private)
    keys = {
        signer.kid: checkpoints.CheckpointKey(
            signer.kid, DEFAULT, public, datetime(2020, 1, 1, tzinfo=UTC), None
        )
    }
    _append(database, before + 1)
    checkpoint = checkpoints.make_checkpoint(database.engine, signer, "test")
    if after:
        _append(database, after)

    def verified(published: list[checkpoints.Checkpoint]) -> checkpoints.LogReport:
        with transaction(database.engine) as session:
            return checkpoints.verify_log(session, keys, published=published)

    assert verified([]).ok and verified([checkpoint]).ok  # untouched: passes
    cut_to = data.draw(st.integers(0, checkpoint.count - 1), label="entries kept")
    _cut(database, checkpoint.count + after - cut_to, checkpoints=False)
    assert [f.code for f in verified([]).findings] == ["cut"]
    _cut(database, 0)  # the checkpoint rows go too: only a copy kept elsewhere still shows it
    assert verified([]).ok
    assert [f.code for f in verified([checkpoint]).findings] == ["cut"]


# --- where checkpoints are made ----------------------------------------------------------------


def _checkpoint_rows(database: Database) -> list[AuditCheckpoint]:
    with transaction(database.engine) as session:
        return list(session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.id))))


def _entries(database: Database) -> int:
    with transaction(database.engine) as session:
        return len(session.exec(select(AuditEntry.id)).all())


@pytest.fixture
def published(keyed: Database, tmp_path: Path) -> Database:
    """A graded sitting whose pass list was published two weeks ago, with a checkpoint signed
    by the institution's key at publication."""
    graded_sitting(keyed, tmp_path)
    opened = (date.today() - timedelta(days=14)).isoformat()
    out = run(
        keyed,
        "publish",
        "S1",
        "--out",
        str(tmp_path / "notice"),
        "--opened",
        opened,
        "--issuer",
        "SD-EVAL-01",
    )
    assert f"audit checkpoint: {_entries(keyed)} entries" in out
    return keyed


def test_the_notice_shows_the_checkpoint_signed_at_publication(
    published: Database, tmp_path: Path
) -> None:
    (row,) = _checkpoint_rows(published)
    assert row.reason == "publication.open" and row.count == _entries(published)
    notice = tmp_path / "notice"
    page = (notice / "S1-公示.html").read_text("utf-8")
    text = squeeze(" ".join(pdf_pages(notice / "S1-公示.pdf")))
    for shown in (page, text):
        assert row.head_hash in shown and row.kid in shown and f"共{row.count}条" in squeeze(shown)
    document = json.loads((notice / "S1-公示.json").read_text("utf-8"))
    assert document["audit_checkpoint"]["head_hash"] == row.head_hash
    _cut(published, 1)
    out = run(published, "audit", "verify", "--checkpoint", str(notice / "S1-公示.json"), code=1)
    assert "its tail was cut" in out and "S1-公示.json" in out


def test_each_issuance_batch_and_each_status_change_signs_a_checkpoint(
    published: Database, tmp_path: Path
) -> None:
    certificates = ["issue", "S1", "--issuer", "SD-EVAL-01", "--out", str(tmp_path / "c")]
    run(published, *certificates, "--batch-size", "7")
    with transaction(published.engine) as session:
        serials = list(session.exec(select(Certificate.serial).order_by(Certificate.serial)))
    issued = [r for r in _checkpoint_rows(published) if r.reason == "level.issue"]
    assert len(serials) > 7 and len(issued) == -(-len(serials) // 7)
    assert issued[-1].count == _entries(published)
    run(published, "suspend", serials[0], "--reason", "核查中")
    run(published, "reinstate", serials[0], "--reason", "核查无误", "--no-checkpoint")
    rows = _checkpoint_rows(published)
    assert rows[-1].reason == "certificate.suspend" and rows[-1].count == _entries(published) - 1
    run(published, "trust-list", "--out", str(tmp_path / "trust.json"))
    out = run(
        published,
        "audit",
        "verify",
        "--trust-list",
        str(tmp_path / "trust.json"),
        "--root-kid",
        _root_kid(published),
    )
    assert f"the newest covers {_entries(published)} entries" in out and "0 entries after" in out


def test_a_root_kid_goes_with_a_trust_list(keyed: Database) -> None:
    out = run(keyed, "audit", "verify", "--root-kid", _root_kid(keyed), code=2)
    assert "--root-kid goes with --trust-list" in out
