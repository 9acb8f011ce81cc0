"""GIFT, Moodle's text format for questions: a reader over a small scanner that honours the
backslash escapes, and a writer whose files the reader takes back to the same items.

Grammar read (Moodle's documentation, "GIFT format"): ``//`` comment lines (with Moodle's
``[id:…]`` and ``[tag:…]``), ``$CATEGORY:``, ``::title::``, ``[html]``/``[moodle]``/``[plain]``/
``[markdown]`` text formats, ``=``/``~`` answers, ``%n%`` weights, ``#`` feedback, ``####`` general
feedback, ``{T}``/``{F}``, numeric ``{#n:tol}``, ``{#min..max}`` and multi-answer numeric,
matching ``->``, essay ``{}``, missing-word text after ``}``, and escapes ``\\ \\~ \\= \\# \\{ \\}
\\: \\n``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from question_bank.formats import RawItem, format_number
from question_bank.images import CheckedImage, hashes_in
from question_bank.interchange.common import (
    BLANK,
    DEFAULT_BLANK,
    IMAGE_PROBLEMS,
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
from schemas.notation import ALTERNATIVE_SEPARATOR, LIST_SEPARATOR, OPTION_LETTERS

ESCAPABLE = frozenset("~=#{}:\\")
META_PREFIX = "certify:"
TOLERANCE = re.compile(r"([+-]?\d+(?:\.\d+)?)±(\d+(?:\.\d+)?)")
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
HOLE = "\ue000"  # where a missing-word answer block stood, until the text is rendered

# --- scanning ----------------------------------------------------------------------------------

LITERAL = "\0"
TOKEN = re.compile(r"\\([~=#{}:\\n])|[~=#{}:]")
"""An escape (``\\x`` for an escapable ``x``, ``\\n``) or an unescaped special character."""


class Chars:
    """A question's characters: ``text`` with the escapes resolved, and ``marks`` of the same
    length holding each character that is GIFT syntax (an unescaped special) and NUL for every
    literal one, so that finding syntax is a search in one string (``str.find``), not a loop.
    Never changed once made (a plain class: made often, it is cheaper than a frozen one)."""

    __slots__ = ("marks", "text")

    def __init__(self, text: str, marks: str) -> None:
        self.text = text
        self.marks = marks

    def __len__(self) -> int:
        return len(self.text)

    def __getitem__(self, cut: slice) -> Chars:
        return Chars(self.text[cut], self.marks[cut])

    def __add__(self, other: Chars) -> Chars:
        return Chars(self.text + other.text, self.marks + other.marks)

    def starts(self, mark: str) -> bool:
        """Whether the first character is the special ``mark``."""
        return self.marks[:1] == mark


def literal(text: str) -> Chars:
    return Chars(text, LITERAL * len(text))


def scan(text: str) -> Chars:
    """``text`` as characters marked special or literal: ``\\x`` makes ``x`` literal for the
    escapable characters, ``\\n`` is a line break, any other backslash stays as written."""
    texts: list[str] = []
    marks: list[str] = []
    last = 0
    for found in TOKEN.finditer(text):
        between = text[last : found.start()]
        escaped = found.group(1)
        if escaped is None:
            texts += (between, found.group())
            marks += (LITERAL * len(between), found.group())
        else:
            texts += (between, "\n" if escaped == "n" else escaped)
            marks.append(LITERAL * (len(between) + 1))
        last = found.end()
    texts.append(text[last:])
    marks.append(LITERAL * (len(text) - last))
    return Chars("".join(texts), "".join(marks))


def plain(chars: Chars) -> str:
    return chars.text


def find(chars: Chars, wanted: str, start: int = 0) -> int:
    """Index of the first special ``wanted`` (one or more characters) from ``start``, or -1."""
    return chars.marks.find(wanted, start)


def split(chars: Chars, marks: str) -> list[tuple[str, Chars]]:
    """``chars`` cut before every special character in ``marks``: (mark, rest) pairs; text
    before the first mark comes with the mark ``""``."""
    cuts = [m.start() for m in re.finditer(f"[{re.escape(marks)}]", chars.marks)]
    parts = [("", chars[: cuts[0] if cuts else len(chars)])]
    for here, after in zip(cuts, [*cuts[1:], len(chars)], strict=True):
        parts.append((chars.marks[here], chars[here + 1 : after]))
    return parts if plain(parts[0][1]).strip() else parts[1:]


def strip(chars: Chars) -> Chars:
    """Literal white space off both ends (syntax is never white space)."""
    text = chars.text
    if not text or not (text[0].isspace() or text[-1].isspace()):
        return chars
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    return Chars(text[start:end], chars.marks[start:end]) if end > start else Chars("", "")


# --- the file's questions ----------------------------------------------------------------------


@dataclass
class Chunk:
    """One question of the file as written: its first line, text and comment lines."""

    line: int
    text: str
    comments: list[str] = field(default_factory=list)


def chunks(text: str) -> list[Chunk]:
    """Questions are separated by blank lines; ``//`` lines are comments of their question."""
    out: list[Chunk] = []
    lines: list[str] = []
    comments: list[str] = []
    first = 0
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        stripped = line.strip()
        if stripped.startswith("//"):
            comments.append(stripped[2:].strip())
        elif stripped:
            if not lines:
                first = number
            lines.append(line)
        else:
            if lines:
                out.append(Chunk(first, "\n".join(lines).strip(), comments))
            lines, comments = [], ([] if lines else comments)
    return out


