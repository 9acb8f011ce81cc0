"""Institutions in the browser: an admin adds one, authorises it and ends an authorisation over
HTTP, each change the service call the command makes and audited under the admin; a refused
change names its reason, keeps what was typed and changes nothing; nobody else may reach it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from certify.accounts import create_account
from certify.infra.settings import Settings
from certify.web import create_app
from schemas.tables import AuditEntry, Sitting
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.helpers import snapshot
from tests.web.conftest import PASSWORDS, REGIONS, Site
from tests.web.test_uploads import page_text

HOSTILE = "<script>alert('x')</script>'; DROP TABLE institution; --"


@pytest.fixture
def bare_site(database: Database, tmp_path: Path) -> Site:
    """The app with an account of every role and nothing else (the sample bank assembled, so a
    sitting can be opened)."""
    from question_bank.bank import import_bank
    from question_bank.blueprints import load_blueprint
    from question_bank.papers import assemble_papers
    from question_bank.samples import sample_blueprints, sample_files

    for role, password in PASSWORDS.items():
        create_account(database.engine, role, role, password, region=REGIONS.get(role))
    import_bank(database.engine, next(p for p in sample_files() if p.name == "ai-junior.json"))
    assemble_papers(
        database.engine,
        load_blueprint(next(p for p in sample_blueprints() if p.name == "ai-junior.yaml")),
    )
    settings = Settings.load({}, web_secret="test-secret", data_dir=tmp_path, sweep_seconds=0)
    app = create_app(settings, engine=database.engine, vault=VAULT, trust_document=None)
    app.config["TESTING"] = True
    return Site(database, app, [], [], {}, {}, {}, tmp_path)


def shown(response: Any) -> str:
    """The page's words, tags dropped."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def post(site: Site, client: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data={"csrf_token": site.csrf(client), **data})


def test_an_institution_is_added_authorised_and_opens_a_sitting(bare_site: Site) -> None:
    site = bare_site
    admin = site.signed_in("admin")
    assert "尚无机构" in page_text(admin.get("/admin/institutions/"))
    added = post(
        site,
        admin,
        "/admin/institutions/",
        {"code": "SD-EVAL-07", "name": "烟台某评价机构", "region": "山东省烟台市"},
    )
    assert added.status_code == 302
    # Before it is authorised, the sitting form refuses it.
    sitting = {"code": "Y1", "blueprint": "ai-junior-sample", "institution": "烟台某评价机构"}
    refused = post(site, admin, "/admin/sittings", sitting)
    assert refused.status_code == 400 and "not authorised for level in ai/junior" in page_text(
        refused
    )
    granted = admin.post(
        "/admin/institutions/authorise",
        data={
            "csrf_token": site.csrf(admin),
            "institution": "SD-EVAL-07",
            "kind": "level",
            "occupation": ["ai", "cloud"],
            "level": ["junior", "senior"],
            "valid_from": "2020-01-01",
        },
    )
    assert granted.status_code == 302
    page = shown(admin.get("/admin/institutions/"))
    assert "SD-EVAL-07 烟台某评价机构 山东省烟台市" in page
    assert "评价 ai/junior 2020-01-01…—" in page and "评价 cloud/senior" in page
    # The sitting form now takes it, and offers it by name.
    assert 'option value="烟台某评价机构"' in admin.get("/admin/").get_data(as_text=True)
    assert post(site, admin, "/admin/sittings", sitting).status_code == 302
    with Session(site.database.engine) as session:
        assert session.exec(select(Sitting.institution)).one() == "烟台某评价机构"
    ended = post(
        site,
        admin,
        "/admin/institutions/end",
        {
            "institution": "SD-EVAL-07",
            "kind": "level",
            "occupation": "cloud",
            "level": "senior",
            "last_day": "2025-12-31",
        },
    )
    assert ended.status_code == 302
    assert "评价 cloud/senior 2020-01-01…2025-12-31" in shown(admin.get("/admin/institutions/"))
    region = post(
        site, admin, "/admin/institutions/region", {"institution": "SD-EVAL-07", "region": "烟台"}
    )
    assert region.status_code == 302
    with Session(site.database.engine) as session:
        entries = session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.action).startswith("institution."))
            .order_by(col(AuditEntry.id))
        ).all()
    assert [(e.actor, e.action) for e in entries] == [
        ("web:admin", "institution.add"),
        ("web:admin", "institution.authorise"),
        ("web:admin", "institution.end"),
        ("web:admin", "institution.region"),
    ]


@pytest.mark.parametrize(
    ("url", "data", "says"),
    [
        ("/admin/institutions/", {"code": "bad code", "name": HOSTILE}, "institution code is 1-64"),
        ("/admin/institutions/", {"code": "X1", "name": ""}, "the name is required"),
        (
            "/admin/institutions/authorise",
            {"institution": "NOPE", "kind": "level", "occupation": "ai", "level": "junior"},
            "no institution",
        ),
        (
            "/admin/institutions/authorise",
            {"institution": "SD-EVAL-07", "kind": "level", "level": "junior"},
            "at least one occupation",
        ),
        (
            "/admin/institutions/authorise",
            {"institution": "SD-EVAL-07", "kind": "level", "occupation": "ai",
             "level": "junior", "valid_from": "next week"},
            "YYYY-MM-DD",
        ),
        (
            "/admin/institutions/end",
            {"institution": "SD-EVAL-07", "kind": "training", "occupation": "ai",
             "level": "junior"},
            "holds no training authorisation",
        ),
    ],
)  # fmt: skip
def test_a_refused_change_names_why_keeps_what_was_typed_and_changes_nothing(
    bare_site: Site, url: str, data: dict[str, str], says: str
) -> None:
    site = bare_site
    admin = site.signed_in("admin")
    assert post(site, admin, "/admin/institutions/", {"code": "SD-EVAL-07", "name": "某机构"})
    before = snapshot(site.database.engine)
    refused = post(site, admin, url, data)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 400 and says in page_text(refused)
    assert "<script>alert" not in body
    if data.get("name"):
        assert "&lt;script&gt;alert(" in body  # kept, inert
    assert snapshot(site.database.engine) == before


@pytest.mark.parametrize("role", ["rater", "committee", "invigilator"])
def test_only_an_admin_reaches_the_institutions(bare_site: Site, role: str) -> None:
    site = bare_site
    client = site.signed_in(role)
    before = snapshot(site.database.engine)
    assert client.get("/admin/institutions/").status_code == 403
    answer = post(site, client, "/admin/institutions/", {"code": "Z1", "name": "越权机构"})
    assert answer.status_code == 403
    assert snapshot(site.database.engine) == before
