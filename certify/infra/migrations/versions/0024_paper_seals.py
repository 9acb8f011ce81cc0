"""sealed papers: a seal per set of frozen papers, the versions and papers it holds

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'paper_seal',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('institution', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('threshold', sa.Integer(), nullable=False),
        sa.Column('custodians', sa.JSON(), nullable=False),
        sa.Column('images', sa.JSON(), server_default='[]', nullable=False),
        sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('print_lead_minutes', sa.Integer(), nullable=False),
        sa.Column('nonce', sa.LargeBinary(), nullable=False),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('sealed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('opened_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('opened_with', sa.JSON(), server_default='[]', nullable=False),
        sa.ForeignKeyConstraint(['institution'], ['institution.name']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('paper_seal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_seal_institution'), ['institution'], unique=False)
    with op.batch_alter_table('paper', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seal_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_paper_seal_id'), ['seal_id'], unique=False)
        batch_op.create_foreign_key('fk_paper_seal_id_paper_seal', 'paper_seal', ['seal_id'], ['id'])
    with op.batch_alter_table('item_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_by', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_item_version_sealed_by'), ['sealed_by'], unique=False)
        batch_op.create_foreign_key('fk_item_version_sealed_by_paper_seal', 'paper_seal', ['sealed_by'], ['id'])


def downgrade() -> None:
    sealed = op.get_bind().execute(sa.text("SELECT count(*) FROM paper_seal WHERE status = 'sealed'")).scalar()
    if sealed:
        # their texts exist only in the seals' ciphertext: dropping it would lose them for good
        raise RuntimeError(
            f"{sealed} 个密封尚未开启，不能降级 / {sealed} seal(s) are not opened yet: open them "
            "(certify papers open) before downgrading past 0024"
        )
    with op.batch_alter_table('item_version', schema=None) as batch_op:
        batch_op.drop_constraint('fk_item_version_sealed_by_paper_seal', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_item_version_sealed_by'))
        batch_op.drop_column('sealed_by')
    with op.batch_alter_table('paper', schema=None) as batch_op:
        batch_op.drop_constraint('fk_paper_seal_id_paper_seal', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_paper_seal_id'))
        batch_op.drop_column('seal_id')
    with op.batch_alter_table('paper_seal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_seal_institution'))
    op.drop_table('paper_seal')
