"""Accounts in the browser: admins list, create, enable and disable accounts, change their
roles, reset their passwords and read the sign-in history (``/admin/accounts/``); everyone
signed in changes their own password (``/account/password``), and must, after an admin set it.

Every page calls the functions ``certify users`` calls (:mod:`certify.accounts`,
:mod:`certify.accounts.directory`); every change is audited under ``web:<username>``. A refused
change answers with the page itself, status 400, the reason beside the field at fault and what
was typed kept — except passwords, which no page ever shows again but the one that hands over
a generated password, once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, g, make_response, redirect, render_template, request
from flask import url_for as _url_for

from certify.accounts import (
    MAX_PASSWORD,
    AccountError,
    change_password,
    create_account,
    generate_password,
    reset_password,
    set_active,
    set_role,
)
from certify.accounts.directory import (
    ACCOUNT_SORTS,
    MAX_PER_PAGE,
    SIGN_IN_SORTS,
    AccountRecord,
    AccountSearch,
    SignInSearch,
    account_record,
    all_accounts,
    all_sign_ins,
    search_accounts,
    search_sign_ins,
)
from certify.infra.errors import Error
from certify.institutions.registry import institution_names
from certify.institutions.scope import current
from certify.web.auth import check_csrf, current_account, require_role, sign_in
from certify.web.common import PageProblems, page_problems, xlsx_download
from schemas.enums import ROLES, Role, SignInOutcome
from schemas.tables import Account

blueprint = Blueprint("accounts", __name__)
ADMIN = ("admin",)
PER_PAGE = (20, 50, 100, MAX_PER_PAGE)
STATUSES = ("active", "disabled")


def _me() -> Account:
    account = current_account()
    assert account is not None
    return account


def _actor() -> str:
    return f"web:{_me().username}"


def _once(page: str) -> Any:
    """A page that shows a password: never stored by the browser or a proxy."""
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- reading what a list was asked for -------------------------------------------------------


def _whole(args: Mapping[str, str], name: str, default: int, wrong: list[str]) -> int:
    value = args.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not 0 < int(value) < 1_000_000:
        wrong.append(name)
        return default
    return int(value)


def _paging(
    args: Mapping[str, str], sorts: Iterable[str], default_sort: str, wrong: list[str]
) -> dict[str, Any]:
    sort = args.get("sort", default_sort)
    if sort not in sorts:
        wrong.append("sort")
        sort = default_sort
    per_page = _whole(args, "per_page", 50, wrong)
    if per_page not in PER_PAGE:
        wrong.append("per_page")
        per_page = 50
    return {"sort": sort, "page": _whole(args, "page", 1, wrong), "per_page": per_page}


def parse_account_search(args: Mapping[str, str]) -> tuple[AccountSearch, list[str]]:
    """The account search a query string asks for, and the fields it got wrong (left out)."""
    wrong: list[str] = []
    role = args.get("role", "").strip()
    if role and role not in ROLES:
        wrong.append("role")
    status = args.get("status", "").strip()
    if status and status not in STATUSES:
        wrong.append("status")
    paging = _paging(args, ACCOUNT_SORTS, "username", wrong)
    search = AccountSearch(
        text=args.get("q", "").strip()[:64],
        role=Role(role) if role in ROLES else None,
        active=(status == "active") if status in STATUSES else None,
        descending=args.get("dir") == "desc",
        **paging,
    )
    return search, wrong


def parse_sign_in_search(args: Mapping[str, str]) -> tuple[SignInSearch, list[str]]:
    """The sign-in search a query string asks for, and the fields it got wrong (left out)."""
    wrong: list[str] = []
    outcome = args.get("outcome", "").strip()
    outcomes = {o.value for o in SignInOutcome}
    if outcome and outcome not in outcomes:
        wrong.append("outcome")
    paging = _paging(args, SIGN_IN_SORTS, "at", wrong)
    search = SignInSearch(
        username=args.get("username", "").strip()[:64],
        address=args.get("address", "").strip()[:64],
        outcome=SignInOutcome(outcome) if outcome in outcomes else None,
        descending=args.get("dir", "desc" if paging["sort"] == "at" else "") == "desc",
        **paging,
    )
    return search, wrong


def _list_url(endpoint: str, base: dict[str, Any]) -> Callable[..., str]:
    """``url(search, **changes)``: the list's URL for these filters with ``changes``."""

    def url(**changes: Any) -> str:
        params = {**base, **changes}
        return _url_for(endpoint, **{k: v for k, v in params.items() if v not in (None, "")})

    return url


def _account_params(search: AccountSearch) -> dict[str, Any]:
    return {
        "q": search.text or None,
        "role": search.role.value if search.role else None,
        "status": None if search.active is None else ("active" if search.active else "disabled"),
        "sort": search.sort if search.sort != "username" else None,
        "dir": "desc" if search.descending else None,
        "per_page": search.per_page if search.per_page != 50 else None,
        "page": search.page if search.page != 1 else None,
    }


