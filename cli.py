"""The ``certify`` command: parses arguments, calls the service functions, prints.

No business logic lives here. Every :class:`certify.errors.Error` is printed as its diagnosis
and ends the command with exit status 1; no traceback reaches a person.
"""

from __future__ import annotations

import csv
import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from certify import __version__, audit, db
from certify.errors import Error
from certify.grading.analysis import exam_report, export_responses
from certify.grading.marks import import_marks, marking_list
from certify.grading.service import apply_regrade, grade_sitting, regrade_diff, sitting_results
from certify.grading.sheets import import_sheets
from certify.identity import IdentityVault, load_vault
from certify.issuance import issue_certificates
from certify.revocation import change_status, revocation_list
from certify.signing.reader import read_token_text
from certify.signing.trust import (
    build_trust_list,
    create_key,
    list_keys,
    load_trust_list,
    rotate_key,
)
from certify.signing.verify import load_revocation_list, verify_token
from certify.sittings import create_sitting, import_roster
from question_bank.bank import (
    BankSummary,
    bank_items,
    export_bank,
    import_bank,
    import_items,
    summarise,
)
from question_bank.blueprints import load_blueprint
from question_bank.formats import FORMATS, write_items
from question_bank.papers import (
    AssemblyReport,
    assemble_papers,
    freeze_paper,
    list_papers,
    plan_for,
    write_paper_pdfs,
)
from question_bank.synth import synth_items
from question_bank.template import write_template
from schemas.enums import ItemStatus, Level
from schemas.reference import (
    LEVEL_NAMES_ZH,
    find_level,
    find_occupation,
    get_occupation,
    occupations,
)
from schemas.results import ExamReportData


@dataclass
class Settings:
    database: str | None

    def engine(self, *, migrated: bool = True) -> Engine:
        engine = db.make_engine(db.database_url(self.database))
        if migrated:
            db.require_current(engine)
        return engine

    def vault(self, *, create: bool = False) -> IdentityVault:
        """The ID-number secret: beside a SQLite file, else in the working folder."""
        url = make_url(db.database_url(self.database))
        folder = (
            Path(url.database).parent
            if url.get_backend_name() == "sqlite" and url.database
            else None
        )
        return load_vault(folder, create=create)


