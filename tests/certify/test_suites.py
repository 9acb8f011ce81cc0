"""Two signature suites side by side: keys that state their algorithm, a trust list that mixes
them, rotation from one to the other, a header that disagrees with its key (both directions),
SM2 keys sealed at rest, and the audit chain hashed with each suite's hash."""

from __future__ import annotations

from datetime import timedelta

import cbor2
import pytest
import qrcode
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.digests import SM3
from certify.keys.publish import build_trust_list
from certify.keys.store import KeyProblem, create_key, decrypt_private, rotate_key, signing_material
from certify.signing.algorithms import DEFAULT, SM2, Algorithm, Ed25519, UnknownAlgorithm, key_id
from certify.signing.token import COSE_SIGN1_TAG, HEADER_ALG, HEADER_KID, to_text
from certify.signing.verify import verify_token
from schemas.tables import AuditCheckpoint, AuditEntry, SigningKey
from tests.certify.signing_helpers import (
    LEVELS,
    OCCUPATIONS,
    PASS,
    TODAY,
    claims,
    fresh_revocations,
    issue,
    make_keys,
    trust,
)
from tests.conftest import Database
from tests.helpers import institution


@pytest.fixture
def mixed(database: Database) -> Database:
    """An Ed25519 root, SD-EVAL-01 signing with Ed25519 and SD-EVAL-02 with SM2."""
    make_keys(database, kinds=[1])
    institution(database.engine, "某国密评价机构", code="SD-EVAL-02")
    create_key(
        database.engine,
        role="institution",
        issuer="SD-EVAL-02",
        name="某国密评价机构",
        passphrase=PASS,
        scope={"kinds": [1], "occupations": OCCUPATIONS, "levels": LEVELS},
        algorithm=SM2(),
    )
    return database


def test_a_trust_list_mixes_both_algorithms_and_each_verifies_under_its_own(
    mixed: Database,
) -> None:
    listed = trust(mixed)
    algs = {k.issuer: k.alg for k in listed.keys.values()}
    assert algs == {
        "SD-HRSS": Ed25519.cose_id,
        "SD-EVAL-01": Ed25519.cose_id,
        "SD-EVAL-02": SM2.cose_id,
    }
    revocations = fresh_revocations(mixed)
    for issuer in ("SD-EVAL-01", "SD-EVAL-02"):
        report = verify_token(issue(mixed, claims(issuer=issuer), issuer), listed, revocations)
        assert report.verdict == "genuine", (issuer, report.checks)


def test_an_sm2_root_signs_the_trust_and_revocation_lists(database: Database) -> None:
    make_keys(database, kinds=[1], algorithm=SM2(), root_algorithm=SM2())
    listed = trust(database)
    assert {k.alg for k in listed.keys.values()} == {SM2.cose_id}
    report = verify_token(issue(database, claims()), listed, fresh_revocations(database))
    assert report.verdict == "genuine"


def _lying(header_alg: Algorithm, signer: Algorithm, private: bytes, public: bytes) -> str:
    """A token whose header names ``header_alg`` but whose signature ``signer`` made with the
    key's real private half: only the header lies."""
    protected = cbor2.dumps({HEADER_ALG: header_alg.cose_id, HEADER_KID: key_id(public)})
    payload = claims(issuer="SD-EVAL-02" if signer.name == "SM2" else "SD-EVAL-01").to_cbor()
    signature = signer.sign(private, cbor2.dumps(["Signature1", protected, b"", payload]))
    return to_text(cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature])))


@pytest.mark.parametrize(
    ("issuer", "header"),
    [("SD-EVAL-02", Ed25519()), ("SD-EVAL-01", SM2())],
    ids=["sm2-key-ed25519-header", "ed25519-key-sm2-header"],
)
def test_a_header_that_disagrees_with_its_key_is_refused(
    mixed: Database, issuer: str, header: Algorithm
) -> None:
    row, private = signing_material(mixed.engine, issuer, PASS)
    real = SM2() if row.algorithm == "SM2" else Ed25519()
    assert real.name != header.name
    report = verify_token(_lying(header, real, private, row.public_key), trust(mixed))
    signature = next(c for c in report.checks if c.name == "signature")
    assert not signature.ok and "algorithm" in signature.message_en
    assert report.verdict == "not_genuine" and report.claims is None


