"""QTI 3.0 content packages (``imsmanifest.xml`` and ``qti-assessment-item`` files), in and out.

Written: choice (single, multiple, true/false), text-entry (fill, one interaction per blank),
match (matching: premises ``P1``… to options ``A``…, directed pairs) and extended-text
(subjective, its rubric in a scorer's ``qti-rubric-block``) interactions, scored by the
``match_correct`` and ``map_response`` templates (several blanks: the same sum written out; a
matching item maps each right pair to its share of the points). The fields QTI has no place for
travel in ``certify-items.json`` beside the items. Read: the same subset; any other interaction
(order, hotspot, …) is refused by name.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from html import escape
from typing import Any
from urllib.parse import unquote
from xml.etree.ElementTree import Element

from lxml import etree

from certify.infra.errors import InputError, Problem
from certify.infra.xlsx_guard import zip_directory
from question_bank.formats import RawItem, format_number
from question_bank.images import CheckedImage, hashes_in, shown_texts
from question_bank.interchange.common import (
    BLANK,
    DEFAULT_BLANK,
    ITEM_ID,
    PLAIN_TAGS,
    Event,
    Ids,
    Placement,
    Question,
    events_text,
    flat_text,
    html_text,
    image_resolver,
    meta,
    text_html,
)
from question_bank.interchange.moodle import parse_xml, xml_parser
from schemas.enums import ItemType
from schemas.items import ItemData
from schemas.notation import ALTERNATIVE_SEPARATOR, LIST_SEPARATOR, OPTION_LETTERS

NS = "http://www.imsglobal.org/xsd/imsqtiasi_v3p0"
CP = "http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1"
ITEM_TYPE = "imsqti_item_xmlv3p0"
TEST_TYPE = "imsqti_test_xmlv3p0"
SIDECAR = "certify-items.json"
TEMPLATES = "https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/"
MAX_MEMBERS = 50_000
MAX_MEMBER_BYTES = 64 * 2**20
"""One member unpacked (an item, the manifest, certify's metadata: the largest, about 500 bytes
an item), as a workbook's part is bounded."""
MAX_UNPACKED = 200 * 2**20
MAX_DIRECTORY_ENTRY = 1_024
"""Bytes a member may take in the zip's directory (its name and extra fields)."""
TRUE_TEXT, FALSE_TEXT = "正确 True", "错误 False"
HOLE = "\ue000"


def qti_identifier(item_id: str) -> str:
    """An item id as a QTI identifier (an NCName: it may not start with a digit)."""
    return item_id if item_id[0].isalpha() else f"_{item_id}"


# --- writing -----------------------------------------------------------------------------------


def _declaration(identifier: str, cardinality: str, base: str, values: list[str]) -> str:
    correct = "".join(f"<qti-value>{escape(v)}</qti-value>" for v in values)
    return (
        f'<qti-response-declaration identifier="{identifier}" cardinality="{cardinality}" '
        f'base-type="{base}">'
        + (f"<qti-correct-response>{correct}</qti-correct-response>" if values else "")
        + "</qti-response-declaration>"
    )


def _outcomes(points: float) -> str:
    value = format_number(points)
    return (
        '<qti-outcome-declaration identifier="SCORE" cardinality="single" base-type="float" '
        f'normal-maximum="{value}"><qti-default-value><qti-value>0</qti-value>'
        "</qti-default-value></qti-outcome-declaration>"
        '<qti-outcome-declaration identifier="MAXSCORE" cardinality="single" base-type="float">'
        f"<qti-default-value><qti-value>{value}</qti-value></qti-default-value>"
        "</qti-outcome-declaration>"
    )


Src = Callable[[str], "str | None"]
"""An image's hash to its address in the package (None: the marker stays as text)."""


def _choices(pairs: Iterable[tuple[str, str]], max_choices: int, src: Src) -> str:
    choices = "".join(
        f'<qti-simple-choice identifier="{i}">{text_html(t, src)}</qti-simple-choice>'
        for i, t in pairs
    )
    return (
        f'<qti-choice-interaction response-identifier="RESPONSE" max-choices="{max_choices}">'
        f"{choices}</qti-choice-interaction>"
    )