@dataclass
class Answer:
    mark: str
    weight: float | None
    text: str
    fmt: str | None
    feedback: str


def read_gift(file: str, text: str, placement: Placement) -> list[RawItem]:
    """Every question of a GIFT file as an unvalidated row, numbered from 1 in file order."""
    text = text.lstrip("\ufeff")
    rows: list[RawItem] = []
    category = ""
    ids = Ids(placement.id_prefix or "GIFT")
    for chunk in chunks(text):
        if chunk.text.startswith("$CATEGORY:"):
            category = chunk.text.removeprefix("$CATEGORY:").strip()
            continue
        question = _read_question(file, len(rows) + 1, chunk, category, placement, ids)
        rows.append(question.raw())
    return rows


def _read_question(
    file: str, number: int, chunk: Chunk, category: str, placement: Placement, ids: Ids
) -> Question:
    chars = scan(chunk.text)
    title = ""
    start = 0
    if find(chars, "::") == 0:
        end = find(chars, "::", 2)
        if end > 0:
            title, start = plain(chars[2:end]).strip(), end + 2
    question = Question(file, number, title, chunk.line, category)
    rest = strip(chars[start:])
    fmt, rest = _format(rest)
    opening = find(rest, "{")
    closing = find(rest, "}", opening + 1) if opening >= 0 else -1
    if opening < 0:
        question.unsupported(
            "text",
            "description",
            "说明文字不是题目；请从文件中删去或写成题目",
            "a description is not a question; remove it from the file or make it a question",
        )
        return question
    if closing < 0:
        question.unsupported(
            "answers", "unclosed_brace", "答案部分缺少 }", "the answer block has no closing }"
        )
        return question
    before, inside, after = rest[:opening], rest[opening + 1 : closing], rest[closing + 1 :]
    missing_word = bool(plain(after).strip())
    stem_chars = before + literal(HOLE) + after if missing_word else before
    stem = _render(question, "text", plain(strip(stem_chars)), fmt)
    own = _certify_comment(question, chunk.comments)
    if own is not None and "key" in own:
        # certify wrote the key it could not say in GIFT (several blanks, a literal *)
        if "premises" in own:  # a matching item: its pairs are read for their images only
            pairs = Question(file, number, title, chunk.line, category)
            _answers(pairs, inside, stem, fmt)
            question.images.update(pairs.images)
            question.problems += [p for p in pairs.problems if p.code in IMAGE_PROBLEMS]
        question.values.update(stem=stem, type=own.pop("type", None), key=own.pop("key"))
    else:
        _answers(question, inside, stem, fmt)
    if own is not None:
        question.values.update(own)
    else:
        _identify(question, chunk, category, title or stem, placement, ids)
    return question


