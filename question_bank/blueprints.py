"""Reading blueprint files (YAML or JSON) and checking them against the reference data.

Every problem is reported at once with the path of the field at fault, e.g.
``parts[0].types.single.count``; a blueprint with any problem is refused whole.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from certify.infra.documents import PlainLoader, field_path, read_text
from certify.infra.errors import InputError, Problem, ValidationFailed
from schemas.blueprint import BAND_NAMES, Blueprint, PartSpec
from schemas.reference import LEVEL_NAMES_ZH, Occupation, find_occupation

MAX_BYTES = 1024 * 1024


def load_blueprint(path: Path) -> Blueprint:
    """The blueprint in ``path``; raises InputError or ValidationFailed naming each field."""
    return read_blueprint(_read(path), str(path), json_text=path.suffix.lower() == ".json")


def read_blueprint(text: str, file: str = "blueprint", *, json_text: bool = False) -> Blueprint:
    """The blueprint written in ``text`` (YAML, or JSON with ``json_text``); raises InputError
    for text that is not YAML/JSON (its line as the row) or ValidationFailed with every problem,
    each with the line of its field as the row where the text has it."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InputError(
            Problem(
                file,
                None,
                None,
                "file_too_large",
                "蓝图文件超过 1 MB",
                "a blueprint file is at most 1 MB",
            )
        )
    try:
        data = json.loads(text) if json_text else yaml.load(text, Loader=_PlainLoader)
    except json.JSONDecodeError as exc:
        raise InputError(
            Problem(
                file,
                exc.lineno,
                None,
                "syntax",
                f"格式错误：{exc.msg}",
                f"not valid JSON: {exc.msg}",
            )
        ) from exc
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            Problem(file, line, None, "syntax", f"格式错误：{exc}", f"not valid YAML/JSON: {exc}")
        ) from exc
    try:
        return parse_blueprint(data, file)
    except ValidationFailed as exc:
        raise ValidationFailed(_with_lines(exc.problems, text)) from None


def _with_lines(problems: list[Problem], text: str) -> list[Problem]:
    """The problems with the line each field is on (the nearest enclosing one when the field
    itself is missing)."""
    try:
        root = yaml.compose(text, Loader=_PlainLoader)
    except (yaml.YAMLError, RecursionError):
        return problems
    if root is None:
        return problems
    return [
        replace(p, row=_line_of(root, p.field)) if p.field and p.row is None else p
        for p in problems
    ]


def _line_of(node: Any, field: str) -> int:
    for token in re.findall(r"[^.\[\]]+", field):
        found = None
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if str(k.value) == token), None)
        elif (
            isinstance(node, yaml.SequenceNode) and token.isdigit() and int(token) < len(node.value)
        ):
            found = node.value[int(token)]
        if found is None:
            break
        node = found
    return int(node.start_mark.line) + 1


class _PlainLoader(PlainLoader):
    """A blueprint never needs ``*name``."""

    document = "in a blueprint"


def _read(path: Path) -> str:
    return read_text(
        path,
        MAX_BYTES,
        too_large=("蓝图文件超过 1 MB", "a blueprint file is at most 1 MB"),
        encoding=("蓝图须为 UTF-8 编码", "a blueprint must be UTF-8"),
    )


def parse_blueprint(data: Any, file: str = "blueprint") -> Blueprint:
    """Validate parsed YAML/JSON as a blueprint; raises ValidationFailed with every problem."""
    if isinstance(data, dict) and isinstance(data.get("occupation"), str):
        occ = find_occupation(data["occupation"])
        if occ is not None:
            data = {**data, "occupation": occ.slug}
    try:
        blueprint = Blueprint.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(file, None, field_path(e["loc"]) or None, "blueprint_field", _zh(e), e["msg"])
            for e in exc.errors()
        ]
        raise ValidationFailed(problems) from exc
    problems = check_blueprint(blueprint, file)
    if problems:
        raise ValidationFailed(problems)
    return blueprint


