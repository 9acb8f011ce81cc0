"""SM2 with SM3: the standard's known answers byte for byte, agreement with two implementations
that share no code with certify's (the pure-Python ``gmssl`` package, and the reference in
``sm2_reference.py`` written from GB/T 32918.2), and round trips of both algorithms."""

from __future__ import annotations

import pytest
from gmssl import sm2 as gmssl_sm2
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.infra.digests import SHA256, SM3, UnknownDigest, digest, hexdigest
from certify.signing import sm2
from certify.signing.algorithms import (
    ALGORITHMS,
    SM2,
    Ed25519,
    SignatureInvalid,
    UnknownAlgorithm,
    algorithm_named,
)
from tests.certify.sm2_reference import RECOMMENDED, Curve


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _point(public: bytes) -> tuple[int, int]:
    return _int(public[:32]), _int(public[32:])


# --- SM3 (GB/T 32905-2016, appendix A) -------------------------------------------------------


def test_sm3_gives_the_standards_two_known_answers() -> None:
    assert hexdigest(SM3, b"abc") == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    assert hexdigest(SM3, b"abcd" * 16) == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def test_an_unknown_digest_is_refused_not_replaced() -> None:
    with pytest.raises(UnknownDigest):
        digest("md5", b"abc")
    assert hexdigest(SHA256, b"abc").startswith("ba7816bf")


# --- the signature examples of GB/T 32918.2 / GM/T 0003 --------------------------------------

MESSAGE = b"message digest"

