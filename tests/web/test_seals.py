"""Sealed papers in the browser: sealing a paper with its parallel form, the shares shown once
and never cached, every page and download of a sealed paper refused, the opening with k
custodians' shares — refused and audited until the time and the shares are right."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import Session, select

from schemas.reference import CST
from schemas.tables import Item, ItemVersion, PaperSeal, utcnow
from tests.helpers import snapshot
from tests.web.conftest import Site
from tests.web.test_papers import CODE, assembled, audit, papers_site  # noqa: F401
from tests.web.test_uploads import page_text

PAPERS = [f"{CODE}-1A", f"{CODE}-1B"]


def _beijing(delta: timedelta) -> str:
    return f"{(utcnow() + delta).astimezone(CST):%Y-%m-%d %H:%M}"


def _seal(site: Site, client, opens_in: timedelta) -> list[str]:  # type: ignore[no-untyped-def]
    form = client.get(f"/admin/papers/{PAPERS[0]}/seal").get_data(as_text=True)
    assert f'value="{PAPERS[0]} {PAPERS[1]}"' in form  # its parallel form goes with it
    response = client.post(
        f"/admin/papers/{PAPERS[0]}/seal",
        data={
            "csrf_token": site.csrf(client),
            "papers": " ".join(PAPERS),
            "custodians": "张保管\n李保管\n王保管",
            "threshold": "2",
            "opens": _beijing(opens_in),
            "ends": _beijing(opens_in + timedelta(hours=2)),
            "print_lead": "0",
        },
    )
    assert response.status_code == 200, page_text(response)
    assert response.headers["Cache-Control"] == "no-store"
    shares = re.findall(r'<code class="share">([^<]+)</code>', response.get_data(as_text=True))
    assert len(shares) == 3
    return shares


def test_a_sealed_paper_shows_nothing_until_two_custodians_open_it(papers_site: Site) -> None:  # noqa: F811
    engine = papers_site.database.engine
    client = papers_site.signed_in("admin")
    assembled(papers_site, client)
    stem = page_text(client.get(f"/admin/papers/{PAPERS[0]}")).split("<td>")[-1][:30]
    shares = _seal(papers_site, client, opens_in=timedelta(minutes=-1))
    page = page_text(client.get(f"/admin/papers/{PAPERS[0]}"))
    assert "密封中" in page and stem not in page and "<table" not in page
    for url in (
        f"/admin/papers/{PAPERS[0]}/paper.pdf",
        f"/admin/papers/{PAPERS[0]}/key.pdf",
        f"/admin/papers/{PAPERS[1]}/qti.zip",
    ):
        refused = client.get(url)
        assert refused.status_code == 400 and "已密封" in page_text(refused), url
    with Session(engine) as session:
        code = session.exec(
            select(Item.code).join(ItemVersion).where(ItemVersion.sealed_by.is_not(None))  # type: ignore[union-attr]
        ).first()
    item = page_text(client.get(f"/admin/bank/items/{code}"))
    assert "已密封" in item and "考试结束前保密" in item
    (seal,) = audit(papers_site, "papers.seal")
    assert seal.actor == "web:admin" and seal.detail["papers"] == PAPERS
    assert not any(s in str(seal.detail) for s in shares)  # the shares are kept nowhere

    seal_url = "/admin/seals/1"
    page = client.get(seal_url).get_data(as_text=True)
    assert page.count('type="password"') == 2 and "张保管" in page
    before = snapshot(engine, but=("audit_log",))
    wrong = client.post(
        f"{seal_url}/open", data={"csrf_token": papers_site.csrf(client), "share": [shares[0]]}
    )
    assert wrong.status_code == 400 and "需要 2 位保管人" in page_text(wrong)
    assert snapshot(engine, but=("audit_log",)) == before
    assert [e.detail["reason"] for e in audit(papers_site, "papers.open_refused")] == ["seal"]
    opened = client.post(
        f"{seal_url}/open",
        data={"csrf_token": papers_site.csrf(client), "share": [shares[2], shares[1]]},
    )
    assert opened.status_code == 302
    page = page_text(client.get(seal_url))
    assert "已开启" in page and "王保管、李保管" in page
    page = page_text(client.get(f"/admin/papers/{PAPERS[0]}"))
    assert stem in page and "答案 PDF：考试结束前保密" in page
    assert client.get(f"/admin/papers/{PAPERS[0]}/paper.pdf").data.startswith(b"%PDF-")
    assert client.get(f"/admin/papers/{PAPERS[0]}/key.pdf").status_code == 400
    (entry,) = audit(papers_site, "papers.open")
    assert entry.actor == "web:admin" and entry.detail["custodians"] == ["王保管", "李保管"]


def test_a_seal_opens_no_earlier_than_its_time_and_bad_fields_change_nothing(
    papers_site: Site,  # noqa: F811
) -> None:
    engine = papers_site.database.engine
    client = papers_site.signed_in("admin")
    assembled(papers_site, client)
    before = snapshot(engine)
    url = f"/admin/papers/{PAPERS[0]}/seal"
    for field, value in [("threshold", "1"), ("opens", "明天"), ("custodians", "只有一位")]:
        data = {
            "csrf_token": papers_site.csrf(client),
            "papers": " ".join(PAPERS),
            "custodians": "甲\n乙",
            "threshold": "2",
            "opens": _beijing(timedelta(hours=1)),
            "ends": _beijing(timedelta(hours=3)),
            field: value,
        }
        refused = client.post(url, data=data)
        assert refused.status_code == 400, field
        assert f'value="{value}"' in refused.get_data(as_text=True) or value in page_text(refused)
    assert snapshot(engine) == before
    shares = _seal(papers_site, client, opens_in=timedelta(hours=1))
    early = client.post(
        "/admin/seals/1/open", data={"csrf_token": papers_site.csrf(client), "share": shares[:2]}
    )
    assert early.status_code == 400 and "最早可在" in page_text(early)
    with Session(engine) as session:
        assert session.exec(select(PaperSeal.status)).one() == "sealed"
    assert client.get("/admin/seals/99").status_code == 404
    listing = page_text(client.get("/admin/seals/"))
    assert "密封中" in listing and PAPERS[1] in listing
