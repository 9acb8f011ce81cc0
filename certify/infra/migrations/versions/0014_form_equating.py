"""form equating: equating runs of a sitting's forms, and the sitting's pass rule (raw or
equated)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('equating_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sitting_id', sa.Integer(), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('reference_form', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('smoothing', sa.Integer(), nullable=False),
    sa.Column('replications', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('candidates', sa.Integer(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sitting_id'], ['sitting.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('equating_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_equating_run_sitting_id'), ['sitting_id'], unique=False)

    op.create_table('form_equating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('part', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('form', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('candidates', sa.Integer(), nullable=False),
    sa.Column('reference_candidates', sa.Integer(), nullable=False),
    sa.Column('common_items', sa.Integer(), nullable=False),
    sa.Column('pass_mark', sa.Float(), nullable=False),
    sa.Column('equivalent', sa.Float(), nullable=False),
    sa.Column('se', sa.Float(), nullable=True),
    sa.Column('table', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['equating_run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'part', 'form')
    )
    with op.batch_alter_table('form_equating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_equating_run_id'), ['run_id'], unique=False)

    with op.batch_alter_table('sitting', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pass_rule', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default='raw'))
        batch_op.add_column(sa.Column('equating_run_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_sitting_equating_run_id_equating_run', 'equating_run', ['equating_run_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('sitting', schema=None) as batch_op:
        batch_op.drop_constraint('fk_sitting_equating_run_id_equating_run', type_='foreignkey')
        batch_op.drop_column('equating_run_id')
        batch_op.drop_column('pass_rule')

    with op.batch_alter_table('form_equating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_equating_run_id'))

    op.drop_table('form_equating')
    with op.batch_alter_table('equating_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_equating_run_sitting_id'))

    op.drop_table('equating_run')
