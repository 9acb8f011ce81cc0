"""Two institutions on one platform: an account of one reads and changes nothing of the other's.

测试评价机构 (SD-EVAL-01) holds the usual site: a graded sitting S1 with its candidates, its
published pass list and certificates, a computer-based session with a room, and a course.
另一评价机构 (SD-EVAL-02) has accounts of every role and nothing else. Every route of the app
is walked with 另一评价机构's accounts and 测试评价机构's identifiers: nothing answers with
测试评价机构's data and nothing is written. Underneath, the one place that enforces it
(``certify.institutions.scope``) is checked table by table."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import delete, func
from sqlmodel import Session, SQLModel, col, select

from certify.accounts import create_account, create_token
from certify.delivery.schedule import add_room, create_session
from certify.entitlements.training import create_course
from certify.institutions.registry import add_institution, authorise, end_authorisation
from certify.institutions.scope import SCOPED, PlatformOnly, ProvincesOwn, Scope, scoped
from certify.keys.publish import build_trust_list
from certify.registration.sittings import create_sitting, list_sittings
from question_bank.bank import import_bank
from question_bank.blueprints import load_blueprint
from question_bank.papers import PaperError, assemble_papers, paper_view, save_blueprint
from question_bank.samples import sample_blueprints, sample_files
from question_bank.sealing import SealError, seal_papers
from schemas.tables import Account, Blueprint, Candidate, Paper, PaperItem, Sitting
from tests.certify.signing_helpers import PASS
from tests.helpers import institution, snapshot
from tests.pdf_tools import run
from tests.web.conftest import PASSWORDS, Site, build_site
from tests.web.test_roles import PUBLIC, SAMPLE, call

OWNER, OTHER = "测试评价机构", "另一评价机构"
SHARED = {
    "item",
    "item_version",
    "item_image",
    "item_calibration",
    "calibration_run",
    "candidate",
    "audit_log",
    "audit_checkpoint",
    "serial_counter",
    "published_list",
    "alembic_version",
}
"""Tables shared by the platform's institutions on purpose (docs/supervision.md)."""


@pytest.fixture
def two(database: Any, tmp_path: Path) -> Site:
    site = build_site(database, tmp_path)
    engine = database.engine
    start = datetime.now(UTC) + timedelta(days=3)
    create_session(engine, "S1", "S1-theory", starts_at=start, duration_minutes=90, part="theory")
    add_room(engine, "S1-theory", "R01", capacity=40, invigilator="invigilator")
    create_course(
        engine,
        "T1",
        occupation="ai",
        level="junior",
        hours=8,
        institution=OWNER,
        syllabus=["基础"],
    )
    institution(engine, OTHER, code="SD-EVAL-02")
    with Session(engine) as session:
        for account in session.exec(
            select(Account).where(col(Account.role).not_in(["supervisor", "committee"]))
        ):
            account.institution = OWNER  # the site's own accounts are 测试评价机构's
            session.add(account)
        session.commit()
    for role, password in PASSWORDS.items():
        if role in ("supervisor", "committee"):  # the platform's: test_supervise.py
            continue
        create_account(engine, f"{role}-b", role, password, institution=OTHER)
        site.tokens[f"{role}-b"] = create_token(engine, f"{role}-b", label="tests")
    return site


def signed_in(site: Site, username: str, password: str) -> Any:
    client = site.client()
    client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": site.csrf(client)},
    )
    assert response.status_code == 302, response.data
    return client


def markers(site: Site) -> list[str]:
    """What only 测试评价机构's data holds: its candidates' names and admission numbers, its
    certificates' serials, its name."""
    return [
        OWNER,
        *(p.name for p in site.people),
        *(p.admission_no for p in site.people),
        *(c.serial for c in site.certificates),
    ]


def readable(response: Any, folder: Path) -> str:
    """What a person would read in the response: a page's text, a workbook's cells, a PDF's
    text, a ZIP's names and members."""
    data: bytes = response.get_data()
    if data.startswith(b"%PDF"):
        path = folder / "walk.pdf"
        path.write_bytes(data)
        return run("pdftotext", path, "-")
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "xl/workbook.xml" in archive.namelist():
                book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
                return " ".join(
                    str(v) for ws in book for row in ws.iter_rows(values_only=True) for v in row
                )
            parts = [*archive.namelist()]
            for name in archive.namelist():
                inner = archive.read(name)
                parts.append(inner.decode("utf-8", "replace"))
            return " ".join(parts)
    # the form's CSRF token is random: it may spell a marker ("…EMS14Q…" holds "S1")
    return CSRF_VALUE.sub("", data.decode("utf-8", "replace"))


CSRF_VALUE = re.compile(r'(name="csrf_token" value|data-csrf)="[^"]*"')


