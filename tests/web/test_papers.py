"""Blueprints and papers in the browser: a blueprint refused with every problem by line and
field (nothing stored), checked against the bank, assembled by a background job whose progress
shows on every reload, an interrupted job resumed without assembling twice, the forms side by
side, real PDFs, freezing only once confirmed — every change audited, every string shown inert."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import Session, col, select

from certify.accounts import create_account
from certify.infra.jobs import STALE_AFTER, JobView, Progress, claim_job, get_job, submit_job
from certify.infra.settings import Settings
from certify.web import create_app
from question_bank.assembly_job import ASSEMBLE, run_assembly
from question_bank.bank import import_bank
from question_bank.samples import sample_files
from schemas.enums import JobState
from schemas.tables import AuditEntry, Job, Paper, utcnow
from schemas.tables import Blueprint as BlueprintRow
from tests.conftest import Database
from tests.helpers import snapshot
from tests.web.conftest import PASSWORDS, REGIONS, Site
from tests.web.test_uploads import page_text, post_file

SAMPLES = Path(__file__).parents[2] / "question_bank" / "samples" / "blueprints"
JUNIOR = (SAMPLES / "ai-junior.yaml").read_text("utf-8")
CODE = "ai-junior-sample"
HOSTILE = "<script>alert('x')</script>'; DROP TABLE blueprint; --"


def papers_app(database: Database, folder: Path, **overrides: Any) -> Site:
    """The app over the sample bank of 人工智能 初级, with an account of every role; background
    jobs run only when a test runs them (``job_seconds=0``) unless ``overrides`` say otherwise."""
    for role, password in PASSWORDS.items():
        create_account(database.engine, role, role, password, region=REGIONS.get(role))
    sample = next(p for p in sample_files() if p.name == "ai-junior.json")
    import_bank(database.engine, sample)
    values = {"sweep_seconds": 0, "job_seconds": 0, **overrides}
    settings_ = Settings.load({}, web_secret="test-secret", data_dir=folder, **values)
    app = create_app(settings_, engine=database.engine, trust_document=None)
    app.config["TESTING"] = True
    return Site(database, app, [], [], {}, {}, {}, folder)


@pytest.fixture
def papers_site(database: Database, tmp_path: Path) -> Site:
    return papers_app(database, tmp_path)


def runner(site: Site) -> Any:
    return site.app.extensions["certify"].jobs


def save(site: Site, client: FlaskClient, text: str) -> Any:
    return client.post(
        "/admin/blueprints/save", data={"csrf_token": site.csrf(client), "text": text}
    )


def audit(site: Site, action: str) -> list[AuditEntry]:
    with Session(site.database.engine) as session:
        return list(
            session.exec(
                select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
            )
        )


def assembled(site: Site, client: FlaskClient) -> str:
    """Save the sample blueprint, assemble it through its job; the job's page URL."""
    assert save(site, client, JUNIOR).status_code == 302
    response = client.post(
        f"/admin/blueprints/{CODE}/assemble", data={"csrf_token": site.csrf(client)}
    )
    assert response.status_code == 302 and "/admin/jobs/" in response.location
    (job,) = runner(site).run_pending()
    assert job.state is JobState.DONE, job.error
    return str(response.location)


# --- uploading and editing -------------------------------------------------------------------


def test_a_blueprint_with_schema_errors_is_refused_inline_with_lines_and_nothing_is_stored(
    papers_site: Site,
) -> None:
    client = papers_site.signed_in("admin")
    engine = papers_site.database.engine
    before = snapshot(engine)
    bad = JUNIOR.replace("forms: 2", "forms: two").replace("seed: 20261127", "seeds: 1")
    bad = bad.replace("single:     {count: 19, points: 2}", "single:     {count: -19, points: 2}")
    response = save(papers_site, client, bad)
    assert response.status_code == 400
    text = page_text(response)
    lines = bad.splitlines()
    forms_line = next(n for n, line in enumerate(lines, 1) if line.startswith("forms:"))
    seeds_line = next(n for n, line in enumerate(lines, 1) if line.startswith("seeds:"))
    assert f"<td>blueprint</td><td>{forms_line}</td><td>forms</td>" in text
    assert f"<td>blueprint</td><td>{seeds_line}</td><td>seeds</td>" in text
    assert "<td>parts[0].types.single.count</td>" in text
    assert "Input should be greater than or equal to 0" in text
    # What was typed stays in the editor.
    assert "forms: two" in response.get_data(as_text=True)
    assert snapshot(engine) == before
    # Text that is not YAML at all: its line.
    broken = save(papers_site, client, "code: x\nparts: [1,\n")
    assert broken.status_code == 400 and "<td>blueprint</td><td>3</td>" in page_text(broken)
    assert snapshot(engine) == before


