"""样例题库: the sample bank shipped with certify, authored in Chinese.

One JSON file per occupation and level in ``question_bank/samples``, in the bank file format.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_files() -> list[Path]:
    """Paths of the sample bank files, in name order."""
    folder = resources.files("question_bank").joinpath("samples")
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".json"))


def sample_blueprints() -> list[Path]:
    """Paths of the sample blueprints (one per level for the 人工智能 sample bank)."""
    folder = resources.files("question_bank").joinpath("samples/blueprints")
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml"))
