"""blueprints of an institution: its papers are its own; a blueprint of none is the province's

Existing blueprints stay the province's (no institution), shared as before.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 04:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('blueprint', schema=None) as batch_op:
        batch_op.add_column(sa.Column('institution', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_blueprint_institution'), ['institution'], unique=False)
        batch_op.create_foreign_key('fk_blueprint_institution_institution', 'institution', ['institution'], ['name'])


def downgrade() -> None:
    with op.batch_alter_table('blueprint', schema=None) as batch_op:
        batch_op.drop_constraint('fk_blueprint_institution_institution', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_blueprint_institution'))
        batch_op.drop_column('institution')
