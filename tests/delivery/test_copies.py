"""What the exam page receives of a candidate's copy is what the copy itself shows."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from certify.delivery.copies import Copy, shown_copy
from question_bank.shuffle import candidate_view
from schemas.enums import ItemType
from tests.helpers import paper
from tests.question_bank.test_shuffle import _with_matching


def _copy(view, seed: int, part: str) -> Copy:  # type: ignore[no-untyped-def]
    """The copy as the hand-in and the attachments build it (``Copies.get``)."""
    mine = candidate_view(view, seed)
    parts = tuple(p for p in mine.parts if not part or p.part == part)
    return Copy({q.number: q for p in parts for q in p.questions}, mine, parts)


@settings(max_examples=100)
@given(
    seed=st.integers(0, 2**63 - 1),
    part=st.sampled_from(["", "theory", "practical"]),
    matching=st.booleans(),
)
def test_the_page_is_shown_the_copy_the_candidate_has(seed: int, part: str, matching: bool) -> None:
    view = _with_matching() if matching else paper()
    copy, shown = _copy(view, seed, part), shown_copy(view, seed, part)
    # the same reply, to the byte and the order of keys (options in printed order)
    assert json.dumps(shown.parts, ensure_ascii=False) == json.dumps(
        copy.public(), ensure_ascii=False
    )
    assert shown.number_of == {q.item_version_pk: q.number for q in copy.questions}
    assert (shown.title, shown.form) == (copy.view.title, copy.view.form)
    assert sorted(q.item_version_pk for q in shown.questions) == sorted(shown.number_of)
    # what a save checks against: the same questions at the same numbers as the copy's own
    assert {n: q.item_version_pk for n, q in shown.numbering.by_number.items()} == {
        n: q.item_version_pk for n, q in copy.by_number.items()
    }


def test_the_options_shown_are_shuffled_and_carry_no_key() -> None:
    view = _with_matching()
    first = next(q for q in view.questions if q.type is ItemType.SINGLE)
    seen = set()
    for seed in range(20):
        shown = shown_copy(view, seed, "theory")
        [questions] = [p["questions"] for p in shown.parts]
        single = next(q for q in questions if q["stem"] == first.stem)  # one item, every seed
        seen.add(tuple(single["options"].values()))
        assert all({"key", "rubric", "option_map", "item_id"}.isdisjoint(q) for q in questions)
    assert len(seen) > 1
