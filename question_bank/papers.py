"""试卷: assembling papers from a blueprint into the database, and reading them back.

A run of ``assemble_papers`` stores the blueprint, plans the cells (explaining any shortfall
before searching), runs the engine with the blueprint's seed, and stores one paper per form,
each question pointing at an exact item version. Draft papers of the blueprint are replaced;
frozen ones (used by a sitting) are never touched, and a blueprint with frozen papers cannot
change under the same code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, func, update
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import ALL_INSTITUTIONS, chunked, transaction
from certify.infra.errors import BlueprintNotFound, Error, PaperNotFound
from question_bank.assembly.engine import Assembly, FloatArray, assemble
from question_bank.assembly.information import item_information
from question_bank.assembly.plan import Infeasible, Plan, PoolItem, Shortfall, make_plan
from question_bank.bank import latest_versions
from question_bank.images import CheckedImage, images_in, shown_texts
from question_bank.sealing import (
    KeysWithheld,
    check_keys_released,
    check_readable,
    check_unheld,
    held_versions,
)
from question_bank.shuffle import candidate_view
from schemas.blueprint import Blueprint
from schemas.enums import ItemStatus, ItemType, Level
from schemas.papers import PaperPart, PaperQuestion, PaperView
from schemas.reference import LEVEL_NAMES_ZH, get_occupation
from schemas.tables import (
    Blueprint as BlueprintRow,
)
from schemas.tables import (
    CalibrationRun,
    Item,
    ItemCalibration,
    ItemVersion,
    Paper,
    PaperDocument,
    PaperItem,
    Registration,
    Sitting,
    utcnow,
)

TYPE_ORDER = [
    ItemType.SINGLE,
    ItemType.MULTIPLE,
    ItemType.TRUE_FALSE,
    ItemType.FILL,
    ItemType.MATCHING,
    ItemType.SUBJECTIVE,
]
DEFAULT_INSTRUCTIONS = [
    "请在试卷和答题卡规定位置填写姓名、准考证号和考场。",
    "客观题请在答题卡上作答，主观题请在试卷指定位置作答，写在其他位置无效。",
    "考试结束信号发出后立即停止作答，试卷、答题卡和草稿纸一并交回。",
]


class PaperError(Error):
    code = "paper"


@dataclass(frozen=True)
class FormReport:
    code: str
    form: str
    means: dict[str, float]
    questions: int
    information: list[float] | None = None
    """The form's test information at the blueprint's abilities (with an information target)."""


@dataclass(frozen=True)
class AssemblyReport:
    """What a run made and how good it is."""

    blueprint: str
    run: int
    seed: int
    papers: list[FormReport]
    targets: dict[str, float]
    objective: float
    spread: dict[str, float]
    max_overlap_seen: int
    max_uses_seen: int
    pool_size: int
    seconds: float
    converged: bool
    theta: list[float] | None = None
    """The abilities of the information target, when the blueprint sets one."""
    information_targets: list[list[float]] | None = None
    """The target information per form at each ability (forms × abilities)."""
    calibration: int | None = None
    """The calibration run the items' information was read from."""


