"""The public side: the page behind the QR code, the lookup, the published lists — and what never
appears on them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import Session, select

from certify.certificates.revocation import change_status
from schemas.tables import ItemVersion
from tests.conftest import Database
from tests.web.conftest import Site, build_site


def verdict(html: bytes) -> str:
    found = re.search(rb'data-verdict="([a-z_]+)"', html)
    assert found, html[:400]
    return found.group(1).decode()


def test_the_qr_url_opens_the_verdict_in_either_case(site: Site) -> None:
    client = site.client()
    cert = site.certificates[0]
    upper = client.get(f"/V/{cert.token}")
    lower = client.get(f"/v/{cert.token.lower()}")
    assert upper.status_code == lower.status_code == 200
    assert verdict(upper.data) == verdict(lower.data) == "genuine"
    page = upper.data.decode()
    assert "真实有效" in page and cert.holder_name in page and cert.serial in page
    assert site.id_numbers[cert.serial][:6] + "********" in page  # masked only
    english = client.get(f"/V/{cert.token}?lang=en").data.decode()
    assert "Genuine and valid" in english and 'lang="en"' in english


def test_suspension_and_revocation_show_at_once(site: Site) -> None:
    client = site.client()
    cert = site.certificates[1]
    change_status(site.database.engine, cert.serial, "suspend", "核查中")
    assert verdict(client.get(f"/V/{cert.token}").data) == "suspended"
    change_status(site.database.engine, cert.serial, "revoke", "材料不实")
    page = client.get(f"/V/{cert.token}").data
    assert verdict(page) == "revoked" and "材料不实".encode() in page


@pytest.mark.parametrize(
    "path",
    [
        "/V/GARBLED",
        "/V/" + "A" * 300,
        "/v/%27%20OR%201%3D1--",
        "/V/AAAAAAAA1",
        "/v/" + "z" * 2500,
    ],
)
def test_garbled_tokens_get_a_clear_page_not_an_error(site: Site, path: str) -> None:
    response = site.client().get(path)
    assert response.status_code in (200, 400, 404)
    if response.status_code != 404:
        assert verdict(response.data) == "not_genuine"


def test_an_altered_token_is_not_genuine(site: Site) -> None:
    token = site.certificates[0].token
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    assert verdict(site.client().get(f"/V/{flipped}").data) == "not_genuine"


def test_lookup_by_serial_and_name(site: Site) -> None:
    client = site.client()
    cert = site.certificates[2]
    found = client.get("/lookup", query_string={"serial": cert.serial, "name": cert.holder_name})
    assert found.status_code == 200 and verdict(found.data) == "genuine"
    wrong = client.get("/lookup", query_string={"serial": cert.serial, "name": "张三"})
    assert wrong.status_code == 404 and "没有与该编号和姓名相符的证书" in wrong.data.decode()
    bad = client.get(
        "/lookup", query_string={"serial": "'; DROP TABLE certificate;--", "name": "x"}
    )
    assert bad.status_code == 400
    assert client.get("/lookup").status_code == 200
    posted = client.post("/lookup", data={"serial": cert.serial, "name": cert.holder_name})
    assert posted.status_code == 200 and verdict(posted.data) == "genuine"
    assert 'method="post"' in client.get("/").data.decode()  # the form keeps names out of URLs


def test_trust_list_revocations_and_notices_at_stable_urls(site: Site) -> None:
    client = site.client()
    assert client.get("/trust-list.json").json == site.trust_document
    assert client.get("/revocations.json").status_code == 404  # none published in this site
    notice = client.get("/notices/S1")
    assert notice.status_code == 200 and "公示" in notice.data.decode()
    assert client.get("/notices/S1.pdf").data.startswith(b"%PDF")
    assert client.get("/notices/..%2Fcerts").status_code == 404


def test_public_responses_never_carry_id_numbers_or_answer_keys(site: Site) -> None:
    """Every public page and list, for every certificate: no full ID number, no answer key."""
    client = site.client()
    with Session(site.database.engine) as session:
        versions = session.exec(select(ItemVersion)).all()
    secrets = {v.key for v in versions if len(v.key) >= 6} | {
        v.rubric for v in versions if v.rubric
    }
    assert secrets  # fill-in keys and rubrics long enough to be found if they leaked
    texts = [
        client.get(path).data.decode()
        for path in ("/", "/trust-list.json", "/notices/S1", "/lookup")
    ]
    for cert in site.certificates:
        texts.append(client.get(f"/V/{cert.token}").data.decode())
        texts.append(
            client.get(
                "/lookup", query_string={"serial": cert.serial, "name": cert.holder_name}
            ).data.decode()
        )
    everything = "\n".join(texts)
    for id_number in site.id_numbers.values():
        assert id_number not in everything and id_number[6:14] not in everything
    assert not [s for s in secrets if s in everything]


def test_public_pages_are_rate_limited(database: Database, tmp_path: Path) -> None:
    site = build_site(database, tmp_path, rate_limit=5)
    client = site.client()
    codes = [client.get("/").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    limited = client.get("/")
    assert limited.headers["Retry-After"] == "60" and "请求过于频繁" in limited.data.decode()
