"""Benchmark: the web app under load — gunicorn on loopback, wrk against the API and the page.

    python3 bench/web.py [--seconds 10] [--connections 8] [--workers 2] [--threads 2]

A fresh SQLite database in a temporary folder holds 10,000 registered certificates (signed
tokens, holders, eligibility records; rows inserted in bulk, no PDFs — issuance is measured by
``bench/certificates.py``). gunicorn serves ``certify.web:create_app()`` on 127.0.0.1 with
``--workers`` processes of ``--threads`` threads (the public and API rate limits off: one client
is all the traffic here); wrk (Debian's package) runs for ``--seconds`` each:

1. ``POST /api/v1/verify`` with one token per request (a committee's API token), cycling over
   the 10,000 tokens → ``verify_rps``, ``verify_p50_ms``, ``verify_p99_ms``. Goal: ≥ 2,000/s with
   p99 ≤ 20 ms on this 2-core machine (wrk shares the cores).
2. ``GET /v/<token>``, the page behind the QR code, cycling likewise → ``page_rps``, p50, p99.
3. One ``POST /api/v1/verify`` with all 10,000 tokens → ``bulk_10k_s``. Goal: ≤ 2 s.
4. Steps 1 and 3 again with the tokens of 10,000 more certificates, signed by an institution
   whose key is SM2 with SM3, in the same register and the same server: ``sm2_verify_rps``,
   ``sm2_verify_p50_ms``, ``sm2_verify_p99_ms`` (goal ≥ 1,000/s with p99 ≤ 20 ms) and
   ``sm2_bulk_10k_s``, beside the Ed25519 figures; baseline ``sm2_inprocess_verify_per_s``.

``--count`` makes fewer certificates of each suite for a smoke run (the figures keep their
``10k`` names: they are of ``--count`` tokens then).

``errors`` counts non-2xx responses and socket errors over all runs; it must be 0, and every
verdict in the bulk answer must be ``genuine``. Baseline, in this process: the same work without
HTTP — ``check_rows`` on one token at a time (``inprocess_verify_per_s``) and on all 10,000 at
once (``inprocess_bulk_10k_s``); the ratios say what HTTP, gunicorn and JSON cost. Prints one line
per figure, then LAST one JSON object; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from certificates import (  # type: ignore[import-not-found]
    INSTITUTION,
    LEVEL,
    OCCUPATION,
    PASSPHRASE,
    SM2_INSTITUTION,
    TODAY,
    chinese_names,
    fresh_engine,
    make_keys,
)
from sqlalchemy import insert

from certify.accounts import create_account, create_token
from certify.certificates.verification import CheckRow, check_rows
from certify.keys.publish import build_trust_list
from certify.keys.store import signing_material
from certify.registration.identity import IdentityVault, check_character, mask_id_number
from certify.signing.algorithms import algorithm_named
from certify.signing.token import Claims, Kind, sign_token, to_text
from certify.signing.trust import load_trust_list
from schemas.enums import CertificateKind, CertificateStatus, EntitlementKind, RecordStatus, Verdict
from schemas.tables import Candidate, Certificate, EligibilityRecord

ROOT = Path(__file__).resolve().parent.parent
COUNT = 10_000
SECRET = b"w" * 32
GOALS = {
    "verify_rps": 2_000.0,
    "verify_p99_ms": 20.0,
    "bulk_10k_s": 2.0,
    "sm2_verify_rps": 1_000.0,
    "sm2_verify_p99_ms": 20.0,
}
"""Each figure's goal: a rate at least, a time at most."""


