"""Title review committees (login): bulk checks of serials or tokens from a CSV/XLSX, optionally
confirming each holder by the applicant's ID number, with status and eligibility; results on the
page and as CSV/XLSX downloads; and the lookup of one person's credentials by ID number."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, send_file, url_for

from certify.certificates.checks import CheckNotFound, owned_check, recent_checks, save_check
from certify.certificates.holders import HolderCheckRefused, lookup_credentials
from certify.certificates.verification import CheckRow, check_rows
from certify.entitlements.eligibility import EligibilityError
from certify.infra.errors import Error
from certify.infra.rows import Columns, read_rows, text
from certify.infra.tabular import table_bytes
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import PageProblems, page_problems, saved_upload, send_problems, trust
from schemas.enums import CheckedStatus, RecordStatus
from schemas.tables import CommitteeCheck

blueprint = Blueprint("committee", __name__, url_prefix="/committee")
COMMITTEE = ("committee", "admin")
MAX_ROWS = 10_000
COLUMNS = {
    "serial": ("serial", "证书编号", "编号"),
    "token": ("token", "url", "二维码", "二维码内容", "令牌", "验证链接"),
    "id_number": ("id_number", "身份证号", "身份证号码", "证件号码"),
}
LONGEST = {"serial": 40, "token": 4000, "id_number": 64}
"""Characters a cell of each column may hold: a serial's own length (the register's column), a
token or ID number as much as the API takes. What each row echoes back in the stored results
(its ``input``) is bounded by these."""
DOWNLOAD_HEADER = [
    "行号",
    "证书编号",
    "验证结论",
    "证书状态",
    "持证人",
    "身份证号（脱敏）",
    "职业",
    "等级",
    "发证日期",
    "持证人核对",
    "资格衔接",
    "说明",
]


CHECKS = Columns(COLUMNS, required=[("serial", "token")])
CELLS = {
    "serial": text(
        longest=LONGEST["serial"],
        hint_zh="；若是二维码内容，请放在“二维码内容”列",
        hint_en="; if it is what the QR code holds, put it under 二维码内容",
    ),
    "token": text(longest=LONGEST["token"]),
    "id_number": text(longest=LONGEST["id_number"]),
}


def read_check_file(path: Path) -> list[CheckRow]:
    """The rows of an uploaded file; raises certify's input errors (file, row, field named),
    ValidationFailed naming every cell longer than :data:`LONGEST` allows."""
    rows = read_rows(path, CHECKS, max_bytes=8 * 1024 * 1024, max_rows=MAX_ROWS)
    found = [CheckRow(**{c: row.get(c, parse) or "" for c, parse in CELLS.items()}) for row in rows]
    rows.refuse()
    return found


@blueprint.get("/")
@require_role(*COMMITTEE)
def index() -> Any:
    return _page()


def _page(problems: PageProblems | None = None) -> str:
    account = current_account()
    assert account is not None
    assert account.id is not None
    recent = recent_checks(g.engine, account.id)
    return render_template("committee.html", recent=recent, problems=problems)


@blueprint.post("/checks")
@require_role(*COMMITTEE)
def upload() -> Any:
    check_csrf()
    account = current_account()
    assert account is not None and account.id is not None
    with saved_upload("check") as upload:
        try:
            rows = read_check_file(upload[0])
        except Error as exc:  # every problem on the page, the file named as the user knows it
            return _page(page_problems(exc, upload)), 400
    results = check_rows(
        g.engine,
        trust(),
        g.services.vault,
        rows,
        account_id=account.id,
        actor=f"web:{account.username}",
    )
    check_id = save_check(g.engine, account.id, upload[1], results)
    return redirect(url_for("committee.show", check_id=check_id))


def _owned(check_id: int) -> CommitteeCheck:
    account = current_account()
    assert account is not None and account.id is not None
    try:
        return owned_check(g.engine, account.id, check_id)
    except CheckNotFound:
        abort(404)


@blueprint.get("/checks/<int:check_id>")
@require_role(*COMMITTEE)
def show(check_id: int) -> Any:
    row = _owned(check_id)
    return render_template("committee_check.html", check=row, rows=_table(row.rows))


def _table(results: list[dict[str, Any]]) -> list[list[str]]:
    table = []
    for n, r in enumerate(results, start=1):
        cert = r.get("certificate") or {}
        match = r.get("holder_match")
        table.append(
            [
                str(n),
                cert.get("serial", r.get("input", {}).get("serial", "")),
                r["verdict_zh"],
                CheckedStatus(r["status"]).zh,
                cert.get("holder", ""),
                cert.get("id_number_masked") or "",
                cert.get("occupation_zh", ""),
                cert.get("level_zh", ""),
                cert.get("issued_on", ""),
                "" if match is None else ("一致" if match else "不一致"),
                "；".join(
                    f"{e['zh']}（{RecordStatus(e['status']).zh}）" for e in r.get("eligibility", [])
                ),
                r.get("id_number_error") or "；".join(c["zh"] for c in r["checks"] if not c["ok"]),
            ]
        )
    return table


@blueprint.get("/checks/<int:check_id>.<fmt>")
@require_role(*COMMITTEE)
def download(check_id: int, fmt: str) -> Any:
    row = _owned(check_id)
    table = _table(row.rows)
    if fmt not in ("csv", "xlsx"):
        abort(404)
    mimetype = {
        "csv": "text/csv",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[fmt]
    return send_file(
        io.BytesIO(table_bytes(DOWNLOAD_HEADER, table, fmt, "核验结果")),
        mimetype=mimetype,
        as_attachment=True,
        download_name=f"核验结果-{check_id}.{fmt}",
    )


@blueprint.get("/problems/<token>.csv")
@require_role(*COMMITTEE)
def problems(token: str) -> Any:
    """The problems of this account's last refused upload, as CSV."""
    return send_problems(token)


@blueprint.post("/lookup")
@require_role(*COMMITTEE)
def lookup() -> Any:
    """One person's credentials by ID number and name (posted, so they stay out of URLs and
    logs), within the account's holder-check budget."""
    check_csrf()
    account = current_account()
    assert account is not None and account.id is not None
    vault = g.services.vault
    if vault is None:
        abort(503, description="the ID-number secret is not configured (CERTIFY_SECRET_KEY)")
    try:
        found = lookup_credentials(
            g.engine,
            vault,
            request.form.get("id_number", ""),
            request.form.get("name", ""),
            account_id=account.id,
            actor=f"web:{account.username}",
        )
    except HolderCheckRefused as exc:
        return render_template("committee.html", recent=[], lookup_error=exc.diagnostics()), 429
    except EligibilityError as exc:
        return render_template("committee.html", recent=[], lookup_error=exc.diagnostics()), 400
    return render_template("committee_lookup.html", found=[c.as_json() for c in found])
