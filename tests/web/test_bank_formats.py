"""Other systems' files through the bank's upload page: GIFT, Moodle XML and QTI 3.0 packages
placed by the form's occupation, level, area and category mapping, all or nothing, every
problem by question, what was left behind listed, zip bombs refused before they unpack."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from question_bank.bank import bank_items, import_items
from question_bank.interchange.files import write_any
from schemas.tables import AuditEntry
from tests.helpers import item, snapshot
from tests.web.conftest import Site
from tests.web.test_bank import bank_site  # noqa: F401  (the fixture)
from tests.web.test_uploads import page_text

GIFT = """$CATEGORY: $course$/机器学习

::激活::ReLU 是激活函数吗？{T}

::空值::哪个是空值？{=None ~0 ~False#不对}
"""

MOODLE = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="category"><category><text>$course$/基础</text></category></question>
  <question type="truefalse">
    <name><text>一</text></name>
    <questiontext format="html"><text><![CDATA[<p>地球是圆的<script>alert(1)</script></p>]]></text></questiontext>
    <answer fraction="100"><text>true</text><feedback><text>对</text></feedback></answer>
    <answer fraction="0"><text>false</text></answer>
  </question>
  <question type="category"><category><text>$course$/机器学习/深度</text></category></question>
  <question type="shortanswer">
    <name><text>二</text></name>
    <questiontext format="plain_text"><text>激活函数 ______</text></questiontext>
    <answer fraction="100"><text>ReLU</text></answer>
  </question>
</quiz>
"""

MAPPING = 'categories:\n  $course$/机器学习: "3"\n  $course$/基础: {area: "1"}\n'


def post(site: Site, client: FlaskClient, name: str, data: bytes, **fields: str) -> Any:
    return client.post(
        "/admin/bank/upload",
        data={"csrf_token": site.csrf(client), "file": (io.BytesIO(data), name), **fields},
        content_type="multipart/form-data",
    )


def placed(site: Site) -> list[tuple[str, str, str, str]]:
    return sorted(
        (i.stem, i.occupation, i.level.value, i.knowledge_area)
        for i in bank_items(site.database.engine)
    )


def test_a_gift_file_goes_where_the_form_places_it_and_is_audited(
    bank_site: Site,  # noqa: F811
) -> None:
    client = bank_site.signed_in("admin")
    response = post(
        bank_site,
        client,
        "题库.txt",
        GIFT.encode(),
        format="gift",
        occupation="ai",
        level="senior",
        area="1",
        categories=MAPPING,
    )
    text = page_text(response)
    assert response.status_code == 200, text  # what was left behind is listed on the page
    assert "2 行 — 新增 2" in text and "答案反馈未导入" in text and "«空值»" in text
    assert placed(bank_site) == [
        ("ReLU 是激活函数吗？", "ai", "senior", "3"),
        ("哪个是空值？", "ai", "senior", "3"),
    ]
    with Session(bank_site.database.engine) as session:
        entries = session.exec(
            select(AuditEntry).where(col(AuditEntry.action) == "bank.import")
        ).all()
    assert [(e.actor, e.subject) for e in entries] == [("web:admin", "题库.txt")]


def test_moodle_xml_categories_map_to_areas_and_html_is_sanitised(
    bank_site: Site,  # noqa: F811
) -> None:
    client = bank_site.signed_in("admin")
    response = post(
        bank_site,
        client,
        "moodle.xml",
        MOODLE.encode(),
        occupation="ai",
        level="senior",
        categories=MAPPING,
    )
    assert response.status_code == 200, page_text(response)
    assert placed(bank_site) == [
        ("地球是圆的", "ai", "senior", "1"),
        ("激活函数 ______", "ai", "senior", "3"),
    ]


def test_a_qti_package_certify_wrote_imports_back_the_same_items(
    bank_site: Site,  # noqa: F811
    tmp_path: Path,
) -> None:
    items = [item(item_id=f"Q-{n}") for n in range(3)]
    write_any(tmp_path / "bank.zip", items, "qti")
    client = bank_site.signed_in("admin")
    response = post(bank_site, client, "bank.zip", (tmp_path / "bank.zip").read_bytes())
    assert response.status_code == 302
    assert bank_items(bank_site.database.engine) == items


def test_an_unsupported_question_refuses_the_file_by_position_and_keeps_the_form(
    bank_site: Site,  # noqa: F811
) -> None:
    import_items(bank_site.database.engine, "before", [item(item_id="KEEP-1")])
    client = bank_site.signed_in("admin")
    before = snapshot(bank_site.database.engine, but=("job",))
    gift = GIFT + "\n::部分得分::部分{=a =%50%b}\n"
    response = post(
        bank_site,
        client,
        "bad.gift",
        gift.encode(),
        occupation="ai",
        level="senior",
        area="2",
        categories=MAPPING,
    )
    assert response.status_code == 400
    text = page_text(response)
    assert "<td>bad.gift</td><td>3</td><td>«部分得分», line 7: answers</td>" in text
    assert "the partly right answer &#39;b&#39; (50%) cannot be held" in text
    assert 'value="2"' in text and "$course$/机器学习: &#34;3&#34;" in text
    assert '<option value="senior" selected>' in text
    assert snapshot(bank_site.database.engine, but=("job",)) == before


def test_a_field_it_cannot_use_is_named_and_nothing_is_read(bank_site: Site) -> None:  # noqa: F811
    client = bank_site.signed_in("admin")
    before = snapshot(bank_site.database.engine)
    for fields, field in [
        ({"level": "expert"}, "level"),
        ({"occupation": "astrology"}, "occupation"),
        ({"format": "docx"}, "format"),
        ({"id_prefix": "<x>"}, "id_prefix"),
        ({"categories": "categories: [1, 2]"}, ""),
        ({"categories": "- a\n- b"}, ""),
    ]:
        response = post(bank_site, client, "a.gift", GIFT.encode(), **fields)
        text = page_text(response)
        assert response.status_code == 400, fields
        assert f"<td>{field}</td>" in text or "category mapping" in text, text
    assert snapshot(bank_site.database.engine) == before


def test_a_mapping_that_aliases_a_huge_structure_is_refused(bank_site: Site) -> None:  # noqa: F811
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for n in "bcdefgh":
        previous = chr(ord(n) - 1)
        laughs += f"{n}: &{n} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
    laughs += "area: *h\n"
    client = bank_site.signed_in("admin")
    response = post(bank_site, client, "a.gift", GIFT.encode(), categories=laughs)
    assert response.status_code == 400
    assert "names or codes, not a list" in page_text(response)


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in members.items():
            package.writestr(name, data)
    return out.getvalue()


def test_zip_bombs_are_refused_before_they_unpack(bank_site: Site) -> None:  # noqa: F811
    client = bank_site.signed_in("admin")
    before = snapshot(bank_site.database.engine, but=("job",))
    big = _zip({"imsmanifest.xml": b"<manifest/>", "items/a.xml": b"\0" * (65 * 2**20)})
    assert len(big) < 2**20
    response = post(bank_site, client, "bomb.zip", big)
    assert response.status_code == 400
    assert "items/a.xml unpacks to 65 MB, over 64 MB" in page_text(response)
    # a directory that announces more members than any package has: refused before it is read
    small = bytearray(_zip({"imsmanifest.xml": b"<manifest/>"}))
    end = small.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", small, end + 8, 60_000, 60_000)
    response = post(bank_site, client, "many.zip", bytes(small))
    assert response.status_code == 400
    assert "more than 50,000 members" in page_text(response)
    assert snapshot(bank_site.database.engine, but=("job",)) == before


def test_only_admins_upload(bank_site: Site) -> None:  # noqa: F811
    client = bank_site.signed_in("rater")
    assert post(bank_site, client, "a.gift", GIFT.encode()).status_code == 403