def form_letter(n: int) -> str:
    """A, B, …, Z, then AA, AB, …"""
    letters = string.ascii_uppercase
    return letters[n] if n < 26 else letters[n // 26 - 1] + letters[n % 26]


def load_pool(session: Session, bp: Blueprint) -> list[PoolItem]:
    """Ready item versions of the blueprint's occupation and level, minus recently exposed items
    and those a seal holds."""
    query = (
        latest_versions()
        .where(col(Item.occupation) == bp.occupation, col(Item.level) == bp.level.value)
        .where(col(ItemVersion.status) == ItemStatus.READY.value)
        .order_by(col(Item.code))
    )
    exposed = exposed_items(session, bp)
    held = held_versions(session)  # on a sealed paper whose session has not ended
    return [
        PoolItem(v.id or 0, item.code, v.version, v.knowledge_area, ItemType(v.type), v.difficulty)
        for item, v in session.exec(query)
        if item.code not in exposed and v.id not in held
    ]


def exposed_items(session: Session, bp: Blueprint) -> set[str]:
    """Codes of items on papers used by the last N sittings of this occupation and level."""
    n = bp.exposure.recent_sittings
    if n == 0:
        return set()
    recent = (
        select(Sitting.id)
        .where(col(Sitting.occupation) == bp.occupation, col(Sitting.level) == bp.level.value)
        .order_by(col(Sitting.starts_at).desc(), col(Sitting.id).desc())
        .limit(n)
        .subquery()
    )
    query = (
        select(Item.code)
        .join(ItemVersion, col(ItemVersion.item_id) == col(Item.id))
        .join(PaperItem, col(PaperItem.item_version_id) == col(ItemVersion.id))
        .join(Registration, col(Registration.paper_id) == col(PaperItem.paper_id))
        .where(col(Registration.sitting_id).in_(select(recent.c.id)))
    )
    # every institution's sittings: the province's bank is exposed by any of them
    return set(session.exec(query.execution_options(**ALL_INSTITUTIONS)))


def _spec_hash(bp: Blueprint) -> str:
    text = json.dumps(bp.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _store_blueprint(session: Session, bp: Blueprint) -> BlueprintRow:
    spec = {**bp.model_dump(mode="json"), "_hash": _spec_hash(bp)}
    row = session.exec(select(BlueprintRow).where(BlueprintRow.code == bp.code)).first()
    if row is None:
        taken = session.exec(
            select(BlueprintRow.id)
            .where(BlueprintRow.code == bp.code)
            .execution_options(**ALL_INSTITUTIONS)  # a code is the platform's: taken is taken
        ).first()
        if taken is not None:
            raise PaperError(
                f"蓝图代码 {bp.code} 已被另一机构使用，请换一个 / the blueprint code {bp.code} is "
                "taken by another institution: choose another"
            )
        row = BlueprintRow(
            code=bp.code, occupation=bp.occupation, level=bp.level.value, name=bp.name, spec=spec
        )
        session.add(row)
        session.flush()
        return row
    if row.spec.get("_hash") != spec["_hash"]:
        frozen = session.exec(
            select(Paper).where(Paper.blueprint_id == row.id, Paper.status == "frozen")
        ).first()
        if frozen is not None:
            raise PaperError(
                f"蓝图 {bp.code} 已有试卷被考试使用（{frozen.code}），不能修改；请为修改后的蓝图使用新的 code。\n"
                f"Blueprint {bp.code} has papers used by a sitting ({frozen.code}) and cannot change; "
                "give the changed blueprint a new code."
            )
        row.spec, row.name = spec, bp.name
        row.occupation, row.level = bp.occupation, bp.level.value
        session.add(row)
    return row


@dataclass(frozen=True)
class SavedBlueprint:
    code: str
    created: bool
    changed: bool


def save_blueprint(engine: Engine, bp: Blueprint, *, actor: str = "cli") -> SavedBlueprint:
    """Store ``bp`` under its code, to check and assemble later; audited as ``blueprint.save``
    when it is new or changed. Raises PaperError when papers of the code are frozen and the
    blueprint differs (a changed blueprint needs a new code)."""
    with transaction(engine) as session:
        before = session.exec(select(BlueprintRow).where(BlueprintRow.code == bp.code)).first()
        old_hash = before.spec.get("_hash") if before is not None else None
        row = _store_blueprint(session, bp)
        saved = SavedBlueprint(bp.code, before is None, old_hash != row.spec["_hash"])
        if saved.changed:
            audit_log.append(
                session,
                actor=actor,
                action="blueprint.save",
                subject=bp.code,
                detail={"name": bp.name, "spec_hash": row.spec["_hash"], "created": saved.created},
            )
    return saved


def stored_blueprint(engine: Engine, code: str) -> Blueprint:
    """The blueprint stored under ``code``; raises BlueprintNotFound."""
    with Session(engine) as session:
        row = session.exec(select(BlueprintRow).where(BlueprintRow.code == code)).first()
    if row is None:
        raise BlueprintNotFound(code)
    return Blueprint.model_validate({k: v for k, v in row.spec.items() if k != "_hash"})


def plan_for(engine: Engine, bp: Blueprint) -> Plan:
    """The cells for ``bp`` over the current bank; raises Infeasible before any search."""
    calibrated: Calibrated | None = None
    with Session(engine) as session:
        pool = load_pool(session, bp)
        if bp.information is not None:
            calibrated = calibrated_pool(session, bp, pool)
            if calibrated.run is None:
                raise Infeasible(calibrated.shortfalls())
            pool = calibrated.pool
    unknown = _unknown_enemies(engine, bp)
    shortfalls = []
    if unknown:
        shortfalls.append(
            Shortfall(
                "enemies",
                f"互斥题组中的题目不在题库中：{', '.join(unknown)}",
                f"enemy sets name items that are not in the bank: {', '.join(unknown)}",
            )
        )
    try:
        plan = make_plan(bp, pool)
    except Infeasible as exc:
        if calibrated is not None and (note := calibrated.note()) is not None:
            shortfalls.append(note)
        with Session(engine) as session:
            exposed = len(exposed_items(session, bp))
            held = len(held_versions(session))
        if exposed:
            n = bp.exposure.recent_sittings
            shortfalls.append(
                Shortfall(
                    "exposure.recent_sittings",
                    f"曝光规则排除了最近 {n} 场考试用过的 {exposed} 道题；可调低 exposure.recent_sittings 以重新使用",
                    f"the exposure rule left out {exposed} items used in the last {n} sitting(s); "
                    "lower exposure.recent_sittings to use them again",
                )
            )
        if held:
            shortfalls.append(
                Shortfall(
                    "sealed",
                    f"{held} 道题在考试尚未结束的密封试卷中，组卷时不使用；考试结束后可再用",
                    f"{held} items are on sealed papers whose session has not ended and are left "
                    "out until it ends",
                )
            )
        raise Infeasible(exc.shortfalls + shortfalls) from None
    if shortfalls:
        raise Infeasible(shortfalls)
    if calibrated is None:
        return plan
    return dataclasses.replace(plan, information=calibrated.information, calibration=calibrated.run)


@dataclass(frozen=True)
class Calibrated:
    """The pool items with parameters in the calibration an information target is read from,
    and their information at the blueprint's abilities (rows in pool order)."""

    run: int | None
    pool: list[PoolItem]
    information: FloatArray
    left_out: int
    """Pool items without parameters in that run (never calibrated, or changed since)."""

    def shortfalls(self) -> list[Shortfall]:
        """Why the information target cannot even be planned (no calibration at all)."""
        if self.run is not None:
            return []
        return [
            Shortfall(
                "information.calibration",
                "没有可用的项目反应理论标定：请先标定（certify irt calibrate），或去掉 information 改按平均难度组卷",
                "no item response theory calibration to read the items' information from: "
                "calibrate first (certify irt calibrate), or drop information to balance mean "
                "difficulty",
            )
        ]

    def note(self) -> Shortfall | None:
        """What the calibration left out, when a plan of the rest fell short."""
        if self.run is None or not self.left_out:
            return None
        kept = len(self.pool)
        return Shortfall(
            "information.calibration",
            f"信息量目标只能使用标定 {self.run} 中有参数的题目（且须为题库当前版本）：{kept} 道可用，"
            f"{self.left_out} 道没有参数；请重新标定或补充已标定的题目",
            f"an information target can only use items with parameters in calibration {self.run} "
            f"(in the version the bank holds now): {kept} can, {self.left_out} have none; "
            "calibrate again or add calibrated items",
        )


def calibrated_pool(session: Session, bp: Blueprint, pool: list[PoolItem]) -> Calibrated:
    """The items of ``pool`` with parameters in the blueprint's calibration (by default the
    newest of its occupation and level), with their information at its abilities."""
    assert bp.information is not None
    theta = np.asarray(bp.information.theta, dtype=np.float64)
    run_id = bp.information.calibration
    runs = select(CalibrationRun.id).where(
        col(CalibrationRun.occupation) == bp.occupation,
        col(CalibrationRun.level) == bp.level.value,
    )
    if run_id is not None:
        found = session.exec(runs.where(col(CalibrationRun.id) == run_id)).first()
    else:
        found = session.exec(runs.order_by(col(CalibrationRun.id).desc()).limit(1)).first()
    if found is None:
        return Calibrated(None, [], np.zeros((0, theta.size)), len(pool))
    params: dict[int, ItemCalibration] = {}
    for chunk in chunked([p.version_pk for p in pool]):
        query = select(ItemCalibration).where(
            col(ItemCalibration.run_id) == found, col(ItemCalibration.item_version_id).in_(chunk)
        )
        params.update((row.item_version_id, row) for row in session.exec(query))
    kept = [p for p in pool if p.version_pk in params]
    rows = [
        item_information(c.model, c.a, c.d, c.c, theta)
        for c in (params[p.version_pk] for p in kept)
    ]
    information = np.vstack(rows) if rows else np.zeros((0, theta.size))
    return Calibrated(found, kept, information, len(pool) - len(kept))


def _unknown_enemies(engine: Engine, bp: Blueprint) -> list[str]:
    codes = sorted({c for group in bp.enemies for c in group})
    if not codes:
        return []
    with Session(engine) as session:
        known = set(session.exec(select(Item.code).where(col(Item.code).in_(codes))))
    return [c for c in codes if c not in known]


def assemble_papers(
    engine: Engine,
    bp: Blueprint,
    *,
    seed: int | None = None,
    actor: str = "cli",
    time_budget_s: float = 5.0,
    job_id: int | None = None,
    stage: Callable[[str], None] | None = None,
) -> AssemblyReport:
    """Plan, search and store the forms of ``bp``; raises Infeasible or PaperError, writes nothing then.

    ``job_id``: the background job doing it, kept in each paper's stats (so a resumed job finds
    what it stored before); ``stage`` is told ``"search"`` once planned, ``"store"`` once
    searched."""
    if seed is not None:
        bp = bp.model_copy(update={"seed": seed})
    plan = plan_for(engine, bp)
    if stage:
        stage("search")
    result = assemble(plan.problem(time_budget_s=time_budget_s))
    if result.violations:
        raise Infeasible(_search_shortfalls(bp, result))
    if stage:
        stage("store")
    with transaction(engine) as session:
        row = _store_blueprint(session, bp)
        assert row.id is not None
        _freeze_used(session, row.id)
        # the drafts' rows first: a seal taking one of them meanwhile keeps it (frozen, sealed)
        drafts = list(
            session.execute(
                update(Paper)
                .where(
                    col(Paper.blueprint_id) == row.id,
                    col(Paper.status) == "draft",
                    col(Paper.seal_id).is_(None),
                )
                .values(id=col(Paper.id))
                .returning(col(Paper.id))
            ).scalars()
        )
        if drafts:
            session.execute(delete(PaperItem).where(col(PaperItem.paper_id).in_(drafts)))
            session.execute(delete(PaperDocument).where(col(PaperDocument.paper_id).in_(drafts)))
            session.execute(delete(Paper).where(col(Paper.id).in_(drafts)))
        run = (
            session.exec(select(func.max(Paper.run)).where(Paper.blueprint_id == row.id)).one() or 0
        ) + 1
        report = _store_forms(session, row.id, run, bp, plan, result, job_id)
        stored = session.exec(
            select(Paper.id).where(Paper.blueprint_id == row.id, Paper.run == run)
        ).all()
        check_unheld(session, [pk for pk in stored if pk is not None])
        audit_log.append(
            session,
            actor=actor,
            action="papers.assemble",
            subject=bp.code,
            detail={
                "run": run,
                "seed": bp.seed,
                "papers": [p.code for p in report.papers],
                "objective": report.objective,
                "spec_hash": row.spec["_hash"],
            },
        )
    return report


def _freeze_used(session: Session, blueprint_id: int) -> None:
    """A draft paper a registration already points at is in use: freeze it before replacing drafts."""
    used = session.exec(
        select(Paper)
        .where(Paper.blueprint_id == blueprint_id, Paper.status == "draft")
        .where(col(Paper.id).in_(select(Registration.paper_id)))
        # a registration of any institution's sitting puts the paper in use
        .execution_options(**ALL_INSTITUTIONS)
    )
    for paper in used:
        paper.status, paper.frozen_at = "frozen", utcnow()
        session.add(paper)
    session.flush()


def _search_shortfalls(bp: Blueprint, result: Assembly) -> list[Shortfall]:
    if result.proofs:
        return [Shortfall(p.constraint, p.message_zh, p.message_en) for p in result.proofs]
    out = []
    seen = int(result.overlap.max()) if result.overlap.size else 0
    if bp.max_overlap is not None and seen > bp.max_overlap:
        out.append(
            Shortfall(
                "max_overlap",
                f"未找到两两重叠不超过 {bp.max_overlap} 题的组卷方案（最好的方案重叠 {seen} 题）；请把 max_overlap 放宽到 {seen}、减少试卷份数或补充题目",
                f"found no forms sharing at most {bp.max_overlap} items pairwise (best found: {seen}); "
                f"raise max_overlap to {seen}, make fewer forms or add items",
            )
        )
    if not out:
        out.append(
            Shortfall(
                "enemies",
                "互斥题组与使用次数限制无法同时满足；请拆分互斥题组、提高 max_uses 或补充题目",
                "the enemy sets and the use limit cannot be met together; split enemy sets, raise max_uses or add items",
            )
        )
    return out


def _store_forms(
    session: Session,
    blueprint_id: int,
    run: int,
    bp: Blueprint,
    plan: Plan,
    result: Assembly,
    job_id: int | None,
) -> AssemblyReport:
    parts = [p.part for p in bp.parts]
    forms: list[FormReport] = []
    information = _information_of(bp, plan, result)
    for f in range(bp.forms):
        letter = form_letter(f)
        code = f"{bp.code}-{run}{letter}"
        means = {parts[p]: round(float(result.means[f, p]), 6) for p in range(len(parts))}
        paper = Paper(
            code=code,
            blueprint_id=blueprint_id,
            run=run,
            form=letter,
            seed=bp.seed,
            stats={
                "means": means,
                "targets": {
                    parts[p]: (part.difficulty.form_targets or [plan.targets[p]] * bp.forms)[f]
                    for p, part in enumerate(bp.parts)
                },
                **({"job": job_id} if job_id is not None else {}),
                **({"information": information[f]} if information else {}),
            },
        )
        session.add(paper)
        session.flush()
        assert paper.id is not None
        rows = _ordered_questions(bp, plan, result, f)
        session.add_all(
            PaperItem(paper_id=paper.id, position=n, part=part, item_version_id=pk, points=points)
            for n, (part, pk, points) in enumerate(rows, start=1)
        )
        achieved = information[f]["achieved"] if information else None
        forms.append(FormReport(code, letter, means, len(rows), achieved))
    spread = {
        parts[p]: round(float(result.means[:, p].max() - result.means[:, p].min()), 6)
        for p in range(len(parts))
    }
    return AssemblyReport(
        blueprint=bp.code,
        run=run,
        seed=bp.seed,
        papers=forms,
        targets=dict(zip(parts, plan.targets, strict=True)),
        objective=round(result.objective, 6),
        spread=spread,
        max_overlap_seen=int(result.overlap.max()) if bp.forms > 1 else 0,
        max_uses_seen=result.max_uses_seen,
        pool_size=len(plan.pool),
        seconds=result.seconds,
        converged=not result.timed_out,
        theta=information[0]["theta"] if information else None,
        information_targets=[i["target"] for i in information] if information else None,
        calibration=information[0]["calibration"] if information else None,
    )


def _information_of(bp: Blueprint, plan: Plan, result: Assembly) -> list[dict[str, Any]]:
    """Per form, its test information at the target's abilities beside the target (none
    without an information target)."""
    targets = plan.information_targets()
    if bp.information is None or plan.information is None or targets is None:
        return []
    calibration = bp.information.calibration or plan.calibration
    return [
        {
            "theta": list(bp.information.theta),
            "target": [round(float(t), 6) for t in targets[f]],
            "achieved": [
                round(float(v), 6) for v in plan.information[result.form_items(f)].sum(axis=0)
            ],
            "calibration": calibration,
        }
        for f in range(bp.forms)
    ]


def _ordered_questions(
    bp: Blueprint, plan: Plan, result: Assembly, f: int
) -> list[tuple[str, int, float]]:
    """(part, item version pk, points) in printed order: part, type, knowledge area, item code."""
    rows = []
    for c, cell in enumerate(plan.cells):
        part = bp.parts[cell.part]
        for i in result.forms[f][c]:
            item = plan.pool[int(i)]
            rows.append(
                (
                    cell.part,
                    TYPE_ORDER.index(item.type),
                    item.area,
                    item.code,
                    part.part,
                    item.version_pk,
                    part.types[item.type].points,
                )
            )
    rows.sort(key=lambda r: (r[0], r[1], _area_key(r[2]), r[3]))
    return [(r[4], r[5], r[6]) for r in rows]


def _area_key(code: str) -> tuple[int, ...]:
    return tuple(int(x) if x.isdigit() else 0 for x in code.split("."))


# --- reading papers back ---------------------------------------------------------------------


def paper_view(engine: Engine, code: str) -> PaperView:
    """The stored paper ``code`` as a printable view; raises PaperNotFound if unknown and
    PaperSealed while it is sealed (``question_bank.sealing``)."""
    with Session(engine) as session:
        paper = check_readable(session, code)
        row = session.get(BlueprintRow, paper.blueprint_id)
        assert row is not None
        bp = Blueprint.model_validate({k: v for k, v in row.spec.items() if k != "_hash"})
        query = (
            select(PaperItem, ItemVersion, Item)
            .join(ItemVersion, col(ItemVersion.id) == col(PaperItem.item_version_id))
            .join(Item, col(Item.id) == col(ItemVersion.item_id))
            .where(PaperItem.paper_id == paper.id)
            .order_by(col(PaperItem.position))
        )
        rows = list(session.exec(query))
    return _view(paper, bp, rows)


def _view(paper: Paper, bp: Blueprint, rows: list[Any]) -> PaperView:
    occ = get_occupation(bp.occupation)
    parts = []
    for spec in bp.parts:
        questions = [
            PaperQuestion(
                number=pi.position,
                part=pi.part,
                type=ItemType(v.type),
                item_id=item.code,
                item_version=v.version,
                item_version_pk=v.id,
                knowledge_area=v.knowledge_area,
                stem=v.stem,
                options=v.options,
                premises=v.premises,
                key=v.key,
                points=pi.points,
                difficulty=v.difficulty,
                rubric=v.rubric,
                option_map={k: k for k in v.options},
            )
            for pi, v, item in rows
            if pi.part == spec.part
        ]
        parts.append(
            PaperPart(
                part=spec.part,
                title=spec.title,
                total_points=spec.total_points,
                pass_mark=spec.pass_mark,
                time_limit_minutes=spec.time_limit_minutes,
                questions=questions,
            )
        )
    return PaperView(
        code=paper.code,
        blueprint_code=bp.code,
        title=bp.name,
        occupation=bp.occupation,
        occupation_name=occ.name_zh,
        level=Level(bp.level),
        level_name=LEVEL_NAMES_ZH[bp.level],
        form=paper.form,
        seed=paper.seed,
        instructions=bp.instructions or DEFAULT_INSTRUCTIONS,
        parts=parts,
    )


def list_papers(engine: Engine) -> list[Paper]:
    with Session(engine) as session:
        return list(session.exec(select(Paper).order_by(col(Paper.code))))


def freeze_paper(engine: Engine, code: str, *, actor: str = "cli") -> Paper:
    """Mark a paper as used: it can no longer be replaced or changed."""
    with transaction(engine) as session:
        paper = session.exec(select(Paper).where(Paper.code == code)).first()
        if paper is None:
            raise PaperNotFound(code)
        if paper.status != "frozen":
            paper.status, paper.frozen_at = "frozen", utcnow()
            session.add(paper)
            audit_log.append(session, actor=actor, action="papers.freeze", subject=code, detail={})
        return paper


def write_paper_pdfs(
    engine: Engine, code: str, folder: Path, *, candidate_seed: int | None = None
) -> list[Path]:
    """Write the paper PDF (with its answer sheet) and the answer-key PDF; returns the paths
    written — the paper only while a sealed paper's keys are withheld (KeysWithheld).

    With ``candidate_seed`` the paper is that candidate's shuffled copy, and so is the key.
    Raises PaperNotFound, PaperSealed.
    """
    from question_bank.render import render_key, render_paper  # reportlab loads on demand

    view = paper_view(engine, code)
    with Session(engine) as session:
        try:
            check_keys_released(session, code)
            with_key = True
        except KeysWithheld:
            with_key = False
    name = code
    if candidate_seed is not None:
        view = candidate_view(view, candidate_seed, label=f"考生卷 seed {candidate_seed}")
        name = f"{code}-s{candidate_seed}"
    folder.mkdir(parents=True, exist_ok=True)
    images = paper_images(engine, view)
    written = [render_paper(view, folder / f"{name}-试卷.pdf", images)]
    if with_key:
        written.append(render_key(view, folder / f"{name}-答案.pdf", images))
    return written


def paper_images(engine: Engine, view: PaperView) -> dict[str, CheckedImage]:
    """The images that the questions of ``view`` show, by hash."""
    return images_in(engine, shown_texts(*view.questions))
