"""Per-candidate shuffles: question and option order from a seed kept with the registration.

The same paper and seed always give the same copy, so a candidate's paper can be rebuilt
exactly for an appeal, and their answers, given in printed letters, mapped back to the
canonical key. Questions move only within their section (same part, same type); options of
single- and multiple-choice questions, and a matching question's options, are permuted (its
premises keep their order, so its key stays one letter per premise in the same order).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import numpy as np

from schemas.enums import ItemType
from schemas.notation import OPTION_LETTERS, UNMATCHED
from schemas.papers import PaperPart, PaperQuestion, PaperView


def new_seed() -> int:
    """A fresh 63-bit seed for a registration (fits a signed BIGINT)."""
    return secrets.randbits(63)


def candidate_view(view: PaperView, seed: int, label: str = "") -> PaperView:
    """The copy of ``view`` a candidate with ``seed`` receives."""
    parts: list[list[PaperQuestion]] = [[] for _ in view.parts]
    for part, number, q, order in draws(view, seed):
        parts[part].append(_shuffle_options(q, number, order))
    return view.model_copy(
        update={
            "parts": [
                p.model_copy(update={"questions": questions})
                for p, questions in zip(view.parts, parts, strict=True)
            ],
            "candidate_seed": seed,
            "candidate_label": label,
        }
    )


def candidate_numbers(view: PaperView, seed: int) -> list[tuple[int, PaperQuestion]]:
    """Each printed number of the copy a candidate with ``seed`` receives, with the question of
    ``view`` printed there (its options as in ``view``, not as shuffled): the same draws as
    :func:`candidate_view`, without building the copy. What storing a sheet's answers (kept as
    given) and listing scripts need — at a fraction of the cost, for a sitting of thousands."""
    return [(number, q) for _, number, q, _ in draws(view, seed)]


def draws(view: PaperView, seed: int) -> Iterator[tuple[int, int, PaperQuestion, list[int] | None]]:
    """(part index, printed number, question, order of its options or None) for every question
    of the copy, in printed order. The one place the seed is drawn from: the questions'
    order within each section, then the options of each question as it is placed. Printed
    letter ``OPTION_LETTERS[k]`` shows the question's ``order[k]``-th option in canonical
    (sorted) letter order."""
    rng = np.random.default_rng(seed)
    number = 0
    for p, part in enumerate(view.parts):
        for section in _sections(part):
            for index in rng.permutation(len(section)):
                number += 1
                q = section[int(index)]
                order = rng.permutation(len(q.options)).tolist() if q.type.has_options else None
                yield p, number, q, order


def _sections(part: PaperPart) -> list[list[PaperQuestion]]:
    sections: list[list[PaperQuestion]] = []
    for q in part.questions:
        if sections and sections[-1][0].type is q.type:
            sections[-1].append(q)
        else:
            sections.append([q])
    return sections


def _copy(q: PaperQuestion, update: dict[str, Any]) -> PaperQuestion:
    """``q.model_copy(update=update)``, made directly: what pydantic's copy does for a model
    without extra fields or private attributes (a new instance sharing the field values, the
    updated ones set, the fields counted as set), without its generic machinery. A sitting of
    ten thousand candidates makes 440,000 of these; this is half the time of ``model_copy``."""
    new = object.__new__(PaperQuestion)
    values = q.__dict__.copy()
    values.update(update)
    object.__setattr__(new, "__dict__", values)
    object.__setattr__(new, "__pydantic_fields_set__", q.__pydantic_fields_set__ | update.keys())
    object.__setattr__(new, "__pydantic_extra__", None)
    object.__setattr__(new, "__pydantic_private__", None)
    return new


def _shuffle_options(q: PaperQuestion, number: int, order: list[int] | None) -> PaperQuestion:
    if order is None:
        return _copy(q, {"number": number})
    canonical = sorted(q.options)
    printed = OPTION_LETTERS[: len(canonical)]
    option_map = {printed[k]: canonical[order[k]] for k in range(len(canonical))}
    options = {p: q.options[c] for p, c in option_map.items()}
    back = {c: p for p, c in option_map.items()}
    if q.type is ItemType.MATCHING:
        key = "".join(back[c] for c in q.key)  # one letter per premise, in their order
    else:
        key = "".join(sorted(back[c] for c in q.key))
    return _copy(q, {"number": number, "options": options, "key": key, "option_map": option_map})


def to_canonical(view: PaperView, answers: dict[int, str]) -> dict[int, str]:
    """Answers by printed question number and letters → by item version, in canonical letters.

    Letters a question does not have are kept as given (upper-cased), so scoring sees them as
    wrong rather than losing them.
    """
    by_number = {q.number: q for q in view.questions}
    out: dict[int, str] = {}
    for number, raw in answers.items():
        q = by_number[number]
        if q.type in (ItemType.SINGLE, ItemType.MULTIPLE):
            letters = [q.option_map.get(c, c) for c in raw.upper() if not c.isspace()]
            out[q.item_version_pk] = "".join(sorted(letters))
        elif q.type is ItemType.MATCHING:  # position by position: premise i's letter
            out[q.item_version_pk] = "".join(q.option_map.get(c, c) for c in matching_answer(raw))
        else:
            out[q.item_version_pk] = raw
    return out


def matching_answer(raw: str) -> str:
    """A matching answer as one character per premise: upper case, separators (spaces, commas,
    、 and semicolons) dropped, ``_`` read as :data:`UNMATCHED`."""
    return "".join(UNMATCHED if c == "_" else c for c in raw.upper() if c not in " ,，、;；\t")