class CertifyGroup(click.Group):
    """A click group that turns certify's errors into their diagnosis and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Error as exc:
            click.echo(exc.diagnostics(), err=True)
            ctx.exit(1)


@click.group(cls=CertifyGroup)
@click.version_option(__version__, prog_name="certify")
@click.option(
    "--db",
    "database",
    envvar=db.ENV_URL,
    metavar="URL",
    help="Database URL (default: ./certify.db; env CERTIFY_DATABASE_URL). 数据库地址。",
)
@click.pass_context
def cli(ctx: click.Context, database: str | None) -> None:
    """certify: 数字技术工程师 exam and certification engine / 考核与发证引擎."""
    ctx.obj = Settings(database)


pass_settings = click.make_pass_decorator(Settings)


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


def _level(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Level | None:
    if value is None:
        return None
    level = find_level(value)
    if level is None:
        raise click.BadParameter("use junior/初级, intermediate/中级 or senior/高级")
    return level


def _occupation(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    occ = find_occupation(value)
    if occ is None:
        raise click.BadParameter("known: " + ", ".join(o.slug for o in occupations()))
    return occ.slug


@cli.group(cls=CertifyGroup)
def bank() -> None:
    """Question bank: import, export, template, synthetic items, summary. 考核题库。"""


@bank.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the good rows; write the bad ones to a rejects file.",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where --skip-invalid writes refused rows (default FILE.rejected.csv).",
)
@click.option("--encoding", help="CSV/JSON text encoding (default: UTF-8, else GB18030).")
@click.option(
    "--max-size-mb", type=click.FloatRange(min=0, min_open=True), default=50, show_default=True
)
@pass_settings
def bank_import(
    settings: Settings,
    files: tuple[Path, ...],
    skip_invalid: bool,
    rejects: Path | None,
    encoding: str | None,
    max_size_mb: float,
) -> None:
    """Import item files (CSV, XLSX, JSON). 导入题目。

    Every bad row is reported with its row and field; by default nothing is imported if any row
    is bad. Each file is its own transaction.
    """
    engine = settings.engine()
    for path in files:
        report = import_bank(
            engine,
            path,
            skip_invalid=skip_invalid,
            rejects_path=rejects,
            encoding=encoding,
            max_bytes=int(max_size_mb * 2**20),
            progress=None,
        )
        click.echo(
            f"{path.name}: {report.rows} 行 rows — 新增 created {report.created}, "
            f"新版本 new versions {report.new_versions}, 状态变更 status changed "
            f"{report.status_changed}, 未变 unchanged {report.unchanged}"
        )
        if report.problems:
            click.echo(
                f"  跳过 {report.rejected_rows} 行 / skipped {report.rejected_rows} row(s); "
                f"原因见 reasons in {report.rejects_file}",
                err=True,
            )
            for problem in report.problems:
                click.echo(f"  {problem}", err=True)


@bank.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the file name.")
@click.option("--occupation", callback=_occupation)
@click.option("--level", callback=_level)
@click.option("--status", type=click.Choice([s.value for s in ItemStatus]))
@pass_settings
def bank_export(
    settings: Settings,
    file: Path,
    fmt: str | None,
    occupation: str | None,
    level: Level | None,
    status: str | None,
) -> None:
    """Export the newest version of each item. 导出题目。"""
    count = export_bank(
        settings.engine(),
        file,
        fmt,
        occupation=occupation,
        level=level,
        status=ItemStatus(status) if status else None,
    )
    click.echo(f"已导出 exported {count} 题 items -> {file}")


@bank.command("template")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def bank_template(file: Path) -> None:
    """Write a template item file (.csv, .xlsx or .json) to start from. 生成导入模板。"""
    count = write_template(file)
    click.echo(f"模板已写入 template written: {file} ({count} 道示例题 example items)")


@bank.command("synth")
@click.option("--occupation", callback=_occupation, required=True)
@click.option("--level", callback=_level, required=True)
@click.option("--count", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a file instead of importing into the database.",
)
@pass_settings
def bank_synth(
    settings: Settings, occupation: str, level: Level, count: int, seed: int, out: Path | None
) -> None:
    """Generate SYNTHETIC items for benchmarks and scale tests (never for exams). 合成测试题。"""
    items = synth_items(get_occupation(occupation), level, count, seed)
    if out is not None:
        write_items(out, items)
        click.echo(f"已写入合成题 synthetic items: {count} -> {out}")
        return
    report = import_items(
        settings.engine(), f"synth:{occupation}/{level.value}/seed={seed}", list(items)
    )
    click.echo(
        f"合成题已导入 synthetic items imported: 新增 created {report.created}, "
        f"未变 unchanged {report.unchanged}"
    )


@bank.command("summary")
@pass_settings
def bank_summary(settings: Settings) -> None:
    """Items per occupation and level, by status, type and knowledge area. 题库概况。"""
    print_summary(summarise(bank_items(settings.engine())))


@cli.group(cls=CertifyGroup)
def papers() -> None:
    """Blueprints and papers: check, assemble, render, freeze. 组卷。"""


@papers.command("check")
@click.argument("blueprint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_settings
def papers_check(settings: Settings, blueprint: Path) -> None:
    """Check a blueprint against the bank without assembling. 检查蓝图是否可满足。"""
    bp = load_blueprint(blueprint)
    plan = plan_for(settings.engine(), bp)
    click.echo(f"蓝图可满足 / the blueprint can be met: {bp.code} — {len(plan.pool)} ready items")
    for n, part in enumerate(bp.parts):
        cells = [c for c in plan.cells if c.part == n]
        click.echo(
            f"  {part.title} ({part.part}): {part.count} 题 questions in {len(cells)} cells, "
            f"target difficulty {plan.targets[n]:.3f}"
        )
        for c in cells:
            click.echo(f"    {c.label:<22} {c.count:>3} / {len(c.pool):>4} available")


@papers.command("assemble")
@click.argument("blueprint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--seed", type=int, help="Override the blueprint's seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write each form's paper and answer-key PDFs to this folder.",
)
@pass_settings
def papers_assemble(
    settings: Settings, blueprint: Path, seed: int | None, out: Path | None
) -> None:
    """Assemble the parallel forms of a blueprint and store them. 组卷。"""
    engine = settings.engine()
    report = assemble_papers(engine, load_blueprint(blueprint), seed=seed)
    print_assembly(report)
    if out is not None:
        for form in report.papers:
            for path in write_paper_pdfs(engine, form.code, out):
                click.echo(f"  {path}")


@papers.command("list")
@pass_settings
def papers_list(settings: Settings) -> None:
    """Stored papers with their status. 试卷列表。"""
    for paper in list_papers(settings.engine()):
        means = ", ".join(f"{k} {v:.3f}" for k, v in paper.stats.get("means", {}).items())
        click.echo(f"{paper.code:<32} {paper.status:<7} seed {paper.seed}  difficulty {means}")


@papers.command("render")
@click.argument("code")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True
)
@click.option("--candidate-seed", type=int, help="Render the shuffled copy of this candidate seed.")
@pass_settings
def papers_render(settings: Settings, code: str, out: Path, candidate_seed: int | None) -> None:
    """Write a paper's PDF and its answer key. 输出试卷与答案 PDF。"""
    for path in write_paper_pdfs(settings.engine(), code, out, candidate_seed=candidate_seed):
        click.echo(str(path))


