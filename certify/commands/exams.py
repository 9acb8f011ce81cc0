"""Sittings, answer sheets, marks, grading, regrades, results and statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from certify.certificates.regrade import apply_regrade
from certify.commands.base import (
    CertifyGroup,
    Settings,
    pass_settings,
)
from certify.grading.analysis import exam_report, export_responses
from certify.grading.form_equating import RULES, set_pass_rule
from certify.grading.marks import (
    MARKING_LIST_HEADER,
    import_marks,
    marking_list,
    marking_list_rows,
)
from certify.grading.service import (
    Change,
    grade_sitting,
    regrade_diff,
    sitting_results,
)
from certify.grading.sheets import import_sheets
from certify.infra.tabular import write_table
from certify.registration.sittings import create_sitting, import_roster
from schemas.enums import CertificateStatus
from schemas.results import ExamReportData


@click.group(cls=CertifyGroup)
def sitting() -> None:
    """Exam sittings and their candidates. 考试场次与考生名册。"""


@sitting.command("create")
@click.argument("code")
@click.option(
    "--blueprint", "blueprint_code", required=True, help="Code of an assembled blueprint."
)
@click.option("--institution", required=True, help="评价机构 name.")
@click.option("--starts-at", type=click.DateTime(["%Y-%m-%d %H:%M", "%Y-%m-%d"]))
@pass_settings
def sitting_create(
    settings: Settings, code: str, blueprint_code: str, institution: str, starts_at: Any
) -> None:
    """Create a sitting of an assembled blueprint. 创建考试场次。"""
    row = create_sitting(
        settings.engine(), code, blueprint_code, institution=institution, starts_at=starts_at
    )
    click.echo(f"考试场次 sitting {row.code}: {row.occupation}/{row.level}, {row.institution}")


@sitting.command("pass-rule")
@click.argument("code")
@click.argument("rule", type=click.Choice(RULES))
@click.option("--run", "run_id", type=int, help="The equating run (default: the newest).")
@pass_settings
def sitting_pass_rule(settings: Settings, code: str, rule: str, run_id: int | None) -> None:
    """Pass decisions on raw scores (the default) or on scores equated to the reference form
    (certify irt equate first). 合格判定规则。"""
    row = set_pass_rule(settings.engine(), code, rule, run_id=run_id, actor="cli")
    click.echo(
        f"考试场次 sitting {row.code}: 合格判定 pass rule {row.pass_rule}"
        + (f" (equating run {row.equating_run_id})" if row.equating_run_id else "")
        + "; grade again to apply it (certify grade)"
    )


@sitting.command("roster")
@click.argument("code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encoding", help="CSV encoding (default: UTF-8, else GB18030).")
@pass_settings
def sitting_roster(settings: Settings, code: str, file: Path, encoding: str | None) -> None:
    """Register the candidates of a roster (准考证号, 姓名, 身份证号, 试卷). 导入考生名册。"""
    report = import_roster(settings.engine(), code, file, settings.vault(), encoding=encoding)
    click.echo(
        f"{code}: 登记 registered {report.registered}, 新考生 new candidates {report.new_candidates}; "
        f"papers {', '.join(f'{f}={c}' for f, c in report.papers.items())} frozen"
    )


@click.command("sheets")
@click.argument("sitting_code", metavar="SITTING")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--replace", is_flag=True, help="Replace sheets already imported for these candidates."
)
@click.option("--encoding", help="CSV encoding (default: UTF-8, else GB18030).")
@pass_settings
def sheets_command(
    settings: Settings, sitting_code: str, file: Path, replace: bool, encoding: str | None
) -> None:
    """Import answer sheets (准考证号, 试卷, then one column per question). 导入答题卡。"""
    report = import_sheets(
        settings.engine(), sitting_code, file, replace=replace, encoding=encoding
    )
    click.echo(
        f"{sitting_code}: {report.sheets} 份答题卡 sheets, {report.responses} 个作答 responses"
        + (f", 替换 replaced {report.replaced}" if report.replaced else "")
    )


@click.group(cls=CertifyGroup)
def marks() -> None:
    """Blind marking of subjective questions. 主观题评分。"""


@marks.command("list")
@click.argument("sitting_code", metavar="SITTING")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_settings
def marks_list(settings: Settings, sitting_code: str, out: Path) -> None:
    """Write the anonymous marking list (script codes, questions, maxima, rubrics). 导出评卷清单。"""
    scripts = marking_list(settings.engine(), sitting_code)
    write_table(out, MARKING_LIST_HEADER, marking_list_rows(scripts), sheet="评卷", fmt="csv")
    click.echo(f"{len(scripts)} 份答卷 scripts -> {out}")


@marks.command("import")
@click.argument("sitting_code", metavar="SITTING")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_settings
def marks_import(settings: Settings, sitting_code: str, file: Path) -> None:
    """Import raters' marks (评分员, 评卷号, 分数); all or nothing. 导入评分。"""
    count = import_marks(settings.engine(), sitting_code, file)
    click.echo(f"{sitting_code}: {count} 个评分 marks stored")


