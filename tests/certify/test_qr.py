"""certify.certificates.qr makes, module for module, the symbol the qrcode library makes, only faster."""

from __future__ import annotations

import numpy as np
import pytest
import qrcode
from hypothesis import given, settings
from hypothesis import strategies as st
from qrcode import util
from qrcode.constants import ERROR_CORRECT_H, ERROR_CORRECT_L, ERROR_CORRECT_M, ERROR_CORRECT_Q
from qrcode.exceptions import DataOverflowError

from certify.certificates.qr import (
    _error_correction,
    _error_correction_one,
    codewords,
    mask_patterns,
    penalties,
    qr_matrix,
    qr_modules,
)
from certify.signing.token import token_url

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def library(data: str, error_correction: int = ERROR_CORRECT_M, border: int = 4) -> np.ndarray:
    code = qrcode.QRCode(error_correction=error_correction, border=border)
    code.add_data(data)
    code.make(fit=True)
    return np.array(code.get_matrix(), dtype=bool)


@settings(max_examples=150, deadline=None)
@given(token=st.text(alphabet=BASE32, min_size=1, max_size=700))
def test_verification_urls_match_the_library(token: str) -> None:
    url = f"HTTPS://VERIFY.EXAMPLE.CN/V/{token}"
    assert np.array_equal(qr_matrix(url), library(url))


@settings(max_examples=150, deadline=None)
@given(
    data=st.text(
        alphabet=st.sampled_from("0123456789ABCDEFXYZ $%*+-./:abcxyz张王李𠀀\n"), min_size=1
    ).filter(lambda s: len(s.encode()) < 1200),
    level=st.sampled_from([ERROR_CORRECT_L, ERROR_CORRECT_M, ERROR_CORRECT_Q, ERROR_CORRECT_H]),
)
def test_any_text_any_level_matches_the_library(data: str, level: int) -> None:
    """Numeric, alphanumeric and byte segments (long digit runs split out), every level."""
    try:
        expected = library(data, level, border=0)
    except DataOverflowError:
        with pytest.raises(DataOverflowError):
            qr_modules(data, level)
        return
    ours, _ = qr_modules(data, level)
    assert np.array_equal(ours, expected)


def test_masks_are_the_standard_ones() -> None:
    grid = mask_patterns(25)
    for pattern in range(8):
        rule = util.mask_func(pattern)
        expected = [[bool(rule(i, j)) for j in range(25)] for i in range(25)]
        assert grid[pattern].tolist() == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=21, max_value=45))
def test_penalties_equal_the_library_scoring(seed: int, size: int) -> None:
    """Random symbols, including all-light and all-dark ones, score as util.lost_point does."""
    rng = np.random.default_rng(seed)
    stack = rng.random((3, size, size)) < rng.random()
    stack[1] = False
    stack[2] = True
    assert penalties(stack) == [util.lost_point(s.tolist()) for s in stack]


def test_a_certificate_url_is_version_9_and_larger_data_overflows() -> None:
    url = token_url("https://verify.example.cn", bytes(range(140)))
    version, stream = codewords(url)
    assert version <= 10 and len(stream) == sum(
        b.total_count for b in qrcode.base.rs_blocks(version, ERROR_CORRECT_M)
    )
    with pytest.raises(DataOverflowError):
        qr_modules("9" * 7090)


@settings(max_examples=200, deadline=None)
@given(
    block=st.lists(st.integers(0, 255), min_size=1, max_size=123),
    count=st.sampled_from([7, 10, 13, 15, 16, 17, 18, 20, 22, 24, 26, 28, 30]),
)
def test_reed_solomon_as_a_bit_matrix_is_the_polynomial_division(
    block: list[int], count: int
) -> None:
    """The remainder taken as one product over GF(2) is the one of dividing by the generator
    polynomial byte by byte, and the qrcode library's own (its Polynomial modulo)."""
    from qrcode import base

    ours = _error_correction(block, count)
    assert ours == _error_correction_one(block, count)
    if not any(block):  # the library cannot take the zero polynomial; its remainder is zero
        assert ours == [0] * count
        return
    generator = base.Polynomial([1], 0)
    for i in range(count):
        generator = generator * base.Polynomial([1, base.gexp(i)], 0)
    remainder = base.Polynomial(block, len(generator) - 1) % generator
    # As qrcode.util.create_bytes reads the remainder off.
    theirs = [
        remainder[i + len(remainder) - count] if i + len(remainder) - count >= 0 else 0
        for i in range(count)
    ]
    assert ours == theirs
