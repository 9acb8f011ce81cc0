"""The pure scoring core: choices, fill-in, double marking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from certify.grading.fill import credit, normalise, score_fill
from certify.grading.marking import final_marks, needs_third, scaled
from certify.grading.scoring import INVALID, encode_letters, encode_true_false, score_choices


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
