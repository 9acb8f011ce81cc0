"""Certificates and keys in the browser (login, admin role): a sitting's certificates issued as a
background job with its progress, listed a page at a time, downloaded singly or as one ZIP
(each PDF checked against the register's fingerprint, every download audited); the signing
keys listed, created and rotated; the root-signed trust and revocation lists made for download.

Every page calls what ``certify issue`` and ``certify keys`` call
(:mod:`certify.certificates.issuance_job`, :mod:`certify.certificates.files`,
:mod:`certify.keys.store`, :mod:`certify.keys.publish`). A key's passphrase is typed in a form,
accepted over HTTPS only in production (:func:`certify.web.common.require_https`), used in the
request that opens the key (and, for issuance, by the job's thread of this process) and never
stored; a refused form keeps everything typed but the passphrase."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from certify.certificates.files import (
    CERTIFICATE_SORTS,
    all_sitting_certificates,
    certificate_pdf,
    sitting_certificates,
    sitting_zip,
)
from certify.certificates.issuance import DEFAULT_PROVINCE
from certify.certificates.issuance_job import (
    ISSUE_LEVEL,
    IssueRequest,
    certificate_folder,
    start_issuance,
)
from certify.certificates.revocation import changes_from, revocation_list
from certify.infra.errors import Error, NotFound
from certify.infra.jobs import latest_job
from certify.institutions.registry import list_institutions
from certify.keys.publish import (
    REVOCATIONS,
    TRUST_LIST,
    build_trust_list,
    publish_list,
    published_lists,
)
from certify.keys.store import (
    KEY_SORTS,
    create_key,
    keys_page,
    list_keys,
    rotate_key,
    signing_material,
)
from certify.signing.algorithms import OPTIONS, algorithm_named
from certify.web.auth import check_csrf, current_account, require_role
from certify.web.common import (
    PageProblems,
    page_problems,
    passphrase_allowed,
    require_https,
    xlsx_download,
)
from certify.web.jobs import actor
from schemas.enums import CertificateKind, Level
from schemas.reference import occupations

blueprint = Blueprint("certificates", __name__, url_prefix="/admin")
ADMIN = ("admin",)
PER_PAGE = (20, 50, 100, 200)
PASSPHRASE_MAX = 1024
ISSUER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,63}")


def _whole(name: str, default: int) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and 0 < int(value) < 1_000_000 else default


def _form(name: str, limit: int = 200) -> str:
    return request.form.get(name, "")[:limit].strip()


def _passphrase(name: str = "passphrase") -> str:
    return request.form.get(name, "")[:PASSPHRASE_MAX]


def issuers(kind: CertificateKind) -> list[str]:
    """The institutions whose active key may sign certificates of ``kind``."""
    return sorted(
        {
            k.issuer
            for k in list_keys(g.engine)
            if k.role != "root"
            and k.retired_at is None
            and kind.code in k.scope.get("kinds", [kind.code])
        }
    )


def _folder(code: str) -> Path:
    return certificate_folder(g.services.data_dir, ISSUE_LEVEL, code)


# --- a sitting's certificates ----------------------------------------------------------------


LIST_ARGS = ("sort", "dir", "page", "per_page")
"""The query arguments that say which page of the list is shown (kept across a post)."""


def list_args() -> dict[str, Any]:
    """The list's sort and page as this request names them (to come back to the same page)."""
    return {n: request.args.get(n, "")[:20] for n in LIST_ARGS if request.args.get(n)}


def sitting_page(
    code: str,
    problems: PageProblems | None = None,
    status: int = 200,
    changing: Mapping[str, str] | None = None,
) -> Any:
    """The sitting's certificates page; ``changing`` is a refused status change as typed
    (serial, action, reason), put back in its row."""
    sort = request.args.get("sort", "serial")
    page = sitting_certificates(
        g.engine,
        code,
        sort=sort,
        descending=request.args.get("dir") == "desc",
        page=_whole("page", 1),
        per_page=_whole("per_page", 50),
    )
    typed = {
        "issuer": request.form.get("issuer", ""),
        "site": request.form.get("site", "") or request.host_url.rstrip("/"),
        "province": request.form.get("province", "")
        or current_app.config.get("CERTIFY_PROVINCE", DEFAULT_PROVINCE),
    }
    return render_template(
        "certificates.html",
        code=code,
        page=page,
        job=latest_job(g.engine, ISSUE_LEVEL, code),
        issuers=issuers(CertificateKind.LEVEL),
        typed=typed,
        problems=problems,
        passphrase_ok=passphrase_allowed(),
        per_pages=PER_PAGE,
        sorts=CERTIFICATE_SORTS,
        changes_from=changes_from,
        changing=changing or {},
        list_args=list_args(),
    ), status


