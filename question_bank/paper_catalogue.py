"""Stored blueprints and papers as the institution looks through them: blueprints a page at a
time, one run's forms side by side (difficulty per part, shared items), a paper's facts, the
paper's PDFs — rendered once, stored, and served as stored — and a frozen paper as a QTI 3.0
package."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import BlueprintNotFound, PaperNotFound
from question_bank.bank import to_item_data
from question_bank.interchange.qti_test import write_paper_qti
from question_bank.papers import PaperError, paper_images, paper_view
from question_bank.sealing import check_keys_released, check_readable
from schemas.blueprint import BAND_NAMES, Blueprint, band_of
from schemas.enums import Level
from schemas.tables import Blueprint as BlueprintRow
from schemas.tables import Item, ItemVersion, Paper, PaperDocument, PaperItem

DOCUMENT_KINDS = {"paper": "试卷", "key": "答案"}
"""A paper's PDFs: the paper with its answer sheet, and the answer key (institution only)."""
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class BlueprintSummary:
    code: str
    name: str
    occupation: str
    level: Level
    forms: int
    drafts: int
    frozen: int
    last_run: int
    created_at: datetime


@dataclass(frozen=True)
class BlueprintPage:
    rows: list[BlueprintSummary]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_blueprints(engine: Engine, *, page: int = 1, per_page: int = 50) -> BlueprintPage:
    """Stored blueprints by code, one page of them, each with its papers counted by status;
    the database counts and cuts the page."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    page = max(page, 1)
    papers = (
        select(
            col(Paper.blueprint_id).label("bp"),
            func.sum(case((col(Paper.status) == "draft", 1), else_=0)).label("drafts"),
            func.count().label("n"),
            func.max(Paper.run).label("run"),
        )
        .group_by(col(Paper.blueprint_id))
        .subquery()
    )
    query = (
        select(BlueprintRow, papers.c.drafts, papers.c.n, papers.c.run)
        .outerjoin(papers, papers.c.bp == col(BlueprintRow.id))
        .order_by(col(BlueprintRow.code))
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(BlueprintRow)).one()
        rows = [
            BlueprintSummary(
                code=row.code,
                name=row.name,
                occupation=row.occupation,
                level=Level(row.level),
                forms=int(row.spec.get("forms", 1)),
                drafts=int(drafts or 0),
                frozen=int(n or 0) - int(drafts or 0),
                last_run=int(run or 0),
                created_at=row.created_at,
            )
            for row, drafts, n, run in session.exec(query)
        ]
    return BlueprintPage(rows, int(total), page, per_page)


@dataclass(frozen=True)
class FormSide:
    """One form of a run, for the side-by-side view."""

    code: str
    form: str
    status: str
    means: dict[str, float]
    questions: dict[str, int]
    points: dict[str, float]
    bands: dict[str, dict[str, int]]
    """Per part: questions per difficulty band (easy, medium, hard)."""
    information: dict[str, Any] | None = None
    """With an information target: the abilities (``theta``), the form's ``target`` and its
    ``achieved`` test information there, and the ``calibration`` read."""

    @property
    def information_deviation(self) -> float:
        """The largest relative deviation of the form's information from its target."""
        if not self.information:
            return 0.0
        pairs = zip(self.information["achieved"], self.information["target"], strict=True)
        return float(max(abs(a - t) / t for a, t in pairs))


@dataclass(frozen=True)
class RunComparison:
    """The forms of one run of a blueprint, side by side."""

    blueprint: Blueprint
    run: int
    parts: list[tuple[str, str]]
    """(part, printed title) in order."""
    targets: dict[str, float]
    forms: list[FormSide]
    overlap: list[list[int]]
    """Items each pair of forms shares (the diagonal: each form's questions)."""

    @property
    def spread(self) -> dict[str, float]:
        """Per part, the highest form mean minus the lowest."""
        return {
            part: max(f.means.get(part, 0.0) for f in self.forms)
            - min(f.means.get(part, 0.0) for f in self.forms)
            for part, _ in self.parts
        }

    @property
    def information(self) -> bool:
        """Were the forms assembled to a target information curve?"""
        return all(f.information for f in self.forms)

    @property
    def max_overlap(self) -> int:
        n = len(self.forms)
        return max((self.overlap[a][b] for a in range(n) for b in range(a + 1, n)), default=0)


