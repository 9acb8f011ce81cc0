"""Where the exam's CPU goes: the app's own CPU per sign-in, paper, heartbeat and save.

A diagnostic beside ``bench/delivery.py`` (which runs the whole exam over HTTP against gunicorn,
with its baseline): here the requests run in this process through Flask's test client, one at
a time, so that ``resource.getrusage`` around each kind gives the CPU the app spends on it
(the database's own CPU is not counted). It is how the start's cost was taken apart: every
candidate signs in and loads the paper in the same minute. The save is measured twice: as a
process that served the candidate's paper and heartbeat makes it (``save_cpu_ms``), and as the
answers' processes make a candidate's first one, having seen neither
(``save_first_here_cpu_ms``: every candidate's first save, in the minute after the start). No
baseline: compare commits by running it on each, alternately.

    python3 bench/delivery_cpu.py                        # 400 candidates, PostgreSQL at 127.0.0.1:55433
    python3 bench/delivery_cpu.py --sqlite --candidates 200

The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.delivery import SECRET, make_database, setup


def cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=400)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--postgres", default="postgresql://certify@127.0.0.1:55433/postgres")
    args = parser.parse_args()
    args.no_baseline = True

    from certify.infra import db
    from certify.infra.settings import Settings
    from certify.registration.identity import IdentityVault
    from certify.web import create_app

    with tempfile.TemporaryDirectory() as folder:
        url, drop = make_database(args, Path(folder))
        try:
            people = setup(args, url, Path(folder))["run"]["people"]
            engine = db.make_engine(url)
            app = create_app(
                Settings.load({}, web_secret="bench", sweep_seconds=0),
                engine=engine,
                vault=IdentityVault(SECRET),
            )
            figures = measure(app.test_client(), people)
            engine.dispose()
        finally:
            drop()
    backend = "sqlite" if args.sqlite else "postgresql"
    print(f"backend: {backend}; candidates: {len(people) - 1} (the first warms the process)")
    for name, value in figures.items():
        print(f"  {name:<22} {value:6.2f} ms CPU per request")
    print(json.dumps({"backend": backend, "candidates": len(people) - 1, **figures}))


def measure(client: Any, people: list[dict[str, str]]) -> dict[str, float]:
    """CPU per request of each kind, over every candidate but the first (which warms caches)."""
    from certify.delivery import attempts

    def sign_in(person: dict[str, str]) -> dict[str, str]:
        response = client.post("/exam/api/sign-in", json=person)
        assert response.status_code == 200, response.json
        return {"Authorization": f"Exam {response.json['token']}"}

    first = sign_in(people[0])
    first_paper = client.get("/exam/api/paper", headers=first).json
    rest = people[1:]
    start = cpu()
    auth = [sign_in(p) for p in rest]
    signed = cpu()
    papers = [client.get("/exam/api/paper", headers=a).json for a in auth]
    loaded = cpu()
    for a in auth:
        client.get("/exam/api/state", headers=a)
    beaten = cpu()
    for a, paper in zip(auth, papers, strict=True):
        q = paper["parts"][0]["questions"][0]
        value = sorted(q.get("options") or {"T": ""})[0]
        entry = {"seq": 1, "number": q["number"], "value": value, "flagged": False}
        response = client.post("/exam/api/save", headers=a, json={"entries": [entry]})
        assert response.json["acked"] == [1], response.json
    saved = cpu()

    # The answers' server never served the paper nor saw the token: its first save for a
    # candidate learns whose token it is and draws the numbering before it checks an entry.
    def save_second(a: dict[str, str], paper: dict[str, Any]) -> None:
        q = paper["parts"][0]["questions"][1]
        value = sorted(q.get("options") or {"T": ""})[0]
        entry = {"seq": 2, "number": q["number"], "value": value, "flagged": False}
        response = client.post("/exam/api/save", headers=a, json={"entries": [entry]})
        assert response.json["acked"] == [2], response.json

    attempts.forget()
    save_second(first, first_paper)  # reads the paper's view again, once: not counted
    cold_start = cpu()
    for a, paper in zip(auth, papers, strict=True):
        save_second(a, paper)
    cold = cpu()
    n = len(rest)
    return {
        "sign_in_cpu_ms": round(1000 * (signed - start) / n, 3),
        "paper_cpu_ms": round(1000 * (loaded - signed) / n, 3),
        "state_cpu_ms": round(1000 * (beaten - loaded) / n, 3),
        "save_cpu_ms": round(1000 * (saved - beaten) / n, 3),
        "save_first_here_cpu_ms": round(1000 * (cold - cold_start) / n, 3),
    }


if __name__ == "__main__":
    main()
