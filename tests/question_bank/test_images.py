"""Images kept with items: checked on the way in, stored once, carried by every format that can
carry them, printed in papers and shown on the exam page and the bank's item page."""

from __future__ import annotations

import base64
import io
import re
import struct
import zipfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from PIL import Image
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from certify.accounts import create_account
from certify.delivery.copies import COPIES
from certify.infra.errors import InputError, ValidationFailed
from certify.infra.settings import Settings
from certify.web import create_app
from question_bank.bank import bank_items, export_bank, import_bank
from question_bank.images import (
    MAX_IMAGE_BYTES,
    ImageRefused,
    check_image,
    clean_alt,
    hashes_in,
    marker,
    segments,
    shown_texts,
)
from question_bank.interchange.common import Placement
from question_bank.interchange.files import read_any, write_any
from question_bank.render import render_paper
from question_bank.validate import validate_rows
from schemas.enums import ItemType
from schemas.items import ItemData
from schemas.tables import ItemImage, ItemVersion
from tests.certify.exam_helpers import VAULT
from tests.conftest import Database
from tests.delivery.delivery_helpers import ready_exam, staff_client
from tests.helpers import item, table_counts
from tests.pdf_tools import run
from tests.question_bank.strategies import items
from tests.question_bank.test_render import question, sample_paper

XSD = Path(__file__).resolve().parent / "data" / "qti3" / "qtiv3p0"
AI = Placement(occupation="ai", level="junior", area="2")


def picture(kind: str = "PNG", size: tuple[int, int] = (40, 20), colour: int = 0) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30 + colour % 200, 30)).save(out, kind)
    return out.getvalue()


RED, TEAL, GREY = (
    check_image(picture("PNG", (40, 20))),
    check_image(picture("JPEG", (10, 10), 90)),
    check_image(picture("GIF", (16, 32), 150)),
)
PICTURES = {p.sha256: p for p in (RED, TEAL, GREY)}


# --- what an image may be ------------------------------------------------------------------------


def test_png_jpeg_and_gif_are_kept_with_their_type_and_size() -> None:
    assert (RED.media_type, RED.width, RED.height) == ("image/png", 40, 20)
    assert (TEAL.media_type, GREY.media_type) == ("image/jpeg", "image/gif")
    assert RED.file_name == f"{RED.sha256}.png" and TEAL.extension == "jpg"
    assert check_image(base64.b64decode(RED.data_uri().partition(",")[2])) == RED


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"<html><img src=x onerror=alert(1)></html>",
        picture()[:60],  # a PNG cut short: its header reads, its pixels do not
        b"",
    ],
    ids=["svg", "html", "truncated", "empty"],
)
def test_what_is_not_a_readable_png_jpeg_or_gif_is_refused(data: bytes) -> None:
    with pytest.raises(ImageRefused) as refused:
        check_image(data)
    assert "PNG" in refused.value.en


def _claiming(width: int, height: int) -> bytes:
    """A real PNG whose header claims ``width`` × ``height`` (its CRC made right again)."""
    data = bytearray(picture())
    header = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return bytes(data)


def test_a_header_claiming_a_huge_picture_is_refused_before_its_pixels_are_read() -> None:
    with pytest.raises(ImageRefused) as refused:
        check_image(_claiming(100_000, 100_000))
    assert "too many pixels" in refused.value.en
    with pytest.raises(ImageRefused, match="5000×20"):  # within Pillow's limit, past ours
        check_image(_claiming(5000, 20))


def test_more_than_the_byte_limit_is_refused_unopened() -> None:
    with pytest.raises(ImageRefused, match="larger than"):
        check_image(b"\x89PNG" + bytes(MAX_IMAGE_BYTES))


ALT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x9FA5), max_size=120)


@given(ALT, st.sampled_from(sorted(PICTURES)), st.text(max_size=20), st.text(max_size=20))
def test_a_marker_reads_back_as_its_image_and_cleaned_alt_text(
    alt: str, sha: str, before: str, after: str
) -> None:
    text = before + marker(sha, alt) + after
    assert (clean_alt(alt), sha) in segments(text)
    assert sha in hashes_in([text])
    assert "".join(p if isinstance(p, str) else marker(p[1], p[0]) for p in segments(text)) == text


# --- every format that carries images ------------------------------------------------------------


