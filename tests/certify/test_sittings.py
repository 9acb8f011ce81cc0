"""Sittings and rosters in a real database: all or nothing, ID numbers protected."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from certify.infra.errors import ValidationFailed
from certify.registration.identity import IdentityVault, check_character
from certify.registration.sittings import create_sitting, import_roster
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import assemble_papers
from question_bank.samples import sample_blueprints, sample_files
from schemas.tables import Candidate, Paper, Registration
from tests.conftest import Database
from tests.helpers import institution, snapshot

VAULT = IdentityVault(b"s" * 32)


def id_number(n: int) -> str:
    first17 = f"37010219900101{n:03d}"
    return first17 + check_character(first17)


@pytest.fixture
def sitting(database: Database) -> Database:
    for path in sample_files():
        if path.name == "ai-junior.json":
            import_bank(database.engine, path)
    bp = next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")
    assemble_papers(database.engine, load_blueprint(bp))
    create_sitting(
        database.engine,
        "S-2026-01",
        "ai-junior-sample",
        institution=institution(database.engine, "山东省某评价机构"),
    )
    return database


def roster(tmp_path: Path, rows: list[str], name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text("准考证号,姓名,身份证号,试卷\n" + "\n".join(rows) + "\n", encoding="gbk")
    return path


def test_a_roster_registers_everyone_with_protected_ids_and_freezes_the_papers(
    sitting: Database, tmp_path: Path
) -> None:
    report = import_roster(
        sitting.engine,
        "S-2026-01",
        roster(tmp_path, [f"2026{n:04d},考生{n},{id_number(n)},{'AB'[n % 2]}" for n in range(6)]),
        VAULT,
    )
    assert (report.registered, report.new_candidates) == (6, 6)
    with Session(sitting.engine) as session:
        people = session.exec(select(Candidate)).all()
        regs = session.exec(select(Registration)).all()
        papers = session.exec(select(Paper)).all()
    assert {VAULT.decrypt(p.id_number_cipher) for p in people} == {id_number(n) for n in range(6)}
    assert all(id_number(0).encode() not in p.id_number_cipher for p in people)
    assert people[0].id_number_masked == id_number(0)[:6] + "********" + id_number(0)[-4:]
    assert len({r.shuffle_seed for r in regs}) == 6
    assert {p.status for p in papers} == {"frozen"}


def test_every_bad_row_is_named_and_nothing_is_written(sitting: Database, tmp_path: Path) -> None:
    bad = id_number(1)[:-1] + ("0" if id_number(1)[-1] != "0" else "1")
    path = roster(
        tmp_path,
        [
            f"20260001,张三,{id_number(1)},A",
            f"20260002,李四,{bad},A",
            f"20260001,王五,{id_number(3)},C",
            f"20260004,,{id_number(1)},B",
        ],
    )
    before = snapshot(sitting.engine)
    with pytest.raises(ValidationFailed) as err:
        import_roster(sitting.engine, "S-2026-01", path, VAULT)
    found = {(p.row, p.field, p.code) for p in err.value.problems}
    assert found == {
        (3, "id_number", "bad_id_number"),
        (4, "admission_no", "duplicate"),
        (5, "name", "bad_name"),
        (5, "id_number", "duplicate"),
        (4, "form", "unknown_form"),
    }
    assert snapshot(sitting.engine) == before


def test_the_same_person_keeps_one_candidate_record(sitting: Database, tmp_path: Path) -> None:
    import_roster(
        sitting.engine, "S-2026-01", roster(tmp_path, [f"20260001,张三,{id_number(1)},A"]), VAULT
    )
    create_sitting(
        sitting.engine,
        "S-2026-02",
        "ai-junior-sample",
        institution=institution(sitting.engine, "山东省某评价机构"),
    )
    report = import_roster(
        sitting.engine,
        "S-2026-02",
        roster(tmp_path, [f"20261001,张三,{id_number(1)},B"], "second.csv"),
        VAULT,
    )
    assert report.new_candidates == 0
