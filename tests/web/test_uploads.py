"""Uploads and posts through the web app: hostile workbooks are refused before they are read,
what a committee check stores per row is bounded, and every problem is shown on the page that
answers the post — never in the session cookie, which browsers drop beyond about 4 KB."""

from __future__ import annotations

import csv
import io
import re
import tracemalloc
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlmodel import Session, select

from certify.accounts import create_account
from certify.grading.marks import MARKING_LIST_HEADER, marking_list
from certify.infra.tabular import table_bytes
from schemas.tables import CommitteeCheck
from tests.certify.bomb_files import Bomb, workbook
from tests.helpers import snapshot
from tests.web.conftest import Site

MB = 2**20
LARGEST_COOKIE = 3_000


def post_file(site: Site, client: FlaskClient, url: str, name: str, data: bytes) -> Any:
    return client.post(
        url,
        data={"csrf_token": site.csrf(client), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def cookies_are_small(response: Any) -> None:
    for header in response.headers.getlist("Set-Cookie"):
        assert len(header) <= LARGEST_COOKIE, f"a {len(header)}-byte cookie"


def page_text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_a_workbook_bomb_is_refused_by_the_committee_upload_and_nothing_is_stored(
    site: Site, tmp_path: Path
) -> None:
    client = site.signed_in("committee")
    bomb = workbook(tmp_path / "bomb.xlsx", [["证书编号"], [Bomb(100 * MB)]], shared_strings=True)
    before = snapshot(site.database.engine)
    tracemalloc.start()
    try:
        response = post_file(site, client, "/committee/checks", "清单.xlsx", bomb.read_bytes())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 400
    text = page_text(response)
    assert "清单.xlsx" in text and "64 MB" in text and str(tmp_path) not in text
    assert peak < 8 * MB
    after = snapshot(site.database.engine)
    assert after["committee_check"] == before["committee_check"] == []
    cookies_are_small(response)


def test_what_a_committee_check_stores_per_row_is_bounded(site: Site) -> None:
    client = site.signed_in("committee")
    serial = site.certificates[0].serial
    rows = [[serial, ""], ["9" * 30_000, ""], [serial, "x" * 5_000]]
    data = table_bytes(["证书编号", "二维码内容"], rows, "csv", "t")
    response = post_file(site, client, "/committee/checks", "checks.csv", data)
    assert response.status_code == 400
    text = page_text(response)
    assert "30000 characters, at most 40" in text and "5000 characters, at most 4000" in text
    assert re.search(r"<td>checks.csv</td><td>3</td><td>serial</td>", text)
    assert re.search(r"<td>checks.csv</td><td>4</td><td>token</td>", text)
    with Session(site.database.engine) as session:
        assert session.exec(select(CommitteeCheck)).all() == []
    # The same file with ordinary cells is checked, each row echoing at most a serial's length.
    ok = table_bytes(["证书编号"], [[serial], ["1" * 40]], "csv", "t")
    assert post_file(site, client, "/committee/checks", "ok.csv", ok).status_code == 302
    with Session(site.database.engine) as session:
        (check,) = session.exec(select(CommitteeCheck)).all()
    assert [len(r["input"]["serial"]) for r in check.rows] == [len(serial), 40]


def bad_marks(site: Site, count: int) -> bytes:
    rows = [[f"NOPE{n:04d}", "", "", "", "", "", "", "rater", "1"] for n in range(count)]
    return table_bytes(MARKING_LIST_HEADER, rows, "csv", "marks")


def test_a_refused_marks_file_shows_every_problem_on_the_page(site: Site) -> None:
    scripts = marking_list(site.database.engine, "S1")
    count = min(300, 3 * len(scripts) + 100)  # more rows than this are refused as too long
    client = site.signed_in("rater")
    before = snapshot(site.database.engine, but=("job",))
    response = post_file(
        site, client, "/rater/sittings/S1/marks", "评分.csv", bad_marks(site, count)
    )
    assert response.status_code == 400
    cookies_are_small(response)
    text = page_text(response)
    assert f"{count} problem(s) in {count} of {count} row(s)" in text
    for n in range(count):
        assert f"<td>评分.csv</td><td>{n + 2}</td><td>script</td>" in text
        assert f"no script &#39;NOPE{n:04d}&#39;" in text
    # Many problems: also a file to download, kept with the import's job: for this rater and
    # the admins who follow every job, and no other rater.
    link = re.search(r'href="(/admin/jobs/\d+/problems\.csv)"', text)
    assert link is not None
    download = client.get(link.group(1))
    assert download.status_code == 200
    assert download.data.startswith(b"\xef\xbb\xbf")
    problems = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert len(problems) == count + 1
    assert problems[1][:4] == ["评分.csv", "2", "script", "unknown_script"]
    # Nothing was stored, and the next page shows no stale message.
    assert snapshot(site.database.engine, but=("job",)) == before
    assert "NOPE" not in page_text(client.get("/rater/"))
    assert site.signed_in("admin").get(link.group(1)).status_code == 200
    create_account(site.database.engine, "rater2", "rater", "rater2-password")
    other = site.client()
    other.get("/login")
    login = {"username": "rater2", "password": "rater2-password", "csrf_token": site.csrf(other)}
    other.post("/login", data=login)
    assert other.get(link.group(1)).status_code == 404
    job = link.group(1).removesuffix("/problems.csv")
    assert other.get(job).status_code == 404 and other.get(f"{job}.json").status_code == 404


def test_a_few_problems_are_shown_without_a_file(site: Site) -> None:
    client = site.signed_in("rater")
    response = post_file(site, client, "/rater/sittings/S1/marks", "m.csv", bad_marks(site, 2))
    assert response.status_code == 400
    assert "problems.csv" not in page_text(response)
    assert "no script &#39;NOPE0001&#39;" in page_text(response)


def test_an_unreadable_marks_file_is_explained_on_the_page(site: Site, tmp_path: Path) -> None:
    client = site.signed_in("rater")
    bomb = workbook(tmp_path / "m.xlsx", [["rater"], [Bomb(1 * MB)]])
    response = post_file(site, client, "/rater/sittings/S1/marks", "marks.xlsx", bomb.read_bytes())
    assert response.status_code == 400
    text = page_text(response)
    assert "<td>marks.xlsx</td><td>2</td><td>A2</td>" in text and "32,767" in text


def test_admin_refusals_are_shown_on_the_page_not_in_the_cookie(site: Site) -> None:
    client = site.signed_in("admin")
    csrf = site.csrf(client)
    serial = "9" * 3_000
    response = client.post(
        f"/admin/certificates/{serial}/status",
        data={"csrf_token": csrf, "action": "revoke", "reason": "测试", "sitting": "S1"},
    )
    assert response.status_code == 404  # a thing that does not exist
    cookies_are_small(response)
    assert f"no certificate {serial}" in page_text(response)
    response = client.post("/admin/sittings/S1/publish", data={"csrf_token": csrf, "days": "7"})
    assert response.status_code == 400
    assert "published already" in page_text(response)
    response = client.post(
        "/admin/objections/999/resolve",
        data={"csrf_token": csrf, "decision": "upheld", "reason": "x", "sitting": "NOPE"},
    )
    assert response.status_code == 404 and "no objection 999" in page_text(response)
    assert "no certificate" not in page_text(client.get("/admin/"))