def test_a_key_rotates_from_ed25519_to_sm2_and_both_generations_verify(mixed: Database) -> None:
    before = issue(mixed, claims())
    new = rotate_key(mixed.engine, "SD-EVAL-01", PASS, algorithm=SM2())
    assert new.algorithm == "SM2"
    after = issue(mixed, claims(serial="3726013000002"))
    listed, revocations = trust(mixed), fresh_revocations(mixed)
    assert verify_token(before, listed, revocations).verdict == "genuine"
    assert verify_token(after, listed, revocations).verdict == "genuine"
    assert {k.alg for k in listed.keys.values() if k.issuer == "SD-EVAL-01"} == {
        Ed25519.cose_id,
        SM2.cose_id,
    }
    # Rotating again without --algorithm keeps the institution's suite.
    assert rotate_key(mixed.engine, "SD-EVAL-01", PASS).algorithm == "SM2"


def test_an_sm2_token_fits_qr_version_10_at_level_m(mixed: Database) -> None:
    url = issue(
        mixed,
        claims(
            issuer="SD-EVAL-02",
            holder="欧阳小锋锋锋",
            expires=TODAY + timedelta(days=3650),
        ),
        "SD-EVAL-02",
    )
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(url)
    code.make(fit=True)
    assert code.version <= 10, (code.version, len(url))


def test_an_sm2_private_key_is_sealed_at_rest(mixed: Database) -> None:
    row, private = signing_material(mixed.engine, "SD-EVAL-02", PASS)
    blob = row.private_key_encrypted or b""
    assert blob.startswith(b"-----BEGIN CERTIFY SM2 PRIVATE KEY-----")
    assert private[:32] not in blob and private[:32].hex().encode() not in blob
    with pytest.raises(KeyProblem, match="wrong passphrase"):
        signing_material(mixed.engine, "SD-EVAL-02", "not the passphrase")
    damaged = blob.replace(blob[60:64], b"AAAA")
    with pytest.raises(KeyProblem):
        decrypt_private(damaged, PASS)


def test_a_key_of_an_unknown_algorithm_stops_the_trust_list_instead_of_passing_as_ed25519(
    mixed: Database,
) -> None:
    with transaction(mixed.engine) as session:
        row = session.exec(select(SigningKey).where(SigningKey.issuer == "SD-EVAL-02")).one()
        row.algorithm = "RS256"
        session.add(row)
    with Session(mixed.engine) as session:
        before = len(session.exec(select(AuditCheckpoint)).all())
    with pytest.raises(UnknownAlgorithm):
        build_trust_list(mixed.engine, PASS)
    with Session(mixed.engine) as session:
        assert len(session.exec(select(AuditCheckpoint)).all()) == before


def test_the_audit_chain_holds_entries_of_both_hashes(mixed: Database) -> None:
    with transaction(mixed.engine) as session:
        audit_log.append(session, actor="t", action="test.sm3", detail={"n": 1}, digest=SM3)
        audit_log.append(session, actor="t", action="test.sha256", detail={"n": 2})
    with Session(mixed.engine) as session:
        entries = list(session.exec(select(AuditEntry).order_by(col(AuditEntry.id))))
        assert [e.hash_alg for e in entries[-2:]] == ["sm3", "sha256"]
        # key.create of the SM2 institution was hashed with SM3 too.
        assert any(e.action == "key.create" and e.hash_alg == "sm3" for e in entries)
        assert audit_log.verify_chain(session).ok
    with transaction(mixed.engine) as session:
        edited = session.exec(select(AuditEntry).where(AuditEntry.action == "test.sm3")).one()
        edited.detail = {"n": 3}
        session.add(edited)
    with Session(mixed.engine) as session:
        assert audit_log.verify_chain(session).broken_at == edited.id
    with transaction(mixed.engine) as session:
        relabelled = session.exec(select(AuditEntry).where(AuditEntry.action == "test.sm3")).one()
        relabelled.detail, relabelled.hash_alg = {"n": 1}, "sha256"
        session.add(relabelled)
    with Session(mixed.engine) as session:
        assert audit_log.verify_chain(session).broken_at == relabelled.id


def test_the_default_suite_is_still_ed25519(database: Database) -> None:
    make_keys(database, kinds=[1])
    row, _ = signing_material(database.engine, "SD-EVAL-01", PASS)
    assert row.algorithm == DEFAULT.name == "EdDSA"
