"""A site to test against: a graded, published sitting with certificates issued, its trust
list, accounts of every role with API tokens, and the app with a test client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from certify.accounts import create_account, create_token
from certify.certificates.issuance import Issuer
from certify.certificates.publication import publish
from certify.grading import simulate
from certify.infra.settings import Settings
from certify.keys.publish import build_trust_list
from certify.signing.algorithms import DEFAULT, Algorithm
from certify.web import create_app
from schemas.tables import Candidate, Certificate
from tests.certify.exam_helpers import VAULT, graded_sitting
from tests.certify.signing_helpers import PASS, make_keys
from tests.conftest import Database

PASSWORDS = {
    "admin": "admin-password-1",
    "rater": "rater-password-1",
    "committee": "committee-password-1",
    "invigilator": "invigilator-password-1",
    "supervisor": "supervisor-password-1",
}
REGIONS = {"supervisor": "山东省"}
"""The region of each role's account that has one: a supervisor's."""


@dataclass
class Site:
    database: Database
    app: Flask
    people: list[simulate.SimulatedCandidate]
    certificates: list[Certificate]
    id_numbers: dict[str, str]
    """Serial → the holder's ID number."""
    tokens: dict[str, str]
    """Role → API token."""
    trust_document: dict[str, Any]
    out: Path

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def signed_in(self, role: str) -> FlaskClient:
        client = self.client()
        client.get("/login")
        with client.session_transaction() as session:
            csrf = session["csrf"]
        response = client.post(
            "/login", data={"username": role, "password": PASSWORDS[role], "csrf_token": csrf}
        )
        assert response.status_code == 302, response.data
        return client

    def csrf(self, client: FlaskClient) -> str:
        with client.session_transaction() as session:
            return str(session["csrf"])

    def bearer(self, role: str = "committee") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def build_site(
    database: Database,
    folder: Path,
    *,
    site_url: str = "https://verify.example.cn",
    algorithm: Algorithm = DEFAULT,
    **overrides: Any,
) -> Site:
    """The site, its institution signing with ``algorithm``; ``overrides`` are settings by name
    (``rate_limit=3``), none read from the environment."""
    people = graded_sitting(database, folder)
    publish(
        database.engine,
        "S1",
        folder / "notices",
        days=7,
        opened_on=date.today() - timedelta(days=10),
    )
    make_keys(database, kinds=[1, 2], algorithm=algorithm)
    Issuer.open(
        database.engine, "SD-EVAL-01", PASS, out=folder / "certs", site=site_url
    ).issue_level("S1")
    trust_document = build_trust_list(database.engine, PASS)
    tokens = {}
    for role, password in PASSWORDS.items():
        create_account(database.engine, role, role, password, region=REGIONS.get(role))
        tokens[role] = create_token(database.engine, role, label="tests")
    with Session(database.engine) as session:
        rows = session.exec(
            select(Certificate, Candidate)
            .join(Candidate, col(Candidate.id) == col(Certificate.candidate_id))
            .order_by(col(Certificate.serial))
        ).all()
    settings = Settings.load(
        {},
        web_secret="test-secret",
        data_dir=folder,
        **{"rate_limit": 100_000, "sweep_seconds": 0, "job_seconds": 0, **overrides},
    )
    app = create_app(settings, engine=database.engine, vault=VAULT, trust_document=trust_document)
    app.config["TESTING"] = True
    return Site(
        database,
        app,
        people,
        [c for c, _ in rows],
        {c.serial: VAULT.decrypt(p.id_number_cipher) for c, p in rows},
        tokens,
        trust_document,
        folder,
    )


@pytest.fixture
def site(database: Database, tmp_path: Path) -> Site:
    return build_site(database, tmp_path)
