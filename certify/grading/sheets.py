"""答题卡导入: answer sheets of a sitting, kept raw as the candidate wrote them.

A sheet file (CSV or XLSX) has one row per candidate: ``admission_no`` (准考证号), optionally
``form`` (试卷), then one column per printed question number (``1``, ``2``, … or ``Q1``, ``第1题``)
holding the answer in the letters of the candidate's own copy: ``B``; ``ACD``; ``T``/``F``
(对/错); fill-in blanks separated by ``;``. Blank cells are unanswered. Subjective questions are
marked by raters, not answered here.

Every row is checked against the candidate's registration and copy — an unknown candidate,
another form, a letter the printed question does not have, an answer to a subjective question
— and any problem refuses the whole file, naming row and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert
from sqlmodel import Session, col, select

from certify.grading.scoring import INVALID, encode_letters, encode_true_false
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Problem, ValidationFailed
from certify.infra.gcpause import gc_paused
from certify.infra.rows import Columns, Row, read_rows
from certify.infra.tabular import DEFAULT_MAX_BYTES
from certify.registration.sittings import get_sitting
from question_bank.papers import paper_view
from question_bank.shuffle import candidate_view
from schemas.enums import ItemType
from schemas.papers import PaperView
from schemas.tables import Paper, Registration, Response, Sitting, utcnow

_QUESTION = re.compile(r"(?:q|Q|第)?\s*(\d{1,3})\s*题?")


@dataclass(frozen=True)
class SheetReport:
    sitting: str
    sheets: int
    responses: int
    replaced: int


def _question(header: str) -> str | None:
    match = _QUESTION.fullmatch(header)
    return f"q{int(match[1])}" if match else None


SHEET = Columns(
    {"admission_no": ("准考证号", "考号"), "form": ("试卷", "卷别", "卷型")},
    required=["admission_no"],
    numbered=_question,
    hint_zh="（题号列写作 1、2、3… 或 第1题）",
    hint_en=" (question columns are 1, 2, 3 … or Q1)",
)


INSERT_BATCH = 5_000
RESPONSES = Response.__table__  # type: ignore[attr-defined]
"""Answers are written per batch of :data:`INSERT_BATCH` rows, into the table directly."""

Copies = tuple[Sitting, dict[str, tuple[Registration, PaperView]]]
"""A sitting and, per admission number, the registration and the candidate's own copy."""


@gc_paused()
def candidate_copies(engine: Engine, sitting_code: str) -> Copies:
    """The sitting and, per admission number, the registration and the candidate's own copy.

    Rebuilding every copy costs a paper view per form and a shuffle per candidate: one
    operation builds them once and passes them on (``copies=`` below).
    """
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        rows = list(
            session.exec(
                select(Registration, Paper)
                .join(Paper, col(Paper.id) == col(Registration.paper_id))
                .where(Registration.sitting_id == sitting.id)
            )
        )
    views: dict[str, PaperView] = {}
    copies = {}
    for reg, paper in rows:
        if paper.code not in views:
            views[paper.code] = paper_view(engine, paper.code)
        copies[reg.admission_no] = (
            reg,
            candidate_view(views[paper.code], reg.shuffle_seed, label=reg.admission_no),
        )
    return sitting, copies


def check_answer(q: Any, raw: str) -> str | None:
    """Why ``raw`` cannot be an answer to printed question ``q`` (None when it can)."""
    if q.type is ItemType.SUBJECTIVE:
        return "主观题由评分员评分，答题卡中不应有作答 / subjective questions are marked by raters, not answered on the sheet"
    if q.type is ItemType.TRUE_FALSE and encode_true_false(raw) == int(INVALID):
        return f"判断题答案应为 T/F（对/错），现为 {raw!r} / a true/false answer is T or F; got {raw!r}"
    if q.type in (ItemType.SINGLE, ItemType.MULTIPLE):
        mask = encode_letters(raw, width=len(q.options))
        letters = "".join(sorted(q.options))
        if mask == int(INVALID):
            return f"答案 {raw!r} 超出选项范围 {letters} / answer {raw!r} is outside the options {letters}"
        if q.type is ItemType.SINGLE and bin(mask).count("1") > 1:
            return f"单选题只能选一个选项，现为 {raw!r} / a single-choice answer has one letter; got {raw!r}"
    return None


