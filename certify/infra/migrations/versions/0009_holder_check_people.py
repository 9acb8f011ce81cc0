"""holder checks name the person asked about and the path

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('holder_check', schema=None) as batch_op:
        batch_op.add_column(sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default='verify'))
        batch_op.create_index(batch_op.f('ix_holder_check_target'), ['target'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('holder_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holder_check_target'))
        batch_op.drop_column('kind')
        batch_op.drop_column('target')
