"""主观题评分: blind marking of subjective answers in rounds.

Raters never see who wrote a script: each (candidate, question) is a *script* with an anonymous
code derived from the registration's secret shuffle seed, and the marking list
(:func:`marking_list`) holds only codes, questions, maxima and rubrics.

A marks file (CSV/XLSX) has ``rater`` (评分员), ``script`` (评卷号), ``mark`` (分数). For each
script the first mark is round 1, the second (by another rater) round 2, and a third is accepted
only when the first two differ by more than the tolerance. A rater may correct their own round-1
mark until round 2 starts in the sitting; after that round 1 is locked. Any bad row refuses the
whole file: an unknown script, a mark above the maximum or below 0, a rater marking a script
twice (in the database already, or in two rows of the file), a third mark where none is needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.grading.marking import needs_third
from certify.grading.service import SUBJECTIVE_TOLERANCE
from certify.grading.sheets import candidate_copies
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Problem, ValidationFailed
from certify.infra.tabular import DEFAULT_MAX_BYTES, map_header, read_grid, records
from schemas.enums import ItemType
from schemas.tables import ItemVersion, Mark, Registration

COLUMNS = {
    "rater": ("rater", "评分员"),
    "script": ("script", "评卷号", "试卷号"),
    "mark": ("mark", "分数", "得分"),
}
INFORMATION = {
    "question": ("question", "题号"),
    "item_id": ("item_id", "题目编号"),
    "maximum": ("maximum", "满分"),
    "stem": ("stem", "题干"),
    "rubric": ("rubric", "评分标准"),
}
"""The marking list's other columns: read and ignored, so a filled-in list imports as it is."""


@dataclass(frozen=True)
class Script:
    """One subjective answer to mark, without the candidate's identity."""

    code: str
    question: int
    item_id: str
    item_version_pk: int
    maximum: float
    stem: str
    rubric: str
    registration_id: int


def script_code(registration: Registration, item_version_pk: int) -> str:
    """An anonymous, stable code; unguessable without the registration's secret seed."""
    digest = hashlib.sha256(f"{registration.shuffle_seed}:{item_version_pk}".encode()).hexdigest()
    return digest[:10].upper()


def marking_list(engine: Engine, sitting_code: str) -> list[Script]:
    """Every subjective script of the sitting, sorted by code (so not by candidate)."""
    _, copies = candidate_copies(engine, sitting_code)
    with Session(engine) as session:
        maxima = {v.id: v.points for v in session.exec(select(ItemVersion))}
    scripts = [
        Script(
            script_code(reg, q.item_version_pk),
            q.number,
            q.item_id,
            q.item_version_pk,
            maxima[q.item_version_pk],
            q.stem,
            q.rubric,
            reg.id or 0,
        )
        for reg, view in copies.values()
        for q in view.questions
        if q.type is ItemType.SUBJECTIVE
    ]
    return sorted(scripts, key=lambda s: s.code)


MARKING_LIST_HEADER = [
    "script",
    "question",
    "item_id",
    "maximum",
    "stem",
    "rubric",
    "rater",
    "mark",
]
"""The marking list's columns; raters fill in the last two and import the file as it is."""


def marking_list_rows(scripts: list[Script]) -> list[list[str | float]]:
    """The marking list as rows under :data:`MARKING_LIST_HEADER` (no candidate identity);
    question numbers and maxima as numbers."""
    return [[s.code, s.question, s.item_id, s.maximum, s.stem, s.rubric, "", ""] for s in scripts]


def repeated_rows(keys: Iterable[tuple[int, Hashable]]) -> dict[int, int]:
    """Row → the first earlier row with the same key, for every row whose key came before."""
    first: dict[Hashable, int] = {}
    repeats = {}
    for row, key in keys:
        if key in first:
            repeats[row] = first[key]
        else:
            first[key] = row
    return repeats


def _canonical(header: str) -> str | None:
    wanted = header.lower()
    return next((c for c, names in (COLUMNS | INFORMATION).items() if wanted in names), None)


