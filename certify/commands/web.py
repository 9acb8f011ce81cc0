"""Commands for the web app: serve it locally, and manage its accounts and API tokens."""

from __future__ import annotations

from pathlib import Path

import click

from certify.commands.base import CertifyGroup, Settings, pass_settings
from certify.infra.errors import Error
from schemas.enums import ROLES


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option(
    "--trust-list",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Signed trust list file (default: CERTIFY_TRUST_LIST).",
)
@click.option(
    "--revocations",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Signed revocation list file (default: CERTIFY_REVOCATIONS).",
)
@click.option(
    "--root-kid",
    help="The provincial root's key id the trust list must be signed by "
    "(default: CERTIFY_ROOT_KID, else the database's root key).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where published notices (公示) are served from (default: CERTIFY_DATA_DIR).",
)
@pass_settings
def serve_command(
    settings: Settings,
    host: str,
    port: int,
    trust_list: Path | None,
    revocations: Path | None,
    root_kid: str | None,
    data_dir: Path | None,
) -> None:
    """Run the web app for local use (production: gunicorn, see docs/web.md). 启动网页服务。"""
    from certify.web import create_app

    engine = settings.engine()  # the schema must be current
    try:
        vault = settings.vault()
    except Error:
        vault = None  # committee ID-number checks are then unavailable
    served = settings.replace(
        trust_list=trust_list, revocations=revocations, root_kid=root_kid, data_dir=data_dir
    )
    app = create_app(served, engine=engine, vault=vault)
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
@click.option("--password", help="Asked for when not given (or CERTIFY_NEW_PASSWORD).")
@click.option(
    "--institution",
    help="The institution (code or name) whose data alone it sees; none: a platform account.",
)
@click.option(
    "--region", help="A supervisor's region (e.g. 山东省): it reads every institution there."
)
@pass_settings
def users_add(
    settings: Settings,
    username: str,
    role: str,
    display_name: str,
    password: str | None,
    institution: str | None,
    region: str | None,
) -> None:
    """Create an account. 创建账户。"""
    from certify.accounts import create_account  # the password hash loads only for web commands

    password = password or settings.new_password
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, type=str)

    account = create_account(
        settings.engine(),
        username,
        role,
        password,
        display_name=display_name,
        institution=institution,
        region=region,
    )
    where = f" · {account.institution or account.region or '平台 platform'}"
    click.echo(f"账户 account {account.username}: {account.role}{where}")


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


@users.command("list")
@click.option("--role", type=click.Choice(ROLES), help="Only accounts of this role.")
@pass_settings
def users_list(settings: Settings, role: str | None) -> None:
    """Every account: role, status, last sign-in. 账户列表。"""
    from certify.accounts.directory import AccountSearch, all_accounts
    from schemas.enums import Role

    search = AccountSearch(role=Role(role) if role else None)
    for a in all_accounts(settings.engine(), search):
        last = a.last_sign_in.strftime("%Y-%m-%d %H:%M") if a.last_sign_in else "—"
        status = "active" if a.active else "disabled"
        due = " (must change password)" if a.must_change_password else ""
        click.echo(f"{a.username}\t{a.role.value}\t{status}{due}\t{last}\t{a.display_name}")


@users.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@pass_settings
def users_role(settings: Settings, username: str, role: str) -> None:
    """Give an account another role (its sessions end). 更改角色。"""
    from certify.accounts import set_role

    account = set_role(settings.engine(), username, role)
    click.echo(f"{account.username}: {account.role}")


@users.command("reset-password")
@click.argument("username")
@click.option("--password", help="The new password (default: a generated one, printed once).")
@pass_settings
def users_reset_password(settings: Settings, username: str, password: str | None) -> None:
    """Reset a password; it must be changed at the next sign-in. 重置密码。"""
    from certify.accounts import reset_password

    chosen = reset_password(settings.engine(), username, password=password)
    if password is None:
        click.echo(chosen)
    else:
        click.echo(f"{username}: password set / 密码已设置")


@users.command("sign-ins")
@click.argument("username", required=False)
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@pass_settings
def users_sign_ins(settings: Settings, username: str | None, limit: int) -> None:
    """The latest sign-ins (of one account): time, username, address, outcome. 登录记录。"""
    from certify.accounts.directory import SignInSearch, search_sign_ins

    page = search_sign_ins(settings.engine(), SignInSearch(username=username or "", per_page=limit))
    for r in page.rows:
        who = r.username if r.username is not None else "(no such account)"
        click.echo(f"{r.at:%Y-%m-%d %H:%M:%S}\t{who}\t{r.address}\t{r.outcome.value}")
