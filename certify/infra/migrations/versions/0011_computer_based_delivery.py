"""computer-based delivery: exam sessions, rooms, attempts, answers with their history, attachments, the room log

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 14:19:27.089241
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('exam_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sitting_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('part', sa.String(length=16), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('entry_minutes', sa.Integer(), nullable=False),
    sa.Column('handin_minutes', sa.Integer(), nullable=False),
    sa.Column('seat_seed', sa.BigInteger(), nullable=True),
    sa.Column('spread', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sitting_id'], ['sitting.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('exam_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exam_session_sitting_id'), ['sitting_id'], unique=False)

    op.create_table('exam_room',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('columns', sa.Integer(), nullable=False),
    sa.Column('invigilator', sa.String(length=64), nullable=False),
    sa.Column('room_code', sa.String(length=16), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id', 'code')
    )
    with op.batch_alter_table('exam_room', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exam_room_invigilator'), ['invigilator'], unique=False)
        batch_op.create_index(batch_op.f('ix_exam_room_session_id'), ['session_id'], unique=False)

    op.create_table('attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('seat', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('device_hash', sa.String(length=64), nullable=True),
    sa.Column('device_label', sa.String(length=64), nullable=False),
    sa.Column('move_allowed', sa.Boolean(), nullable=False),
    sa.Column('late_allowed', sa.Boolean(), nullable=False),
    sa.Column('signed_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('extra_seconds', sa.Integer(), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_seconds', sa.Integer(), nullable=False),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handed_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finish_reason', sa.String(length=16), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('objective_score', sa.Float(), nullable=True),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], ),
    sa.ForeignKeyConstraint(['room_id'], ['exam_room.id'], ),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_hash'),
    sa.UniqueConstraint('registration_id', 'session_id'),
    sa.UniqueConstraint('room_id', 'seat')
    )
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempt_deadline_at'), ['deadline_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_attempt_registration_id'), ['registration_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attempt_room_id'), ['room_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attempt_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attempt_status'), ['status'], unique=False)

    op.create_table('answer_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('item_version_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('device', sa.String(length=16), nullable=False),
    sa.Column('client_at', sa.BigInteger(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempt.id'], ),
    sa.ForeignKeyConstraint(['item_version_id'], ['item_version.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('attempt_id', 'seq')
    )
    with op.batch_alter_table('answer_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_event_attempt_id'), ['attempt_id'], unique=False)

    op.create_table('attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('item_version_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('media_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('device', sa.String(length=16), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempt.id'], ),
    sa.ForeignKeyConstraint(['item_version_id'], ['item_version.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachment_attempt_id'), ['attempt_id'], unique=False)

    op.create_table('attempt_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('item_version_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempt.id'], ),
    sa.ForeignKeyConstraint(['item_version_id'], ['item_version.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('attempt_id', 'item_version_id')
    )
    with op.batch_alter_table('attempt_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempt_answer_attempt_id'), ['attempt_id'], unique=False)

    op.create_table('exam_incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(), nullable=False),
    sa.Column('actor', sa.String(length=96), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempt.id'], ),
    sa.ForeignKeyConstraint(['room_id'], ['exam_room.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('exam_incident', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exam_incident_room_id'), ['room_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('exam_incident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exam_incident_room_id'))

    op.drop_table('exam_incident')
    with op.batch_alter_table('attempt_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attempt_answer_attempt_id'))

    op.drop_table('attempt_answer')
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachment_attempt_id'))

    op.drop_table('attachment')
    with op.batch_alter_table('answer_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answer_event_attempt_id'))

    op.drop_table('answer_event')
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attempt_status'))
        batch_op.drop_index(batch_op.f('ix_attempt_session_id'))
        batch_op.drop_index(batch_op.f('ix_attempt_room_id'))
        batch_op.drop_index(batch_op.f('ix_attempt_registration_id'))
        batch_op.drop_index(batch_op.f('ix_attempt_deadline_at'))

    op.drop_table('attempt')
    with op.batch_alter_table('exam_room', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exam_room_session_id'))
        batch_op.drop_index(batch_op.f('ix_exam_room_invigilator'))

    op.drop_table('exam_room')
    with op.batch_alter_table('exam_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exam_session_sitting_id'))

    op.drop_table('exam_session')
