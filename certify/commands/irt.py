"""The `certify irt` commands: calibrate the items of sittings, show the calibrations kept."""

from __future__ import annotations

from pathlib import Path

import click

from certify.commands.base import (
    CertifyGroup,
    Settings,
    level_option,
    occupation_option,
    pass_settings,
)
from certify.grading.calibration import (
    DICHOTOMOUS,
    CalibratedItem,
    calibrate_sittings,
    latest_calibrations,
)
from certify.grading.form_equating import METHODS as EQUATING_METHODS
from certify.grading.form_equating import decisions, equate_sitting
from certify.grading.irt import SLOPE_BOUNDS
from certify.grading.linking import METHODS
from certify.infra.tabular import write_table
from schemas.enums import Level


@click.group(cls=CertifyGroup)
def irt() -> None:
    """Item response theory: calibrate items from sittings, show calibrations. 项目反应理论。"""


@irt.command("calibrate")
@click.argument("sittings", nargs=-1, required=True)
@click.option(
    "--dichotomous",
    type=click.Choice(DICHOTOMOUS),
    default="2pl",
    show_default=True,
    help="Model for items scored right or wrong (items scored in steps: GPCM).",
)
@click.option(
    "--link",
    "link_method",
    type=click.Choice(METHODS),
    default="stocking-lord",
    show_default=True,
    help="How a later run is put on the base scale through the common items.",
)
@click.option(
    "--base",
    type=int,
    help="The base run to link to (default: the first of this occupation and level).",
)
@pass_settings
def calibrate_command(
    settings: Settings,
    sittings: tuple[str, ...],
    dichotomous: str,
    link_method: str,
    base: int | None,
) -> None:
    """Calibrate the graded answers of SITTINGS (one occupation and level) and keep the run on
    the base scale. 标定试题参数。"""
    summary = calibrate_sittings(
        settings.engine(),
        sittings,
        dichotomous=dichotomous,
        link_method=link_method,
        base=base,
        actor="cli",
    )
    click.echo(
        f"标定 run {summary.run_id}: {summary.occupation} {summary.level}, "
        f"{', '.join(summary.sittings)}; {summary.candidates} 人 candidates, "
        f"{len(summary.items)} 题 items, log L {summary.log_likelihood:.1f}, "
        f"{summary.iterations} EM iterations"
    )
    if summary.linking is None:
        click.echo("  基准量尺 base scale: this run (the first of its occupation and level)")
    else:
        found = summary.linking
        click.echo(
            f"  链接 linked to run {summary.base_run_id} by {found.method} through "
            f"{summary.common} common items: θ_base = {found.A:.4f}·θ + {found.B:+.4f}"
        )
        if summary.drifting:
            click.echo(
                f"  ⚠ 漂移 drifting (curve moved > 0.15): {', '.join(summary.drifting)} — consider "
                "leaving them out of the anchor"
            )
    print_items(summary.items)


@irt.command("show")
@click.option("--occupation", callback=occupation_option, help="Only this occupation.")
@click.option("--level", callback=level_option, help="Only this level.")
@pass_settings
def show_command(settings: Settings, occupation: str | None, level: Level | None) -> None:
    """The newest calibration of each occupation and level, item by item. 查看标定结果。"""
    found = latest_calibrations(
        settings.engine(), occupation=occupation, level=level.value if level else None
    )
    if not found:
        click.echo("没有标定结果 no calibrations yet (certify irt calibrate SITTING…)")
        return
    for run, items in found:
        click.echo(
            f"run {run.id} ({run.created_at:%Y-%m-%d %H:%M}): {run.occupation} {run.level}, "
            f"{', '.join(run.sittings)}; {run.candidates} candidates"
        )
        print_items(items)