def test_a_blueprint_file_uploads_and_saving_is_audited_under_the_account(
    papers_site: Site,
) -> None:
    client = papers_site.signed_in("admin")
    url = "/admin/blueprints/save"
    response = post_file(papers_site, client, url, "初级.yaml", JUNIOR.encode())
    assert response.status_code == 302 and response.location == f"/admin/blueprints/{CODE}"
    assert f"蓝图 {CODE} 已保存" in page_text(client.get(response.location))
    (entry,) = audit(papers_site, "blueprint.save")
    assert (entry.actor, entry.subject, entry.detail["created"]) == ("web:admin", CODE, True)
    # The same again changes nothing and is not audited again; a change is.
    assert post_file(papers_site, client, url, "again.yaml", JUNIOR.encode()).status_code == 302
    assert len(audit(papers_site, "blueprint.save")) == 1
    edited = client.get(f"/admin/blueprints/{CODE}/edit")
    assert edited.status_code == 200 and "max_overlap: 36" in edited.get_data(as_text=True)
    assert save(papers_site, client, JUNIOR.replace("seed: 20261127", "seed: 7")).status_code == 302
    assert [e.detail["created"] for e in audit(papers_site, "blueprint.save")] == [True, False]
    # A JSON file names its line too; a file of another kind is refused.
    bad_json = b'{\n  "code": "x",\n  "forms": 0\n}'
    refused = post_file(papers_site, client, url, "b.json", bad_json)
    assert refused.status_code == 400 and "<td>b.json</td><td>3</td><td>forms</td>" in page_text(
        refused
    )
    assert post_file(papers_site, client, url, "b.exe", b"MZ").status_code == 400
    # Without the form's CSRF token nothing is saved.
    forged = client.post(url, data={"text": JUNIOR.replace("seed: 7", "seed: 8")})
    assert forged.status_code == 400 and "表单已过期" in page_text(forged)
    assert len(audit(papers_site, "blueprint.save")) == 2


def test_the_blueprint_list_pages_on_the_server(papers_site: Site) -> None:
    client = papers_site.signed_in("admin")
    for n in range(55):
        assert save(papers_site, client, JUNIOR.replace(CODE, f"bp-{n:02d}")).status_code == 302
    first = client.get("/admin/blueprints/")
    codes = re.findall(r'<td><a href="/admin/blueprints/([^"]+)">', first.get_data(as_text=True))
    assert len(codes) == 50 and codes == sorted(codes)
    assert "共 55 个蓝图" in page_text(first) and "第 1 / 2 页" in page_text(first)
    second = client.get("/admin/blueprints/?page=2").get_data(as_text=True)
    assert re.findall(r'<td><a href="/admin/blueprints/([^"]+)">', second) == [
        f"bp-{n}" for n in range(50, 55)
    ]
    assert client.get("/admin/blueprints/?page=9").location.endswith("page=2")


# --- checking --------------------------------------------------------------------------------


