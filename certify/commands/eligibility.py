"""Commands from application to entitlement: register, override, publish, objection, training,
lookup and export."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from certify.certificates.issuance import BATCH_SIZE, DEFAULT_SITE, Issuer
from certify.certificates.publication import (
    DEFAULT_DAYS,
    RESOLUTIONS,
    file_objection,
    objections,
    publish,
    resolve_objection,
)
from certify.commands.base import CertifyGroup, Settings, occupation_option, pass_settings
from certify.entitlements.eligibility import credentials, export_ce_hours, export_eligibility
from certify.entitlements.training import assess, create_course, enrol, record_attendance
from certify.keys.store import signer
from certify.registration.applications import applications, override, register_applicants
from schemas.enums import ApplicationDecision

DAY = click.DateTime(["%Y-%m-%d"])


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


@click.command("register")
@click.argument("sitting_code", metavar="SITTING")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--on", "on", type=DAY, help="Day the conditions are judged on (default: today).")
@click.option("--encoding", help="CSV encoding (default: UTF-8, else GB18030).")
@pass_settings
def register_command(
    settings: Settings, sitting_code: str, file: Path, on: datetime | None, encoding: str | None
) -> None:
    """Check applicants against the application conditions and register those accepted. 申报审核。"""
    report = register_applicants(
        settings.engine(),
        sitting_code,
        file,
        settings.vault(create=True),
        on=_day(on),
        encoding=encoding,
    )
    counts = {
        ApplicationDecision.ACCEPTED: len(report.accepted),
        ApplicationDecision.REFUSED: len(report.refused),
    }
    click.echo(
        f"{sitting_code} ({report.on}): "
        + ", ".join(f"{d.zh} {d} {n}" for d, n in counts.items())
        + f", 新考生 new candidates {report.new_candidates}"
    )
    for row, masked, decision in report.refused:
        click.echo(f"  row {row} {masked}: {decision.reason_zh()}")
        click.echo(f"      {decision.reason_en()}")


@click.command("applications")
@click.argument("sitting_code", metavar="SITTING")
@pass_settings
def applications_command(settings: Settings, sitting_code: str) -> None:
    """Every application of a sitting with its decision (ID numbers masked). 申报记录。"""
    for application, person in applications(settings.engine(), sitting_code):
        how = application.route
        if application.override_reason:
            how = f"override by {application.override_by}: {application.override_reason}"
        elif application.decision == ApplicationDecision.REFUSED:
            how = "; ".join(
                f"{r['route']}: " + ", ".join(m["en"] for m in r["missing"])
                for r in application.reasons
            )
        click.echo(
            f"row {application.row:>4}  {person.id_number_masked}  "
            f"{application.decision.zh} {application.decision:<8} {how}"
        )


@click.command("override")
@click.argument("sitting_code", metavar="SITTING")
@click.option("--id-number", required=True, help="The refused applicant's ID number.")
@click.option("--reason", required=True, help="Why the application is accepted (recorded).")
@click.option("--admin", required=True, help="The admin who decides (recorded).")
@click.option("--form", default="", help="Form to sit (default: as applied, else the first).")
@pass_settings
def override_command(
    settings: Settings, sitting_code: str, id_number: str, reason: str, admin: str, form: str
) -> None:
    """Accept a refused application on an admin's recorded reason. 破格受理。"""
    reg = override(
        settings.engine(),
        sitting_code,
        id_number,
        settings.vault(),
        reason=reason,
        admin=admin,
        form=form,
    )
    click.echo(f"{sitting_code}: 破格受理 accepted on override, 准考证号 {reg.admission_no}")