def _blueprint_row(session: Session, code: str) -> BlueprintRow:
    row = session.exec(select(BlueprintRow).where(BlueprintRow.code == code)).first()
    if row is None:
        raise BlueprintNotFound(code)
    return row


def run_comparison(engine: Engine, code: str, run: int | None = None) -> RunComparison | None:
    """The forms of ``run`` (by default the newest) of blueprint ``code``, or None before any
    run; raises BlueprintNotFound."""
    with Session(engine) as session:
        row = _blueprint_row(session, code)
        bp = Blueprint.model_validate({k: v for k, v in row.spec.items() if k != "_hash"})
        if run is None:
            run = session.exec(
                select(func.max(Paper.run)).where(Paper.blueprint_id == row.id)
            ).one()
        if not run:
            return None
        papers = list(
            session.exec(
                select(Paper)
                .where(Paper.blueprint_id == row.id, Paper.run == run)
                .order_by(col(Paper.code))
            )
        )
        if not papers:
            return None
        questions = session.exec(
            select(PaperItem, Item.code, ItemVersion)
            .join(ItemVersion, col(ItemVersion.id) == col(PaperItem.item_version_id))
            .join(Item, col(Item.id) == col(ItemVersion.item_id))
            .where(col(PaperItem.paper_id).in_([p.id for p in papers]))
        ).all()
    items: dict[int, set[str]] = {p.id or 0: set() for p in papers}
    counts: dict[int, dict[str, int]] = {p.id or 0: {} for p in papers}
    points: dict[int, dict[str, float]] = {p.id or 0: {} for p in papers}
    bands = {p.id or 0: {s.part: dict.fromkeys(BAND_NAMES, 0) for s in bp.parts} for p in papers}
    for question, item_code, version in questions:
        paper_id, part, value = question.paper_id, question.part, question.points
        items[paper_id].add(item_code)
        counts[paper_id][part] = counts[paper_id].get(part, 0) + 1
        points[paper_id][part] = points[paper_id].get(part, 0.0) + value
        bands[paper_id].setdefault(part, dict.fromkeys(BAND_NAMES, 0))
        bands[paper_id][part][band_of(version.difficulty, bp.difficulty_bands)] += 1
    forms = [
        FormSide(
            code=p.code,
            form=p.form,
            status=p.status,
            means={k: float(v) for k, v in p.stats.get("means", {}).items()},
            questions=counts[p.id or 0],
            points=points[p.id or 0],
            bands=bands[p.id or 0],
            information=p.stats.get("information"),
        )
        for p in papers
    ]
    ids = [p.id or 0 for p in papers]
    overlap = [[len(items[a] & items[b]) for b in ids] for a in ids]
    targets = {k: float(v) for k, v in papers[0].stats.get("targets", {}).items()}
    return RunComparison(
        blueprint=bp,
        run=int(run),
        parts=[(s.part, s.title) for s in bp.parts],
        targets=targets,
        forms=forms,
        overlap=overlap,
    )


@dataclass(frozen=True)
class PaperInfo:
    code: str
    blueprint: str
    run: int
    form: str
    status: str
    created_at: datetime
    frozen_at: datetime | None
    job: int | None


def paper_info(engine: Engine, code: str) -> PaperInfo:
    """A stored paper's facts; raises PaperNotFound."""
    with Session(engine) as session:
        found = session.exec(
            select(Paper, BlueprintRow.code)
            .join(BlueprintRow, col(BlueprintRow.id) == col(Paper.blueprint_id))
            .where(Paper.code == code)
        ).first()
    if found is None:
        raise PaperNotFound(code)
    paper, blueprint = found
    job = paper.stats.get("job")
    return PaperInfo(
        code=paper.code,
        blueprint=blueprint,
        run=paper.run,
        form=paper.form,
        status=paper.status,
        created_at=paper.created_at,
        frozen_at=paper.frozen_at,
        job=int(job) if isinstance(job, int) else None,
    )


