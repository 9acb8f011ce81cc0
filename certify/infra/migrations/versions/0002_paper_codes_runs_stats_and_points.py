"""paper codes, runs, stats and points

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:15:01.560636
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('paper', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False))
        batch_op.add_column(sa.Column('run', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('stats', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.create_unique_constraint('uq_paper_code', ['code'])

    with op.batch_alter_table('paper_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points', sa.Float(), nullable=False, server_default='0'))



def downgrade() -> None:
    with op.batch_alter_table('paper_item', schema=None) as batch_op:
        batch_op.drop_column('points')

    with op.batch_alter_table('paper', schema=None) as batch_op:
        batch_op.drop_constraint('uq_paper_code', type_='unique')
        batch_op.drop_column('stats')
        batch_op.drop_column('run')
        batch_op.drop_column('code')

