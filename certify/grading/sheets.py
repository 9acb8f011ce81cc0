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
from question_bank.shuffle import candidate_numbers, candidate_view, matching_answer
from schemas.enums import ItemType
from schemas.notation import OPTION_LETTERS, UNMATCHED
from schemas.papers import PaperQuestion, PaperView
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
"""Rows per many-row insert when a file's answers or marks are stored (into the table directly)."""
RESPONSES = Response.__table__  # type: ignore[attr-defined]

Copies = tuple[Sitting, dict[str, tuple[Registration, PaperView]]]
"""A sitting and, per admission number, the registration and the candidate's own copy."""


@gc_paused()
def candidate_copies(engine: Engine, sitting_code: str) -> Copies:
    """The sitting and, per admission number, the registration and the candidate's own copy.

    Rebuilding every copy costs a paper view per form and a shuffle per candidate: one
    operation builds them once and passes them on (``copies=`` below).
    """
    sitting, rows, views = _registrations(engine, sitting_code)
    copies = {
        reg.admission_no: (
            reg,
            candidate_view(views[code], reg.shuffle_seed, label=reg.admission_no),
        )
        for reg, code in rows
    }
    return sitting, copies


Numbering = dict[int, PaperQuestion]
"""A candidate's printed numbers and the form's question printed at each (options unshuffled)."""
Numberings = tuple[Sitting, dict[str, tuple[Registration, str, Numbering]]]
"""A sitting and, per admission number, the registration, the form and the numbering."""


@gc_paused()
def candidate_numberings(engine: Engine, sitting_code: str) -> Numberings:
    """The sitting and, per admission number, the registration, the form and which question
    each printed number is (:func:`~question_bank.shuffle.candidate_numbers`: the copy's
    draws without the copy) — what storing answer sheets and listing scripts need, for a
    third of the cost of every copy."""
    sitting, rows, views = _registrations(engine, sitting_code)
    numberings = {
        reg.admission_no: (
            reg,
            views[code].form,
            dict(candidate_numbers(views[code], reg.shuffle_seed)),
        )
        for reg, code in rows
    }
    return sitting, numberings


def _registrations(
    engine: Engine, sitting_code: str
) -> tuple[Sitting, list[tuple[Registration, str]], dict[str, PaperView]]:
    """The sitting, its registrations with their paper's code, and each paper's view."""
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        rows = [
            (reg, code)
            for reg, code in session.exec(
                select(Registration, Paper.code)
                .join(Paper, col(Paper.id) == col(Registration.paper_id))
                .where(Registration.sitting_id == sitting.id)
            )
        ]
    views = {code: paper_view(engine, code) for code in {code for _, code in rows}}
    return sitting, rows, views


def check_answer(q: Any, raw: str) -> str | None:
    """Why ``raw`` cannot be an answer to printed question ``q`` (None when it can)."""
    return check_printed(q.type, len(q.options), raw, premises=len(q.premises))


def check_printed(kind: ItemType, options: int, raw: str, *, premises: int = 0) -> str | None:
    """Why ``raw`` cannot be the answer to a printed question of type ``kind`` with ``options``
    options (printed A, B, …: a copy's letters whatever its shuffle) and, for a matching
    question, ``premises`` premises; None when it can."""
    if kind is ItemType.SUBJECTIVE:
        return "主观题由评分员评分，答题卡中不应有作答 / subjective questions are marked by raters, not answered on the sheet"
    if kind is ItemType.TRUE_FALSE and encode_true_false(raw) == int(INVALID):
        return f"判断题答案应为 T/F（对/错），现为 {raw!r} / a true/false answer is T or F; got {raw!r}"
    if kind in (ItemType.SINGLE, ItemType.MULTIPLE):
        mask = encode_letters(raw, width=options)
        letters = OPTION_LETTERS[:options]
        if mask == int(INVALID):
            return f"答案 {raw!r} 超出选项范围 {letters} / answer {raw!r} is outside the options {letters}"
        if kind is ItemType.SINGLE and bin(mask).count("1") > 1:
            return f"单选题只能选一个选项，现为 {raw!r} / a single-choice answer has one letter; got {raw!r}"
    if kind is ItemType.MATCHING:
        letters = OPTION_LETTERS[:options]
        answer = matching_answer(raw)
        if any(c not in letters and c != UNMATCHED for c in answer):
            return (
                f"配对题答案 {raw!r} 超出选项范围 {letters}（未配对的题项写 {UNMATCHED}）"
                f" / matching answer {raw!r} is outside the options {letters} "
                f"(write {UNMATCHED} for a premise left unmatched)"
            )
        if len(answer) > premises:
            return (
                f"配对题只有 {premises} 个题项，答案 {raw!r} 给出 {len(answer)} 个"
                f" / the matching question has {premises} premises; {raw!r} gives {len(answer)}"
            )
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
    sitting, numberings = candidate_numberings(engine, sitting_code)
    rows = read_rows(path, SHEET, encoding=encoding, max_bytes=max_bytes)
    stored: list[tuple[Registration, dict[int, str]]] = []
    for row in rows:
        admission = row.text("admission_no")
        if admission not in numberings:
            row.bad(
                "admission_no",
                "unknown_candidate",
                f"考生 {admission!r} 未在 {sitting_code} 登记",
                f"candidate {admission!r} is not registered in {sitting_code}",
            )
            continue
        if not rows.unique(row, "admission_no", admission):
            continue
        reg, sat, numbering = numberings[admission]
        form = row.text("form").upper()
        if form and form != sat:
            row.bad(
                "form",
                "wrong_form",
                f"该考生的试卷为 {sat} 卷，不是 {form}",
                f"the candidate sat form {sat}, not {form}",
            )
        stored.append((reg, _answers(row, numbering)))
    rows.refuse()
    return _store(engine, sitting, numberings, stored, path, replace, actor)


def _answers(row: Row, by_number: Numbering) -> dict[int, str]:
    """The row's answers by printed question number; a problem of the row for each answer the
    candidate's copy cannot take."""
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
        reason = check_printed(q.type, len(q.options), raw, premises=len(q.premises))
        if reason:
            zh, en = reason.split(" / ", 1)
            row.bad(str(qn), "bad_answer", zh, en)
        answers[qn] = raw
    return answers


def _store(
    engine: Engine,
    sitting: Sitting,
    numberings: dict[str, tuple[Registration, str, Numbering]],
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
                "raw": answers.get(number, ""),
                "recorded_at": now,
            }
            for reg, answers in stored
            for number, q in numberings[reg.admission_no][2].items()
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