def _fill_parts(item: ItemData, src: Src) -> tuple[str, str, str]:
    """Declarations, body and response processing of a fill item: one text entry per blank."""
    blanks = item.fill_blanks
    names = (
        ["RESPONSE"] if len(blanks) == 1 else [f"RESPONSE_{n}" for n in range(1, len(blanks) + 1)]
    )
    declarations = ""
    for name, alternatives in zip(names, blanks, strict=True):
        keys = [a.partition("±")[0] for a in alternatives]
        entries = "".join(
            f'<qti-map-entry map-key="{escape(k)}" mapped-value="1"/>' for k in dict.fromkeys(keys)
        )
        declarations += _declaration(name, "single", "string", keys[:1]).replace(
            "</qti-response-declaration>",
            f'<qti-mapping default-value="0" upper-bound="1">{entries}</qti-mapping>'
            "</qti-response-declaration>",
        )
    pieces = BLANK.split(item.stem)
    marks = BLANK.findall(item.stem)
    body = text_html(pieces[0], src)
    for name, mark, piece in zip(names, marks, pieces[1:], strict=True):
        body += (
            f'<qti-text-entry-interaction response-identifier="{name}" '
            f'expected-length="{len(mark)}"/>' + text_html(piece, src)
        )
    if len(names) == 1:
        processing = f'<qti-response-processing template="{TEMPLATES}map_response.xml"/>'
    else:
        total = "".join(f'<qti-map-response identifier="{n}"/>' for n in names)
        processing = (
            '<qti-response-processing><qti-set-outcome-value identifier="SCORE">'
            f"<qti-sum>{total}</qti-sum></qti-set-outcome-value></qti-response-processing>"
        )
    return declarations, f"<div>{body}</div>", processing


def _match_parts(item: ItemData, src: Src) -> tuple[str, str]:
    """Declaration and interaction of a matching item: the premises ``P1``… (each matched once)
    to the options by letter (each any number of times); every right pair is worth its share
    of the points, as certify scores it."""
    pairs = [f"P{n} {letter}" for n, letter in enumerate(item.key, start=1)]
    share = format_number(round(item.points / len(pairs), 6))
    entries = "".join(f'<qti-map-entry map-key="{p}" mapped-value="{share}"/>' for p in pairs)
    declaration = _declaration("RESPONSE", "multiple", "directedPair", pairs).replace(
        "</qti-response-declaration>",
        f'<qti-mapping default-value="0" lower-bound="0" upper-bound="{format_number(item.points)}">'
        f"{entries}</qti-mapping></qti-response-declaration>",
    )
    n = len(item.premises)
    premises = "".join(
        f'<qti-simple-associable-choice identifier="P{k}" match-max="1">{text_html(t, src)}'
        "</qti-simple-associable-choice>"
        for k, t in enumerate(item.premises, start=1)
    )
    options = "".join(
        f'<qti-simple-associable-choice identifier="{letter}" match-max="{n}">{text_html(t, src)}'
        "</qti-simple-associable-choice>"
        for letter, t in item.options.items()
    )
    interaction = (
        f'<qti-match-interaction response-identifier="RESPONSE" max-associations="{n}">'
        f"<qti-simple-match-set>{premises}</qti-simple-match-set>"
        f"<qti-simple-match-set>{options}</qti-simple-match-set></qti-match-interaction>"
    )
    return declaration, interaction


