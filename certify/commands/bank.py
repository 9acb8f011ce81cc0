"""The `certify bank` commands: import, export, template, synthetic items, summary."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import click

from certify.commands.base import (
    CertifyGroup,
    Settings,
    level_option,
    occupation_option,
    pass_settings,
)
from certify.grading.calibration import export_calibrations
from question_bank.bank import (
    BankSummary,
    bank_summary,
    export_bank,
    import_bank,
    import_items,
)
from question_bank.catalogue import restore_item, retire_item
from question_bank.formats import write_items
from question_bank.interchange.common import Placement, destinations, load_placement
from question_bank.interchange.files import FORMATS, read_any
from question_bank.synth import synth_items
from question_bank.template import write_template
from schemas.enums import ItemStatus, ItemType, Level
from schemas.reference import LEVEL_NAMES_ZH, find_occupation, get_occupation


@click.group(cls=CertifyGroup)
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
    help="Where refused rows are written with their reasons (with --skip-invalid the default "
    "is FILE.rejected.csv; without it, only when this is given).",
)
@click.option("--encoding", help="CSV/JSON text encoding (default: UTF-8, else GB18030).")
@click.option(
    "--max-size-mb", type=click.FloatRange(min=0, min_open=True), default=50, show_default=True
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the file's name.")
@click.option(
    "--occupation", help="GIFT/Moodle/QTI: occupation of questions the file does not place."
)
@click.option("--level", help="GIFT/Moodle/QTI: level of questions the file does not place.")
@click.option(
    "--area", help="GIFT/Moodle/QTI: knowledge area of questions the file does not place."
)
@click.option(
    "--map",
    "map_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GIFT/Moodle/QTI: YAML/JSON file mapping categories to knowledge areas.",
)
@click.option("--id-prefix", default="", help="Prefix of ids made for questions that have none.")
@click.option(
    "--dry-run", is_flag=True, help="Show where each category's questions would go; import nothing."
)
@pass_settings
def bank_import(
    settings: Settings,
    files: tuple[Path, ...],
    skip_invalid: bool,
    rejects: Path | None,
    encoding: str | None,
    max_size_mb: float,
    fmt: str | None,
    occupation: str | None,
    level: str | None,
    area: str | None,
    map_file: Path | None,
    id_prefix: str,
    dry_run: bool,
) -> None:
    """Import item files (CSV, XLSX, JSON, GIFT, Moodle XML, QTI 3.0). 导入题目。

    Every bad row is reported with its row and field; by default nothing is imported if any row
    is bad. Each file is its own transaction.
    """
    placement = load_placement(
        map_file, occupation=occupation, level=level, area=area, id_prefix=id_prefix
    )
    if dry_run:
        for path in files:
            _show_destinations(path, fmt, placement, encoding, int(max_size_mb * 2**20))
        return
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
            fmt=fmt,
            placement=placement,
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
        if report.notices:
            click.echo(
                f"  未导入的内容 {len(report.notices)} 处 / left behind: {len(report.notices)}",
                err=True,
            )
            for notice in report.notices:
                click.echo(f"  {notice}", err=True)


def _show_destinations(
    path: Path, fmt: str | None, placement: Placement, encoding: str | None, max_bytes: int
) -> None:
    rows = read_any(path, fmt=fmt, placement=placement, encoding=encoding, max_bytes=max_bytes)
    click.echo(f"{path.name}: {len(rows)} 题 questions (dry run, nothing imported)")
    for d in destinations(rows):
        target = "/".join(str(x) if x else "?" for x in (d.occupation, d.level, d.knowledge_area))
        click.echo(f"  {d.category or '(no category)'} -> {target}: {d.questions}")


@bank.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the file name.")
@click.option("--occupation", callback=occupation_option)
@click.option("--level", callback=level_option)
@click.option("--status", type=click.Choice([s.value for s in ItemStatus]))
@click.option(
    "--calibrations",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the items' IRT parameters (newest on each scale) to this CSV/XLSX.",
)
@pass_settings
def bank_export(
    settings: Settings,
    file: Path,
    fmt: str | None,
    occupation: str | None,
    level: Level | None,
    status: str | None,
    calibrations: Path | None,
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
    if calibrations is not None:
        rows = export_calibrations(
            settings.engine(),
            calibrations,
            occupation=occupation,
            level=level.value if level else None,
        )
        click.echo(f"已导出标定参数 exported {rows} calibrated item versions -> {calibrations}")


@bank.command("template")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def bank_template(file: Path) -> None:
    """Write a template item file (.csv, .xlsx or .json) to start from. 生成导入模板。"""
    count = write_template(file)
    click.echo(f"模板已写入 template written: {file} ({count} 道示例题 example items)")


@bank.command("synth")
@click.option("--occupation", callback=occupation_option, required=True)
@click.option("--level", callback=level_option, required=True)
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
def bank_show_summary(settings: Settings) -> None:
    """Items per occupation and level, by status, type and knowledge area. 题库概况。"""
    print_summary(bank_summary(settings.engine()))


@bank.command("retire")
@click.argument("items", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why (recorded in the audit log).")
@pass_settings
def bank_retire(settings: Settings, items: tuple[str, ...], reason: str) -> None:
    """Retire items: their newest versions go into no new paper. 停用题目。"""
    engine = settings.engine()
    for item_id in items:
        changed = retire_item(engine, item_id, reason, actor="cli")
        click.echo(f"{item_id} v{changed.version}: {changed.before} -> 已停用 retired")


@bank.command("restore")
@click.argument("items", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why (recorded in the audit log).")
@pass_settings
def bank_restore(settings: Settings, items: tuple[str, ...], reason: str) -> None:
    """Restore retired items: their newest versions become ready again. 恢复题目。"""
    engine = settings.engine()
    for item_id in items:
        changed = restore_item(engine, item_id, reason, actor="cli")
        click.echo(f"{item_id} v{changed.version}: 已恢复 ready")


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
    heads = [t.short_zh for t in ItemType]
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
        counts = (str(s.by_type[t.value]) for t in ItemType)
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
