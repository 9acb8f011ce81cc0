"""account passwords an admin set must be changed; sign-in attempts say how they ended

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default=''))

    # Earlier account sign-ins: success, or a failure whose reason nobody recorded. A
    # candidate's (``exam:…``) keeps no outcome, as the exam records none.
    attempts = sa.table('login_attempt', sa.column('ok', sa.Boolean()), sa.column('username', sa.String()), sa.column('outcome', sa.String()))
    account_rows = ~attempts.c.username.like('exam:%')
    op.execute(attempts.update().where(account_rows, attempts.c.ok.is_(True)).values(outcome='ok'))
    op.execute(attempts.update().where(account_rows, attempts.c.ok.is_(False)).values(outcome='failed'))


def downgrade() -> None:
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_column('outcome')

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
