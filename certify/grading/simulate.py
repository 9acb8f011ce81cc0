"""模拟考生: synthetic candidates who sit a real paper, for the demo and scale tests.

Clearly synthetic: names are 模拟考生N, and every file written says so in its name. Each
candidate has an ability θ ~ N(0, 1); they answer question i right with probability
1 / (1 + exp(−(θ − bᵢ))), bᵢ = logit(difficulty estimate); a wrong answer picks a distractor,
the first one twice as often as the others. Raters mark subjective answers around the share
the candidate's ability predicts, with noise; a few marks land far apart and need a third.
Optionally one candidate copies most answers of another, so the similarity check has
something to find.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from certify.identity import check_character
from schemas.enums import ItemType
from schemas.items import OPTION_LETTERS
from schemas.papers import PaperQuestion, PaperView


@dataclass(frozen=True)
class SimulatedCandidate:
    admission_no: str
    name: str
    id_number: str
    form: str
    ability: float


def candidates(
    count: int, forms: list[str], rng: np.random.Generator, *, prefix: str = "SIM"
) -> list[SimulatedCandidate]:
    """``count`` synthetic candidates, forms dealt in turn, with valid-format ID numbers."""
    out = []
    for n in range(count):
        born = f"{1985 + n % 15}{1 + n % 12:02d}{1 + n % 28:02d}"
        first17 = f"370102{born}{n % 1000:03d}"
        out.append(
            SimulatedCandidate(
                f"{prefix}{n + 1:05d}",
                f"模拟考生{n + 1}",
                first17 + check_character(first17),
                forms[n % len(forms)],
                float(rng.normal()),
            )
        )
    return out


def write_roster(path: Path, people: list[SimulatedCandidate]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(["准考证号", "姓名", "身份证号", "试卷"])
        writer.writerows([p.admission_no, p.name, p.id_number, p.form] for p in people)
    return path


def _answer(q: PaperQuestion, ability: float, rng: np.random.Generator) -> str:
    d = min(max(q.difficulty if q.difficulty is not None else 0.5, 0.02), 0.98)
    right = rng.random() < 1 / (1 + np.exp(-(ability - np.log(d / (1 - d)))))
    if rng.random() < 0.02:
        return ""  # left blank
    if q.type is ItemType.TRUE_FALSE:
        return q.key if right else ("F" if q.key == "T" else "T")
    if q.type is ItemType.FILL:
        blanks = [b.split("|")[0] for b in q.key.split(";")]
        return ";".join(b if right or rng.random() < 0.3 else "不会" for b in blanks)
    if right:
        return q.key
    letters = OPTION_LETTERS[: len(q.options)]
    if q.type is ItemType.MULTIPLE and rng.random() < 0.5:
        return q.key[: max(1, len(q.key) - 1)]  # a correct subset: partial credit
    wrong = [c for c in letters if c not in q.key] or list(letters)
    weights = np.array([2.0] + [1.0] * (len(wrong) - 1))
    return str(rng.choice(wrong, p=weights / weights.sum()))


def write_sheets(
    path: Path,
    copies: dict[str, PaperView],
    abilities: dict[str, float],
    rng: np.random.Generator,
    *,
    copier: tuple[str, str] | None = None,
    copied: float = 0.95,
) -> Path:
    """Answer sheets of every candidate; ``copier`` = (source, copier) copies that share of the answers."""
    numbers = sorted(
        {
            q.number
            for v in copies.values()
            for q in v.questions
            if q.type is not ItemType.SUBJECTIVE
        }
    )
    answers = {
        a: {
            q.number: _answer(q, abilities[a], rng)
            for q in v.questions
            if q.type is not ItemType.SUBJECTIVE
        }
        for a, v in copies.items()
    }
    if copier is not None:
        source, cheat = copier
        theirs = {q.item_version_pk: q for q in copies[source].questions}
        for q in copies[cheat].questions:
            src = theirs.get(q.item_version_pk)
            if src is None or q.type is ItemType.SUBJECTIVE or rng.random() >= copied:
                continue
            # the same item in the copier's own letters: printed → canonical → printed
            back = {canonical: printed for printed, canonical in q.option_map.items()}
            given = answers[source][src.number]
            answers[cheat][q.number] = (
                "".join(sorted(back.get(src.option_map.get(c, c), c) for c in given))
                if q.type.has_options
                else given
            )
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(["准考证号", "试卷", *numbers])
        for a in sorted(copies):
            writer.writerow([a, copies[a].form, *(answers[a].get(n, "") for n in numbers)])
    return path


def write_marks(
    folder: Path, scripts: list[tuple[str, float, float]], rng: np.random.Generator
) -> list[Path]:
    """Round 1, round 2 and (where needed) round 3 mark files for (code, maximum, ability) scripts."""
    rounds: list[list[tuple[str, str, float]]] = [[], [], []]
    for code, maximum, ability in scripts:
        share = 1 / (1 + np.exp(-(ability + 0.5)))
        marks = [
            float(np.clip(np.round(share * maximum + rng.normal(0, maximum * 0.08)), 0, maximum))
            for _ in range(3)
        ]
        if rng.random() < 0.08:
            marks[1] = float(np.clip(marks[0] + maximum * 0.35 * rng.choice([-1, 1]), 0, maximum))
        rounds[0].append(("评分员甲", code, marks[0]))
        rounds[1].append(("评分员乙", code, marks[1]))
        if abs(marks[0] - marks[1]) > 0.2 * maximum + 1e-9:
            rounds[2].append(("评分员丙", code, marks[2]))
    paths = []
    for n, rows in enumerate(rounds, start=1):
        if not rows:
            continue
        path = folder / f"模拟评分-第{n}轮.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(["评分员", "评卷号", "分数"])
            writer.writerows([r, c, f"{m:g}"] for r, c, m in rows)
        paths.append(path)
    return paths


def seeds(rng: np.random.Generator) -> Callable[[], int]:
    """Repeatable shuffle seeds for simulated registrations."""
    return lambda: int(rng.integers(0, 2**63 - 1))
