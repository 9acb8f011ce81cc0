"""The sitting's own page shows counts and links, not every result and certificate; the
certificates' status changes (revoke, suspend, reinstate with a reason) are made from the paged
certificates list, and a refused change comes back to that list with what was typed."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from schemas.enums import CertificateStatus
from schemas.tables import AuditEntry, Certificate, Registration, Result
from tests.web.conftest import Site
from tests.web.test_uploads import page_text


def test_the_hub_shows_counts_and_links_instead_of_rows(site: Site) -> None:
    client = site.signed_in("admin")
    html = client.get("/admin/sittings/S1").get_data(as_text=True)
    with Session(site.database.engine) as session:
        results = session.exec(select(Result)).all()
        admissions = session.exec(select(Registration.admission_no)).all()
    graded = re.search(r'data-count="graded"><a [^>]*>(\d+)<', html)
    passed = re.search(r'data-count="passed">(\d+)<', html)
    issued = re.search(r'data-count="issued"><a [^>]*>(\d+)<', html)
    assert graded and passed and issued
    assert int(graded[1]) == len(results) > 0
    assert int(passed[1]) == sum(r.passed for r in results)
    assert int(issued[1]) == len(site.certificates) > 0
    assert 'href="/admin/sittings/S1/results"' in html
    assert 'href="/admin/sittings/S1/certificates"' in html
    assert not [c.serial for c in site.certificates if c.serial in html]
    assert not [a for a in admissions if a in html]


def test_a_certificate_is_suspended_from_the_paged_list_and_the_page_kept(site: Site) -> None:
    client = site.signed_in("admin")
    serials = sorted(c.serial for c in site.certificates)
    listing = client.get("/admin/sittings/S1/certificates?per_page=20&dir=desc").get_data(
        as_text=True
    )
    target = serials[-1]
    action = re.search(rf'action="(/admin/certificates/{target}/status\?[^"]*)"', listing)
    assert action, "every certificate row has its status form"
    url = action[1].replace("&amp;", "&")
    form = {"csrf_token": site.csrf(client), "sitting": "S1", "action": "suspend",
            "reason": "核查中"}  # fmt: skip
    done = client.post(url, data=form)
    assert done.status_code == 302
    assert done.location.startswith("/admin/sittings/S1/certificates?")
    assert "dir=desc" in done.location and "per_page=20" in done.location
    with Session(site.database.engine) as session:
        cert = session.exec(select(Certificate).where(Certificate.serial == target)).one()
        audit = session.exec(
            select(AuditEntry).where(AuditEntry.action == "certificate.suspend")
        ).all()
    assert cert.status == CertificateStatus.SUSPENDED
    assert [(e.actor, e.subject) for e in audit] == [("web:admin", target)]
    after = client.get(done.location).get_data(as_text=True)
    row = re.search(rf"<tr><td>{target}</td>.*?</tr>", after, re.S)
    assert row and 'data-status="suspended"' in row[0] and "reinstate" in row[0]


def test_a_refused_status_change_keeps_the_list_and_what_was_typed(site: Site) -> None:
    """A change made stale by another admin (the certificate reinstated meanwhile) is refused:
    the list comes back, status 400, the reason as typed in the certificate's row."""
    client = site.signed_in("admin")
    target = site.certificates[0].serial
    url = f"/admin/certificates/{target}/status"
    form = {"csrf_token": site.csrf(client), "sitting": "S1", "action": "suspend",
            "reason": "核查中"}  # fmt: skip
    assert client.post(url, data=form).status_code == 302
    assert client.post(url, data={**form, "action": "reinstate"}).status_code == 302
    stale = {**form, "action": "reinstate", "reason": "申诉成功，恢复"}
    refused = client.post(f"{url}?per_page=20", data=stale)
    assert refused.status_code == 400
    assert "S1 · 证书" in page_text(refused)
    html = refused.get_data(as_text=True)
    row = re.search(rf"<tr><td>{target}</td>.*?</tr>", html, re.S)
    assert row and 'value="申诉成功，恢复"' in row[0]
    assert "per_page=20" in html
    blank = client.post(url, data={**form, "reason": "  "})
    assert blank.status_code == 400 and "reason is required" in blank.get_data(as_text=True)
    with Session(site.database.engine) as session:
        status = session.exec(select(Certificate.status).where(Certificate.serial == target)).one()
        entries = session.exec(
            select(AuditEntry.action)
            .where(col(AuditEntry.action).in_(["certificate.suspend", "certificate.reinstate"]))
            .order_by(col(AuditEntry.id))
        ).all()
    assert status == CertificateStatus.VALID
    assert list(entries) == ["certificate.suspend", "certificate.reinstate"]
