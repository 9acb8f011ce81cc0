"""What the interchange readers and writers share: where foreign questions go in certify
(occupation, level, knowledge area), stable item ids, HTML turned into safe text, and the
certify metadata a foreign format has no field for."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nh3
import yaml

from certify.infra.errors import InputError, Problem
from question_bank.formats import RawItem
from question_bank.images import MARKER, CheckedImage, ImageRefused, check_image, marker
from schemas.enums import ItemType
from schemas.items import ItemData
from schemas.notation import LIST_SEPARATOR, OPTION_LETTERS

ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
BLANK = re.compile(r"_{3,}")
DEFAULT_BLANK = "______"
SPACES = re.compile(r"[ \t\r\n\f]+")
"""HTML's white space, read as one space."""
BLANK_LINES = re.compile(r"\n{3,}")

META_FIELDS = (
    "item_id",
    "occupation",
    "level",
    "knowledge_area",
    "points",
    "difficulty",
    "source",
    "tags",
    "status",
    "rubric",
)
"""The fields of an item that GIFT, Moodle XML and QTI have no place of their own for; each
writer stores them where the format lets a tool keep private data, and its reader takes them
back."""


@dataclass(frozen=True)
class Placement:
    """Where questions from another system go: occupation, level and knowledge area, by their
    category path (a Moodle ``$course$/…`` path, a GIFT ``$CATEGORY``), with defaults.

    Built from the command line (``--occupation``, ``--level``, ``--area``) and, optionally,
    a mapping file (:func:`load_placement`)."""

    occupation: str | None = None
    level: str | None = None
    area: str | None = None
    categories: dict[str, dict[str, str]] = field(default_factory=dict)
    id_prefix: str = ""

    def place(self, category: str) -> dict[str, str | None]:
        """Occupation, level and area for ``category``: its own entry, else its nearest parent
        category's, else the defaults."""
        found: dict[str, str] = {}
        path = category.strip("/")
        while path:
            if path in self.categories:
                found = self.categories[path]
                break
            path = path.rpartition("/")[0]
        return {
            "occupation": found.get("occupation", self.occupation),
            "level": found.get("level", self.level),
            "knowledge_area": found.get("area", self.area),
        }


def load_placement(
    path: Path | None,
    *,
    occupation: str | None = None,
    level: str | None = None,
    area: str | None = None,
    id_prefix: str = "",
) -> Placement:
    """A :class:`Placement` from a YAML or JSON mapping file, command-line values winning.

    The file reads::

        occupation: ai          # defaults for every question
        level: senior
        area: "1"
        categories:
          $course$/机器学习: "3"                     # a category's knowledge area
          $course$/云/基础: {area: "2", level: junior}

    Raises InputError when the file is not such a mapping."""
    text = None
    if path is not None:
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise _bad_map(str(path), str(error)) from error
    return parse_placement(
        text, str(path), occupation=occupation, level=level, area=area, id_prefix=id_prefix
    )


def parse_placement(
    text: str | None,
    source: str,
    *,
    occupation: str | None = None,
    level: str | None = None,
    area: str | None = None,
    id_prefix: str = "",
) -> Placement:
    """A :class:`Placement` from the text of a mapping (as :func:`load_placement` reads it, or
    as typed into a form), ``source`` naming it in errors; the values given win. Raises
    InputError when the text is not such a mapping."""
    data: dict[str, Any] = {}
    if text is not None and text.strip():
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise _bad_map(source, str(error)) from error
        if not isinstance(loaded, dict):
            raise _bad_map(source, "not a mapping")
        data = loaded
    categories: dict[str, dict[str, str]] = {}
    raw = data.get("categories") or {}
    if not isinstance(raw, dict):
        raise _bad_map(source, "categories must be a mapping")
    for name, target in raw.items():
        if not isinstance(name, (str, int)):
            raise _bad_map(source, "a category is a name")
        if isinstance(target, (str, int)):
            categories[str(name).strip("/")] = {"area": str(target)}
        elif (
            isinstance(target, dict)
            and set(target) <= {"occupation", "level", "area"}
            and all(isinstance(v, (str, int)) for v in target.values())
        ):
            categories[str(name).strip("/")] = {k: str(v) for k, v in target.items()}
        else:
            why = f"category {name!r}: give an area code or occupation/level/area"
            raise _bad_map(source, why)
    return Placement(
        occupation=occupation or _opt(source, data.get("occupation")),
        level=level or _opt(source, data.get("level")),
        area=area or _opt(source, data.get("area")),
        categories=categories,
        id_prefix=id_prefix,
    )