def papers_to_seal_with(engine: Engine, code: str) -> list[str]:
    """Paper ``code`` and the other unsealed forms of its blueprint's run: parallel forms share
    items, and papers that share items are sealed together. Raises PaperNotFound."""
    with Session(engine) as session:
        paper = session.exec(select(Paper).where(Paper.code == code)).first()
        if paper is None:
            raise PaperNotFound(code)
        others = session.exec(
            select(Paper.code)
            .where(Paper.blueprint_id == paper.blueprint_id, Paper.run == paper.run)
            .where(col(Paper.seal_id).is_(None), Paper.code != code)
            .order_by(col(Paper.code))
        )
        return [code, *others] if paper.seal_id is None else []


def papers_of_job(engine: Engine, blueprint: str, job_id: int) -> list[str]:
    """Codes of the blueprint's stored papers that background job ``job_id`` made."""
    with Session(engine) as session:
        row = session.exec(select(BlueprintRow).where(BlueprintRow.code == blueprint)).first()
        if row is None:
            return []
        papers = session.exec(
            select(Paper).where(Paper.blueprint_id == row.id).order_by(col(Paper.code))
        )
        return [p.code for p in papers if p.stats.get("job") == job_id]


def paper_document(engine: Engine, code: str, kind: str) -> bytes:
    """The paper's PDF (``kind`` ``paper``) or its answer key (``key``): as stored, else rendered
    now and stored, so every later request gets the same bytes. Raises PaperNotFound, KeyError
    for an unknown kind, PaperSealed, or KeysWithheld for a sealed paper's key before its
    session ended."""
    from question_bank.render import render_key, render_paper  # reportlab loads on demand

    if kind not in DOCUMENT_KINDS:
        raise KeyError(kind)
    with Session(engine) as session:
        # a sealed paper has no stored PDFs; its key is withheld until its session ends
        check = check_keys_released if kind == "key" else check_readable
        paper = check(session, code)
        stored = session.exec(
            select(PaperDocument.content).where(
                PaperDocument.paper_id == paper.id, PaperDocument.kind == kind
            )
        ).first()
    if stored is not None:
        return bytes(stored)
    view = paper_view(engine, code)
    render = render_paper if kind == "paper" else render_key
    with tempfile.TemporaryDirectory() as folder:
        content = render(
            view, Path(folder) / f"{kind}.pdf", paper_images(engine, view)
        ).read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    try:
        with Session(engine) as session, session.begin():
            # the paper's row, then whether it is still readable: a seal taken while this was
            # rendered keeps the PDF out of the database (and from the one who asked)
            session.execute(update(Paper).where(col(Paper.id) == paper.id).values(id=col(Paper.id)))
            check(session, code)
            session.add(
                PaperDocument(paper_id=paper.id or 0, kind=kind, content=content, sha256=digest)
            )
    except IntegrityError:  # another process stored it first, or the paper was replaced
        pass
    return content


def paper_qti(engine: Engine, code: str, *, actor: str = "cli") -> bytes:
    """The frozen paper ``code`` as a QTI 3.0 content package (its exact item versions and a
    ``qti-assessment-test`` in its order and parts); the export is audited, since the paper
    leaves certify with its keys. Raises PaperNotFound, PaperError for a paper not frozen,
    PaperSealed, or KeysWithheld before a sealed paper's session ended."""
    with Session(engine) as session:
        check_keys_released(session, code)
    view = paper_view(engine, code)
    pks = [q.item_version_pk for q in view.questions]
    with transaction(engine) as session:
        paper = session.exec(select(Paper).where(Paper.code == code)).one()
        if paper.status != "frozen":
            raise PaperError(
                f"试卷 {code} 尚未锁定（{paper.status}）：只有锁定的试卷可以导出为 QTI；"
                f"请先锁定（certify papers freeze {code}）。\n"
                f"Paper {code} is not frozen ({paper.status}): only a frozen paper is exported "
                f"as QTI; freeze it first (certify papers freeze {code})."
            )
        rows = session.exec(
            select(Item, ItemVersion)
            .join(ItemVersion, col(ItemVersion.item_id) == col(Item.id))
            .where(col(ItemVersion.id).in_(pks))
        )
        items = {version.id or 0: to_item_data(item, version) for item, version in rows}
        package = write_paper_qti(view, items, paper_images(engine, view))
        audit_log.append(
            session,
            actor=actor,
            action="papers.export_qti",
            subject=code,
            detail={"questions": len(pks), "sha256": hashlib.sha256(package).hexdigest()},
        )
    return package
