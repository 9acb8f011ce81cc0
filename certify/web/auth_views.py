"""Sign in and sign out (forms, CSRF-protected, throttled)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from certify.accounts import Throttled, authenticate
from certify.web.auth import check_csrf, sign_in, sign_out

blueprint = Blueprint("auth", __name__)
HOME = {
    "admin": "admin.index",
    "committee": "committee.index",
    "rater": "rater.index",
    "invigilator": "invigilate.index",
    "supervisor": "supervise.index",
}


@blueprint.get("/login")
def login() -> Any:
    return render_template("login.html", next=request.args.get("next", ""))


@blueprint.post("/login")
def login_post() -> Any:
    check_csrf()
    address = request.remote_addr or "?"
    if not g.services.limiter.allow(address, "login"):
        abort(429)
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")[:1024]
    try:
        account = authenticate(g.engine, username, password, address)
    except Throttled:
        return render_template("login.html", throttled=True, next=""), 429
    if account is None:
        return render_template("login.html", failed=True, next=request.form.get("next", "")), 401
    sign_in(account)
    target = request.form.get("next", "")
    if safe_next(target):
        return redirect(target)
    return redirect(url_for(HOME[account.role]))


_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~/?=&%+:@,;!*'()]{0,2000}")
"""A path of this site in plain URL characters: no scheme, no host, no ``//`` or ``/\\`` that
a browser would read as another host, no control characters that would split a header."""


def safe_next(target: str) -> bool:
    """May a sign-in redirect to ``target``? Only to a path of this site."""
    return bool(_LOCAL_PATH.fullmatch(target)) and not urlparse(target).netloc


@blueprint.post("/logout")
def logout() -> Any:
    check_csrf()
    return sign_out()