def routes(site: Site) -> list[tuple[str, str, tuple[str, ...]]]:
    found = []
    for rule in site.app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".")[0]
        if blueprint in PUBLIC | {"exam"} or rule.endpoint == "api.openapi":
            continue
        roles = site.app.view_functions[rule.endpoint].roles  # type: ignore[attr-defined]
        url = rule.rule
        for name in rule.arguments:
            value = {"serial": site.certificates[0].serial}.get(name, SAMPLE[name])
            url = url.replace(f"<{name}>", str(value))
            for kind in ("int", "path", "string"):
                url = url.replace(f"<{kind}:{name}>", str(value))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, url, roles))
    return found


def test_every_route_keeps_the_other_institution_s_data_out_of_reach(two: Site) -> None:
    site = two
    engine = site.database.engine
    secrets = markers(site)
    walked = 0
    for role in PASSWORDS.keys() - {"supervisor", "committee"}:
        username = f"{role}-b"
        client = signed_in(site, username, PASSWORDS[role])
        for method, url, roles in routes(site):
            if role not in roles:
                continue
            before = snapshot(engine)
            if url.startswith("/api/"):
                headers = {"Authorization": f"Bearer {site.tokens[username]}"}
                body = {"serials": [c.serial for c in site.certificates[:3]], "tokens": []}
                response = call(site.client(), method, url, json=body, headers=headers)
            elif method == "GET":
                response = client.get(url)
            else:
                response = call(client, method, url, data={"csrf_token": site.csrf(client)})
            walked += 1
            text = readable(response, site.out)
            leaked = [s for s in secrets if s in text]
            assert not leaked, (username, method, url, response.status_code, leaked[:3])
            if method != "GET":
                after = snapshot(engine)
                changed = {t for t in after if after[t] != before[t]} - {"login_attempt", "job"}
                assert not changed, (username, method, url, changed)
    assert walked > 100


def test_the_owner_still_sees_its_own(two: Site) -> None:
    """The same pages, as 测试评价机构's admin, do show its data (the walk above could not
    pass by showing nothing to anyone); 另一评价机构's admin is told they are not there."""
    pages = [
        "/admin/",
        "/admin/sittings/S1",
        "/admin/sittings/S1/certificates",
        "/admin/sittings/S1/certificates.xlsx",
        "/admin/training/T1",
        "/invigilate/",
    ]
    owner = two.signed_in("admin")
    other = signed_in(two, "admin-b", PASSWORDS["admin"])
    for url in pages:
        mine = owner.get(url)
        assert mine.status_code == 200, url
        assert any(m in readable(mine, two.out) for m in [*markers(two), "S1", "T1"]), url
    for url in pages[1:5]:
        assert other.get(url).status_code == 404, url
    assert "S1" not in readable(other.get("/admin/"), two.out)
    assert [row.code for row in list_sittings_as(two, OTHER)] == []
    assert [row.code for row in list_sittings_as(two, OWNER)] == ["S1"]


def list_sittings_as(site: Site, name: str) -> list[Any]:
    with Session(site.database.engine) as session:
        code = session.exec(select(Sitting.institution).where(Sitting.code == "S1")).one()
        assert code == OWNER
    scope = Scope.of(name, "SD-EVAL-02" if name == OTHER else "SD-EVAL-01")
    with scoped(scope):
        return list_sittings(site.database.engine)


def test_every_table_is_either_an_institution_s_or_shared_on_purpose() -> None:
    tables = {t.name for t in SQLModel.metadata.sorted_tables}
    assert set(SCOPED) <= tables
    assert tables - set(SCOPED) == SHARED - {"alembic_version"}


def test_under_one_institution_every_owned_table_holds_its_rows_only(two: Site) -> None:
    """Table by table, what a select sees under each institution: the two never share a row,
    together they are what both see at once, and every row of an institution's own data (all
    but the platform's and supervisors' accounts and what hangs on them) is one of theirs."""
    engine = two.database.engine
    models = {m.__tablename__: m for m in SQLModel.__subclasses__() if hasattr(m, "__table__")}
    with Session(engine) as session:
        everything = {
            name: session.exec(select(func.count()).select_from(models[name])).one()
            for name in SCOPED
        }
    both = Scope(frozenset({OWNER, OTHER}), frozenset({"SD-EVAL-01", "SD-EVAL-02"}))
    seen: dict[str, dict[str, int]] = {}
    for label, held in (
        (OWNER, Scope.of(OWNER, "SD-EVAL-01")),
        (OTHER, Scope.of(OTHER, "SD-EVAL-02")),
        ("both", both),
    ):
        with scoped(held), Session(engine) as session:
            seen[label] = {t: len(session.exec(select(models[t])).all()) for t in SCOPED}
    platform_own = {
        "account",
        "api_token",
        "login_attempt",
        "committee_check",
        "holder_check",
        "job",
    }
    provinces = {"blueprint", "paper", "paper_item", "paper_document"}  # here all the province's
    for table in provinces:
        assert seen[OWNER][table] == seen[OTHER][table] == everything[table], table
    assert everything["paper"] > 0 and everything["paper_item"] > 0
    for table in set(SCOPED) - provinces:
        roots = 1 if table == "signing_key" else 0  # the root's public half is everyone's
        assert seen[OWNER][table] + seen[OTHER][table] - roots == seen["both"][table], table
        if table not in platform_own:
            assert seen["both"][table] == everything[table], table
    assert seen[OTHER]["sitting"] == seen[OTHER]["registration"] == 0
    assert seen[OTHER]["certificate"] == seen[OTHER]["exam_room"] == seen[OTHER]["course"] == 0
    assert seen[OTHER]["institution"] == 1 and seen[OTHER]["account"] == len(PASSWORDS) - 2
    assert seen[OWNER]["registration"] == everything["registration"] > 0


