"""matching items: an item version's premises

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('item_version', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('premises', sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table('item_version', schema=None) as batch_op:
        batch_op.drop_column('premises')