@papers.command("freeze")
@click.argument("code")
@pass_settings
def papers_freeze(settings: Settings, code: str) -> None:
    """Freeze a paper for use in a sitting: it can no longer be replaced. 锁定试卷。"""
    paper = freeze_paper(settings.engine(), code)
    click.echo(f"{paper.code}: {paper.status}")


def print_assembly(report: AssemblyReport) -> None:
    """The forms of one run with their mean difficulty, spread and overlap."""
    click.echo(
        f"组卷完成 / assembled {report.blueprint} run {report.run} (seed {report.seed}) "
        f"from {report.pool_size} ready items in {report.seconds:.2f} s"
    )
    for form in report.papers:
        means = ", ".join(f"{part} {mean:.4f}" for part, mean in form.means.items())
        click.echo(f"  {form.code:<32} {form.questions:>3} 题 questions  mean difficulty: {means}")
    targets = ", ".join(f"{part} {t:.4f}" for part, t in report.targets.items())
    spread = ", ".join(f"{part} {s:.4f}" for part, s in report.spread.items())
    click.echo(
        f"  目标 target: {targets}; 份间极差 spread: {spread}; "
        f"最大偏差 objective: {report.objective:.4f}"
    )
    click.echo(
        f"  最大两两重叠 max overlap: {report.max_overlap_seen}; "
        f"单题最多使用 max uses: {report.max_uses_seen}"
    )


@cli.group(cls=CertifyGroup)
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


@cli.command("sheets")
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


@cli.group(cls=CertifyGroup)
def marks() -> None:
    """Blind marking of subjective questions. 主观题评分。"""


@marks.command("list")
@click.argument("sitting_code", metavar="SITTING")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_settings
def marks_list(settings: Settings, sitting_code: str, out: Path) -> None:
    """Write the anonymous marking list (script codes, questions, maxima, rubrics). 导出评卷清单。"""
    scripts = marking_list(settings.engine(), sitting_code)
    with out.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(
            ["script", "question", "item_id", "maximum", "stem", "rubric", "rater", "mark"]
        )
        for s in scripts:
            writer.writerow(
                [s.code, s.question, s.item_id, f"{s.maximum:g}", s.stem, s.rubric, "", ""]
            )
    click.echo(f"{len(scripts)} 份答卷 scripts -> {out}")


@marks.command("import")
@click.argument("sitting_code", metavar="SITTING")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_settings
def marks_import(settings: Settings, sitting_code: str, file: Path) -> None:
    """Import raters' marks (评分员, 评卷号, 分数); all or nothing. 导入评分。"""
    count = import_marks(settings.engine(), sitting_code, file)
    click.echo(f"{sitting_code}: {count} 个评分 marks stored")