def _format(chars: Chars) -> tuple[str, Chars]:
    text = chars.text[:12]
    if not text.startswith("["):
        return "moodle", chars
    for name in ("html", "moodle", "plain", "markdown"):
        if text.startswith(f"[{name}]"):
            return name, strip(chars[len(name) + 2 :])
    return "moodle", chars


def _render(question: Question, part: str, text: str, fmt: str) -> str:
    """Text in a GIFT text format as certify's plain text; markup is sanitised and read as text,
    an image kept when it is in the text itself (a ``data:`` address) and refused by name when
    it is elsewhere (GIFT files carry no other files)."""
    if fmt in ("plain", "markdown"):
        return text.replace(HOLE, DEFAULT_BLANK)
    source = text.replace("\n", "<br>") if fmt == "moodle" else text
    out, images = html_text(source, image_resolver(question, part))
    for src in images:
        question.unsupported(
            part,
            "image",
            f"题目中的图片 {src!r} 没有地址，无法保存",
            f"the image {src!r} has no address and cannot be kept",
        )
    return out.replace(HOLE, DEFAULT_BLANK)


def _answer_list(question: Question, chars: Chars) -> list[Answer]:
    out = []
    for mark, part in split(chars, "=~"):
        if not mark:
            question.unsupported(
                "answers", "bad_answers", "答案须以 = 或 ~ 开头", "each answer starts with = or ~"
            )
            continue
        body = strip(part)
        weight = None
        text = plain(body)
        if text.startswith("%") and (close := text.find("%", 1)) > 0:
            try:
                weight = float(text[1:close])
                body = strip(body[close + 1 :])
            except ValueError:
                weight = None
        cut = find(body, "#")
        answer_chars, feedback = (body, literal("")) if cut < 0 else (body[:cut], body[cut + 1 :])
        fmt, answer_chars = _format(strip(answer_chars))
        has_format = plain(strip(body))[:1] == "["
        out.append(
            Answer(
                mark,
                weight,
                plain(strip(answer_chars)),
                fmt if has_format else None,
                plain(strip(feedback)),
            )
        )
    return out


def _answers(question: Question, inside: Chars, stem: str, fmt: str) -> None:
    general = find(inside, "####")
    if general >= 0:
        general_text = plain(strip(inside[general + 4 :]))
        inside = inside[:general]
    else:
        general_text = ""
    inside = strip(inside)
    values = question.values
    values["stem"] = stem
    if not inside:
        values["type"], values["key"] = ItemType.SUBJECTIVE.value, general_text
        return
    if general_text:
        question.notice(
            "general feedback", "feedback_dropped", "总体反馈未导入", "general feedback not kept"
        )
    if inside.starts("#"):
        _numeric(question, inside[1:], stem)
        return
    head = plain(inside[: max(find(inside, "#"), 0) or len(inside)]).strip().upper()
    if head in ("T", "TRUE", "F", "FALSE") and not find(inside, "=") >= 0:
        values["type"], values["key"] = ItemType.TRUE_FALSE.value, head[0]
        if find(inside, "#") >= 0:
            question.notice(
                "feedback", "feedback_dropped", "答案反馈未导入", "answer feedback not kept"
            )
        return
    answers = _answer_list(question, inside)
    if question.problems:
        return
    if any(a.feedback for a in answers):
        question.notice(
            "feedback", "feedback_dropped", "答案反馈未导入", "answer feedback not kept"
        )
    if all(a.mark == "=" for a in answers) and any("->" in a.text for a in answers):
        _matching(question, answers, fmt)
    elif all(a.mark == "=" for a in answers):
        _short_answer(question, answers, stem)
    else:
        _choice(question, answers, fmt)


