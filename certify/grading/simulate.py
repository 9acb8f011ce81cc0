"""模拟考生: synthetic candidates who sit a real paper, for the demo and scale tests.

Clearly synthetic: names are 模拟考生N, and every file written says so in its name. Each
candidate has an ability θ ~ N(0, 1); they answer question i right with probability
1 / (1 + exp(−(θ − bᵢ))), bᵢ = logit(difficulty estimate); a wrong answer picks a distractor,
the first one twice as often as the others. Raters mark subjective answers around the share
the candidate's ability predicts, with noise; a few marks land far apart and need a third.
Optionally one candidate copies most answers of another, so the similarity check has
something to find. Applicant files give them the education, title and years of work a level asks
for, and can make a few fall short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from certify.infra.tabular import write_table
from certify.registration.identity import check_character
from schemas.enums import ItemType
from schemas.notation import OPTION_LETTERS
from schemas.papers import PaperQuestion, PaperView


@dataclass(frozen=True)
class SimulatedCandidate:
    admission_no: str
    name: str
    id_number: str
    form: str
    ability: float


def candidates(
    count: int,
    forms: list[str],
    rng: np.random.Generator,
    *,
    prefix: str = "SIM",
    area: str = "370102",
) -> list[SimulatedCandidate]:
    """``count`` synthetic candidates, forms dealt in turn, with valid-format ID numbers (area
    code ``area``: another area gives other people)."""
    out = []
    for n in range(count):
        born = f"{1985 + n % 15}{1 + n % 12:02d}{1 + n % 28:02d}"
        first17 = f"{area}{born}{n % 1000:03d}"
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


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def write_applicants(
    path: Path,
    people: list[SimulatedCandidate],
    level: str,
    on: date,
    rng: np.random.Generator,
    *,
    short: int = 0,
) -> Path:
    """An applicant file for ``people``: each meets ``level``'s usual route, except the last
    ``short`` ones, who fall short in turn on title, years of work and training hours."""
    from certify.registration.applications import write_applicants as write
    from schemas.conditions import conditions
    from schemas.enums import Level

    hours = conditions().training_hours[Level(level)]
    title, years = {
        "junior": ("无", 0),
        "intermediate": ("助理工程师", 2),
        "senior": ("工程师", 3),
    }[level]
    rows = []
    for n, person in enumerate(people):
        extra = int(rng.integers(1, 6))
        row = {
            "name": person.name,
            "id_number": person.id_number,
            "education": "本科",
            "related_major": "是",
            "graduating": "否",
            "title": title,
            "title_since": _years_before(on, years + extra).isoformat() if years else "",
            "work_since": _years_before(on, years + extra + 2).isoformat(),
            "training_hours": str(hours),
            "admission_no": person.admission_no,
            "form": person.form,
        }
        fault = n - (len(people) - short)
        if fault >= 0:
            if fault % 3 == 0 and level != "junior":
                row["title"] = "技术员"
            elif fault % 3 == 1 and years:
                row["title_since"] = _years_before(on, years - 1).isoformat()
            else:
                row["training_hours"] = str(hours // 2)
        rows.append(row)
    return write(path, rows)


def write_trainees(path: Path, people: list[SimulatedCandidate]) -> Path:
    """A course's enrolment file: name and ID number."""
    return write_table(path, ["姓名", "身份证号"], [[p.name, p.id_number] for p in people])


def write_hours(path: Path, hours: dict[str, float]) -> Path:
    """An attendance file: ID number and hours attended."""
    return write_table(path, ["身份证号", "学时"], [[n, h] for n, h in hours.items()])


def write_scores(path: Path, scores: dict[str, float]) -> Path:
    """A completion-assessment file: ID number and score."""
    return write_table(path, ["身份证号", "成绩"], [[n, s] for n, s in scores.items()])


def write_roster(path: Path, people: list[SimulatedCandidate]) -> Path:
    return write_table(
        path,
        ["准考证号", "姓名", "身份证号", "试卷"],
        [[p.admission_no, p.name, p.id_number, p.form] for p in people],
    )


def answer(q: PaperQuestion, ability: float, rng: np.random.Generator) -> str:
    """What a simulated candidate of ``ability`` answers to ``q``, in the printed letters of
    their copy (a few typed sentences for a subjective question, as at a computer)."""
    if q.type is ItemType.SUBJECTIVE:
        if rng.random() < 0.05:
            return ""
        steps = int(np.clip(np.round(2 + ability * 2 + rng.normal(0, 1)), 1, 6))
        return f"第 {q.number} 题（模拟作答）\n" + "\n".join(
            f"{n}. 步骤 {n}：分析需求、选择方法并说明理由。" for n in range(1, steps + 1)
        )
    return _answer(q, ability, rng)


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
    if q.type is ItemType.MATCHING:  # some premises matched wrong
        return "".join(
            c if rng.random() < 0.5 else str(rng.choice([x for x in letters if x != c] or [c]))
            for c in q.key
        )
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
            mapped = [back.get(src.option_map.get(c, c), c) for c in given]
            answers[cheat][q.number] = (
                ("".join(mapped) if q.type is ItemType.MATCHING else "".join(sorted(mapped)))
                if q.type.has_options
                else given
            )
    return write_table(
        path,
        ["准考证号", "试卷", *(str(n) for n in numbers)],
        [[a, copies[a].form, *(answers[a].get(n, "") for n in numbers)] for a in sorted(copies)],
    )


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
        paths.append(write_table(path, ["评分员", "评卷号", "分数"], [list(r) for r in rows]))
    return paths


def seeds(rng: np.random.Generator) -> Callable[[], int]:
    """Repeatable shuffle seeds for simulated registrations."""
    return lambda: int(rng.integers(0, 2**63 - 1))
