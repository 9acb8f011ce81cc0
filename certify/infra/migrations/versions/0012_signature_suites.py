"""signature suites: the hash of each certificate PDF's fingerprint and of each audit entry is
recorded with it (sha256 or sm3); the PDF's column is renamed from pdf_sha256 to pdf_digest.
Existing rows read as sha256, which is what made them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# recreate='never': SQLite alters these tables in place (RENAME COLUMN, ADD COLUMN, and DROP
# COLUMN from SQLite 3.35) rather than copying and dropping them — `certificate` is referenced by
# other tables' foreign keys, and dropping a referenced table with rows fails under
# PRAGMA foreign_keys=ON.


def upgrade() -> None:
    with op.batch_alter_table('certificate', schema=None, recreate='never') as batch_op:
        batch_op.alter_column('pdf_sha256', new_column_name='pdf_digest', existing_type=sa.String(length=64), existing_nullable=False)
        batch_op.add_column(sa.Column('pdf_digest_alg', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False, server_default='sha256'))
    with op.batch_alter_table('audit_log', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('hash_alg', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False, server_default='sha256'))


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('hash_alg')
    with op.batch_alter_table('certificate', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('pdf_digest_alg')
        batch_op.alter_column('pdf_digest', new_column_name='pdf_sha256', existing_type=sa.String(length=64), existing_nullable=False)
