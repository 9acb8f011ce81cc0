"""`certify inspect`: a 双随机 draw anyone can re-run — a seed and its commitment, the population
as published, the draw, and the re-run that checks a published draw (docs/supervision.md)."""

from __future__ import annotations

import json
import secrets
import sys
from datetime import date, datetime
from pathlib import Path

import click

from certify.commands.base import CertifyGroup, Settings, pass_settings
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.supervision.draw import Draw, commitment_of, draw
from certify.supervision.inspections import (
    notice_document,
    notice_pdf,
    population,
    population_document,
    read_notice,
    read_plan,
    read_population,
)
from certify.supervision.records import (
    close_record,
    evidence_of,
    open_records,
    read_evidence,
    record_finding,
    record_response,
    records,
    request_rectification,
)
from schemas.inspection import InspectionPlan
from schemas.tables import InspectionRecord

PLAN = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("inspect", cls=CertifyGroup)
def inspect_group() -> None:
    """双随机 inspections: a draw anyone can re-run. 双随机抽查。"""


@inspect_group.command("seed")
def seed_command() -> None:
    """A new secret seed and the commitment to publish in the plan before the draw."""
    seed = secrets.token_hex(32)
    click.echo(f"种子 seed (keep it secret until the draw): {seed}")
    click.echo(f"承诺值 commitment (publish it in the plan): {commitment_of(seed)}")


@inspect_group.command("population")
@click.argument("plan_file", type=PLAN)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_settings
def population_command(settings: Settings, plan_file: Path, out: Path) -> None:
    """Write the targets PLAN may draw (from the database) as the file to publish."""
    plan = read_plan(plan_file)
    targets = population(settings.engine(), plan)
    document = population_document(plan, targets)
    out.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", "utf-8")
    click.echo(
        f"总体 population of {plan.code}: {len(targets)} 个对象 targets -> {out}\n"
        f"  plan digest {document['plan_digest']}\n"
        f"  population digest {document['population_digest']}"
    )


def _print(plan: InspectionPlan, result: Draw) -> None:
    names = {i.id: i.name for i in plan.inspectors}
    click.echo(
        f"抽取 draw of {plan.code}: {len(result.drawn)} of {result.population} 个对象 targets "
        f"(plan {result.plan_digest[:16]}…, population {result.population_digest[:16]}…)"
    )
    for d in result.drawn:
        who = ", ".join(f"{names[i]} ({i})" for i in d.inspectors) or "—"
        short = f"  缺 {d.short} 名 short of {d.short} inspector(s)" if d.short else ""
        click.echo(f"  {d.rank[:12]}  {d.target.label}  ->  {who}{short}")