def _sign_in_params(search: SignInSearch) -> dict[str, Any]:
    return {
        "username": search.username or None,
        "address": search.address or None,
        "outcome": search.outcome.value if search.outcome else None,
        "sort": search.sort if search.sort != "at" else None,
        "dir": "asc" if not search.descending else None,
        "per_page": search.per_page if search.per_page != 50 else None,
        "page": search.page if search.page != 1 else None,
    }


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else ""


# --- the list --------------------------------------------------------------------------------


@blueprint.get("/admin/accounts/")
@require_role(*ADMIN)
def index() -> Any:
    search, wrong = parse_account_search(request.args)
    page = search_accounts(g.engine, search)
    params = _account_params(page.search)
    if page.search.page > page.pages and page.total:
        return redirect(_list_url("accounts.index", params)(page=page.pages))
    return render_template(
        "accounts.html",
        page=page,
        wrong=wrong,
        typed=request.args,
        url=_list_url("accounts.index", params),
        download=_list_url("accounts.export", {**params, "page": None, "per_page": None})(),
        roles=list(Role),
        per_pages=PER_PAGE,
    ), (400 if wrong else 200)


@blueprint.get("/admin/accounts/accounts.xlsx")
@require_role(*ADMIN)
def export() -> Any:
    search, wrong = parse_account_search(request.args)
    if wrong:
        abort(400, description=f"not understood: {', '.join(wrong)}")
    header = ["用户名 username", "姓名 name", "角色 role", "状态 status", "须改密码 must change",
              "创建 created (UTC)", "最近登录 last sign-in (UTC)"]  # fmt: skip
    rows = (
        [
            r.username,
            r.display_name,
            f"{r.role.zh} {r.role.value}",
            "启用 active" if r.active else "停用 disabled",
            "是 yes" if r.must_change_password else "",
            _when(r.created_at),
            _when(r.last_sign_in),
        ]
        for r in all_accounts(g.engine, search)
    )
    return xlsx_download("账户-accounts.xlsx", header, rows, "accounts")


# --- creating --------------------------------------------------------------------------------


def _new_page(
    typed: Mapping[str, str], problems: PageProblems | None = None, field: str = ""
) -> str:
    return render_template(
        "account_new.html",
        typed=typed,
        roles=list(Role),
        problems=problems,
        field=field,
        # a platform admin chooses; an institution's admin sees its own only (its accounts
        # are always of its institution)
        institutions=institution_names(g.engine),
        platform=current() is None,
    )


@blueprint.get("/admin/accounts/new")
@require_role(*ADMIN)
def new() -> Any:
    return _new_page({"role": request.args.get("role", "")})


@blueprint.post("/admin/accounts/new")
@require_role(*ADMIN)
def create() -> Any:
    check_csrf()
    form = request.form
    typed = {
        k: form.get(k, "")[:200]
        for k in ("username", "display_name", "role", "institution", "region")
    }
    chosen = form.get("password", "")[: MAX_PASSWORD + 1]
    password = chosen or generate_password()
    try:
        account = create_account(
            g.engine,
            form.get("username", "")[:200],
            form.get("role", ""),
            password,
            display_name=form.get("display_name", "")[:200],
            actor=_actor(),
            must_change_password=True,
            institution=form.get("institution", "")[:200] or None,
            region=form.get("region", "")[:100] or None,
        )
    except AccountError as exc:
        return _new_page(typed, page_problems(exc), exc.field), 400
    if chosen:
        flash(
            f"已创建账户 {account.username}，首次登录须修改密码 / account {account.username} "
            "created: it must change its password at its first sign-in"
        )
        return redirect(_url_for("accounts.account", account_id=account.id))
    return _once(
        render_template("account_password.html", target=account, password=password, new=True)
    )


# --- one account -----------------------------------------------------------------------------


def _account_page(
    record: AccountRecord,
    problems: PageProblems | None = None,
    field: str = "",
    typed: Mapping[str, str] | None = None,
) -> str:
    return render_template(
        "account.html",
        record=record,
        a=record.account,
        me=_me(),
        roles=list(Role),
        problems=problems,
        field=field,
        typed=typed or {},
    )


@blueprint.get("/admin/accounts/<int:account_id>")
@require_role(*ADMIN)
def account(account_id: int) -> Any:
    return _account_page(account_record(g.engine, account_id))


def _change(account_id: int, do: Callable[[str], Any], done: str) -> Any:
    """Apply ``do(username)`` to the account; its page with the refusal (400), else back to it
    with ``done`` said."""
    record = account_record(g.engine, account_id)
    try:
        do(record.account.username)
    except AccountError as exc:
        typed = {"role": request.form.get("role", "")[:32]}
        fresh = account_record(g.engine, account_id)
        return _account_page(fresh, page_problems(exc), exc.field or "action", typed), 400
    flash(f"{record.account.username}: {done}")
    return redirect(_url_for("accounts.account", account_id=account_id))