def _matching(question: Question, answers: list[Answer], fmt: str) -> None:
    """``=premise -> answer`` pairs, split at the first ``->`` as Moodle does; ``= -> answer``
    is a distractor (see :func:`~question_bank.interchange.common.matching`)."""
    pairs = []
    for a in answers:
        if "->" not in a.text:
            question.unsupported(
                "answers",
                "bad_pair",
                f"配对题的每个答案须写成 题项 -> 选项，{a.text!r} 不是",
                f"each answer of a matching question reads premise -> answer; {a.text!r} does not",
            )
            return
        left, _, right = a.text.partition("->")
        premise = _render(question, "answers", left.strip(), a.fmt or fmt) if left.strip() else ""
        pairs.append((premise, _render(question, "answers", right.strip(), a.fmt or fmt)))
    matching(question, "answers", pairs)


def _weight(answer: Answer) -> float:
    if answer.weight is not None:
        return answer.weight
    return 100.0 if answer.mark == "=" else 0.0


def _choice(question: Question, answers: list[Answer], fmt: str) -> None:
    """Options are in the question's text format unless they name their own (as in Moodle)."""
    if len(answers) > len(OPTION_LETTERS):
        question.unsupported(
            "answers",
            "too_many_options",
            f"选项多于 {len(OPTION_LETTERS)} 个",
            f"more than {len(OPTION_LETTERS)} options",
        )
        return
    letters = OPTION_LETTERS[: len(answers)]
    right = [letter for letter, a in zip(letters, answers, strict=False) if _weight(a) > 0]
    weights = [_weight(a) for a in answers if _weight(a) > 0]
    options = {}
    for letter, a in zip(letters, answers, strict=False):
        options[letter] = _render(question, f"option {letter}", a.text, a.fmt or fmt)
    question.values["options"] = options
    if len(right) == 1 and weights[0] >= 100:
        question.values["type"], question.values["key"] = ItemType.SINGLE.value, right[0]
    elif len(right) >= 2:
        question.values["type"], question.values["key"] = ItemType.MULTIPLE.value, "".join(right)
        if abs(sum(weights) - 100) > 0.01 or len(set(weights)) > 1:
            question.notice(
                "answers",
                "weights_dropped",
                "各正确选项的分数比例未保留：多选题按考试规则计分",
                "the weights of the right options are not kept; multiple choice is scored by the "
                "paper's rule",
            )
    else:
        question.unsupported(
            "answers",
            "partial_credit",
            "没有满分选项（部分得分的单选题无法表示）",
            "no option is worth full marks (single choice with partial credit cannot be held)",
        )


def _short_answer(question: Question, answers: list[Answer], stem: str) -> None:
    accepted = []
    for a in answers:
        weight = _weight(a)
        if weight >= 100:
            if "*" in a.text:
                question.unsupported(
                    "answers",
                    "wildcard",
                    f"通配答案 {a.text!r} 无法表示",
                    f"the wildcard answer {a.text!r} cannot be held",
                )
            accepted.append(a.text)
        elif weight > 0:
            question.unsupported(
                "answers",
                "partial_credit",
                f"部分得分答案 {a.text!r}（{weight:g}%）无法表示",
                f"the partly right answer {a.text!r} ({weight:g}%) cannot be held",
            )
        else:
            question.notice(
                "answers",
                "answer_dropped",
                f"0 分答案 {a.text!r} 未导入（未列出的答案都不得分）",
                f"the answer {a.text!r} worth 0 is not kept (every answer not accepted scores 0)",
            )
    _fill(question, [accepted], stem)