def qti_item(item: ItemData, images: Mapping[str, CheckedImage] | None = None) -> bytes:
    """One item as a ``qti-assessment-item`` document; the images it shows (from ``images``)
    as ``<img>``s of the package's files (:func:`image_href`)."""
    kind = item.type
    match_correct = f'<qti-response-processing template="{TEMPLATES}match_correct.xml"/>'
    known = images or {}

    def src(sha: str) -> str | None:
        return "../" + image_href(known[sha]) if sha in known else None

    stem = f"<div>{text_html(item.stem, src)}</div>"
    if kind is ItemType.SINGLE or kind is ItemType.MULTIPLE:
        many = kind is ItemType.MULTIPLE
        declarations = _declaration(
            "RESPONSE", "multiple" if many else "single", "identifier", list(item.key)
        )
        body = stem + _choices(item.options.items(), 0 if many else 1, src)
        processing = match_correct
    elif kind is ItemType.TRUE_FALSE:
        declarations = _declaration("RESPONSE", "single", "identifier", [item.key])
        body = stem + _choices([("T", TRUE_TEXT), ("F", FALSE_TEXT)], 1, src)
        processing = match_correct
    elif kind is ItemType.FILL:
        declarations, body, processing = _fill_parts(item, src)
    elif kind is ItemType.MATCHING:
        declarations, body = _match_parts(item, src)
        body = stem + body
        processing = f'<qti-response-processing template="{TEMPLATES}map_response.xml"/>'
    else:
        # the reference answer for raters, as the response's exemplar
        declarations = _declaration("RESPONSE", "single", "string", [item.key] if item.key else [])
        rubric = (
            f'<qti-rubric-block use="scoring" view="scorer"><qti-content-body><div>'
            f"{text_html(item.rubric)}</div></qti-content-body></qti-rubric-block>"
        )
        body = rubric + stem + '<qti-extended-text-interaction response-identifier="RESPONSE"/>'
        processing = ""
    document = (
        f'<qti-assessment-item xmlns="{NS}" identifier="{qti_identifier(item.item_id)}" '
        f'title="{escape(item.item_id)}" adaptive="false" time-dependent="false" xml:lang="zh-CN">'
        f"{declarations}{_outcomes(item.points)}<qti-item-body>{body}</qti-item-body>"
        f"{processing}</qti-assessment-item>"
    )
    return xml_document(document)


def _manifest(
    hrefs: list[tuple[str, str, list[str]]], test: tuple[str, str] | None = None
) -> bytes:
    """The package's manifest: a resource per item (with the image files it shows), the
    test's (depending on every item) when there is one, and certify's metadata."""
    resources = "".join(
        f'<resource identifier="R-{ident}" type="{ITEM_TYPE}" href="{href}">'
        f'<file href="{href}"/>{"".join(f"<file href={chr(34)}{i}{chr(34)}/>" for i in shown)}'
        "</resource>"
        for ident, href, shown in hrefs
    )
    if test is not None:
        ident, href = test
        needs = "".join(f'<dependency identifierref="R-{i}"/>' for i, _, _ in hrefs)
        resources = (
            f'<resource identifier="R-{ident}" type="{TEST_TYPE}" href="{href}">'
            f'<file href="{href}"/>{needs}</resource>' + resources
        )
    document = (
        f'<manifest xmlns="{CP}" identifier="certify-bank"><metadata><schema>QTI Package</schema>'
        "<schemaversion>3.0.0</schemaversion></metadata><organizations/>"
        f'<resources>{resources}<resource identifier="certify-metadata" type="webcontent" '
        f'href="{SIDECAR}"><file href="{SIDECAR}"/></resource></resources></manifest>'
    )
    return xml_document(document)


def xml_document(text: str) -> bytes:
    """Our own XML text, checked well formed, with its declaration; written as composed so the
    default namespace stays unprefixed."""
    data = text.encode("utf-8")
    etree.fromstring(data)  # raises if malformed: libxml2, not a parser driven from Python
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + data


