"""What every command module shares: settings from the global options, error handling, callbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from certify.infra import db, settings
from certify.infra.errors import Error
from certify.registration.identity import IdentityVault, load_vault
from schemas.enums import Level
from schemas.reference import find_level, find_occupation, occupations


class Settings(settings.Settings):
    """The declared settings (the environment, then the global options), with what the commands
    open from them."""

    def engine(self, *, migrated: bool = True) -> Engine:
        engine = db.make_engine(db.database_url(self.database_url))
        if migrated:
            db.require_current(engine)
        return engine

    def local_root_kid(self) -> str | None:
        """The root key this machine's database holds, if there is a database (a SQLite file is
        never created for the question) and it holds one; else None."""
        url = make_url(db.database_url(self.database_url))
        if url.get_backend_name() == "sqlite" and not (
            url.database and Path(url.database).is_file()
        ):
            return None
        from certify.keys.store import database_root_kid

        try:
            return database_root_kid(self.engine(migrated=False))
        except Exception:  # no such server, no schema yet: then there is simply no local root
            return None

    def vault(self, *, create: bool = False) -> IdentityVault:
        """The ID-number secret: the settings' key or file, else beside a SQLite file, else in
        the working folder."""
        url = make_url(db.database_url(self.database_url))
        folder = (
            Path(url.database).parent
            if url.get_backend_name() == "sqlite" and url.database
            else None
        )
        return load_vault(folder, create=create, secret=self.secret_key, file=self.secret_file)

    def passphrase(self, *, confirm: bool = False) -> str:
        """The key passphrase: the ``key_passphrase`` setting, else asked for (never echoed or
        logged)."""
        if self.key_passphrase:
            return self.key_passphrase
        answer: str = click.prompt(
            "密钥口令 Key passphrase", hide_input=True, confirmation_prompt=confirm
        )
        return answer


class CertifyGroup(click.Group):
    """A click group that turns certify's errors into their diagnosis and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Error as exc:
            click.echo(exc.diagnostics(), err=True)
            ctx.exit(1)


pass_settings = click.make_pass_decorator(Settings)


def level_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Level | None:
    if value is None:
        return None
    level = find_level(value)
    if level is None:
        raise click.BadParameter("use junior/初级, intermediate/中级 or senior/高级")
    return level


def occupation_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> str | None:
    if value is None:
        return None
    occ = find_occupation(value)
    if occ is None:
        raise click.BadParameter("known: " + ", ".join(o.slug for o in occupations()))
    return occ.slug