def import_marks(
    engine: Engine,
    sitting_code: str,
    path: Path,
    *,
    actor: str = "cli",
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    rater: str | None = None,
) -> int:
    """Store every mark of the file, or none; returns how many were stored.

    With ``rater`` (a signed-in rater on the web), every row must name that rater: one account
    cannot mark a script twice under two names, nor overwrite another rater's marks."""
    scripts = {s.code: s for s in marking_list(engine, sitting_code)}
    # A file cannot hold more marks than three rounds of every script.
    grid = read_grid(path, encoding=encoding, max_bytes=max_bytes, max_rows=3 * len(scripts) + 100)
    names = map_header(path, grid.header, _canonical, list(COLUMNS))
    problems: list[Problem] = []
    rows = records(grid, names)
    # One rater, one script, one mark per file: two would make the later silently win.
    repeats = repeated_rows(
        (number, (values["rater"], values["script"].upper()))
        for number, values in rows
        if values["rater"] and values["script"]
    )
    with transaction(engine) as session:
        reg_ids = list({s.registration_id for s in scripts.values()})
        existing: dict[tuple[int, int], list[Mark]] = {}
        for m in session.exec(
            select(Mark).where(col(Mark.registration_id).in_(reg_ids)).order_by(col(Mark.round))
        ):
            existing.setdefault((m.registration_id, m.item_version_id), []).append(m)
        round_two = any(len(v) >= 2 for v in existing.values())
        stored = 0
        for number, values in rows:

            def bad(field: str, code: str, zh: str, en: str, row: int = number) -> None:
                problems.append(Problem(str(path), row, field, code, zh, en))

            script = scripts.get(values["script"].upper())
            if script is None:
                bad(
                    "script",
                    "unknown_script",
                    f"没有评卷号 {values['script']!r}",
                    f"no script {values['script']!r}",
                )
                continue
            rater_name = values["rater"]
            if not rater_name:
                bad("rater", "empty", "须填写评分员", "rater is required")
                continue
            if rater is not None and rater_name != rater:
                bad(
                    "rater",
                    "not_you",
                    f"只能提交本人（{rater}）的评分，此行为 {rater_name}",
                    f"only your own marks ({rater}) may be uploaded; this row is {rater_name}'s",
                )
                continue
            if number in repeats:
                first = repeats[number]
                bad(
                    "script",
                    "repeated",
                    f"{rater_name} 对评卷号 {script.code} 的评分在第 {first} 行和第 {number} 行重复，"
                    "请只保留一行",
                    f"{rater_name} marks script {script.code} in rows {first} and {number}: "
                    "keep one",
                )
                continue
            try:
                mark = float(values["mark"])
            except ValueError:
                bad(
                    "mark",
                    "not_a_number",
                    f"{values['mark']!r} 不是数字",
                    f"{values['mark']!r} is not a number",
                )
                continue
            if not 0 <= mark <= script.maximum:
                bad(
                    "mark",
                    "out_of_range",
                    f"分数须在 0 到 {script.maximum:g} 之间",
                    f"a mark lies in 0..{script.maximum:g}",
                )
                continue
            marks = existing.setdefault((script.registration_id, script.item_version_pk), [])
            mine = [m for m in marks if m.rater == rater_name]
            if mine:
                if mine[0].round == 1 and not round_two:
                    mine[0].mark = mark
                    session.add(mine[0])
                    stored += 1
                    continue
                reason = "第一轮已锁定" if mine[0].round == 1 else "同一评分员不能重复评同一份答卷"
                bad(
                    "rater",
                    "marked_twice",
                    f"{rater_name} 已评过该答卷（{reason}）",
                    f"{rater_name} has marked this script already"
                    + (" (round one is locked)" if mine[0].round == 1 else ""),
                )
                continue
            gap = (
                len(marks) == 2
                and needs_third(
                    np.array([marks[0].mark]),
                    np.array([marks[1].mark]),
                    SUBJECTIVE_TOLERANCE * script.maximum,
                )[0]
            )
            if len(marks) >= 3 or (len(marks) == 2 and not gap):
                bad(
                    "script",
                    "no_more_marks",
                    "该答卷不需要再评（两评分差在允许范围内或已三评）",
                    "this script needs no further mark (the first two agree, or it has three)",
                )
                continue
            entry = Mark(
                registration_id=script.registration_id,
                item_version_id=script.item_version_pk,
                rater=rater_name,
                round=len(marks) + 1,
                mark=mark,
            )
            session.add(entry)
            marks.append(entry)
            stored += 1
        if problems:
            raise ValidationFailed(problems, total_rows=len(grid.rows))
        audit_log.append(
            session,
            actor=actor,
            action="marks.import",
            subject=sitting_code,
            detail={"file": path.name, "marks": stored},
        )
    return stored
