"""What keeping each institution to its own data costs: the same service calls under an
institution's scope and under none.

    python3 bench/scope.py                          # 4 institutions × 5 sittings × 400 candidates
    python3 bench/scope.py --sittings 10 --candidates 1000 --repeat 15
    python3 bench/scope.py --database-url postgresql://…/db   # an empty database

Builds the junior AI sample bank and papers, ``--institutions`` institutions each with
``--sittings`` sittings of ``--candidates`` registered candidates (the roster import the pages
run), then times, median of ``--repeat`` runs, each call with an institution's scope held
(``certify.institutions.scope``: every ORM statement given that institution's criteria) and,
as the baseline in the same process and on the same database, with none held — a platform
account, the plain queries:

- ``copies``: every candidate's own shuffled copy of one sitting (``candidate_copies``, what
  grading and the answer-sheet pages read);
- ``overview``: the supervisor's overview of every institution (``region_overview``: counts
  over sittings, registrations, results, certificates, incidents, objections);
- ``sitting``: one sitting's report (``sitting_report``);
- ``sittings``: the list of sittings with their counts (``sitting_overview``, the admin's
  first page).

The scoped calls see one institution's rows, the baseline every institution's: the ratio is
the price of the criteria, and it may be below 1 when the filter leaves less to read. Runs
alternate scoped and unscoped. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from certify.certificates.progress import sitting_overview
from certify.grading import simulate
from certify.grading.sheets import candidate_copies
from certify.infra import db
from certify.institutions.registry import add_institution, authorise
from certify.institutions.scope import Scope, scoped
from certify.registration.identity import IdentityVault
from certify.registration.sittings import create_sitting, import_roster
from certify.supervision.overview import region_overview, sitting_report
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import assemble_papers
from question_bank.samples import sample_blueprints, sample_files

VAULT = IdentityVault(b"s" * 32)


def build(engine: Any, folder: Path, institutions: int, sittings: int, candidates: int) -> None:
    from datetime import date

    import_bank(engine, next(p for p in sample_files() if p.name == "ai-junior.json"))
    assemble_papers(
        engine, load_blueprint(next(p for p in sample_blueprints() if p.name == "ai-junior.yaml"))
    )
    rng = np.random.default_rng(11)
    for i in range(institutions):
        add_institution(engine, f"B{i}", f"基准评价机构{i}", region=f"山东省{i}市", actor="bench")
        authorise(
            engine,
            f"B{i}",
            kind="level",
            occupations=["ai"],
            levels=["junior"],
            valid_from=date(2000, 1, 1),
            actor="bench",
        )
        for s in range(sittings):
            code = f"B{i}-S{s}"
            create_sitting(engine, code, "ai-junior-sample", institution=f"基准评价机构{i}")
            people = simulate.candidates(candidates, ["A", "B"], rng, prefix=f"{i}{s}")
            import_roster(
                engine,
                code,
                simulate.write_roster(folder / f"{code}.csv", people),
                VAULT,
                shuffle_seed=simulate.seeds(rng),
            )


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--institutions", type=int, default=4)
    parser.add_argument("--sittings", type=int, default=5)
    parser.add_argument("--candidates", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = db.make_engine(args.database_url or f"sqlite:///{folder / 'bench.db'}")
        db.upgrade(engine)
        started = time.perf_counter()
        build(engine, folder, args.institutions, args.sittings, args.candidates)
        print(
            f"built {args.institutions} institutions × {args.sittings} sittings × "
            f"{args.candidates} candidates in {time.perf_counter() - started:.1f} s "
            f"({engine.dialect.name})"
        )
        held = Scope.of("基准评价机构0", "B0")
        calls: dict[str, Callable[[], Any]] = {
            "copies": lambda: candidate_copies(engine, "B0-S0"),
            "overview": lambda: region_overview(engine),
            "sitting": lambda: sitting_report(engine, "B0-S0"),
            "sittings": lambda: sitting_overview(engine),
        }
        figures: dict[str, Any] = {"engine": engine.dialect.name}
        for name, call in calls.items():
            call()  # warm: caches, the first compile of each statement
            with scoped(held):
                call()
            mine, everyone = [], []
            for _ in range(args.repeat):
                with scoped(held):
                    mine.append(timed(call))
                everyone.append(timed(call))
            a, b = statistics.median(mine), statistics.median(everyone)
            figures[f"{name}_scoped_ms"] = round(a * 1000, 2)
            figures[f"{name}_platform_ms"] = round(b * 1000, 2)
            figures[f"{name}_ratio"] = round(a / b, 2)
            print(
                f"{name:9s} scoped {a * 1000:8.2f} ms   platform {b * 1000:8.2f} ms   "
                f"ratio {a / b:5.2f}"
            )
        engine.dispose()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