def test_check_shows_the_cells_or_every_shortfall_with_what_to_relax(papers_site: Site) -> None:
    client = papers_site.signed_in("admin")
    assert save(papers_site, client, JUNIOR).status_code == 302
    met = page_text(client.get(f"/admin/blueprints/{CODE}/check"))
    assert "蓝图可满足" in met and 'class="cells"' in met
    assert re.search(r"<td>\d+/single</td><td>\d+</td><td>\d+</td>", met)
    greedy = JUNIOR.replace(CODE, "greedy")
    greedy = greedy.replace(
        "fill:       {count: 4,  points: 5}", "fill:       {count: 20, points: 1}"
    )
    greedy = greedy.replace(
        "subjective: {count: 4, points: 25}", "subjective: {count: 50, points: 2}"
    )
    tight = JUNIOR.replace(CODE, "tight").replace("max_overlap: 36", "max_overlap: 0")
    for text in (greedy, tight):
        assert save(papers_site, client, text).status_code == 302
    before = snapshot(papers_site.database.engine)
    short = page_text(client.get("/admin/blueprints/greedy/check"))
    assert "蓝图无法满足，共 2 处不足" in short
    rows = re.findall(r"<tr><td>([^<]+)</td><td>[^<]+<span class=\"en\">([^<]+)</span>", short)
    assert [c for c, _ in rows] == [
        "parts[0] 理论知识.types.fill",
        "parts[1] 专业能力.types.subjective",
    ]
    assert rows[0][1] == "needs 20 fill items per form; the bank has 6 ready at ai/junior"
    overlap = page_text(client.get("/admin/blueprints/tight/check"))
    assert "<td>max_overlap</td>" in overlap and "Raise max_overlap to at least 32" in overlap
    assert snapshot(papers_site.database.engine) == before


# --- assembling in the background ------------------------------------------------------------


class Gate:
    """Holds a real assembly after its papers are stored, until released."""

    def __init__(self) -> None:
        self.stored = threading.Event()
        self.release = threading.Event()

    def handler(self, engine: Any, job: JobView, progress: Progress) -> Any:
        gate = self
        original = progress.advance

        def advance(steps: int = 1, step: str | None = None) -> None:
            original(steps, step)
            if progress.done == 2 and not gate.stored.is_set():
                gate.stored.set()
                assert gate.release.wait(30)

        progress.advance = advance  # type: ignore[method-assign]
        return run_assembly(engine, job, progress)


def job_json(client: FlaskClient, job_url: str) -> dict[str, Any]:
    response = client.get(job_url + ".json")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    return dict(response.json or {})


def test_assembly_runs_in_the_background_and_its_progress_survives_a_reload(
    papers_site: Site,
) -> None:
    client = papers_site.signed_in("admin")
    assert save(papers_site, client, JUNIOR).status_code == 302
    url = f"/admin/blueprints/{CODE}/assemble"
    assert client.post(url, data={}).status_code == 400  # CSRF
    submitted = client.post(url, data={"csrf_token": papers_site.csrf(client)})
    job_url = submitted.location
    queued = page_text(client.get(job_url))
    assert "排队中" in queued and "0 / 0" in queued and "jobs/job.js" in queued
    gate = Gate()
    runner(papers_site).handlers[ASSEMBLE] = gate.handler
    worker = threading.Thread(target=runner(papers_site).run_pending)
    worker.start()
    try:
        assert gate.stored.wait(30)
        # Mid-run: every reload reads the same progress from the database.
        for _ in range(2):
            page = page_text(client.get(job_url))
            assert "运行中" in page and "2 / 6 (33%)" in page
            assert '<progress id="job-progress" max="6" value="2"' in page
        state = job_json(client, job_url)
        assert (state["state"], state["done"], state["total"]) == ("running", 2, 6)
        assert "rendering" in state["step"] and state["leads_to"] == f"/admin/blueprints/{CODE}"
        # One at a time per occupation and level: a second run is refused, naming this one.
        again = client.post(url, data={"csrf_token": papers_site.csrf(client)})
        assert again.status_code == 400 and f"Job {state['id']}" in page_text(again)
        english = page_text(client.get(job_url + "?lang=en"))
        assert "Running" in english and "Background job" in english
        client.get(job_url + "?lang=zh")
    finally:
        gate.release.set()
        worker.join(60)
    done = job_json(client, job_url)
    assert (done["state"], done["done"], done["total"], done["percent"]) == ("done", 6, 6, 100)
    page = page_text(client.get(job_url))
    assert "已完成" in page and f'href="/admin/blueprints/{CODE}">查看结果' in page
    (entry,) = audit(papers_site, "papers.assemble")
    assert entry.actor == "web:admin" and entry.detail["papers"] == [f"{CODE}-1A", f"{CODE}-1B"]
    with Session(papers_site.database.engine) as session:
        job = session.exec(select(Job)).one()
    assert job.lock_key is None and job.account_id is not None and job.actor == "web:admin"


