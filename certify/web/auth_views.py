"""Sign in and sign out (forms, CSRF-protected, throttled)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from certify.web.auth import Throttled, authenticate, check_csrf, sign_in, sign_out

blueprint = Blueprint("auth", __name__)
HOME = {"admin": "admin.index", "committee": "committee.index", "rater": "rater.index"}


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
    parsed = urlparse(target)
    if target.startswith("/") and not target.startswith("//") and not parsed.netloc:
        return redirect(target)
    return redirect(url_for(HOME[account.role]))


@blueprint.post("/logout")
def logout() -> Any:
    check_csrf()
    return sign_out()
