"""检查计划的文件与总体: reading a plan (YAML or JSON, every problem named by field), the
population a plan may draw from — read from the database once, published as a file, and read
back from that file by anyone re-running the draw — and the published draw itself.

The population file holds the plan's digest and every target (id, stratum, institution, the
label a notice shows: names masked as in 公示), so a re-run needs no database: the plan, the
population file and the seed give the same selection (:mod:`certify.supervision.draw`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.infra.documents import PlainLoader, field_path, read_text
from certify.infra.errors import InputError, Problem, ValidationFailed
from certify.registration.identity import mask_name
from certify.supervision.draw import Draw, Target, plan_digest, population_digest
from schemas.inspection import InspectionPlan
from schemas.tables import Certificate, Institution, Sitting

MAX_BYTES = 8 * 1024 * 1024
"""The largest plan or population file read."""


def _text(path: Path, zh: str, en: str) -> str:
    return read_text(
        path,
        MAX_BYTES,
        too_large=(f"{zh}超过 8 MB", f"a {en} file is at most 8 MB"),
        encoding=("须为 UTF-8 编码", "the file must be UTF-8"),
    )


def read_plan(path: Path) -> InspectionPlan:
    """The plan in ``path`` (YAML or JSON); raises InputError, or ValidationFailed naming every
    field at fault."""
    text = _text(path, "检查计划", "plan")
    try:
        data = yaml.load(text, Loader=PlainLoader)
    except (yaml.YAMLError, RecursionError) as exc:
        raise InputError(
            Problem(
                str(path), None, None, "plan_syntax", "不是有效的 YAML/JSON", f"not YAML: {exc}"
            )
        ) from exc
    try:
        return InspectionPlan.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(str(path), None, field_path(e["loc"]) or None, "plan_field", e["msg"], e["msg"])
            for e in exc.errors()
        ]
        raise ValidationFailed(problems) from exc


def _stratum(plan: InspectionPlan, occupation: str, level: str, institution: str) -> str:
    rule = plan.sampling.strata
    if rule == "occupation":
        return occupation
    if rule == "level":
        return f"{occupation}/{level}"
    if rule == "institution":
        return institution
    return ""


def population(engine: Engine, plan: InspectionPlan) -> list[Target]:
    """Every target the plan may draw, from the database, in id order: the sittings that start
    in the plan's period, or the certificates issued in it (of its occupation, if it names one)."""
    spec = plan.population
    with Session(engine) as session:
        if spec.kind == "sittings":
            # a sitting's institution by its code, as certificates name their issuer and the
            # plan's inspectors their institutions and conflicts
            sittings = (
                select(Sitting, Institution.code)
                .join(Institution, col(Institution.name) == col(Sitting.institution))
                .where(col(Sitting.starts_at).is_not(None))
            )
            if spec.occupation:
                sittings = sittings.where(col(Sitting.occupation) == spec.occupation)
            targets = [
                Target(
                    s.code,
                    _stratum(plan, s.occupation, s.level, code),
                    code,
                    f"{s.code} {s.institution} {s.occupation}/{s.level}",
                )
                for s, code in session.exec(sittings)
                if s.starts_at is not None and spec.start <= s.starts_at.date() <= spec.end
            ]
        else:
            query = select(Certificate).where(
                col(Certificate.issued_on) >= spec.start, col(Certificate.issued_on) <= spec.end
            )
            if spec.occupation:
                query = query.where(col(Certificate.occupation) == spec.occupation)
            targets = [
                Target(
                    c.serial,
                    _stratum(plan, c.occupation, c.level, c.issuer),
                    c.issuer,
                    f"{c.serial} {mask_name(c.holder_name)} {c.occupation}/{c.level}",
                )
                for c in session.exec(query)
            ]
    return sorted(targets, key=lambda t: t.id)


def population_document(plan: InspectionPlan, targets: list[Target]) -> dict[str, Any]:
    """The population as published before the draw."""
    return {
        "plan": plan.code,
        "plan_digest": plan_digest(plan),
        "population_digest": population_digest(targets),
        "targets": [asdict(t) for t in targets],
    }