@cli.command("grade")
@click.argument("sitting_code", metavar="SITTING")
@pass_settings
def grade_command(settings: Settings, sitting_code: str) -> None:
    """Score the sitting and store each candidate's result. 阅卷评分。"""
    report = grade_sitting(settings.engine(), sitting_code)
    click.echo(f"{sitting_code}: 评定 graded {report.graded}, 合格 passed {report.passed}")
    if report.pending:
        click.echo(
            f"  待评分 pending marks: {len(report.pending)} ({', '.join(report.pending[:10])})"
        )
    if report.no_sheet:
        click.echo(
            f"  无答题卡 no answer sheet: {len(report.no_sheet)} ({', '.join(report.no_sheet[:10])})"
        )


@cli.command("regrade")
@click.argument("sitting_code", metavar="SITTING")
@click.option("--yes", is_flag=True, help="Apply without asking (after showing the diff).")
@pass_settings
def regrade_command(settings: Settings, sitting_code: str, yes: bool) -> None:
    """Re-score after a key correction: show who changes, apply only when confirmed. 复核重评。"""
    engine = settings.engine()
    changes = regrade_diff(engine, sitting_code)
    if not changes:
        click.echo(f"{sitting_code}: 无变化 no result changes")
        return
    for c in changes:
        parts = "  ".join(f"{k} {c.before.get(k, 0):g}→{v:g}" for k, v in c.after.items())
        mark = "  ⚠ 跨越合格线 crosses the pass line" if c.crosses_pass_line else ""
        click.echo(
            f"{c.admission_no:<12} {parts}  {'合格' if c.passed_before else '不合格'}→"
            f"{'合格' if c.passed_after else '不合格'}{mark}"
        )
    crossing = sum(c.crosses_pass_line for c in changes)
    click.echo(f"共 {len(changes)} 人变化 changes, {crossing} 人跨越合格线 cross the pass line")
    if yes or click.confirm("应用这些变化？Apply these changes?", default=False):
        count = apply_regrade(engine, sitting_code, changes)
        click.echo(f"已更新 applied {count} (recorded in the audit log)")
    else:
        click.echo("未应用 not applied")


@cli.command("results")
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
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            names = list(rows[0].parts) if rows else []
            writer.writerow(["admission_no", "name_masked", "form", *names, "total", "passed"])
            for r in rows:
                writer.writerow(
                    [
                        r.admission_no,
                        r.name,
                        r.form,
                        *(f"{r.parts[n]:g}" for n in names),
                        f"{r.total:g}",
                        "yes" if r.passed else "no",
                    ]
                )
        click.echo(f"-> {out}")


@cli.command("stats")
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


PASSPHRASE_ENV = "CERTIFY_KEY_PASSPHRASE"


def _passphrase(confirm: bool = False) -> str:
    """The key passphrase: from the environment, else asked for (never echoed or logged)."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    answer: str = click.prompt(
        "密钥口令 Key passphrase", hide_input=True, confirmation_prompt=confirm
    )
    return answer


@cli.group(cls=CertifyGroup)
def keys() -> None:
    """Signing keys: the provincial root and each institution's. 签名密钥。"""


@keys.command("root")
@click.option("--issuer", required=True, help="Code of the provincial authority, e.g. SD-HRSS.")
@click.option("--name", required=True, help="Its name, e.g. 山东省人力资源和社会保障厅.")
@pass_settings
def keys_root(settings: Settings, issuer: str, name: str) -> None:
    """Create the root key that signs the trust and revocation lists. 创建根密钥。"""
    row = create_key(
        settings.engine(), role="root", issuer=issuer, name=name, passphrase=_passphrase(True)
    )
    click.echo(f"根密钥 root key {row.kid} for {issuer}")


