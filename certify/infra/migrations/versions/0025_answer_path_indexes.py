"""the exam's answer path: no index another already gives, room for updates in place

Every save writes an attempt's row, appends its events and upserts its answers, hundreds of
times a second at the start of a large sitting. Four single-column indexes duplicated the
leading column of a unique constraint on the same table — ``attempt(registration_id)`` and
``attempt(room_id)``, ``answer_event(attempt_id)``, ``attempt_answer(attempt_id)`` — so each
write maintained an index no query needed. They go. On PostgreSQL the attempt's and the
answers' tables also leave room in each page (``fillfactor``), so that the save's update of a
row that changes no indexed column stays on its page (a HOT update) and touches no index.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 11:50:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REDUNDANT = (
    ('attempt', 'ix_attempt_registration_id', 'registration_id'),
    ('attempt', 'ix_attempt_room_id', 'room_id'),
    ('answer_event', 'ix_answer_event_attempt_id', 'attempt_id'),
    ('attempt_answer', 'ix_attempt_answer_attempt_id', 'attempt_id'),
)
FILLFACTOR = {'attempt': 70, 'attempt_answer': 80}
"""Percent of each new page filled on insert; the rest takes updated rows (PostgreSQL)."""


def upgrade() -> None:
    for table, index, _ in REDUNDANT:
        op.drop_index(index, table_name=table)
    if op.get_bind().dialect.name == 'postgresql':
        for table, percent in FILLFACTOR.items():
            op.execute(f'ALTER TABLE {table} SET (fillfactor = {percent})')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in FILLFACTOR:
            op.execute(f'ALTER TABLE {table} RESET (fillfactor)')
    for table, index, column in REDUNDANT:
        op.create_index(index, table, [column], unique=False)
