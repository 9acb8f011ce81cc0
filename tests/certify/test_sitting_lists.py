"""A sitting's blueprint and date, and its lists a page at a time: the roster, applications and
results each come whole, once, in the order asked, however they are cut into pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from certify.registration.lists import (
    RESULT_SORTS,
    ROSTER_SORTS,
    ListPage,
    ListSearch,
    all_results,
    all_roster,
    result_page,
    roster_page,
)
from certify.registration.sittings import SittingError, create_sitting, set_sitting
from question_bank.blueprints import load_blueprint
from question_bank.papers import save_blueprint
from question_bank.samples import sample_blueprints
from schemas.tables import AuditEntry, Sitting
from tests.certify.exam_helpers import graded_sitting
from tests.conftest import Database
from tests.helpers import institution, snapshot


@pytest.fixture
def graded(database: Database, tmp_path: Path) -> Database:
    graded_sitting(database, tmp_path, count=30)
    return database


def pages_of(
    read: Callable[[ListSearch], ListPage[Any]], whole: list[Any], search: ListSearch
) -> list[Any]:
    first = read(search)
    found = list(first.rows)
    for number in range(2, first.pages + 1):
        found += read(ListSearch(search.sort, search.descending, number, search.per_page)).rows
    assert first.total == len(whole)
    return found


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sort=st.sampled_from(sorted(ROSTER_SORTS)),
    descending=st.booleans(),
    per_page=st.integers(1, 40),
)
def test_the_rosters_pages_hold_every_candidate_once_in_order(
    graded: Database, sort: str, descending: bool, per_page: int
) -> None:
    search = ListSearch(sort, descending, 1, per_page)
    whole = all_roster(graded.engine, "S1", search)
    found = pages_of(lambda s: roster_page(graded.engine, "S1", s), whole, search)
    assert found == whole and len({r.admission_no for r in found}) == 30
    key = {"admission_no": lambda r: r.admission_no, "form": lambda r: r.form}.get(sort)
    if key:
        assert [key(r) for r in found] == sorted((key(r) for r in found), reverse=descending)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sort=st.sampled_from(sorted(RESULT_SORTS)),
    descending=st.booleans(),
    per_page=st.integers(1, 40),
)
def test_the_results_pages_hold_every_result_once_in_order(
    graded: Database, sort: str, descending: bool, per_page: int
) -> None:
    search = ListSearch(sort, descending, 1, per_page)
    whole = all_results(graded.engine, "S1", search)
    found = pages_of(lambda s: result_page(graded.engine, "S1", s), whole, search)
    assert found == whole and len({r.admission_no for r in found}) == len(whole) > 0
    if sort == "total":
        totals = [r.total for r in found]
        assert totals == sorted(totals, reverse=descending)


def test_an_unknown_sort_is_refused(graded: Database) -> None:
    with pytest.raises(ValueError, match="sort must be one of"):
        roster_page(graded.engine, "S1", ListSearch(sort="name"))


def test_the_date_changes_and_the_blueprint_only_within_its_occupation_and_level(
    graded: Database,
) -> None:
    engine = graded.engine
    senior = next(p for p in sample_blueprints() if p.name == "ai-senior.yaml")
    other = save_blueprint(engine, load_blueprint(senior)).code
    before = snapshot(engine)
    with pytest.raises(SittingError, match="is for"):
        set_sitting(engine, "S1", blueprint_code=other, starts_at=None)
    with pytest.raises(SittingError, match="no blueprint"):
        set_sitting(engine, "S1", blueprint_code="none-such", starts_at=None)
    assert snapshot(engine) == before
    when = datetime(2026, 6, 1, 9, 0)
    set_sitting(engine, "S1", blueprint_code="ai-junior-sample", starts_at=when, actor="web:a")
    with Session(engine) as session:
        row = session.exec(select(Sitting).where(Sitting.code == "S1")).one()
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "sitting.set")).one()
    assert row.starts_at is not None and row.starts_at.replace(tzinfo=None) == when
    assert entry.actor == "web:a" and entry.detail["before"]["starts_at"] is None


def test_a_registered_sittings_blueprint_cannot_change(graded: Database) -> None:
    engine = graded.engine
    junior = next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")
    spec = load_blueprint(junior).model_copy(update={"code": "ai-junior-2"})
    save_blueprint(engine, spec)
    create_sitting(engine, "S9", "ai-junior-sample", institution=institution(engine, "测试"))
    set_sitting(engine, "S9", blueprint_code="ai-junior-2", starts_at=None)  # nobody yet
    before = snapshot(engine)
    with pytest.raises(SittingError, match="can no longer change"):
        set_sitting(engine, "S1", blueprint_code="ai-junior-2", starts_at=None)
    assert snapshot(engine) == before


@pytest.mark.parametrize("code", ["", "a/b", "-x", "x" * 65, "名"])
def test_a_sitting_code_fits_in_a_url(graded: Database, code: str) -> None:
    with pytest.raises(SittingError, match="sitting code"):
        create_sitting(
            graded.engine, code, "ai-junior-sample", institution=institution(graded.engine, "测试")
        )
