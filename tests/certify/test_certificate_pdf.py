"""Printed certificates: a real signed token, rendered, rasterised and read back with real tools.

Keys live in the test database, the trust list is built from them and loaded, the certificate
PDF is rendered by reportlab, poppler turns it into text and pixels, and zxing-cpp reads the QR
code off the picture: what a phone camera would do, short of the camera.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from certify.certificates.document import (
    QR_CAPTION,
    QR_SIZE,
    certificate_pdf,
    render_certificate,
    signed_by,
    statement,
    verify_by_hand,
)
from certify.infra.pdf import FONT_NAME
from certify.registration.identity import mask_id_number
from certify.signing.token import KIND_NAMES, Claims, Kind
from certify.signing.trust import TrustList
from certify.signing.verify import verify_token
from schemas.certificates import CertificateView
from schemas.enums import Level
from schemas.reference import LEVEL_NAMES_ZH, get_occupation
from tests.certify.signing_helpers import (
    TODAY,
    claims,
    fresh_revocations,
    issue,
    make_keys,
    trust,
)
from tests.conftest import Database
from tests.pdf_tools import run, squeeze

ID_NUMBER = "11010519491231002X"
"""GB 11643-1999's own example: valid, so masking it is realistic."""

DPI = 200
MM_PER_INCH = 25.4
MIN_QR_MM = 35.0


@dataclass(frozen=True)
class Printed:
    view: CertificateView
    claims: Claims
    pdf: Path
    trust: TrustList


def rasterise(pdf: Path, out: Path, dpi: int = DPI) -> Path:
    """The certificate's one page as a PNG at ``dpi``."""
    run("pdftoppm", "-r", dpi, "-png", "-singlefile", pdf, out)
    return out.with_suffix(".png")


def qr_codes(image: Image.Image) -> list[zxingcpp.Barcode]:
    """The QR codes on ``image``, as a phone's scanner reads them: QR only. Read for every
    format, a row of a QR code's modules now and then also decodes as a Codabar (about one
    token in 200), which no scanner pointed at the certificate would report."""
    return list(
        zxingcpp.read_barcodes(
            image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        )
    )


def any_barcodes(image: Image.Image) -> list[zxingcpp.Barcode]:
    """Every barcode of every format zxing-cpp knows on ``image``."""
    return list(zxingcpp.read_barcodes(image))


def corners(barcode: zxingcpp.Barcode) -> list[tuple[float, float]]:
    p = barcode.position
    return [
        (float(c.x), float(c.y)) for c in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
    ]


def view_of(c: Claims, url: str) -> CertificateView:
    """What the certificate prints for claims ``c`` signed into ``url``."""
    return CertificateView(
        serial=c.serial,
        kind_name=KIND_NAMES[c.kind][0],
        holder=c.holder,
        id_number_masked=mask_id_number(ID_NUMBER),
        occupation_name=get_occupation(c.occupation).name_zh,
        level_name=LEVEL_NAMES_ZH[Level(c.level)],
        issued=c.issued,
        expires=c.expires,
        issuer_name="某评价机构",
        authority_name="山东省人力资源和社会保障厅",
        url=url,
        verify_site="https://verify.example.cn",
        signature_algorithm="Ed25519",
    )


@pytest.fixture
def keys(database: Database) -> Database:
    return make_keys(database, kinds=[1, 2])


@pytest.fixture(params=[Kind.LEVEL, Kind.TRAINING], ids=["level", "training"])
def printed(request: pytest.FixtureRequest, keys: Database, tmp_path: Path) -> Printed:
    """A signed certificate rendered to PDF: a level one for life, a training one that expires."""
    if request.param is Kind.LEVEL:
        c = claims(holder="阿卜杜热合曼·买买提依明", occupation="smart_mfg")
    else:
        c = claims(kind=Kind.TRAINING, level="junior", expires=TODAY + timedelta(days=3 * 365))
    view = view_of(c, issue(keys, c))
    pdf = render_certificate(view, tmp_path / "out" / "certificate.pdf")
    return Printed(view, c, pdf, trust(keys))


