"""Benchmark: generating, writing and importing a 20,000-item bank for one occupation-level.

Baseline, run in the same process: a straightforward ORM import (look up each item, add the
entry, flush, add the version, flush) on a sample, scaled to the full size.

Then the same items through each other system's format: exported from the bank
(``certify bank export --format moodle|gift|qti``) and imported into a fresh database
(``certify bank import --format …``), timed against the CSV import (goal: no format over 2×).

    python3 bench/bank_import.py [--count 20000] [--repeat 3] [--postgres URL] [--quick]

Prints one line per figure, then one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine
from sqlmodel import Session, select

from certify.infra import db
from question_bank.bank import bank_items, export_bank, import_bank
from question_bank.formats import write_items
from question_bank.synth import synth_items
from schemas.enums import Level
from schemas.items import ItemData
from schemas.reference import get_occupation
from schemas.tables import Item, ItemVersion, utcnow

FOREIGN = {"moodle": "xml", "gift": "gift", "qti": "zip"}
"""Each other system's format with its file suffix."""


def timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def fresh_engine(folder: Path, n: int, pg: str | None):  # type: ignore[no-untyped-def]
    if pg:
        engine = db.make_engine(db.database_url(pg))
        db.downgrade(engine, "base") if db.current_revision(engine) else None
    else:
        engine = db.make_engine(f"sqlite:///{folder / f'bench{n}.db'}")
    db.upgrade(engine)
    return engine


def naive_import(engine, items: list[ItemData]) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        for data in items:
            if session.exec(select(Item).where(Item.code == data.item_id)).first():
                continue
            entry = Item(code=data.item_id, occupation=data.occupation, level=data.level.value)
            session.add(entry)
            session.flush()
            assert entry.id is not None
            session.add(
                ItemVersion(
                    item_id=entry.id,
                    version=1,
                    status=data.status.value,
                    type=data.type.value,
                    knowledge_area=data.knowledge_area,
                    stem=data.stem,
                    options=data.options,
                    key=data.key,
                    points=data.points,
                    difficulty=data.difficulty,
                    source=data.source,
                    tags=data.tags,
                    rubric=data.rubric,
                    content_hash=data.content_hash(),
                    created_at=utcnow(),
                )
            )
            session.flush()
        session.commit()


def through_formats(
    folder: Path, n: int, source: Engine, items: list[ItemData], csv: Path, pg: str | None
) -> dict[str, tuple[float, float, float]]:
    """Per format: (export the bank ``source`` holds, import that file into a fresh database,
    import the CSV ``csv`` into another fresh database just before). The CSV import beside each
    format's is what its ratio is taken against: on a shared machine the load moves between
    minutes, so only times taken side by side compare. Each import is checked to give back
    exactly ``items``. Every export comes first: with PostgreSQL a fresh database is the same
    one emptied, ``source`` included."""
    paths = {fmt: folder / f"bank{n}.{fmt}.{suffix}" for fmt, suffix in FOREIGN.items()}
    exports = {fmt: timed(export_bank, source, path, fmt) for fmt, path in paths.items()}
    out = {}
    for fmt, path in paths.items():
        engine = fresh_engine(folder, 1000 * (n + 1) + 2 * len(out), pg)
        beside = timed(import_bank, engine, csv)
        engine.dispose()
        engine = fresh_engine(folder, 1000 * (n + 1) + 2 * len(out) + 1, pg)
        imported = timed(import_bank, engine, path)
        back = bank_items(engine)
        engine.dispose()
        if back != items:
            raise SystemExit(f"{fmt}: the items imported back differ from those exported")
        out[fmt] = (exports[fmt], imported, beside)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=2_000, help="baseline sample size")
    parser.add_argument("--postgres", help="PostgreSQL URL to benchmark instead of SQLite")
    parser.add_argument("--quick", action="store_true", help="2,000 items, 1 run, sample 500")
    args = parser.parse_args()
    if args.quick:
        args.count, args.repeat, args.sample = 2_000, 1, 500
    occ = get_occupation("ai")
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        synth, write, first, again = [], [], [], []
        formats: dict[str, list[tuple[float, float, float]]] = {fmt: [] for fmt in FOREIGN}
        for n in range(args.repeat):
            items: list[ItemData] = []
            synth.append(timed(items.extend, synth_items(occ, Level.SENIOR, args.count, seed=n)))
            path = folder / f"bank{n}.csv"
            write.append(timed(write_items, path, items))
            engine = fresh_engine(folder, n, args.postgres)
            first.append(timed(import_bank, engine, path))
            again.append(timed(import_bank, engine, path))
            stored = bank_items(engine)
            runs = through_formats(folder, n, engine, stored, path, args.postgres)
            for fmt, times in runs.items():
                formats[fmt].append(times)
            engine.dispose()
        engine = fresh_engine(folder, 99, args.postgres)
        sample = items[: args.sample]
        naive = timed(naive_import, engine, sample) * args.count / len(sample)
        engine.dispose()
    figures["synth_s"] = statistics.median(synth)
    figures["write_csv_s"] = statistics.median(write)
    figures["csv_import_s"] = statistics.median(first)
    figures["reimport_unchanged_s"] = statistics.median(again)
    figures["naive_orm_import_s_scaled"] = naive
    figures["import_vs_naive_ratio"] = naive / figures["csv_import_s"]
    for fmt, runs in formats.items():
        figures[f"{fmt}_export_s"] = statistics.median(r[0] for r in runs)
        figures[f"{fmt}_import_s"] = statistics.median(r[1] for r in runs)
        figures[f"{fmt}_export_vs_csv_import"] = statistics.median(r[0] / r[2] for r in runs)
        figures[f"{fmt}_import_vs_csv_import"] = statistics.median(r[1] / r[2] for r in runs)
    figures["slowest_format_vs_csv_import"] = max(
        figures[f"{fmt}_{way}_vs_csv_import"] for fmt in FOREIGN for way in ("import", "export")
    )
    backend = "postgresql" if args.postgres else "sqlite"
    print(f"backend: {backend}; items: {args.count}; repeats: {args.repeat} (medians)")
    print(f"synthesise {args.count} items:        {figures['synth_s']:.3f} s")
    print(f"write CSV:                         {figures['write_csv_s']:.3f} s")
    print(f"import CSV (read, validate, store): {figures['csv_import_s']:.3f} s")
    print(f"re-import unchanged:                {figures['reimport_unchanged_s']:.3f} s")
    print(f"baseline naive ORM import (sample {args.sample}, scaled): {naive:.3f} s")
    print(f"ratio baseline / certify import:   {figures['import_vs_naive_ratio']:.1f}x")
    print("each format's ratio: median over the runs of its time / a CSV import timed beside it")
    for fmt in FOREIGN:
        exported, imported = figures[f"{fmt}_export_s"], figures[f"{fmt}_import_s"]
        print(
            f"{fmt:<7} export {exported:.3f} s ({figures[f'{fmt}_export_vs_csv_import']:.2f}x),"
            f" import {imported:.3f} s ({figures[f'{fmt}_import_vs_csv_import']:.2f}x)"
        )
    print(
        f"slowest format / CSV import:       {figures['slowest_format_vs_csv_import']:.2f}x"
        " (goal: at most 2x)"
    )
    print(
        json.dumps(
            {
                "backend": backend,
                "count": args.count,
                **{k: round(v, 4) for k, v in figures.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
