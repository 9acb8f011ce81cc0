"""ID numbers: GB 11643 validation, masking, and storage that reveals nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certify.registration.identity import (
    IdentityVault,
    IdNumberError,
    check_character,
    load_vault,
    mask_id_number,
    mask_name,
    validate_id_number,
)

TODAY = date(2026, 11, 27)


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    area = draw(st.sampled_from(["110105", "370102", "440524", "650102", "310115"]))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    first17 = f"{area}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + check_character(first17)


def test_published_examples_are_valid() -> None:
    assert validate_id_number("11010519491231002x") == "11010519491231002X"
    assert validate_id_number("440524188001010014") == "440524188001010014"


@given(id_numbers())
def test_generated_numbers_validate(number: str) -> None:
    assert validate_id_number(number, today=TODAY) == number


@given(id_numbers(), st.integers(0, 16), st.integers(1, 9))
def test_any_single_changed_digit_is_refused(number: str, position: int, delta: int) -> None:
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    with pytest.raises(IdNumberError):
        validate_id_number(changed, today=TODAY)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1101051949123100", "18"),
        ("11010519491232002X", "birth date"),
        ("110105203001010010", "out of range"),
        ("A10105194912310021", "17 digits"),
        ("11010519491231002Y", "17 digits"),
        ("11010519491231003X", "check"),
    ],
)
def test_bad_numbers_say_what_is_wrong(raw: str, reason: str) -> None:
    with pytest.raises(IdNumberError, match=reason):
        validate_id_number(raw, today=TODAY)


@given(id_numbers())
def test_masks_keep_only_the_first_six_and_last_four(number: str) -> None:
    masked = mask_id_number(number)
    assert masked[:6] == number[:6] and masked[-4:] == number[-4:] and set(masked[6:14]) == {"*"}


def test_names_are_masked() -> None:
    assert [mask_name(n) for n in ["李四", "张三丰", "欧阳小锋", "王"]] == [
        "李*",
        "张*丰",
        "欧**锋",
        "王",
    ]


@given(id_numbers())
def test_encrypted_numbers_round_trip_and_never_contain_the_number(number: str) -> None:
    vault = IdentityVault(b"k" * 32)
    blob = vault.encrypt(number)
    assert vault.decrypt(blob) == number and number.encode() not in blob
    assert vault.encrypt(number) != blob  # a fresh nonce every time
    assert (
        vault.digest(number)
        == IdentityVault(b"k" * 32).digest(number)
        != IdentityVault(b"j" * 32).digest(number)
    )


def test_an_altered_byte_is_refused() -> None:
    vault = IdentityVault(b"k" * 32)
    blob = bytearray(vault.encrypt("11010519491231002X"))
    blob[-1] ^= 1
    with pytest.raises(IdNumberError):
        vault.decrypt(bytes(blob))


def test_the_secret_file_is_created_once_and_private(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="certify init"):
        load_vault(tmp_path)
    first = load_vault(tmp_path, create=True)
    assert (tmp_path / "certify.secret").stat().st_mode & 0o777 == 0o600
    assert load_vault(tmp_path).secret == first.secret
