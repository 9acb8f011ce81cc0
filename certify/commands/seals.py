"""`certify papers seal`, `open` and `seals`: sealed papers (试卷保密) from the command line."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import click

from certify.commands.base import Settings, pass_settings
from certify.commands.delivery import cst, time_option
from certify.delivery.schedule import session_times
from question_bank.sealing import (
    Sealed,
    SealError,
    SealView,
    get_seal,
    list_seals,
    open_seal,
    seal_papers,
)


def _optional_time(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> datetime | None:
    return None if value is None else time_option(ctx, param, value)


@click.command("seal")
@click.argument("codes", nargs=-1, required=True, metavar="PAPER...")
@click.option(
    "--custodian",
    "custodians",
    multiple=True,
    required=True,
    help="A custodian (保管人) who keeps one share; give 2 to 16.",
)
@click.option("--threshold", type=int, required=True, help="How many custodians open it (k).")
@click.option("--session", "session_code", help="The exam session (场次) it opens and ends with.")
@click.option(
    "--opens",
    callback=_optional_time,
    help="Opening time, ISO 8601 with offset, without --session.",
)
@click.option(
    "--ends",
    callback=_optional_time,
    help="End of the session: keys and rubrics are held till then.",
)
@click.option(
    "--print-lead",
    type=int,
    default=0,
    show_default=True,
    help="Minutes before the opening time it may be opened to print (paper sittings).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for one share file per custodian (hand each over, then delete it).",
)
@pass_settings
def seal_command(
    settings: Settings,
    codes: tuple[str, ...],
    custodians: tuple[str, ...],
    threshold: int,
    session_code: str | None,
    opens: datetime | None,
    ends: datetime | None,
    print_lead: int,
    out: Path,
) -> None:
    """Seal papers until their session opens: k of the custodians' shares open them.
    密封试卷：开考前任何人都不能查看，须由 k 位保管人持份额开启。"""
    engine = settings.engine()
    if session_code:
        if opens or ends:
            raise click.UsageError("give --session or --opens/--ends, not both")
        opens, ends = session_times(engine, session_code)
    if opens is None or ends is None:
        raise click.UsageError("give --session, or both --opens and --ends")
    out.mkdir(parents=True, exist_ok=True)
    taken = [p for p in out.iterdir() if p.name.startswith("seal-")]
    if taken:
        raise click.UsageError(
            f"{out} already holds share files ({taken[0].name}): use a new folder"
        )
    written: list[tuple[str, Path]] = []
    try:
        sealed = seal_papers(
            engine,
            list(codes),
            custodians=list(custodians),
            threshold=threshold,
            opens_at=opens,
            ends_at=ends,
            print_lead_minutes=print_lead,
            # the share files are written before the seal commits: no seal without its shares
            deliver=lambda made: written.extend(write_shares(made, out)),
        )
    except BaseException:  # the commit failed after the files were written: no seal, no files
        for _, path in written:
            path.unlink(missing_ok=True)
        raise
    click.echo(
        f"已密封 sealed: seal {sealed.seal_id} — {', '.join(sealed.papers)}; "
        f"{sealed.versions} 道题 item versions, {sealed.documents} PDF"
    )
    click.echo(
        f"  开启 opens from {cst(sealed.opens_at)} (UTC+8)"
        + (
            f", 提前印制 print lead {sealed.print_lead_minutes} min"
            if sealed.print_lead_minutes
            else ""
        )
        + f"; 答案保密至 keys held until {cst(sealed.ends_at)}; "
        f"须 {sealed.threshold}/{len(sealed.shares)} 位保管人 custodians"
    )
    for n, (name, path) in enumerate(written, start=1):
        click.echo(f"  份额 share {n} → {name}: {path}")


def write_shares(sealed: Sealed, out: Path) -> list[tuple[str, Path]]:
    """One new file per custodian in ``out``, readable by its owner only from the moment it
    exists: (custodian, file). Raises OSError — with none of the files left behind — when one
    cannot be written or exists already."""
    written: list[tuple[str, Path]] = []
    try:
        for n, (name, share) in enumerate(sealed.shares, start=1):
            path = out / f"seal-{sealed.seal_id}-{n}.txt"
            text = (
                f"密封 seal {sealed.seal_id} · 保管人 custodian: {name}\n"
                f"试卷 papers: {', '.join(sealed.papers)}\n"
                f"开启 opens from: {cst(sealed.opens_at)} (UTC+8)\n\n{share}\n\n"
                "此份额只此一份，系统不保存；请妥善保管，开启时交出。\n"
                "This share exists only here — certify keeps no copy. Keep it safe; present it "
                "at the opening.\n"
            )
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            written.append((name, path))
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
    except OSError:
        for _, path in written:
            path.unlink(missing_ok=True)
        raise
    return written


@click.command("open")
@click.argument("seal_id", type=int, metavar="SEAL")
@click.option(
    "--share-file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A custodian's share file; without any, each share is asked for (hidden).",
)
@pass_settings
def open_command(settings: Settings, seal_id: int, files: tuple[Path, ...]) -> None:
    """Open a sealed paper with k custodians' shares, at or after its opening time.
    开启密封试卷（须 k 位保管人的份额，开考时间起）。"""
    engine = settings.engine()
    if files:
        shares = [share_in_file(path) for path in files]
    else:
        seal = get_seal(engine, seal_id)
        shares = [
            click.prompt(f"份额 share {n} of {seal.threshold}", hide_input=True)
            for n in range(1, seal.threshold + 1)
        ]
    opened = open_seal(engine, seal_id, shares)
    click.echo(
        f"已开启 opened: seal {opened.seal_id} — {', '.join(opened.papers)}, "
        f"保管人 custodians {', '.join(opened.custodians)}, {cst(opened.opened_at)} (UTC+8); "
        f"{opened.versions} 道题 item versions and {opened.documents} PDF restored"
    )


def share_in_file(path: Path) -> str:
    """The share line of a share file (the line that starts with S<digits>-)."""
    if path.stat().st_size > 8_192:
        raise SealError(f"{path}: 不是份额文件 / not a share file")
    for line in path.read_text("utf-8", errors="replace").splitlines():
        if line.strip()[:1] == "S" and line.strip()[1:2].isdigit():
            return line.strip()
    raise SealError(f"{path}: 文件中没有份额 / no share in the file")


@click.command("seals")
@pass_settings
def seals_command(settings: Settings) -> None:
    """Sealed papers and whether they are open. 密封试卷列表。"""
    for seal in list_seals(settings.engine()):
        click.echo(describe(seal))


def describe(seal: SealView) -> str:
    state = (
        f"已开启 opened {cst(seal.opened_at)} by {seal.opened_by} with {', '.join(seal.opened_with)}"
        if seal.opened_at
        else f"密封中 sealed, opens from {cst(seal.opens_at)}"
    )
    return (
        f"seal {seal.id:<4} {', '.join(seal.papers):<40} {seal.threshold}/{len(seal.custodians)} "
        f"{state}; 答案保密至 keys held until {cst(seal.ends_at)}"
    )
