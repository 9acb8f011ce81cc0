"""The API against its OpenAPI document: schemathesis generates requests from
``schemas/openapi.json`` (hypothesis drives them) and every response must be no server error, a
documented status, and match its documented schema."""

from __future__ import annotations

import json
from importlib import resources

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.conftest import Database
from tests.web.conftest import Site, build_site

DOCUMENT = json.loads(resources.files("schemas").joinpath("openapi.json").read_text("utf-8"))
OPERATIONS = [(method, path) for path, methods in DOCUMENT["paths"].items() for method in methods]


@pytest.fixture(scope="module")
def api_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    from certify.infra import db

    folder = tmp_path_factory.mktemp("api")
    engine = db.make_engine(f"sqlite:///{folder}/api.db")
    db.upgrade(engine)
    return build_site(Database(f"sqlite:///{folder}/api.db", engine), folder)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_keeps_its_document(api_site: Site, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api_site.app)
    operation = schema[path][method.upper()]

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), use_token=st.booleans())
    def check(case: schemathesis.Case, use_token: bool) -> None:
        case.call_and_validate(
            headers=api_site.bearer() if use_token else {},
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
        )

    check()


def test_the_served_document_is_the_one_in_schemas(api_site: Site) -> None:
    assert api_site.client().get("/api/v1/openapi.json").json == DOCUMENT
    assert DOCUMENT["openapi"].startswith("3.")
    assert set(DOCUMENT["paths"]) == {
        rule.rule for rule in api_site.app.url_map.iter_rules() if rule.rule.startswith("/api/")
    }
