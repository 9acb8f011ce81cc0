"""Shamir's secret sharing over GF(2^8): the field, round trips, and what too few shares tell."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.infra.shamir import Share, SharingError, combine, div, mul, split


def test_the_field_is_a_field() -> None:
    for a in range(256):
        assert mul(a, 1) == a and mul(a, 0) == 0
        if a:
            assert mul(a, div(1, a)) == 1  # every non-zero element has an inverse
    for a, b, c in [(0x53, 0xCA, 0x11), (0x57, 0x83, 0xFF), (7, 200, 13)]:
        assert mul(a, b) == mul(b, a)
        assert mul(a, b ^ c) == mul(a, b) ^ mul(a, c)
        assert mul(mul(a, b), c) == mul(a, mul(b, c))
    assert mul(0x57, 0x83) == 0xC1  # the worked example of FIPS-197, section 4.2
    with pytest.raises(ZeroDivisionError):
        div(1, 0)


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=48),
    shape=st.integers(2, 7).flatmap(lambda n: st.tuples(st.integers(2, n), st.just(n))),
    data=st.data(),
)
def test_any_threshold_of_the_shares_give_the_secret_back(
    secret: bytes, shape: tuple[int, int], data: st.DataObject
) -> None:
    threshold, n = shape
    shares = split(secret, threshold=threshold, shares=n)
    assert [s.x for s in shares] == list(range(1, n + 1))
    chosen = data.draw(st.permutations(shares))[: data.draw(st.integers(threshold, n))]
    assert combine(list(chosen)) == secret


def test_fewer_shares_than_the_threshold_are_consistent_with_every_secret() -> None:
    """With k − 1 shares fixed, each value of a secret byte is met by exactly one polynomial:
    the shares tell nothing about the secret (checked for k = 3, one byte, all 256 secrets)."""
    known = [Share(1, bytes([0x42])), Share(2, bytes([0x17]))]
    secrets_reached = set()
    for s in range(256):
        # the third point that, with the two known ones, makes the secret s
        for y in range(256):
            if combine([*known, Share(3, bytes([y]))]) == bytes([s]):
                secrets_reached.add(s)
                break
    assert secrets_reached == set(range(256))


def test_shares_are_fresh_each_time_and_below_threshold_give_a_wrong_secret() -> None:
    secret = bytes(range(32))
    first, second = split(secret, threshold=3, shares=5), split(secret, threshold=3, shares=5)
    assert first != second
    assert all(combine(list(c)) == secret for c in itertools.combinations(first, 3))
    assert combine(first[:2]) != secret


def test_shares_that_cannot_combine_are_refused() -> None:
    shares = split(b"secret", threshold=2, shares=3)
    with pytest.raises(SharingError):
        combine([])
    with pytest.raises(SharingError):
        combine([shares[0], shares[0]])
    with pytest.raises(SharingError):
        combine([shares[0], Share(2, b"short")])
    with pytest.raises(SharingError):
        combine([shares[0], Share(0, shares[1].y)])
    for threshold, n in [(0, 3), (4, 3), (2, 256)]:
        with pytest.raises(ValueError):
            split(b"x", threshold=threshold, shares=n)
    with pytest.raises(ValueError):
        split(b"", threshold=2, shares=3)
