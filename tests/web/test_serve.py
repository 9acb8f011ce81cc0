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

from tests.certify.exam_helpers import VAULT
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