def write_qti(
    items: Iterable[ItemData],
    test: tuple[str, str, bytes] | None = None,
    images: Mapping[str, CheckedImage] | None = None,
) -> bytes:
    """A QTI 3.0 content package (zip) of ``items``; with ``test`` (identifier, path in the
    package, ``qti-assessment-test`` document) that test too, first in the manifest. The
    images the items show (from ``images``) go in ``images/``, each once."""
    buffer = io.BytesIO()
    hrefs: list[tuple[str, str, list[str]]] = []
    sidecar: dict[str, dict[str, Any]] = {}
    known = images or {}
    written: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for item in items:
            identifier = qti_identifier(item.item_id)
            href = item_href(item)
            package.writestr(href, qti_item(item, known))
            shown = {
                image_href(known[h]): known[h] for h in hashes_in(shown_texts(item)) if h in known
            }
            for name, image in shown.items():
                if name not in written:
                    package.writestr(name, image.data)
                    written.add(name)
            hrefs.append((identifier, href, sorted(shown)))
            extra = {"type": item.type.value, "key": item.key} if item.type is ItemType.FILL else {}
            sidecar[identifier] = {**meta(item), **extra}
        if test is not None:
            package.writestr(test[1], test[2])
        package.writestr(SIDECAR, json.dumps(sidecar, ensure_ascii=False, separators=(",", ":")))
        package.writestr("imsmanifest.xml", _manifest(hrefs, test[:2] if test else None))
    return buffer.getvalue()


def item_href(item: ItemData) -> str:
    """Where ``item``'s document is in a package."""
    return f"items/{qti_identifier(item.item_id)}.xml"


def image_href(image: CheckedImage) -> str:
    """Where an image is in a package: ``images/<sha256>.<ext>``."""
    return f"images/{image.file_name}"


# --- reading -----------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: Element, name: str) -> list[Element]:
    """``element`` and its descendants named ``name`` in any namespace (lxml's ``{*}``)."""
    return list(element.iter(f"{{*}}{name}"))


def _markup(element: Element, question: Question, blanks: list[int]) -> str:
    """HTML of a QTI body's content, interactions taken out (text entries become holes)."""
    name = _local(element.tag)
    if name == "qti-text-entry-interaction":
        blanks.append(int(element.get("expected-length") or len(DEFAULT_BLANK)))
        return HOLE + escape(element.tail or "")
    if name.startswith("qti-") and name not in ("qti-item-body", "qti-content-body", "qti-prompt"):
        return escape(element.tail or "")
    attrs = "".join(
        f' {k}="{escape(v)}"' for k, v in element.attrib.items() if k in ("href", "src", "alt")
    )
    if name in ("br", "img", "hr"):
        return f"<{name}{attrs}>" + escape(element.tail or "")
    inner = escape(element.text or "") + "".join(_markup(c, question, blanks) for c in element)
    return f"<{name}{attrs}>{inner}</{name}>" + escape(element.tail or "")


KEPT_QTI = ("qti-item-body", "qti-content-body", "qti-prompt")
"""QTI elements whose content is read as the question's text (other ``qti-*`` are dropped)."""


def _events(element: Element, blanks: list[int], out: list[Event]) -> bool:
    """The markup events of ``element``'s content as :func:`_markup` writes it, appended to
    ``out``; False as soon as a tag is not one of :data:`PLAIN_TAGS` (then HTML is written)."""
    out.append(("data", element.text or ""))
    for child in element:
        name = _local(child.tag)
        if name == "qti-text-entry-interaction":
            blanks.append(int(child.get("expected-length") or len(DEFAULT_BLANK)))
            out.append(("data", HOLE))
        elif name in KEPT_QTI:
            if not _events(child, blanks, out):
                return False
        elif name.startswith("qti-"):
            pass
        elif name == "img":
            out.append(("img", (("src", child.get("src") or ""), ("alt", child.get("alt") or ""))))
        elif name not in PLAIN_TAGS:
            return False
        elif name == "br":
            out.append(("start", "br"))
        else:
            out.append(("start", name))
            if not _events(child, blanks, out):
                return False
            out.append(("end", name))
        out.append(("data", child.tail or ""))
    return True


def _text(question: Question, element: Element, part: str, blanks: list[int] | None = None) -> str:
    """The text of ``element``'s content; its text entries become blanks (their lengths added
    to ``blanks``), images are refused. Text alone, or plain markup (:data:`PLAIN_TAGS`), is
    read straight from the tree; other markup is written as HTML and sanitised first."""
    if not len(element):  # text alone (most choices): no markup to sanitise or to parse
        return flat_text(element.text or "")
    found: list[int] = [] if blanks is None else blanks
    events: list[Event] = []
    lengths: list[int] = []
    images: list[str] = []
    resolve = image_resolver(question, part)
    if _events(element, lengths, events):
        found += lengths
        text = events_text(events, resolve)
    else:
        html = escape(element.text or "") + "".join(_markup(c, question, found) for c in element)
        text, images = html_text(html, resolve)
    for src in images:
        question.unsupported(
            part,
            "image",
            f"图片 {src!r} 没有地址，无法保存",
            f"the image {src!r} has no address and cannot be kept",
        )
    return _holes(text, found)


