"""The pure scoring core: choices, fill-in, double marking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from certify.grading.fill import credit, normalise, score_fill
from certify.grading.marking import final_marks, needs_third, scaled
from certify.grading.scoring import (
    CHUNK,
    INVALID,
    encode_letters,
    encode_true_false,
    matching_credit,
    score_choices,
    score_matching,
)


def test_letters_encode_as_bitmasks() -> None:
    assert encode_letters("ACD") == 0b1101
    assert encode_letters("d, a、c") == 0b1101
    assert encode_letters("") == 0
    assert encode_letters("AE", width=4) == int(INVALID)
    assert (
        encode_true_false("对") == 1
        and encode_true_false("×") == 2
        and encode_true_false("?") == int(INVALID)
    )


def test_the_partial_credit_rule() -> None:
    key = np.array([0b0111], dtype=np.uint16)  # ABC
    answers = np.array(
        [[0b0111], [0b0011], [0b1011], [0], [int(INVALID)], [0b0001]], dtype=np.uint16
    )
    scores = score_choices(answers, key, np.array([2.0]), np.array([True]), partial_fraction=0.5)
    assert scores[:, 0].tolist() == [2.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    strict = score_choices(answers, key, np.array([2.0]), np.array([True]), partial_fraction=0.0)
    assert strict[:, 0].tolist() == [2.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_single_choice_never_gets_partial_credit() -> None:
    key = np.array([0b0010], dtype=np.uint16)
    answers = np.array([[0b0010], [0b0011]], dtype=np.uint16)
    scores = score_choices(answers, key, np.array([1.0]), np.array([False]))
    assert scores[:, 0].tolist() == [1.0, 0.0]


MASKS = st.integers(0, 255)


@st.composite
def sheets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    items = draw(st.integers(1, 12))
    keys = np.array(
        draw(st.lists(st.integers(1, 255), min_size=items, max_size=items)), dtype=np.uint16
    )
    responses = draw(arrays(np.uint16, (draw(st.integers(1, 30)), items), elements=MASKS))
    points = (
        np.array(draw(st.lists(st.integers(1, 20), min_size=items, max_size=items)), dtype=float)
        / 2
    )
    multiple = np.array(draw(st.lists(st.booleans(), min_size=items, max_size=items)))
    return responses, keys, points, multiple


@settings(max_examples=200)
@given(sheet=sheets(), fraction=st.sampled_from([0.0, 0.5, 1 / 3]))
def test_every_score_lies_within_zero_and_the_points(sheet: tuple, fraction: float) -> None:
    responses, keys, points, multiple = sheet
    scores = score_choices(responses, keys, points, multiple, partial_fraction=fraction)
    assert (scores >= 0).all() and (scores <= points.astype(np.float32)).all()
    assert (
        scores[responses == keys] == points.astype(np.float32)[np.nonzero(responses == keys)[1]]
    ).all()


@settings(max_examples=100)
@given(sheet=sheets(), seed=st.integers(0, 2**32 - 1))
def test_scores_do_not_depend_on_candidate_order(sheet: tuple, seed: int) -> None:
    responses, keys, points, multiple = sheet
    order = np.random.default_rng(seed).permutation(len(responses))
    assert np.array_equal(
        score_choices(responses[order], keys, points, multiple),
        score_choices(responses, keys, points, multiple)[order],
    )


@settings(max_examples=100)
@given(sheet=sheets(), seed=st.integers(0, 2**32 - 1))
def test_permuting_options_with_the_key_leaves_scores_unchanged(sheet: tuple, seed: int) -> None:
    responses, keys, points, multiple = sheet
    perm = np.random.default_rng(seed).permutation(8)  # option k is printed as perm[k]

    def relabel(masks: np.ndarray) -> np.ndarray:
        out = np.zeros_like(masks)
        for k in range(8):
            out |= ((masks >> k) & 1).astype(np.uint16) << np.uint16(perm[k])
        return out

    assert np.array_equal(
        score_choices(relabel(responses), relabel(keys), points, multiple),
        score_choices(responses, keys, points, multiple),
    )


def proper_subset(key: int, pick: int) -> int:
    """The ``pick``-th non-empty proper subset of the options of ``key`` (pick >= 1)."""
    options = [bit for bit in range(8) if key >> bit & 1]
    pick = 1 + (pick - 1) % (2 ** len(options) - 2)
    return sum(1 << bit for j, bit in enumerate(options) if pick >> j & 1)


ANSWERS = ("exact", "subset", "wrong_option", "blank", "unreadable")


@st.composite
def answers_near_the_key(
    draw: st.DrawFn,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[list[str]]]:
    """Keys, and answers made from them on purpose: the key, a correct proper subset of it (for
    a key of two or more options), some of it with a wrong option added, blank, unreadable.
    The first question is multiple choice and the first candidate answers it with a subset."""
    items = draw(st.integers(1, 8))
    several = st.integers(3, 255).filter(lambda k: k.bit_count() >= 2)
    others = items - 1
    keys = [draw(several), *draw(st.lists(st.integers(1, 255), min_size=others, max_size=others))]
    multiple = [True, *draw(st.lists(st.booleans(), min_size=others, max_size=others))]
    rows = draw(st.integers(1, 20))
    kinds = [[draw(st.sampled_from(ANSWERS)) for _ in range(items)] for _ in range(rows)]
    kinds[0][0] = "subset"
    responses = np.zeros((rows, items), dtype=np.uint16)
    for c, row in enumerate(kinds):
        for i, kind in enumerate(row):
            key = keys[i]
            if kind == "subset" and key.bit_count() < 2:
                kind = row[i] = "blank"  # a one-option key has no non-empty proper subset
            if kind == "wrong_option" and key == 255:
                kind = row[i] = "unreadable"  # every option is in the key
            if kind == "exact":
                responses[c, i] = key
            elif kind == "subset":
                responses[c, i] = proper_subset(key, draw(st.integers(1, 254)))
            elif kind == "wrong_option":  # any part of the key, and an option outside it
                outside = draw(st.sampled_from([b for b in range(8) if not key >> b & 1]))
                responses[c, i] = draw(st.integers(0, 255)) & key | 1 << outside
            elif kind == "unreadable":
                responses[c, i] = INVALID
    points = np.array(draw(st.lists(st.integers(1, 20), min_size=items, max_size=items))) / 2
    return responses, np.array(keys, dtype=np.uint16), points, np.array(multiple), kinds


@settings(max_examples=200)
@given(sheet=answers_near_the_key(), fraction=st.sampled_from([0.5, 1 / 3, 0.25, 0.0]))
def test_a_correct_subset_earns_exactly_the_partial_fraction(
    sheet: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[list[str]]],
    fraction: float,
) -> None:
    """Exact key: the points; a correct proper subset of a multiple-choice key: the points times
    the fraction (nothing for single choice or all-or-nothing); a wrong option, blank or
    unreadable: nothing."""
    responses, keys, points, multiple, kinds = sheet
    scores = score_choices(responses, keys, points, multiple, partial_fraction=fraction)
    for c, row in enumerate(kinds):
        for i, kind in enumerate(row):
            if kind == "exact":
                expected = np.float32(points[i])
            elif kind == "subset" and multiple[i]:
                expected = np.float32(points[i] * fraction)
            else:
                expected = np.float32(0)
            assert scores[c, i] == expected, (kind, int(responses[c, i]), int(keys[i]))
    assert scores[0, 0] == np.float32(points[0] * fraction)


def score_by_the_rule(
    answer: int, key: int, points: float, multiple: bool, fraction: float
) -> float:
    """One answer scored by the rule of the module docstring, alone."""
    if answer == key:
        return points
    if multiple and answer != 0 and answer & ~key == 0:  # only options of the key
        return points * fraction
    return 0.0


def test_a_sheet_of_several_chunks_scores_as_each_row_alone() -> None:
    """Candidates on both sides of every chunk boundary, and in the short last chunk, score as
    the rule gives for each answer on its own."""
    rng = np.random.default_rng(12)
    fraction = 1 / 3
    rows, items = 2 * CHUNK + 123, 6
    keys = np.array([0b0111, 0b1010, 0b0100, 0b1101, 0b0001, 0b11110000], dtype=np.uint16)
    multiple = np.array([True, True, False, True, False, True])
    points = np.array([2.0, 3.0, 1.0, 2.5, 1.0, 4.0])
    near = [
        keys,  # exact
        keys & rng.integers(0, 256, (rows, items)).astype(np.uint16),  # a subset, maybe empty
        keys | rng.integers(0, 256, (rows, items)).astype(np.uint16),  # the key and more
        rng.integers(0, 256, (rows, items)).astype(np.uint16),  # anything
        np.full((rows, items), INVALID),
    ]
    which = rng.integers(0, len(near), (rows, items))
    responses = np.choose(which, np.broadcast_arrays(*near)).astype(np.uint16)
    scores = score_choices(responses, keys, points, multiple, partial_fraction=fraction)
    expected = np.array(
        [
            [
                score_by_the_rule(int(a), int(k), float(p), bool(m), fraction)
                for a, k, p, m in zip(row, keys, points, multiple, strict=True)
            ]
            for row in responses
        ],
        dtype=np.float32,
    )
    assert scores.shape == expected.shape
    wrong = np.argwhere(scores != expected)
    assert len(wrong) == 0, f"{len(wrong)} scores differ, first at (row, item) {wrong[0]}"
    last = slice(2 * CHUNK, rows)  # the short last chunk holds partial and full credit too
    assert (expected[last] == np.float32(points * fraction)).any()
    assert (expected[last] == points.astype(np.float32)).any()


@pytest.mark.parametrize(
    ("answer", "key", "share"),
    [
        ("ＲｅＬＵ", "ReLU|修正线性单元", 1.0),
        ("修正 线性 单元。", "ReLU|修正线性单元", 1.0),
        ("relu;sigmoid", "ReLU;Sigmoid|S型函数", 1.0),
        ("relu;tanh", "ReLU;Sigmoid", 0.5),
        ("relu", "ReLU;Sigmoid", 0.5),
        ("3.145", "3.14±0.01", 1.0),
        ("3.16", "3.14±0.01", 0.0),
        (".50", "0.5", 1.0),
        ("", "0.5", 0.0),
        ("１２８", "128", 1.0),
    ],
)
def test_fill_in_normalisation(answer: str, key: str, share: float) -> None:
    assert credit(answer, key) == share


def test_fill_scores_judge_each_distinct_answer_once() -> None:
    scores = score_fill(["ReLU", "relu", "tanh", ""], "ReLU", 2.0)
    assert scores.tolist() == [2.0, 2.0, 0.0, 0.0]
    assert normalise(" Ａ Ｂ ") == "ab"


def test_a_matching_question_earns_a_share_per_premise_matched_right() -> None:
    scores = score_matching(["CAEC", "CAEB", "C-E-", "", "CAECA", "caec", "EEEE"], "CAEC", 2.0)
    assert scores.tolist() == [2.0, 1.5, 1.0, 0.0, 2.0, 2.0, 0.5]


@settings(max_examples=200)
@given(
    key=st.text("ABCDEFGH", min_size=2, max_size=8),
    answers=st.lists(st.text("ABCDEFGH-_ ", max_size=10), min_size=1, max_size=20),
    points=st.integers(1, 10_000).map(lambda n: n / 100),
)
def test_matching_scores_stay_within_zero_and_the_points(
    key: str, answers: list[str], points: float
) -> None:
    scores = score_matching(answers, key, points)
    assert ((scores >= 0) & (scores <= np.float32(points))).all()
    assert score_matching([key], key, points)[0] == np.float32(points)
    for answer, score in zip(answers, scores, strict=True):
        right = sum(a == k for a, k in zip(answer.upper(), key, strict=False))
        assert score == np.float32(right / len(key)) * np.float32(points)
        assert matching_credit(answer, key) == right / len(key)


def test_double_marking() -> None:
    first, second = np.array([8.0, 8.0, 3.0, 9.0]), np.array([9.0, 4.0, 9.0, 5.0])
    assert needs_third(first, second, 2.0).tolist() == [False, True, True, True]
    third = np.array([np.nan, 5.0, 8.0, 7.0])
    assert final_marks(first, second, third, 2.0).tolist() == [8.5, 4.5, 8.5, 8.0]
    assert scaled(np.array([5.0]), np.array([10.0]), np.array([25.0])).tolist() == [12.5]


@settings(max_examples=100)
@given(
    seed=st.integers(0, 2**63 - 1), picks=st.lists(st.integers(0, 255), min_size=18, max_size=18)
)
def test_a_shuffled_copy_scores_the_same_as_the_canonical_paper(
    seed: int, picks: list[int]
) -> None:
    """Answers given on a candidate's copy, mapped back, score as the same answers on the form."""
    from question_bank.shuffle import candidate_view, to_canonical
    from schemas.notation import OPTION_LETTERS
    from tests.helpers import paper

    form = paper()
    choice = [q for q in form.questions if q.type.has_options]
    canonical = {
        q.item_version_pk: "".join(
            c for k, c in enumerate(OPTION_LETTERS[: len(q.options)]) if picks[i] >> k & 1
        )
        for i, q in enumerate(choice)
    }
    copy = candidate_view(form, seed)
    printed = {}
    for q in copy.questions:
        if q.item_version_pk in canonical:
            back = {c: p for p, c in q.option_map.items()}
            printed[q.number] = "".join(sorted(back[c] for c in canonical[q.item_version_pk]))
    mapped = to_canonical(copy, printed)

    def score(answers: dict[int, str]) -> np.ndarray:
        masks = np.array(
            [[encode_letters(answers[q.item_version_pk]) for q in choice]], dtype=np.uint16
        )
        keys = np.array([encode_letters(q.key) for q in choice], dtype=np.uint16)
        multiple = np.array([q.type.value == "multiple" for q in choice])
        return score_choices(masks, keys, np.array([q.points for q in choice]), multiple)

    assert np.array_equal(score(mapped), score(canonical))
