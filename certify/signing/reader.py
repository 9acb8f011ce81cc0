"""Reading a token from what a person has: the token text, the URL, a picture, or the PDF."""

from __future__ import annotations

from pathlib import Path

from certify.infra.errors import Error


class NoCode(Error):
    code = "no_code"


def _qr_texts(image: object) -> list[str]:
    import zxingcpp

    # QR only: a linear decoder run over a QR code's modules can read a row as a Codabar, and
    # skipping the linear formats is faster besides.
    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    return [str(b.text) for b in zxingcpp.read_barcodes(image, formats=qr_only)]


def decode_picture(path: Path) -> str:
    """The text of the QR code in a picture; raises NoCode when there is none."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
    except (OSError, UnidentifiedImageError):
        raise NoCode(
            f"{path} 不是可读取的图片 / {path} is not a picture that can be read"
        ) from None
    found = _qr_texts(image)
    if not found:
        raise NoCode(f"{path} 中没有二维码 / no QR code in {path}")
    return found[0]


def decode_pdf(path: Path, dpi: int = 200) -> str:
    """The QR text on the first page of a certificate PDF (rendered with PDFium via pypdfium2,
    which installs from PyPI with everything it needs)."""
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(path)
        try:
            picture = document[0].render(scale=dpi / 72).to_pil()
        finally:
            document.close()
    except (pypdfium2.PdfiumError, IndexError, OSError):
        raise NoCode(f"{path} 不是可读取的 PDF / {path} is not a readable PDF") from None
    found = _qr_texts(picture)
    if not found:
        raise NoCode(f"{path} 中没有二维码 / no QR code in {path}")
    return found[0]


def read_token_text(given: str) -> str:
    """Token text from a token, a URL, or the path of a PNG/JPEG picture or a PDF."""
    path = Path(given)
    if path.suffix.lower() in (".png", ".jpg", ".jpeg") and path.exists():
        return decode_picture(path)
    if path.suffix.lower() == ".pdf" and path.exists():
        return decode_pdf(path)
    return given
