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

from certify.certificates.qr import codewords, mask_patterns, penalties, qr_matrix, qr_modules
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
