"""Every setting of certify, declared once: name, environment variable, type, default, help.

:meth:`Settings.load` builds them from the defaults, then the environment, then explicit
overrides (a command's options, a test's values), and checks each one; this is the only module
that reads the environment. The web app is built from a :class:`Settings`, the commands carry
one. ``python3 -m certify.infra.settings --markdown`` prints the table in ``docs/web.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from certify.infra.errors import Error

WEB = "web"
COMMANDS = "commands"

MARKERS = ("<!-- settings: begin -->", "<!-- settings: end -->")
"""Around the generated table in ``docs/web.md``."""


class SettingsError(Error):
    """A setting has a value that cannot be used; the message names its variable."""

    code = "settings"


@dataclass(frozen=True)
class Setting:
    """One setting as declared: the :class:`Settings` attribute ``name``, read from the
    environment variable ``variable`` as a ``type``, ``default`` when not set."""

    name: str
    variable: str
    type: type
    default: Any
    help: str
    shown_default: str
    """The default as the documentation states it."""
    used_by: tuple[str, ...]
    minimum: float | None = None
    above_minimum: bool = False
    """The value must be greater than ``minimum``, not merely equal to it."""
    pattern: str | None = None
    pattern_help: tuple[str, str] = ("", "")
    """What the pattern asks for, in Chinese and English."""
    secret: bool = False
    """Never shown: not in a repr, not in an error message."""

    def value_text(self, zh: bool = False) -> str:
        """What a value of this setting looks like (in Chinese with ``zh``)."""
        if self.type is bool:
            return "1 或 0" if zh else "1 or 0"
        if self.pattern_help[0]:
            return self.pattern_help[0 if zh else 1]
        if self.type in (int, float):
            if zh:
                number = "整数" if self.type is int else "数"
                bound = "大于" if self.above_minimum else "不小于"
                return number if self.minimum is None else f"{bound} {self.minimum:g} 的{number}"
            number = "whole number" if self.type is int else "number"
            if self.minimum is None:
                return number
            sign = ">" if self.above_minimum else "≥"
            return f"{number} {sign} {self.minimum:g}"
        if self.type is Path:
            return "路径" if zh else "path"
        return "文本" if zh else "text"

    def parse(self, text: str) -> Any:
        """The value of the environment's ``text``; raises SettingsError naming the variable."""
        try:
            if self.type is bool:
                return _BOOLEANS[text.strip().lower()]
            return self.type(text.strip() if self.type in (int, float) else text)
        except (KeyError, ValueError):
            raise self.error(text) from None

    def convert(self, value: object) -> Any:
        """An override as this setting's type: text is parsed, a path-like or a whole number
        given for a number is taken as it is; raises SettingsError otherwise."""
        if isinstance(value, str) and self.type is not str:
            return self.parse(value)
        if self.type is Path and isinstance(value, os.PathLike):
            return Path(value)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, self.type) and (self.type is bool or not isinstance(value, bool)):
            return value
        raise self.error(value)

    def check(self, value: Any) -> None:
        """Raises SettingsError when ``value`` is outside what the setting allows."""
        if value is None:
            return
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(value)
        if self.minimum is not None and (
            value <= self.minimum if self.above_minimum else value < self.minimum
        ):
            raise self.error(value)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise self.error(value)

    def error(self, value: object) -> SettingsError:
        shown = "(hidden)" if self.secret else repr(value)
        return SettingsError(
            f"设置 {self.variable} 的值 {shown} 无效，应为{self.value_text(zh=True)} / "
            f"{self.variable}: {shown} is not valid; expected {self.value_text()}"
        )


_BOOLEANS = {
    **dict.fromkeys(("1", "true", "yes", "on"), True),
    **dict.fromkeys(("0", "false", "no", "off"), False),
}


def _declare(
    variable: str,
    default: Any,
    help: str,
    *,
    used_by: Sequence[str],
    shown: str | None = None,
    minimum: float | None = None,
    above_minimum: bool = False,
    pattern: str | None = None,
    pattern_help: tuple[str, str] = ("", ""),
    secret: bool = False,
) -> Any:
    """A field of :class:`Settings` with its declaration; the rest (name, type) is the field's."""
    declaration = {
        "variable": variable,
        "help": help,
        "used_by": tuple(used_by),
        "shown_default": shown if shown is not None else _shown(default),
        "minimum": minimum,
        "above_minimum": above_minimum,
        "pattern": pattern,
        "pattern_help": pattern_help,
        "secret": secret,
    }
    return field(default=default, repr=not secret, metadata={"setting": declaration})


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, int | float):
        return f"{default:g}"
    return f"`{default}`"


