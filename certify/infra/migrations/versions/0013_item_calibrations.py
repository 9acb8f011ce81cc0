"""item calibrations: item response theory parameters per item version, one run at a time,
each run on the scale of its base run

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('calibration_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occupation', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sittings', sa.JSON(), nullable=False),
    sa.Column('candidates', sa.Integer(), nullable=False),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('log_likelihood', sa.Float(), nullable=False),
    sa.Column('iterations', sa.Integer(), nullable=False),
    sa.Column('base_run_id', sa.Integer(), nullable=True),
    sa.Column('link_method', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('link_a', sa.Float(), nullable=False),
    sa.Column('link_b', sa.Float(), nullable=False),
    sa.Column('drifting', sa.JSON(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['base_run_id'], ['calibration_run.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('calibration_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calibration_run_occupation'), ['occupation'], unique=False)

    op.create_table('item_calibration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('item_version_id', sa.Integer(), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('a', sa.Float(), nullable=False),
    sa.Column('d', sa.JSON(), nullable=False),
    sa.Column('c', sa.Float(), nullable=False),
    sa.Column('se', sa.JSON(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('answers', sa.Integer(), nullable=False),
    sa.Column('fit_s_x2', sa.Float(), nullable=True),
    sa.Column('fit_df', sa.Integer(), nullable=True),
    sa.Column('fit_p', sa.Float(), nullable=True),
    sa.Column('misfit', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['item_version_id'], ['item_version.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['calibration_run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'item_version_id')
    )
    with op.batch_alter_table('item_calibration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_calibration_item_version_id'), ['item_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_item_calibration_run_id'), ['run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('item_calibration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_calibration_run_id'))
        batch_op.drop_index(batch_op.f('ix_item_calibration_item_version_id'))

    op.drop_table('item_calibration')
    with op.batch_alter_table('calibration_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calibration_run_occupation'))

    op.drop_table('calibration_run')
