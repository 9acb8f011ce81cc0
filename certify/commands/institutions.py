"""`certify institution`: the institutions of the platform and what each is authorised for
(docs/supervision.md)."""

from __future__ import annotations

from datetime import date, datetime

import click

from certify.commands.base import CertifyGroup, Settings, pass_settings
from certify.institutions.registry import (
    add_institution,
    authorise,
    end_authorisation,
    list_institutions,
    set_region,
)

DAY = click.DateTime(["%Y-%m-%d"])
KINDS = click.Choice(["level", "training"])


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@click.group("institution", cls=CertifyGroup)
def institution() -> None:
    """Institutions and their authorisations. 机构与授权范围。"""


@institution.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--region", default="", help="所在地区, e.g. 山东省济南市.")
@pass_settings
def add_command(settings: Settings, code: str, name: str, region: str) -> None:
    """Add an institution: its code and its name as certificates will carry it."""
    row = add_institution(settings.engine(), code, name, region=region)
    click.echo(f"机构 institution {row.code}: {row.name} {row.region}".rstrip())


@institution.command("region")
@click.argument("institution_name", metavar="INSTITUTION")
@click.argument("region")
@pass_settings
def region_command(settings: Settings, institution_name: str, region: str) -> None:
    """Set the institution's region (its code or name)."""
    row = set_region(settings.engine(), institution_name, region)
    click.echo(f"机构 institution {row.code}: {row.region}")


@institution.command("authorise")
@click.argument("institution_name", metavar="INSTITUTION")
@click.option(
    "--kind",
    type=KINDS,
    default="level",
    show_default=True,
    help="level: examine (等级证书); training: train (培训合格证书).",
)
@click.option(
    "--occupation",
    "occupations",
    multiple=True,
    required=True,
    help="Occupation(s), repeated or comma-separated.",
)
@click.option(
    "--level",
    "levels",
    multiple=True,
    required=True,
    help="Level(s): junior/初级, intermediate/中级, senior/高级.",
)
@click.option("--from", "valid_from", type=DAY, help="First day (default: today).")
@click.option("--until", "valid_until", type=DAY, help="Last day (default: until ended).")
@pass_settings
def authorise_command(
    settings: Settings,
    institution_name: str,
    kind: str,
    occupations: tuple[str, ...],
    levels: tuple[str, ...],
    valid_from: datetime | None,
    valid_until: datetime | None,
) -> None:
    """Authorise an institution for occupations × levels over a period. 授权。"""
    grants = authorise(
        settings.engine(),
        institution_name,
        kind=kind,
        occupations=_split(occupations),
        levels=_split(levels),
        valid_from=valid_from.date() if valid_from else date.today(),
        valid_until=valid_until.date() if valid_until else None,
    )
    for grant in grants:
        click.echo(f"授权 authorised: {grant.describe()}")


@institution.command("end")
@click.argument("institution_name", metavar="INSTITUTION")
@click.option("--kind", type=KINDS, default="level", show_default=True)
@click.option("--occupation", required=True)
@click.option("--level", required=True)
@click.option("--last-day", type=DAY, help="The last day it holds (default: today).")
@pass_settings
def end_command(
    settings: Settings,
    institution_name: str,
    kind: str,
    occupation: str,
    level: str,
    last_day: datetime | None,
) -> None:
    """End an authorisation after its last day; certificates issued under it keep verifying."""
    grant = end_authorisation(
        settings.engine(),
        institution_name,
        kind=kind,
        occupation=occupation,
        level=level,
        last_day=last_day.date() if last_day else date.today(),
    )
    click.echo(f"已终止 ended: {grant.describe()}")


@institution.command("list")
@pass_settings
def list_command(settings: Settings) -> None:
    """Every institution with its authorisations."""
    views = list_institutions(settings.engine())
    if not views:
        click.echo("尚无机构 / no institutions yet: certify institution add CODE NAME")
    for view in views:
        click.echo(f"{view.code}\t{view.name}\t{view.region or '—'}")
        for grant in view.grants:
            click.echo(f"    {grant.describe()}")
