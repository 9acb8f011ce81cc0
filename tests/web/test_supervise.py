"""A supervisor (人社部门) on the platform: it reads every institution of its region and no
other — the overview and its chart, a sitting's rooms and results, the audit log — writes none
of their data whatever it calls, and keeps its inspection records, which the inspected
institution answers."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import text
from sqlmodel import Session, col, select

from certify.accounts import AccountError, create_account, set_role
from certify.delivery.schedule import add_room, create_session
from certify.entitlements.training import create_course
from certify.infra import audit_log
from certify.institutions.registry import set_region
from certify.institutions.scope import ReadOnlyScope, scope_of_account, scoped
from certify.registration.sittings import create_sitting
from certify.supervision.overview import audit_view
from certify.supervision.records import open_records
from schemas.tables import Account, AuditEntry, InspectionRecord, Result, Sitting
from tests.helpers import institution, snapshot
from tests.pdf_tools import pdf_pages, squeeze
from tests.web.conftest import Site, build_site

SUPERVISOR = ("sd-hrss", "supervisor-password-1")
NOTICE = {
    "plan": "SD-2026-Q4",
    "drawn": [
        {"id": "S1", "label": "S1 测试评价机构 ai/junior", "institution": "SD-EVAL-01",
         "inspectors": ["王检查", "赵检查"]},
    ],
}  # fmt: skip


@pytest.fixture
def region(database: Any, tmp_path: Path) -> Site:
    """The usual site, its institution 测试评价机构 in 济南 with a computer-based room; a
    second Shandong institution with a sitting of its own; one in Jiangsu with one too; a
    supervisor of 山东省; the site's accounts 测试评价机构's."""
    site = build_site(database, tmp_path)
    engine = database.engine
    set_region(engine, "SD-EVAL-01", "山东省济南市")
    start = datetime.now(UTC) + timedelta(days=3)
    create_session(engine, "S1", "S1-theory", starts_at=start, duration_minutes=90, part="theory")
    add_room(engine, "S1-theory", "R01", capacity=40, invigilator="invigilator")
    for name, code, where, sitting in (
        ("烟台某评价机构", "SD-EVAL-06", "山东省烟台市", "YT-1"),
        ("苏州某评价机构", "JS-EVAL-01", "江苏省苏州市", "JS-1"),
    ):
        institution(engine, name, code=code, region=where)
        create_sitting(engine, sitting, "ai-junior-sample", institution=name)
    with Session(engine) as session:
        for account in session.exec(
            select(Account).where(col(Account.role).not_in(["supervisor", "committee"]))
        ):
            account.institution = "测试评价机构"
            session.add(account)
        session.commit()
    create_account(engine, *SUPERVISOR[:1], "supervisor", SUPERVISOR[1], region="山东省")
    open_records(engine, NOTICE, actor="cli")
    return site


def supervisor(site: Site) -> Any:
    client = site.client()
    client.get("/login")
    answer = client.post(
        "/login",
        data={
            "username": SUPERVISOR[0],
            "password": SUPERVISOR[1],
            "csrf_token": site.csrf(client),
        },
    )
    assert answer.status_code == 302 and answer.location.endswith("/supervise/")
    return client


def words(response: Any) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def test_the_overview_is_the_region_s_with_its_chart(region: Site) -> None:
    client = supervisor(region)
    page = client.get("/supervise/")
    text = words(page)
    assert page.status_code == 200
    assert "SD-EVAL-01 测试评价机构 山东省济南市 1 30 30" in text
    assert "SD-EVAL-06 烟台某评价机构 山东省烟台市 1 0 0" in text
    assert "苏州" not in text and "JS-1" not in text
    with Session(region.database.engine) as session:
        passed = len(session.exec(select(Result).where(col(Result.passed))).all())
    body = page.get_data(as_text=True)
    bars = re.findall(r'<rect x="260" y="\d+" width="([\d.]+)" height="18" fill="#1f5fbf">', body)
    assert len(bars) == 1 and 0 < float(bars[0]) <= 360  # one institution has graded candidates
    assert float(bars[0]) == round(passed / 30 * 360, 1)  # the bar is S1's pass rate
    assert f"{passed / 30 * 100:.1f}%" in text and "<script" not in body.split("<main", 1)[1]
    assert client.get("/supervise/sittings/S1").status_code == 200
    assert client.get("/supervise/sittings/YT-1").status_code == 200
    assert client.get("/supervise/sittings/JS-1").status_code == 404
    room = words(client.get("/supervise/sittings/S1"))
    assert "S1-theory · R01" in room and "30 / 30 /" in room
    audit = words(client.get("/supervise/audit"))
    assert "哈希链完整" in audit and "inspect.open" in audit
    # its region's entries only: 烟台's sitting, not 苏州's; the platform reads both
    created = words(client.get("/supervise/audit?action=sitting.create"))
    assert "YT-1" in created and "S1" in created and "JS-1" not in created
    every = audit_view(region.database.engine, action="sitting.create")  # no scope: the platform
    assert {e.subject for e in every.entries} >= {"YT-1", "JS-1", "S1"} and every.chain_ok
    # the API's entries are its accounts' too; another region's accounts' are not
    engine = region.database.engine
    create_account(engine, "js-admin", "admin", "js-admin-password-1", institution="苏州某评价机构")
    with Session(engine) as session:
        for actor in ("api:admin", "api:js-admin", "web:js-admin"):
            audit_log.append(session, actor=actor, action="holder.check", subject="7", detail={})
        session.commit()
    checks = words(client.get("/supervise/audit?action=holder."))
    assert "api:admin" in checks and "js-admin" not in checks


def test_a_supervisor_writes_nothing_of_the_institutions(region: Site) -> None:
    engine = region.database.engine
    client = supervisor(region)
    before = snapshot(engine)
    for url in ("/admin/sittings", "/admin/training/new", "/admin/institutions/", "/rater/"):
        answer = client.post(url, data={"csrf_token": region.csrf(client), "code": "X"})
        assert answer.status_code in (403, 405), url
    with Session(engine) as session:
        account = session.exec(select(Account).where(Account.username == SUPERVISOR[0])).one()
        held = scope_of_account(session, account)
    assert held is not None and held.read_only and held.names == {"测试评价机构", "烟台某评价机构"}
    with scoped(held):
        # even a service called directly: the one place refuses the write
        with pytest.raises(ReadOnlyScope, match="sitting"):
            create_sitting(engine, "X1", "ai-junior-sample", institution="烟台某评价机构")
        with pytest.raises(ReadOnlyScope, match="course"):
            create_course(engine, "C9", occupation="ai", level="junior", hours=8,
                          institution="测试评价机构", syllabus=[])  # fmt: skip
        # A Core write, past the ORM's hooks, is refused at the wire; so is the shared bank.
        with pytest.raises(ReadOnlyScope, match="result"), engine.begin() as conn:
            conn.execute(text("UPDATE result SET passed = NOT passed"))
        with pytest.raises(ReadOnlyScope, match="item"), engine.begin() as conn:
            conn.execute(text("DELETE FROM item_version WHERE 1 = 0"))
    assert snapshot(engine) == before
    with pytest.raises(AccountError, match="needs its region"):
        create_account(engine, "sup-2", "supervisor", SUPERVISOR[1])
    with pytest.raises(AccountError, match="only a supervisor has a region"):
        create_account(engine, "adm-2", "admin", SUPERVISOR[1], region="山东省")


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


def test_an_inspection_from_finding_to_closing_in_the_browser(region: Site) -> None:
    engine = region.database.engine
    client = supervisor(region)
    listed = words(client.get("/supervise/inspections/"))
    assert "SD-2026-Q4 S1 测试评价机构 ai/junior SD-EVAL-01 open" in listed
    url = "/supervise/inspections/SD-2026-Q4/S1"
    bad = client.post(
        f"{url}/finding",
        data={"csrf_token": region.csrf(client), "text": "考场未张贴考生须知",
              "evidence": (io.BytesIO(b"<svg/>"), "photo.png")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert bad.status_code == 400 and "evidence must be a PDF, PNG or JPEG" in words(bad)
    found = client.post(
        f"{url}/finding",
        data={"csrf_token": region.csrf(client), "text": "考场未张贴考生须知",
              "evidence": (io.BytesIO(png()), "现场.png")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert found.status_code == 302
    page = client.get(url).get_data(as_text=True)
    (link,) = re.findall(r'href="(/supervise/inspections/SD-2026-Q4/S1/evidence/\d+)"', page)
    assert client.get(link).data == png()
    deadline = (date.today() + timedelta(days=30)).isoformat()
    asked = client.post(
        f"{url}/rectify",
        data={"csrf_token": region.csrf(client), "text": "张贴须知", "deadline": deadline},
    )
    assert asked.status_code == 302
    # The supervisor cannot answer for the institution.
    refused = client.post(f"{url}/respond", data={"csrf_token": region.csrf(client), "text": "x"})
    assert refused.status_code == 400 and "the inspected institution writes" in words(refused)
    # The institution's admin answers, and cannot add findings of its own.
    admin = region.signed_in("admin")
    assert "考场未张贴考生须知" in words(admin.get(url))
    own = admin.post(f"{url}/finding", data={"csrf_token": region.csrf(admin), "text": "无"})
    assert own.status_code == 400 and "inspection records are the supervisor" in words(own)
    answered = admin.post(
        f"{url}/respond", data={"csrf_token": region.csrf(admin), "text": "已张贴并培训"}
    )
    assert answered.status_code == 302
    closed = client.post(
        f"{url}/close", data={"csrf_token": region.csrf(client), "text": "整改到位"}
    )
    assert closed.status_code == 302
    with Session(engine) as session:
        record = session.exec(select(InspectionRecord)).one()
        steps = [
            (e.actor, e.action)
            for e in session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.action).startswith("inspect."))
                .order_by(col(AuditEntry.id))
            )
        ]
    assert record.status == "closed" and record.response == "已张贴并培训"
    assert steps == [
        ("cli", "inspect.open"),
        (f"web:{SUPERVISOR[0]}", "inspect.finding"),
        (f"web:{SUPERVISOR[0]}", "inspect.rectify"),
        ("web:admin", "inspect.respond"),
        (f"web:{SUPERVISOR[0]}", "inspect.close"),
    ]


def test_an_institution_s_admin_sees_its_own_figures_only(region: Site) -> None:
    admin = region.signed_in("admin")
    text = words(admin.get("/supervise/"))
    assert "测试评价机构" in text and "烟台" not in text and "苏州" not in text
    with Session(region.database.engine) as session:
        assert len(session.exec(select(Sitting)).all()) == 3  # the platform holds all three
    assert admin.get("/supervise/sittings/YT-1").status_code == 404


def test_the_supervisor_reads_the_statistics_and_similarity_report_the_institution_made(
    region: Site, tmp_path: Path
) -> None:
    client = supervisor(region)
    assert "机构尚未计算" in words(client.get("/supervise/sittings/S1"))
    assert client.get("/supervise/sittings/S1/report.pdf").status_code == 404
    admin = region.signed_in("admin")
    submitted = admin.post("/admin/sittings/S1/stats", data={"csrf_token": region.csrf(admin)})
    assert submitted.status_code == 302
    (job,) = region.app.extensions["certify"].jobs.run_pending()
    assert job.state.value == "done", job.error
    page = words(client.get("/supervise/sittings/S1"))
    assert "统计分析与雷同检测报告（PDF）" in page and "雷同标记" in page
    pdf = client.get("/supervise/sittings/S1/report.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    (tmp_path / "r.pdf").write_bytes(pdf.data)
    assert "S1" in squeeze("".join(pdf_pages(tmp_path / "r.pdf")))
    assert client.get("/supervise/sittings/JS-1/report.pdf").status_code == 404


def test_supervisors_and_committees_are_the_platform_s_accounts(region: Site) -> None:
    engine = region.database.engine
    before = snapshot(engine)
    with pytest.raises(AccountError, match="belongs to no institution"):
        create_account(engine, "c-2", "committee", SUPERVISOR[1], institution="测试评价机构")
    with pytest.raises(AccountError, match="make a new account instead"):
        set_role(engine, SUPERVISOR[0], "admin")
    with pytest.raises(AccountError, match="make a new account instead"):
        set_role(engine, "rater", "supervisor")
    with pytest.raises(AccountError, match="belongs to no institution"):
        set_role(engine, "rater", "committee")  # the site's rater is 测试评价机构's
    assert snapshot(engine) == before
    listing = words(region.signed_in("admin").get("/admin/accounts/"))
    assert "rater rater 评分员 测试评价机构" in listing  # username, name, role, institution
