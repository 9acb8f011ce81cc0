import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from certify.infra import db
from certify.infra.errors import DatabaseError
from tests.conftest import Database
from tests.helpers import table_counts


def test_default_url_is_an_sqlite_file_in_the_working_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert db.database_url() == f"sqlite:///{tmp_path / 'certify.db'}"


def test_postgres_urls_use_psycopg(monkeypatch) -> None:
    monkeypatch.setenv("CERTIFY_DATABASE_URL", "postgresql://u:p@elsewhere/y")  # not read here
    assert db.database_url("postgresql://u:p@localhost/x") == "postgresql+psycopg://u:p@localhost/x"
    assert db.database_url("postgres://u:p@localhost/x") == "postgresql+psycopg://u:p@localhost/x"
    assert db.database_url("sqlite:///a.db") == "sqlite:///a.db"


def test_an_empty_database_is_refused_until_initialised(empty_database_url: str) -> None:
    engine = db.make_engine(empty_database_url)
    with pytest.raises(DatabaseError, match="certify init"):
        db.require_current(engine)
    db.upgrade(engine)
    db.require_current(engine)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_migrations_create_exactly_the_table_models(database: Database) -> None:
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_every_pipeline_table_exists_and_starts_empty(database: Database) -> None:
    counts = table_counts(database.engine)
    for name in (
        "item",
        "item_version",
        "blueprint",
        "paper",
        "sitting",
        "candidate",
        "registration",
        "response",
        "result",
        "certificate",
        "signing_key",
        "revocation",
        "eligibility_record",
        "audit_log",
    ):
        assert counts[name] == 0


def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    engine = db.make_engine(empty_database_url)
    db.upgrade(engine)
    db.downgrade(engine, "base")
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_unreachable_server_is_a_clear_error() -> None:
    engine = db.make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(DatabaseError, match="cannot reach the database"):
        db.current_revision(engine)


def _insert(conn, table: str, **values) -> None:
    """A row with ``values``, every other required column filled with a plain value of its type."""
    import datetime as dt

    import sqlalchemy as sa

    columns = sa.Table(table, sa.MetaData(), autoload_with=conn).columns
    plain = {sa.Integer: 1, sa.String: "x", sa.LargeBinary: b"x", sa.Boolean: False, sa.JSON: {}}
    for column in columns:
        if column.name in values or column.nullable or column.primary_key:
            continue
        if isinstance(column.type, sa.DateTime):
            values[column.name] = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
        elif isinstance(column.type, sa.Date):
            values[column.name] = dt.date(2026, 11, 1)
        else:
            values[column.name] = next(v for t, v in plain.items() if isinstance(column.type, t))
    conn.execute(sa.insert(sa.Table(table, sa.MetaData(), autoload_with=conn)).values(**values))


def test_rows_made_before_signature_suites_read_as_sha256_and_still_verify(
    empty_database_url: str,
) -> None:
    """Migration 0012 renames the PDF fingerprint's column and records each value's hash: rows
    of a database at 0011 come out as sha256, the fingerprint kept and the chain intact."""
    from datetime import UTC, datetime

    from sqlmodel import Session, select

    from certify.infra import audit_log
    from schemas.tables import AuditEntry, Certificate

    engine = db.make_engine(empty_database_url)
    db.upgrade(engine, "0011")
    at = datetime(2026, 11, 1, 8, tzinfo=UTC)
    digest = audit_log.entry_hash(audit_log.GENESIS, at, "cli", "key.create", "X", {"kid": "k"})
    with engine.begin() as conn:
        _insert(
            conn,
            "audit_log",
            at=at,
            actor="cli",
            action="key.create",
            subject="X",
            detail={"kid": "k"},
            prev_hash=audit_log.GENESIS,
            hash=digest,
        )
        _insert(conn, "candidate", id=1)
        _insert(
            conn,
            "certificate",
            serial="3726013000001",
            kind="level",
            status="valid",
            candidate_id=1,
            pdf_sha256="ab" * 32,
        )
    db.upgrade(engine)
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry)).one()
        cert = session.exec(select(Certificate)).one()
        assert entry.hash_alg == "sha256" and audit_log.verify_chain(session).ok
        assert (cert.pdf_digest, cert.pdf_digest_alg) == ("ab" * 32, "sha256")
    engine.dispose()
