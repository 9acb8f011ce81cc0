"""institutions and their authorisations; sittings and courses belong to one

An existing database keeps working: every institution its sittings, courses, keys and
certificates name becomes a record (the one institution of a single-institution database is its
default), authorised for the occupations and levels it has examined, trained for or issued, from
the first day it did so, with no end.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 03:40:00.000000
"""

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _day(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)[:10]
    return date.fromisoformat(text) if len(text) == 10 else None


def _existing(conn: sa.Connection) -> list[tuple[str | None, str, dict[tuple[str, str, str], date | None]]]:
    """Every institution the database knows of: (code, name, grants), the code being the issuer
    its signing keys carry (None when it has no key) and its name the one sittings and courses
    name; grants are what it examined, trained for or issued: (kind, occupation, level) → the
    first day it did."""
    names: dict[str, str] = {}  # key issuer → name, the newest key's
    for issuer, scope in conn.execute(
        sa.text(
            "SELECT issuer, scope FROM signing_key WHERE role = 'institution' ORDER BY valid_from"
        )
    ):
        data = json.loads(scope) if isinstance(scope, str) else (scope or {})
        names[issuer] = str(data.get('name') or issuer)
    codes = {name: code for code, name in names.items()}
    uses: dict[str, dict[tuple[str, str, str], date | None]] = {name: {} for name in codes}

    def note(name: str, kind: str, occupation: str, level: str, day: object) -> None:
        grants = uses.setdefault(name, {})
        key = (kind, occupation, level)
        first, new = grants.get(key), _day(day)
        grants[key] = new if first is None else min(first, new or first)

    for name, occ, lvl, day in conn.execute(
        sa.text("SELECT institution, occupation, level, starts_at FROM sitting")
    ):
        note(name, 'level', occ, lvl, day)
    for name, occ, lvl, day in conn.execute(
        sa.text("SELECT institution, occupation, level, created_at FROM course")
    ):
        note(name, 'training', occ, lvl, day)
    for issuer, kind, occ, lvl, day in conn.execute(
        sa.text("SELECT issuer, kind, occupation, level, issued_on FROM certificate")
    ):
        note(names.get(issuer, issuer), kind, occ, lvl, day)
    return [(codes.get(name), name, grants) for name, grants in sorted(uses.items())]


def upgrade() -> None:
    op.create_table('institution',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('name')
    )
    op.create_table('authorisation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('occupation', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('institution_id', 'kind', 'occupation', 'level', 'valid_from')
    )
    with op.batch_alter_table('authorisation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorisation_institution_id'), ['institution_id'], unique=False)

    conn = op.get_bind()
    now = datetime.now(UTC)
    institution = sa.table(
        'institution', sa.column('id', sa.Integer), sa.column('code'), sa.column('name'),
        sa.column('region'), sa.column('created_at', sa.DateTime(timezone=True)),
    )
    authorisation = sa.table(
        'authorisation', sa.column('institution_id', sa.Integer), sa.column('kind'),
        sa.column('occupation'), sa.column('level'), sa.column('valid_from', sa.Date),
        sa.column('valid_until', sa.Date), sa.column('actor'),
        sa.column('created_at', sa.DateTime(timezone=True)),
    )
    found = _existing(conn)
    taken = {code for code, _, _ in found if code}
    spare = (f'I{n:04d}' for n in range(1, 10_000) if f'I{n:04d}' not in taken)
    for code, name, grants in found:
        new_id = conn.execute(
            sa.insert(institution)
            .values(code=code or next(spare), name=name[:200], region='', created_at=now)
            .returning(institution.c.id)
        ).scalar_one()
        for (kind, occupation, level), first in sorted(grants.items()):
            conn.execute(
                sa.insert(authorisation).values(
                    institution_id=new_id, kind=kind, occupation=occupation, level=level,
                    valid_from=first or now.date(), valid_until=None,
                    actor='migration 0021', created_at=now,
                )
            )

    for table in ('sitting', 'course'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('institution', existing_type=sqlmodel.sql.sqltypes.AutoString(),
                                  type_=sqlmodel.sql.sqltypes.AutoString(length=200),
                                  existing_nullable=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_institution'), ['institution'], unique=False)
            batch_op.create_foreign_key(f'fk_{table}_institution_institution', 'institution', ['institution'], ['name'])


def downgrade() -> None:
    for table in ('course', 'sitting'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_institution_institution', type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_institution'))
            batch_op.alter_column('institution', existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
                                  type_=sqlmodel.sql.sqltypes.AutoString(), existing_nullable=False)

    with op.batch_alter_table('authorisation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorisation_institution_id'))

    op.drop_table('authorisation')
    op.drop_table('institution')
