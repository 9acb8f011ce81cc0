"""公示: publishing a sitting's pass list for a notice period, objections, and the issuance gate.

:func:`publish` lists every candidate with a final pass — admission number, name and ID number
masked (李*, 张*丰; 370102********123X), occupation and level — as an HTML page for the
institution's site and a PDF, and opens a notice period of ``days`` calendar days from the day of
publication. During it anyone may object to a listed candidate (:func:`file_objection`); an
admin resolves each objection with a reason (:func:`resolve_objection`): *upheld* means no
certificate, *dismissed* lets it issue.

The notice (page, PDF and a JSON copy) shows the audit log's latest signed checkpoint — made
at publication when a key is given — so the public copy anchors the log (:mod:`certify.audit.checkpoints`).

Level certificates issue only after the period has ended, and only to candidates without an
open or upheld objection (:func:`issuance_gate`): one objection holds back its own candidate,
not the whole list.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.audit.checkpoints import Checkpoint, Signer, latest, record
from certify.grading.lock import result_lock
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Error, ObjectionNotFound
from certify.registration.identity import mask_name
from certify.registration.sittings import get_sitting
from schemas.enums import Level, ObjectionState
from schemas.reference import LEVEL_NAMES_ZH, get_occupation
from schemas.tables import (
    Candidate,
    Objection,
    Publication,
    PublicationEntry,
    Registration,
    Result,
    Sitting,
    utcnow,
)

DEFAULT_DAYS = 7
"""Notice period in calendar days unless the institution sets another."""


class PublicationError(Error):
    code = "publication"


@dataclass(frozen=True)
class Listed:
    admission_no: str
    name: str
    id_number: str
    """Both masked."""


@dataclass(frozen=True)
class PublicationReport:
    sitting: str
    opened_on: date
    closes_on: date
    listed: list[Listed]
    html: Path
    pdf: Path
    json: Path
    checkpoint: Checkpoint | None
    """The audit checkpoint the notice shows (None before the first one)."""


def pass_list(session: Session, sitting: Sitting) -> list[tuple[Registration, Candidate]]:
    return list(
        session.exec(
            select(Registration, Candidate)
            .join(Result, col(Result.registration_id) == col(Registration.id))
            .join(Candidate, col(Candidate.id) == col(Registration.candidate_id))
            .where(Registration.sitting_id == sitting.id, col(Result.passed).is_(True))
            .order_by(col(Registration.admission_no))
        )
    )


def publish(
    engine: Engine,
    sitting_code: str,
    out: Path,
    *,
    days: int = DEFAULT_DAYS,
    opened_on: date | None = None,
    actor: str = "cli",
    checkpoint_signer: Signer | None = None,
) -> PublicationReport:
    """Publish the sitting's pass list (page, PDF and JSON in ``out``) and open the notice
    period. With ``checkpoint_signer`` an audit checkpoint covering the publication is signed
    and shown on the notice; without, the latest one is."""
    if not 1 <= days <= 90:
        raise PublicationError(
            f"公示期应为 1–90 天，现为 {days} / the notice period must be 1-90 days"
        )
    opened_on = opened_on or date.today()
    closes_on = opened_on + timedelta(days=days - 1)
    with transaction(engine) as session:
        sitting = get_sitting(session, sitting_code)
        # The sitting's row stays locked until the publication commits, as grading and regrades
        # lock it: a grade cannot change results between the list read here and its commit.
        result_lock(session, sitting, for_update=True)
        if session.exec(select(Publication).where(Publication.sitting_id == sitting.id)).first():
            raise PublicationError(
                f"{sitting_code} 已公示 / the pass list of {sitting_code} is published already"
            )
        rows = pass_list(session, sitting)
        if not rows:
            raise PublicationError(
                f"{sitting_code} 尚无合格考生（请先评分）/ {sitting_code} has no passed candidate yet: grade it first"
            )
        listed = [
            Listed(reg.admission_no, mask_name(person.name), person.id_number_masked)
            for reg, person in rows
        ]
        assert sitting.id is not None
        publication = Publication(
            sitting_id=sitting.id,
            opened_on=opened_on,
            closes_on=closes_on,
            listed=len(listed),
            published_by=actor,
        )
        session.add(publication)
        session.flush()
        assert publication.id is not None
        session.add_all(
            PublicationEntry(publication_id=publication.id, registration_id=reg.id or 0)
            for reg, _ in rows
        )
        audit_log.append(
            session,
            actor=actor,
            action="publication.open",
            subject=sitting_code,
            detail={
                "opened_on": opened_on.isoformat(),
                "closes_on": closes_on.isoformat(),
                "listed": len(listed),
            },
        )
        checkpoint = (
            record(session, checkpoint_signer, "publication.open")
            if checkpoint_signer is not None
            else latest(session)
        )
        title = _title(sitting)
        notice = _notice(sitting, opened_on, closes_on)
        anchor = _anchor(checkpoint)
        out.mkdir(parents=True, exist_ok=True)
        page = out / f"{sitting_code}-公示.html"
        pdf = out / f"{sitting_code}-公示.pdf"
        copy = out / f"{sitting_code}-公示.json"
        page.write_text(_page(title, notice, sitting, listed, anchor), encoding="utf-8")
        _pdf(pdf, title, notice, sitting, listed, anchor)
        copy.write_text(
            json.dumps(
                {
                    "format": "certify-notice/1",
                    "sitting": sitting_code,
                    "opened_on": opened_on.isoformat(),
                    "closes_on": closes_on.isoformat(),
                    "listed": len(listed),
                    "audit_checkpoint": checkpoint.document() if checkpoint else None,
                },
                ensure_ascii=False,
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return PublicationReport(
        sitting_code, opened_on, closes_on, listed, page, pdf, copy, checkpoint
    )


def _title(sitting: Sitting) -> str:
    occ = get_occupation(sitting.occupation)
    return f"{occ.name_zh}（{LEVEL_NAMES_ZH[Level(sitting.level)]}）考核合格人员名单公示"


def _notice(sitting: Sitting, opened: date, closes: date) -> str:
    return (
        f"经{sitting.institution}组织考核，以下人员考核合格，拟核发专业技术等级证书，现予公示。"
        f"公示期为 {opened.isoformat()} 至 {closes.isoformat()}。如有异议，请在公示期内以书面形式"
        f"向{sitting.institution}实名反映，并提供相关线索。公示名单中的姓名与身份证号已作脱敏处理。"
    )


def _anchor(checkpoint: Checkpoint | None) -> list[str]:
    """The notice's lines on the audit log: the checkpoint anyone can check against it."""
    if checkpoint is None:
        return ["审计日志尚无签名检查点 / the audit log has no signed checkpoint yet"]
    document = checkpoint.document()
    return [
        f"审计日志检查点 audit log checkpoint: 共 {checkpoint.count} 条 entries，"
        f"签名时间 signed {document['at']}，密钥 kid {checkpoint.kid}",
        f"末条哈希 head hash: {checkpoint.head_hash}",
        f"签名 signature: {document['signature']}",
    ]