@dataclass(frozen=True)
class Settings:
    """The settings of one process: what the web app is built from and the commands carry.

    Build it with :meth:`load`; :meth:`replace` applies overrides with the same checks."""

    database_url: str | None = _declare(
        "CERTIFY_DATABASE_URL",
        None,
        "the database: `sqlite:///FILE` or `postgresql://…` (`--db` on the command line)",
        used_by=(WEB, COMMANDS),
        shown="`./certify.db`",
    )
    web_secret: str | None = _declare(
        "CERTIFY_WEB_SECRET",
        None,
        "key signing session cookies (e.g. `openssl rand -hex 32`)",
        used_by=(WEB,),
        shown="a random one per process (sessions end with it; a warning is logged)",
        secret=True,
    )
    secret_key: str | None = _declare(
        "CERTIFY_SECRET_KEY",
        None,
        "the ID-number secret, 32 bytes in base64 (docs/database.md); the web app needs it for "
        "the committee's ID checks",
        used_by=(WEB, COMMANDS),
        shown="read from the secret file",
        secret=True,
    )
    secret_file: Path | None = _declare(
        "CERTIFY_SECRET_FILE",
        None,
        "the file holding the ID-number secret (`certify init` makes it)",
        used_by=(WEB, COMMANDS),
        shown="`certify.secret` beside the SQLite file (commands) or in the working folder (web "
        "app)",
    )
    trust_list: Path | None = _declare(
        "CERTIFY_TRUST_LIST",
        None,
        "the root-signed trust list the app verifies against and serves (`certify trust-list`; "
        "`serve --trust-list`), fixed while the app runs",
        used_by=(WEB,),
        shown="none: the newest list published from the keys page; none published: "
        "verification answers 503",
    )
    root_kid: str | None = _declare(
        "CERTIFY_ROOT_KID",
        None,
        "pins the root key the trust list must be signed by (`certify keys root` prints it; "
        "`--root-kid`)",
        used_by=(WEB, COMMANDS),
        shown="the database's root key; with neither, the app refuses to start",
    )
    allow_unpinned_root: bool = _declare(
        "CERTIFY_ALLOW_UNPINNED_ROOT",
        False,
        "accept a trust list signed by any root (experiments only: every result warns)",
        used_by=(WEB,),
    )
    revocations: Path | None = _declare(
        "CERTIFY_REVOCATIONS",
        None,
        "the signed revocation list served to offline verifiers (`certify revocations`, "
        "refreshed on a schedule; `serve --revocations`), fixed while the app runs",
        used_by=(WEB,),
        shown="none: the newest list published from the keys page; none published: 404",
    )
    data_dir: Path = _declare(
        "CERTIFY_DATA_DIR",
        Path("certify-web"),
        "where published notices (公示) are written and served from (`serve --data-dir`)",
        used_by=(WEB,),
        shown="`./certify-web`",
    )
    rate_limit: int = _declare(
        "CERTIFY_RATE_LIMIT",
        120,
        "public requests per minute per address, per worker process (0 = off)",
        used_by=(WEB,),
        minimum=0,
    )
    api_rate_limit: int = _declare(
        "CERTIFY_API_RATE_LIMIT",
        6_000,
        "API requests per minute per account, per worker process (0 = off)",
        used_by=(WEB,),
        minimum=0,
    )
    sweep_seconds: float = _declare(
        "CERTIFY_SWEEP_SECONDS",
        5.0,
        "how often each web process closes computer-based attempts past their deadline "
        "(0 = off: run `certify exams sweep --loop` instead)",
        used_by=(WEB,),
        minimum=0,
    )
    job_seconds: float = _declare(
        "CERTIFY_JOB_SECONDS",
        2.0,
        "how often each web process looks for queued background jobs (assembly, …) to run on its "
        "own thread, besides at once when it queued one itself (0 = off: another process runs them)",
        used_by=(WEB,),
        minimum=0,
    )
    answer_threads: int = _declare(
        "CERTIFY_ANSWER_THREADS",
        4,
        "threads each process of the answers' server (`uvicorn --factory certify.web.asgi:create`) "
        "runs saves, heartbeats and event counts on, while its event loop reads and writes HTTP",
        used_by=(WEB,),
        minimum=1,
    )
    trusted_proxies: int = _declare(
        "CERTIFY_TRUSTED_PROXIES",
        0,
        "how many proxies in front set `X-Forwarded-For`; the client's address is read through "
        "exactly that many (rate limits and sign-in throttling count per client, not per proxy)",
        used_by=(WEB,),
        minimum=0,
    )
    max_upload_mb: float = _declare(
        "CERTIFY_MAX_UPLOAD_MB",
        8.0,
        "largest upload or request body, in MB",
        used_by=(WEB,),
        minimum=0,
        above_minimum=True,
    )
    secure_cookies: bool = _declare(
        "CERTIFY_SECURE_COOKIES",
        False,
        "cookies travel over HTTPS only (behind HTTPS)",
        used_by=(WEB,),
    )
    province: str = _declare(
        "CERTIFY_PROVINCE",
        "37",
        "the province code that starts every serial issued (`issue --province`)",
        used_by=(COMMANDS,),
        pattern=r"\d{2}",
        pattern_help=("两位数字", "two digits"),
    )
    key_passphrase: str | None = _declare(
        "CERTIFY_KEY_PASSPHRASE",
        None,
        "the passphrase of the signing keys, for commands that sign",
        used_by=(COMMANDS,),
        shown="asked for (never echoed)",
        secret=True,
    )
    new_password: str | None = _declare(
        "CERTIFY_NEW_PASSWORD",
        None,
        "the password of an account `certify users add` creates (`--password`)",
        used_by=(COMMANDS,),
        shown="asked for (never echoed)",
        secret=True,
    )
    audit_state: Path | None = _declare(
        "CERTIFY_AUDIT_STATE",
        None,
        "where `certify audit verify` remembers the log it saw last (`--state`)",
        used_by=(COMMANDS,),
        shown="`certify.audit-state.json` beside the SQLite file, else in the working folder",
    )

    def __post_init__(self) -> None:
        for declared in SETTINGS:
            declared.check(getattr(self, declared.name))

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, /, **overrides: Any) -> Self:
        """The settings from the defaults, then ``environ`` (the process's environment unless
        given; an empty variable counts as unset), then ``overrides`` by name (None: not
        given). Raises SettingsError naming the variable of a value that cannot be used."""
        environ = os.environ if environ is None else environ
        found = {s.name: s.parse(environ[s.variable]) for s in SETTINGS if environ.get(s.variable)}
        return cls(**found).replace(**overrides)

    def replace(self, **overrides: Any) -> Self:
        """These settings with ``overrides`` by name (None: not given), checked as
        :meth:`load` checks the environment's; raises SettingsError."""
        unknown = sorted(set(overrides) - BY_NAME.keys())
        if unknown:
            raise SettingsError(f"没有这些设置 / no such settings: {', '.join(unknown)}")
        changes = {k: BY_NAME[k].convert(v) for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **changes)


