"""A site whose institution signs with SM2 (SM3): the QR page, the bulk API and an altered
token give the verdicts and reasons an Ed25519 site gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from certify.certificates.revocation import change_status
from certify.signing.algorithms import SM2
from tests.conftest import Database
from tests.web.conftest import Site, build_site
from tests.web.test_public import verdict


@pytest.fixture
def sm2_site(database: Database, tmp_path: Path) -> Site:
    return build_site(database, tmp_path, algorithm=SM2())


def test_the_qr_page_of_an_sm2_certificate(sm2_site: Site) -> None:
    client = sm2_site.client()
    cert = sm2_site.certificates[0]
    assert [k["alg"] for k in sm2_site.trust_document["keys"] if k["role"] == "institution"] == [
        SM2.cose_id
    ]
    page = client.get(f"/V/{cert.token}")
    assert page.status_code == 200 and verdict(page.data) == "genuine"
    assert cert.holder_name in page.data.decode()
    flipped = cert.token[:40] + ("A" if cert.token[40] != "A" else "B") + cert.token[41:]
    altered = client.get(f"/V/{flipped}").data
    assert verdict(altered) == "not_genuine" and cert.holder_name not in altered.decode()
    change_status(sm2_site.database.engine, cert.serial, "revoke", "材料不实")
    revoked = client.get(f"/V/{cert.token}").data
    assert verdict(revoked) == "revoked" and "材料不实".encode() in revoked


def test_the_bulk_api_checks_sm2_tokens_with_the_same_reasons(sm2_site: Site) -> None:
    client = sm2_site.client()
    first = sm2_site.certificates[0]
    flipped = first.token[:40] + ("A" if first.token[40] != "A" else "B") + first.token[41:]
    items = [{"token": c.token} for c in sm2_site.certificates] + [{"token": flipped}]
    many = client.post("/api/v1/verify", json={"items": items}, headers=sm2_site.bearer("admin"))
    results = many.json["results"]
    assert [r["verdict"] for r in results[:-1]] == ["genuine"] * len(sm2_site.certificates)
    assert results[-1]["verdict"] == "not_genuine"
    one = client.post("/api/v1/verify", json={"token": first.token}, headers=sm2_site.bearer())
    assert one.json["verdict"] == "genuine" and one.json["certificate"]["serial"] == first.serial
