"""A frozen paper downloads from its page as a QTI 3.0 package: admins only, refused while a
draft, audited under the account."""

from __future__ import annotations

import io
import zipfile

from question_bank.papers import freeze_paper
from tests.helpers import snapshot
from tests.web.conftest import Site
from tests.web.test_papers import CODE, assembled, audit, papers_site  # noqa: F401
from tests.web.test_uploads import page_text


def test_a_frozen_paper_downloads_as_a_qti_package_and_the_export_is_audited(
    papers_site: Site,  # noqa: F811
) -> None:
    engine = papers_site.database.engine
    client = papers_site.signed_in("admin")
    assembled(papers_site, client)
    paper = f"{CODE}-1A"
    url = f"/admin/papers/{paper}/qti.zip"
    assert url not in page_text(client.get(f"/admin/papers/{paper}"))
    before = snapshot(engine)
    refused = client.get(url)
    assert refused.status_code == 400 and "not frozen" in page_text(refused)
    assert snapshot(engine) == before
    freeze_paper(engine, paper)
    assert url in page_text(client.get(f"/admin/papers/{paper}"))
    download = client.get(url)
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert "attachment" in download.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(download.data)) as package:
        names = set(package.namelist())
    assert {"imsmanifest.xml", f"tests/{paper}.xml", "certify-items.json"} <= names
    assert len([n for n in names if n.startswith("items/")]) == 44
    (entry,) = audit(papers_site, "papers.export_qti")
    assert (entry.actor, entry.subject) == ("web:admin", paper)
    for role in ("rater", "committee", "invigilator"):
        other = papers_site.signed_in(role)
        assert other.get(url).status_code == 403
    assert client.get("/admin/papers/NO-SUCH/qti.zip").status_code == 404
