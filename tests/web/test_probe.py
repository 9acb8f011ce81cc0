"""What an adversarial probe of the running app broke, each held by a test: forged tokens used as
an oracle, genuine signatures over claims the register never issued, tokens with malformed
headers, text that is not Unicode, header injection through ``next=``, API tokens on pages,
tokens in the access log, and a trust list signed by any root."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import cbor2
import pytest
from sqlmodel import Session, select

from certify.certificates.revocation import change_status
from certify.infra.settings import Settings
from certify.keys.store import signing_material
from certify.signing.algorithms import DEFAULT
from certify.signing.token import COSE_SIGN1_TAG, Claims, Kind, sign_token, to_text
from certify.signing.trust import RootNotPinned
from certify.web import create_app
from certify.web.logs import token_digest
from schemas.tables import Certificate
from tests.certify.signing_helpers import PASS
from tests.web.browser_helpers import free_port
from tests.web.conftest import Site
from tests.web.test_public import verdict


def claims_of(cert: Certificate, **changes: Any) -> Claims:
    fields: dict[str, Any] = {
        "serial": cert.serial,
        "kind": Kind.LEVEL,
        "holder": cert.holder_name,
        "occupation": cert.occupation,
        "level": cert.level,
        "issued": cert.issued_on,
        "issuer": cert.issuer,
    }
    fields.update(changes)
    return Claims(**fields)


def forged(site: Site, cert: Certificate, **changes: Any) -> str:
    """A token for ``cert``'s serial under the institution's published key id, signed with a
    throwaway key."""
    row, _ = signing_material(site.database.engine, cert.issuer, PASS)
    throwaway, _ = DEFAULT.generate()
    return to_text(sign_token(claims_of(cert, **changes), throwaway, row.public_key, DEFAULT))


def leaked(site: Site, cert: Certificate, **changes: Any) -> str:
    """A token for ``cert``'s serial signed with the institution's real key (as with a leaked
    key), naming other particulars than the register issued."""
    row, private = signing_material(site.database.engine, cert.issuer, PASS)
    return to_text(sign_token(claims_of(cert, **changes), private, row.public_key, DEFAULT))


def shows_nothing_of(page: str, site: Site, cert: Certificate) -> bool:
    masked = site.id_numbers[cert.serial][:6]
    return all(
        text not in page
        for text in (cert.holder_name, masked, cert.serial, "冒名者", "核查中-秘密原因", "已暂停")
    )


def test_a_forged_token_is_no_oracle_for_the_register(site: Site) -> None:
    cert = site.certificates[0]
    change_status(site.database.engine, cert.serial, "suspend", "核查中-秘密原因")
    client = site.client()
    for token in (forged(site, cert), forged(site, cert, holder="冒名者")):
        page = client.get(f"/V/{token}").data.decode()
        assert verdict(page.encode()) == "not_genuine"
        assert shows_nothing_of(page, site, cert), page
    answer = client.post(
        "/api/v1/verify", json={"token": forged(site, cert)}, headers=site.bearer()
    ).json
    assert answer["verdict"] == "not_genuine" and answer["certificate"] is None
    assert answer["status"] == "unknown" and answer["eligibility"] == []


def test_a_genuine_signature_over_claims_the_register_never_issued_is_refused(site: Site) -> None:
    cert = site.certificates[0]
    client = site.client()
    for changes in (
        {"holder": "冒名者"},
        {"level": "senior" if cert.level != "senior" else "junior"},
    ):
        page = client.get(f"/V/{leaked(site, cert, **changes)}").data.decode()
        assert verdict(page.encode()) == "not_genuine" and "与登记不符" in page
        assert shows_nothing_of(page, site, cert), page
    # The genuine one still verifies.
    assert verdict(client.get(f"/V/{cert.token}").data) == "genuine"


def _array_header_token(cert: Certificate) -> str:
    protected = cbor2.dumps({1: [-8], 4: b"12345678"})
    payload = claims_of(cert).to_cbor()
    return to_text(cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, b"x" * 64])))


def test_a_malformed_header_fails_its_own_row_only(site: Site, tmp_path: Path) -> None:
    cert = site.certificates[0]
    bad = _array_header_token(cert)
    client = site.client()
    page = client.get(f"/V/{bad}")
    assert page.status_code == 200 and verdict(page.data) == "not_genuine"
    items = [{"token": cert.token}, {"token": bad}, {"serial": cert.serial}]
    answer = client.post("/api/v1/verify", json={"items": items}, headers=site.bearer())
    assert answer.status_code == 200
    assert [r["verdict"] for r in answer.json["results"]] == ["genuine", "not_genuine", "genuine"]
    committee = site.signed_in("committee")
    upload = committee.post(
        "/committee/checks",
        data={
            "csrf_token": site.csrf(committee),
            "file": (
                __import__("io").BytesIO(f"二维码内容\n{cert.token}\n{bad}\n".encode()),
                "check.csv",
            ),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302
    shown = committee.get(upload.location).data.decode()
    assert "真实有效" in shown and "无法验证为真" in shown


def test_text_that_is_not_unicode_fails_its_row_only(site: Site) -> None:
    client = site.client()
    cert = site.certificates[0]
    one = client.post(
        "/api/v1/verify",
        data='{"serial": "\\ud800"}',
        content_type="application/json",
        headers=site.bearer(),
    )
    assert one.status_code == 200 and one.json["verdict"] == "not_genuine"
    many = client.post(
        "/api/v1/verify",
        data=json.dumps({"items": [{"serial": cert.serial}, {"serial": "\ud800"}]}),
        content_type="application/json",
        headers=site.bearer(),
    )
    assert many.status_code == 200
    assert [r["verdict"] for r in many.json["results"]] == ["genuine", "not_genuine"]
    token = client.post(
        "/api/v1/verify",
        data='{"token": "AB\\udfffCD", "id_number": "\\ud83d"}',
        content_type="application/json",
        headers=site.bearer(),
    )
    assert token.status_code == 200 and token.json["verdict"] == "not_genuine"


@pytest.mark.parametrize(
    "target", ["/admin/\r\nSet-Cookie: x=1", "/\\evil.example", "/admin/\x00", "//evil.example"]
)
def test_a_next_that_is_not_a_plain_local_path_goes_home(site: Site, target: str) -> None:
    client = site.client()
    client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": "admin",
            "password": "admin-password-1",
            "csrf_token": site.csrf(client),
            "next": target,
        },
    )
    assert response.status_code == 302 and response.location == "/admin/"


def test_api_tokens_open_no_page(site: Site) -> None:
    client = site.client()
    cert = site.certificates[0]
    page = client.get("/admin/", headers=site.bearer("admin"))
    assert page.status_code == 302 and "/login" in page.location
    # Even with a CSRF token of its own session, a bearer token changes nothing on a page.
    client.get("/login")
    suspended = client.post(
        f"/admin/certificates/{cert.serial}/status",
        data={"csrf_token": site.csrf(client), "action": "suspend", "reason": "x"},
        headers=site.bearer("admin"),
    )
    assert suspended.status_code == 302 and "/login" in suspended.location
    with Session(site.database.engine) as session:
        status = session.exec(select(Certificate.status).where(Certificate.serial == cert.serial))
        assert status.one() == "valid"


def test_a_trust_list_without_a_pinned_root_is_refused_at_start(site: Site, database: Any) -> None:
    from certify.infra import db as certify_db

    empty = certify_db.make_engine(f"sqlite:///{site.out / 'empty.db'}")
    certify_db.upgrade(empty)
    settings = Settings.load({}, web_secret="x", sweep_seconds=0)
    with pytest.raises(RootNotPinned):
        create_app(settings, engine=empty, trust_document=site.trust_document)
    experiment = create_app(
        settings.replace(allow_unpinned_root=True, rate_limit=0),
        engine=site.database.engine,
        trust_document=site.trust_document,
    )
    page = experiment.test_client().get(f"/V/{site.certificates[0].token}").data.decode()
    assert "未固定" in page and "not pinned" in page
    with pytest.raises(Exception, match="pinned"):
        create_app(
            settings.replace(root_kid="0" * 16),
            engine=site.database.engine,
            trust_document=site.trust_document,
        )


def _wait(base: str, server: subprocess.Popen[str]) -> None:
    """Until ``base`` answers its health check; a server that exited or never answers fails
    the test with what it printed."""
    for _ in range(300):
        if server.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    server.terminate()
    output, _ = server.communicate(timeout=15)
    raise AssertionError(f"{base} did not come up:\n{output}")


def test_request_logs_hold_a_digest_never_a_token(site: Site, tmp_path: Path) -> None:
    """Both servers: ``certify serve`` and gunicorn with the documented logger class."""
    from tests.certify.exam_helpers import VAULT

    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(site.trust_document, ensure_ascii=False))
    env = {
        **os.environ,
        "CERTIFY_SECRET_KEY": __import__("base64").b64encode(VAULT.secret).decode(),
        "CERTIFY_DATABASE_URL": site.database.url,
        "CERTIFY_TRUST_LIST": str(trust),
        "CERTIFY_WEB_SECRET": "test-secret",
    }
    cert = site.certificates[0]
    ports = [free_port(), free_port()]  # each its own: the port after one may well be taken
    while ports[1] == ports[0]:
        ports[1] = free_port()
    servers = [
        [sys.executable, "-m", "certify", "serve", "--port", str(ports[0])],
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{ports[1]}",
            "--workers",
            "1",
            "--access-logfile",
            "-",
            "--logger-class",
            "certify.web.logs.AccessLogger",
            "certify.web:create_app()",
        ],
    ]
    for port, command in zip(ports, servers, strict=True):
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        _wait(base, server)
        try:
            for path in (f"/V/{cert.token}", f"/v/{cert.token.lower()}"):
                with urllib.request.urlopen(base + path, timeout=5) as response:
                    assert response.status == 200
            with urllib.request.urlopen(
                f"{base}/lookup?serial={cert.serial}&name={urllib.parse.quote(cert.holder_name)}",
                timeout=5,
            ):
                pass
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=15)
        assert cert.token[:40] not in output.upper(), output
        assert urllib.parse.quote(cert.holder_name) not in output and cert.holder_name not in output
        assert output.count(f"sha256:{token_digest(cert.token)}") == 2, output


def test_the_demo_serves_its_notice(tmp_path: Path) -> None:
    from certify.commands.demo import DEMO_SITTING, run_demo

    result = run_demo(tmp_path / "demo", echo=lambda _: None)
    from certify.infra import db as certify_db

    engine = certify_db.make_engine(f"sqlite:///{result.database}")
    app = create_app(
        Settings.load({}, web_secret="x", data_dir=result.directory, sweep_seconds=0),
        engine=engine,
        trust_document=json.loads(result.files["trust_list"].read_text("utf-8")),
    )
    client = app.test_client()
    page = client.get(result.notice_path)
    assert page.status_code == 200 and DEMO_SITTING in page.data.decode()
    assert client.get(result.notice_path + ".pdf").status_code == 200
    assert re.search(r'data-verdict="genuine"', client.get(result.verification_path).data.decode())
    engine.dispose()