@keys.command("create")
@click.argument("issuer")
@click.option("--name", required=True, help="Institution name (评价机构).")
@click.option(
    "--occupations", default="", help="Comma-separated occupations it may certify (empty: all)."
)
@click.option("--levels", default="", help="Comma-separated levels (empty: all).")
@click.option("--kinds", default="level", show_default=True, help="level, training or both.")
@pass_settings
def keys_create(
    settings: Settings, issuer: str, name: str, occupations: str, levels: str, kinds: str
) -> None:
    """Create an institution's signing key with its scope. 创建机构签名密钥。"""
    kind_codes = {"level": 1, "training": 2}
    scope: dict[str, list[Any]] = {
        "kinds": [kind_codes[k.strip()] for k in kinds.split(",") if k.strip()],
        "occupations": [o.strip() for o in occupations.split(",") if o.strip()],
        "levels": [lv.strip() for lv in levels.split(",") if lv.strip()],
    }
    row = create_key(
        settings.engine(),
        role="institution",
        issuer=issuer,
        name=name,
        passphrase=_passphrase(True),
        scope=scope,
    )
    click.echo(f"签名密钥 signing key {row.kid} for {issuer}")


@keys.command("rotate")
@click.argument("issuer")
@pass_settings
def keys_rotate(settings: Settings, issuer: str) -> None:
    """Make a new key and retire the old one (it stays published). 轮换密钥。"""
    row = rotate_key(settings.engine(), issuer, _passphrase(True))
    click.echo(f"新密钥 new key {row.kid} for {issuer}; the old key is retired but still published")


@keys.command("list")
@pass_settings
def keys_list(settings: Settings) -> None:
    """Every key, active or retired. 密钥列表。"""
    for k in list_keys(settings.engine()):
        state = "retired" if k.retired_at else "active"
        click.echo(f"{k.kid}  {k.role:<11} {k.issuer:<14} {state:<7} {k.scope.get('name', '')}")


@cli.command("trust-list")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_settings
def trust_list_command(settings: Settings, out: Path) -> None:
    """Write the root-signed trust list (every key, its validity and scope). 导出信任列表。"""
    document = build_trust_list(settings.engine(), _passphrase())
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    click.echo(
        f"信任列表 trust list ({len(document['keys'])} keys, root {document['root_kid']}) -> {out}"
    )


@cli.command("issue")
@click.argument("sitting_code", metavar="SITTING")
@click.option("--issuer", required=True, help="The institution whose key signs.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--site",
    default="https://verify.example.cn",
    show_default=True,
    help="Verification site in the QR.",
)
@pass_settings
def issue_command(settings: Settings, sitting_code: str, issuer: str, out: Path, site: str) -> None:
    """Issue certificates to every passed candidate without one; safe to rerun. 发证。"""
    report = issue_certificates(
        settings.engine(),
        sitting_code,
        issuer=issuer,
        passphrase=_passphrase(),
        out=out,
        site=site,
        progress=None,
    )
    click.echo(
        f"{sitting_code}: 新发 issued {len(report.issued)}, 已有 already {report.already}"
        + (f", 补齐 PDF restored {report.pdfs_restored}" if report.pdfs_restored else "")
        + f" -> {out}"
    )


def _status_command(action: str, help_text: str) -> None:
    @cli.command(action, help=help_text)
    @click.argument("serial")
    @click.option("--reason", required=True, help="Why (recorded and published).")
    @pass_settings
    def command(settings: Settings, serial: str, reason: str) -> None:
        cert = change_status(settings.engine(), serial, action, reason)
        click.echo(f"{cert.serial}: {cert.status}")


_status_command("revoke", "Revoke a certificate for good, with a reason. 吊销证书。")
_status_command("suspend", "Suspend a certificate until reinstated, with a reason. 暂停证书。")
_status_command("reinstate", "Reinstate a suspended certificate, with a reason. 恢复证书。")


@cli.command("revocations")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--max-age-hours", type=float, default=24, show_default=True)
@pass_settings
def revocations_command(settings: Settings, out: Path, max_age_hours: float) -> None:
    """Write the root-signed revocation list for offline verifiers. 导出吊销列表。"""
    document = revocation_list(settings.engine(), _passphrase(), max_age_hours=max_age_hours)
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    click.echo(f"吊销列表 revocation list ({len(document['entries'])} entries) -> {out}")


