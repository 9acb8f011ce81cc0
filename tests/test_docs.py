"""The docs stay true: every command and setting documented, the quick start is what CI runs."""

import re
from pathlib import Path

import click

from certify.infra.settings import MARKERS, SETTINGS, markdown
from cli import cli

ROOT = Path(__file__).resolve().parent.parent


def _commands(group: click.Group, prefix: str = "certify") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix} {name}"
        names += _commands(command, full) if isinstance(command, click.Group) else [full]
    return names


def test_every_command_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text("utf-8")
    missing = [c for c in _commands(cli) if f"`{c}" not in text]
    assert missing == []


def _settings_table() -> str:
    text = (ROOT / "docs" / "web.md").read_text("utf-8")
    begin, end = MARKERS
    assert text.count(begin) == 1 and text.count(end) == 1
    return text.split(begin + "\n", 1)[1].split(end, 1)[0]


def test_every_setting_is_documented_with_its_variable_and_default() -> None:
    rows = {
        cells[0].strip("`"): cells
        for line in _settings_table().splitlines()
        if (cells := [c.strip() for c in line.strip("|").split("|")])[0].startswith("`")
    }
    assert list(rows) == [s.variable for s in SETTINGS]
    for s in SETTINGS:
        assert rows[s.variable][3] == s.shown_default, s.variable


def test_the_settings_table_is_the_declarations_output() -> None:
    """Regenerate with ``python3 -m certify.infra.settings --markdown``."""
    assert _settings_table() == markdown()


def _quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block
    return block.group(1).strip().splitlines()


def test_quick_start_is_two_one_line_commands_demo_then_tests() -> None:
    demo, tests = _quick_start()
    assert demo.endswith("certify demo") and "pip install" in demo
    assert "pytest" in tests and "pip install" in tests


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = _quick_start()
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    body = tests.replace("python3 -m pip install", "python3 -m pip install -q")
    assert body in ci
