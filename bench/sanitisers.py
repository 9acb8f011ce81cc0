"""Benchmark: the HTML sanitiser for question text imported from Moodle XML, GIFT and QTI.

    python3 bench/sanitisers.py [--texts 20000]

Builds ``--texts`` question texts as Moodle writes them (paragraphs, bold, a table, a link,
Chinese text) with hostile parts mixed in (``<script>``, ``onerror=``, ``javascript:`` links,
``<style>``, a comment), sanitises them with nh3 (ammonia, on the html5ever parser) and with
bleach (html5lib), both given the same allowed tags and attributes, and prints the time of each,
their ratio, and whether any output still holds a script, an event handler or a javascript: URL.
Last line: JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from question_bank.interchange.common import ALLOWED_TAGS, sanitise  # noqa: E402

HOSTILE = re.compile(r"<script|onerror|onclick|javascript:", re.IGNORECASE)


def texts(count: int) -> list[str]:
    parts = [
        "<p>下列哪一项是<b>监督学习</b>算法？</p>",
        "<table><tr><td>特征</td><td>标签</td></tr></table>",
        '<p><a href="https://example.org/x">参考</a> &amp; 说明</p>',
        "<script>alert(document.cookie)</script>",
        '<img src="x.png" onerror="alert(1)">',
        '<a href="javascript:alert(2)">点此</a>',
        "<style>body{display:none}</style><!-- note -->",
        '<p onclick="steal()">Ω≈ç√∫</p>',
    ]
    return ["".join(parts[(n + k) % len(parts)] for k in range(5)) for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=20_000)
    count = parser.parse_args().texts
    sample = texts(count)

    start = time.perf_counter()
    ours = [sanitise(t) for t in sample]
    nh3_s = time.perf_counter() - start

    import bleach  # bench extra only: the sanitiser certify did not choose

    start = time.perf_counter()
    theirs = [
        bleach.clean(
            t,
            tags=ALLOWED_TAGS,
            attributes={"a": ["href"], "img": ["src", "alt"]},
            protocols={"http", "https", "mailto"},
            strip=True,
            strip_comments=True,
        )
        for t in sample
    ]
    bleach_s = time.perf_counter() - start
    figures = {
        "texts": count,
        "nh3_s": round(nh3_s, 3),
        "bleach_s": round(bleach_s, 3),
        "bleach_over_nh3": round(bleach_s / nh3_s, 1),
        "nh3_hostile_left": sum(bool(HOSTILE.search(t)) for t in ours),
        "bleach_hostile_left": sum(bool(HOSTILE.search(t)) for t in theirs),
    }
    print(f"nh3    {nh3_s:7.3f} s for {count} texts, hostile left: {figures['nh3_hostile_left']}")
    print(
        f"bleach {bleach_s:7.3f} s ({figures['bleach_over_nh3']}× nh3), "
        f"hostile left: {figures['bleach_hostile_left']}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