def registered_certificates(
    engine: Any, count: int, issuer: str = INSTITUTION, first: int = 0
) -> list[str]:
    """``count`` certificates of ``issuer`` in the register, bulk-inserted, numbered from
    ``first`` on (so two issuers' rows do not collide); returns their tokens."""
    vault = IdentityVault(SECRET)
    key, private = signing_material(engine, issuer, PASSPHRASE)
    algorithm = algorithm_named(key.algorithm)
    now = datetime.now(UTC)
    candidates, certificates, records, tokens = [], [], [], []
    for n, name in enumerate(chinese_names(count, 7 + first), start=first):
        first17 = f"370102{1975 + n % 30}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
        number = first17 + check_character(first17)
        serial = f"3726011{n + 1:06d}"
        claims = Claims(serial, Kind.LEVEL, name, OCCUPATION, LEVEL, TODAY, issuer)
        token = to_text(sign_token(claims, private, key.public_key, algorithm))
        tokens.append(token)
        candidates.append(
            {
                "id": n + 1,
                "name": name,
                "id_number_cipher": vault.encrypt(number),
                "id_number_digest": vault.digest(f"{n}-{number}"),
                "id_number_masked": mask_id_number(number),
                "created_at": now,
            }
        )
        certificates.append(
            {
                "id": n + 1,
                "serial": serial,
                "kind": CertificateKind.LEVEL,
                "candidate_id": n + 1,
                "holder_name": name,
                "occupation": OCCUPATION,
                "level": LEVEL,
                "issued_on": TODAY,
                "issuer": issuer,
                "kid": key.kid,
                "token": token,
                "status": CertificateStatus.VALID,
                "created_at": now,
                "pdf_digest": "",
                "pdf_digest_alg": algorithm.digest,
            }
        )
        for kind, text in (
            (EntitlementKind.TITLE_RECOGNITION, "可纳入初级职称认定"),
            (EntitlementKind.CE_HOURS, "计入继续教育学时 30 学时"),
        ):
            records.append(
                {
                    "certificate_id": n + 1,
                    "kind": kind,
                    "detail": {
                        "zh": text,
                        "en": kind.value,
                        "hours": 30 if kind == EntitlementKind.CE_HOURS else 0,
                    },
                    "status": RecordStatus.ACTIVE,
                    "created_at": now,
                }
            )
    with engine.begin() as conn:
        conn.execute(insert(Candidate), candidates)
        conn.execute(insert(Certificate), certificates)
        conn.execute(insert(EligibilityRecord), records)
    return tokens


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url}")


LUA_POST = """
local tokens = {}
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(bearer)s"
request = function()
  n = n %% #tokens + 1
  return wrk.format(nil, nil, nil, '{"token":"' .. tokens[n] .. '"}')
end
"""

LUA_GET = """
local tokens = {}
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
local n = 0
request = function()
  n = n %% #tokens + 1
  return wrk.format("GET", "/V/" .. tokens[n])
end
"""


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "errors": float(errors + (int(non2xx.group(1)) if non2xx else 0)),
    }


