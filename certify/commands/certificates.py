"""Keys, the trust list, issuance, revocation and offline verification."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from certify.certificates.issuance import BATCH_SIZE, DEFAULT_SITE, Issuer
from certify.certificates.revocation import change_status, issuer_signer, revocation_list
from certify.commands.base import (
    CertifyGroup,
    Settings,
    pass_settings,
)
from certify.infra.errors import Error
from certify.keys.publish import build_trust_list
from certify.keys.store import create_key, list_keys, rotate_key
from certify.signing.algorithms import OPTIONS, algorithm_named
from certify.signing.reader import read_token_text
from certify.signing.trust import load_trust_list
from certify.signing.verify import load_revocation_list, verify_token
from schemas.enums import CertificateKind, ObjectionState, StatusChange, Verdict


@click.group(cls=CertifyGroup)
def keys() -> None:
    """Signing keys: the provincial root and each institution's. 签名密钥。"""


F = TypeVar("F", bound=Callable[..., Any])


def _algorithm_option(default: str | None) -> Callable[[F], F]:
    return click.option(
        "--algorithm",
        type=click.Choice(OPTIONS),
        default=default,
        show_default=default is not None,
        help="Signature suite: ed25519 (with SHA-256) or sm2 (SM2 with SM3, GB/T 32918)"
        + ("" if default else "; the old key's unless given")
        + ". 签名算法。",
    )


@keys.command("root")
@click.option("--issuer", required=True, help="Code of the provincial authority, e.g. SD-HRSS.")
@click.option("--name", required=True, help="Its name, e.g. 山东省人力资源和社会保障厅.")
@_algorithm_option("ed25519")
@pass_settings
def keys_root(settings: Settings, issuer: str, name: str, algorithm: str) -> None:
    """Create the root key that signs the trust and revocation lists. 创建根密钥。"""
    row = create_key(
        settings.engine(),
        role="root",
        issuer=issuer,
        name=name,
        passphrase=settings.passphrase(confirm=True),
        algorithm=algorithm_named(algorithm),
    )
    click.echo(f"根密钥 root key {row.kid} ({row.algorithm}) for {issuer}")
    click.echo(
        f"验证方须固定此根密钥 / verifiers pin it: CERTIFY_ROOT_KID={row.kid} "
        "(or --root-kid; on this database it is pinned already)"
    )


@keys.command("create")
@click.argument("issuer", metavar="INSTITUTION")
@click.option(
    "--name", default="", help="Its name, checked against its record (default: the record's)."
)
@click.option(
    "--occupations", default="", help="Comma-separated occupations it may certify (empty: all)."
)
@click.option("--levels", default="", help="Comma-separated levels (empty: all).")
@click.option("--kinds", default="level", show_default=True, help="level, training or both.")
@_algorithm_option("ed25519")
@pass_settings
def keys_create(
    settings: Settings,
    issuer: str,
    name: str,
    occupations: str,
    levels: str,
    kinds: str,
    algorithm: str,
) -> None:
    """Create the signing key of an institution on record (its code or name), with its scope;
    the trust list adds the institution's authorisations. 创建机构签名密钥。"""
    scope: dict[str, list[Any]] = {
        "kinds": [_kind(k.strip()).code for k in kinds.split(",") if k.strip()],
        "occupations": [o.strip() for o in occupations.split(",") if o.strip()],
        "levels": [lv.strip() for lv in levels.split(",") if lv.strip()],
    }
    row = create_key(
        settings.engine(),
        role="institution",
        issuer=issuer,
        name=name,
        passphrase=settings.passphrase(confirm=True),
        scope=scope,
        algorithm=algorithm_named(algorithm),
    )
    click.echo(f"签名密钥 signing key {row.kid} ({row.algorithm}) for {row.issuer}")


def _kind(text: str) -> CertificateKind:
    try:
        return CertificateKind(text)
    except ValueError:
        choices = ", ".join(CertificateKind)
        raise click.BadParameter(f"{text} (choose {choices})", param_hint="--kinds") from None


@keys.command("rotate")
@click.argument("issuer")
@_algorithm_option(None)
@pass_settings
def keys_rotate(settings: Settings, issuer: str, algorithm: str | None) -> None:
    """Make a new key and retire the old one (it stays published); with --algorithm, move the
    institution to another suite. 轮换密钥。"""
    row = rotate_key(
        settings.engine(),
        issuer,
        settings.passphrase(confirm=True),
        algorithm=algorithm_named(algorithm) if algorithm else None,
    )
    click.echo(
        f"新密钥 new key {row.kid} ({row.algorithm}) for {issuer}; "
        "the old key is retired but still published"
    )


@keys.command("list")
@pass_settings
def keys_list(settings: Settings) -> None:
    """Every key, active or retired. 密钥列表。"""
    for k in list_keys(settings.engine()):
        state = "retired" if k.retired_at else "active"
        click.echo(
            f"{k.kid}  {k.role:<11} {k.issuer:<14} {k.algorithm:<5} {state:<7} "
            f"{k.scope.get('name', '')}"
        )


@click.command("trust-list")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_settings
def trust_list_command(settings: Settings, out: Path) -> None:
    """Write the root-signed trust list (every key, its validity and scope). 导出信任列表。"""
    document = build_trust_list(settings.engine(), settings.passphrase())
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    click.echo(
        f"信任列表 trust list ({len(document['keys'])} keys, root {document['root_kid']}) -> {out}"
    )


