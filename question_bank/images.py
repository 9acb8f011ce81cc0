"""Images kept with items (题目图片): a circuit diagram in a stem, a chart as an option.

An item's text names an image by a marker, ``![alt](sha256:<64 hex>)``, where the hash is the
SHA-256 of the image's bytes. The bytes are stored once in ``item_image``, whatever number of
items shows them, and since the marker is part of the text the content hash of an item covers
its images: a changed picture is a new item version.

Every image is checked before it is stored (:func:`check_image`): PNG, JPEG or GIF only (no
SVG, which can carry script), at most :data:`MAX_IMAGE_BYTES`, at most :data:`MAX_SIDE` pixels
a side (read from the header before anything is decoded, so a decompression bomb is refused
unopened), and decoded in full once, so a truncated or forged file is refused at import rather
than at printing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from PIL import Image
from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select

from certify.infra.db import chunked
from schemas.tables import ItemImage, utcnow

MARKER = re.compile(r"!\[([^\[\]\n<>&\"]{0,100})\]\(sha256:([0-9a-f]{64})\)")
"""An image in an item's text: ``![alt](sha256:<hash>)``; alt text without brackets, markup
characters or line breaks, at most 100 characters."""

MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4096
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif"}


class ImageRefused(ValueError):
    """An image certify will not keep, with the reason in Chinese and English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


@dataclass(frozen=True)
class CheckedImage:
    """An image that passed :func:`check_image`."""

    sha256: str
    media_type: str
    width: int
    height: int
    data: bytes

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.media_type]

    @property
    def file_name(self) -> str:
        """The name an export gives it: its hash, so one picture is one file."""
        return f"{self.sha256}.{self.extension}"

    def data_uri(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


def check_image(data: bytes) -> CheckedImage:
    """``data`` as a :class:`CheckedImage`; raises ImageRefused naming what is wrong."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRefused(
            f"图片超过 {MAX_IMAGE_BYTES // 1024 // 1024} MB",
            f"the image is larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(MEDIA_TYPES)) as picture:
                kind, (width, height) = picture.format or "", picture.size
                if max(width, height) > MAX_SIDE or min(width, height) < 1:
                    raise ImageRefused(
                        f"图片尺寸 {width}×{height} 超出范围（每边 1 到 {MAX_SIDE} 像素）",
                        f"the image is {width}×{height}; each side must be 1 to {MAX_SIDE} pixels",
                    )
                picture.load()
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRefused(
            f"图片像素过多（每边至多 {MAX_SIDE} 像素）",
            f"the image has too many pixels (each side at most {MAX_SIDE})",
        ) from error
    except (OSError, ValueError, SyntaxError, Warning) as error:
        raise ImageRefused(
            "不是可读的 PNG、JPEG 或 GIF 图片",
            f"not a readable PNG, JPEG or GIF image ({type(error).__name__})",
        ) from error
    return CheckedImage(hashlib.sha256(data).hexdigest(), MEDIA_TYPES[kind], width, height, data)


def clean_alt(text: str) -> str:
    """Alt text as a marker can hold it: characters it cannot hold (and control characters)
    dropped, spaces made one, at most 100 characters."""
    kept = "".join(c for c in text if c not in '[]<>&"' and unicodedata.category(c)[0] != "C")
    return " ".join(kept.split())[:100].strip()


def marker(sha256: str, alt: str = "") -> str:
    """The marker that shows image ``sha256`` with ``alt`` text."""
    return f"![{clean_alt(alt)}](sha256:{sha256})"


def segments(text: str) -> list[str | tuple[str, str]]:
    """``text`` cut at its markers: strings of text, and (alt, sha256) for each image."""
    out: list[str | tuple[str, str]] = []
    at = 0
    for found in MARKER.finditer(text):
        if found.start() > at:
            out.append(text[at : found.start()])
        out.append((found.group(1), found.group(2)))
        at = found.end()
    if at < len(text):
        out.append(text[at:])
    return out


def hashes_in(texts: Iterable[str]) -> set[str]:
    """The images that ``texts`` show."""
    return {
        found.group(2) for text in texts if "](sha256:" in text for found in MARKER.finditer(text)
    }


class Shows(Protocol):
    """An item as a bank or a paper holds it: the texts in which images are shown."""

    @property
    def stem(self) -> str: ...
    @property
    def options(self) -> dict[str, str]: ...
    @property
    def premises(self) -> list[str]: ...


def shown_texts(*items: Shows) -> Iterator[str]:
    """The texts of ``items`` in which images are shown: stems, options and premises (the key
    and the rubric are text only)."""
    for item in items:
        yield item.stem
        yield from item.options.values()
        yield from item.premises


# --- storage -------------------------------------------------------------------------------------


def load_images(session: Session, hashes: Iterable[str]) -> dict[str, CheckedImage]:
    """The stored images among ``hashes``, by hash."""
    found: dict[str, CheckedImage] = {}
    for some in chunked(sorted(set(hashes))):
        for row in session.exec(select(ItemImage).where(col(ItemImage.sha256).in_(some))):
            found[row.sha256] = CheckedImage(
                row.sha256, row.media_type, row.width, row.height, bytes(row.data)
            )
    return found


def images_in(engine: Engine, texts: Iterable[str]) -> dict[str, CheckedImage]:
    """The stored images that ``texts`` show, by hash (no query when they show none)."""
    shown = hashes_in(texts)
    if not shown:
        return {}
    with Session(engine) as session:
        return load_images(session, shown)


def stored_hashes(session: Session, hashes: Iterable[str]) -> set[str]:
    """Which of ``hashes`` are stored (their bytes are not read)."""
    found: set[str] = set()
    for some in chunked(sorted(set(hashes))):
        found.update(session.exec(select(ItemImage.sha256).where(col(ItemImage.sha256).in_(some))))
    return found


def store_images(session: Session, images: Iterable[CheckedImage]) -> int:
    """Store the images not stored yet; returns how many were new."""
    by_hash = {image.sha256: image for image in images}
    new = [by_hash[h] for h in sorted(set(by_hash) - stored_hashes(session, by_hash))]
    if new:
        session.execute(
            insert(ItemImage),
            [
                {
                    "sha256": i.sha256,
                    "media_type": i.media_type,
                    "width": i.width,
                    "height": i.height,
                    "size": len(i.data),
                    "data": i.data,
                    "created_at": utcnow(),
                }
                for i in new
            ],
        )
    return len(new)
