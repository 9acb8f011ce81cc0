"""The web app: the page behind the QR code, committee bulk checks, institution admin, JSON API.

``create_app()`` builds it from the environment (see ``docs/web.md``)::

    CERTIFY_DATABASE_URL   the database (default ./certify.db)
    CERTIFY_WEB_SECRET     signs session cookies (required in production)
    CERTIFY_TRUST_LIST     the root-signed trust list file (`certify trust-list`)
    CERTIFY_ROOT_KID       pins the root key the trust list must be signed by (default: the
                           database's root key; without either the app refuses to start)
    CERTIFY_REVOCATIONS    the signed revocation list file served to offline verifiers
    CERTIFY_DATA_DIR       where published notices (公示) are written (default ./certify-web)
    CERTIFY_RATE_LIMIT     public requests per minute per address (default 120; 0 = off)
    CERTIFY_API_RATE_LIMIT API requests per minute per account (default 6000; 0 = off)
    CERTIFY_TRUSTED_PROXIES how many proxies in front add X-Forwarded-For (default 0)
    CERTIFY_MAX_UPLOAD_MB  largest upload (default 8)
    CERTIFY_SECURE_COOKIES 1 behind HTTPS (cookies then travel over HTTPS only)

Blueprints per audience: ``public`` (no login), ``auth``, ``committee``, ``admin``, ``rater`` and
``api``. Every API error has one JSON shape, ``{"error": {"status", "code", "message",
"message_zh"}}``; every page error a friendly page; neither ever shows a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, make_response, render_template, request, session
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException

from certify.infra import db
from certify.infra.errors import Error, NotFound
from certify.keys.store import database_root_kid
from certify.registration.identity import IdentityVault, load_vault
from certify.signing.trust import ROOT_KID_ENV, TrustList, load_trust_list
from certify.web.logs import redact

log = logging.getLogger("certify.web")

ERRORS_ZH = {
    400: "请求有误",
    401: "请先登录",
    403: "无权访问",
    404: "没有找到",
    405: "不支持此操作",
    413: "上传的文件过大",
    415: "不支持的内容类型",
    429: "请求过于频繁，请稍后再试",
    500: "服务器出错",
    503: "服务暂不可用",
}


@dataclass
class Services:
    """What every request of one app shares."""

    engine: Engine
    trust: TrustList | None
    trust_document: dict[str, Any] | None
    revocations_document: dict[str, Any] | None
    vault: IdentityVault | None
    data_dir: Path
    limiter: RateLimiter
    api_per_minute: int = 0
    """API requests per minute per account and worker (0 = no limit)."""
    auth_failures: int = 60
    """Requests with an invalid API token per minute per address and worker."""


@dataclass
class RateLimiter:
    """A fixed one-minute window per (address, bucket), in this process's memory.

    Behind gunicorn each worker counts on its own: the limit a client meets is at most the
    setting times the number of workers. A proxy in front should add its own limit."""

    per_minute: int
    windows: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, address: str, bucket: str, per_minute: int | None = None) -> bool:
        limit = self.per_minute if per_minute is None else per_minute
        if limit <= 0:
            return True
        now = time.monotonic()
        with self.lock:
            start, count = self.windows.get((address, bucket), (now, 0))
            if now - start >= 60:
                start, count = now, 0
            if count >= limit:
                return False
            self.windows[(address, bucket)] = (start, count + 1)
            if len(self.windows) > 100_000:
                self.windows = {k: v for k, v in self.windows.items() if now - v[0] < 60}
            return True


def _env_json(name: str) -> dict[str, Any] | None:
    path = os.environ.get(name)
    if not path:
        return None
    data: dict[str, Any] = json.loads(Path(path).read_text("utf-8"))
    return data


def _setting(config: dict[str, Any], key: str, variable: str, default: int) -> int:
    """A whole-number setting: from ``config`` if given there (0 included), else the
    environment, else the default."""
    if key in config:
        return int(config.pop(key))
    return int(os.environ.get(variable, str(default)))


def _trust_list(
    config: dict[str, Any], engine: Engine, document: dict[str, Any] | None
) -> TrustList | None:
    """The trust list, its root pinned by ``ROOT_KID`` / ``CERTIFY_ROOT_KID``, else by the root
    key the database holds; without a pin the app refuses to start, unless
    ``CERTIFY_ALLOW_UNPINNED_ROOT=1`` (experiments: every result then warns)."""
    root_kid = config.pop("ROOT_KID", None) or os.environ.get(ROOT_KID_ENV)
    unpinned = bool(config.pop("ALLOW_UNPINNED_ROOT", None)) or (
        os.environ.get("CERTIFY_ALLOW_UNPINNED_ROOT") == "1"
    )
    if document is None:
        return None
    if root_kid is None and not unpinned:
        root_kid = database_root_kid(engine)
    if root_kid is None and unpinned:
        log.warning("the trust list's root is not pinned: every verification result will warn")
    return load_trust_list(document, pinned_root_kid=root_kid, allow_unpinned=unpinned)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app, configured from the environment, then from ``config`` (tests pass a dict)."""
    config = dict(config or {})
    app = Flask(__name__)
    secret = config.pop("SECRET_KEY", None) or os.environ.get("CERTIFY_WEB_SECRET")
    if not secret:
        log.warning("CERTIFY_WEB_SECRET is not set: sessions last only as long as this process")
        secret = secrets.token_hex(32)
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("CERTIFY_SECURE_COOKIES") == "1",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        MAX_CONTENT_LENGTH=int(float(os.environ.get("CERTIFY_MAX_UPLOAD_MB", "8")) * 1024 * 1024),
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    url = config.pop("DATABASE_URL", None)
    engine = config.pop("ENGINE", None) or db.make_engine(db.database_url(url))
    trust_document = config.pop("TRUST_DOCUMENT", None) or _env_json("CERTIFY_TRUST_LIST")
    trust = _trust_list(config, engine, trust_document)
    vault = config.pop("VAULT", None)
    if vault is None:
        try:
            vault = load_vault()
        except Error:
            vault = None  # committee ID checks are then unavailable
    app.extensions["certify"] = Services(
        engine=engine,
        trust=trust,
        trust_document=trust_document,
        revocations_document=config.pop("REVOCATIONS_DOCUMENT", None)
        or _env_json("CERTIFY_REVOCATIONS"),
        vault=vault,
        data_dir=Path(
            config.pop("DATA_DIR", None) or os.environ.get("CERTIFY_DATA_DIR", "certify-web")
        ),
        limiter=RateLimiter(_setting(config, "RATE_LIMIT", "CERTIFY_RATE_LIMIT", 120)),
        api_per_minute=_setting(config, "API_RATE_LIMIT", "CERTIFY_API_RATE_LIMIT", 6_000),
    )
    proxies = _setting(config, "TRUSTED_PROXIES", "CERTIFY_TRUSTED_PROXIES", 0)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address from X-Forwarded-For, trusting exactly this many proxies.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.config.update(config)

    from certify.web import admin, api, auth_views, committee, public, rater

    for module in (public, auth_views, committee, admin, rater, api):
        app.register_blueprint(module.blueprint)

    @app.before_request
    def _services() -> None:
        services: Services = app.extensions["certify"]
        g.engine = services.engine
        g.services = services
        lang = request.args.get("lang")
        if lang in ("zh", "en"):
            session["lang"] = lang
        g.lang = session.get("lang", "zh")

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        from certify.web.auth import csrf_token, current_account

        lang = g.get("lang", "zh")
        return {
            "csrf_token": csrf_token,
            "account": current_account() if "engine" in g else None,
            "lang": lang,
            "tr": lambda zh, en: en if lang == "en" else zh,
        }

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'",
        )
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = "csrf" if exc.description == "csrf" else exc.name.lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or "")

    @app.errorhandler(Error)
    def _certify_error(exc: Error) -> Any:
        status = 404 if isinstance(exc, NotFound) else 400
        return error_response(status, exc.code, exc.diagnostics())

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unexpected error on %s", redact(request.path))
        return error_response(500, "internal", "the server failed; the error is logged")

    return app


def error_response(status: int, code: str, message: str) -> Any:
    """One error shape for the API, a friendly page elsewhere."""
    zh = ERRORS_ZH.get(status, "出错了")
    if code == "csrf":
        message, zh = (
            "the form expired or came from elsewhere: reload the page and try again",
            "表单已过期或来源不明，请刷新页面后重试",
        )
    if request.path.startswith("/api/"):
        body = {
            "error": {"status": status, "code": code, "message": message or zh, "message_zh": zh}
        }
        response = jsonify(body)
        response.status_code = status
    else:
        response = app_page_error(status, zh, message)
    if status == 429:
        response.headers["Retry-After"] = "60"
    return response


def app_page_error(status: int, zh: str, message: str) -> Any:
    return make_response(
        render_template("error.html", status=status, zh=zh, message=message), status
    )