def test_the_forms_show_side_by_side_with_a_chart(papers_site: Site) -> None:
    client = papers_site.signed_in("admin")
    assembled(papers_site, client)
    html = client.get(f"/admin/blueprints/{CODE}").get_data(as_text=True)
    text = re.sub(r"\s+", " ", html)
    assert "第 1 次组卷的平行试卷" in text
    for form in ("1A", "1B"):
        assert f'<a href="/admin/papers/{CODE}-{form}">{CODE}-{form}</a>' in text
    means = re.findall(r"<td>(0\.\d{4}) <span class=\"muted\">\(([+-]0\.\d{4})\)</span></td>", text)
    assert len(means) == 4  # two forms × two parts
    assert "任意两卷最多共用 36 题" in text and "(上限 36)" in text
    assert re.search(r"<th scope=\"row\">A</th><td>44</td><td>36</td>", text)
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None and svg.group(0).count("<rect") == 4
    assert "stroke-dasharray" in svg.group(0) and "<script" not in html
    english = page_text(client.get(f"/admin/blueprints/{CODE}?lang=en"))
    assert "The forms of run 1, side by side" in english
    client.get("/admin/blueprints/?lang=zh")


def test_forms_assembled_to_an_information_target_show_their_curves(papers_site: Site) -> None:
    from tests.question_bank.test_information_targets import calibrate

    calibrate(papers_site.database)
    client = papers_site.signed_in("admin")
    text = JUNIOR.replace("recent_sittings: 1", "recent_sittings: 0") + (
        "information:\n  theta: [-1.0, 0.0, 1.0]\n  target: [5.0, 7.0, 5.0]\n"
    )
    assert save(papers_site, client, text).status_code == 302
    response = client.post(
        f"/admin/blueprints/{CODE}/assemble", data={"csrf_token": papers_site.csrf(client)}
    )
    (job,) = runner(papers_site).run_pending()
    assert response.status_code == 302 and job.state is JobState.DONE, job.error
    html = client.get(f"/admin/blueprints/{CODE}").get_data(as_text=True)
    flat = re.sub(r"\s+", " ", html)
    assert "测验信息量与目标曲线" in flat and "参数取自标定 1" in flat
    cells = re.findall(r"<td>(\d+\.\d\d) / (\d+\.\d\d) <span", flat)
    assert len(cells) == 6 and [t for _, t in cells] == ["5.00", "7.00", "5.00"] * 2
    with Session(papers_site.database.engine) as session:
        stats = [p.stats for p in session.exec(select(Paper).order_by(col(Paper.code)))]
    shown = [float(a) for a, _ in cells]
    assert shown == [round(v, 2) for s in stats for v in s["information"]["achieved"]]
    svg = re.findall(r"<svg.*?</svg>", html, re.S)[-1]
    assert svg.count("<polyline") == 4 and "θ +0" in svg  # two forms: achieved and target each
    assert "Test information against the target curve" in page_text(
        client.get(f"/admin/blueprints/{CODE}?lang=en")
    )
    client.get("/admin/blueprints/?lang=zh")