def _holes(text: str, lengths: list[int]) -> str:
    """``text`` with its text entries' holes as blanks of their expected lengths (at least 3);
    a private-use character the text itself held past the last hole is left as it is."""
    holes = iter(lengths)

    def blank(found: re.Match[str]) -> str:
        length = next(holes, None)
        return found.group() if length is None else "_" * max(length, 3)

    return text if HOLE not in text else re.sub(HOLE, blank, text)


def _values(declaration: Element, path: str) -> list[str]:
    return [
        (v.text or "").strip()
        for v in _children(declaration, path)
        for v in _children(v, "qti-value")
    ]


def _tags(element: Element) -> list[str]:
    return [e.tag for e in element.iter()]


def _positive(value: str | None) -> bool:
    """Whether a ``mapped-value`` gives points (a value that is no number gives none)."""
    try:
        return float(value or "0") > 0
    except ValueError:
        return False


def _read_item(question: Question, root: Element) -> None:
    values = question.values
    body = next(iter(_children(root, "qti-item-body")), None)
    if body is None:
        question.unsupported("qti-item-body", "no_body", "缺少 qti-item-body", "no qti-item-body")
        return
    declarations = {d.get("identifier"): d for d in _children(root, "qti-response-declaration")}
    kinds = {name for name in map(_local, _tags(body)) if name.endswith("-interaction")}
    other = kinds - {
        "qti-choice-interaction",
        "qti-text-entry-interaction",
        "qti-extended-text-interaction",
        "qti-match-interaction",
    }
    if other or len(kinds) != 1:
        shown = ", ".join(sorted(other or kinds)) or "none"
        question.unsupported(
            "qti-item-body", "unsupported_type",
            f"交互类型 {shown} 在本系统中没有对应题型",
            f"the interaction(s) {shown} have no certify item type",
        )  # fmt: skip
        return
    kind = kinds.pop()
    blanks: list[int] = []
    values["stem"] = _text(question, body, "qti-item-body", blanks)
    for score in _children(root, "qti-outcome-declaration"):
        if score.get("identifier") == "MAXSCORE":
            values["points"] = next(iter(_values(score, "qti-default-value")), 1)
    if kind == "qti-choice-interaction":
        _read_choice(question, body, declarations)
    elif kind == "qti-match-interaction":
        _read_match(question, body, declarations)
    elif kind == "qti-text-entry-interaction":
        entries = _children(body, "qti-text-entry-interaction")
        key = []
        for entry in entries:
            declaration = declarations.get(entry.get("response-identifier"))
            accepted = [] if declaration is None else [
                m.get("map-key", "") for m in _children(declaration, "qti-map-entry")
                if _positive(m.get("mapped-value"))
            ] or _values(declaration, "qti-correct-response")  # fmt: skip
            key.append(ALTERNATIVE_SEPARATOR.join(accepted))
        values.update(type=ItemType.FILL.value, key=LIST_SEPARATOR.join(key))
    else:
        rubric = next(iter(_children(root, "qti-rubric-block")), None)
        declaration = declarations.get("RESPONSE")
        exemplar = [] if declaration is None else _values(declaration, "qti-correct-response")
        values.update(
            type=ItemType.SUBJECTIVE.value,
            key="\n".join(exemplar),
            rubric="" if rubric is None else _text(question, rubric, "qti-rubric-block"),
        )


