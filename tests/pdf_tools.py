"""Reading PDFs back in tests with poppler's command-line tools, an independent renderer.

The README's test command installs poppler-utils when it is missing, so these tools are a
requirement of the suite, not an optional extra: a missing tool fails the tests that need it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def run(*args: str | Path | int) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


def pdf_pages(path: Path) -> list[str]:
    """The text of each page, as ``pdftotext -layout`` lays it out."""
    pages = run("pdftotext", "-layout", path, "-").split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def squeeze(text: str) -> str:
    """Text without any whitespace, so layout spacing never decides a test."""
    return "".join(text.split())


def dark_share(pdf: Path, out: Path, *, page: int = 1, dpi: int = 30) -> float:
    """Share of dark pixels on ``page`` (1-based), rendered in grey."""
    run("pdftoppm", "-r", dpi, "-gray", "-f", page, "-l", page, "-singlefile", pdf, out)
    data = out.with_suffix(".pgm").read_bytes()
    magic, width, height, maxval, pixels = data.split(maxsplit=4)
    assert magic == b"P5" and maxval == b"255"
    raster = pixels[: int(width) * int(height)]
    return sum(1 for b in raster if b < 128) / len(raster)