def read_population(path: Path, plan: InspectionPlan) -> list[Target]:
    """The targets of a published population file for ``plan``; raises InputError when the file
    is not one, or was made for another plan, or its targets are not what its digest says."""

    def fail(code: str, zh: str, en: str) -> InputError:
        return InputError(Problem(str(path), None, None, code, zh, en))

    try:
        data = json.loads(_text(path, "总体文件", "population"))
        targets = [Target(**{k: str(t[k]) for k in ("id", "stratum", "institution", "label")})
                   for t in data["targets"]]  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise fail("population_file", "不是总体文件", "not a population file") from exc
    if data.get("plan_digest") != plan_digest(plan):
        raise fail(
            "population_plan",
            "总体文件不是按这份检查计划生成的（计划摘要不符）",
            "the population was made for another plan (its plan digest differs)",
        )
    if data.get("population_digest") != population_digest(targets):
        raise fail(
            "population_digest",
            "总体文件的内容与其摘要不符（已被改动）",
            "the population's targets do not match its digest (it was changed)",
        )
    return targets


def notice_document(plan: InspectionPlan, result: Draw) -> dict[str, Any]:
    """The published draw (公开): the plan's particulars, the inputs' digests, the seed, and
    every target drawn with its inspectors (by name and id)."""
    names = {i.id: i.name for i in plan.inspectors}
    public = result.public()
    for row in public["drawn"]:
        row["inspector_names"] = [names[i] for i in row["inspectors"]]
    return {"title": plan.title, "region": plan.region, **public}


def notice_pdf(path: Path, notice: dict[str, Any]) -> Path:
    """The published draw as an A4 PDF (公示): the plan, the inputs' digests and the seed, so a
    reader can re-run it, and every target drawn with its inspectors."""
    from reportlab.platypus import Paragraph, Spacer, Table

    from certify.infra.pdf import build, draw_footer, markup, page_of, styles, table_style

    def story() -> list[object]:
        s = styles()
        rows = [["序号", "抽中对象", "检查人员", "排序值"]] + [
            [
                str(n),
                Paragraph(markup(row["label"]), s.cell),
                Paragraph(markup("、".join(row["inspector_names"]) or "—"), s.cell),
                row["rank"][:12],
            ]
            for n, row in enumerate(notice["drawn"], start=1)
        ]
        table = Table(rows, colWidths=[34, 230, 130, 86], repeatRows=1)
        table.setStyle(
            table_style(
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, "#8B1A1A"),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, "#CCCCCC"),
            )
        )
        facts = [
            f"检查计划 {notice['plan']}（{notice['region']}）· 总体 {notice['population']} 个对象，"
            f"抽中 {len(notice['drawn'])} 个",
            f"计划摘要 plan digest：{notice['plan_digest']}",
            f"总体摘要 population digest：{notice['population_digest']}",
            f"种子 seed：{notice['seed']}",
            f"承诺值 commitment：{notice['commitment']}",
            "任何人均可用公布的检查计划、总体文件和种子重新抽取并核对："
            "certify inspect redraw PLAN SEED --population FILE --notice FILE",
        ]
        return [
            Paragraph(markup(notice["title"]), s.title),
            Paragraph(markup("双随机抽查结果公示"), s.subtitle),
            Spacer(1, 8),
            *(Paragraph(markup(line), s.small) for line in facts),
            Spacer(1, 8),
            table,
        ]

    return build(
        path,
        story,
        lambda canvas, page, count: draw_footer(
            canvas, str(notice["plan"]), "公示", page_of(page, count)
        ),
        title=str(notice["title"]),
        subject="双随机抽查结果公示",
    )


def read_notice(path: Path) -> dict[str, Any]:
    """A published draw's notice (JSON); raises InputError when the file is not one."""
    try:
        data = json.loads(_text(path, "公示文件", "notice"))
        rows = data["drawn"]
        ok = isinstance(data["plan"], str) and all(
            isinstance(r, dict) and {"id", "label", "institution", "inspectors"} <= set(r)
            for r in rows
        )
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise InputError(
            Problem(
                str(path), None, None, "notice_file", "不是抽取结果公示文件", "not a draw's notice"
            )
        )
    return dict(data)
