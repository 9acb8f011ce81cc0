"""The equating job's parameters: what ``certify irt equate`` accepts is accepted, anything out
of its ranges is refused by name before a job exists."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certify.grading.equating_job import REPLICATIONS, SEED, SMOOTHING, EquatingParams
from certify.grading.form_equating import METHODS, EquatingError


@given(
    method=st.sampled_from(METHODS),
    reference=st.none() | st.text(min_size=1, max_size=16),
    smoothing=st.integers(*SMOOTHING),
    replications=st.integers(*REPLICATIONS),
    seed=st.integers(*SEED),
)
def test_parameters_in_range_are_accepted(
    method: str, reference: str | None, smoothing: int, replications: int, seed: int
) -> None:
    params = EquatingParams(method, reference, smoothing, replications, seed)
    assert params.checked() == params


@given(
    field=st.sampled_from(["smoothing", "replications", "seed"]),
    beyond=st.integers(1, 10**9),
    below=st.booleans(),
)
def test_a_number_out_of_range_is_refused_by_name(field: str, beyond: int, below: bool) -> None:
    low, high = {"smoothing": SMOOTHING, "replications": REPLICATIONS, "seed": SEED}[field]
    value = low - beyond if below else high + beyond
    with pytest.raises(EquatingError, match=field):
        EquatingParams(**{field: value}).checked()  # type: ignore[arg-type]


@given(method=st.text(max_size=40).filter(lambda m: m not in METHODS))
def test_an_unknown_method_is_refused(method: str) -> None:
    with pytest.raises(EquatingError, match="unknown method"):
        EquatingParams(method=method).checked()


def test_a_reference_form_too_long_or_empty_is_refused() -> None:
    for reference in ("", "X" * 17):
        with pytest.raises(EquatingError, match="reference form"):
            EquatingParams(reference=reference).checked()
