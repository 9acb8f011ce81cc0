"""What several blueprints share: the trust list of this app, and uploaded files."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import abort, g, request

from certify.signing.trust import TrustList

UPLOADS = (".csv", ".xlsx")


def trust() -> TrustList:
    """The trust list the app verifies against; 503 when none is configured."""
    found: TrustList | None = g.services.trust
    if found is None:
        abort(503, description="the trust list is not configured (CERTIFY_TRUST_LIST)")
    return found


@contextmanager
def saved_upload(kind: str) -> Iterator[tuple[Path, str]]:
    """The posted ``file`` saved to a temporary folder: (its path, its name as the user knows
    it). Refuses (400) a missing file or one that is not CSV or XLSX; removed afterwards."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        abort(400, description=f"choose the {kind} file (.csv or .xlsx)")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in UPLOADS:
        abort(400, description="the file must be .csv or .xlsx")
    display = Path(upload.filename).name[:200]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        upload.save(path)
        yield path, display