@click.command("grade")
@click.argument("sitting_code", metavar="SITTING")
@pass_settings
def grade_command(settings: Settings, sitting_code: str) -> None:
    """Score the sitting and store each candidate's result. 阅卷评分。"""
    report = grade_sitting(settings.engine(), sitting_code)
    click.echo(f"{sitting_code}: 评定 graded {report.graded}, 合格 passed {report.passed}")
    if report.locked:
        click.echo(
            f"  成绩已锁定（已公示或已发证），已有成绩 {report.kept} 个未改动 / results locked "
            f"(pass list published or certificates issued): {report.kept} kept as stored"
        )
    if report.held:
        click.echo(
            f"  公示后新合格，暂不写入 held: {len(report.held)} ({', '.join(report.held[:10])}) — "
            "不在已公示的合格名单上，须重新公示后方可发证 / not on the published pass list: "
            "a new publication is needed before a certificate"
        )
    if report.pending:
        click.echo(
            f"  待评分 pending marks: {len(report.pending)} ({', '.join(report.pending[:10])})"
        )
    if report.no_sheet:
        click.echo(
            f"  无答题卡 no answer sheet: {len(report.no_sheet)} ({', '.join(report.no_sheet[:10])})"
        )


@click.command("regrade")
@click.argument("sitting_code", metavar="SITTING")
@click.option("--yes", is_flag=True, help="Apply without asking (after showing the diff).")
@pass_settings
def regrade_command(settings: Settings, sitting_code: str, yes: bool) -> None:
    """Re-score after a key correction or a replaced sheet: show who changes, apply only when
    confirmed; certificates of holders who no longer pass are suspended. 复核重评。"""
    engine = settings.engine()
    changes = regrade_diff(engine, sitting_code)
    if not changes:
        click.echo(f"{sitting_code}: 无变化 no result changes")
        return
    for c in changes:
        click.echo(_change_line(c))
    crossing = sum(c.crosses_pass_line for c in changes)
    click.echo(
        f"共 {len(changes)} 人变化 changes, {crossing} 人跨越合格线 cross the pass line, "
        f"{sum(c.suspends for c in changes)} 本证书将暂停 certificates to suspend"
    )
    if yes or click.confirm("应用这些变化？Apply these changes?", default=False):
        report = apply_regrade(engine, sitting_code, changes)
        click.echo(f"已更新 applied {report.changed} (recorded in the audit log)")
        if report.suspended:
            click.echo(f"已暂停证书 suspended: {', '.join(report.suspended)}")
    else:
        click.echo("未应用 not applied")


