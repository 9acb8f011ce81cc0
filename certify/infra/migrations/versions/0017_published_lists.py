"""signed trust and revocation lists published from the web app

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('published_list',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('published_list', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_published_list_kind'), ['kind'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('published_list', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_published_list_kind'))
    op.drop_table('published_list')
