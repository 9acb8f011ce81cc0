"""Request logs that keep holders out: a certificate's token decodes to its holder's full name,
so no log line carries one. A verification path is logged as a digest of its token (the same
for either case of the path, so the lines of one certificate can still be found:
``sha256(token)[:16]`` of the register's copy), and the lookup's query string not at all.

:class:`RedactingRequestHandler` does it for ``certify serve``; :class:`AccessLogger` for
gunicorn (``--logger-class certify.web.logs.AccessLogger``, docs/web.md); :func:`redact` for
the app's own error log.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from gunicorn.glogging import Logger
from werkzeug.serving import WSGIRequestHandler

_TOKEN_PATH = re.compile(r"(/[vV]/)([A-Za-z2-7]+)")
_LOOKUP_QUERY = re.compile(r"(/lookup)\?[^\s\"]*")


def token_digest(token: str) -> str:
    """The digest a log line shows in place of a token."""
    return hashlib.sha256(token.upper().encode("ascii")).hexdigest()[:16]


def redact(text: str) -> str:
    """``text`` with every verification token replaced by its digest and the lookup's query
    string (a holder's name, when someone sends the form as a GET) dropped."""
    text = _TOKEN_PATH.sub(lambda m: f"{m.group(1)}sha256:{token_digest(m.group(2))}", text)
    return _LOOKUP_QUERY.sub(r"\1?…", text)


class RedactingRequestHandler(WSGIRequestHandler):
    """The development server's request handler, logging redacted request lines."""

    def log(self, type: str, message: str, *args: Any) -> None:
        super().log(type, redact(message % args) if args else redact(message))


class AccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with every access-log atom redacted (request line, path, query,
    headers such as Referer)."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        found: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in found.items()}