@irt.command("equate")
@click.argument("sitting_code", metavar="SITTING")
@click.option(
    "--method",
    type=click.Choice(EQUATING_METHODS),
    default="equipercentile",
    show_default=True,
    help="equipercentile: forms handed out in rotation (random groups); the others use the "
    "items a form shares with the reference form as the anchor (common-item design).",
)
@click.option("--reference", help="The reference form (default: the first, e.g. A).")
@click.option(
    "--smoothing",
    type=click.IntRange(0, 8),
    default=4,
    show_default=True,
    help="Log-linear presmoothing degree (moments kept); 0 for none.",
)
@click.option(
    "--replications",
    type=click.IntRange(0, 5000),
    default=200,
    show_default=True,
    help="Bootstrap replications for the standard errors (0: none).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--table", "show_table", is_flag=True, help="Print every conversion table.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the conversion tables to this CSV/XLSX (part, form, score, equivalent, SE).",
)
@pass_settings
def equate_command(
    settings: Settings,
    sitting_code: str,
    method: str,
    reference: str | None,
    smoothing: int,
    replications: int,
    seed: int,
    show_table: bool,
    out: Path | None,
) -> None:
    """Equate the sitting's forms to its reference form: each form's raw score equivalent to
    the reference form's pass mark, part by part, kept as a run. 分数等值。"""
    engine = settings.engine()
    summary = equate_sitting(
        engine,
        sitting_code,
        method=method,
        reference=reference,
        smoothing=smoothing,
        replications=replications,
        seed=seed,
        actor="cli",
    )
    click.echo(
        f"等值 run {summary.run_id}: {summary.sitting} by {summary.method}, reference form "
        f"{summary.reference_form}, {summary.candidates} 人 candidates"
    )
    click.echo(
        f"  {'part':<12} {'form':<5} {'n':>5} {'common':>6} {'pass mark':>9} {'on form':>8} "
        f"{'± SE':>6}"
    )
    for f in summary.forms:
        se = "—" if f.se is None else f"{f.se:.2f}"
        click.echo(
            f"  {f.part:<12} {f.form:<5} {f.candidates:5d} {f.common_items:6d} "
            f"{f.pass_mark:9.1f} {f.equivalent:8.2f} {se:>6}"
        )
        if show_table:
            for x, e, s in f.table:
                click.echo(f"      {x:5.0f} → {e:7.3f}" + ("" if s is None else f" ± {s:.3f}"))
    if out is not None:
        write_table(
            out,
            ("part", "form", "score", f"equivalent_on_{summary.reference_form}", "se"),
            [
                (f.part, f.form, x, round(e, 4), "" if s is None else round(s, 4))
                for f in summary.forms
                for x, e, s in f.table
            ],
            sheet="conversions",
        )
        click.echo(f"  换算表 conversion tables -> {out}")
    found = decisions(engine, sitting_code, scored=summary.scored)
    if found is not None:
        click.echo(
            f"  判定一致 decision consistency: {found.candidates - found.differ} of "
            f"{found.candidates} the same under raw and equated pass marks; raw only "
            f"{len(found.raw_only)}, equated only {len(found.equated_only)} (pass rule in "
            f"force: {found.rule})"
        )


def print_items(items: list[CalibratedItem]) -> None:
    click.echo(f"  {'item':<22} {'model':<5} {'a':>6} {'b':>16} {'c':>5} {'n':>6} {'fit p':>7}")
    for it in items:
        b = " ".join(f"{v:+.2f}" for v in it.b)
        p = "—" if it.fit_p is None else f"{it.fit_p:.3f}"
        flag = "  ⚠ 拟合不良 misfit" if it.misfit else ""
        if it.a <= SLOPE_BOUNDS[0] * 1.01:
            flag += "  ⚠ 无区分度 does not discriminate"
        click.echo(
            f"  {it.label:<22} {it.model:<5} {it.a:6.2f} {b:>16} {it.c:5.2f} {it.answers:6d} "
            f"{p:>7}{flag}"
        )
    misfit = sum(it.misfit for it in items)
    click.echo(f"  拟合不良 misfitting items (S-X², p < 0.01): {misfit} of {len(items)}")