@blueprint.post("/admin/accounts/<int:account_id>/active")
@require_role(*ADMIN)
def active(account_id: int) -> Any:
    check_csrf()
    action = request.form.get("action", "")
    if action not in ("enable", "disable"):
        abort(400, description="action must be enable or disable")
    on = action == "enable"
    return _change(
        account_id,
        lambda name: set_active(g.engine, name, on, actor=_actor(), acting=_me().username),
        "已启用 / enabled"
        if on
        else "已停用，其登录与令牌即时失效 / disabled: its sessions and tokens stop now",
    )


@blueprint.post("/admin/accounts/<int:account_id>/role")
@require_role(*ADMIN)
def role(account_id: int) -> Any:
    check_csrf()
    new_role = request.form.get("role", "")
    label = f"{Role(new_role).zh} {new_role}" if new_role in ROLES else new_role
    return _change(
        account_id,
        lambda name: set_role(g.engine, name, new_role, actor=_actor(), acting=_me().username),
        f"角色为 / role is now {label}",
    )


@blueprint.post("/admin/accounts/<int:account_id>/password")
@require_role(*ADMIN)
def reset(account_id: int) -> Any:
    check_csrf()
    record = account_record(g.engine, account_id)
    chosen = request.form.get("password", "")[: MAX_PASSWORD + 1]
    try:
        password = reset_password(
            g.engine,
            record.account.username,
            password=chosen or None,
            actor=_actor(),
            acting=_me().username,
        )
    except AccountError as exc:
        return _account_page(record, page_problems(exc), exc.field or "password"), 400
    if chosen:
        flash(
            f"{record.account.username}: 密码已设置，下次登录须修改 / the password is set; it "
            "must be changed at the next sign-in"
        )
        return redirect(_url_for("accounts.account", account_id=account_id))
    return _once(
        render_template(
            "account_password.html", target=record.account, password=password, new=False
        )
    )


# --- sign-in history -------------------------------------------------------------------------


@blueprint.get("/admin/accounts/sign-ins")
@require_role(*ADMIN)
def sign_ins() -> Any:
    search, wrong = parse_sign_in_search(request.args)
    page = search_sign_ins(g.engine, search)
    params = _sign_in_params(page.search)
    if page.search.page > page.pages and page.total:
        return redirect(_list_url("accounts.sign_ins", params)(page=page.pages))
    return render_template(
        "account_sign_ins.html",
        page=page,
        wrong=wrong,
        typed=request.args,
        url=_list_url("accounts.sign_ins", params),
        download=_list_url(
            "accounts.sign_ins_export", {**params, "page": None, "per_page": None}
        )(),
        outcomes=list(SignInOutcome),
        per_pages=PER_PAGE,
    ), (400 if wrong else 200)


@blueprint.get("/admin/accounts/sign-ins.xlsx")
@require_role(*ADMIN)
def sign_ins_export() -> Any:
    search, wrong = parse_sign_in_search(request.args)
    if wrong:
        abort(400, description=f"not understood: {', '.join(wrong)}")
    header = ["时间 time (UTC)", "用户名 username", "地址 address", "结果 outcome"]
    rows = (
        [
            _when(r.at),
            r.username if r.username is not None else "（无此账户）(no such account)",
            r.address,
            f"{r.outcome.zh} {r.outcome.en}",
        ]
        for r in all_sign_ins(g.engine, search)
    )
    return xlsx_download("登录记录-sign-ins.xlsx", header, rows, "sign-ins")


# --- one's own password ----------------------------------------------------------------------


@blueprint.get("/account/password")
@require_role(*ROLES)
def password() -> Any:
    return render_template("password.html", problems=None, field="")


@blueprint.post("/account/password")
@require_role(*ROLES)
def password_post() -> Any:
    check_csrf()
    address = request.remote_addr or "?"
    if not g.services.limiter.allow(address, "login"):
        abort(429)
    new_password = request.form.get("password", "")[: MAX_PASSWORD + 1]
    try:
        if new_password != request.form.get("confirm", "")[: MAX_PASSWORD + 1]:
            raise AccountError("两次输入的新密码不一致 / the two new passwords differ", "confirm")
        account = change_password(
            g.engine, _me().id or 0, request.form.get("current", "")[:MAX_PASSWORD], new_password
        )
    except AccountError as exc:
        return render_template("password.html", problems=page_problems(exc), field=exc.field), 400
    except Error:
        abort(403)
    sign_in(account)  # this session goes on under the new version; every other one has ended
    flash("密码已修改 / your password is changed")
    from certify.web.auth_views import HOME

    return redirect(_url_for(HOME[account.role]))
