"""Per-candidate copies: rebuilt exactly from the seed, answers mapped back to the key."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from question_bank.shuffle import candidate_view, new_seed, to_canonical
from schemas.enums import ItemType
from tests.helpers import paper

SEEDS = st.integers(0, 2**63 - 1)


@settings(max_examples=50)
@given(seed=SEEDS)
def test_a_seed_rebuilds_the_same_copy(seed: int) -> None:
    assert candidate_view(paper(), seed) == candidate_view(paper(), seed)


@settings(max_examples=50)
@given(seed=SEEDS)
def test_questions_move_only_within_their_section_and_are_renumbered(seed: int) -> None:
    original, copy = paper(), candidate_view(paper(), seed)
    assert [q.number for q in copy.questions] == list(range(1, 19))
    for before, after in zip(original.parts, copy.parts, strict=True):
        assert [q.type for q in before.questions] == [q.type for q in after.questions]
        assert sorted(q.item_id for q in before.questions) == sorted(
            q.item_id for q in after.questions
        )


@settings(max_examples=50)
@given(seed=SEEDS)
def test_printed_keys_map_back_to_the_canonical_keys(seed: int) -> None:
    original, copy = paper(), candidate_view(paper(), seed)
    canonical = {q.item_version_pk: q.key for q in original.questions}
    mapped = to_canonical(copy, {q.number: q.key for q in copy.questions})
    assert mapped == canonical
    for q in copy.questions:
        for printed, letter in q.option_map.items():
            source = next(o for o in original.questions if o.item_id == q.item_id)
            assert q.options[printed] == source.options[letter]


def test_different_candidates_usually_get_different_copies() -> None:
    copies = {
        tuple(q.item_id for q in candidate_view(paper(), new_seed()).questions) for _ in range(20)
    }
    assert len(copies) > 15


def test_a_wrong_answer_stays_wrong_after_mapping() -> None:
    copy = candidate_view(paper(), 42)
    q = next(q for q in copy.questions if q.type is ItemType.SINGLE)
    wrong = next(letter for letter in q.options if letter != q.key)
    [answer] = to_canonical(copy, {q.number: wrong}).values()
    assert answer != "C" and answer == q.option_map[wrong]
