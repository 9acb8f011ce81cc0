"""主观题评分: blind marking of subjective answers in rounds.

Raters never see who wrote a script: each (candidate, question) is a *script* with an anonymous
code derived from the registration's secret shuffle seed, and the marking list
(:func:`marking_list`) holds only codes, questions, maxima, rubrics and — for answers typed at a
computer (机考) — the answer's text. The script code is a rater's only handle on an answer and
its attachments (:func:`script_view`, :func:`script_attachment`): what a code does not lead to
in the sitting is "not found".

A marks file (CSV/XLSX) has ``rater`` (评分员), ``script`` (评卷号), ``mark`` (分数). For each
script the first mark is round 1, the second (by another rater) round 2, and a third is accepted
only when the first two differ by more than the tolerance. A rater may correct their own round-1
mark until round 2 starts in the sitting; after that round 1 is locked. Any bad row refuses the
whole file: an unknown script, a mark above the maximum or below 0, a rater marking a script
twice (in the database already, or in two rows of the file), a third mark where none is needed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from certify.grading.marking import (
    FileMark,
    GivenMark,
    QuestionProgress,
    RaterProgress,
    ScriptMarks,
    needs_third,
    place_marks,
    tally_marks,
)
from certify.grading.marking import repeated_rows as repeated_rows
from certify.grading.service import SUBJECTIVE_TOLERANCE
from certify.grading.sheets import INSERT_BATCH, candidate_numberings
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import AttachmentNotFound, ScriptNotFound
from certify.infra.rows import Columns, Parser, Row, lookup, number, read_rows, text
from certify.infra.tabular import DEFAULT_MAX_BYTES
from question_bank.sealing import check_keys_released
from schemas.enums import AttemptStatus, ItemType
from schemas.papers import PaperQuestion
from schemas.tables import (
    Attachment,
    Attempt,
    ExamSession,
    ItemVersion,
    Mark,
    Paper,
    Registration,
    Response,
    Sitting,
    utcnow,
)

MARKS_TABLE = Mark.__table__  # type: ignore[attr-defined]
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
    "answer": ("answer", "作答"),
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
    answer: str = ""
    """The text typed at a computer (a computer-based sitting's response); "" on paper."""


def script_code(registration: Registration, item_version_pk: int) -> str:
    """An anonymous, stable code; unguessable without the registration's secret seed."""
    digest = hashlib.sha256(f"{registration.shuffle_seed}:{item_version_pk}".encode()).hexdigest()
    return digest[:10].upper()


def marking_list(engine: Engine, sitting_code: str) -> list[Script]:
    """Every subjective script of the sitting, sorted by code (so not by candidate). Each
    carries its question and rubric: raises KeysWithheld while a sealed paper's session runs
    (marking begins when it has ended)."""
    sitting, numberings = candidate_numberings(engine, sitting_code)
    with Session(engine) as session:
        papers = select(Registration.paper_id).where(Registration.sitting_id == sitting.id)
        for code in session.exec(select(Paper.code).where(col(Paper.id).in_(papers))):
            check_keys_released(session, code)
        maxima = {v.id: v.points for v in session.exec(select(ItemVersion))}
        typed = _typed_answers(session, sitting.id or 0)
    scripts = [
        Script(
            script_code(reg, q.item_version_pk),
            number,
            q.item_id,
            q.item_version_pk,
            maxima[q.item_version_pk],
            q.stem,
            q.rubric,
            reg.id or 0,
            _typed(typed, reg.id or 0, q),
        )
        for reg, _, numbering in numberings.values()
        for number, q in numbering.items()
        if q.type is ItemType.SUBJECTIVE
    ]
    return sorted(scripts, key=lambda s: s.code)


def _typed_answers(session: Session, sitting_id: int) -> dict[tuple[int, int, str], str]:
    """(registration, item version, part) → the answer handed in at a computer in a session of
    the sitting that delivered that part (part "" when the session delivered every part);
    answers sat on paper are not typed text and are not here."""
    rows = session.exec(
        select(Response, ExamSession.part)
        .join(Attempt, col(Attempt.registration_id) == col(Response.registration_id))
        .join(ExamSession, col(ExamSession.id) == col(Attempt.session_id))
        .where(ExamSession.sitting_id == sitting_id, Attempt.status == AttemptStatus.HANDED_IN)
    ).all()
    return {(r.registration_id, r.item_version_id, part): r.raw for r, part in rows}


def _typed(typed: dict[tuple[int, int, str], str], registration_id: int, q: PaperQuestion) -> str:
    key = (registration_id, q.item_version_pk)
    return typed.get((*key, q.part), typed.get((*key, ""), ""))


@dataclass(frozen=True)
class AttachedFile:
    """A file a candidate attached to a typed answer (the newest counts; none is deleted)."""

    id: int
    name: str
    media_type: str
    size: int
    sha256: str
    newest: bool


@dataclass(frozen=True)
class ScriptView:
    """What a rater sees of one script: the question, the rubric, the answer, the files."""

    sitting: str
    script: Script
    attachments: list[AttachedFile]


def _script(engine: Engine, sitting_code: str, code: str) -> Script:
    found = {s.code: s for s in marking_list(engine, sitting_code)}.get(code.strip().upper())
    if found is None:
        raise ScriptNotFound(code)
    return found


def _attachments_of(sitting_code: str, script: Script) -> Any:
    """The query of the script's attachments: its candidate's, its question's, and handed in
    at a session of this sitting."""
    return (
        select(Attachment)
        .join(Attempt, col(Attempt.id) == col(Attachment.attempt_id))
        .join(ExamSession, col(ExamSession.id) == col(Attempt.session_id))
        .join(Sitting, col(Sitting.id) == col(ExamSession.sitting_id))
        .where(
            Sitting.code == sitting_code,
            Attempt.registration_id == script.registration_id,
            Attachment.item_version_id == script.item_version_pk,
        )
    )


def script_view(engine: Engine, sitting_code: str, code: str) -> ScriptView:
    """The script ``code`` of the sitting for marking (never the candidate); ScriptNotFound for
    a code that is not one of the sitting's scripts."""
    script = _script(engine, sitting_code, code)
    with Session(engine) as session:
        files = session.exec(
            _attachments_of(sitting_code, script).order_by(col(Attachment.id).desc())
        ).all()
    return ScriptView(
        sitting_code,
        script,
        [
            AttachedFile(f.id or 0, f.name, f.media_type, f.size, f.sha256, n == 0)
            for n, f in enumerate(files)
        ],
    )


def script_attachment(
    engine: Engine, sitting_code: str, code: str, attachment_id: int
) -> tuple[str, str, bytes]:
    """(name, media type, content) of an attachment of the script ``code``; AttachmentNotFound
    for an id that is not one of this script's (another sitting's, another script's, none)."""
    script = _script(engine, sitting_code, code)
    with Session(engine) as session:
        found = session.exec(
            _attachments_of(sitting_code, script).where(Attachment.id == attachment_id)
        ).first()
    if found is None:
        raise AttachmentNotFound(attachment_id)
    return found.name, found.media_type, found.data


MARKING_LIST_HEADER = [
    "script",
    "question",
    "item_id",
    "maximum",
    "stem",
    "rubric",
    "answer",
    "rater",
    "mark",
]
"""The marking list's columns; raters fill in the last two and import the file as it is
(``answer``: the typed text of a computer-based sitting, empty for paper)."""


def marking_list_rows(scripts: list[Script]) -> list[list[str | float]]:
    """The marking list as rows under :data:`MARKING_LIST_HEADER` (no candidate identity);
    question numbers and maxima as numbers."""
    return [
        [s.code, s.question, s.item_id, s.maximum, s.stem, s.rubric, s.answer, "", ""]
        for s in scripts
    ]


MARKS = Columns({**COLUMNS, **INFORMATION}, required=COLUMNS)
RATER = text(required=True, zh="须填写评分员", en="rater is required")


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
    rows = read_rows(
        path, MARKS, encoding=encoding, max_bytes=max_bytes, max_rows=3 * len(scripts) + 100
    )
    script_cell = lookup(
        lambda code: scripts.get(code.upper()), code="unknown_script", what=("评卷号", "script")
    )
    marks = [f for row in rows if (f := _file_mark(row, script_cell, rater)) is not None]
    with transaction(engine) as session:
        # Plain rows, read and written in bulk: a sitting of ten thousand has tens of
        # thousands of scripts, and an ORM object each cost most of the import.
        stored: dict[tuple[int, int], list[tuple[int, str, int, float]]] = {}
        reg_ids = list({s.registration_id for s in scripts.values()})
        for mark_id, reg_id, item, rater_, round_, value in session.execute(
            sa_select(
                col(Mark.id),
                col(Mark.registration_id),
                col(Mark.item_version_id),
                col(Mark.rater),
                col(Mark.round),
                col(Mark.mark),
            )
            .where(col(Mark.registration_id).in_(reg_ids))
            .order_by(col(Mark.round))
        ):
            stored.setdefault((reg_id, item), []).append((mark_id or 0, rater_, round_, value))
        given = {
            code: stored.get((s.registration_id, s.item_version_pk), [])
            for code, s in scripts.items()
        }
        placed, refused = place_marks(
            marks,
            {c: [GivenMark(r, n, m) for _, r, n, m in ms] for c, ms in given.items()},
            {c: SUBJECTIVE_TOLERANCE * s.maximum for c, s in scripts.items()},
            file=str(path),
        )
        rows.add(refused)
        rows.refuse()
        now = utcnow()
        corrected: list[dict[str, Any]] = []
        added: list[dict[str, Any]] = []
        for p in placed:
            script = scripts[p.script]
            if p.corrects:
                own = next(mark_id for mark_id, r, _, _ in given[p.script] if r == p.rater)
                corrected.append({"id": own, "mark": p.mark, "recorded_at": now})
            else:
                added.append(
                    {
                        "registration_id": script.registration_id,
                        "item_version_id": script.item_version_pk,
                        "rater": p.rater,
                        "round": p.round,
                        "mark": p.mark,
                        "recorded_at": now,
                    }
                )
        if corrected:
            session.execute(update(Mark), corrected)  # by primary key, one statement batch
        connection = session.connection()
        for start in range(0, len(added), INSERT_BATCH):
            connection.execute(insert(MARKS_TABLE), added[start : start + INSERT_BATCH])
        audit_log.append(
            session,
            actor=actor,
            action="marks.import",
            subject=sitting_code,
            detail={"file": path.name, "marks": len(placed)},
        )
    return len(placed)


def _file_mark(row: Row, script_cell: Parser[Script], rater: str | None) -> FileMark | None:
    """The row as a mark for the rules of :func:`~certify.grading.marking.place_marks`: None,
    with the row's problems, when it names no known script or no rater it may."""
    script = row.get("script", script_cell)
    name = row.get("rater", RATER)
    if name and rater is not None and name != rater:
        row.bad(
            "rater",
            "not_you",
            f"只能提交本人（{rater}）的评分，此行为 {name}",
            f"only your own marks ({rater}) may be uploaded; this row is {name}'s",
        )
        return None
    if script is None or not name:
        return None
    on_scale = number(0, script.maximum, range_code="out_of_range", what_zh="分数", what_en="mark")
    mark = row.get("mark", on_scale)
    return FileMark(row.number, name, script.code, mark)


@dataclass(frozen=True)
class MarkingProgress:
    """How far the blind marking of a sitting has come: per question (with its item) and per
    rater, and the scripts waiting for a third mark (by anonymous code)."""

    sitting: str
    questions: list[tuple[QuestionProgress, str]]
    """Each question's progress with its item's ID."""
    raters: list[RaterProgress]
    third_pending: list[str]
    """Codes of the scripts whose first two marks are too far apart and have no third yet."""

    @property
    def scripts(self) -> int:
        return sum(q.scripts for q, _ in self.questions)

    @property
    def final(self) -> int:
        return sum(q.final for q, _ in self.questions)


def marking_progress(engine: Engine, sitting_code: str) -> MarkingProgress:
    """The sitting's marking progress, read from its stored marks; raises SittingNotFound."""
    scripts = marking_list(engine, sitting_code)
    reg_ids = list({s.registration_id for s in scripts})
    stored: dict[tuple[int, int], list[GivenMark]] = {}
    with Session(engine) as session:
        for m in session.exec(
            select(Mark).where(col(Mark.registration_id).in_(reg_ids)).order_by(col(Mark.round))
        ):
            stored.setdefault((m.registration_id, m.item_version_id), []).append(
                GivenMark(m.rater, m.round, m.mark)
            )
    counted = [
        ScriptMarks(
            s.question,
            stored.get((s.registration_id, s.item_version_pk), []),
            SUBJECTIVE_TOLERANCE * s.maximum,
        )
        for s in scripts
    ]
    questions, raters = tally_marks(counted)
    items = {s.question: s.item_id for s in scripts}
    waiting = [
        s.code
        for s, c in zip(scripts, counted, strict=True)
        if len(c.marks) == 2
        and needs_third(np.array([c.marks[0].mark]), np.array([c.marks[1].mark]), c.tolerance)[0]
    ]
    return MarkingProgress(
        sitting_code, [(q, items.get(q.question, "")) for q in questions], raters, waiting
    )
