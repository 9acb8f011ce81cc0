"""Moodle XML (``<quiz>`` of ``<question type=…>``), in and out.

Files are parsed by libxml2 (lxml) with entities never substituted, no DTD loaded, no network,
and no DTD accepted at all: an upload with entity declarations (billion laughs) or external
entities is refused before anything is expanded or fetched.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote
from xml.etree.ElementTree import Element, SubElement, indent, tostring

from lxml import etree

from certify.infra.errors import InputError, Problem
from question_bank.formats import RawItem, format_number
from question_bank.images import CheckedImage, hashes_in
from question_bank.interchange.common import (
    BLANK,
    DEFAULT_BLANK,
    ITEM_ID,
    Ids,
    Placement,
    Question,
    html_text,
    image_resolver,
    matching,
    meta_json,
    text_html,
)
from schemas.enums import ItemType
from schemas.items import ItemData
from schemas.notation import ALTERNATIVE_SEPARATOR, OPTION_LETTERS

UNSUPPORTED = {
    "cloze": "完形填空（cloze）",
    "multianswer": "嵌入式答案（cloze）",
    "calculated": "计算题",
    "calculatedsimple": "简单计算题",
    "calculatedmulti": "计算选择题",
    "ddwtos": "拖放文字",
    "ddimageortext": "拖放到图片",
    "ddmarker": "拖放标记",
    "gapselect": "选择缺失词",
    "ordering": "排序题",
    "randomsamatch": "随机简答配对",
    "random": "随机题",
    "description": "说明文字（不是题目）",
}


def xml_parser() -> Any:
    """The hardened parser :func:`parse_xml` uses; one may serve every member of a package."""
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(file: str, data: bytes, parser: Any = None) -> Element:
    """The root element of an uploaded XML file; raises InputError for malformed XML and for
    any DTD (entity declarations, external entities), which certify never needs.

    libxml2 parses it (several times faster than a parser hooked in Python) with entities left
    unsubstituted and nothing loaded, so a DTD is seen and refused before anything in it is
    expanded or fetched. The element is lxml's, used only through the ElementTree API the two
    share; comments and processing instructions are dropped."""
    try:
        root = etree.fromstring(data, parser or xml_parser())
    except etree.XMLSyntaxError as error:
        raise InputError(
            Problem(
                file, None, None, "bad_xml", f"XML 格式错误：{error}", f"malformed XML: {error}"
            )
        ) from error
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise InputError(
            Problem(
                file,
                None,
                None,
                "xml_refused",
                "XML 文件含有 DTD 或实体声明，出于安全考虑拒绝读取",
                "the XML file declares a DTD or entities, refused for safety",
            )
        )
    found: Element = root
    return found


def read_moodle(file: str, data: bytes, placement: Placement) -> list[RawItem]:
    """Every question of a Moodle XML file as an unvalidated row, numbered from 1."""
    root = parse_xml(file, data)
    if root.tag != "quiz":
        raise InputError(
            Problem(
                file,
                None,
                None,
                "not_moodle_xml",
                f"根元素应为 <quiz>，现为 <{root.tag}>",
                f"the root element should be <quiz>, not <{root.tag}>",
            )
        )
    rows: list[RawItem] = []
    category = ""
    ids = Ids(placement.id_prefix or "MOODLE")
    for element in root.iter("question"):
        kind = element.get("type", "")
        if kind == "category":
            category = (element.findtext("category/text") or "").strip()
            continue
        name = (element.findtext("name/text") or "").strip()
        question = Question(file, len(rows) + 1, name, None, category)
        _read_question(question, element, kind, placement, ids)
        rows.append(question.raw())
    return rows


def _text(question: Question, element: Element | None, part: str) -> str:
    """The text of a Moodle text field (``<questiontext format=…><text>``) as plain text; the
    images it shows are kept with the question, from the field's base64 ``<file>`` elements
    (``@@PLUGINFILE@@/name``) or a ``data:`` address; any other file is refused by name."""
    if element is None:
        return ""
    files = _files(question, element, part)
    text = element.findtext("text") or ""
    fmt = element.get("format", "html")
    if fmt in ("plain_text", "markdown"):
        for name in files:
            question.unsupported(
                part,
                "embedded_file",
                f"内嵌文件 {name!r} 无法保存（{fmt} 格式的文字不显示图片）",
                f"the embedded file {name!r} cannot be kept ({fmt} text shows no images)",
            )
        return text.strip()
    shown: set[str] = set()

    def lookup(src: str) -> bytes | None:
        name = unquote(src.removeprefix(PLUGINFILE)).lstrip("/")
        shown.add(name)
        return files.get(name) if src.startswith(PLUGINFILE) else None

    html = text.replace("\n", "<br>") if fmt == "moodle_auto_format" else text
    out, images = html_text(html, image_resolver(question, part, lookup))
    for src in images:
        question.unsupported(
            part,
            "image",
            f"图片 {src!r} 没有地址，无法保存",
            f"the image {src!r} has no address and cannot be kept",
        )
    for name in sorted(set(files) - shown):
        question.unsupported(
            part,
            "embedded_file",
            f"内嵌文件 {name!r} 不是文字中显示的图片，无法保存",
            f"the embedded file {name!r} is not an image the text shows; it cannot be kept",
        )
    return out


PLUGINFILE = "@@PLUGINFILE@@/"


def _files(question: Question, element: Element, part: str) -> dict[str, bytes]:
    """A text field's embedded files by their path and name (``<file name path encoding>``)."""
    files: dict[str, bytes] = {}
    for embedded in element.findall("file"):
        name = (embedded.get("path") or "/").strip("/") + "/" + (embedded.get("name") or "")
        name = name.lstrip("/")
        try:
            files[name] = base64.b64decode("".join((embedded.text or "").split()), validate=True)
        except (binascii.Error, ValueError):
            question.unsupported(
                part,
                "bad_file",
                f"内嵌文件 {name!r} 不是有效的 base64",
                f"the embedded file {name!r} is not valid base64",
            )
    return files


