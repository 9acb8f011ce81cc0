"""Defences found wanting in review, each held by a test: guessing ID numbers through the holder
check, oversized spreadsheets, client addresses behind a proxy, deep JSON, API floods, raters
marking under other names, formulas in downloads, and sessions that must end."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import Session, select

from certify.certificates.holders import PER_PERSON as MAX_IDS_PER_SERIAL
from certify.grading.marks import MARKING_LIST_HEADER, import_marks, marking_list, marking_list_rows
from certify.infra.errors import InputError, ValidationFailed
from certify.infra.tabular import read_grid, table_bytes
from certify.registration.identity import check_character
from schemas.tables import AuditEntry, HolderCheck
from tests.conftest import Database
from tests.web.conftest import PASSWORDS, Site, build_site


def other_id(n: int) -> str:
    first17 = f"11010519{80 + n % 20}0101{n % 1000:03d}"
    return first17 + check_character(first17)


def test_id_numbers_cannot_be_guessed_through_the_holder_check(site: Site) -> None:
    client = site.client()
    cert = site.certificates[0]
    real = site.id_numbers[cert.serial]

    def ask(*numbers: str) -> list[dict[str, object]]:
        items = [{"serial": cert.serial, "id_number": n} for n in numbers]
        response = client.post("/api/v1/verify", json={"items": items}, headers=site.bearer())
        return list(response.json["results"])

    # Several different ID numbers for one certificate in one request: none is checked.
    both = ask(other_id(1), real)
    assert [r["holder_match"] for r in both] == [None, None]
    assert all("one ID number per person" in str(r["id_number_error"]) for r in both)
    # Across requests: a few different numbers a day, then no more; the same one again is fine.
    answers = [ask(other_id(n))[0]["holder_match"] for n in range(2, 2 + MAX_IDS_PER_SERIAL)]
    assert answers == [False] * MAX_IDS_PER_SERIAL
    refused = ask(real)[0]
    assert refused["holder_match"] is None and "today" in str(refused["id_number_error"])
    assert ask(other_id(2))[0]["holder_match"] is False
    # Another account has its own allowance; the real holder matches.
    assert (
        client.post(
            "/api/v1/verify",
            json={"serial": cert.serial, "id_number": real},
            headers=site.bearer("admin"),
        ).json["holder_match"]
        is True
    )
    with Session(site.database.engine) as session:
        checks = session.exec(select(HolderCheck)).all()
        audited = session.exec(select(AuditEntry).where(AuditEntry.action == "holder.check")).all()
    assert len(checks) == MAX_IDS_PER_SERIAL + 2
    assert sum(int(a.detail["checks"]) for a in audited) == len(checks)
    assert sum(int(a.detail["refused"]) for a in audited) == 3  # refusals are audited too
    stored = " ".join(c.id_digest for c in checks) + str([a.detail for a in audited])
    assert real not in stored and other_id(2) not in stored


def test_long_files_are_refused_before_they_are_read_whole(tmp_path: Path) -> None:
    csv_path = tmp_path / "long.csv"
    csv_path.write_text("serial\n" + "1\n" * 400_000)
    start = time.perf_counter()
    with pytest.raises(InputError, match="more than 10000 rows"):
        read_grid(csv_path, max_rows=10_000)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["serial"])
    sheet.cell(row=60_000, column=16_000, value="x")  # a sheet stretched far and wide
    book.save(tmp_path / "wide.xlsx")
    with pytest.raises(InputError, match="more than 10000 rows"):
        read_grid(tmp_path / "wide.xlsx", max_rows=10_000)
    assert time.perf_counter() - start < 10


def test_behind_a_proxy_each_client_has_its_own_limit(database: Database, tmp_path: Path) -> None:
    site = build_site(database, tmp_path, rate_limit=3, trusted_proxies=1)
    client = site.client()

    def status(address: str) -> int:
        return int(client.get("/", headers={"X-Forwarded-For": address}).status_code)

    assert [status("203.0.113.5") for _ in range(4)] == [200, 200, 200, 429]
    assert status("198.51.100.7") == 200  # another client, not locked out


def test_deep_json_and_api_floods_get_4xx(database: Database, tmp_path: Path) -> None:
    site = build_site(database, tmp_path, api_rate_limit=5)
    client = site.client()
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post(
        "/api/v1/verify", data=deep, content_type="application/json", headers=site.bearer()
    )
    assert response.status_code == 400 and response.json["error"]["status"] == 400
    body = {"token": site.certificates[0].token}
    codes = [
        client.post("/api/v1/verify", json=body, headers=site.bearer()).status_code
        for _ in range(5)
    ]
    assert (
        codes[-1] == 429
        and client.post("/api/v1/verify", json=body, headers=site.bearer("admin")).status_code
        == 200
    )
    # Guessing tokens from one address is cut off too.
    guesses = [
        client.post(
            "/api/v1/verify", json=body, headers={"Authorization": f"Bearer x{n}"}
        ).status_code
        for n in range(65)
    ]
    assert guesses[0] == 401 and guesses[-1] == 429


def test_the_api_takes_tokens_not_cookies(site: Site) -> None:
    browser = site.signed_in("committee")
    response = browser.post("/api/v1/verify", json={"token": site.certificates[0].token})
    assert response.status_code == 401


def test_a_rater_uploads_only_their_own_marks(site: Site, tmp_path: Path) -> None:
    scripts = marking_list(site.database.engine, "S1")
    rows = marking_list_rows(scripts[:1])
    rows[0][-2:] = ["另一位评分员", "1"]
    path = tmp_path / "marks.csv"
    path.write_bytes(table_bytes(MARKING_LIST_HEADER, rows, "csv", "marks"))
    with pytest.raises(ValidationFailed) as failed:
        import_marks(site.database.engine, "S1", path, rater="rater")
    assert [p.code for p in failed.value.problems] == ["not_you"]
    # Under the rater's own name the downloaded list is read as it is: what stops it now is only
    # that this sitting's scripts are all marked twice already.
    rows[0][-2:] = ["rater", "1"]
    path.write_bytes(table_bytes(MARKING_LIST_HEADER, rows, "csv", "marks"))
    with pytest.raises(ValidationFailed) as again:
        import_marks(site.database.engine, "S1", path, rater="rater")
    assert [p.code for p in again.value.problems] == ["no_more_marks"]


def test_downloads_never_carry_formulas() -> None:
    data = table_bytes(["姓名"], [['=HYPERLINK("http://x")'], ["+1"], ["王芳"]], "csv", "t")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[1].startswith("\"'=HYPERLINK") and lines[2] == "'+1" and lines[3] == "王芳"


def test_signing_out_ends_the_session_everywhere(site: Site) -> None:
    first = site.signed_in("admin")
    second = site.signed_in("admin")
    assert second.get("/admin/").status_code == 200
    first.post("/logout", data={"csrf_token": site.csrf(first)})
    assert second.get("/admin/").status_code == 302  # the other device's cookie no longer works
    again = site.signed_in("admin")
    assert again.get("/admin/").status_code == 200


def test_a_zero_rate_limit_in_the_config_means_none(database: Database, tmp_path: Path) -> None:
    site = build_site(database, tmp_path, rate_limit=0)
    client = site.client()
    assert {client.get("/").status_code for _ in range(150)} == {200}
    assert PASSWORDS  # accounts exist alongside