@inspect_group.command("draw")
@click.argument("plan_file", type=PLAN)
@click.option("--population", "population_file", type=PLAN, required=True)
@click.option("--seed", required=True, help="The seed the plan committed to, revealed now.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_settings
def draw_command(
    settings: Settings, plan_file: Path, population_file: Path, seed: str, out: Path
) -> None:
    """Draw targets and inspectors; write the notice to publish, as JSON (--out) and as a PDF
    beside it (audited as inspect.draw)."""
    plan = read_plan(plan_file)
    result = draw(plan, read_population(population_file, plan), seed.strip())
    notice = notice_document(plan, result)
    with transaction(settings.engine()) as session:
        audit_log.append(
            session,
            actor="cli",
            action="inspect.draw",
            subject=plan.code,
            detail={
                "plan_digest": result.plan_digest,
                "population_digest": result.population_digest,
                "seed": result.seed,
                "drawn": [d.target.id for d in result.drawn],
            },
        )
    out.write_text(json.dumps(notice, ensure_ascii=False, indent=1) + "\n", "utf-8")
    pdf = notice_pdf(out.with_suffix(".pdf"), notice)
    _print(plan, result)
    click.echo(f"公示 notice -> {out}, {pdf}")


@inspect_group.command("redraw")
@click.argument("plan_file", type=PLAN)
@click.argument("seed")
@click.option("--population", "population_file", type=PLAN, required=True)
@click.option(
    "--notice", "notice_file", type=PLAN, help="A published draw to check against this re-run."
)
def redraw_command(
    plan_file: Path, seed: str, population_file: Path, notice_file: Path | None
) -> None:
    """Re-run a published draw from its plan, population and seed; no database. With --notice,
    exit 0 when the published draw is exactly this one, 1 when it is not."""
    plan = read_plan(plan_file)
    result = draw(plan, read_population(population_file, plan), seed.strip())
    _print(plan, result)
    if notice_file is None:
        return
    published = read_notice(notice_file)
    mine = notice_document(plan, result)
    differs = [key for key in sorted(mine) if published.get(key) != mine[key]]
    if differs:
        click.echo(
            f"公示与重新抽取的结果不符 / the published draw is NOT this one: {', '.join(differs)}",
            err=True,
        )
        sys.exit(1)
    click.echo("公示与重新抽取的结果一致 / the published draw is exactly this one")


# --- the records that follow a draw ---------------------------------------------------------


@inspect_group.command("open")
@click.argument("notice_file", type=PLAN)
@pass_settings
def open_command(settings: Settings, notice_file: Path) -> None:
    """Open a record for every target of a published draw (its notice JSON)."""
    notice = read_notice(notice_file)
    made = open_records(settings.engine(), notice, actor="cli")
    click.echo(f"{notice['plan']}: 新建检查记录 {made} 条 / {made} record(s) opened")


def _said(record: InspectionRecord) -> None:
    click.echo(
        f"{record.plan}/{record.target}: {record.status}, 发现 {len(record.findings)} 条 "
        f"findings" + (f", 整改期限 deadline {record.deadline}" if record.deadline else "")
    )


@inspect_group.command("finding")
@click.argument("plan")
@click.argument("target")
@click.option("--text", required=True, help="What was found.")
@click.option(
    "--evidence",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A PDF, PNG or JPEG kept with the finding (repeatable, 10 MB each).",
)
@pass_settings
def finding_command(
    settings: Settings, plan: str, target: str, text: str, evidence: tuple[Path, ...]
) -> None:
    """Record a finding on a target of PLAN, with its evidence."""
    files = [read_evidence(path) for path in evidence]
    _said(record_finding(settings.engine(), plan, target, text, files, actor="cli"))


@inspect_group.command("rectify")
@click.argument("plan")
@click.argument("target")
@click.option("--text", required=True, help="What the institution must put right.")
@click.option("--deadline", type=click.DateTime(["%Y-%m-%d"]), required=True)
@pass_settings
def rectify_command(
    settings: Settings, plan: str, target: str, text: str, deadline: datetime
) -> None:
    """Ask the institution to put right what was found, by a deadline."""
    record = request_rectification(
        settings.engine(), plan, target, text, deadline.date(), actor="cli", today=date.today()
    )
    _said(record)


@inspect_group.command("respond")
@click.argument("plan")
@click.argument("target")
@click.option("--text", required=True, help="The institution's response.")
@pass_settings
def respond_command(settings: Settings, plan: str, target: str, text: str) -> None:
    """Record the institution's response to a rectification request."""
    _said(record_response(settings.engine(), plan, target, text, actor="cli"))


@inspect_group.command("close")
@click.argument("plan")
@click.argument("target")
@click.option("--text", required=True, help="The closing note.")
@pass_settings
def close_command(settings: Settings, plan: str, target: str, text: str) -> None:
    """Close a record: nothing found, or the response accepted."""
    _said(close_record(settings.engine(), plan, target, text, actor="cli"))


@inspect_group.command("records")
@click.argument("plan", required=False)
@pass_settings
def records_command(settings: Settings, plan: str | None) -> None:
    """Every inspection record (of one plan): its state, findings and evidence."""
    engine = settings.engine()
    found = records(engine, plan)
    for record in found:
        _said(record)
        for finding in record.findings:
            click.echo(f"    {finding['at'][:16]} {finding['by']}: {finding['text']}")
        for e in evidence_of(engine, record.id or 0, with_data=False):
            click.echo(
                f"    证据 evidence: {e.name} ({e.media_type}, {e.size:,} B, sha256 {e.sha256[:16]}…)"
            )
    click.echo(f"共 {len(found)} 条 / {len(found)} record(s)")
