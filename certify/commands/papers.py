"""The `certify papers` commands: check, assemble, list, render, freeze, export as QTI."""

from __future__ import annotations

import math
from pathlib import Path

import click

from certify.commands.base import (
    CertifyGroup,
    Settings,
    pass_settings,
)
from question_bank.blueprints import load_blueprint
from question_bank.paper_catalogue import paper_qti
from question_bank.papers import (
    AssemblyReport,
    assemble_papers,
    freeze_paper,
    list_papers,
    plan_for,
    write_paper_pdfs,
)


@click.group(cls=CertifyGroup)
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
        sealed = f"  seal {paper.seal_id}" if paper.seal_id is not None else ""
        click.echo(
            f"{paper.code:<32} {paper.status:<7} seed {paper.seed}  difficulty {means}{sealed}"
        )


@papers.command("render")
@click.argument("code")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True
)
@click.option("--candidate-seed", type=int, help="Render the shuffled copy of this candidate seed.")
@pass_settings
def papers_render(settings: Settings, code: str, out: Path, candidate_seed: int | None) -> None:
    """Write a paper's PDF and its answer key. 输出试卷与答案 PDF。"""
    written = write_paper_pdfs(settings.engine(), code, out, candidate_seed=candidate_seed)
    for path in written:
        click.echo(str(path))
    if len(written) == 1:
        click.echo(
            "答案 PDF 在考试结束前保密（密封试卷）/ the key is held until the session ends (sealed paper)"
        )


@papers.command("freeze")
@click.argument("code")
@pass_settings
def papers_freeze(settings: Settings, code: str) -> None:
    """Freeze a paper for use in a sitting: it can no longer be replaced. 锁定试卷。"""
    paper = freeze_paper(settings.engine(), code)
    click.echo(f"{paper.code}: {paper.status}")


@papers.command("export-qti")
@click.argument("code")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_settings
def papers_export_qti(settings: Settings, code: str, file: Path) -> None:
    """Write a frozen paper as a QTI 3.0 package (.zip): its items and a test in its order.
    导出试卷为 QTI 3.0 内容包。"""
    package = paper_qti(settings.engine(), code)
    file.write_bytes(package)
    click.echo(f"已导出 exported {code} -> {file} ({len(package):,} bytes)")


def print_information(
    report: AssemblyReport, theta: list[float], targets: list[list[float]]
) -> None:
    """Each form's test information beside its target at every ability, and the standard error
    of an ability estimate there (1/√information)."""
    click.echo(
        f"  测验信息量 test information (calibration {report.calibration}), "
        "achieved / target (standard error):"
    )
    click.echo("  " + " " * 32 + "".join(f"{f'θ={t:+.2f}':>22}" for t in theta))
    for form, target in zip(report.papers, targets, strict=True):
        achieved = form.information or []
        cells = "".join(
            f"{f'{a:.2f} / {g:.2f} ({1 / math.sqrt(a) if a > 0 else math.inf:.2f})':>22}"
            for a, g in zip(achieved, target, strict=True)
        )
        click.echo(f"  {form.code:<32}{cells}")
    click.echo(
        f"  最大相对偏差 objective (largest relative deviation from the target): "
        f"{report.objective:.4f}"
    )


def print_assembly(report: AssemblyReport) -> None:
    """The forms of one run with their mean difficulty, spread and overlap."""
    click.echo(
        f"组卷完成 / assembled {report.blueprint} run {report.run} (seed {report.seed}) "
        f"from {report.pool_size} ready items in {report.seconds:.2f} s"
    )
    for form in report.papers:
        means = ", ".join(f"{part} {mean:.4f}" for part, mean in form.means.items())
        click.echo(f"  {form.code:<32} {form.questions:>3} 题 questions  mean difficulty: {means}")
    if report.theta is not None and report.information_targets is not None:
        print_information(report, report.theta, report.information_targets)
    else:
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
