"""Small documents people write by hand — blueprints, inspection plans: read as UTF-8 text
within a size limit, YAML parsed without aliases, and a model's validation errors located by
their field path (``parts[0].types.single.count``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from certify.infra.errors import InputError, Problem


def read_text(
    path: Path, max_bytes: int, *, too_large: tuple[str, str], encoding: tuple[str, str]
) -> str:
    """The file's text (a BOM dropped); raises InputError naming the file when it is larger
    than ``max_bytes`` (``too_large``: the message, Chinese and English), unreadable, or not
    UTF-8 (``encoding``)."""

    def fail(code: str, zh: str, en: str) -> InputError:
        return InputError(Problem(str(path), None, None, code, zh, en))

    try:
        if path.stat().st_size > max_bytes:
            raise fail("file_too_large", *too_large)
        return path.read_text("utf-8-sig")
    except OSError as exc:
        raise fail(
            "unreadable", f"无法读取：{exc.strerror}", f"cannot read: {exc.strerror}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise fail("encoding", *encoding) from exc


class PlainLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases: a hand-written document never needs ``*name``, and
    aliases of aliases make a file of a few hundred bytes stand for billions of nodes ("billion
    laughs")."""

    document = "here"
    """Where aliases are refused, for the message (``in a blueprint``)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*name) are not accepted {self.document}", event.start_mark
            )
        return super().compose_node(parent, index)


def field_path(loc: tuple[int | str, ...]) -> str:
    """A validation error's location as a field path: ``parts[0].types``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
