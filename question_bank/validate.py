"""Validation of item rows: every problem of every row, each naming its row and field.

:func:`validate_rows` never stops at the first problem; it returns the valid items and the
problems, so the caller can refuse the whole file or import the good rows only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from certify.infra.errors import Problem
from question_bank.columns import COLUMNS, JSON_FIELDS, OPTION_COLUMNS, PREMISE_COLUMNS, REQUIRED
from question_bank.formats import RawItem
from question_bank.images import MARKER, CheckedImage, clean_alt
from schemas.enums import ITEM_STATUS_ALIASES, ITEM_TYPE_ALIASES, ItemStatus, ItemType
from schemas.items import ItemData
from schemas.notation import ALTERNATIVE_SEPARATOR, LIST_SEPARATOR, MAX_PREMISES, OPTION_LETTERS
from schemas.reference import LEVEL_NAMES_ZH, Occupation, find_level, find_occupation, occupations

ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
BLANK = re.compile(r"_{3,}")
TOLERANCE = re.compile(r"([+-]?\d+(?:\.\d+)?)±(\d+(?:\.\d+)?)")
TRUE_WORDS = {"t", "true", "对", "正确", "是", "√", "✓", "y", "yes"}
FALSE_WORDS = {"f", "false", "错", "错误", "否", "×", "✗", "n", "no"}
MAX_TEXT = 10_000
MAX_POINTS = 100.0


@dataclass
class Validation:
    """Valid items (with the row each came from) and the problems found."""

    items: list[tuple[int, ItemData]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    images: dict[str, CheckedImage] = field(default_factory=dict)
    """The images the file brought for its valid rows, by hash."""
    wanted: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    """Images the valid rows show that the file did not bring (the bank must hold them): by
    hash, the rows and fields that show them."""

    @property
    def bad_rows(self) -> set[int]:
        return {p.row for p in self.problems if p.row is not None}


class _Row:
    """Collects the problems of one row while its fields are parsed."""

    def __init__(self, file: str, raw: RawItem) -> None:
        self.file, self.raw, self.problems = file, raw, list[Problem]()

    def bad(self, column: str | None, code: str, zh: str, en: str) -> None:
        label = self.raw.label(column) if column else None
        self.problems.append(Problem(self.file, self.raw.row, label, code, zh, en))

    def text(self, column: str, *, required: bool = False, multiline: bool = False) -> str:
        return self.clean(
            column, self.raw.values.get(column), required=required, multiline=multiline
        )

    def clean(
        self, column: str, value: Any, *, required: bool = False, multiline: bool = False
    ) -> str:
        """``value`` as stripped text with Windows line ends folded; problems recorded."""
        if value is None:
            value = ""
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.bad(column, "type", "应为文本", "must be text")
            return ""
        elif isinstance(value, float) and value.is_integer():
            value = str(int(value))  # spreadsheets turn "3" into 3.0
        text = str(value).replace("\r\n", "\n").strip()
        if required and not text:
            self.bad(column, "empty", "不能为空", "must not be empty")
        elif len(text) > MAX_TEXT:
            self.bad(
                column, "too_long", f"超过 {MAX_TEXT} 字符", f"longer than {MAX_TEXT} characters"
            )
        elif bad := _control_char(text, multiline):
            self.bad(
                column,
                "control_character",
                f"含有不可见控制字符 U+{ord(bad):04X}",
                f"contains the control character U+{ord(bad):04X}",
            )
        return text

    def number(self, column: str, *, required: bool) -> float | None:
        value = self.raw.values.get(column)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if required:
                self.bad(column, "empty", "不能为空", "must not be empty")
            return None
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or number != number or number in (float("inf"), float("-inf")):
            self.bad(column, "not_a_number", f"{value!r} 不是数字", f"{value!r} is not a number")
            return None
        return number


# Unicode categories Cc (controls) and Cs (surrogates); a multi-line field may hold \n and \t.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _control_char(text: str, multiline: bool) -> str | None:
    found = (_CONTROL_MULTILINE if multiline else _CONTROL).search(text)
    return found.group() if found else None


def validate_rows(file: str, rows: list[RawItem]) -> Validation:
    """Validate every row of one file, including duplicate ids across rows."""
    result = Validation()
    first_row: dict[str, int] = {}
    brought = {sha: image for raw in rows for sha, image in raw.images.items()}
    for raw in rows:
        if raw.problems:
            result.problems.extend(raw.problems)
            continue
        row = _Row(file, raw)
        item = _validate(row)
        shown: list[tuple[str, str]] = []
        if item is not None:
            if item.item_id in first_row:
                row.bad(
                    "item_id",
                    "duplicate_id",
                    f"题目编号 {item.item_id} 与第 {first_row[item.item_id]} 行重复",
                    f"item_id {item.item_id} repeats row {first_row[item.item_id]}",
                )
            else:
                first_row[item.item_id] = raw.row
        if item is not None:
            shown = _images(row, item)
        if row.problems:
            result.problems.extend(row.problems)
        elif item is not None:
            result.items.append((raw.row, item))
            for sha, label in shown:
                if sha in brought:  # the file holds it (for this row or another)
                    result.images[sha] = brought[sha]
                else:
                    result.wanted.setdefault(sha, []).append((raw.row, label))
    return result


def _images(row: _Row, item: ItemData) -> list[tuple[str, str]]:
    """The images ``item`` shows, with the field each is in; an alt text a marker could not
    have been written with (:func:`~question_bank.images.clean_alt`) is a problem."""
    fields = [("stem", item.stem)]
    fields += [(f"option_{k.lower()}", text) for k, text in item.options.items()]
    fields += [(PREMISE_COLUMNS[n], text) for n, text in enumerate(item.premises)]
    shown = []
    for column, text in fields:
        if "](sha256:" not in text:
            continue
        label = row.raw.label(column) if column in row.raw.labels else column
        for found in MARKER.finditer(text):
            if found.group(1) != clean_alt(found.group(1)):
                row.bad(
                    column,
                    "bad_image_alt",
                    "图片说明不能以空格开头或结尾，也不能含连续空格",
                    "an image's alt text may not start or end with a space, or hold two in a row",
                )
            shown.append((found.group(2), label))
    return shown


def _validate(row: _Row) -> ItemData | None:
    values = row.raw.values
    if "_not_an_object" in values:
        row.bad(None, "not_an_object", "每个题目应为 JSON 对象", "each item must be a JSON object")
        return None
    extra = [k for k in values if k not in JSON_FIELDS and k not in OPTION_COLUMNS]
    for name in extra:
        row.bad(name, "unknown_field", "无法识别的字段", "unknown field")
    for name in (c for c in COLUMNS if c in REQUIRED):
        if name not in values:
            row.bad(name, "missing", "缺少该字段", "field is missing")
    if row.problems:
        return None

    item_id = row.text("item_id", required=True)
    if item_id and not ITEM_ID.fullmatch(item_id):
        row.bad(
            "item_id",
            "bad_id",
            "题目编号只能含字母、数字和 . _ -，不超过 64 位，以字母或数字开头",
            "item_id: letters, digits, '.', '_' and '-' only, at most 64, starting with a letter or digit",
        )
    occupation = _occupation(row)
    level = _level(row)
    item_type = _item_type(row)
    area = _knowledge_area(row, occupation, level)
    stem = row.text("stem", required=True, multiline=True)
    options = _options(row, item_type)
    premises = _premises(row, item_type)
    key = _key(row, item_type, options, stem, premises)
    points = row.number("points", required=True)
    if points is not None and not (0 < points <= MAX_POINTS and round(points, 2) == points):
        row.bad(
            "points",
            "bad_points",
            f"分值须大于 0、不超过 {MAX_POINTS:g}、最多两位小数",
            f"points must be above 0, at most {MAX_POINTS:g}, with at most two decimals",
        )
    difficulty = row.number("difficulty", required=False)
    if difficulty is not None and not 0 <= difficulty <= 1:
        row.bad(
            "difficulty", "bad_difficulty", "难度须在 0 到 1 之间", "difficulty must lie in 0..1"
        )
    source = row.text("source")
    tags = _tags(row)
    rubric = row.text("rubric", multiline=True)
    if item_type is ItemType.SUBJECTIVE and not rubric:
        row.bad(
            "rubric",
            "rubric_required",
            "主观题必须给出评分标准",
            "a subjective item needs a rubric",
        )
    if item_type not in (None, ItemType.SUBJECTIVE) and rubric:
        row.bad(
            "rubric",
            "rubric_not_allowed",
            "只有主观题有评分标准",
            "only subjective items have a rubric",
        )
    status = _status(row)
    if row.problems:
        return None
    assert occupation and level and item_type and area and key is not None and points is not None
    return ItemData(
        item_id=item_id,
        occupation=occupation.slug,
        level=level,
        type=item_type,
        knowledge_area=area,
        stem=stem,
        options=options,
        premises=premises,
        key=key,
        points=points,
        difficulty=difficulty,
        source=source,
        tags=tags,
        rubric=rubric,
        status=status,
    )


def _occupation(row: _Row) -> Occupation | None:
    name = row.text("occupation", required=True)
    if not name:
        return None
    occ = find_occupation(name)
    if occ is None:
        known = ", ".join(o.slug for o in occupations())
        row.bad(
            "occupation",
            "unknown_occupation",
            f"未知职业 {name!r}，可用：{known}",
            f"unknown occupation {name!r}; known: {known}",
        )
    return occ


def _level(row: _Row) -> Any:
    name = row.text("level", required=True)
    level = find_level(name) if name else None
    if name and level is None:
        row.bad(
            "level",
            "unknown_level",
            f"未知等级 {name!r}，应为 初级/中级/高级",
            f"unknown level {name!r}; use junior, intermediate or senior",
        )
    return level


def _item_type(row: _Row) -> ItemType | None:
    name = row.text("type", required=True)
    if not name:
        return None
    found = ITEM_TYPE_ALIASES.get(name) or next(
        (t for t in ItemType if t.value == name.lower()), None
    )
    if found is None:
        row.bad(
            "type",
            "unknown_type",
            f"未知题型 {name!r}",
            f"unknown item type {name!r}; "
            "use single, multiple, true_false, fill, matching or subjective",
        )
    return found


def _knowledge_area(row: _Row, occ: Occupation | None, level: Any) -> str | None:
    code = row.text("knowledge_area", required=True)
    if not code or occ is None:
        return code or None
    area = occ.area(code)
    if area is None:
        known = ", ".join(a.code for a in occ.knowledge_areas)
        row.bad(
            "knowledge_area",
            "unknown_area",
            f"{occ.short_zh}没有知识领域 {code}（可用：{known}）",
            f"{occ.slug} has no knowledge area {code} (known: {known})",
        )
        return None
    if level is not None and area.weight(level) == 0:
        row.bad(
            "knowledge_area",
            "area_not_examined",
            f"知识领域 {code}「{area.name_zh}」不在{LEVEL_NAMES_ZH[level]}考核范围内",
            f"knowledge area {code} ({area.name_en}) is not examined at {level.value} level",
        )
    return code


def _options(row: _Row, item_type: ItemType | None) -> dict[str, str]:
    raw = row.raw.values.get("options") or {}
    if not isinstance(raw, dict):
        row.bad(
            "options", "type", '选项应为 {"A": "…"} 形式', 'options must be an object {"A": "..."}'
        )
        return {}
    options: dict[str, str] = {}
    for letter, value in raw.items():
        column = (
            f"option_{str(letter).lower()}" if str(letter).upper() in OPTION_LETTERS else "options"
        )
        if str(letter).upper() not in OPTION_LETTERS or len(str(letter)) != 1:
            row.bad(
                "options",
                "bad_option_letter",
                f"选项字母 {letter!r} 超出 A–H",
                f"option letter {letter!r} is outside A-H",
            )
            continue
        text = row.clean(column, value, multiline=True)
        if text:
            options[str(letter).upper()] = text
    letters = "".join(sorted(options))
    if item_type is not None and item_type.has_options:
        least = 3 if item_type is ItemType.MULTIPLE else 2
        if len(options) < least:
            row.bad(
                "options",
                "too_few_options",
                f"{item_type.zh}至少需要 {least} 个选项",
                f"a {item_type.value} item needs at least {least} options",
            )
        elif letters != OPTION_LETTERS[: len(letters)]:
            row.bad(
                "options",
                "option_gap",
                f"选项须从 A 起连续，现为 {letters}",
                f"options must run from A without gaps; got {letters}",
            )
    elif options and item_type is not None:
        row.bad(
            "options",
            "options_not_allowed",
            f"{item_type.zh}不应有选项",
            f"a {item_type.value} item has no options",
        )
    return {letter: options[letter] for letter in sorted(options)}


def _premises(row: _Row, item_type: ItemType | None) -> list[str]:
    """A matching item's premises (题项): 2 to 8, numbered from 1 without gaps; none for any
    other type."""
    raw = row.raw.values.get("premises")
    if raw is None or raw == []:
        if item_type is ItemType.MATCHING:
            row.bad(
                "premises",
                "too_few_premises",
                "配对题至少需要 2 个题项",
                "a matching item needs at least 2 premises",
            )
        return []
    if not isinstance(raw, list):
        row.bad("premises", "type", '题项应为 ["…", "…"] 形式', 'premises must be a list ["..."]')
        return []
    if item_type is not ItemType.MATCHING:
        if item_type is not None:
            row.bad(
                "premises",
                "premises_not_allowed",
                f"{item_type.zh}没有题项（仅配对题有）",
                f"a {item_type.value} item has no premises (only a matching item has)",
            )
        return []
    premises = []
    for n, value in enumerate(raw, start=1):
        column = f"premise_{n}" if f"premise_{n}" in row.raw.labels else "premises"
        premises.append(row.clean(column, value, multiline=True))
    if len(premises) > MAX_PREMISES:
        row.bad(
            "premises",
            "too_many_premises",
            f"配对题至多 {MAX_PREMISES} 个题项，现有 {len(premises)} 个",
            f"a matching item has at most {MAX_PREMISES} premises; got {len(premises)}",
        )
    elif gaps := [n for n, text in enumerate(premises, start=1) if not text]:
        row.bad(
            "premises",
            "premise_gap",
            f"题项须从 1 起连续，第 {gaps[0]} 个为空",
            f"premises must run from 1 without gaps; premise {gaps[0]} is empty",
        )
    elif len(premises) < 2:
        row.bad(
            "premises",
            "too_few_premises",
            "配对题至少需要 2 个题项",
            "a matching item needs at least 2 premises",
        )
    return premises


def _key(
    row: _Row,
    item_type: ItemType | None,
    options: dict[str, str],
    stem: str,
    premises: list[str],
) -> str | None:
    required = item_type is not ItemType.SUBJECTIVE
    text = row.text("key", required=required, multiline=item_type is ItemType.SUBJECTIVE)
    if not text or item_type is None:
        return text if item_type is ItemType.SUBJECTIVE else (text or None)
    if item_type is ItemType.SINGLE:
        letter = text.upper()
        if len(letter) != 1 or letter not in options:
            row.bad(
                "key",
                "key_not_option",
                f"答案 {text!r} 不是已有选项（{''.join(options)}）之一",
                f"key {text!r} is not one of the options ({''.join(options)})",
            )
        return letter
    if item_type is ItemType.MULTIPLE:
        letters = _key_letters(row, text, options)
        if letters is None:
            return None
        if len(set(letters)) != len(letters):
            row.bad("key", "key_repeats", "答案中字母重复", "a letter repeats in the key")
        elif len(letters) < 2:
            row.bad(
                "key",
                "key_too_short",
                "多选题答案至少两个选项",
                "a multiple-choice key has at least two letters",
            )
        return "".join(sorted(letters))
    if item_type is ItemType.TRUE_FALSE:
        word = text.lower()
        if word in TRUE_WORDS:
            return "T"
        if word in FALSE_WORDS:
            return "F"
        row.bad(
            "key",
            "bad_true_false",
            f"判断题答案应为 T/F（对/错），现为 {text!r}",
            f"a true/false key is T or F; got {text!r}",
        )
        return None
    if item_type is ItemType.FILL:
        return _fill_key(row, text, stem)
    if item_type is ItemType.MATCHING:
        return _matching_key(row, text, options, premises)
    return text


def _key_letters(row: _Row, text: str, options: dict[str, str]) -> list[str] | None:
    """The option letters of a multiple-choice or matching key, upper case, in the order
    written (spaces, commas, 、 and semicolons between them dropped); None, with the problem
    recorded, when one is not an option."""
    letters = [c for c in text.upper() if c not in " ,，、;；"]
    missing = "".join(dict.fromkeys(c for c in letters if c not in options))
    if missing:
        row.bad(
            "key",
            "key_not_option",
            f"答案中的 {missing} 不是已有选项（{''.join(options)}）",
            f"key letter(s) {missing} are not options ({''.join(options)})",
        )
        return None
    return letters


def _matching_key(row: _Row, text: str, options: dict[str, str], premises: list[str]) -> str | None:
    """One option letter per premise, in the premises' order (``CAB``); a letter may serve
    several premises, and an option no premise takes is a distractor."""
    letters = _key_letters(row, text, options)
    if letters is None:
        return None
    if premises and len(letters) != len(premises):
        row.bad(
            "key",
            "key_premise_count",
            f"配对题答案应按题项顺序各给一个字母：{len(premises)} 个题项，答案有 {len(letters)} 个",
            f"a matching key gives one letter per premise: {len(premises)} premises, "
            f"{len(letters)} letters",
        )
        return None
    return "".join(letters)


def _fill_key(row: _Row, text: str, stem: str) -> str | None:
    blanks = [
        [alt.strip() for alt in blank.split(ALTERNATIVE_SEPARATOR)]
        for blank in text.split(LIST_SEPARATOR)
    ]
    if any(not alt for blank in blanks for alt in blank):
        row.bad(
            "key",
            "empty_answer",
            "填空答案中有空白项（检查多余的 ; 或 |）",
            "an accepted answer is empty (check for a stray ';' or '|')",
        )
        return None
    for blank in blanks:
        for alt in blank:
            if "±" in alt and not TOLERANCE.fullmatch(alt):
                row.bad(
                    "key",
                    "bad_tolerance",
                    f"数值容差写法应为 3.14±0.01，现为 {alt!r}",
                    f"a numeric tolerance reads like 3.14±0.01; got {alt!r}",
                )
    marks = len(BLANK.findall(stem))
    if marks != len(blanks):
        row.bad(
            "key",
            "blank_count",
            f"题干中有 {marks} 个空（______），答案给出 {len(blanks)} 个",
            f"the stem marks {marks} blank(s) (______) but the key gives {len(blanks)}",
        )
    return LIST_SEPARATOR.join(ALTERNATIVE_SEPARATOR.join(blank) for blank in blanks)


def _tags(row: _Row) -> list[str]:
    raw = row.raw.values.get("tags")
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        if not all(isinstance(t, str) for t in raw):
            row.bad("tags", "type", "标签应为文本", "tags must be text")
            return []
        tags = [t.strip() for t in raw]
        if any(LIST_SEPARATOR in t for t in tags):
            row.bad("tags", "bad_tag", "标签中不能含有 ;", "a tag must not contain ';'")
    else:
        tags = [t.strip() for t in row.text("tags").split(LIST_SEPARATOR)]
    if any(not t for t in tags):
        row.bad(
            "tags",
            "empty_tag",
            "有空标签（检查多余的 ;）",
            "a tag is empty (check for a stray ';')",
        )
    for t in tags:
        if bad := _control_char(t, False):
            row.bad(
                "tags",
                "control_character",
                f"含有控制字符 U+{ord(bad):04X}",
                f"contains U+{ord(bad):04X}",
            )
    return tags


def _status(row: _Row) -> ItemStatus:
    name = row.text("status")
    if not name:
        return ItemStatus.READY
    found = ITEM_STATUS_ALIASES.get(name) or next(
        (s for s in ItemStatus if s.value == name.lower()), None
    )
    if found is None:
        row.bad(
            "status",
            "unknown_status",
            f"未知状态 {name!r}，应为 draft/ready/retired",
            f"unknown status {name!r}; use draft, ready or retired",
        )
        return ItemStatus.READY
    return found
