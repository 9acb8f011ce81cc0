"""A whole sitting at scale: what the statistics job and grading spend at 10,000 candidates.

    python3 bench/sitting_scale.py                     # 10,000 candidates, SQLite in a temp dir
    python3 bench/sitting_scale.py --candidates 2000 --repeat 5
    python3 bench/sitting_scale.py --database-url postgresql://…/db   # an empty database

Builds the junior AI sample sitting (the sample bank, two assembled forms) with simulated
candidates registered, their answer sheets imported and every subjective answer double-marked,
through the same service calls the CLI and the web pages make; then times, median of
``--repeat`` runs:

- ``copies_s``: every candidate's own shuffled copy (:func:`certify.grading.sheets.candidate_copies`);
- ``score_s``: scoring the sitting afresh from the raw answers and marks (``score_sitting``);
- ``grade_s``: grading, the results stored (``grade_sitting``, what the grading job runs);
- ``report_s``: the whole statistics report (``exam_report``, what the statistics job runs);
- ``report_pdf_s``: drawing its PDF from the computed report (what the page does on request);

and, once each while the sitting is built, the imports its upload pages run in the request:
``roster_import_s``, ``sheets_import_s`` (every candidate's answer sheet) and
``marks_import_s`` (one rater's file of marks for one round, the mean over the files) and
``applications_import_s`` (as many applicants for a second sitting, one in twenty short of the
application conditions).

Then the answer sheets again through the web page (Flask's test client, an admin signed in,
"replace" ticked): ``sheets_upload_request_s``, how long the request that posts them takes to
answer (the page waits for the import job at most ``UPLOAD_WAIT_SECONDS``, 3 s, then shows the
job), and ``sheets_upload_job_s``, how long that job takes to store them, beside what the import
took in the request before it became a job (``sheets_import_s``).

Baseline, in the same process on the same database: the same calls with Python's cyclic
garbage collector left running while the copies and scores are built (``gc_paused`` made a
no-op), so the ratio is what pausing it buys. The last line is JSON.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from bench import institution
from certify.accounts import create_account
from certify.grading import simulate
from certify.grading.analysis import exam_report
from certify.grading.import_jobs import SHEETS
from certify.grading.marks import import_marks, marking_list
from certify.grading.report import render_exam_report
from certify.grading.service import grade_sitting, score_sitting
from certify.grading.sheets import candidate_copies, import_sheets
from certify.infra import db, gcpause
from certify.infra.jobs import get_job, latest_job
from certify.infra.settings import Settings
from certify.registration.applications import register_applicants
from certify.registration.identity import IdentityVault
from certify.registration.sittings import create_sitting, import_roster
from certify.web import create_app
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import assemble_papers
from question_bank.samples import sample_blueprints, sample_files
from schemas.enums import JobState

SITTING = "SCALE-1"
APPLIED = "SCALE-2"


def build(engine: Any, folder: Path, count: int) -> dict[str, float]:
    """The sample sitting with ``count`` simulated candidates, sheets and marks imported;
    returns the seconds of each import (what the roster, answer-sheet and marks uploads take)."""
    rng = np.random.default_rng(3)
    for path in sample_files():
        if path.name == "ai-junior.json":
            import_bank(engine, path)
    blueprint = next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")
    assemble_papers(engine, load_blueprint(blueprint))
    create_sitting(
        engine, SITTING, "ai-junior-sample", institution=institution(engine, "基准评价机构")
    )
    people = simulate.candidates(count, ["A", "B"], rng)
    roster = simulate.write_roster(folder / "roster.csv", people)
    seconds = {}
    start = time.perf_counter()
    import_roster(
        engine, SITTING, roster, IdentityVault(b"b" * 32), shuffle_seed=simulate.seeds(rng)
    )
    seconds["roster_import_s"] = time.perf_counter() - start
    _, copies = candidate_copies(engine, SITTING)
    ability = {p.admission_no: p.ability for p in people}
    views = {a: v for a, (_, v) in copies.items()}
    simulate.write_sheets(folder / "sheets.csv", views, ability, rng)
    start = time.perf_counter()
    import_sheets(engine, SITTING, folder / "sheets.csv")
    seconds["sheets_import_s"] = time.perf_counter() - start
    scripts = [(s.code, s.maximum, 1.5) for s in marking_list(engine, SITTING)]
    marks = simulate.write_marks(folder, scripts, rng)
    start = time.perf_counter()
    for path in marks:
        import_marks(engine, SITTING, path)
    seconds["marks_import_s"] = (time.perf_counter() - start) / max(len(marks), 1)
    # Applications for a second sitting: every applicant checked against the application
    # conditions, decisions recorded, those who meet them registered (what the upload page runs).
    create_sitting(
        engine, APPLIED, "ai-junior-sample", institution=institution(engine, "基准评价机构")
    )
    applicants = simulate.candidates(count, ["A", "B"], rng, prefix="P")
    on = date(2026, 6, 1)
    path = simulate.write_applicants(
        folder / "applicants.csv", applicants, "junior", on, rng, short=count // 20
    )
    start = time.perf_counter()
    register_applicants(
        engine, APPLIED, path, IdentityVault(b"b" * 32), on=on, shuffle_seed=simulate.seeds(rng)
    )
    seconds["applications_import_s"] = time.perf_counter() - start
    return seconds


def web_upload(engine: Any, folder: Path) -> dict[str, float]:
    """Post the sitting's answer sheets again on the web page (replacing those stored): the
    request's seconds, and its import job's from submission to end."""
    create_account(engine, "bench-admin", "admin", "bench-admin-password")
    settings = Settings.load(
        {}, web_secret="bench", data_dir=folder / "web", sweep_seconds=0, job_seconds=0
    )
    app = create_app(settings, engine=engine, vault=IdentityVault(b"b" * 32))
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf"]
    login = {"username": "bench-admin", "password": "bench-admin-password", "csrf_token": csrf}
    assert client.post("/login", data=login).status_code == 302
    with client.session_transaction() as session:
        csrf = session["csrf"]  # a new session once signed in
    data = (folder / "sheets.csv").read_bytes()
    start = time.perf_counter()
    response = client.post(
        f"/admin/sittings/{SITTING}/sheets",
        data={"csrf_token": csrf, "replace": "1", "file": (io.BytesIO(data), "sheets.csv")},
        content_type="multipart/form-data",
    )
    request_s = time.perf_counter() - start
    assert response.status_code == 302, (response.status_code, response.data[-3000:])
    job = latest_job(engine, SHEETS, SITTING)
    assert job is not None
    while not (job := get_job(engine, job.id)).finished:
        time.sleep(0.05)
    assert job.state is JobState.DONE, job.error
    assert job.started_at is not None and job.finished_at is not None
    return {
        "sheets_upload_request_s": request_s,
        "sheets_upload_job_s": (job.finished_at - job.started_at).total_seconds(),
    }


def median_seconds(repeat: int, fn: Callable[[], Any]) -> float:
    runs = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


class _CollectorRunning:
    """``gc`` as gc_paused sees it, with ``disable`` doing nothing: the baseline."""

    isenabled = staticmethod(gc.isenabled)
    enable = staticmethod(gc.enable)

    @staticmethod
    def disable() -> None:
        return None


def measure(engine: Any, folder: Path, repeat: int) -> dict[str, float]:
    report = exam_report(engine, SITTING)
    return {
        "copies_s": median_seconds(repeat, lambda: candidate_copies(engine, SITTING)),
        "score_s": median_seconds(repeat, lambda: score_sitting(engine, SITTING)),
        "grade_s": median_seconds(repeat, lambda: grade_sitting(engine, SITTING)),
        "report_s": median_seconds(repeat, lambda: exam_report(engine, SITTING)),
        "report_pdf_s": median_seconds(
            repeat, lambda: render_exam_report(report, folder / "report.pdf")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", help="an empty database (default: SQLite, temporary)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="certify-sitting-scale-"))
    url = args.database_url or f"sqlite:///{folder / 'certify.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    start = time.perf_counter()
    imports = build(engine, folder, args.candidates)
    imports.update(web_upload(engine, folder))
    print(f"built a sitting of {args.candidates:,} in {time.perf_counter() - start:.1f} s")
    for name, value in imports.items():
        print(f"{name:22} {value:8.2f}s (once)")
    ours = measure(engine, folder, args.repeat)
    setattr(gcpause, "gc", _CollectorRunning)  # noqa: B010 (the module's name for gc, swapped)
    try:
        baseline = measure(engine, folder, args.repeat)
    finally:
        setattr(gcpause, "gc", gc)  # noqa: B010
    print(f"{'':14} {'ours':>9} {'collector running':>18} {'ratio':>6}")
    for name, value in ours.items():
        ratio = baseline[name] / value if value else float("nan")
        print(f"{name:14} {value:8.2f}s {baseline[name]:17.2f}s {ratio:5.2f}×")
    figures = {
        "candidates": args.candidates,
        "backend": engine.dialect.name,
        **{k: round(v, 3) for k, v in imports.items()},
        **{k: round(v, 3) for k, v in ours.items()},
        **{f"baseline_{k}": round(v, 3) for k, v in baseline.items()},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