@click.command("publish")
@click.argument("sitting_code", metavar="SITTING")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--days", type=click.IntRange(1, 90), default=DEFAULT_DAYS, show_default=True)
@click.option("--opened", type=DAY, help="First day of the notice period (default: today).")
@click.option(
    "--issuer",
    help="Sign an audit checkpoint covering the publication with this institution's key "
    "(passphrase as for issue); without it the notice shows the latest checkpoint.",
)
@pass_settings
def publish_command(
    settings: Settings,
    sitting_code: str,
    out: Path,
    days: int,
    opened: datetime | None,
    issuer: str | None,
) -> None:
    """Publish the pass list (masked) as a page, a PDF and JSON; open the notice period. 公示。"""
    engine = settings.engine()
    report = publish(
        engine,
        sitting_code,
        out,
        days=days,
        opened_on=_day(opened),
        checkpoint_signer=signer(engine, issuer, settings.passphrase()) if issuer else None,
    )
    click.echo(
        f"{sitting_code}: 公示 {len(report.listed)} 人 listed, {report.opened_on} – {report.closes_on}; "
        f"发证自 certificates from {report.closes_on + timedelta(days=1)}"
    )
    click.echo(f"  {report.html}\n  {report.pdf}\n  {report.json}")
    if report.checkpoint:
        click.echo(
            f"  审计检查点 audit checkpoint: {report.checkpoint.count} entries, "
            f"kid {report.checkpoint.kid}"
        )


@click.group(cls=CertifyGroup)
def objection() -> None:
    """Objections during the notice period. 公示异议。"""


@objection.command("file")
@click.argument("sitting_code", metavar="SITTING")
@click.argument("admission_no")
@click.option("--reason", required=True)
@click.option("--by", "filed_by", default="", help="Who objects (实名).")
@click.option("--on", "on", type=DAY, help="Day filed (default: today).")
@pass_settings
def objection_file(
    settings: Settings,
    sitting_code: str,
    admission_no: str,
    reason: str,
    filed_by: str,
    on: datetime | None,
) -> None:
    """Record an objection to a listed candidate. 登记异议。"""
    row = file_objection(
        settings.engine(),
        sitting_code,
        admission_no,
        reason=reason,
        filed_by=filed_by,
        filed_on=_day(on),
    )
    click.echo(f"异议 objection {row.id}: {admission_no} {row.status.zh} {row.status}")


@objection.command("resolve")
@click.argument("objection_id", type=int)
@click.option("--decision", type=click.Choice([str(s) for s in RESOLUTIONS]), required=True)
@click.option("--reason", required=True, help="What was found (recorded).")
@click.option("--admin", required=True, help="The admin who decides (recorded).")
@pass_settings
def objection_resolve(
    settings: Settings, objection_id: int, decision: str, reason: str, admin: str
) -> None:
    """Resolve an objection: upheld (no certificate) or dismissed. 处理异议。"""
    row = resolve_objection(
        settings.engine(), objection_id, decision=decision, resolution=reason, admin=admin
    )
    click.echo(f"异议 objection {row.id}: {row.status.zh} {row.status}")


@objection.command("list")
@click.argument("sitting_code", metavar="SITTING")
@pass_settings
def objection_list(settings: Settings, sitting_code: str) -> None:
    """Every objection of a sitting. 异议列表。"""
    for row, admission in objections(settings.engine(), sitting_code):
        click.echo(
            f"{row.id:>4}  {admission}  {row.filed_on}  {row.status.zh} {row.status:<9}  {row.reason}"
            + (f"  → {row.resolution} ({row.resolved_by})" if row.resolution else "")
        )


@click.group(cls=CertifyGroup)
def training() -> None:
    """Training courses and training certificates. 培训与培训合格证书。"""


@training.command("course")
@click.argument("code")
@click.option("--occupation", required=True, callback=occupation_option)
@click.option("--level", required=True, type=click.Choice(["junior", "intermediate", "senior"]))
@click.option("--hours", type=int, required=True)
@click.option("--institution", required=True, help="培训机构 name.")
@click.option(
    "--syllabus",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Text file, one syllabus unit per line.",
)
@click.option("--pass-mark", type=float, default=60.0, show_default=True)
@pass_settings
def training_course(
    settings: Settings,
    code: str,
    occupation: str,
    level: str,
    hours: int,
    institution: str,
    syllabus: Path | None,
    pass_mark: float,
) -> None:
    """Create a course for an occupation and level. 创建培训课程。"""
    units = syllabus.read_text("utf-8").splitlines() if syllabus else []
    row = create_course(
        settings.engine(),
        code,
        occupation=occupation,
        level=level,
        hours=hours,
        institution=institution,
        syllabus=units,
        pass_mark=pass_mark,
    )
    click.echo(f"课程 course {row.code}: {row.occupation}/{row.level}, {row.hours} 学时 hours")