@click.command("issue")
@click.argument("sitting_code", metavar="SITTING")
@click.option("--issuer", required=True, help="The institution whose key signs.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--site",
    default=DEFAULT_SITE,
    show_default=True,
    help="Verification site in the QR.",
)
@click.option(
    "--province",
    help="Two-digit province code that starts each serial (default: CERTIFY_PROVINCE, else 37).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=BATCH_SIZE,
    show_default=True,
    help="Certificates per transaction (a crash loses at most one batch, redone on rerun).",
)
@click.option(
    "--processes",
    type=click.IntRange(0, 64),
    default=None,
    help="Processes rendering PDFs (0: none; default: one per CPU for large runs).",
)
@pass_settings
def issue_command(
    settings: Settings,
    sitting_code: str,
    issuer: str,
    out: Path,
    site: str,
    province: str | None,
    batch_size: int,
    processes: int | None,
) -> None:
    """Issue certificates to every passed candidate without one; safe to rerun. 发证。"""
    report = Issuer.open(
        settings.engine(),
        issuer,
        settings.passphrase(),
        out=out,
        site=site,
        province=province or settings.province,
        progress=None,
        batch_size=batch_size,
        processes=processes,
    ).issue_level(sitting_code)
    click.echo(
        f"{sitting_code}: 新发 issued {len(report.issued)}, 已有 already {report.already}"
        + (f", 补齐 PDF restored {report.pdfs_restored}" if report.pdfs_restored else "")
        + f" -> {out}"
    )
    for admission_no, reason in sorted(report.held.items()):
        click.echo(f"  未发 held {admission_no}: {_why_held(reason)}")


def _why_held(reason: str) -> str:
    """Why a passed candidate got no certificate: an objection, or not on the pass list."""
    if isinstance(reason, ObjectionState):
        return f"异议{reason.zh} objection {reason}"
    return "不在已公示的合格名单上 not on the published pass list"


def _status_command(action: StatusChange, help_text: str) -> click.Command:
    @click.command(action.value, help=help_text)
    @click.argument("serial")
    @click.option("--reason", required=True, help="Why (recorded and published).")
    @click.option(
        "--no-checkpoint",
        is_flag=True,
        help="Do not sign an audit checkpoint with the issuer's key (no passphrase needed; the "
        "next checkpoint covers the change).",
    )
    @pass_settings
    def command(settings: Settings, serial: str, reason: str, no_checkpoint: bool) -> None:
        engine = settings.engine()
        signer = None if no_checkpoint else issuer_signer(engine, serial, settings.passphrase())
        cert = change_status(engine, serial, action, reason, checkpoint_signer=signer)
        click.echo(f"{cert.serial}: {cert.status.zh} {cert.status}")

    return command


revoke_command = _status_command(
    StatusChange.REVOKE, "Revoke a certificate for good, with a reason. 吊销证书。"
)
suspend_command = _status_command(
    StatusChange.SUSPEND, "Suspend a certificate until reinstated, with a reason. 暂停证书。"
)
reinstate_command = _status_command(
    StatusChange.REINSTATE, "Reinstate a suspended certificate, with a reason. 恢复证书。"
)


@click.command("revocations")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--max-age-hours", type=float, default=24, show_default=True)
@pass_settings
def revocations_command(settings: Settings, out: Path, max_age_hours: float) -> None:
    """Write the root-signed revocation list for offline verifiers. 导出吊销列表。"""
    document = revocation_list(
        settings.engine(), settings.passphrase(), max_age_hours=max_age_hours
    )
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    click.echo(f"吊销列表 revocation list ({len(document['entries'])} entries) -> {out}")


EXIT_STATUS_UNKNOWN = 3
"""``certify verify``'s exit status for a genuine certificate whose status is unknown (no fresh
revocation list): 0 is kept for genuine and valid, 1 for every failed check."""


@click.command("verify")
@click.argument("given", metavar="TOKEN|URL|PNG|PDF")
@click.option(
    "--trust-list",
    "trust_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
)
@click.option("--revocations", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--root-kid",
    help="The provincial root's key id the trust list must be signed by (or CERTIFY_ROOT_KID; "
    "default: the root key of the local database, if there is one).",
)
@click.option(
    "--any-root",
    is_flag=True,
    help="Accept a trust list signed by any root (experiments only: every result warns).",
)
@pass_settings
def verify_command(
    settings: Settings,
    given: str,
    trust_file: Path,
    revocations: Path | None,
    root_kid: str | None,
    any_root: bool,
) -> None:
    """Verify a certificate offline. Exit 0: genuine and valid; 1: not genuine, revoked,
    suspended or expired; 3: genuine, status unknown (no fresh revocation list). 离线验证证书。"""
    pin = root_kid or settings.root_kid or (None if any_root else settings.local_root_kid())
    trust = load_trust_list(_json_file(trust_file), pinned_root_kid=pin, allow_unpinned=any_root)
    revoked = load_revocation_list(_json_file(revocations), trust) if revocations else None
    report = verify_token(read_token_text(given), trust, revoked)
    if report.claims:
        c = report.claims
        click.echo(
            f"证书编号 {c.serial}  持证人 {c.holder}  {c.occupation}/{c.level}  发证日期 {c.issued}  机构 {c.issuer}"
        )
    for check in report.checks:
        mark = "!" if check.warning else ("✓" if check.ok else "✗")
        click.echo(f"  {mark} {check.name:<10} {check.message_zh} / {check.message_en}")
    verdict = report.verdict
    click.echo(f"结论 verdict: {verdict.zh} {verdict.en.lower()}")
    if verdict is Verdict.STATUS_UNKNOWN:
        raise SystemExit(EXIT_STATUS_UNKNOWN)
    if verdict is not Verdict.GENUINE:
        raise SystemExit(1)


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Error(f"无法读取 {path} / cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise Error(f"{path} 不是 JSON 对象 / {path} is not a JSON object")
    return data
