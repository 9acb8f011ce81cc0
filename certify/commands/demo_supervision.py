"""The demo's last step: the human-resources department's 双随机 check of the certificates the
demo issued — a plan committed to a secret seed, the population published, the draw and its
notice (JSON and PDF), the re-run confirming it, and an inspection record taken through a
finding with evidence, a rectification, the response and the closing."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from certify.accounts import create_account
from certify.institutions import registry as institutions
from certify.institutions.scope import Scope, scope_of_account, scoped
from certify.supervision.draw import commitment_of, draw
from certify.supervision.inspections import (
    notice_document,
    notice_pdf,
    population,
    population_document,
)
from certify.supervision.overview import region_overview
from certify.supervision.records import (
    Evidence,
    close_record,
    open_records,
    record_finding,
    record_response,
    request_rectification,
)
from schemas.inspection import InspectionPlan

SUPERVISOR = "demo-supervisor"
REGION = "示例省"
"""The supervisor's region: both demo institutions lie in 示例省示例市."""

INSPECTORS = [
    {"id": "I01", "name": "王督查", "institution": "省人社厅"},
    {"id": "I02", "name": "李督查", "institution": "市人社局", "conflicts": ["DEMO-TRAIN"]},
    {"id": "I03", "name": "赵督查", "institution": "DEMO-EVAL"},
    {"id": "I04", "name": "钱督查", "institution": "省人社厅"},
]


def supervise(
    engine: Engine, directory: Path, today: date, evidence: Path, echo: Callable[[str], None]
) -> Path:
    """Draw two of each issuer's certificates of the year for inspection and follow one record
    to its closing; returns the notice's PDF."""
    folder = directory / "inspection"
    folder.mkdir(parents=True, exist_ok=True)
    seed = secrets.token_hex(32)
    plan = InspectionPlan.model_validate(
        {
            "code": f"DEMO-CHECK-{today.year}",
            "title": f"{today.year} 年度证书发放双随机抽查（演示）",
            "region": REGION,
            "population": {"kind": "certificates", "from": f"{today.year}-01-01",
                           "to": f"{today.year}-12-31"},
            "sampling": {"count": 2, "strata": "institution"},
            "inspectors": INSPECTORS,
            "inspectors_per_target": 2,
            "commitment": commitment_of(seed),
        }
    )  # fmt: skip
    plan_file = folder / "plan.json"
    plan_file.write_text(
        json.dumps(plan.model_dump(mode="json", by_alias=True), ensure_ascii=False, indent=1),
        "utf-8",
    )
    targets = population(engine, plan)
    published = population_document(plan, targets)
    (folder / "population.json").write_text(
        json.dumps(published, ensure_ascii=False, indent=1), "utf-8"
    )
    result = draw(plan, targets, seed)
    notice = notice_document(plan, result)
    (folder / "notice.json").write_text(json.dumps(notice, ensure_ascii=False, indent=1), "utf-8")
    pdf = notice_pdf(folder / "notice.pdf", notice)
    again = draw(plan, targets, seed)
    echo(
        f"15. 双随机抽查 / 双随机 inspection {plan.code}: 承诺值 commitment "
        f"{plan.commitment[:16]}…, 总体 population {len(targets)}, 抽中 drawn "
        f"{len(result.drawn)} ({', '.join(d.target.id for d in result.drawn)}); "
        f"重新抽取一致 re-run identical: {again == result} -> {pdf}"
    )
    echo(
        f"   certify inspect redraw {plan_file} {seed} --population {folder / 'population.json'} "
        f"--notice {folder / 'notice.json'}"
    )
    # The supervisor's account reads both institutions of its region and writes none of
    # their data; the records are its own, the response the inspected institution's.
    account = create_account(
        engine,
        SUPERVISOR,
        "supervisor",
        secrets.token_urlsafe(18),
        display_name="示例省人社厅监督员（演示）",
        region=REGION,
        actor="demo",
    )
    with Session(engine) as session:
        held = scope_of_account(session, account)
    with scoped(held):
        figures = region_overview(engine)
        open_records(engine, notice, actor=SUPERVISOR)
        first, second = result.drawn[0].target.id, result.drawn[1].target.id
        record_finding(
            engine, plan.code, first, "证书存档 PDF 与登记信息核对一致，但发证记录缺少复核人签字",
            [Evidence(evidence.name, "application/pdf", evidence.read_bytes())], actor=SUPERVISOR,
        )  # fmt: skip
        request_rectification(
            engine, plan.code, first, "补齐复核人签字并报送", today + timedelta(days=30),
            actor=SUPERVISOR, today=today,
        )  # fmt: skip
    echo(
        f"   监督员 supervisor {SUPERVISOR} ({REGION}, 只读 read-only): "
        + "; ".join(
            f"{f.code} {f.certificates} 张证书 certificates"
            + (f", 合格率 pass rate {f.pass_rate:.0%}" if f.pass_rate is not None else "")
            for f in figures
        )
    )
    inspected = result.drawn[0].target.institution
    with Session(engine) as session:
        name = institutions.get(session, inspected).name
    with scoped(Scope.of(name, inspected)):
        record_response(engine, plan.code, first, "已补签并报送", actor=inspected)
    with scoped(held):
        closed = close_record(engine, plan.code, first, "整改到位", actor=SUPERVISOR)
        close_record(engine, plan.code, second, "未发现问题", actor=SUPERVISOR)
    echo(
        f"   检查记录 record {plan.code}/{first}: 发现 finding + 证据 evidence → 整改 rectify → "
        f"{inspected} 回复 respond → {closed.status}; {second}: 未发现问题 nothing found → closed"
    )
    return pdf
