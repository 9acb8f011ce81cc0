"""Tokens an attacker makes: forged under a published key id, with a header that lies about the
algorithm, or with arbitrary CBOR where the token's structures should be. None of them may pass,
make a verifier fail with anything but a verdict, or have its claims shown as data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certify.keys.store import signing_material
from certify.signing import algorithms
from certify.signing.algorithms import DEFAULT, Ed25519, key_id
from certify.signing.token import (
    COSE_SIGN1_TAG,
    HEADER_ALG,
    HEADER_KID,
    TokenFormatError,
    from_text,
    parse_token,
    sign_token,
    to_text,
)
from certify.signing.trust import load_trust_list
from certify.signing.verify import verify_token
from tests.certify.signing_helpers import (
    PASS,
    claims,
    fresh_revocations,
    issue,
    make_keys,
    trust,
)
from tests.conftest import Database


@pytest.fixture
def keys(database: Database) -> Database:
    return make_keys(database, kinds=[1])


def forged(database: Database, **changes: Any) -> str:
    """A token naming the institution's real key id, signed with a throwaway key."""
    row, _ = signing_material(database.engine, "SD-EVAL-01", PASS)
    throwaway, _ = DEFAULT.generate()
    return to_text(sign_token(claims(**changes), throwaway, row.public_key, DEFAULT))


def test_a_forged_token_under_a_published_key_id_shows_nothing_of_itself(keys: Database) -> None:
    report = verify_token(forged(keys, holder="冒名者"), trust(keys), fresh_revocations(keys))
    assert [(c.name, c.ok) for c in report.checks] == [
        ("format", True),
        ("key", True),
        ("signature", False),
    ]
    assert report.claims is None and report.verdict == "not_genuine"
    assert report.status == "unknown" and report.status_as_of is None
    text = " ".join(c.message_zh + c.message_en for c in report.checks)
    assert "冒名者" not in text and "测试评价机构" not in text


def test_a_genuine_token_outside_its_scope_shows_nothing_of_itself(keys: Database) -> None:
    report = verify_token(issue(keys, claims(occupation="cloud")), trust(keys))
    assert report.claims is None and report.checks[-1].name == "scope"
    assert report.verdict == "not_genuine"


class SameCurveOtherId(Ed25519):
    """Ed25519 under another COSE id: lets a test ask whether the header's id is believed."""

    cose_id = -65_000
    name = "test-alias"


@pytest.fixture
def alias() -> Iterator[SameCurveOtherId]:
    algorithm = SameCurveOtherId()
    algorithms.ALGORITHMS[algorithm.cose_id] = algorithm
    yield algorithm
    del algorithms.ALGORITHMS[algorithm.cose_id]


def test_a_header_naming_another_algorithm_than_the_trust_list_is_refused(
    keys: Database, alias: SameCurveOtherId
) -> None:
    row, private = signing_material(keys.engine, "SD-EVAL-01", PASS)
    lying = to_text(sign_token(claims(), private, row.public_key, alias))
    report = verify_token(lying, trust(keys), fresh_revocations(keys))
    signature = next(c for c in report.checks if c.name == "signature")
    assert not signature.ok and "algorithm" in signature.message_en
    assert report.verdict == "not_genuine"


def test_a_key_the_trust_list_gives_another_algorithm_does_not_verify_the_usual_one(
    keys: Database, alias: SameCurveOtherId
) -> None:
    """The other direction: the list states the alias for the key, the token's header says
    Ed25519. The list is re-signed by the real root, so only the algorithm disagrees."""
    from certify.keys.publish import build_trust_list

    document = build_trust_list(keys.engine, PASS)
    root_row, root_private = signing_material(keys.engine, "SD-HRSS", PASS)
    for entry in document["keys"]:
        if entry["issuer"] == "SD-EVAL-01":
            entry["alg"] = alias.cose_id
    body = {k: v for k, v in document.items() if k != "signature"}
    import base64
    import json

    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    document["signature"] = base64.b64encode(
        DEFAULT.sign(root_private, canonical.encode())
    ).decode()
    listed = load_trust_list(document, pinned_root_kid=root_row.kid)
    report = verify_token(issue(keys, claims()), listed)
    assert report.verdict == "not_genuine" and report.claims is None


# --- arbitrary CBOR where a token's structures go --------------------------------------------

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.binary(max_size=24)
)
CBOR = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.integers(-8, 12) | st.text(max_size=3), inner, max_size=5)
        | st.builds(cbor2.CBORTag, st.sampled_from([0, 1, 2, 18, 24, 55799, 258]), inner)
    ),
    max_leaves=20,
)


def _token(protected: Any, unprotected: Any, payload: Any, signature: Any) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, unprotected, payload, signature]))


def _encodable(value: Any) -> bytes | None:
    try:
        return cbor2.dumps(value)
    except (TypeError, ValueError, cbor2.CBOREncodeError):
        return None


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_arbitrary_cbor_in_any_slot_is_a_verdict_never_an_exception(
    keys: Database, data: st.DataObject
) -> None:
    listed = trust(keys)
    row, private = signing_material(keys.engine, "SD-EVAL-01", PASS)
    real = parse_token(from_text(issue(keys, claims())))
    junk = data.draw(CBOR)
    slot = data.draw(st.sampled_from(["message", "parts", "header", "claims", "claim"]))
    good_header = {HEADER_ALG: DEFAULT.cose_id, HEADER_KID: key_id(row.public_key)}
    if slot == "message":
        raw = _encodable(junk)
    elif slot == "parts":
        parts: list[Any] = [cbor2.dumps(good_header), {}, claims().to_cbor(), real.signature]
        parts[data.draw(st.integers(0, 3))] = junk
        raw = _encodable(cbor2.CBORTag(COSE_SIGN1_TAG, parts))
    elif slot == "header":
        header = dict(good_header)
        header[data.draw(st.sampled_from([HEADER_ALG, HEADER_KID, 3]))] = junk
        encoded = _encodable(header)
        raw = None if encoded is None else _token(encoded, {}, claims().to_cbor(), real.signature)
    else:
        body = cbor2.loads(claims().to_cbor())
        if slot == "claims":
            body = junk
        else:
            body[data.draw(st.integers(1, 9))] = junk
        payload = _encodable(body)
        if payload is None:
            raw = None
        else:
            # Signed by the real key: only the structure of the claims can make it fail.
            protected = cbor2.dumps(good_header)
            structure = cbor2.dumps(["Signature1", protected, b"", payload])
            raw = _token(protected, {}, payload, DEFAULT.sign(private, structure))
    if raw is None:
        return
    report = verify_token(to_text(raw), listed, fresh_revocations(keys))
    # A claim signed by the real key may be any well-formed value, a past expiry date included.
    assert report.verdict in ("not_genuine", "genuine", "status_unknown", "expired")
    if report.verdict != "not_genuine":
        assert report.claims is not None and isinstance(report.claims.serial, str)


@pytest.mark.parametrize(
    "header",
    [
        {HEADER_ALG: [-8], HEADER_KID: b"12345678"},
        {HEADER_ALG: {"a": 1}, HEADER_KID: b"12345678"},
        {HEADER_ALG: -8, HEADER_KID: ["x"]},
        {HEADER_ALG: True, HEADER_KID: b"12345678"},
        [1, 2],
    ],
)
def test_malformed_headers_are_format_errors(header: Any) -> None:
    raw = _token(cbor2.dumps(header), {}, claims().to_cbor(), b"\0" * 64)
    with pytest.raises(TokenFormatError):
        parse_token(raw)