def test_the_qr_code_decodes_to_the_url_and_verifies_as_genuine(
    printed: Printed, keys: Database, tmp_path: Path
) -> None:
    found = qr_codes(Image.open(rasterise(printed.pdf, tmp_path / "page")))
    assert len(found) == 1, found
    (code,) = found
    assert code.format == zxingcpp.BarcodeFormat.QRCode and code.valid
    assert code.text == printed.view.url
    report = verify_token(code.text, printed.trust, fresh_revocations(keys))
    assert report.verdict == "genuine", report.checks
    assert report.claims == printed.claims


def test_the_qr_code_is_at_least_35_mm_square_on_the_page(printed: Printed, tmp_path: Path) -> None:
    png = rasterise(printed.pdf, tmp_path / "page")
    image = Image.open(png).convert("L")
    (code,) = qr_codes(image)
    points = corners(code)
    sides = [math.dist(points[i], points[(i + 1) % 4]) * MM_PER_INCH / DPI for i in range(4)]
    assert min(sides) >= MIN_QR_MM, sides
    assert max(sides) - min(sides) < 1.0, sides  # square, not skewed
    # The same size measured another way: the box of dark pixels around what zxing found
    # (the quiet zone keeps anything else out of it).
    margin = 12  # px: less than the quiet zone of four modules (about 22 px here)
    xs, ys = [x for x, _ in points], [y for _, y in points]
    box = (
        int(min(xs)) - margin,
        int(min(ys)) - margin,
        int(max(xs)) + margin,
        int(max(ys)) + margin,
    )
    dark = image.crop(box).point(lambda v: 255 if v < 128 else 0).getbbox()
    assert dark is not None
    width_mm = (dark[2] - dark[0]) * MM_PER_INCH / DPI
    height_mm = (dark[3] - dark[1]) * MM_PER_INCH / DPI
    assert width_mm >= MIN_QR_MM and height_mm >= MIN_QR_MM, (width_mm, height_mm)
    intended = QR_SIZE / 72 * MM_PER_INCH  # points to mm
    assert abs(width_mm - intended) < 1.0 and abs(height_mm - intended) < 1.0
    # The caption sits under the code, as the page says.
    assert QR_CAPTION in run("pdftotext", printed.pdf, "-")


def test_the_qr_code_is_vector_not_a_picture(printed: Printed) -> None:
    listing = run("pdfimages", "-list", printed.pdf).splitlines()
    assert listing[2:] == [], listing  # header lines only: no raster image on the page


def test_a_page_without_the_qr_code_decodes_to_nothing(printed: Printed, tmp_path: Path) -> None:
    blank = Image.new("L", (2339, 1654), 255)  # A4 landscape at 200 dpi
    assert any_barcodes(blank) == []
    page = Image.open(rasterise(printed.pdf, tmp_path / "page")).convert("L")
    (code,) = qr_codes(page)
    xs = [x for x, _ in corners(code)]
    ys = [y for _, y in corners(code)]
    left, top, right, bottom = min(xs), min(ys), max(xs), max(ys)
    covered = page.copy()
    ImageDraw.Draw(covered).rectangle((left - 5, top - 5, right + 5, bottom + 5), fill=255)
    assert any_barcodes(covered) == []  # everything else on the page is no barcode
    half = page.crop((0, 0, int((left + right) / 2), page.height))
    assert qr_codes(half) == []  # half a code is no code


def test_the_text_names_the_holder_with_the_id_number_only_masked(printed: Printed) -> None:
    view = printed.view
    text = run("pdftotext", "-layout", printed.pdf, "-")
    flat = squeeze(text)
    for shown in (
        view.kind_name,
        "数字技术工程师培育项目",
        view.serial,
        view.holder,
        view.id_number_masked,
        view.occupation_name,
        view.level_name,
        view.issuer_name,
        f"{view.issued.year}年{view.issued.month}月{view.issued.day}日",
        "证书编号",
        "发证日期",
        "有效期",
        "发证机构",
    ):
        assert squeeze(shown) in flat, shown
    assert squeeze(statement(view)) in flat
    assert squeeze(verify_by_hand(view)) in flat
    assert "人工核验：访问 https://verify.example.cn" in text
    assert squeeze(signed_by(view)) in flat
    assert ID_NUMBER not in flat and ID_NUMBER.lower() not in flat
    assert view.id_number_masked == "110105********002X"
    if view.expires is None:
        assert "专业技术等级考核" in flat and "长期" in flat
    else:
        assert "培训并考核合格" in flat and "长期" not in flat
        assert f"{view.expires.year}年{view.expires.month}月{view.expires.day}日" in flat