def test_an_institution_cannot_open_for_another_or_authorise_itself(two: Site) -> None:
    engine = two.database.engine
    before = snapshot(engine)
    with scoped(Scope.of(OTHER, "SD-EVAL-02")):
        with pytest.raises(Exception, match="no institution"):
            create_sitting(engine, "X1", "ai-junior-sample", institution=OWNER)
        with pytest.raises(Exception, match="exists already"):
            create_sitting(engine, "S1", "ai-junior-sample", institution=OTHER)
        with pytest.raises(PlatformOnly):
            authorise(
                engine,
                OTHER,
                kind="level",
                occupations=["cloud"],
                levels=["senior"],
                valid_from=datetime.now(UTC).date(),
            )
        with pytest.raises(PlatformOnly):
            add_institution(engine, "SD-X", "自封机构")
        with pytest.raises(PlatformOnly):
            end_authorisation(
                engine,
                OWNER,
                kind="level",
                occupation="ai",
                level="junior",
                last_day=datetime.now(UTC).date(),
            )
        with pytest.raises(PlatformOnly):
            build_trust_list(engine, PASS)
        account = create_account(engine, "new-b", "rater", "a-long-password-1", institution=None)
        assert account.institution == OTHER  # its admin makes accounts of its own only
    after = snapshot(engine)
    assert {t for t in after if after[t] != before[t]} == {"account", "audit_log"}


def test_the_register_and_the_jobs_of_one_are_not_the_other_s(two: Site) -> None:
    """Asked with a token of 测试评价机构's certificate, 另一评价机构's admin learns what the
    token itself says and nothing from the register; a course of 另一评价机构 named like
    测试评价机构's sitting does not open that sitting's jobs to it."""
    engine = two.database.engine
    cert = two.certificates[0]
    body = {"token": cert.token, "id_number": two.id_numbers[cert.serial]}
    owner = two.client().post("/api/v1/verify", json=body, headers=two.bearer("admin"))
    other = two.client().post(
        "/api/v1/verify", json=body, headers={"Authorization": f"Bearer {two.tokens['admin-b']}"}
    )
    assert owner.status_code == other.status_code == 200
    with Session(engine) as session:
        masked = session.exec(
            select(Candidate.id_number_masked).where(Candidate.id == cert.candidate_id)
        ).one()
    assert masked in owner.get_data(as_text=True)
    assert masked not in other.get_data(as_text=True)
    assert owner.json != other.json
    # A job of the sitting S1, started by 测试评价机构's admin
    admin = two.signed_in("admin")
    started = admin.post("/admin/sittings/S1/stats", data={"csrf_token": two.csrf(admin)})
    job_url = started.location
    assert "/admin/jobs/" in job_url and admin.get(job_url).status_code == 200
    create_course(
        engine, "S1", occupation="ai", level="junior", hours=4, institution=OTHER, syllabus=[]
    )
    intruder = signed_in(two, "admin-b", PASSWORDS["admin"])
    assert intruder.get(job_url).status_code == 404
    assert (
        intruder.post(f"{job_url}/resume", data={"csrf_token": two.csrf(intruder)}).status_code
        == 404
    )