# GM/T 0003.5 / GB/T 32918.2-2016 example on the recommended curve, default signer ID.
D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
PUBLIC = bytes.fromhex(
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
Z_A = bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
E = bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
R = bytes.fromhex("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3")
S = bytes.fromhex("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")

# GB/T 32918.2 appendix A: the example over the 256-bit test curve Fp-256, ID ALICE123@YAHOO.COM.
TEST_CURVE = Curve(
    p=0x8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3,
    a=0x787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498,
    b=0x63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A,
    n=0x8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7,
    gx=0x421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D,
    gy=0x0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2,
)


def test_the_examples_z_a_and_e_follow_from_the_standards_formulas_byte_for_byte() -> None:
    public = _point(PUBLIC)
    assert RECOMMENDED.public(D) == public
    assert RECOMMENDED.z(sm2.SIGNER_ID, public) == Z_A
    assert RECOMMENDED.e(sm2.SIGNER_ID, public, MESSAGE).to_bytes(32, "big") == E


def test_certify_derives_the_examples_public_key_and_accepts_exactly_its_signature() -> None:
    """Tongsuo draws k itself, so the exact r ‖ s comes from the reference with the example's
    k; certify must then accept exactly those bytes — which it can only if it hashes the same
    Z_A (default signer ID) and e as the example."""
    assert sm2.public_of(D.to_bytes(32, "big")) == PUBLIC
    r, s = RECOMMENDED.sign(D, sm2.SIGNER_ID, MESSAGE, K)
    assert r.to_bytes(32, "big") + s.to_bytes(32, "big") == R + S
    SM2().verify(PUBLIC, MESSAGE, R + S)


def test_certify_refuses_the_example_signature_altered_or_on_another_message() -> None:
    with pytest.raises(SignatureInvalid):
        SM2().verify(PUBLIC, MESSAGE + b".", R + S)
    with pytest.raises(SignatureInvalid):
        SM2().verify(PUBLIC, MESSAGE, R + bytes([S[0] ^ 1]) + S[1:])


def test_the_reference_reproduces_the_test_curve_example_of_appendix_a() -> None:
    """The reference is trusted to check certify only because it reproduces both worked
    examples exactly: Z_A, e, r and s."""
    identity = b"ALICE123@YAHOO.COM"
    d = 0x128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263
    public = TEST_CURVE.public(d)
    assert TEST_CURVE.z(identity, public).hex().upper() == (
        "F4A38489E32B45B6F876E3AC2168CA392362DC8F23459C1D1146FC3DBFB7BC9A"
    )
    assert TEST_CURVE.e(identity, public, MESSAGE) == (
        0xB524F552CD82B8B028476E005C377FB19A87E6FC682D48BB5D42E3D9B9EFFE76
    )
    k = 0x6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F
    assert TEST_CURVE.sign(d, identity, MESSAGE, k) == (
        0x40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1,
        0x6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7,
    )
    assert TEST_CURVE.verify(public, identity, MESSAGE, *TEST_CURVE.sign(d, identity, MESSAGE, k))


# --- agreement with independent implementations ----------------------------------------------


def _gmssl(private: bytes | None, public: bytes) -> gmssl_sm2.CryptSM2:
    crypt = gmssl_sm2.CryptSM2(
        private_key=private.hex() if private else "", public_key=public.hex(), mode=1
    )
    # gmssl drops an "04" prefix with str.lstrip("04"), which also eats every leading 0 and 4
    # of x: a key whose x starts with the byte 04 (1 in 256) came out truncated. The raw x ‖ y
    # is set after construction so that no key is mangled.
    crypt.public_key = public.hex()
    return crypt


@settings(max_examples=12, deadline=None)
@given(message=st.binary(max_size=300))
def test_every_signature_certify_makes_verifies_under_gmssl_and_the_reference(
    message: bytes,
) -> None:
    private, public = SM2().generate()
    assert RECOMMENDED.public(_int(private)) == _point(public)
    signature = SM2().sign(private, message)
    assert len(signature) == 64
    assert _gmssl(None, public).verify_with_sm3(signature.hex(), message)
    assert RECOMMENDED.verify(
        _point(public), sm2.SIGNER_ID, message, _int(signature[:32]), _int(signature[32:])
    )


@settings(max_examples=8, deadline=None)
@given(message=st.binary(max_size=300))
def test_certify_verifies_what_gmssl_signs(message: bytes) -> None:
    private, public = SM2().generate()
    crypt = _gmssl(private, public)
    text = crypt.sign_with_sm3(message)
    assert len(text) == 128
    SM2().verify(public, message, bytes.fromhex(text))


# --- both algorithms: round trips, and any altered byte refused ------------------------------

BOTH = st.sampled_from([Ed25519(), SM2()])
KEYS = {a.name: a.generate() for a in (Ed25519(), SM2())}


@settings(max_examples=60, deadline=None)
@given(algorithm=BOTH, message=st.binary(max_size=400))
def test_sign_then_verify_holds_for_both_algorithms(
    algorithm: Ed25519 | SM2, message: bytes
) -> None:
    private, public = KEYS[algorithm.name]
    algorithm.verify(public, message, algorithm.sign(private, message))


@settings(max_examples=80, deadline=None)
@given(algorithm=BOTH, message=st.binary(min_size=1, max_size=200), data=st.data())
def test_any_altered_byte_of_message_or_signature_is_refused(
    algorithm: Ed25519 | SM2, message: bytes, data: st.DataObject
) -> None:
    private, public = KEYS[algorithm.name]
    signature = algorithm.sign(private, message)
    in_signature = data.draw(st.booleans())
    target = bytearray(signature if in_signature else message)
    at = data.draw(st.integers(0, len(target) - 1))
    target[at] ^= data.draw(st.integers(1, 255))
    altered = (message, bytes(target)) if in_signature else (bytes(target), signature)
    with pytest.raises(SignatureInvalid):
        algorithm.verify(public, *altered)


def test_malformed_sm2_inputs_are_refused_not_raised_through() -> None:
    private, public = KEYS["SM2"]
    signature = SM2().sign(private, b"x")
    for key, sig in (
        (public, signature[:63]),
        (public, b"\0" * 64),
        (public, sm2.N.to_bytes(32, "big") + signature[32:]),
        (public[:63], signature),
        (bytes(64), signature),  # not a point of the curve
    ):
        with pytest.raises(SignatureInvalid):
            SM2().verify(key, b"x", sig)


def test_a_failed_sm2_check_writes_nothing_to_standard_error(
    capfd: pytest.CaptureFixture[str],
) -> None:
    private, public = KEYS["SM2"]
    with pytest.raises(SignatureInvalid):
        SM2().verify(public, b"y", SM2().sign(private, b"x"))
    assert capfd.readouterr().err == ""


def test_the_algorithms_are_named_once_and_unknown_names_are_refused() -> None:
    assert algorithm_named("sm2") is algorithm_named("SM2") is ALGORITHMS[sm2.COSE_ID]
    assert algorithm_named("ed25519").name == "EdDSA"
    assert sm2.COSE_ID < -65536  # RFC 9053: private use
    with pytest.raises(UnknownAlgorithm):
        algorithm_named("RS256")