def _read_choice(question: Question, body: Element, declarations: dict[Any, Element]) -> None:
    interaction = _children(body, "qti-choice-interaction")[0]
    choices = _children(interaction, "qti-simple-choice")
    declaration = declarations.get(interaction.get("response-identifier"))
    correct = set() if declaration is None else set(_values(declaration, "qti-correct-response"))
    texts = [_text(question, c, "qti-simple-choice") for c in choices]
    if [c.get("identifier") for c in choices] == ["T", "F"] and len(correct) == 1:
        question.values.update(type=ItemType.TRUE_FALSE.value, key=correct.pop())
        return
    if len(choices) > len(OPTION_LETTERS):
        question.unsupported(
            "qti-choice-interaction", "too_many_options", "选项多于 8 个", "more than 8 options"
        )
        return
    letters = OPTION_LETTERS[: len(choices)]
    question.values["options"] = dict(zip(letters, texts, strict=True))
    key = "".join(
        letter for letter, c in zip(letters, choices, strict=True) if c.get("identifier") in correct
    )
    many = declaration is not None and declaration.get("cardinality") == "multiple"
    question.values.update(type=ItemType.MULTIPLE.value if many else ItemType.SINGLE.value, key=key)


def _read_match(question: Question, body: Element, declarations: dict[Any, Element]) -> None:
    """A match interaction: its first set the premises, its second the options (lettered A, B,
    … in order); each premise keyed by its correct directed pair."""
    interaction = _children(body, "qti-match-interaction")[0]
    sets = _children(interaction, "qti-simple-match-set")
    if len(sets) != 2:
        question.unsupported(
            "qti-match-interaction",
            "bad_match",
            "配对交互应有两组选项（题项与选项）",
            "a match interaction has two sets (premises and options)",
        )
        return
    premises = _children(sets[0], "qti-simple-associable-choice")
    options = _children(sets[1], "qti-simple-associable-choice")
    if len(options) > len(OPTION_LETTERS):
        question.unsupported(
            "qti-match-interaction", "too_many_options", "选项多于 8 个", "more than 8 options"
        )
        return
    letters = dict(zip((o.get("identifier") for o in options), OPTION_LETTERS, strict=False))
    declaration = declarations.get(interaction.get("response-identifier"))
    correct = [] if declaration is None else _values(declaration, "qti-correct-response")
    target = dict(pair.split(None, 1) for pair in correct if len(pair.split()) == 2)
    key = []
    for n, premise in enumerate(premises, start=1):
        letter = letters.get(target.get(premise.get("identifier") or "", ""))
        if letter is None:
            question.unsupported(
                f"premise {n}",
                "no_answer",
                f"题项 {premise.get('identifier')} 没有正确的配对",
                f"premise {premise.get('identifier')} has no correct pair",
            )
            return
        key.append(letter)
    question.values.update(
        type=ItemType.MATCHING.value,
        premises=[_text(question, p, "qti-simple-associable-choice") for p in premises],
        options={
            letter: _text(question, o, "qti-simple-associable-choice")
            for letter, o in zip(OPTION_LETTERS, options, strict=False)
        },
        key="".join(key),
    )


def _package(file: str, data: bytes) -> zipfile.ZipFile:
    """The package, once its directory (announced before it is read, then as read) stays
    within :data:`MAX_MEMBERS` members, :data:`MAX_MEMBER_BYTES` a member and
    :data:`MAX_UNPACKED` in all. Sizes are the directory's: zipfile never unpacks a member
    past its declared size (a lie ends in a CRC error)."""
    announced = zip_directory(io.BytesIO(data))
    if announced is not None and (
        announced[0] > MAX_MEMBERS or announced[1] > MAX_MEMBERS * MAX_DIRECTORY_ENTRY
    ):
        raise _too_large(file, f"more than {MAX_MEMBERS:,} members")
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise InputError(
            Problem(file, None, None, "bad_package", "不是 zip 内容包", "not a zip content package")
        ) from error
    members = package.infolist()
    largest = max(members, key=lambda m: m.file_size, default=None)
    if len(members) > MAX_MEMBERS:
        raise _too_large(file, f"more than {MAX_MEMBERS:,} members")
    if largest is not None and largest.file_size > MAX_MEMBER_BYTES:
        raise _too_large(
            file,
            f"{largest.filename} unpacks to {largest.file_size / 2**20:.0f} MB, over "
            f"{MAX_MEMBER_BYTES // 2**20} MB",
        )
    if sum(m.file_size for m in members) > MAX_UNPACKED:
        raise _too_large(file, f"it unpacks to over {MAX_UNPACKED // 2**20} MB")
    return package