@st.composite
def pictured(draw: st.DrawFn) -> ItemData:
    """A valid item whose stem, and an option or premise, show images."""
    base = draw(items())
    alt = draw(ALT.map(clean_alt))

    def shown(text: str) -> str:
        sha = draw(st.sampled_from(sorted(PICTURES)))
        at = draw(st.sampled_from(["start", "end", "line"]))
        mark = marker(sha, alt)
        return {"start": mark + text, "end": text + " " + mark, "line": f"{text}\n{mark}"}[at]

    changes: dict[str, object] = {"stem": shown(base.stem)}
    if base.type in (ItemType.SINGLE, ItemType.MULTIPLE):
        letter = draw(st.sampled_from(sorted(base.options)))
        changes["options"] = {**base.options, letter: shown(base.options[letter])}
    if base.type is ItemType.MATCHING:
        changes["premises"] = [shown(base.premises[0]), *base.premises[1:]]
    return base.model_copy(update=changes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bank=st.lists(pictured(), min_size=1, max_size=4, unique_by=lambda i: i.item_id))
@pytest.mark.parametrize("fmt,name", [("json", "b.json"), ("moodle", "b.xml"), ("gift", "b.gift"), ("qti", "b.zip")])  # fmt: skip
def test_items_with_images_travel_through_every_format_with_their_pictures(
    fmt: str, name: str, bank: list[ItemData], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp(fmt) / name
    write_any(path, bank, fmt, images=PICTURES)
    checked = validate_rows(name, read_any(path, fmt=fmt))
    assert checked.problems == []
    assert [i.content_hash() for _, i in checked.items] == [i.content_hash() for i in bank]
    shown = hashes_in(shown_texts(*bank))
    assert set(checked.images) == shown and checked.wanted == {}
    assert all(checked.images[h] == PICTURES[h] for h in shown)


def test_csv_and_xlsx_name_images_by_hash_for_a_bank_that_holds_them(tmp_path: Path) -> None:
    bank = [item(item_id="P-1", stem=f"看图 {marker(RED.sha256, '电路')}")]
    for fmt in ("csv", "xlsx"):
        path = tmp_path / f"b.{fmt}"
        write_any(path, bank, fmt, images=PICTURES)
        checked = validate_rows(path.name, read_any(path))
        assert [i for _, i in checked.items] == bank
        assert checked.images == {} and list(checked.wanted) == [RED.sha256]


def test_exported_qti_items_with_images_validate_and_list_their_files() -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD / "imsqti_asiv3p0_sbacv1p0_v1p0.xsd")))
    bank = [
        item(item_id="P-1", stem=f"看图 {marker(RED.sha256, '电路')}"),
        item(item_id="P-2", stem=marker(RED.sha256), options={"A": marker(TEAL.sha256), "B": "乙"}),
    ]
    from question_bank.interchange.qti import write_qti

    with zipfile.ZipFile(io.BytesIO(write_qti(bank, images=PICTURES))) as package:
        names = set(package.namelist())
        assert {f"images/{RED.file_name}", f"images/{TEAL.file_name}"} <= names
        assert package.read(f"images/{RED.file_name}") == RED.data
        for name in ("items/P-1.xml", "items/P-2.xml"):
            document = etree.fromstring(package.read(name))
            assert schema.validate(document), schema.error_log
        manifest = package.read("imsmanifest.xml").decode()
    assert manifest.count(f'<file href="images/{RED.file_name}"/>') == 2


# --- importing into the bank ---------------------------------------------------------------------


def _moodle(text: str, files: str = "") -> bytes:
    return (
        '<quiz><question type="multichoice"><name><text>看图</text></name>'
        f'<questiontext format="html"><text><![CDATA[{text}]]></text>{files}</questiontext>'
        "<single>true</single>"
        '<answer fraction="100"><text>甲</text></answer><answer fraction="0"><text>乙</text></answer>'
        "</question></quiz>"
    ).encode()


def _file(name: str, data: bytes) -> str:
    return (
        f'<file name="{name}" path="/" encoding="base64">{base64.b64encode(data).decode()}</file>'
    )


def _stored(database: Database) -> list[str]:
    with Session(database.engine) as session:
        return list(session.exec(select(ItemImage.sha256)).all())


