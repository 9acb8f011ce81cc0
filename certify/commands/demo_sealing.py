"""The demo's sealed papers (试卷保密): tomorrow's intermediate papers sealed right after they
were assembled, under a key split among three custodians (any two open it), and what that
means today — nobody reads or prints them, an early opening is refused and audited, and the
database file holds none of their texts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import Engine

from certify.commands.seals import share_in_file, write_shares
from question_bank.papers import paper_view, write_paper_pdfs
from question_bank.sealing import PaperSealed, Sealed, SealError, open_seal, seal_papers
from schemas.reference import CST

CUSTODIANS = ["张主任（评价机构）", "李老师（命题组）", "王科长（人社局）"]
THRESHOLD = 2
SEALED_BLUEPRINT = "ai-intermediate-sample"
"""The sample blueprint whose papers the demo seals: no sitting of the demo uses them today."""


@dataclass(frozen=True)
class SealDemo:
    sealed: Sealed
    shares: list[Path]
    texts: list[str]
    """The papers' stems (each once), kept to show that the database file no longer holds them."""


def seal_tomorrows_papers(
    engine: Engine, codes: list[str], directory: Path, today: date
) -> SealDemo:
    """Seal ``codes`` until tomorrow's 09:00 session (Beijing time), the shares written to
    ``directory``/seal, one file per custodian."""
    texts = sorted({q.stem for code in codes for q in paper_view(engine, code).questions})
    opens = datetime.combine(today + timedelta(days=1), time(9, 0), tzinfo=CST)
    folder = directory / "seal"
    folder.mkdir(parents=True, exist_ok=True)
    shares: list[Path] = []
    sealed = seal_papers(
        engine,
        codes,
        custodians=CUSTODIANS,
        threshold=THRESHOLD,
        opens_at=opens,
        ends_at=opens + timedelta(hours=2),
        actor="demo",
        deliver=lambda made: shares.extend(path for _, path in write_shares(made, folder)),
    )
    return SealDemo(sealed, shares, texts)


def show_sealed(
    engine: Engine,
    seal: SealDemo,
    directory: Path,
    database: Path | None,
    echo: Callable[[str], None],
) -> None:
    """What a sealed paper means today: reading, printing and an early opening refused, the
    database file without its texts, and the command that opens it tomorrow."""
    sealed = seal.sealed
    first = sealed.papers[0]
    echo(
        f"16. 试卷保密 / sealed papers: seal {sealed.seal_id} — {', '.join(sealed.papers)}, "
        f"{sealed.versions} 道题 item versions; 明日 {sealed.opens_at.astimezone(CST):%m-%d %H:%M} "
        f"开考 opens; 保管人 custodians {'、'.join(CUSTODIANS)}, 任意 {THRESHOLD} 人开启 any "
        f"{THRESHOLD} open it; 份额 shares -> {seal.shares[0].parent}"
    )
    for attempt, step in (
        ("查看 read", lambda: paper_view(engine, first)),
        ("打印 print", lambda: write_paper_pdfs(engine, first, directory / "papers")),
    ):
        try:
            step()
        except PaperSealed as exc:
            echo(f"    {attempt}: 拒绝 refused — {str(exc).splitlines()[0]}")
    try:
        open_seal(engine, sealed.seal_id, [share_in_file(p) for p in seal.shares[:2]], actor="demo")
    except SealError as exc:
        echo(
            f"    今天开启 open today: 拒绝并记入审计日志 refused and audited — {str(exc).splitlines()[0]}"
        )
    if database is not None:
        stored = database.read_bytes()
        wal = database.with_name(database.name + "-wal")
        stored += wal.read_bytes() if wal.exists() else b""
        found = sum(t.encode() in stored for t in seal.texts)
        echo(
            f"    数据库文件中的题干 stems in the database file: {found}/{len(seal.texts)}; "
            f"{directory / 'papers'} 中没有这两份试卷的 PDF / no PDF of them"
        )
    where = f"--db sqlite:///{database} " if database is not None else ""
    echo(
        f"    明日开考时 at the opening: certify {where}papers open {sealed.seal_id} "
        f"--share-file {seal.shares[0]} --share-file {seal.shares[1]}"
    )