def _too_large(file: str, why: str) -> InputError:
    return InputError(
        Problem(
            file,
            None,
            None,
            "package_too_large",
            f"内容包过大，拒绝读取（{why}）",
            f"the package is too large to read: {why}",
        )
    )


def _member(file: str, package: zipfile.ZipFile, name: str) -> bytes:
    """One member's bytes; raises KeyError when absent, InputError when it cannot be unpacked
    (encrypted, damaged, a method zipfile lacks, a size or CRC that lies)."""
    try:
        return package.read(name)
    except KeyError:
        raise
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError) as error:
        raise InputError(
            Problem(
                file,
                None,
                name,
                "bad_package",
                f"内容包中的 {name} 无法解压：{error}",
                f"{name} in the package cannot be unpacked: {error}",
            )
        ) from error


def _sidecar(file: str, data: bytes) -> dict[str, Any]:
    """certify's metadata beside the items: a JSON object of objects by item identifier."""
    try:
        found = json.loads(data)
    except ValueError as error:
        found = error
    if not isinstance(found, dict):
        raise InputError(
            Problem(
                file,
                None,
                SIDECAR,
                "bad_metadata",
                f"{SIDECAR} 不是有效的 JSON 对象",
                f"{SIDECAR} is not a JSON object",
            )
        )
    return found


def _package_file(
    file: str, package: zipfile.ZipFile, href: str, names: set[str]
) -> Callable[[str], bytes | None]:
    """How the item at ``href`` reads a file its markup names: relative to the item, inside the
    package (an address that leaves it, or names no member, finds nothing)."""

    def read(src: str) -> bytes | None:
        if "://" in src or src.startswith("/"):
            return None
        name = posixpath.normpath(posixpath.join(posixpath.dirname(href), unquote(src)))
        return _member(file, package, name) if name in names else None

    return read


def read_qti(file: str, data: bytes, placement: Placement) -> list[RawItem]:
    """Every item of a QTI 3.0 content package, in manifest order, as unvalidated rows."""
    package = _package(file, data)
    try:
        manifest = parse_xml(file, _member(file, package, "imsmanifest.xml"))
    except KeyError as error:
        raise InputError(
            Problem(
                file,
                None,
                None,
                "no_manifest",
                "内容包缺少 imsmanifest.xml",
                "the package has no imsmanifest.xml",
            )
        ) from error
    names = set(package.namelist())
    sidecar = _sidecar(file, _member(file, package, SIDECAR)) if SIDECAR in names else {}
    ids = Ids(placement.id_prefix or "QTI")
    parser = xml_parser()
    rows: list[RawItem] = []
    for resource in _children(manifest, "resource"):
        if not (resource.get("type") or "").startswith("imsqti_item_xml"):
            continue
        href = resource.get("href") or ""
        question = Question(file, len(rows) + 1, href)
        if href not in names:
            question.unsupported(
                "href", "missing_file", f"内容包中没有 {href}", f"{href} is not in the package"
            )
            rows.append(question.raw())
            continue
        root = parse_xml(f"{file}:{href}", _member(file, package, href), parser)
        question.files = _package_file(file, package, href, names)
        identifier = root.get("identifier") or ""
        question.name = root.get("title") or identifier
        _read_item(question, root)
        own = sidecar.get(identifier)
        if isinstance(own, dict):
            if "key" in own:
                question.values.update(type=own.pop("type", None), key=own.pop("key"))
            question.values.update(own)
        else:
            bare = identifier.removeprefix("_")
            question.values["item_id"] = (
                bare if ITEM_ID.fullmatch(bare) else ids.make("", identifier)
            )
            question.values.update(placement.place(""))
            question.values.setdefault("points", 1)
        rows.append(question.raw())
    return rows