def _fraction(answer: Element) -> float:
    try:
        return float(answer.get("fraction", "0"))
    except ValueError:
        return 0.0


def _read_question(
    question: Question, element: Element, kind: str, placement: Placement, ids: Ids
) -> None:
    values = question.values
    if kind in UNSUPPORTED or kind not in READERS:
        label = UNSUPPORTED.get(kind, kind)
        question.unsupported(
            "type",
            "unsupported_type",
            f"{label}（Moodle 题型 {kind}）在本系统中没有对应题型",
            f"Moodle's {kind} questions have no certify item type",
        )
        return
    values["stem"] = _text(question, element.find("questiontext"), "questiontext")
    own = _certify(question, element)
    if own is not None and "key" in own:
        values.update(type=own.pop("type", None), key=own.pop("key"))
        for n, sub in enumerate(element.findall("subquestion"), start=1):
            _text(question, sub, f"subquestion {n}")  # its images; the item is in <certify>
    else:
        READERS[kind](question, element)
    if kind != "essay" and _text(question, element.find("generalfeedback"), "generalfeedback"):
        question.notice(
            "generalfeedback", "feedback_dropped", "总体反馈未导入", "general feedback not kept"
        )
    if any((a.findtext("feedback/text") or "").strip() for a in element.findall("answer")):
        question.notice(
            "feedback", "feedback_dropped", "答案反馈未导入", "answer feedback not kept"
        )
    combined = ("correctfeedback", "partiallycorrectfeedback", "incorrectfeedback")
    if any((element.findtext(f"{tag}/text") or "").strip() for tag in combined):
        question.notice(
            "correctfeedback",
            "feedback_dropped",
            "答对、部分答对、答错时的反馈未导入",
            "the feedback for right, partly right and wrong responses is not kept",
        )
    if own is not None:
        values.update(own)
        return
    idnumber = (element.findtext("idnumber") or "").strip()
    values["item_id"] = (
        idnumber if ITEM_ID.fullmatch(idnumber) else ids.make(question.category, question.name)
    )
    values.update(placement.place(question.category))
    grade = element.findtext("defaultgrade")
    values["points"] = grade.strip() if grade and grade.strip() else 1
    values["tags"] = [(t.findtext("text") or "").strip() for t in element.findall("tags/tag")]


def _certify(question: Question, element: Element) -> dict[str, Any] | None:
    own = element.findtext("certify")
    if own is None:
        return None
    try:
        data = json.loads(own)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        question.unsupported(
            "certify",
            "bad_metadata",
            "<certify> 不是有效的 JSON 对象",
            "<certify> is not a JSON object",
        )
        return None
    return data


def _multichoice(question: Question, element: Element) -> None:
    answers = element.findall("answer")
    if len(answers) > len(OPTION_LETTERS):
        question.unsupported(
            "answer",
            "too_many_options",
            f"选项多于 {len(OPTION_LETTERS)} 个",
            f"more than {len(OPTION_LETTERS)} options",
        )
        return
    options = {}
    right = []
    for letter, answer in zip(OPTION_LETTERS, answers, strict=False):
        options[letter] = _text(question, answer, f"answer {letter}")
        if _fraction(answer) > 0:
            right.append((letter, _fraction(answer)))
    question.values["options"] = options
    single = (element.findtext("single") or "true").strip().lower() in ("true", "1")
    if len(right) == 1 and right[0][1] >= 100:
        question.values.update(type=ItemType.SINGLE.value, key=right[0][0])
    elif len(right) >= 2 and not single:
        question.values.update(type=ItemType.MULTIPLE.value, key="".join(r for r, _ in right))
        if len({w for _, w in right}) > 1:
            question.notice(
                "answer",
                "weights_dropped",
                "各正确选项的分数比例未保留：多选题按考试规则计分",
                "the weights of the right options are not kept; multiple choice is scored by the "
                "paper's rule",
            )
    else:
        question.unsupported(
            "answer",
            "partial_credit",
            "部分得分的选项无法表示（单选题须有一个 100% 的选项）",
            "partly right options cannot be held (a single choice needs one option worth 100%)",
        )


