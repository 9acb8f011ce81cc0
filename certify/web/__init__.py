"""The web app: the page behind the QR code, committee bulk checks, institution admin, JSON API.

``create_app(settings)`` builds it from a :class:`~certify.infra.settings.Settings` (by default
from the environment: ``CERTIFY_DATABASE_URL``, ``CERTIFY_WEB_SECRET``, ``CERTIFY_TRUST_LIST``, …,
declared in ``certify/infra/settings.py`` and listed in ``docs/web.md``).

Blueprints per audience: ``public`` (no login), ``auth``, ``committee``, ``admin`` (with its
question ``bank``, blueprints and ``papers``, a sitting's workflow in ``sittings``,
``grading`` and ``equating``, background ``jobs``, ``certificates`` and keys, ``accounts`` and ``training``),
``rater`` and ``api``. Every API error has one JSON shape, ``{"error": {"status", "code",
"message", "message_zh"}}``; every page error a friendly page; neither ever shows a traceback.
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
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from certify.infra import db
from certify.infra.errors import Error, NotFound
from certify.infra.jobs import JobRunner
from certify.infra.settings import Settings
from certify.keys.publish import REVOCATIONS, TRUST_LIST, newest_published, newest_published_id
from certify.keys.store import database_root_kid
from certify.registration.identity import IdentityVault, load_vault
from certify.signing.trust import TrustList, load_trust_list
from certify.web.answers import SECURITY_HEADERS, Answers
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
    lists: PublishedLists
    vault: IdentityVault | None
    data_dir: Path
    limiter: RateLimiter
    jobs: JobRunner | None = None
    """Runs background jobs (assembly, …) on a thread of this process."""
    api_per_minute: int = 0
    """API requests per minute per account and worker (0 = no limit)."""
    sweeper: Sweeper | None = None
    """Closes attempts past their deadline on a thread of this process."""
    owns_engine: bool = False
    """Whether the app opened ``engine`` itself (else whoever handed it over closes it)."""

    def close(self) -> None:
        """The process is going: let the sweeper's round and the running job end, then close
        the database connections the app opened (a server's orderly shutdown)."""
        try:
            if self.sweeper is not None:
                self.sweeper.stop()
            if self.jobs is not None:
                self.jobs.stop()
        finally:
            if self.owns_engine:
                self.engine.dispose()

    @property
    def trust(self) -> TrustList | None:
        """The trust list verified against (see :class:`PublishedLists`)."""
        return self.lists.trust()

    @property
    def trust_document(self) -> dict[str, Any] | None:
        return self.lists.trust_document()

    @property
    def revocations_document(self) -> dict[str, Any] | None:
        return self.lists.revocations_document()

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


class Sweeper:
    """Closes computer-based attempts past their deadline, every ``seconds``, on a daemon thread
    of this process (started by the first request, so each gunicorn worker runs its own after the
    fork). Any number may run at once: :func:`certify.delivery.attempts.sweep` takes its attempts
    with ``SKIP LOCKED`` and closes each once."""

    def __init__(self, engine: Engine, seconds: float) -> None:
        self.engine = engine
        self.seconds = seconds
        self.pid = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def ensure_running(self) -> None:
        if self.seconds <= 0 or self.pid == os.getpid():
            return
        with self.lock:
            if self.pid == os.getpid():
                return
            self.pid = os.getpid()
            self.stopping.clear()
            self.thread = threading.Thread(target=self._run, name="certify-sweeper", daemon=True)
            self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop this process's thread after the round it is in, and wait for it (as
        :meth:`certify.infra.jobs.JobRunner.stop`: nothing left polling a database that goes)."""
        self.stopping.set()
        thread, self.thread = self.thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.pid = 0

    def _run(self) -> None:
        from certify.delivery.attempts import sweep

        while not self.stopping.wait(self.seconds):
            try:
                swept = sweep(self.engine)
                if swept.handed_in or swept.absent:
                    log.info("sweeper: %d handed in, %d absent", swept.handed_in, swept.absent)
            except Exception:  # a failed round is retried next time; the thread lives on
                log.exception("sweeper round failed")


def _json_file(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


LISTS_LOOKED_AT_EVERY = 5.0
"""Seconds a web process keeps its copy of the published lists before it looks again."""


class PublishedLists:
    """The trust and revocation lists an app verifies against and serves at
    ``/trust-list.json`` and ``/revocations.json``.

    A list given at start (``CERTIFY_TRUST_LIST``, ``CERTIFY_REVOCATIONS``, or handed over as a
    document) stays fixed. Without one, the app uses the newest list an admin published from the
    keys page (stored in the database), and each process looks whether a newer one came at
    most every :data:`LISTS_LOOKED_AT_EVERY` seconds, so every process of every machine serves
    it within seconds of publication, with no restart."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        trust_document: dict[str, Any] | None,
        revocations_document: dict[str, Any] | None,
    ) -> None:
        self._settings, self._engine = settings, engine
        self._fixed_trust = trust_document is not None
        self._fixed_revocations = revocations_document is not None
        self._trust_document = trust_document
        self._trust = _trust_list(settings, engine, trust_document)
        self._revocations_document = revocations_document
        self._ids: dict[str, int | None] = {TRUST_LIST: None, REVOCATIONS: None}
        self._looked = -LISTS_LOOKED_AT_EVERY
        self._lock = threading.Lock()
        if not (self._fixed_trust and self._fixed_revocations):
            self._look(force=True)

    def trust(self) -> TrustList | None:
        self._look()
        return self._trust

    def trust_document(self) -> dict[str, Any] | None:
        self._look()
        return self._trust_document

    def revocations_document(self) -> dict[str, Any] | None:
        self._look()
        return self._revocations_document

    def look_now(self) -> None:
        """Look for newer lists at once (this process just published one)."""
        self._look(force=True)

    def _look(self, *, force: bool = False) -> None:
        if self._fixed_trust and self._fixed_revocations:
            return
        now = time.monotonic()
        if not force and now - self._looked < LISTS_LOOKED_AT_EVERY:
            return
        with self._lock:
            if not force and now - self._looked < LISTS_LOOKED_AT_EVERY:
                return
            self._looked = now
            try:
                if not self._fixed_trust:
                    self._refresh(TRUST_LIST)
                if not self._fixed_revocations:
                    self._refresh(REVOCATIONS)
            except (SQLAlchemyError, Error):  # the database is away, or a list no longer loads
                log.warning("could not look for newer published lists", exc_info=True)

    def _refresh(self, kind: str) -> None:
        newest = newest_published_id(self._engine, kind)
        if newest is None or newest == self._ids[kind]:
            return
        found = newest_published(self._engine, kind)
        if found is None:
            return
        ident, document = found
        if kind == TRUST_LIST:
            # Checked when it was published; checked again here against the pinned root.
            self._trust = _trust_list(self._settings, self._engine, document)
            self._trust_document = document
        else:
            self._revocations_document = document
        self._ids[kind] = ident