@training.command("enrol")
@click.argument("code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_settings
def training_enrol(settings: Settings, code: str, file: Path) -> None:
    """Enrol trainees (姓名, 身份证号). 报名。"""
    count = enrol(settings.engine(), code, file, settings.vault(create=True))
    click.echo(f"{code}: 报名 enrolled {count}")


@training.command("attendance")
@click.argument("code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_settings
def training_attendance(settings: Settings, code: str, file: Path) -> None:
    """Add attended hours (身份证号, 学时). 考勤。"""
    count = record_attendance(settings.engine(), code, file, settings.vault())
    click.echo(f"{code}: 考勤 attendance rows {count}")


@training.command("assess")
@click.argument("code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_settings
def training_assess(settings: Settings, code: str, file: Path) -> None:
    """Record the completion assessment (身份证号, 成绩). 结业考核。"""
    report = assess(settings.engine(), code, file, settings.vault())
    click.echo(
        f"{code}: 结业 completed {report.completed}, 未结业 not completed {len(report.not_completed)}"
    )
    for masked, why in report.not_completed:
        click.echo(f"  {masked}: {why}")


@training.command("issue")
@click.argument("code")
@click.option("--issuer", required=True, help="The training institution whose key signs.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--site", default=DEFAULT_SITE, show_default=True)
@click.option(
    "--province",
    help="Two-digit province code that starts each serial (default: CERTIFY_PROVINCE, else 37).",
)
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=BATCH_SIZE, show_default=True)
@pass_settings
def training_issue(
    settings: Settings,
    code: str,
    issuer: str,
    out: Path,
    site: str,
    province: str | None,
    batch_size: int,
) -> None:
    """Issue training certificates to trainees who completed the course. 发培训合格证书。"""
    report = Issuer.open(
        settings.engine(),
        issuer,
        settings.passphrase(),
        out=out,
        site=site,
        province=province or settings.province,
        progress=None,
        batch_size=batch_size,
    ).issue_training(code)
    click.echo(f"{code}: 新发 issued {len(report.issued)}, 已有 already {report.already} -> {out}")


@click.command("lookup")
@click.argument("id_number", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_settings
def lookup_command(settings: Settings, id_number: str | None, as_json: bool) -> None:
    """Every credential of a person, by ID number, with status and eligibility (for title review
    committees; the ID number is asked for when not given). 资格查询。"""
    if not id_number:
        id_number = click.prompt("身份证号 ID number")
    found = credentials(settings.engine(), settings.vault(), id_number)
    if as_json:
        click.echo(json.dumps([c.as_json() for c in found], ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("无证书记录 / no certificate on record")
        return
    for c in found:
        data = c.as_json()
        click.echo(
            f"{c.serial}  {data['kind_zh']}  {data['occupation_zh']} {data['level_zh']}  "
            f"{c.issued_on}  {c.status.zh} {c.status}  {c.holder} {c.id_number_masked}  {c.issuer}"
        )
        for e in c.eligibility:
            click.echo(f"    [{e.status.zh} {e.status}] {e.zh} / {e.en}")


@click.group(cls=CertifyGroup)
def export() -> None:
    """Exports for the continuing-education platform and review committees. 导出。"""


@export.command("ce-hours")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--since", type=DAY, help="Certificates issued on or after this day.")
@click.option("--until", type=DAY, help="Certificates issued on or before this day.")
@pass_settings
def export_ce(
    settings: Settings, out: Path, since: datetime | None, until: datetime | None
) -> None:
    """Continuing-education hours as CSV for the provincial platform (full ID numbers). 继续教育学时。"""
    count = export_ce_hours(
        settings.engine(), settings.vault(), out, since=_day(since), until=_day(until)
    )
    click.echo(f"继续教育学时 CE hours: {count} 行 rows -> {out}")


@export.command("eligibility")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--include-withdrawn", is_flag=True, help="Also records withdrawn by revocation.")
@pass_settings
def export_records(settings: Settings, out: Path, include_withdrawn: bool) -> None:
    """Eligibility records for review committees, .csv or .xlsx (ID numbers masked). 资格衔接。"""
    count = export_eligibility(settings.engine(), out, include_withdrawn=include_withdrawn)
    click.echo(f"资格衔接 eligibility: {count} 行 rows -> {out}")