@cli.command("verify")
@click.argument("given", metavar="TOKEN|URL|PNG|PDF")
@click.option(
    "--trust-list",
    "trust_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
)
@click.option("--revocations", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--root-kid", help="Pin the root key (kid) the trust list must be signed by.")
def verify_command(
    given: str, trust_file: Path, revocations: Path | None, root_kid: str | None
) -> None:
    """Verify a certificate offline; exit 1 on any failed check. 离线验证证书。"""
    trust = load_trust_list(_json_file(trust_file), pinned_root_kid=root_kid)
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
    verdicts = {
        "genuine": "真实有效 genuine and valid",
        "revoked": "已吊销 revoked",
        "suspended": "已暂停 suspended",
        "expired": "已过期 expired",
        "not_genuine": "非真实证书 not genuine",
    }
    click.echo(f"结论 verdict: {verdicts[report.verdict]}")
    if not report.ok:
        raise SystemExit(1)


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Error(f"无法读取 {path} / cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise Error(f"{path} 不是 JSON 对象 / {path} is not a JSON object")
    return data


@cli.command()
@click.option("--occupation", callback=_occupation, help="Show one occupation in full.")
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


@cli.group("audit", cls=CertifyGroup)
def audit_group() -> None:
    """The hash-chained audit log. 审计日志。"""


@audit_group.command("verify")
@pass_settings
def audit_verify(settings: Settings) -> None:
    """Recompute the chain; exit 1 at the first edited entry. 校验审计链。"""
    with db.transaction(settings.engine()) as session:
        report = audit.verify_chain(session)
    if report.ok:
        click.echo(f"审计链完整 / audit chain intact: {report.entries} entries")
        return
    click.echo(
        f"审计链在第 {report.broken_at} 条处断开 / audit chain broken at entry {report.broken_at}: "
        f"{report.reason}",
        err=True,
    )
    raise SystemExit(1)


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("certify-demo"),
    show_default=True,
    help="Folder the demo works in.",
)
def demo(directory: Path) -> None:
    """Run the pipeline end to end on SQLite in a fresh folder. 演示完整流程。"""
    from certify.demo import run_demo

    result = run_demo(directory, echo=click.echo)
    click.echo("")
    print_summary(result.summary)
    click.echo("")
    click.echo(f"数据库 database: {result.database}")
    click.echo(f"试卷 papers:     {result.pdfs[0].parent}")
    click.echo(f"导出 export:     {result.export}")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _cells(*cells: tuple[str, int]) -> str:
    """Cells padded to display widths (CJK counts double); negative width aligns right."""
    out = []
    for text, width in cells:
        pad = " " * max(abs(width) - _width(text), 0)
        out.append(pad + text if width < 0 else text + pad)
    return " ".join(out)


def print_summary(summary: list[BankSummary]) -> None:
    """The bank per occupation and level: ready items by type, knowledge areas covered."""
    click.echo("题库概况 / bank summary: items; ready items by type; knowledge areas covered")
    heads = ("单选", "多选", "判断", "填空", "主观")
    click.echo(
        _cells(
            ("职业 occupation", 24),
            ("等级", 4),
            ("题数", -5),
            *((h, -5) for h in heads),
            ("领域", -6),
        )
    )
    for s in summary:
        occ = find_occupation(s.occupation)
        covered = len(s.by_area) - len(s.missing_areas)
        counts = (
            str(s.by_type[t]) for t in ("single", "multiple", "true_false", "fill", "subjective")
        )
        click.echo(
            _cells(
                (f"{occ.short_zh if occ else ''} {s.occupation}", 24),
                (LEVEL_NAMES_ZH[s.level], 4),
                (str(s.items), -5),
                *((c, -5) for c in counts),
                (f"{covered}/{len(s.by_area)}", -6),
            )
        )
    if not summary:
        click.echo("（题库为空 / the bank is empty）")


def main() -> None:
    cli(prog_name="certify")


if __name__ == "__main__":
    main()