def _trust_list(
    settings: Settings, engine: Engine, document: dict[str, Any] | None
) -> TrustList | None:
    """The trust list, its root pinned by the ``root_kid`` setting, else by the root key the
    database holds; without a pin the app refuses to start, unless ``allow_unpinned_root``
    (experiments: every result then warns)."""
    if document is None:
        return None
    root_kid, unpinned = settings.root_kid, settings.allow_unpinned_root
    if root_kid is None and not unpinned:
        root_kid = database_root_kid(engine)
    if root_kid is None and unpinned:
        log.warning("the trust list's root is not pinned: every verification result will warn")
    return load_trust_list(document, pinned_root_kid=root_kid, allow_unpinned=unpinned)


def _vault(settings: Settings) -> IdentityVault | None:
    """The ID-number secret, or None: committee ID checks are then unavailable."""
    try:
        return load_vault(secret=settings.secret_key, file=settings.secret_file)
    except Error:
        return None


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    vault: IdentityVault | None = None,
    trust_document: dict[str, Any] | None = None,
    revocations_document: dict[str, Any] | None = None,
) -> Flask:
    """The app, built from ``settings`` (by default: from the environment).

    What the settings name can also be handed over already open — the ``engine``, the ``vault``
    of ID numbers, the trust and revocation lists as documents — as tests and ``certify serve``
    do. Raises SettingsError for a setting that cannot be used, RootNotPinned for a trust list
    whose root nothing pins."""
    settings = Settings.load() if settings is None else settings
    app = Flask(__name__)
    secret = settings.web_secret
    if not secret:
        log.warning("CERTIFY_WEB_SECRET is not set: sessions last only as long as this process")
        secret = secrets.token_hex(32)
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        MAX_CONTENT_LENGTH=int(settings.max_upload_mb * 1024 * 1024),
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    owns_engine = engine is None
    engine = engine or db.make_engine(db.database_url(settings.database_url))
    app.extensions["certify"] = Services(
        engine=engine,
        owns_engine=owns_engine,
        lists=PublishedLists(
            settings,
            engine,
            trust_document or _json_file(settings.trust_list),
            revocations_document or _json_file(settings.revocations),
        ),
        vault=vault if vault is not None else _vault(settings),
        data_dir=settings.data_dir,
        limiter=RateLimiter(settings.rate_limit),
        api_per_minute=settings.api_rate_limit,
    )
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address from X-Forwarded-For, trusting exactly this many proxies.
        proxies = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    from certify.web import admin, api, auth_views, bank, committee, exam, invigilate, public, rater
    from certify.web.accounts import blueprint as accounts
    from certify.web.institutions import blueprint as institutions
    from certify.web.supervise import blueprint as supervise
    from certify.web.training import blueprint as training

    for module in (public, auth_views, committee, admin, bank, rater, api, exam, invigilate):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(accounts)
    app.register_blueprint(training)
    app.register_blueprint(institutions)
    app.register_blueprint(supervise)
    app.config["CERTIFY_PROVINCE"] = settings.province  # training certificates' serials
    from certify.web import certificates, equating, grading, jobs, papers, seals, sittings

    for module in (papers, seals, jobs, certificates, sittings, grading, equating):
        app.register_blueprint(module.blueprint)
    sweeper = Sweeper(engine, settings.sweep_seconds)
    services = app.extensions["certify"]
    services.sweeper = sweeper
    runner = services.jobs = jobs.make_runner(engine, settings.job_seconds, services.vault)

    @app.before_request
    def _services() -> None:
        services: Services = app.extensions["certify"]
        g.engine = services.engine
        g.services = services
        sweeper.ensure_running()
        runner.ensure_running()
        if request.path.startswith("/exam/api/"):
            return  # the exam's calls carry a token, never a cookie: no session to open
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
        for name, value in SECURITY_HEADERS:
            response.headers.setdefault(name, value)
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

    # The exam page's saves, state and event counts, answered without Flask's per-request work
    # (certify.web.answers); everything else passes through to the app above.
    app.wsgi_app = Answers(  # type: ignore[method-assign]
        app.wsgi_app,
        engine,
        max_bytes=app.config["MAX_CONTENT_LENGTH"],
        starting=(sweeper.ensure_running, runner.ensure_running),
    )
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
