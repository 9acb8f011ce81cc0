"""Benchmark: the memory and time it takes to refuse hostile spreadsheets.

    python3 bench/upload_bombs.py [--size-mb 300]

Builds, in a temporary folder, the files of ``tests/certify/bomb_files.py``: one string of
``--size-mb`` megabytes inline in the sheet XML and the same in ``xl/sharedStrings.xml`` (each
about 1/1000 of that on disk), XML entity expansion (billion laughs, and a quadratic blow-up kept
under expat's own amplification limit), 5,000 zip members, a zip whose directory understates a
member's size, and a CSV with one field of 20 MB. Each is read in a fresh process — with
``certify.infra.tabular.read_grid`` (every import and upload reads through it) and, for the two string
bombs, with ``certify bank import`` into a fresh SQLite database — and the process's peak
resident memory (``ru_maxrss``) is printed with the time and the outcome. Baselines: the same
process importing certify and openpyxl and reading nothing; ``certify bank import`` of a file of
one ordinary item.

Prints one line per file, then one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from question_bank.columns import COLUMNS  # noqa: E402
from tests.certify.bomb_files import (  # noqa: E402
    Bomb,
    billion_laughs,
    declare_size,
    quadratic_blowup,
    workbook,
)

MEASURE = """
import json, resource, sys, time
from pathlib import Path
import openpyxl  # noqa: F401  (in the baseline too)
from certify.infra.errors import Error
from certify.infra.tabular import read_grid
start = time.perf_counter()
outcome = "nothing read"
if sys.argv[1] != "-":
    try:
        grid = read_grid(Path(sys.argv[1]))
        outcome = f"read {len(grid.rows)} row(s)"
    except Error as exc:
        outcome = "refused: " + exc.diagnostics().splitlines()[0][-160:]
print(json.dumps({
    "seconds": round(time.perf_counter() - start, 2),
    "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "outcome": outcome,
}))
"""

IMPORT = """
import json, resource, sys, time
from cli import cli
start = time.perf_counter()
try:
    cli(["--db", sys.argv[2], "bank", "import", sys.argv[1]], prog_name="certify")
except SystemExit as exc:
    outcome = f"exit {exc.code}"
print(json.dumps({
    "seconds": round(time.perf_counter() - start, 2),
    "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "outcome": outcome,
}))
"""


def run(script: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"outcome": "crashed: " + (done.stderr.strip().splitlines() or ["?"])[-1]}
    figures: dict[str, object] = json.loads(lines[-1])
    return figures


def bank_row(stem: str | Bomb) -> list[str | Bomb]:
    values: dict[str, str | Bomb] = dict.fromkeys(COLUMNS, "")
    values.update(item_id="B-1", occupation="ai", level="junior", type="subjective")
    values.update(knowledge_area="2", stem=stem, points="5", rubric="要点")
    return [values[c] for c in COLUMNS]


def build(folder: Path, size: int) -> dict[str, Path]:
    files = {
        "inline string": workbook(folder / "inline.xlsx", [["serial"], [Bomb(size)]]),
        "inline string of 16 MB": workbook(folder / "16mb.xlsx", [["serial"], [Bomb(16 * 2**20)]]),
        "shared string": workbook(
            folder / "shared.xlsx", [["serial"], [Bomb(size)]], shared_strings=True
        ),
        "billion laughs": workbook(
            folder / "laughs.xlsx", [["serial"], [billion_laughs()[1]]], doctype=billion_laughs()[0]
        ),
        "quadratic blow-up": workbook(
            folder / "quadratic.xlsx",
            [["serial"], [quadratic_blowup()[1]]],
            doctype=quadratic_blowup()[0],
        ),
        "5,000 members": workbook(folder / "members.xlsx", [["serial"], ["1"]], extra_members=5000),
    }
    lying = workbook(folder / "lying.xlsx", [["serial"], [Bomb(size)]])
    declare_size(lying, "xl/worksheets/sheet1.xml", 10_000)
    files["directory understates size"] = lying
    field = folder / "field.csv"
    with field.open("w", encoding="utf-8") as fh:
        fh.write("serial\n")
        for _ in range(20):
            fh.write("A" * 2**20)
        fh.write("\n")
    files["CSV field of 20 MB"] = field
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    args = parser.parse_args()
    figures: dict[str, dict[str, object]] = {"baseline": run(MEASURE, "-")}
    print(f"{'baseline (imports only)':<40} {figures['baseline']}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = build(folder, args.size_mb * 2**20)
        for name, path in files.items():
            figures[name] = run(MEASURE, str(path)) | {"file_kb": path.stat().st_size // 1024}
            print(f"{name:<40} {figures[name]}")
        for name, cell, stem in (
            ("one ordinary item", True, "题干"),
            ("inline", False, Bomb(args.size_mb * 2**20)),
            ("shared", True, Bomb(args.size_mb * 2**20)),
        ):
            path = workbook(
                folder / f"bank-{name}.xlsx", [list(COLUMNS), bank_row(stem)], shared_strings=cell
            )
            database = f"sqlite:///{folder / f'{name}.db'}"
            subprocess.run(
                [sys.executable, "-c", "from cli import main; main()", "--db", database, "init"],
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            key = f"certify bank import ({name})"
            figures[key] = run(IMPORT, str(path), database) | {
                "file_kb": path.stat().st_size // 1024
            }
            print(f"{key:<40} {figures[key]}")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