def _fill(question: Question, blanks: list[list[str]], stem: str) -> None:
    if not BLANK.search(stem):
        stem = f"{stem} {DEFAULT_BLANK}" if stem else DEFAULT_BLANK
    question.values["stem"] = stem
    question.values["type"] = ItemType.FILL.value
    question.values["key"] = LIST_SEPARATOR.join(ALTERNATIVE_SEPARATOR.join(b) for b in blanks)


def _numeric(question: Question, inside: Chars, stem: str) -> None:
    inside = strip(inside)
    if inside and not (inside.starts("=") or inside.starts("~")):
        inside = Chars("=", "=") + inside  # {#3:2} or {#3:2#feedback ~#wrong}: one answer
    answers = _answer_list(question, inside)
    accepted = []
    for a in answers:
        if a.mark == "~" or not a.text:
            continue  # a wrong answer's feedback
        weight = _weight(a)
        value = _number_key(a.text)
        if value is None:
            question.unsupported(
                "answers",
                "bad_number",
                f"{a.text!r} 不是数值答案",
                f"{a.text!r} is not a numeric answer",
            )
        elif weight >= 100:
            accepted.append(value)
        elif weight > 0:
            question.unsupported(
                "answers",
                "partial_credit",
                f"部分得分答案 {a.text!r}（{weight:g}%）无法表示",
                f"the partly right answer {a.text!r} ({weight:g}%) cannot be held",
            )
    if accepted:
        _fill(question, [accepted], stem)
    elif not question.problems:
        question.unsupported("answers", "no_answer", "没有正确答案", "no right answer")


def _number_key(text: str) -> str | None:
    """A GIFT number (``3``, ``3:0.5``, ``1..5``) as a fill key (``3``, ``3±0.5``, ``3±2``)."""
    if ".." in text:
        low, _, high = text.partition("..")
        if NUMBER.fullmatch(low.strip()) and NUMBER.fullmatch(high.strip()):
            a, b = float(low), float(high)
            return f"{format_number((a + b) / 2)}±{format_number(abs(b - a) / 2)}"
        return None
    value, colon, tolerance = text.partition(":")
    if not NUMBER.fullmatch(value.strip()) or (colon and not NUMBER.fullmatch(tolerance.strip())):
        return None
    return f"{value.strip()}±{tolerance.strip()}" if colon else value.strip()


def _identify(
    question: Question, chunk: Chunk, category: str, name: str, placement: Placement, ids: Ids
) -> None:
    """Item id, occupation, level, area and the rest of a question certify did not write:
    Moodle's ``[id:]``/``[tag:]`` comments, the placement and defaults."""
    values = question.values
    tags: list[str] = []
    item_id = None
    for comment in chunk.comments:
        for kind, value in re.findall(r"\[(id|tag):((?:\\\]|[^\]])+)\]", comment):
            value = value.replace("\\]", "]").strip()
            if kind == "id":
                item_id = value
            else:
                tags.append(value)
    if item_id and not ITEM_ID.fullmatch(item_id):
        item_id = None
    values["item_id"] = item_id or ids.make(category, name)
    values.update(placement.place(category))
    values.setdefault("points", 1)
    values["tags"] = tags
    if values.get("type") == ItemType.SUBJECTIVE.value:
        values.setdefault("rubric", "")


def _certify_comment(question: Question, comments: list[str]) -> dict[str, Any] | None:
    for comment in comments:
        if comment.startswith(META_PREFIX):
            try:
                data = json.loads(comment.removeprefix(META_PREFIX))
            except ValueError:
                data = None
            if not isinstance(data, dict):
                question.unsupported(
                    "certify comment",
                    "bad_metadata",
                    "certify 注释行不是有效的 JSON 对象",
                    "the certify comment line is not a JSON object",
                )
                return None
            return data
    return None


# --- writing -----------------------------------------------------------------------------------


def escape(text: str) -> str:
    """``text`` with GIFT's special characters escaped and line breaks as ``\\n``."""
    out = []
    for c in text:
        if c in ESCAPABLE:
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        else:
            out.append(c)
    return "".join(out)