@blueprint.get("/sittings/<code>/certificates")
@require_role(*ADMIN)
def sitting(code: str) -> Any:
    return sitting_page(code)


@blueprint.post("/sittings/<code>/certificates/issue")
@require_role(*ADMIN)
def issue(code: str) -> Any:
    check_csrf()
    require_https()
    sitting_certificates(g.engine, code, per_page=1)  # an unknown sitting is 404 first
    account = current_account()
    try:
        job = start_issuance(
            g.engine,
            ISSUE_LEVEL,
            code,
            IssueRequest(
                _form("issuer", 64),
                _form("site") or request.host_url.rstrip("/"),
                _form("province", 8)
                or current_app.config.get("CERTIFY_PROVINCE", DEFAULT_PROVINCE),
            ),
            _passphrase(),
            data_dir=g.services.data_dir,
            actor=actor(),
            account_id=account.id if account else None,
        )
    except NotFound:
        raise
    except Error as exc:
        return sitting_page(code, page_problems(exc), 400)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.get("/sittings/<code>/certificates/<serial>.pdf")
@require_role(*ADMIN)
def pdf(code: str, serial: str) -> Any:
    data = certificate_pdf(g.engine, code, serial[:40], _folder(code), actor=actor())
    response = make_response(data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{serial[:40]}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/sittings/<code>/certificates.zip")
@require_role(*ADMIN)
def archive(code: str) -> Any:
    spool = sitting_zip(g.engine, code, _folder(code), actor=actor())
    response = send_file(
        spool,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"certificates-{code.encode().hex()[:64]}.zip",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/sittings/<code>/certificates.xlsx")
@require_role(*ADMIN)
def workbook(code: str) -> Any:
    header = ["证书编号 serial", "准考证号 admission no.", "持证人 holder (masked)",
              "状态 status", "发证日期 issued", "密钥 kid"]  # fmt: skip
    rows = (
        [c.serial, c.admission_no, c.holder, c.status.value, c.issued_on.isoformat(), c.kid]
        for c in all_sitting_certificates(g.engine, code)
    )
    return xlsx_download("certificates.xlsx", header, rows, "certificates")


# --- keys ------------------------------------------------------------------------------------


def _keys_page(
    problems: PageProblems | None = None,
    typed: Mapping[str, Any] | None = None,
    form: str = "",
    status: int = 200,
) -> Any:
    page = keys_page(
        g.engine,
        sort=request.args.get("sort", "issuer"),
        descending=request.args.get("dir") == "desc",
        page=_whole("page", 1),
        per_page=_whole("per_page", 50),
    )
    return render_template(
        "keys.html",
        page=page,
        sorts=KEY_SORTS,
        per_pages=PER_PAGE,
        problems=problems,
        form=form,
        typed=typed or {},
        algorithms=OPTIONS,
        kinds=list(CertificateKind),
        occupations=occupations(),
        levels=list(Level),
        institutions=sorted({k.issuer for k in list_keys(g.engine) if k.role != "root"}),
        registered=[(v.code, v.name) for v in list_institutions(g.engine)],
        passphrase_ok=passphrase_allowed(),
        published_trust=g.services.trust_document is not None,
        published_revocations=g.services.revocations_document is not None,
        published=published_lists(g.engine),
    ), status


@blueprint.get("/keys/")
@require_role(*ADMIN)
def keys() -> Any:
    return _keys_page()


@blueprint.get("/keys.xlsx")
@require_role(*ADMIN)
def keys_workbook() -> Any:
    header = ["机构 issuer", "名称 name", "角色 role", "算法 algorithm", "kid", "状态 state",
              "生效 valid from", "失效 valid until", "范围 scope"]  # fmt: skip
    rows = (
        [
            k.issuer,
            k.scope.get("name", ""),
            k.role,
            k.algorithm,
            k.kid,
            "retired" if k.retired_at else "active",
            k.valid_from.isoformat(),
            k.valid_until.isoformat() if k.valid_until else "",
            json.dumps({n: v for n, v in k.scope.items() if n != "name"}, ensure_ascii=False),
        ]
        for k in list_keys(g.engine)
    )
    return xlsx_download("keys.xlsx", header, rows, "keys")


class _Refused(Error):
    code = "form"


def _confirmed(passphrase: str) -> str:
    if passphrase != _passphrase("confirm"):
        raise _Refused("两次输入的口令不一致 / the passphrase and its confirmation differ")
    return passphrase


@blueprint.post("/keys/new")
@require_role(*ADMIN)
def create() -> Any:
    check_csrf()
    require_https()
    issuer, algorithm = _form("issuer", 64), _form("algorithm", 16)
    chosen = {n: request.form.getlist(n)[:20] for n in ("kinds", "occupations", "levels")}
    typed: dict[str, Any] = {"issuer": issuer, "algorithm": algorithm, **chosen}
    try:
        if not issuer:
            raise _Refused("请选择机构 / choose the institution")
        unknown = [o for o in chosen["occupations"] if o not in {x.slug for x in occupations()}]
        unknown += [lv for lv in chosen["levels"] if lv not in {x.value for x in Level}]
        if unknown:
            raise _Refused(f"未知的职业或等级 / unknown occupation or level: {unknown[0][:40]!r}")
        kinds = [_kind(k) for k in chosen["kinds"]] or [CertificateKind.LEVEL.code]
        row = create_key(
            g.engine,
            role="institution",
            issuer=issuer,
            name="",  # the institution's own, from its record
            passphrase=_confirmed(_passphrase()),
            scope={
                "kinds": kinds,
                "occupations": chosen["occupations"],
                "levels": chosen["levels"],
            },
            algorithm=algorithm_named(algorithm or "ed25519"),
            actor=actor(),
        )
    except Error as exc:
        return _keys_page(page_problems(exc), typed, "create", 400)
    flash(f"签名密钥 signing key {row.kid} ({row.algorithm}) · {row.issuer}")
    return redirect(url_for("certificates.keys"))


def _kind(text: str) -> int:
    try:
        return CertificateKind(text).code
    except ValueError:
        raise _Refused(f"证书类别无效 / unknown kind of certificate: {text[:20]!r}") from None


@blueprint.post("/keys/rotate")
@require_role(*ADMIN)
def rotate() -> Any:
    check_csrf()
    require_https()
    typed = {"issuer": _form("issuer", 64), "algorithm": _form("algorithm", 16)}
    try:
        # Only whoever can open the key in use may replace it (the command line, on the server,
        # is the way out for a lost passphrase).
        signing_material(g.engine, typed["issuer"], _passphrase("current"))
        row = rotate_key(
            g.engine,
            typed["issuer"],
            _confirmed(_passphrase()),
            algorithm=algorithm_named(typed["algorithm"]) if typed["algorithm"] else None,
            actor=actor(),
        )
    except Error as exc:
        return _keys_page(page_problems(exc), typed, "rotate", 400)
    flash(
        f"新密钥 new key {row.kid} ({row.algorithm}) · {row.issuer}; 旧密钥已停用但仍公布 / the old key is retired but still published"
    )
    return redirect(url_for("certificates.keys"))


def _signed_download(document: dict[str, Any], name: str) -> Any:
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    response = make_response(text.encode("utf-8"))
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/keys/trust-list.json")
@require_role(*ADMIN)
def trust_list() -> Any:
    check_csrf()
    require_https()
    typed = {"publish": request.form.get("publish", "")}
    try:
        document = build_trust_list(g.engine, _passphrase(), actor=actor())
        if typed["publish"]:
            return _published(publish_list(g.engine, TRUST_LIST, document, actor=actor()))
    except Error as exc:
        return _keys_page(page_problems(exc), typed, "trust", 400)
    return _signed_download(document, "trust-list.json")


@blueprint.post("/keys/revocations.json")
@require_role(*ADMIN)
def revocations() -> Any:
    check_csrf()
    require_https()
    typed = {
        "max_age_hours": _form("max_age_hours", 8) or "24",
        "publish": request.form.get("publish", ""),
    }
    try:
        hours = float(typed["max_age_hours"])
        if not 0 < hours <= 24 * 90:
            raise ValueError
    except ValueError:
        refused = _Refused("最长有效时间须为 0–2160 小时 / the maximum age is 0–2160 hours")
        return _keys_page(page_problems(refused), typed, "revocations", 400)
    try:
        document = revocation_list(g.engine, _passphrase(), max_age_hours=hours, actor=actor())
        if typed["publish"]:
            return _published(publish_list(g.engine, REVOCATIONS, document, actor=actor()))
    except Error as exc:
        return _keys_page(page_problems(exc), typed, "revocations", 400)
    return _signed_download(document, "revocations.json")


def _published(ident: int) -> Any:
    """Back to the keys page once a list is published (this process looks at once; the
    others within seconds)."""
    g.services.lists.look_now()
    flash(f"已发布 #{ident}，本站各进程数秒内生效 / published #{ident}: every process of the site "
          "uses it within seconds")  # fmt: skip
    return redirect(url_for("certificates.keys"))