def _opt(source: str, value: Any) -> str | None:
    """A default from the mapping: a name or code, never a structure (whose text could be
    made huge with YAML aliases)."""
    if value is None:
        return None
    if not isinstance(value, (str, int)):
        kind = type(value).__name__
        raise _bad_map(source, f"occupation, level and area are names or codes, not a {kind}")
    return str(value)


def _bad_map(source: str, why: str) -> InputError:
    return InputError(
        Problem(
            source,
            None,
            None,
            "bad_category_map",
            f"知识领域对照文件无法使用：{why}",
            f"the category mapping file cannot be used: {why}",
        )
    )


@dataclass(frozen=True)
class Destination:
    """Where the questions of one category go, and how many there are."""

    category: str
    occupation: str | None
    level: str | None
    knowledge_area: str | None
    questions: int


def destinations(rows: list[RawItem]) -> list[Destination]:
    """Per category, in file order: the occupation, level and area its questions take."""
    seen: dict[tuple[str, Any, Any, Any], int] = {}
    for row in rows:
        v = row.values
        where = (row.category, v.get("occupation"), v.get("level"), v.get("knowledge_area"))
        seen[where] = seen.get(where, 0) + 1
    return [Destination(*where, count) for where, count in seen.items()]


class Ids:
    """Stable item ids for questions that bring none of their own: a prefix and a short hash
    of the category and the question's name (else its text), so importing the same file again
    finds the same items; a repeated name in one category gets ``-2``, ``-3``…"""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.seen: dict[str, int] = {}

    def make(self, category: str, name: str) -> str:
        digest = hashlib.sha256(f"{category}\x00{name}".encode()).hexdigest()[:12]
        base = f"{self.prefix}-{digest}"
        self.seen[base] = self.seen.get(base, 0) + 1
        return base if self.seen[base] == 1 else f"{base}-{self.seen[base]}"


# --- problems on a question --------------------------------------------------------------------


class Question:
    """One foreign question on its way to a :class:`RawItem`: its position and name for the
    messages, the values found so far, and the problems and notices met."""

    def __init__(
        self, file: str, number: int, name: str, line: int | None = None, category: str = ""
    ) -> None:
        self.file, self.number, self.name, self.line = file, number, name, line
        self.category = category
        self.values: dict[str, Any] = {"options": {}}
        self.problems: list[Problem] = []
        self.notices: list[Problem] = []
        self.images: dict[str, CheckedImage] = {}
        self.files: Callable[[str], bytes | None] | None = None
        """The bytes of a file the question's markup names (a package's image), if any."""

    def where(self, part: str) -> str:
        shown = f"«{self.name}»" if self.name else f"#{self.number}"
        at = f", line {self.line}" if self.line else ""
        return f"{shown}{at}: {part}"

    def unsupported(self, part: str, code: str, zh: str, en: str) -> None:
        """Something certify's items cannot hold: the question is refused."""
        self.problems.append(Problem(self.file, self.number, self.where(part), code, zh, en))

    def notice(self, part: str, code: str, zh: str, en: str) -> None:
        """Something left behind that no item needs (feedback, a description): reported."""
        self.notices.append(Problem(self.file, self.number, self.where(part), code, zh, en))

    def keep_image(self, part: str, name: str, data: bytes | None, alt: str) -> str | None:
        """The marker of image ``name`` (its bytes ``data``, None when the file lacks them),
        kept with the question; None, with the question refused, when it cannot be kept."""
        if data is None:
            self.unsupported(
                part,
                "image_missing",
                f"图片 {name!r} 不在文件中",
                f"the image {name!r} is not in the file",
            )
            return None
        try:
            image = check_image(data)
        except ImageRefused as refused:
            self.unsupported(
                part,
                "bad_image",
                f"图片 {name!r}：{refused.zh}",
                f"the image {name!r}: {refused.en}",
            )
            return None
        self.images[image.sha256] = image
        return marker(image.sha256, alt)

    def raw(self) -> RawItem:
        labels = {name: self.where(name) for name in self.values}
        return RawItem(
            self.number,
            self.values,
            labels,
            self.problems,
            self.notices,
            self.category,
            self.images,
        )


# --- images ----------------------------------------------------------------------------------


