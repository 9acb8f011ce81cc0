"""The question bank in the browser: uploads through the bank's own importer (all or nothing,
every problem by file, row and field, a rejects file), a list filtered, sorted and paged by the
database, an item's versions and their differences, retiring and restoring (audited), the
template and the summary — each cell shown inert, whatever it holds."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from certify.accounts import create_account
from certify.infra.settings import Settings
from certify.web import create_app
from question_bank.bank import bank_items, import_items
from question_bank.formats import read_items, write_items
from question_bank.samples import sample_files
from question_bank.synth import synth_items
from schemas.enums import ItemStatus, ItemType, Level
from schemas.reference import get_occupation
from schemas.tables import AuditEntry
from tests.certify.bomb_files import Bomb, workbook
from tests.conftest import Database
from tests.helpers import item, snapshot
from tests.web.conftest import PASSWORDS, REGIONS, Site
from tests.web.test_uploads import cookies_are_small, page_text, post_file

MB = 2**20
HOSTILE = "<script>alert('x')</script>'; DROP TABLE item; --"


@pytest.fixture
def bank_site(database: Database, tmp_path: Path) -> Site:
    """The app over an empty bank, with an account of every role (no sitting: quick)."""
    for role, password in PASSWORDS.items():
        create_account(database.engine, role, role, password, region=REGIONS.get(role))
    settings = Settings.load(
        {}, web_secret="test-secret", data_dir=tmp_path, sweep_seconds=0, job_seconds=0
    )
    app = create_app(settings, engine=database.engine, trust_document=None)
    app.config["TESTING"] = True
    return Site(database, app, [], [], {}, {}, {}, tmp_path)


def upload(site: Site, client: FlaskClient, name: str, data: bytes) -> Any:
    return post_file(site, client, "/admin/bank/upload", name, data)


def items_file(tmp_path: Path, name: str, items: list[Any]) -> bytes:
    path = tmp_path / name
    write_items(path, items)
    return path.read_bytes()


def audit(site: Site, action: str) -> list[AuditEntry]:
    with Session(site.database.engine) as session:
        return list(
            session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.action) == action)
                .order_by(col(AuditEntry.id))
            )
        )


def test_the_sample_bank_uploads_as_json_and_the_import_is_audited_under_the_account(
    bank_site: Site,
) -> None:
    client = bank_site.signed_in("admin")
    sample = next(p for p in sample_files() if p.name == "ai-junior.json")
    response = upload(bank_site, client, "人工智能初级.json", sample.read_bytes())
    assert response.status_code == 302
    expected = len(read_items(sample))
    assert len(bank_items(bank_site.database.engine)) == expected
    page = page_text(client.get(response.location))
    assert f"人工智能初级.json: {expected} 行 — 新增 {expected}" in page
    assert f"共 {expected} 题" in page
    (entry,) = audit(bank_site, "bank.import")
    assert (entry.actor, entry.subject) == ("web:admin", "人工智能初级.json")
    # The same file again changes nothing and is not audited again.
    assert upload(bank_site, client, "again.json", sample.read_bytes()).status_code == 302
    assert len(audit(bank_site, "bank.import")) == 1


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_spreadsheets_upload_too(bank_site: Site, tmp_path: Path, fmt: str) -> None:
    client = bank_site.signed_in("admin")
    data = items_file(tmp_path, f"bank.{fmt}", [item(item_id=f"T-{n}") for n in range(3)])
    assert upload(bank_site, client, f"题目.{fmt}", data).status_code == 302
    assert [i.item_id for i in bank_items(bank_site.database.engine)] == ["T-0", "T-1", "T-2"]


def bad_bank(tmp_path: Path) -> bytes:
    """Four rows: row 2 good, row 3 a bad level, row 4 an empty stem and a bad key, row 5
    good."""
    path = tmp_path / "bad.csv"
    write_items(path, [item(item_id=f"T-{n}") for n in range(4)])
    rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))
    header = rows[0]
    rows[2][header.index("level")] = "expert"
    rows[3][header.index("stem")] = ""
    rows[3][header.index("key")] = "Z"
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def test_a_bad_file_names_every_problem_by_row_and_field_and_changes_nothing(
    bank_site: Site, tmp_path: Path
) -> None:
    engine = bank_site.database.engine
    import_items(engine, "before", [item(item_id="KEEP-1")])
    client = bank_site.signed_in("admin")
    before = snapshot(engine, but=("job",))
    response = upload(bank_site, client, "题目 bad.csv", bad_bank(tmp_path))
    assert response.status_code == 400
    cookies_are_small(response)
    text = page_text(response)
    assert "3 problem(s) in 2 of 4 row(s); nothing was imported" in text
    assert "<td>题目 bad.csv</td><td>3</td><td>level</td>" in text
    assert "<td>题目 bad.csv</td><td>4</td><td>stem</td>" in text
    assert "<td>题目 bad.csv</td><td>4</td><td>key</td>" in text
    assert str(tmp_path) not in text and "upload.csv" not in text
    assert snapshot(engine, but=("job",)) == before  # the refused import's job stays
    # The refused rows, with their reasons, download as a file that imports once fixed.
    link = re.search(r'href="(/admin/bank/rejects/[^"]+\.csv)"', text)
    assert link is not None
    download = client.get(link.group(1))
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    rejected = list(csv.DictReader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert [(r["_row"], r["item_id"]) for r in rejected] == [("3", "T-1"), ("4", "T-2")]
    assert "level" in rejected[0]["_reason_en"] and "key" in rejected[1]["_reason_en"]
    # For this account only.
    other = bank_site.client()
    create_account(engine, "admin2", "admin", "admin2-password")
    other.get("/login")
    other.post(
        "/login",
        data={
            "username": "admin2",
            "password": "admin2-password",
            "csrf_token": bank_site.csrf(other),
        },
    )
    assert other.get(link.group(1)).status_code == 404
    assert "expert" not in page_text(client.get("/admin/bank/"))


def test_many_problems_also_download_as_a_problem_list(bank_site: Site, tmp_path: Path) -> None:
    client = bank_site.signed_in("admin")
    path = tmp_path / "many.csv"
    write_items(path, [item(item_id=f"T-{n}", points=1) for n in range(15)])
    data = path.read_text("utf-8-sig").replace(",1,0.2,", ",-1,0.2,").encode()
    response = upload(bank_site, client, "many.csv", data)
    assert response.status_code == 400
    link = re.search(r'href="(/admin/jobs/\d+/problems\.csv)"', page_text(response))
    assert link is not None
    problems = list(csv.reader(io.StringIO(client.get(link.group(1)).data.decode("utf-8-sig"))))
    assert len(problems) == 16 and problems[1][:3] == ["many.csv", "2", "points"]


def test_a_workbook_bomb_is_refused_before_it_is_read(bank_site: Site, tmp_path: Path) -> None:
    client = bank_site.signed_in("admin")
    bomb = workbook(tmp_path / "b.xlsx", [["item_id"], [Bomb(100 * MB)]], shared_strings=True)
    before = snapshot(bank_site.database.engine, but=("job",))
    response = upload(bank_site, client, "题库.xlsx", bomb.read_bytes())
    assert response.status_code == 400
    text = page_text(response)
    assert "题库.xlsx" in text and "64 MB" in text
    assert "/admin/bank/rejects/" not in text
    assert snapshot(bank_site.database.engine, but=("job",)) == before


def test_only_item_files_are_taken(bank_site: Site) -> None:
    client = bank_site.signed_in("admin")
    response = upload(bank_site, client, "bank.exe", b"MZ")
    assert response.status_code == 400 and ".csv or .xlsx or .json" in page_text(response)
    response = client.post("/admin/bank/upload", data={"file": (io.BytesIO(b"x"), "a.csv")})
    assert response.status_code == 400 and "表单已过期" in page_text(response)


@pytest.fixture
def synth_bank(bank_site: Site) -> Site:
    items = list(synth_items(get_occupation("ai"), Level.JUNIOR, 230, 1))
    items += list(synth_items(get_occupation("bigdata"), Level.SENIOR, 40, 1))
    import_items(bank_site.database.engine, "synth", items)
    return bank_site


def row_ids(response: Any) -> list[str]:
    return re.findall(r'<td><a href="/admin/bank/items/([^"]+)">', response.get_data(as_text=True))


def test_the_list_pages_and_sorts_on_the_server(synth_bank: Site) -> None:
    client = synth_bank.signed_in("admin")
    first = client.get("/admin/bank/?per_page=20")
    assert first.status_code == 200 and "共 270 题" in page_text(first)
    assert "第 1 / 14 页" in page_text(first) and len(row_ids(first)) == 20
    pages = [row_ids(client.get(f"/admin/bank/?per_page=20&page={n}")) for n in range(1, 15)]
    ids = [i for p in pages for i in p]
    assert len(ids) == len(set(ids)) == 270 and ids == sorted(ids)
    # Beyond the last page: sent to the last page.
    assert client.get("/admin/bank/?page=99").location.endswith("page=6")
    points = client.get("/admin/bank/?sort=points&dir=desc&per_page=200")
    shown = [float(p) for p in re.findall(r"<td>([\d.]+)</td><td class=\"status-", points.text)]
    assert len(shown) == 200 and shown == sorted(shown, reverse=True)
    # The sorted column's header links to the other direction and says which it is.
    assert 'aria-sort="descending"' in points.text
    assert 'href="/admin/bank/?sort=points&amp;per_page=200"' in points.text


def test_filters_and_text_search(synth_bank: Site) -> None:
    client = synth_bank.signed_in("admin")
    engine = synth_bank.database.engine
    expected = [
        i.item_id
        for i in bank_items(engine, occupation="ai", level=Level.JUNIOR)
        if i.type is ItemType.MULTIPLE and i.knowledge_area == "3"
    ]
    url = "/admin/bank/?occupation=ai&level=junior&type=multiple&area=3&status=ready&per_page=200"
    assert row_ids(client.get(url)) == sorted(expected)
    assert row_ids(client.get("/admin/bank/?q=SYN-BIGDATA&per_page=200")) == sorted(
        i.item_id for i in bank_items(engine, occupation="bigdata")
    )
    # 中文名 works as the occupation, as on the command line.
    assert len(row_ids(client.get("/admin/bank/?occupation=大数据&per_page=200"))) == 40


def test_a_search_it_cannot_read_says_so_and_keeps_what_was_typed(synth_bank: Site) -> None:
    client = synth_bank.signed_in("admin")
    response = client.get("/admin/bank/?q=%E6%95%B0%E6%8D%AE&level=expert&sort=evil&page=x")
    assert response.status_code == 400
    text = page_text(response)
    shown = re.search(r"left out: ([a-z_, ]+)|已忽略：([a-z_, ]+)", text)
    assert shown is not None
    assert sorted((shown.group(1) or shown.group(2)).split(", ")) == ["level", "page", "sort"]
    assert 'name="q" value="数据"' in text


def test_history_shows_every_version_and_a_diff_between_any_two(
    bank_site: Site, tmp_path: Path
) -> None:
    client = bank_site.signed_in("admin")
    v1 = item(stem="监督学习的评价曲线是？")
    v2 = item(stem="无监督学习的聚类曲线是？", key="A")
    v3 = item(stem="无监督学习的聚类曲线是？", key="A", points=2)
    for n, version in enumerate((v1, v2, v3)):
        data = items_file(tmp_path, f"v{n}.json", [version])
        assert upload(bank_site, client, f"v{n}.json", data).status_code == 302
    page = client.get("/admin/bank/items/T-001").get_data(as_text=True)
    assert page.index(">v3<") < page.index(">v2<") < page.index(">v1<")
    assert "v2 → v3" in page
    assert re.search(
        r"<th scope=\"row\">points</th><td class=\"text\"><del>1</del><ins>2</ins>", page
    )
    page = client.get("/admin/bank/items/T-001?a=1&b=3").get_data(as_text=True)
    assert "v1 → v3" in page
    assert "<ins>无</ins>" in page and "<del>评价</del><ins>聚类</ins>" in page
    assert '<th scope="row">key</th>' in page
    assert client.get("/admin/bank/items/T-001?a=1&b=9").status_code == 404
    assert client.get("/admin/bank/items/NOPE").status_code == 404


def test_retire_and_restore_are_audited_and_a_refusal_keeps_the_reason(
    bank_site: Site,
) -> None:
    engine = bank_site.database.engine
    import_items(engine, "t", [item()])
    client = bank_site.signed_in("admin")
    url = "/admin/bank/items/T-001/status"
    assert client.post(url, data={"action": "retire", "reason": "x"}).status_code == 400  # CSRF
    csrf = bank_site.csrf(client)
    before = snapshot(engine)
    long = "理由" * 300
    refused = client.post(url, data={"csrf_token": csrf, "action": "retire", "reason": long})
    assert refused.status_code == 400
    assert "at most 500 characters" in page_text(refused)
    assert f">{long}</textarea>" in refused.get_data(as_text=True)
    assert snapshot(engine) == before
    done = client.post(url, data={"csrf_token": csrf, "action": "retire", "reason": "题干有歧义"})
    assert done.status_code == 302
    assert "已停用" in page_text(client.get(done.location))
    assert bank_items(engine)[0].status is ItemStatus.RETIRED
    again = client.post(url, data={"csrf_token": csrf, "action": "retire", "reason": "再次"})
    assert again.status_code == 400 and "retired already" in page_text(again)
    back = client.post(url, data={"csrf_token": csrf, "action": "restore", "reason": "已修订"})
    assert back.status_code == 302 and bank_items(engine)[0].status is ItemStatus.READY
    assert [(e.actor, e.subject, e.detail["reason"]) for e in audit(bank_site, "bank.retire")] == [
        ("web:admin", "T-001", "题干有歧义")
    ]
    assert [e.actor for e in audit(bank_site, "bank.restore")] == ["web:admin"]
    missing = client.post(
        "/admin/bank/items/NOPE/status",
        data={"csrf_token": csrf, "action": "retire", "reason": "x"},
    )
    assert missing.status_code == 404


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_the_template_downloads_and_reads_back(bank_site: Site, tmp_path: Path, fmt: str) -> None:
    client = bank_site.signed_in("admin")
    response = client.get(f"/admin/bank/template.{fmt}")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    path = tmp_path / f"t.{fmt}"
    path.write_bytes(response.data)
    assert [r.values["item_id"] for r in read_items(path)] == [f"TPL-00{n}" for n in range(1, 7)]
    assert client.get("/admin/bank/template.exe").status_code == 404


def test_the_summary_is_a_table_and_a_chart(synth_bank: Site) -> None:
    client = synth_bank.signed_in("admin")
    empty = bank_site_text = page_text(client.get("/admin/bank/summary"))
    assert "<svg" in empty
    text = bank_site_text
    assert re.search(r"大数据</a></td><td>高级</td><td>40</td>", text)
    assert re.search(r"人工智能</a></td><td>初级</td><td>230</td>", text)
    assert text.count("<rect") >= 2 + 3  # a bar each, and the legend
    english = page_text(client.get("/admin/bank/summary?lang=en"))
    assert "Bank summary" in english and "Items per occupation and level, by status" in english


def test_the_summary_of_an_empty_bank(bank_site: Site) -> None:
    text = page_text(bank_site.signed_in("admin").get("/admin/bank/summary"))
    assert "题库为空" in text and "<svg" not in text


def test_script_and_sql_in_every_cell_are_stored_as_typed_and_shown_inert(
    bank_site: Site, tmp_path: Path
) -> None:
    client = bank_site.signed_in("admin")
    hostile = item(
        item_id="X-1",
        stem=HOSTILE,
        options={"A": HOSTILE, "B": "<img src=x onerror=alert(1)>"},
        key="A",
        source=HOSTILE,
        tags=["<script>alert(2)</script>", "' OR '1'='1"],  # ; separates tags in a sheet
    )
    data = items_file(tmp_path, "x.xlsx", [item(item_id="X-1"), item(item_id="X-2")])
    assert upload(bank_site, client, "x.xlsx", data).status_code == 302
    data = items_file(tmp_path, "x2.xlsx", [hostile])
    assert upload(bank_site, client, "x2.xlsx", data).status_code == 302
    (stored, _) = bank_items(bank_site.database.engine)
    assert stored.stem == HOSTILE and stored.source == HOSTILE and stored.tags == hostile.tags
    pages = [
        client.get("/admin/bank/"),
        client.get("/admin/bank/?q=" + HOSTILE),
        client.get("/admin/bank/items/X-1"),
        client.get("/admin/bank/items/X-1?lang=en"),
    ]
    for response in pages:
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "<script" not in html  # the pages carry no script at all
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#39;; DROP TABLE item; --" in (
        pages[2].get_data(as_text=True)
    )
    assert row_ids(pages[1]) == ["X-1"]
    # A refused file echoes what it holds inert too.
    bad = items_file(tmp_path, "bad.csv", [item()]).decode("utf-8-sig")
    bad = bad.replace(",junior,", ",<script>alert(1)</script>,")
    response = upload(bank_site, client, "<img src=x onerror=alert(3)>.csv", bad.encode())
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "<td>&lt;img src=x onerror=alert(3)&gt;.csv</td><td>2</td><td>level</td>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_pages_are_chinese_by_default_with_english_available(bank_site: Site) -> None:
    client = bank_site.signed_in("admin")
    assert "导入题目" in page_text(client.get("/admin/bank/upload"))
    english = page_text(client.get("/admin/bank/upload?lang=en"))
    assert "Upload items" in english and "Item file: .csv, .xlsx, .json, or another" in english
    assert "Where another system" in english and "Moodle XML" in english
    assert "Item id or stem" in page_text(client.get("/admin/bank/"))


def test_every_form_field_has_a_label(synth_bank: Site) -> None:
    """Keyboard and screen-reader use: each input, select and textarea is named by a label."""
    client = synth_bank.signed_in("admin")
    for url in ("/admin/bank/", "/admin/bank/upload", "/admin/bank/items/SYN-AI-J1-00001"):
        html = client.get(url).get_data(as_text=True)
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if 'type="hidden"' in tag:
                continue
            named = re.search(r'id="([^"]+)"', tag)
            assert "aria-label=" in tag or (named and f'for="{named.group(1)}"' in html), tag


def test_a_slow_refused_item_file_keeps_its_refused_rows_on_the_jobs_page(
    bank_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(bank_site.app.config, "UPLOAD_WAIT_SECONDS", 0)  # the job's page at once
    client = bank_site.signed_in("admin")
    response = upload(bank_site, client, "题目 bad.csv", bad_bank(tmp_path))
    assert response.status_code == 302 and response.location.startswith("/admin/jobs/")
    for _ in range(1200):
        if "nothing was imported" in (text := page_text(client.get(response.location))):
            break
        time.sleep(0.05)
    assert "<td>题目 bad.csv</td><td>4</td><td>key</td>" in text
    link = re.search(r'href="(/admin/bank/rejects/[^"]+\.csv)"', text)
    assert link is not None
    rejected = list(csv.DictReader(io.StringIO(client.get(link.group(1)).data.decode("utf-8-sig"))))
    assert [(r["_row"], r["item_id"]) for r in rejected] == [("3", "T-1"), ("4", "T-2")]
    # Another admin follows the job, but the refused rows stay with the one who uploaded them.
    create_account(bank_site.database.engine, "admin3", "admin", "admin3-password")
    other = bank_site.client()
    other.get("/login")
    login = {"username": "admin3", "password": "admin3-password"}
    other.post("/login", data={**login, "csrf_token": bank_site.csrf(other)})
    seen = page_text(other.get(response.location))
    assert (
        "<td>题目 bad.csv</td><td>4</td><td>key</td>" in seen and "/admin/bank/rejects/" not in seen
    )
    assert other.get(link.group(1)).status_code == 404
