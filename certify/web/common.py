"""What several blueprints share: the trust list of this app, uploaded files, and the problems
found in what was posted, shown on the page that answers the post, and tables downloaded as
XLSX."""

from __future__ import annotations

import dataclasses
import re
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import abort, current_app, g, make_response, request, send_file, url_for
from flask.typing import ResponseReturnValue

from certify.infra.errors import Error, InputError, Problem, ValidationFailed
from certify.infra.tabular import table_bytes, write_table
from certify.signing.trust import TrustList
from certify.web.auth import current_account

UPLOADS = (".csv", ".xlsx")
PROBLEMS_ON_PAGE_ONLY = 10
"""Beyond this many problems the page also offers them as a CSV file."""
PROBLEM_FILES_KEPT = 3600
"""Seconds a problem file stays downloadable."""
PROBLEM_HEADER = ["文件 file", "行 row", "列 field", "代码 code", "问题", "problem"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_download(
    name: str, header: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str
) -> Any:
    """A table as an XLSX download: ``sheet`` names the sheet and the plain file name,
    ``name`` (Chinese allowed) the file name browsers that read RFC 5987 show."""
    response = make_response(table_bytes(header, rows, "xlsx", sheet))
    response.headers["Content-Type"] = XLSX
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{sheet}.xlsx\"; filename*=UTF-8''{quote(name)}"
    )
    return response


def trust() -> TrustList:
    """The trust list the app verifies against; 503 when none is configured."""
    found: TrustList | None = g.services.trust
    if found is None:
        abort(503, description="the trust list is not configured (CERTIFY_TRUST_LIST)")
    return found


def passphrase_allowed() -> bool:
    """May a key's passphrase be typed on this request? Only over HTTPS when the app runs with
    secure cookies (``CERTIFY_SECURE_COOKIES``, production); in development and tests, whose
    cookies travel over plain HTTP too, always."""
    return bool(request.is_secure or not current_app.config.get("SESSION_COOKIE_SECURE"))


def require_https() -> None:
    """Refuse (403) a form carrying a passphrase over plain HTTP in production, before reading
    it (behind a proxy, ``CERTIFY_TRUSTED_PROXIES`` lets its X-Forwarded-Proto count)."""
    if not passphrase_allowed():
        abort(
            403,
            description="a key's passphrase is accepted over HTTPS only / 密钥口令只能通过 HTTPS 提交",
        )


@contextmanager
def saved_upload(kind: str, suffixes: tuple[str, ...] = UPLOADS) -> Iterator[tuple[Path, str]]:
    """The posted ``file`` saved to a temporary folder: (its path, its name as the user knows
    it). Refuses (400) a missing file or one whose name does not end in one of ``suffixes``
    (by default CSV or XLSX); removed afterwards."""
    kinds = " or ".join(suffixes)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        abort(400, description=f"choose the {kind} file ({kinds})")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in suffixes:
        abort(400, description=f"the file must be {kinds}")
    display = Path(upload.filename).name[:200]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        upload.save(path)
        yield path, display


class BadDay(Error):
    """A day typed in a form that is not ``YYYY-MM-DD``."""

    code = "bad_date"

    def __init__(self, field: str, text: str) -> None:
        super().__init__(
            f"{field}: 日期格式应为 2026-06-01 / the date is YYYY-MM-DD: {text[:20]!r}"
        )
        self.field = field


def form_day(field: str, default: date | None = None) -> date | None:
    """The day typed in the form's ``field`` (``default`` when it is empty); raises BadDay."""
    text = request.form.get(field, "").strip()[:40]
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadDay(field, text) from None


@dataclass(frozen=True)
class PageProblems:
    """What was wrong with a post, for the page that answers it with status 400.

    Never flashed: a flash travels in the session cookie, which browsers drop beyond about
    4 KB, and a file with a few hundred bad rows says more than that."""

    summary: str
    problems: list[Problem]
    download: str | None = None
    """Where the problems can be downloaded as CSV, when there are many."""