def _page(
    title: str, notice: str, sitting: Sitting, listed: list[Listed], anchor: list[str]
) -> str:
    rows = "\n".join(
        f"<tr><td>{n}</td><td>{html.escape(x.admission_no)}</td><td>{html.escape(x.name)}</td>"
        f"<td>{html.escape(x.id_number)}</td></tr>"
        for n, x in enumerate(listed, start=1)
    )
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0 auto;
       max-width: 46rem; padding: 1rem; color: #1a1a1a; line-height: 1.6; }}
h1 {{ font-size: 1.3rem; color: #8b1a1a; text-align: center; }}
table {{ border-collapse: collapse; width: 100%; font-size: .95rem; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left; }}
th {{ background: #f6eeee; }}
.meta {{ color: #555; font-size: .9rem; }}
.audit {{ font-size: .75rem; overflow-wrap: anywhere; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(notice)}</p>
<p class="meta">考试场次 {html.escape(sitting.code)} · 共 {len(listed)} 人</p>
<table>
<thead><tr><th>序号</th><th>准考证号</th><th>姓名</th><th>身份证号</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p class="meta">{html.escape(sitting.institution)}</p>
<p class="meta audit">{"<br>".join(html.escape(line) for line in anchor)}</p>
</body>
</html>
"""


def _pdf(
    path: Path,
    title: str,
    notice: str,
    sitting: Sitting,
    listed: list[Listed],
    anchor: list[str],
) -> None:
    from reportlab.platypus import Paragraph, Spacer, Table

    from certify.infra.pdf import build, draw_footer, markup, page_of, styles, table_style

    def story() -> list[object]:
        s = styles()
        data = [["序号", "准考证号", "姓名", "身份证号"]] + [
            [str(n), x.admission_no, x.name, x.id_number] for n, x in enumerate(listed, start=1)
        ]
        table = Table(data, colWidths=[40, 150, 110, 170], repeatRows=1)
        table.setStyle(
            table_style(
                ("FONTSIZE", (0, 0), (-1, -1), 10),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, "#8B1A1A"),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, "#CCCCCC"),
            )
        )
        return [
            Paragraph(markup(title), s.title),
            Spacer(1, 6),
            Paragraph(markup(notice), s.body),
            Paragraph(markup(f"考试场次 {sitting.code} · 共 {len(listed)} 人"), s.small),
            Spacer(1, 8),
            table,
            Spacer(1, 12),
            Paragraph(markup(sitting.institution), s.body),
            Spacer(1, 12),
            *(Paragraph(markup(line), s.small) for line in anchor),
        ]

    build(
        path,
        story,
        lambda canvas, page, count: draw_footer(canvas, sitting.code, "公示", page_of(page, count)),
        title=title,
        subject="公示",
    )


def file_objection(
    engine: Engine,
    sitting_code: str,
    admission_no: str,
    *,
    reason: str,
    filed_by: str = "",
    filed_on: date | None = None,
    actor: str = "cli",
) -> Objection:
    """Record an objection to a listed candidate during the notice period."""
    if not reason.strip():
        raise PublicationError("异议须说明理由 / an objection needs a reason")
    filed_on = filed_on or date.today()
    with transaction(engine) as session:
        sitting = get_sitting(session, sitting_code)
        publication = session.exec(
            select(Publication).where(Publication.sitting_id == sitting.id)
        ).first()
        if publication is None:
            raise PublicationError(f"{sitting_code} 尚未公示 / {sitting_code} is not published")
        if not publication.opened_on <= filed_on <= publication.closes_on:
            raise PublicationError(
                f"公示期为 {publication.opened_on} 至 {publication.closes_on}，{filed_on} 不在其内 / "
                f"the notice period is {publication.opened_on} to {publication.closes_on}; {filed_on} is outside it"
            )
        listed = {reg.admission_no: reg for reg, _ in pass_list(session, sitting)}
        reg = listed.get(admission_no)
        if reg is None or reg.id is None:
            raise PublicationError(
                f"公示名单中没有准考证号 {admission_no} / no candidate {admission_no} on the published list"
            )
        assert publication.id is not None
        objection = Objection(
            publication_id=publication.id,
            registration_id=reg.id,
            filed_on=filed_on,
            filed_by=filed_by.strip(),
            reason=reason.strip(),
        )
        session.add(objection)
        session.flush()
        audit_log.append(
            session,
            actor=actor,
            action="objection.file",
            subject=sitting_code,
            detail={
                "objection": objection.id,
                "admission_no": admission_no,
                "reason": reason.strip(),
            },
        )
        return objection


RESOLUTIONS = (ObjectionState.DISMISSED, ObjectionState.UPHELD)
"""How an admin may resolve an open objection (the first is offered first)."""


def resolve_objection(
    engine: Engine, objection_id: int, *, decision: str, resolution: str, admin: str
) -> Objection:
    """An admin's decision on an open objection: ``upheld`` (no certificate) or ``dismissed``."""
    if decision not in RESOLUTIONS:
        upheld, dismissed = ObjectionState.UPHELD, ObjectionState.DISMISSED
        raise PublicationError(
            f"处理结果应为 {upheld} 或 {dismissed}，现为 {decision} / decision must be {upheld} or {dismissed}"
        )
    resolved = ObjectionState(decision)
    if not resolution.strip():
        raise PublicationError("处理异议须说明理由 / resolving an objection needs a reason")
    if not admin.strip():
        raise PublicationError("须注明处理的管理员 / the resolving admin must be named")
    with transaction(engine) as session:
        objection = session.get(Objection, objection_id)
        if objection is None:
            raise ObjectionNotFound(objection_id)
        if objection.status != ObjectionState.OPEN:
            raise PublicationError(
                f"异议 {objection_id} 已处理（{objection.status.zh}）/ objection {objection_id} is {objection.status} already"
            )
        objection.status = resolved
        objection.resolution = resolution.strip()
        objection.resolved_by = admin.strip()
        objection.resolved_at = utcnow()
        session.add(objection)
        reg = session.get(Registration, objection.registration_id)
        audit_log.append(
            session,
            actor=admin.strip(),
            action="objection.resolve",
            subject=str(objection_id),
            detail={
                "admission_no": reg.admission_no if reg else "",
                "decision": resolved,
                "resolution": resolution.strip(),
            },
        )
        return objection


def objections(engine: Engine, sitting_code: str) -> list[tuple[Objection, str]]:
    """Every objection of the sitting with the admission number it concerns."""
    with Session(engine) as session:
        sitting = get_sitting(session, sitting_code)
        return [
            (o, admission)
            for o, admission in session.exec(
                select(Objection, Registration.admission_no)
                .join(Registration, col(Registration.id) == col(Objection.registration_id))
                .join(Publication, col(Publication.id) == col(Objection.publication_id))
                .where(Publication.sitting_id == sitting.id)
                .order_by(col(Objection.id))
            )
        ]


NOT_LISTED = "not_listed"
"""Why a passed registration gets no certificate when no objection holds it: it is not on the
published pass list."""


@dataclass
class Gate:
    """Which passed registrations may get a certificate today: those on the published pass list
    with no open or upheld objection."""

    listed: set[int] = field(default_factory=set)
    """Registrations on the published pass list."""
    held: dict[int, ObjectionState] = field(default_factory=dict)
    """Registration id → why not yet (open objection) or not at all (upheld)."""

    def allows(self, registration_id: int | None) -> bool:
        return registration_id in self.listed and registration_id not in self.held

    def why_not(self, registration_id: int | None) -> str:
        """Why a passed registration gets no certificate: ``not_listed`` (it passed after the
        publication, by a regrade: a new publication must list it first) or the objection's
        state."""
        if registration_id not in self.listed:
            return NOT_LISTED
        return self.held.get(registration_id or 0, "")


def issuance_gate(session: Session, sitting: Sitting, today: date) -> Gate:
    """Raises PublicationError unless the pass list was published and its period has ended."""
    publication = session.exec(
        select(Publication).where(Publication.sitting_id == sitting.id)
    ).first()
    if publication is None:
        raise PublicationError(
            f"{sitting.code} 尚未公示，公示期满后方可发证 / publish the pass list of {sitting.code} first: "
            "certificates issue after the notice period"
        )
    if today <= publication.closes_on:
        raise PublicationError(
            f"{sitting.code} 公示期至 {publication.closes_on} 结束，"
            f"{publication.closes_on + timedelta(days=1)} 起方可发证 / the notice period of "
            f"{sitting.code} ends on {publication.closes_on}; certificates issue from "
            f"{publication.closes_on + timedelta(days=1)}"
        )
    gate = Gate(
        listed=set(
            session.exec(
                select(PublicationEntry.registration_id).where(
                    PublicationEntry.publication_id == publication.id
                )
            )
        )
    )
    for o in session.exec(
        select(Objection).where(
            Objection.publication_id == publication.id,
            col(Objection.status) != ObjectionState.DISMISSED,
        )
    ):
        gate.held[o.registration_id] = o.status
    return gate