def _change_line(c: Change) -> str:
    """One candidate of a regrade's diff: part scores, pass/fail, certificate, what follows."""
    parts = "  ".join(f"{k} {c.before.get(k, 0):g}→{v:g}" for k, v in c.after.items())
    line = (
        f"{c.admission_no:<12} {parts}  {'合格' if c.passed_before else '不合格'}→"
        f"{'合格' if c.passed_after else '不合格'}"
    )
    if c.crosses_pass_line:
        line += "  ⚠ 跨越合格线 crosses the pass line"
    if c.certificate and c.certificate_status:
        status = c.certificate_status
        line += f"  证书 certificate {c.certificate} ({status.zh} {status})"
    if c.suspends:
        line += " → 将暂停待复核 will be suspended for review"
    elif c.passed_after and c.certificate_status == CertificateStatus.SUSPENDED:
        line += (
            f" — 是否恢复由人决定 a person decides: certify reinstate {c.certificate} --reason …"
        )
    if c.needs_publication:
        line += (
            "  不在已公示名单上，须重新公示后方可发证 / not on the published pass list: "
            "a new publication is needed before a certificate"
        )
    return line


@click.command("results")
@click.argument("sitting_code", metavar="SITTING")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write them as CSV."
)
@pass_settings
def results_command(settings: Settings, sitting_code: str, out: Path | None) -> None:
    """Each candidate's part scores and result (names masked). 成绩。"""
    rows = sitting_results(settings.engine(), sitting_code)
    for r in rows:
        parts = "  ".join(f"{k} {v:g}" for k, v in r.parts.items())
        click.echo(
            f"{r.admission_no:<12} {r.name:<6} {r.form:<3} {parts}  {'合格 pass' if r.passed else '不合格 fail'}"
        )
    if out is not None:
        names = list(rows[0].parts) if rows else []
        write_table(
            out,
            ["admission_no", "name_masked", "form", *names, "total", "passed"],
            (
                [
                    r.admission_no,
                    r.name,
                    r.form,
                    *(round(r.parts[n], 6) for n in names),
                    round(r.total, 6),
                    "yes" if r.passed else "no",
                ]
                for r in rows
            ),
            sheet="成绩",
            fmt="csv",
        )
        click.echo(f"-> {out}")


@click.command("stats")
@click.argument("sitting_code", metavar="SITTING")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True
)
@pass_settings
def stats_command(settings: Settings, sitting_code: str, out: Path) -> None:
    """Item statistics, form fairness and similarity: report PDF and per-question CSV. 试题分析。"""
    from certify.grading.report import render_exam_report

    engine = settings.engine()
    data = exam_report(engine, sitting_code)
    out.mkdir(parents=True, exist_ok=True)
    pdf = render_exam_report(data, out / f"{sitting_code}-统计分析.pdf")
    rows = export_responses(engine, sitting_code, out / f"{sitting_code}-作答明细.csv")
    print_stats(data)
    click.echo(
        f"  报告 report: {pdf}\n  作答明细 responses: {out / f'{sitting_code}-作答明细.csv'} ({rows} rows)"
    )


def print_stats(data: ExamReportData) -> None:
    """The statistics summary a person reads first."""
    click.echo(
        f"{data.sitting}: {data.candidates} 人 candidates, {data.passed} 合格 passed; "
        f"α (CIC) {data.cic:.1f}, ER {data.error_ratio:.1f}, SE {data.standard_error:.2f}"
    )
    for p in data.parts:
        click.echo(f"  {p.title}: mean {p.mean:.1f}, SD {p.sd:.1f}, passed {p.passed}")
    flagged = [i for i in data.items if i.flags]
    click.echo(f"  需复核试题 items to review: {len(flagged)} of {len(data.items)}")
    if data.fairness_p is not None:
        click.echo(
            f"  平行卷 forms: Welch F {data.fairness_statistic:.2f}, p {data.fairness_p:.3g}"
            + ("  ⚠ 差异过大 forms differ" if data.fairness_warning else "")
        )
    click.echo(
        f"  雷同卷 similar pairs (z ≥ {data.similarity_threshold:g}): {len(data.similar_pairs)}"
    )
