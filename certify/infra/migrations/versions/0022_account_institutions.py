"""accounts of an institution (it then sees only its data) and supervisors' regions

Existing accounts stay platform accounts (no institution): they see everything, as before.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('institution', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_account_institution'), ['institution'], unique=False)
        batch_op.create_foreign_key('fk_account_institution_institution', 'institution', ['institution'], ['name'])


def downgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_constraint('fk_account_institution_institution', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_account_institution'))
        batch_op.drop_column('region')
        batch_op.drop_column('institution')
