"""Reading a token from what a person has: the token text, the URL, a picture, or the PDF."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from certify.errors import Error


class NoCode(Error):
    code = "no_code"


def decode_picture(path: Path) -> str:
    """The text of the QR code in a picture; raises NoCode when there is none."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
    except (OSError, UnidentifiedImageError):
        raise NoCode(
            f"{path} 不是可读取的图片 / {path} is not a picture that can be read"
        ) from None
    found = [
        b.text for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode
    ]
    if not found:
        raise NoCode(f"{path} 中没有二维码 / no QR code in {path}")
    return str(found[0])


def decode_pdf(path: Path, dpi: int = 200) -> str:
    """The QR text on the first page of a certificate PDF (rendered with pdftoppm)."""
    if shutil.which("pdftoppm") is None:
        raise NoCode(
            "需要 poppler-utils 中的 pdftoppm / pdftoppm (poppler-utils) is needed to read PDFs"
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [
                "pdftoppm",
                "-r",
                str(dpi),
                "-png",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(path),
                f"{tmp}/page",
            ],
            capture_output=True,
            check=False,
        )
        page = Path(tmp) / "page.png"
        if result.returncode != 0 or not page.exists():
            raise NoCode(f"{path} 不是可读取的 PDF / {path} is not a readable PDF")
        return decode_picture(page)


def read_token_text(given: str) -> str:
    """Token text from a token, a URL, or the path of a PNG/JPEG picture or a PDF."""
    path = Path(given)
    if path.suffix.lower() in (".png", ".jpg", ".jpeg") and path.exists():
        return decode_picture(path)
    if path.suffix.lower() == ".pdf" and path.exists():
        return decode_pdf(path)
    return given