def test_an_institution_s_blueprint_and_papers_are_its_own(two: Site) -> None:
    """A blueprint saved by an institution's account is that institution's, and so are the
    papers assembled from it — their pages, PDFs and answer keys are another's "not found"; the
    province's blueprint stays the platform's to change and assemble."""
    engine = two.database.engine
    mine = load_blueprint(next(p for p in sample_blueprints() if p.name == "ai-junior.yaml"))
    exposure = mine.exposure.model_copy(update={"recent_sittings": 0})
    mine = mine.model_copy(update={"forms": 1, "exposure": exposure})
    provinces = mine.model_copy(update={"code": "B-PROV"})
    save_blueprint(engine, provinces)  # the platform's: the province's, shared
    with scoped(Scope.of(OTHER, "SD-EVAL-02")):
        save_blueprint(engine, mine.model_copy(update={"code": "B-OTHER"}))
        (paper,) = assemble_papers(engine, mine.model_copy(update={"code": "B-OTHER"})).papers
        with pytest.raises(ProvincesOwn):  # the province's blueprint, assembled from here
            assemble_papers(engine, provinces)
    with Session(engine) as session:
        row = session.exec(select(Blueprint).where(Blueprint.code == "B-OTHER")).one()
        assert row.institution == OTHER
    other = signed_in(two, "admin-b", PASSWORDS["admin"])
    owner = two.signed_in("admin")
    for url in (
        "/admin/blueprints/B-OTHER",
        f"/admin/papers/{paper.code}",
        f"/admin/papers/{paper.code}/key.pdf",
    ):
        assert owner.get(url).status_code == 404, url
    assert other.get(f"/admin/papers/{paper.code}").status_code == 200
    assert "B-OTHER" not in owner.get("/admin/blueprints/").get_data(as_text=True)
    with scoped(Scope.of(OWNER, "SD-EVAL-01")):
        with pytest.raises(PaperError, match="taken by another institution"):
            save_blueprint(engine, mine.model_copy(update={"code": "B-OTHER"}))
        with pytest.raises(ProvincesOwn):
            save_blueprint(engine, provinces.model_copy(update={"name": "改过的名称"}))


def test_an_institution_s_seals_are_its_own(two: Site) -> None:
    """A seal of an institution's papers is its own: another's admin finds no seal to read or
    open; the province's papers are sealed by the platform only, and no seal empties items a
    paper outside it shows."""
    engine = two.database.engine
    # senior: no paper of the site's own sitting shows its items
    import_bank(engine, next(p for p in sample_files() if p.name == "ai-senior.json"))
    sample = next(p for p in sample_blueprints() if p.name == "ai-senior.yaml")
    mine = load_blueprint(sample)
    exposure = mine.exposure.model_copy(update={"recent_sittings": 0})
    mine = mine.model_copy(update={"forms": 1, "exposure": exposure, "code": "B-OTHER"})
    provinces = mine.model_copy(update={"code": "B-PROV", "seed": 99})
    (province_paper,) = assemble_papers(engine, provinces).papers
    now = datetime.now(UTC)
    seal = {
        "custodians": ["甲", "乙"],
        "threshold": 2,
        "opens_at": now,
        "ends_at": now + timedelta(hours=2),
    }
    with scoped(Scope.of(OTHER, "SD-EVAL-02")):
        with pytest.raises(ProvincesOwn):
            seal_papers(engine, [province_paper.code], **seal)  # type: ignore[arg-type]
        (paper,) = assemble_papers(engine, mine).papers
    with scoped(Scope.of(OWNER, "SD-EVAL-01")):  # the first institution's paper of them too
        (owners,) = assemble_papers(engine, mine.model_copy(update={"code": "B-OWN"})).papers
    with (
        scoped(Scope.of(OTHER, "SD-EVAL-02")),
        pytest.raises(SealError, match="on 2 other paper") as refused,  # all share items
    ):
        seal_papers(engine, [paper.code], **seal)  # type: ignore[arg-type]
    assert province_paper.code in str(refused.value)  # the province's is named to everyone,
    assert owners.code not in str(refused.value)  # another institution's is only counted
    stems = [q.stem for q in paper_view(engine, province_paper.code).questions]
    assert all(stems)  # nothing of the province's paper was emptied
    with Session(engine) as session:  # both retired: B's seal goes ahead
        session.execute(
            delete(PaperItem).where(
                col(PaperItem.paper_id).in_(
                    select(Paper.id)
                    .join(Blueprint, col(Blueprint.id) == col(Paper.blueprint_id))
                    .where(col(Blueprint.code).in_(["B-PROV", "B-OWN"]))
                )
            )
        )
        session.commit()
    with scoped(Scope.of(OTHER, "SD-EVAL-02")):
        sealed = seal_papers(engine, [paper.code], **seal)  # type: ignore[arg-type]
    owner = two.signed_in("admin")
    other = signed_in(two, "admin-b", PASSWORDS["admin"])
    url = f"/admin/seals/{sealed.seal_id}"
    assert other.get(url).status_code == 200
    assert owner.get(url).status_code == 404
    assert paper.code not in owner.get("/admin/seals/").get_data(as_text=True)
    before = snapshot(engine)
    shares = [s for _, s in sealed.shares]
    opened = owner.post(f"{url}/open", data={"csrf_token": two.csrf(owner), "share": shares})
    assert opened.status_code == 404 and snapshot(engine) == before
    done = other.post(f"{url}/open", data={"csrf_token": two.csrf(other), "share": shares})
    assert done.status_code == 302