def _written_answer(text: str, images: Images | None = None, html_question: bool = False) -> str:
    """An answer's text, protected from being read as a format or a weight; HTML with its
    images when it shows any. An answer takes its question's format unless it names its own,
    so in a question written as HTML a plain answer says ``[plain]``."""
    shown = _html(text, images)
    if shown is not None:
        return shown
    written = escape(text)
    return f"[plain]{written}" if html_question or written[:1] in ("[", "%") else written


Images = Mapping[str, CheckedImage]


def _html(text: str, images: Images | None) -> str | None:
    """``text`` as ``[html]`` with its images as ``data:`` addresses (GIFT carries no files),
    when it shows images and ``images`` holds them all; else None."""
    shown = hashes_in([text])
    if not shown or images is None or not shown <= images.keys():
        return None
    return "[html]" + escape(text_html(text, lambda h: images[h].data_uri()))


def _bracketed(text: str) -> str:
    return text.replace("]", "\\]")


def gift_question(item: ItemData, images: Images | None = None) -> str:
    """One item in GIFT, with the certify comment line that holds what GIFT has no place for;
    the images it shows (from ``images``) in its text as ``data:`` addresses."""
    body: list[str] = []
    kind = item.type
    stem = _html(item.stem, images)

    def answer(text: str) -> str:
        return _written_answer(text, images, html_question=stem is not None)

    if kind is ItemType.SINGLE:
        body = [
            f"{'=' if letter == item.key else '~'}{answer(t)}" for letter, t in item.options.items()
        ]
    elif kind is ItemType.MULTIPLE:
        share = format_number(round(100 / len(item.key), 5))
        body = [
            f"~%{share if letter in item.key else '-100'}%{answer(t)}"
            for letter, t in item.options.items()
        ]
    elif kind is ItemType.TRUE_FALSE:
        body = ["TRUE" if item.key == "T" else "FALSE"]
    elif kind is ItemType.FILL and len(item.fill_blanks) == 1:
        alternatives = item.fill_blanks[0]
        if all(TOLERANCE.fullmatch(a) for a in alternatives):
            body = ["#" + " ".join("=" + a.replace("±", ":") for a in alternatives)]
        else:
            body = [f"={answer(a)}" for a in alternatives]
    elif kind is ItemType.FILL:
        body = []  # several blanks: an essay in Moodle; the key is in the certify comment
    elif kind is ItemType.MATCHING:
        # the pairs are for Moodle; the item itself is in the certify comment (meta_json)
        used = set(item.key)
        body = [
            f"={_html(p, images) or escape(p.replace('->', '→'))} -> {escape(item.options[c])}"
            for p, c in zip(item.premises, item.key, strict=True)
        ]
        body += [f"= -> {escape(t)}" for c, t in item.options.items() if c not in used]
    elif item.key:
        body = [f"####{escape(item.key)}"]
    lines = [f"// [id:{item.item_id}]"]
    lines += [f"// [tag:{_bracketed(t)}]" for t in item.tags]
    lines.append(f"// {META_PREFIX}{meta_json(item)}")
    head = f"::{escape(item.item_id)}::{stem or '[plain]' + escape(item.stem)}"
    if len(body) <= 1:
        lines.append(f"{head}{{{''.join(body)}}}")
    else:
        lines += [f"{head}{{", *(f"\t{b}" for b in body), "}"]
    return "\n".join(lines)


def write_gift(items: Iterable[ItemData], images: Images | None = None) -> str:
    """A GIFT file of ``items``, grouped by ``$CATEGORY: $course$/certify/<occupation>/<level>/
    <area>`` so that Moodle files them in categories."""
    out: list[str] = []
    category = None
    for item in items:
        here = f"$course$/certify/{item.occupation}/{item.level.value}/{item.knowledge_area}"
        if here != category:
            out.append(f"$CATEGORY: {here}")
            category = here
        out.append(gift_question(item, images))
    return "\n\n".join(out) + "\n"