def _truefalse(question: Question, element: Element) -> None:
    for answer in element.findall("answer"):
        if _fraction(answer) >= 100:
            word = (answer.findtext("text") or "").strip().lower()
            question.values.update(
                type=ItemType.TRUE_FALSE.value, key="T" if word == "true" else "F"
            )
            return
    question.unsupported("answer", "no_answer", "没有正确答案", "no right answer")


def _accepted(question: Question, element: Element, numeric: bool) -> list[str]:
    accepted = []
    for answer in element.findall("answer"):
        text = (answer.findtext("text") or "").strip()
        fraction = _fraction(answer)
        if fraction >= 100:
            if text == "*" or (not numeric and "*" in text):
                question.unsupported(
                    "answer",
                    "wildcard",
                    f"通配答案 {text!r} 无法表示",
                    f"the wildcard answer {text!r} cannot be held",
                )
            elif numeric:
                tolerance = (answer.findtext("tolerance") or "0").strip()
                accepted.append(text if float(tolerance or 0) == 0 else f"{text}±{tolerance}")
            else:
                accepted.append(text)
        elif fraction > 0:
            question.unsupported(
                "answer",
                "partial_credit",
                f"部分得分答案 {text!r}（{fraction:g}%）无法表示",
                f"the partly right answer {text!r} ({fraction:g}%) cannot be held",
            )
    if not accepted and not question.problems:
        question.unsupported("answer", "no_answer", "没有正确答案", "no right answer")
    return accepted


def _as_fill(question: Question, accepted: list[str]) -> None:
    stem = question.values["stem"]
    if not BLANK.search(stem):
        stem = f"{stem} {DEFAULT_BLANK}" if stem else DEFAULT_BLANK
    question.values.update(
        stem=stem, type=ItemType.FILL.value, key=ALTERNATIVE_SEPARATOR.join(accepted)
    )


def _shortanswer(question: Question, element: Element) -> None:
    _as_fill(question, _accepted(question, element, numeric=False))


def _numerical(question: Question, element: Element) -> None:
    if element.find("units/unit") is not None:
        question.notice("units", "units_dropped", "单位未导入", "units not kept")
    _as_fill(question, _accepted(question, element, numeric=True))


def _essay(question: Question, element: Element) -> None:
    question.values.update(
        type=ItemType.SUBJECTIVE.value,
        key=_text(question, element.find("generalfeedback"), "generalfeedback"),
        rubric=_text(question, element.find("graderinfo"), "graderinfo"),
    )
    if (element.findtext("responsetemplate/text") or "").strip():
        question.notice(
            "responsetemplate", "template_dropped", "作答模板未导入", "response template not kept"
        )


def _matching(question: Question, element: Element) -> None:
    """``<subquestion>``s: a premise with its answer; one with no text is a distractor (see
    :func:`~question_bank.interchange.common.matching`)."""
    pairs = []
    for n, sub in enumerate(element.findall("subquestion"), start=1):
        answer = (sub.findtext("answer/text") or "").strip()
        if not answer:
            question.unsupported(
                f"subquestion {n}",
                "bad_pair",
                "配对题的题项缺少对应答案",
                "a premise of the matching question has no answer",
            )
            return
        pairs.append((_text(question, sub, f"subquestion {n}"), answer))
    matching(question, "subquestion", pairs)


READERS = {
    "multichoice": _multichoice,
    "matching": _matching,
    "truefalse": _truefalse,
    "shortanswer": _shortanswer,
    "numerical": _numerical,
    "essay": _essay,
}


# --- writing -----------------------------------------------------------------------------------


Images = Mapping[str, CheckedImage]


def _field(
    parent: Element, tag: str, text: str, images: Images | None = None, **attrs: str
) -> Element:
    """A text field, plain text; HTML with its images as base64 ``<file>``s when it shows
    any (and ``images`` holds them all)."""
    shown = hashes_in([text]) if images is not None else set()
    if shown and images is not None and shown <= images.keys():
        element = SubElement(parent, tag, {**attrs, "format": "html"})
        SubElement(element, "text").text = text_html(
            text, lambda h: PLUGINFILE + images[h].file_name
        )
        for h in sorted(shown):
            file = SubElement(
                element, "file", {"name": images[h].file_name, "path": "/", "encoding": "base64"}
            )
            file.text = base64.b64encode(images[h].data).decode("ascii")
        return element
    element = SubElement(parent, tag, {**attrs, "format": "plain_text"})
    SubElement(element, "text").text = text
    return element


