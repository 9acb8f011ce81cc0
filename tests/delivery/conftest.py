"""Fixtures of the delivery tests: a sitting ready for computer-based delivery."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Database
from tests.delivery.delivery_helpers import Exam, ready_exam


@pytest.fixture
def exam(database: Database, tmp_path: Path) -> Exam:
    """Twelve candidates in two rooms of six, a 120-minute session delivering the theory part."""
    return ready_exam(database, tmp_path, capacity=6)


@pytest.fixture
def whole(database: Database, tmp_path: Path) -> Exam:
    """Four candidates in one room, a session delivering the whole paper (theory and
    practical)."""
    return ready_exam(database, tmp_path, count=4, part="", rooms=1)