def _zh(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "缺少该字段"
    if kind == "extra_forbidden":
        return "无法识别的字段"
    if kind.startswith("greater_than") or kind.startswith("less_than"):
        return f"数值超出范围：{error['msg']}"
    if kind == "enum":
        return f"取值无效：{error['msg']}"
    return f"取值无效：{error['msg']}"


def _check_form_targets(
    targets: list[float] | None,
    where: str,
    bp: Blueprint,
    bad: Callable[[str, str, str, str], None],
) -> None:
    if targets is None:
        return
    if len(targets) != bp.forms:
        bad(
            f"{where}.form_targets",
            "form_targets_count",
            f"form_targets 须为每份试卷各给一个目标难度：共 {bp.forms} 份，给了 {len(targets)} 个",
            f"form_targets needs one target per form: {bp.forms} forms, {len(targets)} given",
        )
    for k, t in enumerate(targets):
        if not 0 <= t <= 1:
            bad(
                f"{where}.form_targets[{k}]",
                "form_target_range",
                f"目标难度须在 0 到 1 之间（给了 {t}）",
                f"a target difficulty must lie between 0 and 1 ({t} given)",
            )


def _check_information(bp: Blueprint, bad: Callable[[str, str, str, str], None]) -> None:
    """An information curve's abilities increase within ±4; exactly one of ``target`` and
    ``form_targets``, one value per ability, each above 0, one row per form."""
    spec = bp.information
    if spec is None:
        return
    theta = spec.theta
    if any(not -4 <= t <= 4 for t in theta) or any(b <= a for a, b in itertools.pairwise(theta)):
        bad(
            "information.theta",
            "bad_theta",
            "能力点须在 -4 到 4 之间且严格递增",
            "the abilities must lie between -4 and 4 and increase",
        )
    if (spec.target is None) == (spec.form_targets is None):
        bad(
            "information",
            "information_target",
            "须给出 target 或 form_targets 之一（且只给一个）",
            "give exactly one of target and form_targets",
        )
    rows = [("information.target", spec.target)] if spec.target is not None else []
    if spec.form_targets is not None:
        if len(spec.form_targets) != bp.forms:
            bad(
                "information.form_targets",
                "form_targets_count",
                f"form_targets 须为每份试卷各给一条目标曲线：共 {bp.forms} 份，给了 {len(spec.form_targets)} 条",
                f"form_targets needs one curve per form: {bp.forms} forms, "
                f"{len(spec.form_targets)} given",
            )
        rows += [(f"information.form_targets[{k}]", r) for k, r in enumerate(spec.form_targets)]
    for where, row in rows:
        if len(row) != len(theta):
            bad(
                where,
                "information_points",
                f"每个能力点须有一个目标信息量：{len(theta)} 个能力点，给了 {len(row)} 个",
                f"one target information per ability: {len(theta)} abilities, {len(row)} given",
            )
        if any(not v > 0 for v in row):
            bad(
                where,
                "information_range",
                "目标信息量须大于 0",
                "a target information must be above 0",
            )


def check_blueprint(bp: Blueprint, file: str = "blueprint") -> list[Problem]:
    """Rules across fields: known areas, counts and points that add up, sane bands."""
    problems: list[Problem] = []

    def bad(field: str, code: str, zh: str, en: str) -> None:
        problems.append(Problem(file, None, field, code, zh, en))

    occ = find_occupation(bp.occupation)
    if occ is None:
        bad(
            "occupation",
            "unknown_occupation",
            f"未知职业 {bp.occupation!r}",
            f"unknown occupation {bp.occupation!r}",
        )
    low, high = bp.difficulty_bands
    if not 0 < low < high < 1:
        bad(
            "difficulty_bands",
            "bad_bands",
            "难度分档界限须满足 0 < a < b < 1",
            "band edges must satisfy 0 < a < b < 1",
        )
    names = [p.part for p in bp.parts]
    if len(set(names)) != len(names):
        bad("parts", "duplicate_part", "部分名称重复", "part names repeat")
    for n, part in enumerate(bp.parts):
        _check_part(part, f"parts[{n}]", occ, bp, bad)
        _check_form_targets(part.difficulty.form_targets, f"parts[{n}].difficulty", bp, bad)
    _check_information(bp, bad)
    if bp.max_overlap is not None and bp.max_overlap > bp.count:
        bad(
            "max_overlap",
            "bad_overlap",
            f"重叠上限 {bp.max_overlap} 超过每份试卷题数 {bp.count}",
            f"max_overlap {bp.max_overlap} exceeds the {bp.count} questions of a form",
        )
    for n, group in enumerate(bp.enemies):
        if len(set(group)) < 2:
            bad(
                f"enemies[{n}]",
                "bad_enemy_set",
                "互斥题组至少包含两道不同的题",
                "an enemy set names at least two different items",
            )
    return problems


def _check_part(
    part: PartSpec, where: str, occ: Occupation | None, bp: Blueprint, bad: Any
) -> None:
    total = sum(t.count * t.points for t in part.types.values())
    if not math.isclose(total, part.total_points, abs_tol=1e-9):
        bad(
            f"{where}.types",
            "points_total",
            f"各题型题数×分值之和为 {total:g}，与总分 {part.total_points:g} 不符",
            f"counts × points add up to {total:g}, not the part's total_points {part.total_points:g}",
        )
    if part.pass_mark > part.total_points:
        bad(f"{where}.pass_mark", "pass_mark", "及格线高于总分", "pass_mark exceeds total_points")
    if part.count == 0:
        bad(f"{where}.types", "empty_part", "该部分没有题目", "the part has no questions")
    if occ is not None and part.areas is not None:
        for code in part.areas:
            _check_area(code, f"{where}.areas.{code}", occ, bp, bad)
        if sum(part.areas.values()) != part.count:
            bad(
                f"{where}.areas",
                "area_total",
                f"各知识领域题数之和为 {sum(part.areas.values())}，应等于该部分题数 {part.count}",
                f"area counts add up to {sum(part.areas.values())}, not the part's {part.count} questions",
            )
        for code, count in part.areas.items():
            if count < 0:
                bad(
                    f"{where}.areas.{code}",
                    "negative",
                    "题数不能为负",
                    "a count cannot be negative",
                )
    per_type: dict[str, int] = {}
    per_area: dict[str, int] = {}
    for n, cell in enumerate(part.cells):
        field = f"{where}.cells[{n}]"
        if occ is not None:
            _check_area(cell.area, f"{field}.area", occ, bp, bad)
        if cell.type not in part.types:
            bad(
                f"{field}.type",
                "cell_type",
                f"题型 {cell.type.value} 不在该部分的题型中",
                f"type {cell.type.value} is not among the part's types",
            )
        per_type[cell.type] = per_type.get(cell.type, 0) + cell.count
        per_area[cell.area] = per_area.get(cell.area, 0) + cell.count
    for item_type, count in per_type.items():
        spec = part.types.get(item_type)  # type: ignore[call-overload]
        if spec is not None and count > spec.count:
            bad(
                f"{where}.cells",
                "cell_total",
                f"{item_type} 类单元格题数 {count} 超过该题型总数 {spec.count}",
                f"cells of type {item_type} ask for {count}, more than the type's {spec.count}",
            )
    if part.areas is not None:
        for area, count in per_area.items():
            if count > part.areas.get(area, 0):
                bad(
                    f"{where}.cells",
                    "cell_total",
                    f"知识领域 {area} 的单元格题数 {count} 超过该领域题数",
                    f"cells of area {area} ask for {count}, more than the area's {part.areas.get(area, 0)}",
                )
    bands = part.difficulty.bands
    if bands is not None:
        for name, count in bands.items():
            if name not in BAND_NAMES:
                bad(
                    f"{where}.difficulty.bands.{name}",
                    "unknown_band",
                    f"未知难度档 {name}（easy/medium/hard）",
                    f"unknown band {name}; use easy, medium, hard",
                )
            if count < 0:
                bad(
                    f"{where}.difficulty.bands.{name}",
                    "negative",
                    "题数不能为负",
                    "a count cannot be negative",
                )
        if sum(bands.values()) != part.count:
            bad(
                f"{where}.difficulty.bands",
                "band_total",
                f"各难度档题数之和为 {sum(bands.values())}，应等于 {part.count}",
                f"band counts add up to {sum(bands.values())}, not the part's {part.count}",
            )


def _check_area(code: str, field: str, occ: Occupation, bp: Blueprint, bad: Any) -> None:
    area = occ.area(code)
    if area is None:
        bad(
            field,
            "unknown_area",
            f"{occ.short_zh}没有知识领域 {code}",
            f"{occ.slug} has no knowledge area {code}",
        )
    elif area.weight(bp.level) == 0:
        bad(
            field,
            "area_not_examined",
            f"知识领域 {code} 不在{LEVEL_NAMES_ZH[bp.level]}考核范围内",
            f"knowledge area {code} is not examined at {bp.level.value} level",
        )


def blueprint_text(bp: Blueprint) -> str:
    """``bp`` written as YAML, leaving out what its defaults say (to edit and read back)."""
    data = bp.model_dump(mode="json", exclude_defaults=True)
    text: str = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return text