def test_a_moodle_question_with_an_embedded_picture_imports_with_it(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "q.xml"
    path.write_bytes(
        _moodle(
            '<p>电路如图：<img src="@@PLUGINFILE@@/circuit%20a.png" alt="电路 图"></p>',
            _file("circuit a.png", RED.data),
        )
    )
    report = import_bank(database.engine, path, placement=AI)
    assert report.created == 1 and report.problems == []
    (stem,) = [i.stem for i in bank_items(database.engine)]
    assert stem == f"电路如图：{marker(RED.sha256, '电路 图')}"
    assert _stored(database) == [RED.sha256]
    again = import_bank(database.engine, path, placement=AI)
    assert again.unchanged == 1 and _stored(database) == [RED.sha256]  # stored once
    out = tmp_path / "again.zip"
    export_bank(database.engine, out, "qti")
    database.reset()
    assert import_bank(database.engine, out).created == 1
    assert [i.stem for i in bank_items(database.engine)] == [stem]
    assert _stored(database) == [RED.sha256]


@pytest.mark.parametrize(
    "text,files,code,named",
    [
        ('<img src="https://example.org/x.png" alt="外链">', "", "image_missing", "example.org"),
        ('<img src="@@PLUGINFILE@@/x.png">', _file("x.png", b"<svg onload=alert(1)/>"), "bad_image", "x.png"),
        ('<img src="@@PLUGINFILE@@/big.png">', _file("big.png", _claiming(9000, 9000)), "bad_image", "9000×9000"),
        ("文字", _file("notes.pdf", b"%PDF-1.4"), "embedded_file", "notes.pdf"),
    ],
    ids=["elsewhere", "svg", "bomb", "not-shown"],
)  # fmt: skip
def test_a_picture_that_cannot_be_kept_refuses_its_question_by_name(
    database: Database, tmp_path: Path, text: str, files: str, code: str, named: str
) -> None:
    path = tmp_path / "q.xml"
    path.write_bytes(_moodle(text, files))
    before = table_counts(database.engine)
    with pytest.raises(ValidationFailed) as refused:
        import_bank(database.engine, path, placement=AI)
    (problem,) = refused.value.problems
    assert problem.code == code and problem.row == 1, problem
    assert named in problem.message_en and "questiontext" in (problem.field or "")
    assert table_counts(database.engine) == before


def test_a_qti_image_outside_its_package_is_never_read(database: Database, tmp_path: Path) -> None:
    from question_bank.interchange.qti import write_qti

    package = io.BytesIO(write_qti([item(item_id="P-1", stem="看图")]))
    with zipfile.ZipFile(package, "a") as z:
        body = z.read("items/P-1.xml").decode()
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(package) as old, zipfile.ZipFile(rebuilt, "w") as new:
        for name in old.namelist():
            data = old.read(name)
            if name == "items/P-1.xml":
                data = body.replace("看图", '看图<img src="../../etc/passwd" alt="x"/>').encode()
            new.writestr(name, data)
    path = tmp_path / "p.zip"
    path.write_bytes(rebuilt.getvalue())
    with pytest.raises(ValidationFailed) as refused:
        import_bank(database.engine, path)
    assert [p.code for p in refused.value.problems] == ["image_missing"]


def test_a_csv_row_naming_an_image_the_bank_lacks_is_refused_naming_row_and_field(
    database: Database, tmp_path: Path
) -> None:
    stem = f"看图 {marker(TEAL.sha256, '示意')}"
    csv = tmp_path / "b.csv"
    write_any(csv, [item(item_id="P-1"), item(item_id="P-2", stem=stem)], "csv")
    before = table_counts(database.engine)
    with pytest.raises(ValidationFailed) as refused:
        import_bank(database.engine, csv)
    (problem,) = refused.value.problems
    assert (problem.code, problem.row, problem.field) == ("unknown_image", 3, "stem")
    assert TEAL.sha256[:12] in problem.message_en
    assert table_counts(database.engine) == before
    # once the bank holds the picture (a JSON bank brings it), the same file imports
    carrier = tmp_path / "carrier.json"
    write_any(carrier, [item(item_id="P-9", stem=stem)], "json", images=PICTURES)
    import_bank(database.engine, carrier)
    assert import_bank(database.engine, csv).created == 2


def test_a_json_image_whose_bytes_do_not_match_its_hash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write_any(path, [item(item_id="P-1", stem=marker(RED.sha256))], "json", images=PICTURES)
    path.write_text(path.read_text().replace(RED.sha256 + '": {', TEAL.sha256 + '": {', 1))
    with pytest.raises(InputError) as refused:
        read_any(path)
    assert refused.value.problem.code == "image_hash"


# --- printed and shown ---------------------------------------------------------------------------


def _pdf_images(path: Path) -> list[tuple[int, int]]:
    lines = run("pdfimages", "-list", path).splitlines()[2:]
    return [(int(line.split()[3]), int(line.split()[4])) for line in lines]


def test_a_printed_paper_shows_its_pictures_and_names_a_missing_one(tmp_path: Path) -> None:
    stem = f"如图所示的电路中：\n{marker(RED.sha256, '电路')}\n电流为多少？"
    options = {"A": marker(GREY.sha256, "甲图"), "B": "1 A", "C": "2 A", "D": "3 A"}
    view = sample_paper(
        theory=[
            question(1, "theory", ItemType.SINGLE, stem=stem, options=options, key="B", points=2)
        ]
    )
    printed = render_paper(view, tmp_path / "paper.pdf", PICTURES)
    assert sorted(_pdf_images(printed)) == [(16, 32), (40, 20)]
    text = run("pdftotext", "-layout", printed, "-")
    assert "如图所示的电路中" in text and "电流为多少" in text and "sha256" not in text
    bare = render_paper(view, tmp_path / "bare.pdf", {})
    assert _pdf_images(bare) == [] and "[图：电路]" in run("pdftotext", bare, "-")


def _with_picture(database: Database) -> int:
    """Make the first item version that the sitting's papers use show RED; returns its pk."""
    with Session(database.engine) as session, session.begin():
        session.add(ItemImage(sha256=RED.sha256, media_type=RED.media_type, width=40, height=20,
                              size=len(RED.data), data=RED.data))  # fmt: skip
        pk = session.exec(
            select(func.min(ItemVersion.id)).where(col(ItemVersion.type) == "single")
        ).one()
        session.execute(
            update(ItemVersion).where(col(ItemVersion.id) == pk)
            .values(stem=ItemVersion.stem + " " + marker(RED.sha256, "电路"))
        )  # fmt: skip
    COPIES.clear()
    return int(pk)


def test_the_exam_page_gets_the_pictures_of_its_own_paper_only(
    database: Database, tmp_path: Path
) -> None:
    exam = ready_exam(
        database, tmp_path, start=datetime.now(UTC) - timedelta(minutes=40), count=2,
        entry_minutes=60,
    )  # fmt: skip
    _with_picture(database)
    app = create_app(
        Settings.load({}, web_secret="x", sweep_seconds=0), engine=database.engine, vault=VAULT
    )
    client = app.test_client()
    person = exam.people[0]
    signed = client.post(
        "/exam/api/sign-in",
        json={
            "admission_no": person.admission_no,
            "id_number": person.id_number,
            "room_code": exam.room_of(person.admission_no).room_code,
        },
    )
    paper = client.get(
        "/exam/api/paper", headers={"Authorization": f"Exam {signed.json['token']}"}
    ).json
    stems = [q["stem"] for part in paper["parts"] for q in part["questions"]]
    if any(RED.sha256 in s for s in stems):
        assert paper["images"] == {RED.sha256: RED.data_uri()}
    else:  # this form does not use the item: nothing of the picture is sent
        assert paper["images"] == {}
    assert set(paper["images"]) == hashes_in(stems)


def test_the_item_page_shows_the_picture_escaped_text_around_it(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "b.json"
    stem = f'<b>粗</b> "引号" {marker(RED.sha256, "电路")}'
    write_any(path, [item(item_id="P-1", stem=stem)], "json", images=PICTURES)
    import_bank(database.engine, path)
    create_account(database.engine, "admin", "admin", "a long pass phrase 1")
    client = staff_client(database, "admin", "a long pass phrase 1")
    page = client.get("/admin/bank/items/P-1").get_data(as_text=True)
    assert f'<img class="item-image" src="{RED.data_uri()}" alt="电路">' in page
    assert "&lt;b&gt;粗&lt;/b&gt;" in page and "<b>粗</b>" not in page
    assert re.search(r"<img[^>]*onerror", page) is None


def test_a_data_address_is_kept_for_an_image_only_never_as_a_link() -> None:
    from question_bank.interchange.common import html_text

    assert html_text('<a href="data:text/html,&lt;script&gt;">链接</a>')[0] == "链接"
    assert html_text('<a href="https://example.org">链接</a>')[0] == "链接 (https://example.org)"
