"""Public pages, no login: the verification page behind the QR code, the lookup by serial and
holder name, published notices, and the trust and revocation lists at stable URLs.

Nothing here shows more than the certificate itself shows: the holder's name and masked ID
number, the particulars, the verdict and its checks. Rate-limited per address.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, g, jsonify, render_template, request, send_file

from certify.certificates.verification import result_json, token_of_holder, verify_live
from certify.web.common import trust
from schemas.enums import Verdict

blueprint = Blueprint("public", __name__)
TOKEN = re.compile(r"[A-Za-z2-7]{1,2000}")
SERIAL = re.compile(r"[0-9]{6,40}")
NOTICE = re.compile(r"[A-Za-z0-9-]{1,64}")


@blueprint.before_request
def _rate_limit() -> None:
    address = request.remote_addr or "?"
    if not g.services.limiter.allow(address, "public"):
        abort(429)


@blueprint.get("/")
def index() -> Any:
    return render_template("index.html")


@blueprint.get("/healthz")
def healthz() -> Any:
    return jsonify({"ok": True})


@blueprint.get("/v/<token>")
@blueprint.get("/V/<token>")
def verify_page(token: str) -> Any:
    """The page a phone camera opens from the QR code (the path is upper-case there)."""
    if not TOKEN.fullmatch(token):
        return _page(None, Verdict.NOT_GENUINE, status=400)
    report, register = verify_live(g.engine, token.upper(), trust())
    return _page(result_json(report, register), report.verdict)


def _page(result: dict[str, Any] | None, verdict: Verdict, status: int = 200) -> Any:
    return (
        render_template(
            "verify.html",
            result=result,
            verdict=verdict.value,
            verdict_zh=verdict.zh,
            verdict_en=verdict.en,
        ),
        status,
    )


@blueprint.route("/lookup", methods=["GET", "POST"])
def lookup() -> Any:
    """Verify by serial and holder name, as printed on the certificate. The form posts, so the
    holder's name stays out of URLs and access logs; a GET with the same fields also works."""
    serial = request.values.get("serial", "").strip()
    name = request.values.get("name", "").strip()
    if not serial and not name:
        return render_template("index.html")
    if not SERIAL.fullmatch(serial) or not 1 <= len(name) <= 64:
        return render_template("index.html", problem=True, serial=serial, name=name), 400
    token = token_of_holder(g.engine, serial, name)
    if token is None:
        return render_template("index.html", not_found=True, serial=serial, name=name), 404
    report, register = verify_live(g.engine, token, trust())
    return _page(result_json(report, register), report.verdict)


@blueprint.get("/trust-list.json")
def trust_list() -> Any:
    document = g.services.trust_document
    if document is None:
        abort(404, description="no trust list is published here")
    return jsonify(document)


@blueprint.get("/revocations.json")
def revocations() -> Any:
    document = g.services.revocations_document
    if document is None:
        abort(404, description="no revocation list is published here")
    return jsonify(document)


@blueprint.get("/notices/<code>")
def notice(code: str) -> Any:
    """A published pass list (公示), masked: the page, or its PDF with ``.pdf``."""
    stem, pdf = (code[:-4], True) if code.endswith(".pdf") else (code, False)
    if not NOTICE.fullmatch(stem):
        abort(404)
    folder: Path = g.services.data_dir / "notices"
    path = folder / f"{stem}-公示.{'pdf' if pdf else 'html'}"
    if not path.is_file():
        abort(404)
    return send_file(path.resolve(), mimetype="application/pdf" if pdf else "text/html")