def _answer(parent: Element, fraction: str, text: str, images: Images | None = None) -> Element:
    answer = _field(parent, "answer", text, images, fraction=fraction)
    _field(answer, "feedback", "")
    return answer


def moodle_question(item: ItemData, images: Images | None = None) -> Element:
    """One item as a Moodle ``<question>``; a ``<certify>`` element (which Moodle ignores) holds
    the fields Moodle XML has no place for. ``images``: the images the item shows, put in its
    text fields as base64 files."""
    kind = item.type
    blanks = item.fill_blanks if kind is ItemType.FILL else []
    numeric = len(blanks) == 1 and all(_tolerance(a) for a in blanks[0])
    moodle_type = {
        ItemType.SINGLE: "multichoice",
        ItemType.MULTIPLE: "multichoice",
        ItemType.TRUE_FALSE: "truefalse",
        ItemType.MATCHING: "matching",
        ItemType.SUBJECTIVE: "essay",
    }.get(kind) or ("essay" if len(blanks) > 1 else "numerical" if numeric else "shortanswer")
    q = Element("question", {"type": moodle_type})
    SubElement(SubElement(q, "name"), "text").text = item.item_id
    _field(q, "questiontext", item.stem, images)
    _field(q, "generalfeedback", item.key if kind is ItemType.SUBJECTIVE else "")
    SubElement(q, "defaultgrade").text = format_number(item.points)
    SubElement(q, "penalty").text = "0"
    SubElement(q, "hidden").text = "0"
    SubElement(q, "idnumber").text = item.item_id
    if kind in (ItemType.SINGLE, ItemType.MULTIPLE):
        SubElement(q, "single").text = "true" if kind is ItemType.SINGLE else "false"
        SubElement(q, "shuffleanswers").text = "true"
        SubElement(q, "answernumbering").text = "ABCD"
        share = format_number(round(100 / len(item.key), 5))
        for letter, text in item.options.items():
            right = letter in item.key
            fraction = (
                ("100" if kind is ItemType.SINGLE else share)
                if right
                else ("0" if kind is ItemType.SINGLE else "-100")
            )
            _answer(q, fraction, text, images)
    elif kind is ItemType.TRUE_FALSE:
        _answer(q, "100" if item.key == "T" else "0", "true")
        _answer(q, "100" if item.key == "F" else "0", "false")
    elif kind is ItemType.MATCHING:
        SubElement(q, "shuffleanswers").text = "true"
        pairs = list(zip(item.premises, item.key, strict=True))
        pairs += [("", c) for c in item.options if c not in item.key]  # distractors
        for premise, letter in pairs:
            sub = _field(q, "subquestion", premise, images)
            SubElement(SubElement(sub, "answer"), "text").text = item.options[letter]
    elif moodle_type == "numerical":
        for alternative in blanks[0]:
            value, _, tolerance = alternative.partition("±")
            SubElement(_answer(q, "100", value), "tolerance").text = tolerance or "0"
    elif moodle_type == "shortanswer":
        SubElement(q, "usecase").text = "0"
        for alternative in blanks[0]:
            _answer(q, "100", alternative)
    else:
        SubElement(q, "responseformat").text = "editor"
        SubElement(q, "responserequired").text = "1"
        SubElement(q, "responsefieldlines").text = "10"
        SubElement(q, "attachments").text = "0"
        _field(q, "graderinfo", item.rubric)
        _field(q, "responsetemplate", "")
    if item.tags:
        tags = SubElement(q, "tags")
        for tag in item.tags:
            SubElement(SubElement(tags, "tag"), "text").text = tag
    SubElement(q, "certify").text = meta_json(item)
    return q


def _tolerance(alternative: str) -> bool:
    value, sign, tolerance = alternative.partition("±")
    try:
        float(value)
        float(tolerance) if sign else None
    except ValueError:
        return False
    return bool(sign)


def write_moodle(items: Iterable[ItemData], images: Images | None = None) -> bytes:
    """A Moodle XML file of ``items``, each knowledge area its own category
    (``$course$/certify/<occupation>/<level>/<area>``); the images they show, from ``images``,
    embedded where they are shown."""
    quiz = Element("quiz")
    category = None
    for item in items:
        here = f"$course$/certify/{item.occupation}/{item.level.value}/{item.knowledge_area}"
        if here != category:
            entry = SubElement(quiz, "question", {"type": "category"})
            SubElement(SubElement(entry, "category"), "text").text = here
            category = here
        quiz.append(moodle_question(item, images))
    indent(quiz)
    written: bytes = tostring(quiz, encoding="utf-8", xml_declaration=True)
    return written + b"\n"