def test_an_interrupted_job_is_shown_as_such_and_resumed(papers_site: Site) -> None:
    engine = papers_site.database.engine
    client = papers_site.signed_in("admin")
    assert save(papers_site, client, JUNIOR).status_code == 302
    submitted = client.post(
        f"/admin/blueprints/{CODE}/assemble", data={"csrf_token": papers_site.csrf(client)}
    )
    job_url = submitted.location
    # A process takes the job and dies: its heartbeat stops.
    job = claim_job(engine, "gone:1:1", {ASSEMBLE: run_assembly})
    assert job is not None and job.state is JobState.RUNNING
    alive = page_text(client.get(job_url))
    assert "运行中" in alive and "继续执行" not in alive
    csrf = papers_site.csrf(client)
    assert client.post(job_url + "/resume", data={"csrf_token": csrf}).status_code == 400
    with Session(engine) as session, session.begin():
        session.execute(
            update(Job).values(heartbeat_at=utcnow() - STALE_AFTER - timedelta(seconds=1))
        )
    page = page_text(client.get(job_url))
    assert "已中断" in page and "继续执行" in page
    blueprint_page = page_text(client.get(f"/admin/blueprints/{CODE}"))
    assert "已中断" in blueprint_page
    assert client.post(job_url + "/resume", data={}).status_code == 400  # CSRF
    resumed = client.post(job_url + "/resume", data={"csrf_token": csrf})
    assert resumed.status_code == 302 and resumed.location == job_url
    assert "已重新排队" in page_text(client.get(job_url))
    (done,) = runner(papers_site).run_pending()
    assert done.state is JobState.DONE and done.attempts == 2
    (entry,) = audit(papers_site, "job.resume")
    assert (entry.actor, entry.subject) == ("web:admin", str(done.id))
    # A job that ended cannot be resumed.
    refused = client.post(job_url + "/resume", data={"csrf_token": csrf})
    assert refused.status_code == 400 and "not interrupted" in page_text(refused)


def test_a_job_resumed_after_its_papers_were_stored_does_not_assemble_again(
    papers_site: Site,
) -> None:
    engine = papers_site.database.engine
    client = papers_site.signed_in("admin")
    assert save(papers_site, client, JUNIOR).status_code == 302
    client.post(f"/admin/blueprints/{CODE}/assemble", data={"csrf_token": papers_site.csrf(client)})
    job = claim_job(engine, "gone:1:1", {ASSEMBLE: run_assembly})
    assert job is not None

    class Died(BaseException):
        """The process ends while rendering the first PDF."""

    progress = Progress(engine, job, "gone:1:1")
    original = progress.advance

    def advance(steps: int = 1, step: str | None = None) -> None:
        original(steps, step)
        if step and "rendering" in step:
            raise Died

    progress.advance = advance  # type: ignore[method-assign]
    with pytest.raises(Died):
        run_assembly(engine, job, progress)
    with Session(engine) as session, session.begin():
        session.execute(update(Job).values(heartbeat_at=utcnow() - STALE_AFTER * 2))
    assert (
        client.post(
            f"/admin/jobs/{job.id}/resume", data={"csrf_token": papers_site.csrf(client)}
        ).status_code
        == 302
    )
    (done,) = runner(papers_site).run_pending()
    assert done.state is JobState.DONE and done.result["resumed"] is True
    with Session(engine) as session:
        runs = {p.run for p in session.exec(select(Paper))}
    assert runs == {1} and len(audit(papers_site, "papers.assemble")) == 1


# --- papers: preview, download, freeze ------------------------------------------------------


def test_each_paper_previews_and_downloads_as_a_real_pdf(papers_site: Site, tmp_path: Path) -> None:
    client = papers_site.signed_in("admin")
    assembled(papers_site, client)
    page = page_text(client.get(f"/admin/papers/{CODE}-1A"))
    assert "草稿" in page and page.count("<tr><td>") == 44
    preview = client.get(f"/admin/papers/{CODE}-1A/paper.pdf")
    assert preview.status_code == 200 and preview.mimetype == "application/pdf"
    assert preview.data.startswith(b"%PDF-") and "inline" in preview.headers["Content-Disposition"]
    download = client.get(f"/admin/papers/{CODE}-1A/paper.pdf?download=1")
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.data == preview.data  # stored once, served as stored
    key = client.get(f"/admin/papers/{CODE}-1A/key.pdf?download=1")
    assert key.data.startswith(b"%PDF-") and key.data != preview.data
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(preview.data)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
        check=True,
    )
    (png,) = tmp_path.glob("p*.png")
    assert png.stat().st_size > 5_000  # a page with print on it, not a blank one
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    assert int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1)) >= 2  # type: ignore[union-attr]
    assert client.get(f"/admin/papers/{CODE}-1A/other.pdf").status_code == 404
    assert client.get("/admin/papers/NO-SUCH/paper.pdf").status_code == 404
    assert client.get("/admin/papers/NO-SUCH").status_code == 404
    assert client.get("/admin/blueprints/NO-SUCH").status_code == 404
    assert client.get("/admin/blueprints/NO-SUCH/check").status_code == 404
    assert client.get("/admin/jobs/999999").status_code == 404


