"""publication entries: who was on a published pass list

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('publication_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('publication_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['publication_id'], ['publication.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('publication_id', 'registration_id')
    )
    with op.batch_alter_table('publication_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_publication_entry_publication_id'), ['publication_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_publication_entry_registration_id'), ['registration_id'], unique=False)
    # Publications made before this revision recorded only a count: their list is taken to be
    # the registrations of the sitting with a passing result now (what issuance read until now).
    op.execute(
        "INSERT INTO publication_entry (publication_id, registration_id) "
        "SELECT p.id, r.id FROM publication p "
        "JOIN registration r ON r.sitting_id = p.sitting_id "
        "JOIN result x ON x.registration_id = r.id WHERE x.passed"
    )


def downgrade() -> None:
    with op.batch_alter_table('publication_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_publication_entry_registration_id'))
        batch_op.drop_index(batch_op.f('ix_publication_entry_publication_id'))
    op.drop_table('publication_entry')
