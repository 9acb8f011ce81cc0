"""sittings by blueprint, admission numbers, marks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 21:46:38.253153
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('item_version_id', sa.Integer(), nullable=False),
    sa.Column('rater', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('mark', sa.Float(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_version_id'], ['item_version.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('registration_id', 'item_version_id', 'rater'),
    sa.UniqueConstraint('registration_id', 'item_version_id', 'round')
    )
    with op.batch_alter_table('mark', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mark_registration_id'), ['registration_id'], unique=False)

    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('admission_no', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default=''))
        batch_op.create_unique_constraint('uq_registration_admission', ['sitting_id', 'admission_no'])

    with op.batch_alter_table('sitting', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blueprint_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_sitting_blueprint', 'blueprint', ['blueprint_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('sitting', schema=None) as batch_op:
        batch_op.drop_constraint('fk_sitting_blueprint', type_='foreignkey')
        batch_op.drop_column('blueprint_id')

    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_constraint('uq_registration_admission', type_='unique')
        batch_op.drop_column('admission_no')

    with op.batch_alter_table('mark', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mark_registration_id'))

    op.drop_table('mark')
