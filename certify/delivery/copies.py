"""The candidate's own copy of a session's questions, as the exam page shows and checks it.

A copy is the candidate's shuffled view of their form (:func:`question_bank.shuffle.candidate_view`
with the registration's seed, exactly as printed papers are made), cut to the part the session
delivers. Papers are frozen and seeds never change, so a copy is derived data: each process
keeps the copies it has built (a bounded cache), and any process builds the same one.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam
from sqlmodel import col, select

from certify.grading.sheets import check_answer
from certify.infra import db
from question_bank.images import images_in, shown_texts
from question_bank.papers import paper_view
from question_bank.shuffle import candidate_numbers, candidate_view, draws
from schemas.enums import ItemType
from schemas.notation import LIST_SEPARATOR, OPTION_LETTERS
from schemas.papers import PaperPart, PaperQuestion, PaperView
from schemas.tables import Paper, Registration

MAX_VALUE_CHARS = 20_000
"""The longest answer one question takes (a subjective answer of several pages)."""


@dataclass(frozen=True)
class Numbering:
    """Which question a candidate's printed number is, for one session: all a save needs. The
    questions are the form's own (options in the form's letters); what a check reads of them —
    type, how many options, blanks or premises — is the same in every copy, so no copy is built."""

    by_number: dict[int, PaperQuestion]

    def check(self, number: int, value: str) -> tuple[str, str, str] | None:
        """Why ``value`` cannot be the answer to question ``number``: (code, zh, en), or None."""
        q = self.by_number.get(number)
        if q is None:
            return ("unknown_question", f"本场考试没有第 {number} 题", f"no question {number} here")
        if len(value) > MAX_VALUE_CHARS:
            return (
                "bad_value",
                f"第 {number} 题的作答超过 {MAX_VALUE_CHARS} 字",
                f"the answer to {number} is longer than {MAX_VALUE_CHARS} characters",
            )
        if "\x00" in value:  # no database stores it in text
            return (
                "bad_value",
                f"第 {number} 题的作答含有无法保存的字符",
                f"the answer to {number} holds a NUL character",
            )
        if not value or q.type is ItemType.SUBJECTIVE:
            return None
        if q.type is ItemType.FILL:
            blanks = blanks_of(q)
            if value.count(LIST_SEPARATOR) + value.count("；") >= blanks:
                return (
                    "bad_value",
                    f"第 {number} 题只有 {blanks} 个空",
                    f"question {number} has {blanks} blanks",
                )
            return None
        reason = check_answer(q, value)
        if reason is None:
            return None
        zh, en = reason.split(" / ", 1)
        return ("bad_value", f"第 {number} 题：{zh}", f"question {number}: {en}")


@dataclass(frozen=True)
class Copy(Numbering):
    """A candidate's questions of one session, by printed number, as shuffled for them."""

    view: PaperView
    parts: tuple[PaperPart, ...]

    @property
    def questions(self) -> list[PaperQuestion]:
        return [q for part in self.parts for q in part.questions]

    def public(self) -> list[dict[str, Any]]:
        """The parts and questions as the candidate may see them: no keys, rubrics, item ids or
        option maps."""
        return [
            {
                "part": part.part,
                "title": part.title,
                "questions": [_public_question(q) for q in part.questions],
            }
            for part in self.parts
        ]


def blanks_of(q: PaperQuestion) -> int:
    """How many blanks a fill-in question has (the key gives one answer per blank)."""
    return q.key.count(LIST_SEPARATOR) + 1


def _public_question(
    q: PaperQuestion, number: int | None = None, order: list[int] | None = None
) -> dict[str, Any]:
    """What the candidate may see of ``q``. With ``number``, ``q`` is the form's question, shown
    at that number with its options in ``order`` (as :func:`question_bank.shuffle.draws` gives
    them): what the shuffled copy of it shows, without making that copy."""
    out: dict[str, Any] = {"number": q.number if number is None else number}
    out["type"] = q.type.value
    out["stem"] = q.stem
    out["points"] = q.points
    if order is not None:
        canonical = sorted(q.options)
        out["options"] = {OPTION_LETTERS[k]: q.options[canonical[i]] for k, i in enumerate(order)}
    elif q.type.has_options:
        out["options"] = dict(sorted(q.options.items()))
    if q.type is ItemType.MATCHING:
        out["premises"] = list(q.premises)
    if q.type is ItemType.FILL:
        out["blanks"] = blanks_of(q)
    return out