def test_freezing_needs_the_typed_code_and_is_audited(papers_site: Site) -> None:
    engine = papers_site.database.engine
    client = papers_site.signed_in("admin")
    assembled(papers_site, client)
    paper = f"{CODE}-1A"
    url = f"/admin/papers/{paper}/freeze"
    assert "请输入试卷编号" in page_text(client.get(url))
    assert client.post(url, data={"confirm": paper}).status_code == 400  # CSRF
    before = snapshot(engine)
    refused = client.post(url, data={"csrf_token": papers_site.csrf(client), "confirm": "yes"})
    assert refused.status_code == 400 and "type the paper&#39;s code" in page_text(refused)
    assert 'name="confirm" value="yes"' in refused.get_data(as_text=True)
    assert snapshot(engine) == before
    done = client.post(url, data={"csrf_token": papers_site.csrf(client), "confirm": paper})
    assert done.status_code == 302 and "已锁定" in page_text(client.get(done.location))
    (entry,) = audit(papers_site, "papers.freeze")
    assert (entry.actor, entry.subject) == ("web:admin", paper)
    assert "已经锁定" in page_text(client.get(url))
    # A new run replaces the draft form only.
    client.post(f"/admin/blueprints/{CODE}/assemble", data={"csrf_token": papers_site.csrf(client)})
    runner(papers_site).run_pending()
    with Session(engine) as session:
        papers = {p.code: p.status for p in session.exec(select(Paper))}
    assert papers == {paper: "frozen", f"{CODE}-2A": "draft", f"{CODE}-2B": "draft"}
    # The blueprint cannot change under its code now.
    changed = save(papers_site, client, JUNIOR.replace("seed: 20261127", "seed: 5"))
    assert changed.status_code == 400 and "new code" in page_text(changed)


# --- what people type is data ----------------------------------------------------------------


def test_script_and_sql_in_blueprint_fields_are_stored_as_typed_and_shown_inert(
    papers_site: Site,
) -> None:
    client = papers_site.signed_in("admin")
    data = yaml.safe_load(JUNIOR)
    data["name"] = HOSTILE
    data["parts"][0]["title"] = "<img src=x onerror=alert(1)>"
    data["instructions"] = [HOSTILE, "' OR '1'='1"]
    data["enemies"] = [["AI-J-015", "<script>alert(2)</script>"]]
    text = yaml.safe_dump(data, allow_unicode=True)
    assert save(papers_site, client, text).status_code == 302
    with Session(papers_site.database.engine) as session:
        row = session.exec(select(BlueprintRow)).one()
    assert row.name == HOSTILE and row.spec["instructions"] == [HOSTILE, "' OR '1'='1"]
    pages = [
        client.get("/admin/blueprints/"),
        client.get(f"/admin/blueprints/{CODE}"),
        client.get(f"/admin/blueprints/{CODE}/edit"),
        client.get(f"/admin/blueprints/{CODE}/check"),
    ]
    for response in pages:
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#39;; DROP TABLE blueprint; --" in (
        pages[1].get_data(as_text=True)
    )
    # The enemy set names an item the bank does not have: the check says so, inert.
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in pages[3].get_data(as_text=True)
    # A refused text echoes what it holds inert too.
    refused = save(papers_site, client, text.replace("forms: 2", "forms: <b>x</b>"))
    assert refused.status_code == 400 and "<b>x</b>" not in refused.get_data(as_text=True)