IMAGE_PROBLEMS = frozenset({"image", "image_missing", "bad_image"})
"""The codes of the problems an image of a question can have."""


def data_uri_bytes(src: str) -> bytes | None:
    """The bytes of a base64 ``data:`` address, None when it is not one."""
    head, comma, body = src.partition(",")
    if not comma or not head.startswith("data:") or not head.endswith(";base64"):
        return None
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def image_resolver(
    question: Question, part: str, files: Callable[[str], bytes | None] | None = None
) -> Resolve:
    """How a reader keeps the images of one text of ``question``: a ``data:`` image from its
    address, any other from ``files`` (the format's own files, by ``src``); each checked and
    kept with the question, or the question refused naming the image."""

    def resolve(src: str, alt: str) -> str | None:
        if src.startswith("data:"):
            return question.keep_image(part, src[:40] + "…", data_uri_bytes(src), alt)
        found = files or question.files
        return question.keep_image(part, src, found(src) if found else None, alt)

    return resolve


# --- HTML to text ------------------------------------------------------------------------------

ALLOWED_TAGS = {
    "a", "b", "big", "blockquote", "br", "caption", "code", "dd", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s",
    "samp", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "tt", "u", "ul", "var",
}  # fmt: skip
BLOCKS = {
    "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "dt", "dd",
    "table", "ul", "ol", "hr", "caption",
}  # fmt: skip


def sanitise(html: str) -> str:
    """``html`` through nh3 (Rust's ammonia on an HTML5 parser): only formatting tags are left,
    no scripts or styles with their content, no event-handler or style attributes, links only
    to http(s) and mailto, images keeping ``src`` and ``alt`` (a ``data:`` image too: the
    result is only ever read for its text, never shown as HTML)."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href"}, "img": {"src", "alt"}},
        url_schemes={"http", "https", "mailto", "data"},
        link_rel=None,
        strip_comments=True,
    )


Resolve = Callable[[str, str], "str | None"]
"""An image's ``src`` and ``alt`` to the marker that keeps it in an item's text, or None when
the image cannot be kept (the reader has said why, or the caller refuses it by name)."""


class _Text(HTMLParser):
    def __init__(self, resolve: Resolve | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.pre = 0
        self.images: list[str] = []
        self.links: list[tuple[str, int]] = []
        self.resolve = resolve

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "img":
            found = dict(attrs)
            src, alt = found.get("src") or "", found.get("alt") or ""
            if self.resolve is None or not src:
                self.images.append(src or alt)
            else:  # kept as its marker, or refused by the resolver (which says why)
                self.parts.append(self.resolve(src, alt) or "")
        elif tag in BLOCKS:
            self._break()
            if tag == "li":
                self.parts.append("- ")
        if tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))
        if tag == "pre":
            self.pre += 1
        if tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links:
            href, start = self.links.pop()
            shown = "".join(self.parts[start:]).strip()
            if href and href != shown and not href.startswith("data:"):
                self.parts.append(f" ({href})")  # the address is kept as text, never as a link
        if tag in BLOCKS:
            self._break()
        if tag == "pre":
            self.pre -= 1

    def _break(self) -> None:
        """A block's edge: one line break, however many blocks meet there."""
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.pre:
            data = SPACES.sub(" ", data)
        self.parts.append(data.replace("\u00a0", " "))  # a no-break space is kept, as a space


def html_text(html: str, resolve: Resolve | None = None) -> tuple[str, list[str]]:
    """The text a person reads in ``html``, after :func:`sanitise`: line breaks where the
    markup breaks lines, entities decoded, runs of spaces as one (a no-break space is a space),
    each image that ``resolve`` keeps as its marker; and the images not kept (their ``src``)."""
    parser = _Text(resolve)
    parser.feed(sanitise(html))
    parser.close()
    return _read(parser), parser.images


def _read(parser: _Text) -> str:
    text = "".join(parser.parts).replace("\t\n", "\n")
    lines = [line.strip(" ") for line in text.split("\n")]
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


PLAIN_TAGS = frozenset({"div", "br", "span", "b", "i", "em", "strong", "sub", "sup", "u"})
"""Tags that need no sanitising and that an HTML parser nests as written: markup of these alone
is read by :func:`events_text` without writing and re-parsing HTML."""

Event = tuple[str, Any]
"""``("data", text)``, ``("start", tag)``, ``("end", tag)`` or ``("img", attributes)``."""


