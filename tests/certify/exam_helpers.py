"""A graded sitting of simulated candidates, and the CLI as a test drives it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from certify.grading import simulate
from certify.grading.marks import import_marks, marking_list
from certify.grading.service import grade_sitting
from certify.grading.sheets import candidate_copies, import_sheets
from certify.registration.identity import IdentityVault
from certify.registration.sittings import create_sitting, import_roster
from cli import cli
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import assemble_papers
from question_bank.samples import sample_blueprints, sample_files
from tests.conftest import Database
from tests.helpers import institution

VAULT = IdentityVault(b"i" * 32)


def graded_sitting(
    database: Database, folder: Path, code: str = "S1", count: int = 30, strength: float = 1.5
) -> list[simulate.SimulatedCandidate]:
    """A junior AI sitting of ``count`` simulated candidates (abilities N(``strength``, 1): by
    default a strong group, most pass), marked and graded; returns the candidates."""
    rng = np.random.default_rng(3)
    people = registered_sitting(database, folder, code, count, rng)
    _, copies = candidate_copies(database.engine, code)
    ability = {p.admission_no: p.ability + strength for p in people}
    simulate.write_sheets(folder / "s.csv", {a: v for a, (_, v) in copies.items()}, ability, rng)
    import_sheets(database.engine, code, folder / "s.csv")
    scripts = [(s.code, s.maximum, 1.5) for s in marking_list(database.engine, code)]
    for path in simulate.write_marks(folder, scripts, rng):
        import_marks(database.engine, code, path)
    grade_sitting(database.engine, code)
    return people


def registered_sitting(
    database: Database, folder: Path, code: str, count: int, rng: np.random.Generator
) -> list[simulate.SimulatedCandidate]:
    """The junior AI sample bank and its papers, and sitting ``code`` with ``count`` simulated
    candidates registered on forms A and B; returns the candidates."""
    for path in sample_files():
        if path.name == "ai-junior.json":
            import_bank(database.engine, path)
    assemble_papers(
        database.engine,
        load_blueprint(next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")),
    )
    create_sitting(
        database.engine,
        code,
        "ai-junior-sample",
        institution=institution(database.engine, "测试评价机构"),
    )
    people = simulate.candidates(count, ["A", "B"], rng)
    import_roster(
        database.engine,
        code,
        simulate.write_roster(folder / "r.csv", people),
        VAULT,
        shuffle_seed=simulate.seeds(rng),
    )
    return people


def run(database: Database, *args: str, code: int = 0) -> str:
    """``certify --db URL args…`` in-process; asserts the exit status, returns the output."""
    result = CliRunner().invoke(cli, ["--db", database.url, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output
