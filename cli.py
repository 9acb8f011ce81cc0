"""The ``certify`` command: parses arguments, calls the service functions, prints.

No business logic lives here. Every :class:`certify.infra.errors.Error` is printed as its diagnosis
and ends the command with exit status 1; no traceback reaches a person. The subcommands of each
stage live in ``certify/commands``; this module holds the group, set-up commands and the demo.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from certify import __version__
from certify.commands import (
    audit,
    bank,
    certificates,
    delivery,
    eligibility,
    exams,
    inspect,
    institutions,
    irt,
    papers,
    seals,
    web,
)
from certify.commands.bank import print_summary
from certify.commands.base import CertifyGroup, Settings, occupation_option, pass_settings
from certify.infra import db
from schemas.enums import Level
from schemas.reference import occupations


@click.group(cls=CertifyGroup)
@click.version_option(__version__, prog_name="certify")
@click.option(
    "--db",
    "database",
    metavar="URL",
    help="Database URL (default: ./certify.db; env CERTIFY_DATABASE_URL). 数据库地址。",
)
@click.pass_context
def cli(ctx: click.Context, database: str | None) -> None:
    """certify: 数字技术工程师 exam and certification engine / 考核与发证引擎."""
    ctx.obj = Settings.load(database_url=database)


@cli.command()
@pass_settings
def init(settings: Settings) -> None:
    """Create the database and bring its schema up to date. 初始化数据库。"""
    engine = settings.engine(migrated=False)
    db.upgrade(engine)
    settings.vault(create=True)
    click.echo(f"数据库已就绪 / database ready: {engine.url.render_as_string(hide_password=True)}")


@cli.group("db", cls=CertifyGroup)
def db_group() -> None:
    """Schema migrations. 数据库结构迁移。"""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_settings
def db_upgrade(settings: Settings, revision: str) -> None:
    """Migrate the schema to REVISION. 升级数据库结构。"""
    engine = settings.engine(migrated=False)
    db.upgrade(engine, revision)
    click.echo(f"数据库结构 / schema at: {db.current_revision(engine)}")


@db_group.command("current")
@pass_settings
def db_current(settings: Settings) -> None:
    """Print the schema revision and the latest one. 显示结构版本。"""
    engine = settings.engine(migrated=False)
    click.echo(f"current: {db.current_revision(engine) or '(empty)'}  head: {db.head_revision()}")


for command in (
    bank.bank,
    papers.papers,
    exams.sitting,
    exams.sheets_command,
    exams.marks,
    exams.grade_command,
    exams.regrade_command,
    exams.results_command,
    exams.stats_command,
    irt.irt,
    delivery.exams,
    certificates.keys,
    certificates.trust_list_command,
    certificates.issue_command,
    certificates.revoke_command,
    certificates.suspend_command,
    certificates.reinstate_command,
    certificates.revocations_command,
    certificates.verify_command,
    eligibility.register_command,
    eligibility.applications_command,
    eligibility.override_command,
    eligibility.publish_command,
    eligibility.objection,
    eligibility.training,
    eligibility.lookup_command,
    eligibility.export,
    web.serve_command,
    web.users,
    audit.audit_group,
    inspect.inspect_group,
    institutions.institution,
):
    cli.add_command(command)
for command in (seals.seal_command, seals.open_command, seals.seals_command):
    papers.papers.add_command(command)


@cli.command()
@click.option("--occupation", callback=occupation_option, help="Show one occupation in full.")
def reference(occupation: str | None) -> None:
    """Occupations, levels and knowledge areas with weights. 职业、等级与知识领域。"""
    for occ in occupations():
        if occupation and occ.slug != occupation:
            continue
        code = occ.code_2022 or occ.code_2015 or "—"
        click.echo(f"{occ.slug:<13} {occ.name_zh}  {code}  {occ.name_en}")
        if occupation:
            click.echo(f"{'':4}{'area':<5} {'初级':>4} {'中级':>4} {'高级':>4}  name")
            for a in occ.knowledge_areas:
                w = [a.weight(lv) for lv in Level]
                click.echo(
                    f"{'':4}{a.code:<5} {w[0]:>5} {w[1]:>5} {w[2]:>5}  {a.name_zh} / {a.name_en}"
                )
            click.echo(f"    weights: {occ.weights_status} (see docs/reference-data.md)")


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("certify-demo"),
    show_default=True,
    help="Folder the demo works in.",
)
@pass_settings
def demo(settings: Settings, directory: Path) -> None:
    """Run the whole story end to end in a fresh folder (SQLite there unless --db names an
    empty database). 演示完整流程。"""
    from certify.commands.demo import run_demo

    started = time.perf_counter()
    result = run_demo(directory, echo=click.echo, url=settings.database_url)
    click.echo("")
    print_summary(result.summary)
    click.echo("")
    where = [
        ("数据库 database", result.database or settings.database_url),
        ("试卷 papers", result.pdfs[0].parent),
        ("申报名单 applicants", result.files["applicants"]),
        ("公示 notice", result.files["notice"]),
        ("证书 certificates", result.files["certificates"]),
        ("培训 training", result.files["training"]),
        ("导出 exports", result.files["exports"]),
        ("信任列表 trust list", result.files["trust_list"]),
        ("吊销列表 revocations", result.files["revocations"]),
        ("题库导出 bank export", result.export),
        ("机考 computer-based", result.files["cbt"]),
        ("双随机抽查 inspection", result.files["inspection"]),
    ]
    for label, path in where:
        click.echo(f"{label:<22} {path}")
    click.echo(f"用时 finished in {time.perf_counter() - started:.1f} s")
    local = f"http://127.0.0.1:5000{result.verification_path}"
    notice = f"http://127.0.0.1:5000{result.notice_path}"
    database = settings.database_url or f"sqlite:///{result.database}"
    if _answers("http://127.0.0.1:5000/healthz"):
        click.echo(f"验证页 verification page (the server is running): {local}")
    else:
        click.echo(
            f"验证页 verification page, once the server runs: {local}\n"
            f"公示页 notice page: {notice}\n"
            f"  certify --db {database} serve --trust-list {result.files['trust_list']} "
            f"--revocations {result.files['revocations']} --data-dir {result.directory}"
        )


def _answers(url: str) -> bool:
    """Does a web app answer at this URL (within a second)?"""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> None:
    cli(prog_name="certify")


if __name__ == "__main__":
    main()
