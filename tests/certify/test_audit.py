from sqlalchemy import update

from certify import audit
from certify.db import transaction
from schemas.tables import AuditEntry
from tests.conftest import Database


def _three_entries(database: Database) -> None:
    for n in range(3):
        with transaction(database.engine) as session:
            audit.append(
                session, actor="t", action="test", subject=str(n), detail={"n": n, "名": "张三"}
            )


def test_an_untouched_chain_verifies(database: Database) -> None:
    _three_entries(database)
    with transaction(database.engine) as session:
        report = audit.verify_chain(session)
    assert report.ok and report.entries == 3


def test_an_edited_entry_breaks_the_chain_at_that_entry(database: Database) -> None:
    _three_entries(database)
    with transaction(database.engine) as session:
        session.execute(update(AuditEntry).where(AuditEntry.subject == "1").values(detail={"n": 9}))
    with transaction(database.engine) as session:
        report = audit.verify_chain(session)
    assert not report.ok and report.broken_at == 2


def test_a_deleted_entry_breaks_the_chain(database: Database) -> None:
    _three_entries(database)
    with transaction(database.engine) as session:
        session.delete(session.get(AuditEntry, 2))
    with transaction(database.engine) as session:
        report = audit.verify_chain(session)
    assert report.broken_at == 3 and "prev_hash" in report.reason
