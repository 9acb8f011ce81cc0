"""`certify serve` runs the app for local use: the QR page answers over real HTTP."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from certify.infra.settings import Settings
from cli import cli
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.web.browser_helpers import free_port
from tests.web.conftest import Site


def test_certify_serve_answers_the_qr_url(site: Site, tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(site.trust_document, ensure_ascii=False))
    port = free_port()
    env = {**os.environ, "CERTIFY_SECRET_KEY": base64.b64encode(VAULT.secret).decode()}
    command = [sys.executable, "-m", "certify", "--db", site.database.url, "serve"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--trust-list", str(trust)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        cert = site.certificates[0]
        with urllib.request.urlopen(f"{base}/V/{cert.token}", timeout=5) as response:
            page = response.read().decode()
        assert re.search(r'data-verdict="genuine"', page) and cert.serial in page
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/" in output


def test_serve_hands_its_options_to_the_app_as_settings(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The options reach ``create_app`` as overrides of the settings; the environment stays."""
    import certify.web

    built: list[Settings] = []

    class Server:
        def run(self, **_: Any) -> None:
            pass

    def create_app(settings: Settings, **_: Any) -> Server:
        built.append(settings)
        return Server()

    monkeypatch.setattr(certify.web, "create_app", create_app)
    monkeypatch.setenv("CERTIFY_RATE_LIMIT", "9")
    monkeypatch.setenv("CERTIFY_ROOT_KID", "from-the-environment")
    trust = tmp_path / "trust.json"
    trust.write_text("{}")
    before = dict(os.environ)
    options = ["--trust-list", str(trust), "--root-kid", "abc", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, ["--db", database.url, "serve", *options])
    assert result.exit_code == 0, result.output
    (settings,) = built
    assert settings.trust_list == trust and settings.root_kid == "abc"
    assert settings.data_dir == tmp_path and settings.database_url == database.url
    assert settings.rate_limit == 9 and settings.revocations is None
    assert dict(os.environ) == before
