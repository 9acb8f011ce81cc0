"""检查记录: what follows a 双随机 draw, target by target — findings with their evidence, a
rectification request with a deadline, the institution's response, and the closing. Each step
is one transaction, audited (``inspect.open``, ``inspect.finding``, ``inspect.rectify``,
``inspect.respond``, ``inspect.close``) under whoever took it; a step out of order is refused
saying why, and changes nothing.

    open ── finding … ──> open ── rectify ──> rectifying ── respond ──> responded ── close ──> closed
      └──────────────────────────── close (nothing found) ───────────────────────────────────┘

Evidence is a PDF, PNG or JPEG (recognised by its first bytes, not its name), at most
:data:`MAX_EVIDENCE_BYTES` each and :data:`MAX_EVIDENCE_FILES` a finding, kept in the database
with its SHA-256."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Error, InputError, NotFound, Problem
from certify.institutions import scope
from schemas.tables import InspectionEvidence, InspectionRecord, utcnow

MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
MAX_EVIDENCE_FILES = 10
MAX_TEXT = 20_000
KINDS = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}


class RecordNotFound(NotFound):
    code = "inspection_record_not_found"
    what_zh = "检查记录"
    what_en = "inspection record"


class StepRefused(Error):
    """A step that does not follow from the record's state (or has nothing to say)."""

    code = "inspection_step"


@dataclass(frozen=True)
class Evidence:
    name: str
    media_type: str
    data: bytes


