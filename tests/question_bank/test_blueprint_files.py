"""Blueprint files are uploads like any other: a small file must not stand for a huge one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from certify.infra.errors import InputError
from question_bank.blueprints import load_blueprint
from question_bank.samples import sample_blueprints


def test_yaml_aliases_are_refused_before_they_expand(tmp_path: Path) -> None:
    """Nine aliases of nine aliases, eleven deep: 9**12 nodes from 500 bytes."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines), "utf-8")
    start = time.perf_counter()
    with pytest.raises(InputError, match="aliases"):
        load_blueprint(path)
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize(
    ("name", "text"), [("deep.yaml", "[" * 50_000), ("deep.json", "[" * 50_000)]
)
def test_deep_nesting_is_a_syntax_error_not_a_crash(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(InputError, match=name):
        load_blueprint(path)


def test_the_sample_blueprints_still_load() -> None:
    assert all(load_blueprint(path).code for path in sample_blueprints())
