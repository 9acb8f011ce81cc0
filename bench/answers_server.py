"""Benchmark: the answers' server — uvicorn (certify.web.asgi) against gunicorn's gthread worker.

The exam page's answers (saves and heartbeats) are nearly every request of a computer-based
exam. This runs them alone, as fast as ``wrk`` sends them, against each shape of the answers'
server that ``bench/delivery.py`` can start, on the same database in the same process:

- ``gthread:W``: gunicorn, W workers × 4 threads, the whole app (``certify.web:create_app()``)
  — the baseline, how the answers were served before;
- ``uvicorn:W:T``: uvicorn (httptools, uvloop), W workers, each answer on one of T threads
  (``CERTIFY_ANSWER_THREADS``).

Setup: ``--candidates`` candidates signed in through the app's own gunicorn (PostgreSQL at
127.0.0.1:55433 unless ``--postgres``), each with the first question of their paper. Then, per
shape and round (rounds alternate the shapes, so the machine's drift falls on all alike), wrk
(one thread pinned to CPU 1, ``--connections`` keep-alive connections, ``--seconds``) sends

- ``save``: ``POST /exam/api/save``, one new entry per request, candidates in turn (each seq
  above the last: every save takes the one-statement path);
- ``state``: ``GET /exam/api/state``, candidates in turn.

Printed per run: requests a second, the server's CPU per request (master and workers, /proc),
PostgreSQL's (every postgres process on the machine), latency p50/p99 under wrk's
saturating load. Then medians per shape and the ratio of CPU per request against the baseline.
The last line is JSON.

    python3 bench/answers_server.py
    python3 bench/answers_server.py --shapes gthread:2,uvicorn:2:4,uvicorn:2:2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.delivery import (
    POSTGRES,
    Server,
    children,
    make_database,
    postgres_cpu,
    proc_cpu,
    setup,
)


def server_cpu(pid: int) -> float:
    """CPU seconds of a server's master ``pid`` and its workers."""
    return sum(proc_cpu(p) for p in [pid, *children(pid)])


def call(url: str, data: Any = None, token: str = "") -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Exam {token}"
    body = json.dumps(data).encode() if data is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, body, headers)) as response:
        return json.load(response)


def script(kind: str, candidates: list[tuple[str, int, str]], first_seq: int) -> str:
    """wrk's Lua: the candidates in turn, a save with the next seq or a heartbeat."""
    tokens = ",".join(json.dumps(t) for t, _, _ in candidates)
    numbers = ",".join(str(n) for _, n, _ in candidates)
    values = ",".join(json.dumps(v) for _, _, v in candidates)
    if kind == "state":
        call = "wrk.format('GET', '/exam/api/state', {['Authorization'] = 'Exam ' .. tokens[i]})"
    else:
        call = (
            "wrk.format('POST', '/exam/api/save', {['Authorization'] = 'Exam ' .. tokens[i], "
            "['Content-Type'] = 'application/json'}, '{\"entries\":[{\"seq\":' .. counter .. "
            "',\"number\":' .. numbers[i] .. ',\"value\":\"' .. values[i] .. '\"}]}')"
        )
    return (
        f"tokens = {{{tokens}}}\nnumbers = {{{numbers}}}\nvalues = {{{values}}}\n"
        f"counter = {first_seq}\n"
        "request = function()\n  counter = counter + 1\n  local i = (counter % #tokens) + 1\n"
        f"  return {call}\nend\n"
    )


