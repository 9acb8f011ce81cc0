"""The main job end to end, as a user runs it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from click.testing import CliRunner

from cli import cli


def test_demo_runs_the_pipeline_in_a_fresh_folder_and_again(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    for _ in range(2):  # a second run replaces the first
        result = CliRunner().invoke(cli, ["demo", "--dir", str(folder)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    out = result.output
    assert "chain intact: True" in out and "人工智能 ai" in out
    assert "ai-senior-sample: 2 份 forms" in out
    assert "120 名模拟考生" in out and "similar pairs: SIM" in out
    assert (folder / "sitting" / "DEMO-2026-AI-S-统计分析.pdf").exists()
    assert re.search(r"QR read back from 37\d\d013000001\.pdf: genuine", out) and "→ revoked" in out
    assert len(list((folder / "certificates").glob("*.pdf"))) > 10
    papers = sorted(p.name for p in (folder / "papers").glob("*.pdf"))
    assert (
        "ai-junior-sample-1A-试卷.pdf" in papers
        and "ai-senior-sample-1A-s20261127-试卷.pdf" in papers
    )
    text = subprocess.run(
        ["pdftotext", "-layout", str(folder / "papers" / "ai-junior-sample-1A-试卷.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "人工智能工程技术人员" in text and "答题卡" in text
    key = subprocess.run(
        ["pdftotext", str(folder / "papers" / "ai-junior-sample-1A-答案.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "AI-J-" in key
