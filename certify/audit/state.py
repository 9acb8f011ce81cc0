"""What ``certify audit verify`` remembers between runs, outside the database.

After a run that finds the log intact it writes down, per database, how long the log was and
the hash of its last entry (and the newest checkpoint it verified). The next run refuses a log
that is shorter or no longer passes through that entry — even if the checkpoint rows were
deleted with the tail. The file sits beside the SQLite file (``certify.audit-state.json``), or in
the working folder for a server database; ``--state`` names another. It holds no secret, but it
is evidence: keep it where whoever can write the database cannot.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from certify.audit.checkpoints import Anchor, Checkpoint, LogReport
from certify.infra.errors import Error
from schemas.tables import utcnow

STATE_FILE = "certify.audit-state.json"
FORMAT = "certify-audit-state/1"


class StateError(Error):
    code = "audit_state"


def log_identity(engine: Engine) -> str:
    """Which log a state entry is about: the database URL without its password (a SQLite
    file by its absolute path)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return f"sqlite:///{Path(url.database).resolve()}"
    return url.render_as_string(hide_password=True)


def default_path(engine: Engine) -> Path:
    """Where the state is kept unless a path is given (``--state``, the ``CERTIFY_AUDIT_STATE``
    setting): beside a SQLite file, else in the working folder."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database).resolve().parent / STATE_FILE
    return Path.cwd() / STATE_FILE


@dataclass(frozen=True)
class AuditState:
    """The state file: per log, the point it was last seen to pass through."""

    path: Path
    logs: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: Path) -> AuditState:
        """The state at ``path`` (empty if there is none yet); raises StateError if unreadable."""
        if not path.exists():
            return cls(path, {})
        try:
            data = json.loads(path.read_text("utf-8"))
            if data.get("format") != FORMAT or not isinstance(data.get("logs"), dict):
                raise ValueError(f"not {FORMAT}")
        except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
            raise StateError(
                f"无法读取审计状态文件 {path} / cannot read the audit state file {path}: {exc}"
            ) from None
        return cls(path, data["logs"])

    def anchor(self, log: str) -> Anchor | None:
        """Where the log was seen last, as an anchor it must still pass through."""
        seen = self.logs.get(log)
        if seen is None:
            return None
        try:
            return Anchor(
                int(seen["count"]),
                str(seen["head_hash"]),
                f"{self.path.name} ({seen['verified_at']})",
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(
                f"审计状态文件 {self.path} 格式错误 / malformed audit state file {self.path}: {exc}"
            ) from None

    def remember(self, log: str, report: LogReport) -> None:
        """Write down an intact log's length and head (never a shorter one), atomically."""
        if not report.ok:
            raise StateError("不记录未通过校验的日志 / an audit log that failed is not remembered")
        seen = self.logs.get(log)
        if seen is not None and int(seen["count"]) > report.entries:
            return
        newest: Checkpoint | None = report.newest
        self.logs[log] = {
            "count": report.entries,
            "head_hash": report.chain.head,
            "verified_at": utcnow().isoformat(timespec="seconds"),
            "checkpoint": newest.document() if newest else None,
        }
        body = json.dumps({"format": FORMAT, "logs": self.logs}, ensure_ascii=False, indent=2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_text(body + "\n", encoding="utf-8")
        os.replace(temporary, self.path)