def test_one_landscape_a4_page_with_only_embedded_fonts(printed: Printed) -> None:
    info = dict(
        line.split(":", 1) for line in run("pdfinfo", printed.pdf).splitlines() if ":" in line
    )
    assert info["Pages"].strip() == "1"
    width, height = (float(v) for v in info["Page size"].split("pts")[0].split(" x "))
    assert width > height
    assert (round(width), round(height)) == (842, 595)  # A4 turned on its side
    rows = run("pdffonts", printed.pdf).splitlines()[2:]
    assert rows, "no fonts listed"
    assert all(row.split()[-5] == "yes" for row in rows), rows  # the emb column
    assert all("WenQuanYi" in row or FONT_NAME in row for row in rows), rows


def test_the_same_view_prints_the_same_bytes(printed: Printed, tmp_path: Path) -> None:
    again = render_certificate(printed.view, tmp_path / "again.pdf")
    assert again.read_bytes() == printed.pdf.read_bytes()


def font_programs(pdf: bytes) -> dict[str, bytes]:
    """Each embedded font's name and the bytes of its font program stream, as written."""
    names = re.findall(rb"/BaseFont /([^\s/]+)", pdf)
    files = re.findall(rb"/Length1 \d+[^>]*>>\s*stream\r?\n(.*?)endstream", pdf, re.S)
    assert len(names) == len(files) == 2, (names, len(files))
    return dict(zip((n.decode() for n in names), files, strict=True))


def test_the_holders_name_has_its_own_font_and_the_rest_is_the_same_in_every_certificate(
    printed: Printed, tmp_path: Path
) -> None:
    """The page's text embeds the same subset for every holder of a batch (made once), and
    the name a subset of its own characters (a different name, a different subset)."""
    first = certificate_pdf(printed.view)
    other = certificate_pdf(printed.view.model_copy(update={"holder": "欧阳晓"}))
    ours, theirs = font_programs(first), font_programs(other)
    page = next(name for name in ours if not name.endswith("-Names-0"))
    name = next(name for name in ours if name.endswith("-Names-0"))
    assert ours[page] == theirs[page]
    assert ours[name] != theirs[name]
    (tmp_path / "other.pdf").write_bytes(other)
    assert "欧阳晓" in squeeze(run("pdftotext", tmp_path / "other.pdf", "-"))


def test_a_value_too_wide_for_its_column_wraps_inside_the_table(
    printed: Printed, tmp_path: Path
) -> None:
    long_name = "广东省数字技术工程师评价中心（广州分中心）人工智能与大数据专业技术等级评价部"
    view = printed.view.model_copy(update={"issuer_name": long_name})
    pdf = render_certificate(view, tmp_path / "long.pdf")
    text = run("pdftotext", "-layout", pdf, "-")
    assert squeeze(long_name) in squeeze(text)
    # Wrapped: the issuer's row holds two lines, and no line is wider than the page.
    lines = [line for line in text.splitlines() if "发证机构" in line or "评价部" in line]
    assert len(lines) >= 2, text
    (code,) = qr_codes(Image.open(rasterise(pdf, tmp_path / "page")))
    assert code.text == view.url


def test_remembered_font_parts_give_the_bytes_a_fresh_process_writes(
    printed: Printed, tmp_path: Path
) -> None:
    """Subsets, their compressed streams and widths come from per-process caches: a process
    that has printed other certificates writes the same bytes as one that starts cold."""
    for holder in ("欧阳晓", "王芳", printed.view.holder):
        certificate_pdf(printed.view.model_copy(update={"holder": holder}))
    warm = certificate_pdf(printed.view)
    (tmp_path / "view.json").write_text(printed.view.model_dump_json())
    script = (
        "import sys; from pathlib import Path;"
        "from schemas.certificates import CertificateView;"
        "from certify.certificates.document import certificate_pdf;"
        "view = CertificateView.model_validate_json(Path(sys.argv[1]).read_text());"
        "Path(sys.argv[2]).write_bytes(certificate_pdf(view))"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "view.json"), str(tmp_path / "cold.pdf")],
        check=True,
    )
    assert (tmp_path / "cold.pdf").read_bytes() == warm