@dataclass(frozen=True)
class Shown:
    """What the exam page receives of a candidate's copy: the parts as :meth:`Copy.public`
    gives them, and the printed number of each item version (to place the saved answers)."""

    title: str
    form: str
    parts: list[dict[str, Any]]
    numbering: Numbering

    @property
    def number_of(self) -> dict[int, int]:
        """The printed number of each item version shown."""
        return {q.item_version_pk: n for n, q in self.numbering.by_number.items()}

    @property
    def questions(self) -> tuple[PaperQuestion, ...]:
        """The form's questions shown (not shuffled): what the images are found in."""
        return tuple(self.numbering.by_number.values())


@dataclass(frozen=True)
class MadeFrom:
    """What a candidate's copy is made from: the registration's seed, its admission number (the
    copy's label) and its paper. The hot path reads these with the attempt, so a process that
    has not built the copy yet need not read them again."""

    shuffle_seed: int
    admission_no: str
    paper_id: int


FREEZE_EVERY = 256
"""Copies built between two freezes of what the process holds (see :meth:`Copies.get`)."""


class Copies:
    """Copies by (database, registration, part), built once per process; papers are cached by
    (database, paper)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._copies: OrderedDict[tuple[str, int, str], Copy] = OrderedDict()
        self._numberings: OrderedDict[tuple[str, int, str], Numbering] = OrderedDict()
        self._papers: dict[tuple[str, int], PaperView] = {}
        self._images: OrderedDict[tuple[str, int, str], dict[str, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._built = 0

    def clear(self) -> None:
        """Forget every copy and paper (for a database emptied under a running process)."""
        with self._lock:
            self._copies.clear()
            self._numberings.clear()
            self._papers.clear()
            self._images.clear()

    def images(
        self, engine: Engine, questions: tuple[PaperQuestion, ...], paper_id: int, part: str
    ) -> dict[str, str]:
        """The images ``questions`` (any copy's of a paper's part, or the form's: a shuffle
        moves texts, never changes them) show, as ``data:`` addresses by hash. Every copy of a
        paper's part shows the same ones, so each process finds them once per paper and part."""
        key = (db.where(engine), paper_id, part)
        with self._lock:
            found = self._images.get(key)
        if found is None:
            shown = images_in(engine, shown_texts(*questions))
            found = {sha: image.data_uri() for sha, image in shown.items()}
            with self._lock:
                self._images[key] = found
                while len(self._images) > 64:
                    self._images.popitem(last=False)
        return found

    def numbering(
        self, engine: Engine, registration_id: int, part: str, made_from: MadeFrom | None = None
    ) -> Numbering:
        """The printed numbering of registration ``registration_id``'s copy for ``part``: the
        copy's own when this process has built it, else drawn from the seed without building
        one (a third of the time, and no new objects but one dict: the answer path of a process
        that never served the paper stays free of copies and of their garbage collections)."""
        where = db.where(engine)
        key = (where, registration_id, part)
        with self._lock:
            copy = self._copies.get(key)
            if copy is not None:
                return copy
            found = self._numberings.get(key)
            if found is not None:
                self._numberings.move_to_end(key)  # least recently used goes first, as copies
                return found
        made_from = made_from or self._made_from(engine, registration_id)
        view = self._view(engine, where, made_from.paper_id)
        wanted = {p.part for p in view.parts if not part or p.part == part}
        numbering = Numbering(
            {n: q for n, q in candidate_numbers(view, made_from.shuffle_seed) if q.part in wanted}
        )
        self._keep_numbering(key, numbering)
        return numbering

    def _keep_numbering(self, key: tuple[str, int, str], numbering: Numbering) -> None:
        with self._lock:
            self._numberings[key] = numbering
            self._numberings.move_to_end(key)
            while len(self._numberings) > self.size:
                self._numberings.popitem(last=False)

    def shown(self, engine: Engine, registration_id: int, part: str, made_from: MadeFrom) -> Shown:
        """What the page receives of the copy ``made_from`` gives for ``part``
        (:func:`shown_copy`). The form is kept, and the numbering drawn on the way, as
        :meth:`numbering` keeps it: the candidate's first save here needs it."""
        where = db.where(engine)
        view = self._view(engine, where, made_from.paper_id)
        shown = shown_copy(view, made_from.shuffle_seed, part)
        self._keep_numbering((where, registration_id, part), shown.numbering)
        return shown

    def _made_from(self, engine: Engine, registration_id: int) -> MadeFrom:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # one read, no BEGIN
            row = conn.execute(_REGISTRATION, {"registration_id": registration_id}).one()
        return MadeFrom(row[0], row[1], int(row[2] or 0))

    def _view(self, engine: Engine, where: str, paper_id: int) -> PaperView:
        view = self._papers.get((where, paper_id))
        if view is None:
            with engine.connect() as conn:
                code = conn.execute(_PAPER_CODE, {"paper_id": paper_id}).scalar_one()
            view = paper_view(engine, code)
            with self._lock:
                self._papers[(where, paper_id)] = view
        return view

    def get(
        self, engine: Engine, registration_id: int, part: str, made_from: MadeFrom | None = None
    ) -> Copy:
        """The copy of registration ``registration_id`` for ``part`` ("" for every part);
        ``made_from``, when the caller has read it, saves reading it again."""
        where = db.where(engine)
        key = (where, registration_id, part)
        with self._lock:
            found = self._copies.get(key)
            if found is not None:
                self._copies.move_to_end(key)
                return found
        made_from = made_from or self._made_from(engine, registration_id)
        view = self._view(engine, where, made_from.paper_id)
        mine = candidate_view(view, made_from.shuffle_seed, label=made_from.admission_no)
        parts = tuple(p for p in mine.parts if not part or p.part == part)
        copy = Copy({q.number: q for p in parts for q in p.questions}, mine, parts)
        with self._lock:
            self._copies[key] = copy
            while len(self._copies) > self.size:
                self._copies.popitem(last=False)
            self._built += 1
            settle = self._built % FREEZE_EVERY == 0
        if settle:
            # Copies live as long as the exam: thousands of them are half a million objects,
            # and every full collection of the cyclic garbage collector walked them all —
            # measured pauses of 0.3–0.6 s that stopped every thread of a worker at the start
            # of an exam. Collected first (so no garbage is kept) and then frozen, they are
            # skipped by later collections; reference counting still frees an evicted copy.
            gc.collect()
            gc.freeze()
        return copy


