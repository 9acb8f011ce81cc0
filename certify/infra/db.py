"""Database location, engine and schema migrations.

SQLite in a file by default; PostgreSQL when the URL given (the ``CERTIFY_DATABASE_URL`` setting,
or ``--db``) points at one. The schema is only ever changed by the Alembic migrations in ``certify/migrations``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, false, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from certify.infra.errors import DatabaseError
from schemas.tables import Sitting

DEFAULT_FILE = "certify.db"
MIGRATIONS = Path(__file__).parent / "migrations"


T = TypeVar("T")

IN_LIST = 1000
"""Values of one ``IN (…)`` list at most: within every backend's limit on bound parameters."""


def chunked(values: Sequence[T], size: int = IN_LIST) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size`` (the last shorter)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def database_url(explicit: str | None = None, *, directory: Path | None = None) -> str:
    """The URL to use: ``explicit``, else ``certify.db`` in ``directory`` (the working folder).

    ``postgres://`` and ``postgresql://`` URLs are pointed at the psycopg 3 driver.
    """
    url = explicit
    if not url:
        return f"sqlite:///{(directory or Path.cwd()) / DEFAULT_FILE}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys enforced; a writer waited for up to 30 s; and the write-ahead log, so that
    pages keep reading the last committed state while a long import writes (in SQLite's default
    rollback journal a large transaction locks every reader out until it commits: the answer-
    sheet upload's page could not even read its own job's progress)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def lock_sitting_row(session: Session, sitting_id: int) -> None:
    """Lock the sitting's row until the transaction ends, before a check whose answer the
    transaction's writes rely on (is the pass list published? is a regrade under way?).

    PostgreSQL: ``SELECT … FOR UPDATE``. SQLite ignores FOR UPDATE, and its driver begins a
    transaction only at the first write, so a check read before that could be stale by the time
    the write commits: a write that changes nothing takes SQLite's one write lock first, and
    every other writer waits for this transaction."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Sitting)
            .where(col(Sitting.id) == sitting_id)
            .where(false())
            .values(status=Sitting.status)
        )
    session.exec(select(Sitting.id).where(Sitting.id == sitting_id).with_for_update()).one()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite connections enforce foreign keys."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


_WHERE: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def where(engine: Engine) -> str:
    """The database ``engine`` reaches, as a key of a process-level cache (its URL, the
    password hidden). Rendered once per engine: the answer path asks for it three times a save,
    and rendering costs about 20 µs each time."""
    found = _WHERE.get(engine)
    if found is None:
        found = _WHERE[engine] = engine.url.render_as_string(hide_password=True)
    return found


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection for one migration, in one transaction.

    SQLite changes a table's constraints by building a new table and dropping the old one
    (Alembic's batch mode), and with foreign keys enforced, dropping a table other rows refer
    to fails. So, as SQLite's documentation prescribes for schema changes, enforcement is off
    for the migration (it can only change outside a transaction), ``PRAGMA foreign_key_check``
    must find nothing before the transaction commits, and enforcement is on again after."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        driver: Any = connection.connection.driver_connection
        legacy = driver.isolation_level if sqlite else None
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            # Python's sqlite3 opens a transaction only before a row is written, so a CREATE,
            # DROP or ALTER before the first row written would commit on its own: a migration
            # refused half-way (a downgrade past a later revision's check) would leave the
            # revisions before it half undone.
            # The driver leaves transactions to us, and the migration is one of them.
            driver.isolation_level = None
        try:
            with connection.begin():
                if sqlite:
                    connection.exec_driver_sql("BEGIN")
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise DatabaseError(
                            "迁移后外键不一致，已整体撤销 / after the migration, rows refer to rows "
                            f"that do not exist; nothing was changed: {broken[:5]}"
                        )
        finally:
            if sqlite:
                driver.isolation_level = legacy
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (creating it first for SQLite)."""
    cfg = _alembic_config(engine)
    try:
        with _migrating(engine) as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise DatabaseError(f"无法连接数据库 / cannot reach the database: {exc.orig}") from exc


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``base`` empties it)."""
    cfg = _alembic_config(engine)
    with _migrating(engine) as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(
        _alembic_config(create_engine("sqlite://"))
    ).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise DatabaseError(f"无法连接数据库 / cannot reach the database: {exc.orig}") from exc


def require_current(engine: Engine) -> None:
    """Raise :class:`DatabaseError` unless the schema is at the latest migration."""
    current, head = current_revision(engine), head_revision()
    if current is None:
        raise DatabaseError(
            "数据库尚未初始化，请先运行 certify init。\n"
            "The database is not initialised: run `certify init` first."
        )
    if current != head:
        raise DatabaseError(
            f"数据库结构版本为 {current}，最新为 {head}，请运行 certify db upgrade。\n"
            f"The database schema is at {current}, the code expects {head}: "
            "run `certify db upgrade`."
        )


ALL_INSTITUTIONS = {"certify_all_institutions": True}
"""Execution options of a statement that must see every institution's rows whatever scope is
held (``certify.institutions.scope``): a lock's holder, what the province's bank has exposed.
For checks whose outcome only is told, never the rows."""


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back entirely on any error.

    A write that loses a race with another writer (a unique key taken meanwhile) or a lost
    connection is raised as :class:`DatabaseError`; the transaction has rolled back whole.
    """
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    except IntegrityError as exc:
        raise DatabaseError(
            "另一个操作同时修改了相同的数据，本次操作已整体撤销，请重新执行。\n"
            "Another writer changed the same records at the same time; this operation was rolled "
            f"back whole — run it again. ({exc.orig})"
        ) from exc
    except OperationalError as exc:
        raise DatabaseError(
            f"数据库操作失败，已整体撤销 / the database failed and the operation was rolled back: {exc.orig}"
        ) from exc
