"""Commands for the web app: serve it locally, and manage its accounts and API tokens."""

from __future__ import annotations

import os

import click

from certify.commands.base import CertifyGroup, Settings, pass_settings
from certify.infra.errors import Error
from schemas.enums import ROLES


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option(
    "--trust-list", type=click.Path(exists=True, dir_okay=False), help="Signed trust list file."
)
@click.option(
    "--revocations",
    type=click.Path(exists=True, dir_okay=False),
    help="Signed revocation list file.",
)
@click.option(
    "--root-kid",
    envvar="CERTIFY_ROOT_KID",
    help="The provincial root's key id the trust list must be signed by "
    "(default: the database's root key).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="CERTIFY_DATA_DIR",
    help="Where published notices (公示) are served from.",
)
@pass_settings
def serve_command(
    settings: Settings,
    host: str,
    port: int,
    trust_list: str | None,
    revocations: str | None,
    root_kid: str | None,
    data_dir: str | None,
) -> None:
    """Run the web app for local use (production: gunicorn, see docs/web.md). 启动网页服务。"""
    from certify.web import create_app

    if settings.database:
        os.environ["CERTIFY_DATABASE_URL"] = settings.database
    if trust_list:
        os.environ["CERTIFY_TRUST_LIST"] = trust_list
    if revocations:
        os.environ["CERTIFY_REVOCATIONS"] = revocations
    if root_kid:
        os.environ["CERTIFY_ROOT_KID"] = root_kid
    if data_dir:
        os.environ["CERTIFY_DATA_DIR"] = data_dir
    settings.engine()  # the schema must be current
    try:
        vault = settings.vault()
    except Error:
        vault = None  # committee ID-number checks are then unavailable
    app = create_app({"VAULT": vault} if vault else None)
    click.echo(f"certify web: http://{host}:{port}/  (Ctrl+C to stop)")
    from certify.web.logs import RedactingRequestHandler

    app.run(
        host=host,
        port=port,
        debug=False,
        use_reloader=False,
        request_handler=RedactingRequestHandler,
    )


@click.group(cls=CertifyGroup)
def users() -> None:
    """Web accounts (admin, rater, committee) and API tokens. 网页账户。"""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", default="", help="Name shown in the app.")
@click.option(
    "--password",
    envvar="CERTIFY_NEW_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when not given (or CERTIFY_NEW_PASSWORD).",
)
@pass_settings
def users_add(
    settings: Settings, username: str, role: str, display_name: str, password: str
) -> None:
    """Create an account. 创建账户。"""
    from certify.accounts import create_account  # the password hash loads only for web commands

    account = create_account(settings.engine(), username, role, password, display_name=display_name)
    click.echo(f"账户 account {account.username}: {account.role}")


@users.command("token")
@click.argument("username")
@click.option("--label", default="", help="What the token is for.")
@pass_settings
def users_token(settings: Settings, username: str, label: str) -> None:
    """Make an API token; it is shown once, only its hash is kept. 生成 API 令牌。"""
    from certify.accounts import create_token

    click.echo(create_token(settings.engine(), username, label=label))


@users.command("disable")
@click.argument("username")
@pass_settings
def users_disable(settings: Settings, username: str) -> None:
    """Disable an account (its sessions and tokens stop working). 停用账户。"""
    from certify.accounts import set_active

    set_active(settings.engine(), username, False)
    click.echo(f"{username}: disabled")


@users.command("enable")
@click.argument("username")
@pass_settings
def users_enable(settings: Settings, username: str) -> None:
    """Enable a disabled account. 启用账户。"""
    from certify.accounts import set_active

    set_active(settings.engine(), username, True)
    click.echo(f"{username}: enabled")