def events_text(events: Iterable[Event], resolve: Resolve | None = None) -> str:
    """:func:`html_text` of markup given as events whose tags are all :data:`PLAIN_TAGS` (a
    ``br`` has no end): the same text, read straight from a parsed tree. Adjacent data is
    joined first, and empty data dropped, as an HTML parser does."""
    parser = _Text(resolve)
    pending: list[str] = []
    events = list(events)
    if events and events[0][0] == "data":  # as the HTML parser, drop a byte-order mark there
        events[0] = ("data", events[0][1].removeprefix("\ufeff"))
    for kind, value in events:
        if kind == "data":
            pending.append(value)
            continue
        if "".join(pending):
            parser.handle_data("".join(pending))
        pending = []
        if kind == "img":
            parser.handle_starttag("img", list(value))
        elif kind == "start":
            parser.handle_starttag(value, [])
        else:
            parser.handle_endtag(value)
    if "".join(pending):
        parser.handle_data("".join(pending))
    return _read(parser)


def flat_text(text: str) -> str:
    """:func:`html_text` of markup-free ``text`` (an XML element's text, no child elements),
    computed directly: the same runs of spaces made one and the same ends stripped (and, as
    the HTML parser drops it, a byte-order mark at the very start)."""
    return SPACES.sub(" ", text.removeprefix("\ufeff")).replace("\u00a0", " ").strip()


def text_html(text: str, src: Callable[[str], str | None] | None = None) -> str:
    """Plain ``text`` as HTML that :func:`html_text` reads back to the same text: escaped,
    ``<br/>`` for line breaks, a run of spaces kept with no-break spaces; with ``src`` (an
    image's hash to the address the format gives it, None for one it lacks), each image
    marker as an ``<img>``."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if src is not None and "](sha256:" in text:

        def img(found: re.Match[str]) -> str:
            address = src(found.group(2))
            if address is None:
                return found.group()
            return f'<img src="{escape(address)}" alt="{found.group(1)}"/>'

        text = MARKER.sub(img, text)
    if "  " in text:
        text = re.sub(r" {2,}", lambda m: " " + "&#160;" * (len(m.group()) - 1), text)
    return text.replace("\n", "<br/>")


# --- metadata ----------------------------------------------------------------------------------


def meta(item: ItemData) -> dict[str, Any]:
    """The item's fields that the foreign format has no place for, as JSON-ready values."""
    data = item.model_dump(mode="json")
    return {name: data[name] for name in META_FIELDS}


def meta_json(item: ItemData) -> str:
    """The certify metadata of ``item`` as GIFT and Moodle XML carry it: :func:`meta`, and the
    answer where those formats cannot say it as certify holds it — a fill-in key (Moodle reads
    ``*`` as a wildcard and has no short answer with several blanks) and a matching item whole
    (their pairs carry no letters or order, and GIFT cannot escape ``->`` in a premise)."""
    held: dict[str, Any] = {}
    if item.type is ItemType.FILL:
        held = {"type": item.type.value, "key": item.key}
    elif item.type is ItemType.MATCHING:
        held = {
            "type": item.type.value,
            "key": item.key,
            "options": item.options,
            "premises": item.premises,
        }
    return json.dumps({**meta(item), **held}, ensure_ascii=False, separators=(",", ":"))


def key_blanks(key: str) -> list[str]:
    return key.split(LIST_SEPARATOR)


def matching(question: Question, part: str, pairs: list[tuple[str, str]]) -> None:
    """A matching question from its (premise, answer) pairs, as Moodle holds one: the distinct
    answers become the options A, B, … in the order they first appear, each premise keyed to its
    answer's letter; a pair with no premise is a distractor. More than eight distinct answers
    refuse the question."""
    options: dict[str, str] = {}
    letter_of: dict[str, str] = {}
    premises: list[str] = []
    key: list[str] = []
    for premise, answer in pairs:
        if answer not in letter_of:
            if len(options) == len(OPTION_LETTERS):
                question.unsupported(
                    part,
                    "too_many_options",
                    f"选项多于 {len(OPTION_LETTERS)} 个",
                    f"more than {len(OPTION_LETTERS)} options",
                )
                return
            letter_of[answer] = OPTION_LETTERS[len(options)]
            options[letter_of[answer]] = answer
        if premise:
            premises.append(premise)
            key.append(letter_of[answer])
    question.values.update(
        type=ItemType.MATCHING.value, options=options, premises=premises, key="".join(key)
    )
