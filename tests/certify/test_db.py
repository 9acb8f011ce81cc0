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