def verdict_of(base: str, bearer: str, token: str) -> str:
    """The verdict the API gives one token."""
    request = urllib.request.Request(
        f"{base}/api/v1/verify",
        data=json.dumps({"token": token}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["verdict"])


def bulk_timings(base: str, bearer: str, tokens: list[str], failures: list[str]) -> list[float]:
    """Seconds for one request with every token, three times; every verdict must be genuine."""
    body = json.dumps({"items": [{"token": t} for t in tokens]}).encode()
    timings = []
    for _ in range(3):
        request = urllib.request.Request(
            f"{base}/api/v1/verify",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"},
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        timings.append(time.perf_counter() - start)
    verdicts = {r["verdict"] for r in answer["results"]}
    if verdicts != {Verdict.GENUINE} or len(answer["results"]) != len(tokens):
        failures.append(f"bulk verdicts {sorted(verdicts)} over {len(answer['results'])}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--count", type=int, default=COUNT, help="certificates of each suite")
    args = parser.parse_args()
    count = args.count
    for tool in ("wrk", "gunicorn"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install wrk; pip install gunicorn")
    failures: list[str] = []
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = fresh_engine(folder / "web.db")
        make_keys(engine)
        start = time.perf_counter()
        tokens = registered_certificates(engine, count)
        sm2_tokens = registered_certificates(engine, count, SM2_INSTITUTION, first=count)
        figures["setup_s"] = time.perf_counter() - start
        create_account(engine, "bench", "committee", "bench-password-not-secret")
        bearer = create_token(engine, "bench", label="bench")
        trust_document = build_trust_list(engine, PASSPHRASE)
        (folder / "trust.json").write_text(json.dumps(trust_document, ensure_ascii=False))
        (folder / "tokens.txt").write_text("\n".join(tokens) + "\n")
        (folder / "sm2-tokens.txt").write_text("\n".join(sm2_tokens) + "\n")
        trust = load_trust_list(trust_document, pinned_root_kid=trust_document["root_kid"])
        vault = IdentityVault(SECRET)

        # Baselines: the same work in this process, no HTTP.
        for prefix, suite in (("", tokens), ("sm2_", sm2_tokens)):
            sample = suite[:2_000]
            start = time.perf_counter()
            for token in sample:
                check_rows(engine, trust, vault, [CheckRow(token=token)])
            figures[f"{prefix}inprocess_verify_per_s"] = len(sample) / (time.perf_counter() - start)
            start = time.perf_counter()
            check_rows(engine, trust, vault, [CheckRow(token=t) for t in suite])
            figures[f"{prefix}inprocess_bulk_10k_s"] = time.perf_counter() - start
        engine.dispose()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            # The server runs this checkout's code, whatever copy of certify is installed.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "CERTIFY_DATABASE_URL": f"sqlite:///{folder / 'web.db'}",
            "CERTIFY_TRUST_LIST": str(folder / "trust.json"),
            "CERTIFY_WEB_SECRET": "bench-secret-not-secret",
            "CERTIFY_SECRET_KEY": base64.b64encode(SECRET).decode(),
            "CERTIFY_RATE_LIMIT": "0",
            "CERTIFY_API_RATE_LIMIT": "0",
            "CERTIFY_MAX_UPLOAD_MB": "16",
        }
        server = subprocess.Popen(
            [
                "gunicorn",
                f"--workers={args.workers}",
                "--worker-class=gthread",
                f"--threads={args.threads}",
                "--keep-alive=5",
                f"--bind=127.0.0.1:{port}",
                "--log-level=warning",
                "certify.web:create_app()",
            ],
            env=env,
            cwd=folder,
        )
        try:
            wait_for(f"{base}/healthz")
            # What wrk measures must be real verifications: one of each, checked first.
            for first_token in (tokens[0], sm2_tokens[0]):
                if verdict_of(base, bearer, first_token) != Verdict.GENUINE:
                    failures.append(f"a single verification is not genuine: {first_token[:16]}")
            with urllib.request.urlopen(f"{base}/V/{tokens[1]}", timeout=10) as response:
                if f'data-verdict="{Verdict.GENUINE}"'.encode() not in response.read():
                    failures.append("the verification page does not say genuine")
            post = folder / "post.lua"
            post.write_text(LUA_POST % {"tokens": folder / "tokens.txt", "bearer": bearer})
            sm2_post = folder / "sm2-post.lua"
            sm2_post.write_text(LUA_POST % {"tokens": folder / "sm2-tokens.txt", "bearer": bearer})
            get = folder / "get.lua"
            get.write_text(LUA_GET % {"tokens": folder / "tokens.txt"})
            run_wrk(f"{base}/api/v1/verify", post, 2, args.connections)  # warm up
            verify = run_wrk(f"{base}/api/v1/verify", post, args.seconds, args.connections)
            page = run_wrk(base, get, args.seconds, args.connections)
            sm2_verify = run_wrk(f"{base}/api/v1/verify", sm2_post, args.seconds, args.connections)
            timings = bulk_timings(base, bearer, tokens, failures)
            sm2_timings = bulk_timings(base, bearer, sm2_tokens, failures)
        finally:
            server.terminate()
            server.wait(timeout=30)

    figures.update(
        {
            "verify_rps": verify["rps"],
            "verify_p50_ms": verify["p50_ms"],
            "verify_p99_ms": verify["p99_ms"],
            "verify_requests": int(verify["requests"]),
            "page_rps": page["rps"],
            "page_p50_ms": page["p50_ms"],
            "page_p99_ms": page["p99_ms"],
            "bulk_10k_s": statistics.median(timings),
            "bulk_10k_runs_s": [round(t, 3) for t in timings],
            "sm2_verify_rps": sm2_verify["rps"],
            "sm2_verify_p50_ms": sm2_verify["p50_ms"],
            "sm2_verify_p99_ms": sm2_verify["p99_ms"],
            "sm2_verify_requests": int(sm2_verify["requests"]),
            "sm2_bulk_10k_s": statistics.median(sm2_timings),
            "sm2_bulk_10k_runs_s": [round(t, 3) for t in sm2_timings],
            "count": count,
            "errors": int(verify["errors"] + page["errors"] + sm2_verify["errors"]),
        }
    )
    figures["verify_vs_inprocess_ratio"] = figures["inprocess_verify_per_s"] / figures["verify_rps"]
    figures["bulk_vs_inprocess_ratio"] = figures["bulk_10k_s"] / figures["inprocess_bulk_10k_s"]
    if figures["errors"]:
        failures.append(f"{figures['errors']} errors")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; SQLite; gunicorn {args.workers} workers × "
        f"{args.threads} threads (gthread); wrk 2 threads, {args.connections} connections, "
        f"{args.seconds} s per run"
    )
    print(f"register: 2 × {count:,} certificates inserted in {figures['setup_s']:.1f} s")
    print(
        f"POST /api/v1/verify, one token:   {figures['verify_rps']:,.0f} /s, "
        f"p50 {figures['verify_p50_ms']:.2f} ms, p99 {figures['verify_p99_ms']:.2f} ms "
        f"(goal ≥ 2,000 /s, p99 ≤ 20 ms)"
    )
    print(f"baseline in-process check_rows:    {figures['inprocess_verify_per_s']:,.0f} /s")
    print(f"ratio in-process / HTTP:            {figures['verify_vs_inprocess_ratio']:.2f}x")
    print(
        f"GET /V/<token>, the QR page:       {figures['page_rps']:,.0f} /s, "
        f"p50 {figures['page_p50_ms']:.2f} ms, p99 {figures['page_p99_ms']:.2f} ms"
    )
    print(
        f"bulk 10,000 in one request:        {figures['bulk_10k_s']:.2f} s (median of 3; goal ≤ 2 s)"
    )
    print(f"baseline in-process, 10,000:       {figures['inprocess_bulk_10k_s']:.2f} s")
    print(f"ratio HTTP / in-process:            {figures['bulk_vs_inprocess_ratio']:.2f}x")
    print(
        f"SM2 POST /api/v1/verify, one token: {figures['sm2_verify_rps']:,.0f} /s, "
        f"p50 {figures['sm2_verify_p50_ms']:.2f} ms, p99 {figures['sm2_verify_p99_ms']:.2f} ms "
        f"(goal ≥ 1,000 /s, p99 ≤ 20 ms)"
    )
    print(f"SM2 baseline in-process check_rows: {figures['sm2_inprocess_verify_per_s']:,.0f} /s")
    print(
        f"SM2 bulk {count:,} in one request:    {figures['sm2_bulk_10k_s']:.2f} s (median of 3); "
        f"in-process {figures['sm2_inprocess_bulk_10k_s']:.2f} s"
    )
    print(f"errors (non-2xx, socket):           {figures['errors']}")
    for name, goal in GOALS.items():
        met = figures[name] >= goal if name.endswith("_rps") else figures[name] <= goal
        print(f"goal {name}: {'met' if met else 'MISSED'}")
    for failure in failures:
        print(f"FAILED: {failure}")
    summary = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    summary["load_average"] = [round(x, 2) for x in os.getloadavg()]
    summary["ok"] = not failures
    print(json.dumps(summary, ensure_ascii=False))
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
