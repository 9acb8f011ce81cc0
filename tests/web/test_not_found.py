"""A thing that does not exist is a 404 on every page and post that names it, with the typed
code of what is missing, and the command line names it the same way."""

from __future__ import annotations

import pytest

from certify.infra.errors import NotFound, SittingNotFound
from tests.certify.exam_helpers import run
from tests.web.conftest import Site


@pytest.mark.parametrize(
    ("role", "method", "path", "data"),
    [
        ("admin", "get", "/admin/sittings/NO-SUCH", None),
        ("admin", "get", "/admin/sittings/NO-SUCH/stats", None),
        ("admin", "post", "/admin/sittings/NO-SUCH/publish", {"days": "7"}),
        (
            "admin",
            "post",
            "/admin/objections/999999/resolve",
            {"decision": "dismissed", "reason": "x"},
        ),
        (
            "admin",
            "post",
            "/admin/certificates/0000000000000/status",
            {"action": "suspend", "reason": "x"},
        ),
        ("rater", "get", "/rater/sittings/NO-SUCH/marking-list.csv", None),
        ("committee", "get", "/committee/checks/999999", None),
    ],
)
def test_unknown_things_are_404(
    site: Site, role: str, method: str, path: str, data: dict[str, str] | None
) -> None:
    client = site.signed_in(role)
    if data is not None:
        data = {**data, "csrf_token": site.csrf(client)}
    response = getattr(client, method)(path, data=data)
    assert response.status_code == 404, (path, response.status_code)


def test_each_kind_has_its_own_code_and_says_what_is_missing(site: Site) -> None:
    error = SittingNotFound("S-404")
    assert isinstance(error, NotFound) and error.code == "sitting_not_found"
    assert "没有考试场次 S-404" in error.diagnostics() and "no sitting S-404" in error.diagnostics()
    out = run(site.database, "grade", "S-404", code=1)
    assert "no sitting S-404" in out and "Traceback" not in out
