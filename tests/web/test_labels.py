"""The verification page, the JSON API and ``certify verify`` read a certificate's state the same
way: one Chinese verdict, from the enum's label."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from certify.certificates.revocation import change_status
from schemas.enums import StatusChange, Verdict
from tests.certify.exam_helpers import run
from tests.certify.signing_helpers import PASS
from tests.web.conftest import Site


def test_page_api_and_cli_show_the_same_chinese_verdict(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    valid, suspended, revoked = site.certificates[:3]
    engine = site.database.engine
    change_status(engine, suspended.serial, StatusChange.SUSPEND, "核查中")
    change_status(engine, revoked.serial, StatusChange.REVOKE, "材料不实")
    monkeypatch.setenv("CERTIFY_KEY_PASSPHRASE", PASS)
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(site.trust_document, ensure_ascii=False), "utf-8")
    revocations = tmp_path / "revocations.json"
    run(site.database, "revocations", "--out", str(revocations))
    client = site.client()
    for cert, expected in (
        (valid, Verdict.GENUINE),
        (suspended, Verdict.SUSPENDED),
        (revoked, Verdict.REVOKED),
    ):
        page = client.get(f"/V/{cert.token}").data.decode()
        shown = re.search(r'data-verdict="(\w+)">\s*(\S+)\s*<small>', page)
        assert shown is not None, page[:400]
        api = client.post("/api/v1/verify", json={"token": cert.token}, headers=site.bearer())
        out = run(
            site.database,
            "verify",
            cert.token,
            "--trust-list",
            str(trust),
            "--revocations",
            str(revocations),
            code=0 if expected is Verdict.GENUINE else 1,
        )
        said = re.search(r"结论 verdict: (\S+)", out)
        assert said is not None, out
        assert shown.group(1) == api.json["verdict"] == expected
        assert shown.group(2) == api.json["verdict_zh"] == said.group(1) == expected.zh
