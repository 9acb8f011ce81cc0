"""The columns of a tabular item file and the Chinese headers accepted for them."""

from __future__ import annotations

from certify.infra.rows import Columns
from schemas.notation import MAX_PREMISES, OPTION_LETTERS

OPTION_COLUMNS = tuple(f"option_{letter.lower()}" for letter in OPTION_LETTERS)
PREMISE_COLUMNS = tuple(f"premise_{n}" for n in range(1, MAX_PREMISES + 1))

COLUMNS: tuple[str, ...] = (
    "item_id",
    "occupation",
    "level",
    "type",
    "knowledge_area",
    "stem",
    *OPTION_COLUMNS,
    *PREMISE_COLUMNS,
    "key",
    "points",
    "difficulty",
    "source",
    "tags",
    "rubric",
    "status",
)
"""Every column, in the order export and the template write them."""

REQUIRED: frozenset[str] = frozenset(
    {"item_id", "occupation", "level", "type", "knowledge_area", "stem", "key", "points"}
)

JSON_FIELDS: tuple[str, ...] = (
    "item_id",
    "occupation",
    "level",
    "type",
    "knowledge_area",
    "stem",
    "options",
    "premises",
    "key",
    "points",
    "difficulty",
    "source",
    "tags",
    "rubric",
    "status",
)
"""Every field of a JSON item, in the order export writes them."""

HEADER_ALIASES: dict[str, str] = {
    "题目编号": "item_id",
    "试题编号": "item_id",
    "题号": "item_id",
    "职业": "occupation",
    "等级": "level",
    "题型": "type",
    "知识领域": "knowledge_area",
    "知识点": "knowledge_area",
    "题干": "stem",
    "答案": "key",
    "标准答案": "key",
    "参考答案": "key",
    "分值": "points",
    "难度": "difficulty",
    "来源": "source",
    "标签": "tags",
    "评分标准": "rubric",
    "状态": "status",
    **{f"选项{letter}": f"option_{letter.lower()}" for letter in OPTION_LETTERS},
    **{f"题项{n}": f"premise_{n}" for n in range(1, MAX_PREMISES + 1)},
}

MEANING_ZH: dict[str, str] = {
    "item_id": "题目编号（本机构内唯一，字母数字 . _ -）",
    "occupation": "职业（如 ai 或 人工智能）",
    "level": "等级：junior/初级、intermediate/中级、senior/高级",
    "type": (
        "题型：single 单选、multiple 多选、true_false 判断、fill 填空、matching 配对、"
        "subjective 主观/实操"
    ),
    "knowledge_area": "知识领域编号（见 certify reference）",
    "stem": "题干；填空题以 ______ 标出每个空",
    **{c: f"选项{c[-1].upper()}（单选、多选、配对题，从 A 起连续）" for c in OPTION_COLUMNS},
    **{c: f"题项{c[-1]}（仅配对题，从 1 起连续；每个题项配一个选项）" for c in PREMISE_COLUMNS},
    "key": (
        "答案：单选 B；多选 ACD；判断 T/F；填空 空1答案|同义答案;空2答案；"
        "配对 按题项顺序各一个选项字母，如 CAB；主观题为参考答案"
    ),
    "points": "分值（大于 0，最多两位小数）；主观题为满分",
    "difficulty": "难度估计 0–1（预计答错的考生比例），可空",
    "source": "来源",
    "tags": "标签，多个以 ; 分隔",
    "rubric": "评分标准（仅主观题，必填）",
    "status": "状态：draft 草稿、ready 可用、retired 停用；空为 ready",
}


ITEM_COLUMNS = Columns(
    {c: [alias for alias, column in HEADER_ALIASES.items() if column == c] for c in COLUMNS},
    required=[c for c in COLUMNS if c in REQUIRED],
    hint_zh="（若文件乱码，请确认编码；可用 certify bank template 获取模板）",
    hint_en=" (if the text looks garbled, check the encoding; `certify bank template` gives a template)",
)
"""The header of a tabular item file: each column by its name or a Chinese header."""
