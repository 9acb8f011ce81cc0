"""Signed certificate tokens: round trips, tampering, trust, scope, validity, revocation, QR size."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import qrcode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certify.keys.publish import build_trust_list
from certify.keys.store import KeyProblem, decrypt_private, rotate_key, signing_material
from certify.signing.algorithms import DEFAULT, algorithm_named
from certify.signing.token import (
    Kind,
    TokenFormatError,
    from_text,
    sign_token,
    to_text,
    token_url,
)
from certify.signing.trust import TrustListError, load_trust_list
from certify.signing.verify import load_revocation_list, sign_revocation_list, verify_token
from tests.certify.signing_helpers import (
    PASS,
    TODAY,
    claims,
    fresh_revocations,
    issue,
    make_keys,
    trust,
)
from tests.conftest import Database

FUZZ = int(os.environ.get("CERTIFY_FUZZ_EXAMPLES", "150"))
"""Examples per tampering test; raise it for a longer fuzzing run."""


@pytest.fixture
def keys(database: Database) -> Database:
    return make_keys(database, kinds=[1])


def test_a_signed_token_verifies_with_every_check(keys: Database) -> None:
    report = verify_token(issue(keys, claims()), trust(keys), fresh_revocations(keys))
    assert [c.name for c in report.checks] == [
        "format",
        "key",
        "signature",
        "scope",
        "status",
        "expiry",
    ]
    assert report.verdict == "genuine" and report.claims == claims() and report.ok
    assert all(c.message_zh and c.message_en for c in report.checks)


def test_without_a_revocation_list_a_genuine_certificate_is_never_called_valid(
    keys: Database,
) -> None:
    report = verify_token(issue(keys, claims()), trust(keys))
    assert report.genuine and report.verdict == "status_unknown" and not report.ok
    status = next(c for c in report.checks if c.name == "status")
    assert status.warning and "unknown" in status.message_en


NAMES = st.text(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
    | st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF)
    | st.sampled_from("·"),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=NAMES,
    sequence=st.integers(1, 999_999),
    level=st.sampled_from(["junior", "intermediate", "senior"]),
    years=st.one_of(st.none(), st.integers(1, 10)),
)
def test_sign_then_verify_round_trips_rare_characters_included(
    keys: Database, name: str, sequence: int, level: str, years: int | None
) -> None:
    expires = TODAY + timedelta(days=365 * years) if years else None
    c = claims(holder=name, serial=f"3726013{sequence:06d}", level=level, expires=expires)
    report = verify_token(issue(keys, c), trust(keys), fresh_revocations(keys))
    assert report.claims == c and report.verdict == "genuine"


@pytest.fixture(params=["ed25519", "sm2"])
def one_token(database: Database, request: pytest.FixtureRequest) -> tuple[Database, str]:
    """A token of an institution signing with each algorithm in turn."""
    make_keys(database, kinds=[1], algorithm=algorithm_named(request.param))
    return database, issue(database, claims())


@settings(
    max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_altered_byte_is_rejected(one_token: tuple[Database, str], data: st.DataObject) -> None:
    database, url = one_token
    raw = bytearray(from_text(url))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    report = verify_token(to_text(bytes(raw)), trust(database))
    assert report.verdict == "not_genuine"


@settings(
    max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_altered_character_of_the_text_is_rejected(
    one_token: tuple[Database, str], data: st.DataObject
) -> None:
    database, url = one_token
    text = url.rsplit("/", 1)[1]
    position = data.draw(st.integers(0, len(text) - 1))
    other = data.draw(
        st.sampled_from([c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" if c != text[position]])
    )
    changed = text[:position] + other + text[position + 1 :]
    assert verify_token(changed, trust(database)).verdict == "not_genuine"


def test_a_truncated_or_garbled_token_is_a_format_failure(one_token: tuple[Database, str]) -> None:
    database, url = one_token
    for bad in (url[:-20], "HTTPS://X/V/!!!", "", "HELLO"):
        report = verify_token(bad, trust(database))
        assert (
            report.checks[0].name == "format"
            and not report.checks[0].ok
            and report.verdict == "not_genuine"
        )


def test_a_key_outside_the_trust_list_is_rejected(keys: Database) -> None:
    private, public = DEFAULT.generate()
    stray = token_url("https://v", sign_token(claims(), private, public, DEFAULT))
    report = verify_token(stray, trust(keys))
    assert [(c.name, c.ok) for c in report.checks] == [("format", True), ("key", False)]


def test_a_certificate_outside_the_scope_is_rejected(keys: Database) -> None:
    report = verify_token(issue(keys, claims(occupation="cloud")), trust(keys))
    scope = next(c for c in report.checks if c.name == "scope")
    assert not scope.ok and report.verdict == "not_genuine"
    training = verify_token(issue(keys, claims(kind=Kind.TRAINING)), trust(keys))
    assert training.verdict == "not_genuine"


def test_issued_outside_the_keys_validity_is_rejected_and_old_tokens_survive_rotation(
    keys: Database,
) -> None:
    early = verify_token(issue(keys, claims(issued=TODAY - timedelta(days=30))), trust(keys))
    assert not next(c for c in early.checks if c.name == "scope").ok
    before = issue(keys, claims())
    old_row, old_private = signing_material(keys.engine, "SD-EVAL-01", PASS)
    rotate_key(keys.engine, "SD-EVAL-01", PASS)
    listed = fresh_revocations(keys)
    # Retired keys stay published.
    assert verify_token(before, trust(keys), listed).verdict == "genuine"
    late = token_url(
        "https://v",
        sign_token(
            claims(issued=TODAY + timedelta(days=2)), old_private, old_row.public_key, DEFAULT
        ),
    )
    assert verify_token(late, trust(keys)).verdict == "not_genuine"


def test_a_wrong_passphrase_opens_nothing(keys: Database) -> None:
    with pytest.raises(KeyProblem, match="wrong passphrase"):
        signing_material(keys.engine, "SD-EVAL-01", "not the passphrase")
    row, _ = signing_material(keys.engine, "SD-EVAL-01", PASS)
    assert b"PRIVATE" in (row.private_key_encrypted or b"") and b"ENCRYPTED" in (
        row.private_key_encrypted or b""
    )
    with pytest.raises(KeyProblem):
        decrypt_private(row.private_key_encrypted or b"", "x" * 20)


def test_a_trust_list_with_a_bad_root_signature_is_refused(keys: Database) -> None:
    document = build_trust_list(keys.engine, PASS)
    tampered = {
        **document,
        "keys": [{**document["keys"][0], "name": "冒充机构"}, *document["keys"][1:]],
    }
    with pytest.raises(TrustListError, match="root signature"):
        load_trust_list(tampered, pinned_root_kid=document["root_kid"])
    with pytest.raises(TrustListError, match="pinned"):
        load_trust_list(document, pinned_root_kid="0" * 16)


def test_a_trust_list_signed_by_any_root_is_refused_unless_a_root_is_pinned(
    keys: Database,
) -> None:
    """A forger makes a root of their own, lists their key under it and signs the list: without
    a pinned root that list would verify, so without one nothing is loaded."""
    from certify.signing.trust import RootNotPinned

    document = build_trust_list(keys.engine, PASS)
    with pytest.raises(RootNotPinned, match="no pinned root"):
        load_trust_list(document, pinned_root_kid=None)
    experiment = load_trust_list(document, pinned_root_kid=None, allow_unpinned=True)
    report = verify_token(issue(keys, claims()), experiment, fresh_revocations(keys))
    assert any(c.name == "root" and c.warning for c in report.checks)


def test_revoked_and_suspended_certificates_and_stale_lists(keys: Database) -> None:
    t = trust(keys)
    root = next(k for k in t.keys.values() if k.role == "root")
    _, root_private = signing_material(keys.engine, root.issuer, PASS)
    now = datetime.now(UTC)
    revoked = load_revocation_list(
        sign_revocation_list(
            [
                {
                    "serial": claims().serial,
                    "status": "revoked",
                    "since": now.isoformat(),
                    "reason": "考试违纪",
                }
            ],
            root_private,
            DEFAULT,
        ),
        t,
    )
    report = verify_token(issue(keys, claims()), t, revoked)
    assert report.verdict == "revoked" and report.status_as_of == revoked.issued_at
    old = load_revocation_list(
        sign_revocation_list(
            [], root_private, DEFAULT, max_age_hours=1, issued_at=now - timedelta(hours=3)
        ),
        t,
    )
    stale = verify_token(issue(keys, claims()), t, old)
    assert stale.verdict == "status_unknown" and any(
        c.name == "freshness" and c.warning for c in stale.checks
    )


def test_a_full_token_fits_qr_version_10_at_level_m(keys: Database) -> None:
    longest = claims(
        holder="阿卜杜热合曼·买买提依明",
        serial="3726063999999",
        occupation="smart_mfg",
        issuer="SD-EVAL-01",
        expires=TODAY + timedelta(days=3650),
    )
    url = issue(keys, longest)
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(url)
    qr.make(fit=True)
    assert qr.version <= 10, qr.version
    assert url == url.upper()


def _b32_reference(text: str) -> bytes:
    """from_text as the standard library would do it (the slow way)."""
    import base64

    body = text.strip().rsplit("/", 1)[-1].upper()
    if not body or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in body):
        raise TokenFormatError("chars")
    try:
        data = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        raise TokenFormatError("length") from None
    if base64.b32encode(data).decode().rstrip("=") != body:
        raise TokenFormatError("canonical")
    return data


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abc018=/ ", max_size=60))
def test_fast_base32_decoding_agrees_with_the_standard_library(text: str) -> None:
    try:
        expected: bytes | None = _b32_reference(text)
    except TokenFormatError:
        expected = None
    try:
        found: bytes | None = from_text(text)
    except TokenFormatError:
        found = None
    assert found == expected


@given(st.binary(min_size=1, max_size=300))
def test_any_bytes_round_trip_through_base32(data: bytes) -> None:
    assert from_text(to_text(data)) == data


def test_signatures_checked_in_parallel_agree_with_one_by_one(database: Database) -> None:
    """A batch large enough to be spread over threads gives each token the same verdict as
    checking it alone; altered signatures fail, unknown keys and garbage give None."""
    from dataclasses import replace

    from certify.signing import verify as verification
    from certify.signing.token import SignedToken, parse_token

    make_keys(database, kinds=[1])
    trusted = trust(database)
    tokens = [
        parse_token(from_text(issue(database, claims(serial=f"3726013{n:06d}")))) for n in range(40)
    ]
    batch: list[SignedToken | TokenFormatError] = []
    for n in range(verification.PARALLEL_FROM + 44):
        token = tokens[n % len(tokens)]
        if n % 7 == 0:  # flip one bit of the signature
            token = replace(token, signature=bytes([token.signature[0] ^ 1]) + token.signature[1:])
        batch.append(token)
    batch.append(TokenFormatError("garbage"))
    together = verification.check_signatures(batch, trusted)
    alone = [verification.check_signatures([t], trusted)[0] for t in batch]
    assert together == alone
    assert together.count(False) == len(range(0, verification.PARALLEL_FROM + 44, 7))
    assert together[-1] is None and together.count(True) == len(batch) - 1 - together.count(False)