def test_pages_are_chinese_by_default_with_english_available(papers_site: Site) -> None:
    client = papers_site.signed_in("admin")
    assert "上传或新建蓝图" in page_text(client.get("/admin/blueprints/new"))
    english = page_text(client.get("/admin/blueprints/new?lang=en"))
    assert "Upload or write a blueprint" in english and "Check and save" in english
    assert "No blueprint yet" in page_text(client.get("/admin/blueprints/"))


def test_every_form_field_has_a_label(papers_site: Site) -> None:
    client = papers_site.signed_in("admin")
    assembled(papers_site, client)
    urls = [
        "/admin/blueprints/new",
        f"/admin/blueprints/{CODE}",
        f"/admin/blueprints/{CODE}/edit",
        f"/admin/papers/{CODE}-1A/freeze",
    ]
    for url in urls:
        html = client.get(url).get_data(as_text=True)
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if 'type="hidden"' in tag:
                continue
            named = re.search(r'id="([^"]+)"', tag)
            assert "aria-label=" in tag or (named and f'for="{named.group(1)}"' in html), tag


# --- invariants ------------------------------------------------------------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["start", "advance"]), st.integers(-5, 20)), max_size=12
    )
)
def test_a_jobs_done_never_exceeds_its_total_nor_goes_back(
    database: Database, steps: list[tuple[str, int]]
) -> None:
    engine = database.engine
    job = submit_job(engine, "test.kind", "x", lock_key=f"t:{time.monotonic_ns()}", actor="t")
    claimed = claim_job(engine, "w:1:1", {"test.kind": None})
    assert claimed is not None and claimed.id == job.id
    progress = Progress(engine, claimed, "w:1:1")
    seen = 0
    for action, n in steps:
        if action == "start":
            progress.start(n)
        else:
            progress.advance(n)
        stored = get_job(engine, job.id)
        assert 0 <= stored.done <= stored.total and stored.done >= seen
        assert 0 <= stored.percent <= 100
        seen = stored.done
    progress.finish({})
    assert get_job(engine, job.id).done == get_job(engine, job.id).total


@st.composite
def damaged(draw: st.DrawFn) -> str:
    """The sample blueprint with one field set to something else, often wrong."""
    data = yaml.safe_load(JUNIOR)
    path = draw(
        st.sampled_from(
            [
                ("forms",),
                ("max_overlap",),
                ("level",),
                ("occupation",),
                ("parts", 0, "total_points"),
                ("parts", 0, "types"),
                ("parts", 1, "types", "subjective", "count"),
                ("difficulty_bands",),
                ("code",),
                ("unknown_field",),
            ]
        )
    )
    value = draw(
        st.one_of(
            st.integers(-3, 200),
            st.text(max_size=12),
            st.none(),
            st.lists(st.integers(-1, 3), max_size=3),
            st.just(HOSTILE),
        )
    )
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return yaml.safe_dump(data, allow_unicode=True)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=damaged())
def test_a_refused_blueprint_leaves_the_database_as_it_was(papers_site: Site, text: str) -> None:
    client = papers_site.signed_in("admin")
    before = snapshot(papers_site.database.engine)
    response = save(papers_site, client, text)
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert 'role="alert"' in response.get_data(as_text=True)
        assert snapshot(papers_site.database.engine) == before
    else:
        code = response.location.rsplit("/", 1)[1]
        assert client.get(f"/admin/blueprints/{code}").status_code == 200


def test_a_job_runner_stops_when_asked_and_starts_again(database: Database, tmp_path: Path) -> None:
    site = papers_app(database, tmp_path, job_seconds=0.05)
    runner = site.app.extensions["certify"].jobs
    runner.ensure_running()
    first = runner.thread
    assert first is not None and first.is_alive()
    runner.stop()
    assert not first.is_alive() and runner.thread is None
    runner.ensure_running()  # a later request starts a new one
    assert runner.thread is not None and runner.thread.is_alive()
    runner.stop()