def shown_copy(view: PaperView, seed: int, part: str) -> Shown:
    """What the page receives of the copy of ``view`` a candidate with ``seed`` gets, for
    ``part`` ("" for every part): the parts as that copy's :meth:`Copy.public` gives them, made
    from the seed's draws straight into the page's shape, without the copy (a shuffled question
    object per question, then its public form). Every candidate loads the paper in the same
    minute, and nothing of this outlives the reply."""
    shown: list[dict[str, Any] | None] = [
        {"part": p.part, "title": p.title, "questions": []} if not part or p.part == part else None
        for p in view.parts
    ]
    by_number: dict[int, PaperQuestion] = {}
    for index, number, q, order in draws(view, seed):
        into = shown[index]
        if into is not None:
            into["questions"].append(_public_question(q, number, order))
            by_number[number] = q
    return Shown(view.title, view.form, [p for p in shown if p is not None], Numbering(by_number))


_REGISTRATION = select(
    col(Registration.shuffle_seed), col(Registration.admission_no), col(Registration.paper_id)
).where(col(Registration.id) == bindparam("registration_id"))
_PAPER_CODE = select(col(Paper.code)).where(col(Paper.id) == bindparam("paper_id"))

COPIES = Copies()
"""This process's copies (derived data: any process rebuilds the same)."""
