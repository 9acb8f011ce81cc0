"""Shared fixtures: a real database per test, SQLite by default, PostgreSQL when asked.

Set ``CERTIFY_TEST_DATABASE_URL`` to a PostgreSQL server URL (any database on it) and every
database test runs there instead: a scratch database is created and migrated once per session
and emptied between tests.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from certify.infra import db

PG_ENV = "CERTIFY_TEST_DATABASE_URL"


def pytest_report_header() -> str:
    url = os.environ.get(PG_ENV)
    return f"certify database: {'PostgreSQL ' + make_url(db.database_url(url)).render_as_string() if url else 'SQLite'}"


@dataclass
class Database:
    """A migrated database for one test: its URL, an engine, and a way to empty it."""

    url: str
    engine: Engine

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def reset(self) -> None:
        """Delete every row, keeping the schema (used between hypothesis examples)."""
        tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
        with self.engine.begin() as conn:
            if self.backend == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                # a sitting and the equating run it uses refer to each other: checked at commit
                conn.execute(text("PRAGMA defer_foreign_keys=ON"))
                for name in tables:
                    conn.execute(text(f"DELETE FROM {name}"))


class PostgresServer:
    """Scratch databases on the PostgreSQL server named by ``CERTIFY_TEST_DATABASE_URL``."""

    def __init__(self, url: str) -> None:
        self.admin_url = make_url(db.database_url(url))
        self.admin = db.make_engine(self.admin_url.render_as_string(hide_password=False))
        self.created: list[str] = []

    def create(self) -> str:
        name = f"certify_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def copy(self, url: str) -> str:
        """A new database holding what the database at ``url`` holds now (other sessions on it,
        say engines left open by in-process CLI runs, are ended first: a template must be idle)."""
        source = make_url(url).database
        name = f"certify_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": source},
            )
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    url = os.environ.get(PG_ENV)
    if not url:
        yield None
        return
    server = PostgresServer(url)
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def migrated_template(
    postgres: PostgresServer | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database at the head revision: a SQLite file to copy, or one PostgreSQL database."""
    if postgres is None:
        path = tmp_path_factory.mktemp("template") / "certify.db"
        url = f"sqlite:///{path}"
    else:
        url = postgres.create()
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    yield url


@pytest.fixture
def database(migrated_template: str, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database for this test."""
    if migrated_template.startswith("sqlite"):
        path = tmp_path / "certify.db"
        shutil.copy(make_url(migrated_template).database or "", path)
        url = f"sqlite:///{path}"
    else:
        url = migrated_template
    engine = db.make_engine(url)
    found = Database(url, engine)
    if found.backend == "postgresql":
        found.reset()
    yield found
    engine.dispose()


@pytest.fixture
def empty_database_url(postgres: PostgresServer | None, tmp_path: Path) -> str:
    """The URL of a database with no schema at all."""
    if postgres is None:
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return postgres.create()


@pytest.fixture(autouse=True)
def _threads_end_with_their_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every job runner and sweeper thread a test's app starts is stopped when the test ends: on
    PostgreSQL one database serves every test of a session, and a thread left polling it would
    take a later test's queued job (or close its attempts) before that test runs it."""
    from certify.infra.jobs import JobRunner
    from certify.web import Sweeper

    started: list[JobRunner | Sweeper] = []
    for kind in (JobRunner, Sweeper):
        original = kind.ensure_running

        def recording(self: Any, original: Any = original) -> None:
            if self not in started:
                started.append(self)
            original(self)

        monkeypatch.setattr(kind, "ensure_running", recording)
    yield
    for thread in started:
        thread.stop()
    polling = [
        t.name for t in threading.enumerate() if t.name in ("certify-jobs", "certify-sweeper")
    ]
    assert not polling, f"threads outlive their test: {polling}"


@pytest.fixture(autouse=True)
def _no_ambient_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests name their database explicitly; an exported CERTIFY_DATABASE_URL must not leak in.
    What `certify audit verify` remembers stays with the test: on PostgreSQL one database serves
    every test of a session, emptied in between, so a remembered length must not outlive it.
    The web app's sweeper thread is off: tests that need one start it."""
    monkeypatch.delenv("CERTIFY_DATABASE_URL", raising=False)
    monkeypatch.setenv("CERTIFY_AUDIT_STATE", str(tmp_path / "audit-state.json"))
    # Tests close attempts themselves (sweep with a clock they set); no thread does it for them.
    monkeypatch.setenv("CERTIFY_SWEEP_SECONDS", "0")
    # An upload's page waits for its import as long as a slow machine needs: the page that
    # follows a job still running is tested by setting the app's own wait to nothing.
    from certify.web import jobs

    monkeypatch.setattr(jobs, "UPLOAD_WAIT_SECONDS", 120.0)