def import_sheets(
    engine: Engine,
    sitting_code: str,
    path: Path,
    *,
    replace: bool = False,
    actor: str = "cli",
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> SheetReport:
    """Store every sheet of the file, or none; raises ValidationFailed naming each problem."""
    sitting, copies = candidate_copies(engine, sitting_code)
    rows = read_rows(path, SHEET, encoding=encoding, max_bytes=max_bytes)
    stored: list[tuple[Registration, dict[int, str]]] = []
    for row in rows:
        admission = row.text("admission_no")
        if admission not in copies:
            row.bad(
                "admission_no",
                "unknown_candidate",
                f"考生 {admission!r} 未在 {sitting_code} 登记",
                f"candidate {admission!r} is not registered in {sitting_code}",
            )
            continue
        if not rows.unique(row, "admission_no", admission):
            continue
        reg, view = copies[admission]
        form = row.text("form").upper()
        if form and form != view.form:
            row.bad(
                "form",
                "wrong_form",
                f"该考生的试卷为 {view.form} 卷，不是 {form}",
                f"the candidate sat form {view.form}, not {form}",
            )
        stored.append((reg, _answers(row, view)))
    rows.refuse()
    return _store(engine, sitting, copies, stored, path, replace, actor)


def _answers(row: Row, view: PaperView) -> dict[int, str]:
    """The row's answers by printed question number; a problem of the row for each answer the
    candidate's copy cannot take."""
    by_number = {q.number: q for q in view.questions}
    answers: dict[int, str] = {}
    for name, raw in row.values.items():
        if not name.startswith("q") or not raw:
            continue
        qn = int(name[1:])
        q = by_number.get(qn)
        if q is None:
            row.bad(
                str(qn),
                "unknown_question",
                f"试卷只有 {len(by_number)} 题",
                f"the paper has {len(by_number)} questions",
            )
            continue
        reason = check_answer(q, raw)
        if reason:
            zh, en = reason.split(" / ", 1)
            row.bad(str(qn), "bad_answer", zh, en)
        answers[qn] = raw
    return answers


def _store(
    engine: Engine,
    sitting: Sitting,
    copies: dict[str, tuple[Registration, PaperView]],
    stored: list[tuple[Registration, dict[int, str]]],
    path: Path,
    replace: bool,
    actor: str,
) -> SheetReport:
    with transaction(engine) as session:
        regs = [reg.id for reg, _ in stored]
        existing = set(
            session.exec(
                select(Response.registration_id).where(col(Response.registration_id).in_(regs))
            )
        )
        if existing and not replace:
            taken = sorted(reg.admission_no for reg, _ in stored if reg.id in existing)
            raise ValidationFailed(
                [
                    Problem(
                        str(path),
                        None,
                        "admission_no",
                        "already_imported",
                        f"这些考生的答题卡已导入：{'、'.join(taken[:10])}；如需替换请加 --replace",
                        f"sheets already imported for {', '.join(taken[:10])}; pass --replace to replace them",
                    )
                ]
            )
        if existing:
            session.execute(
                delete(Response).where(col(Response.registration_id).in_(list(existing)))
            )
        now = utcnow()
        rows = [
            {
                "registration_id": reg.id,
                "item_version_id": q.item_version_pk,
                "raw": answers.get(q.number, ""),
                "recorded_at": now,
            }
            for reg, answers in stored
            for q in copies[reg.admission_no][1].questions
            if q.type is not ItemType.SUBJECTIVE
        ]
        # Plain rows in batches (a sitting of ten thousand has hundreds of thousands): the
        # driver's many-row insert, not an ORM object and a flush each.
        connection = session.connection()
        for start in range(0, len(rows), INSERT_BATCH):
            connection.execute(insert(RESPONSES), rows[start : start + INSERT_BATCH])
        count = len(rows)
        audit_log.append(
            session,
            actor=actor,
            action="sheets.import",
            subject=sitting.code,
            detail={"file": path.name, "sheets": len(stored), "replaced": len(existing)},
        )
    return SheetReport(sitting.code, len(stored), count, len(existing))