def read_evidence(path: Path) -> Evidence:
    """An evidence file from disk; raises InputError naming it when it is too large or not a
    PDF, PNG or JPEG."""
    try:
        if path.stat().st_size > MAX_EVIDENCE_BYTES:
            raise _bad_evidence(
                path.name,
                "evidence_too_large",
                "证据文件超过 10 MB",
                "an evidence file is at most 10 MB",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise _bad_evidence(
            path.name, "unreadable", f"无法读取：{exc.strerror}", f"cannot read: {exc.strerror}"
        ) from exc
    return evidence_of_bytes(path.name, data)


def evidence_of_bytes(name: str, data: bytes) -> Evidence:
    """Evidence as uploaded: refused, naming the file, when it is too large or not a PDF, PNG
    or JPEG by its first bytes (whatever its name says)."""
    if len(data) > MAX_EVIDENCE_BYTES:
        raise _bad_evidence(
            name, "evidence_too_large", "证据文件超过 10 MB", "an evidence file is at most 10 MB"
        )
    media = next((kind for magic, kind in KINDS.items() if data.startswith(magic)), None)
    if media is None:
        raise _bad_evidence(
            name,
            "evidence_type",
            "证据须为 PDF、PNG 或 JPEG 文件",
            "evidence must be a PDF, PNG or JPEG file",
        )
    return Evidence(name[:200], media, data)


def _bad_evidence(name: str, code: str, zh: str, en: str) -> InputError:
    return InputError(Problem(name[:200], None, None, code, zh, en))


def _record(session: Session, plan: str, target: str) -> InspectionRecord:
    found = session.exec(
        select(InspectionRecord).where(
            col(InspectionRecord.plan) == plan, col(InspectionRecord.target) == target
        )
    ).first()
    if found is None:
        raise RecordNotFound(f"{plan}/{target}")
    return found


def _text(text: str, what_zh: str, what_en: str) -> str:
    text = text.strip()
    if not text:
        raise StepRefused(f"{what_zh}不能为空 / the {what_en} cannot be empty")
    if len(text) > MAX_TEXT:
        raise StepRefused(
            f"{what_zh}超过 {MAX_TEXT} 字 / the {what_en} is longer than {MAX_TEXT} characters"
        )
    return text


def _saved(
    session: Session, record: InspectionRecord, action: str, actor: str, detail: dict[str, Any]
) -> InspectionRecord:
    """Store the step taken on ``record`` and audit it as ``action``; the record as stored."""
    session.add(record)
    audit_log.append(
        session, actor=actor, action=action, subject=f"{record.plan}/{record.target}", detail=detail
    )
    session.flush()
    session.refresh(record)
    return record


def _supervisor_step() -> None:
    """Findings, rectification requests, closing: a supervisor's (or the platform's), never an
    institution's account."""
    held = scope.current()
    if held is not None and not held.read_only:
        raise StepRefused(
            "检查记录由监督部门填写，机构只能回复整改 / inspection records are the supervisor's: "
            "an institution answers a rectification request only"
        )


def _institution_step() -> None:
    """The response to a rectification request: the institution's (or the platform's)."""
    held = scope.current()
    if held is not None and held.read_only:
        raise StepRefused(
            "整改回复由被检查机构填写 / the inspected institution writes its response"
        )


def _refuse(record: InspectionRecord, zh: str, en: str) -> StepRefused:
    return StepRefused(
        f"{record.plan}/{record.target}（{record.status}）：{zh} / "
        f"{record.plan}/{record.target} ({record.status}): {en}"
    )


def open_records(engine: Engine, notice: dict[str, Any], *, actor: str) -> int:
    """A record for every target of a published draw (its notice); those already open are left
    as they are. Returns how many were opened."""
    _supervisor_step()
    made = 0
    with transaction(engine) as session:
        known = set(
            session.exec(
                select(InspectionRecord.target).where(col(InspectionRecord.plan) == notice["plan"])
            )
        )
        for row in notice["drawn"]:
            if row["id"] in known:
                continue
            session.add(
                InspectionRecord(
                    plan=str(notice["plan"])[:64],
                    target=str(row["id"])[:64],
                    label=str(row["label"]),
                    institution=str(row["institution"])[:200],
                    inspectors=[str(i) for i in row["inspectors"]],
                )
            )
            made += 1
        audit_log.append(
            session,
            actor=actor,
            action="inspect.open",
            subject=str(notice["plan"]),
            detail={"opened": made, "drawn": len(notice["drawn"])},
        )
    return made


def record_finding(
    engine: Engine,
    plan: str,
    target: str,
    text: str,
    evidence: Sequence[Evidence] = (),
    *,
    actor: str,
) -> InspectionRecord:
    """Add a finding (with its evidence files) to an open or rectifying record."""
    _supervisor_step()
    text = _text(text, "检查发现", "finding")
    if len(evidence) > MAX_EVIDENCE_FILES:
        raise StepRefused(
            f"一条发现至多 {MAX_EVIDENCE_FILES} 个证据文件 / at most {MAX_EVIDENCE_FILES} "
            "evidence files a finding"
        )
    with transaction(engine) as session:
        record = _record(session, plan, target)
        if record.status not in ("open", "rectifying"):
            raise _refuse(
                record, "已回复或已办结，不能再记录发现", "answered or closed: no finding"
            )
        now = utcnow()
        kept = []
        for e in evidence:
            row = InspectionEvidence(
                record_id=record.id or 0,
                name=e.name,
                media_type=e.media_type,
                size=len(e.data),
                sha256=hashlib.sha256(e.data).hexdigest(),
                data=e.data,
                added_by=actor,
                added_at=now,
            )
            session.add(row)
            session.flush()
            kept.append(row)
        finding = {"at": now.isoformat(), "by": actor, "text": text,
                   "evidence": [r.id for r in kept]}  # fmt: skip
        record.findings = [*record.findings, finding]
        return _saved(
            session,
            record,
            "inspect.finding",
            actor,
            {"text": text[:500], "evidence": [[r.name, r.sha256] for r in kept]},
        )


def request_rectification(
    engine: Engine, plan: str, target: str, text: str, deadline: date, *, actor: str, today: date
) -> InspectionRecord:
    """Ask the institution to put right what was found, by ``deadline`` (not before ``today``)."""
    _supervisor_step()
    text = _text(text, "整改要求", "rectification request")
    with transaction(engine) as session:
        record = _record(session, plan, target)
        if record.status != "open" or not record.findings:
            raise _refuse(
                record, "须先有检查发现，且尚未要求整改", "needs a finding, and no request yet"
            )
        if deadline < today:
            raise _refuse(record, "整改期限不能早于今天", "the deadline cannot be before today")
        record.rectification, record.deadline, record.status = text, deadline, "rectifying"
        return _saved(
            session,
            record,
            "inspect.rectify",
            actor,
            {"text": text[:500], "deadline": deadline.isoformat()},
        )


def record_response(
    engine: Engine, plan: str, target: str, text: str, *, actor: str
) -> InspectionRecord:
    """The institution's response to a rectification request."""
    _institution_step()
    text = _text(text, "整改回复", "response")
    with transaction(engine) as session:
        record = _record(session, plan, target)
        if record.status != "rectifying":
            raise _refuse(record, "只有要求整改的记录才能回复", "only a record asked to rectify")
        record.response, record.responded_at, record.status = text, utcnow(), "responded"
        return _saved(session, record, "inspect.respond", actor, {"text": text[:500]})


def close_record(
    engine: Engine, plan: str, target: str, text: str, *, actor: str
) -> InspectionRecord:
    """Close a record: one with nothing found, or one whose response was accepted."""
    _supervisor_step()
    text = _text(text, "办结意见", "closing note")
    with transaction(engine) as session:
        record = _record(session, plan, target)
        nothing_found = record.status == "open" and not record.findings
        if not (nothing_found or record.status == "responded"):
            raise _refuse(
                record,
                "有发现的记录须在整改回复之后办结",
                "a record with findings closes after the institution's response",
            )
        record.closing, record.closed_at, record.status = text, utcnow(), "closed"
        return _saved(
            session,
            record,
            "inspect.close",
            actor,
            {"text": text[:500], "findings": len(record.findings)},
        )


def records(engine: Engine, plan: str | None = None) -> list[InspectionRecord]:
    """The records (of one plan), by plan and target."""
    query = select(InspectionRecord)
    if plan is not None:
        query = query.where(col(InspectionRecord.plan) == plan)
    with Session(engine) as session:
        found = session.exec(
            query.order_by(col(InspectionRecord.plan), col(InspectionRecord.target))
        ).all()
        return list(found)


def get_record(engine: Engine, plan: str, target: str) -> InspectionRecord:
    """The record of ``target`` in ``plan``; raises RecordNotFound."""
    with Session(engine) as session:
        return _record(session, plan, target)


def evidence_of(
    engine: Engine, record_id: int, *, with_data: bool = True, evidence_id: int | None = None
) -> list[InspectionEvidence]:
    """A record's evidence files (only the one of ``evidence_id`` when given), in the order
    they were added; without ``with_data`` their bytes are not read (a list of names and
    digests needs none of them)."""
    query = select(InspectionEvidence).where(col(InspectionEvidence.record_id) == record_id)
    if evidence_id is not None:
        query = query.where(col(InspectionEvidence.id) == evidence_id)
    if not with_data:
        query = query.options(defer(InspectionEvidence.data))  # type: ignore[arg-type]
    with Session(engine) as session:
        return list(session.exec(query.order_by(col(InspectionEvidence.id))))
