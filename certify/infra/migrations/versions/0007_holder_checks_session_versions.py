"""holder checks and session versions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 00:24:40.835476
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('holder_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('serial', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('id_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('matched', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('holder_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holder_check_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_holder_check_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_holder_check_serial'), ['serial'], unique=False)

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))



def downgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('session_version')

    with op.batch_alter_table('holder_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holder_check_serial'))
        batch_op.drop_index(batch_op.f('ix_holder_check_at'))
        batch_op.drop_index(batch_op.f('ix_holder_check_account_id'))

    op.drop_table('holder_check')