def page_problems(exc: Error, upload: tuple[Path, str] | None = None) -> PageProblems:
    """The problems of ``exc``; with ``upload`` (saved path, name the user knows) the file is
    named as the user knows it."""
    path, display = upload if upload else (None, "")

    def named(text: str) -> str:
        return text.replace(str(path), display) if path else text

    problems = [dataclasses.replace(p, file=named(p.file)) for p in _problems_of(exc)]
    if isinstance(exc, ValidationFailed):
        summary = named("\n".join(exc.diagnostics().splitlines()[:2]))
    elif problems:
        summary = (
            f"{problems[0].where()}: 文件无法读取，未导入任何数据 / "
            "the file cannot be read; nothing was imported"
        )
    else:
        summary = named(exc.diagnostics())
    download = _save_problems(problems) if len(problems) > PROBLEMS_ON_PAGE_ONLY else None
    return PageProblems(summary, problems, download)


def _problems_of(exc: Error) -> list[Problem]:
    if isinstance(exc, ValidationFailed):
        return exc.problems
    if isinstance(exc, InputError):
        return [exc.problem]
    return []


def _fresh(path: Path, now: float) -> bool:
    try:
        return now - path.stat().st_mtime <= PROBLEM_FILES_KEPT
    except FileNotFoundError:  # removed by another worker meanwhile
        return False


def _problem_folder() -> Path:
    folder: Path = g.services.data_dir / "problems"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _problem_file(token: str) -> Path:
    account = current_account()
    assert account is not None
    return _problem_folder() / f"{account.id}-{token}.csv"


def _save_problems(problems: list[Problem]) -> str:
    """Write the problems as CSV for the signed-in account; returns the download URL (the
    blueprint answering the post serves them as ``<blueprint>.problems``)."""
    folder = _problem_folder()
    now = time.time()
    for old in folder.glob("*.csv"):  # everyone's files, kept an hour at most
        if not _fresh(old, now):
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(16)
    write_table(
        _problem_file(token),
        PROBLEM_HEADER,
        ([p.file, p.row, p.field, p.code, p.message_zh, p.message_en] for p in problems),
        sheet="problems",
    )
    return url_for(f"{request.blueprint}.problems", token=token)


def send_problems(token: str) -> ResponseReturnValue:
    """The problem file ``token`` of the signed-in account (404 once gone, or another's)."""
    return _send_kept(_problem_file(token), token, "problems-问题清单.csv")


def rejects_file() -> tuple[Path, str]:
    """Where a refused upload's rows may be written for the signed-in account to download, kept
    as long as a problem file: (the path, its token for :func:`send_rejects`)."""
    token = secrets.token_urlsafe(16)
    return _problem_file(token).with_suffix(".rejected.csv"), token


def rejects_token(path: str) -> str | None:
    """The token of the rejects file at ``path`` (as :func:`rejects_file` gave it) when it is the
    signed-in account's and still kept, for :func:`send_rejects`; None otherwise."""
    account = current_account()
    found = Path(path)
    prefix, suffix = f"{account.id if account else ''}-", ".rejected.csv"
    folder = _problem_folder().resolve()
    if account is None or found.parent != folder or not found.name.startswith(prefix):
        return None
    token = found.name[len(prefix) : -len(suffix)]
    kept = _problem_file(token).with_suffix(suffix).resolve()
    return token if kept == found and _fresh(found, time.time()) else None


def send_rejects(token: str, download_name: str) -> ResponseReturnValue:
    """The rejects file ``token`` of the signed-in account (404 once gone, or another's)."""
    return _send_kept(_problem_file(token).with_suffix(".rejected.csv"), token, download_name)


def _send_kept(path: Path, token: str, download_name: str) -> ResponseReturnValue:
    if not re.fullmatch(r"[A-Za-z0-9_-]{22}", token) or not _fresh(path, time.time()):
        abort(404)
    return send_file(path, mimetype="text/csv", as_attachment=True, download_name=download_name)