def run_wrk(args: argparse.Namespace, port: int, lua: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            *(["taskset", "-c", "1"] if os.cpu_count() and os.cpu_count() > 1 else []),  # type: ignore[operator]
            "wrk",
            "-t1",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            "--latency",
            "-s",
            str(lua),
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    requests = int(next(line for line in lines if "requests in" in line).split()[0])
    latency = {
        line.split()[0]: _ms(line.split()[1])
        for line in lines
        if line.strip().startswith(("50%", "99%"))
    }
    errors = [line.strip() for line in lines if "Non-2xx" in line or "Socket errors" in line]
    return {
        "requests": requests,
        "p50_ms": latency["50%"],
        "p99_ms": latency["99%"],
        "errors": errors,
    }


def _ms(text: str) -> float:
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--shapes", default="gthread:2,uvicorn:2:4,uvicorn:2:2")
    parser.add_argument("--kinds", default="save,state")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", default=POSTGRES)
    args = parser.parse_args()
    # what bench/delivery.py's Server and setup read
    args.sqlite, args.no_baseline, args.nice = False, True, 10
    args.workers, args.threads = 1, 4
    shapes = args.shapes.split(",")
    baseline = shapes[0]

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        url, drop = make_database(args, Path(folder))
        try:
            people = setup(args, url, Path(folder))["run"]["people"][: args.candidates]
            candidates: list[tuple[str, int, str]] = []
            seq = 0
            for rnd in range(args.rounds):
                for kind in args.kinds.split(","):
                    for shape in shapes:
                        name, workers, *threads = shape.split(":")
                        args.answer_server, args.answer_workers = name, int(workers)
                        args.answer_threads = int(threads[0]) if threads else 4
                        server = Server(args, url, Path(folder))
                        server.start()
                        try:
                            if not candidates:  # signed in once: one device each
                                for person in people:
                                    base = f"http://127.0.0.1:{server.port}/exam/api"
                                    token = call(f"{base}/sign-in", person)["token"]
                                    paper = call(f"{base}/paper", token=token)
                                    q = paper["parts"][0]["questions"][0]
                                    value = sorted(q.get("options") or {"T": ""})[0]
                                    candidates.append((token, q["number"], value))
                            lua = Path(folder) / "answers.lua"
                            lua.write_text(script(kind, candidates, seq))
                            seq += 1_000_000
                            group = server.processes[-1].pid
                            cpu0, pg0 = server_cpu(group), postgres_cpu()
                            got = run_wrk(args, server.answer_port, lua)
                            cpu1, pg1 = server_cpu(group), postgres_cpu()
                        finally:
                            server.stop()
                        n = max(got["requests"], 1)
                        run = {
                            "round": rnd + 1,
                            "kind": kind,
                            "shape": shape,
                            "per_s": round(got["requests"] / args.seconds),
                            "app_cpu_ms": round(1e3 * (cpu1 - cpu0) / n, 3),
                            "pg_cpu_ms": round(1e3 * (pg1 - pg0) / n, 3),
                            "p50_ms": got["p50_ms"],
                            "p99_ms": got["p99_ms"],
                            "errors": got["errors"],
                        }
                        runs.append(run)
                        print(
                            f"round {run['round']} {kind:<5} {shape:<12} {run['per_s']:>6} /s  "
                            f"app {run['app_cpu_ms']:.2f} ms  PostgreSQL {run['pg_cpu_ms']:.2f} ms"
                            f"  p50 {run['p50_ms']:.1f} ms  p99 {run['p99_ms']:.1f} ms"
                            f"{'  ' + '; '.join(got['errors']) if got['errors'] else ''}",
                            flush=True,
                        )
        finally:
            drop()

    summary: dict[str, Any] = {}
    print(f"\nmedians over {args.rounds} rounds; ratio: app CPU per request against {baseline}")
    for kind in args.kinds.split(","):
        base = statistics.median(
            r["app_cpu_ms"] for r in runs if r["kind"] == kind and r["shape"] == baseline
        )
        for shape in shapes:
            mine = [r for r in runs if r["kind"] == kind and r["shape"] == shape]
            figures = {
                key: statistics.median(r[key] for r in mine)
                for key in ("per_s", "app_cpu_ms", "pg_cpu_ms", "p99_ms")
            }
            figures["ratio"] = round(figures["app_cpu_ms"] / base, 2)
            summary[f"{kind} {shape}"] = figures
            print(
                f"  {kind:<5} {shape:<12} {figures['per_s']:>6.0f} /s  app "
                f"{figures['app_cpu_ms']:.2f} ms ({figures['ratio']:.2f}×)  PostgreSQL "
                f"{figures['pg_cpu_ms']:.2f} ms  p99 {figures['p99_ms']:.0f} ms"
            )
    errors = sum(len(r["errors"]) for r in runs)
    print(json.dumps({"summary": summary, "runs": runs, "errors": errors}))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