def _declarations() -> tuple[Setting, ...]:
    types = typing.get_type_hints(Settings)
    found = []
    for f in dataclasses.fields(Settings):
        kinds = [t for t in typing.get_args(types[f.name]) if t is not type(None)]
        found.append(
            Setting(
                name=f.name,
                type=kinds[0] if kinds else types[f.name],
                default=f.default,
                **f.metadata["setting"],
            )
        )
    return tuple(found)


SETTINGS = _declarations()
"""Every setting, in the order of the documentation."""

BY_NAME = {s.name: s for s in SETTINGS}


def markdown() -> str:
    """The table of every setting, as ``docs/web.md`` shows it between :data:`MARKERS`."""
    rows = [
        "| variable | meaning | value | default | used by |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        cells = (f"`{s.variable}`", s.help, s.value_text(), s.shown_default, ", ".join(s.used_by))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python3 -m certify.infra.settings",
        description="certify's settings: the table for docs/web.md, or the values in effect.",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table of settings")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
        return
    try:
        settings = Settings.load()
    except SettingsError as exc:
        sys.exit(exc.diagnostics())
    for s in SETTINGS:
        value = getattr(settings, s.name)
        if value is None:
            value = ""
        elif s.secret:
            value = "(hidden)"
        elif isinstance(value, bool):
            value = int(value)
        print(f"{s.variable}={value}")


if __name__ == "__main__":
    main()
