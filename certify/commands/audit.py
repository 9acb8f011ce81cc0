"""The audit log: verify it against its signed checkpoints, and make a checkpoint on demand."""

from __future__ import annotations

import json
from pathlib import Path

import click

from certify.audit.checkpoints import (
    Checkpoint,
    LogReport,
    check_audit_log,
    make_checkpoint,
)
from certify.audit.state import AuditState, default_path, log_identity
from certify.commands.base import CertifyGroup, Settings, pass_settings
from certify.commands.certificates import _json_file
from certify.keys.store import signer
from certify.signing.trust import load_trust_list

EXIT_INTACT = 0
EXIT_BROKEN = 1
"""Also for an input that cannot be read (a trust list, a published checkpoint, the state)."""


@click.group("audit", cls=CertifyGroup)
def audit_group() -> None:
    """The hash-chained audit log and its signed checkpoints. 审计日志。"""


@audit_group.command("verify")
@click.option(
    "--trust-list",
    "trust_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check checkpoint signatures against this trust list (recommended) instead of the "
    "keys in the database.",
)
@click.option(
    "--root-kid",
    help="The root key (kid) the trust list must be signed by (or CERTIFY_ROOT_KID).",
)
@click.option(
    "--checkpoint",
    "published",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A published checkpoint to check the log against: a trust list, a revocation list, a "
    "notice's JSON or a checkpoint file (repeatable).",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where this verifier remembers the log it saw last (default: CERTIFY_AUDIT_STATE, else "
    "certify.audit-state.json beside the SQLite file, else in the working folder).",
)
@pass_settings
def audit_verify(
    settings: Settings,
    trust_file: Path | None,
    root_kid: str | None,
    published: tuple[Path, ...],
    state: Path | None,
) -> None:
    """Verify the chain and its signed checkpoints; refuse a cut or rewritten log.
    Exit 0 intact, 1 not. 校验审计日志。"""
    if root_kid and not trust_file:
        raise click.UsageError(
            "--root-kid 需与 --trust-list 同用 / --root-kid goes with --trust-list"
        )
    root_kid = root_kid or settings.root_kid
    engine = settings.engine()
    trust = (
        load_trust_list(_json_file(trust_file), pinned_root_kid=root_kid) if trust_file else None
    )
    anchors = [Checkpoint.from_document(_json_file(p), p.name) for p in published]
    memory = AuditState.load(state or settings.audit_state or default_path(engine))
    log = log_identity(engine)
    seen = memory.anchor(log)
    report = check_audit_log(engine, trust, published=anchors, remembered=[seen] if seen else [])
    _print(report, from_trust_list=trust is not None, remembered=seen is not None)
    if not report.ok:
        raise SystemExit(EXIT_BROKEN)
    memory.remember(log, report)


def _print(report: LogReport, *, from_trust_list: bool, remembered: bool) -> None:
    chain = report.chain
    if not chain.ok:
        click.echo(
            f"审计链在第 {chain.broken_at} 条处断开 / audit chain broken at entry "
            f"{chain.broken_at}: {chain.reason}",
            err=True,
        )
    for finding in report.findings:
        click.echo(f"✗ [{finding.code}] {finding.message}", err=True)
    if not report.ok:
        click.echo("审计日志未通过校验 / the audit log does not hold", err=True)
        return
    newest = report.newest
    click.echo(f"审计链完整 / audit chain intact: {report.entries} entries")
    if newest is None:
        click.echo(
            "  ! 尚无签名检查点，末尾条目被删除将无法发现；请运行 certify audit checkpoint / no "
            "signed checkpoint yet: a cut tail would go unnoticed; run certify audit checkpoint"
        )
    else:
        click.echo(
            f"  ✓ {report.checkpoints} 个签名检查点，最新的覆盖前 {newest.count} 条，其后 "
            f"{report.unanchored} 条待下一个检查点 / {report.checkpoints} signed checkpoint(s); "
            f"the newest covers {newest.count} entries ({newest.source}, kid {newest.kid}); "
            f"{report.unanchored} entries after it await the next one"
        )
    if not from_trust_list:
        click.echo(
            "  ! 检查点公钥取自数据库；用 --trust-list 与 --root-kid 校验更可靠 / checkpoint keys "
            "came from the database: --trust-list with --root-kid is stronger"
        )
    if remembered:
        click.echo("  ✓ 不短于上次校验所见 / no shorter than when last verified")


@audit_group.command("checkpoint")
@click.option(
    "--issuer", help="Whose active key signs (default: the provincial root's). 签名机构。"
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the checkpoint as JSON, to publish or keep apart from the database.",
)
@pass_settings
def audit_checkpoint(settings: Settings, issuer: str | None, out: Path | None) -> None:
    """Sign a checkpoint of the audit log now (its length and last hash). 生成审计检查点。"""
    engine = settings.engine()
    checkpoint = make_checkpoint(engine, signer(engine, issuer, settings.passphrase()), "manual")
    click.echo(
        f"审计检查点 audit checkpoint: {checkpoint.count} entries, head {checkpoint.head_hash}, "
        f"kid {checkpoint.kid}"
    )
    if out:
        out.write_text(
            json.dumps(checkpoint.document(), ensure_ascii=False, indent=2) + "\n", "utf-8"
        )
        click.echo(f"  -> {out}")
