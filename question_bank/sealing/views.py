"""The seals as their pages and commands list them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from question_bank.sealing.holds import SEALED, SealNotFound, aware, seal_of
from schemas.tables import (
    Paper,
    PaperSeal,
    utcnow,
)


@dataclass(frozen=True)
class SealView:
    id: int
    institution: str | None
    papers: list[str]
    threshold: int
    custodians: list[str]
    opens_at: datetime
    ends_at: datetime
    print_lead_minutes: int
    status: str
    sealed_by: str
    created_at: datetime
    opened_at: datetime | None
    opened_by: str | None
    opened_with: list[str]

    @property
    def keys_withheld(self) -> bool:
        return self.status == SEALED or utcnow() < aware(self.ends_at)


def list_seals(engine: Engine, seal_id: int | None = None) -> list[SealView]:
    """Every seal the caller's scope sees (or seal ``seal_id`` only), newest first."""
    query = select(PaperSeal).order_by(col(PaperSeal.id).desc())
    if seal_id is not None:
        query = query.where(PaperSeal.id == seal_id)
    with Session(engine) as session:
        seals = list(session.exec(query))
        papers: dict[int, list[str]] = {}
        for owner, code in session.exec(
            select(Paper.seal_id, Paper.code)
            .where(col(Paper.seal_id).in_([s.id for s in seals]))
            .order_by(col(Paper.code))
        ):
            papers.setdefault(int(owner or 0), []).append(code)
    return [_seal_view(s, papers.get(s.id or 0, [])) for s in seals]


def get_seal(engine: Engine, seal_id: int) -> SealView:
    """Seal ``seal_id``; raises SealNotFound if the caller's scope has none."""
    found = list_seals(engine, seal_id)
    if not found:
        raise SealNotFound(seal_id)
    return found[0]


def seal_of_paper(engine: Engine, code: str) -> SealView | None:
    """The seal of paper ``code``, if it was sealed."""
    with Session(engine) as session:
        _, seal = seal_of(session, code)
        if seal is None:
            return None
        codes = list(
            session.exec(
                select(Paper.code).where(Paper.seal_id == seal.id).order_by(col(Paper.code))
            )
        )
    return _seal_view(seal, codes)


def _seal_view(seal: PaperSeal, papers: list[str]) -> SealView:
    return SealView(
        id=seal.id or 0,
        institution=seal.institution,
        papers=papers,
        threshold=seal.threshold,
        custodians=[str(c["name"]) for c in seal.custodians],
        opens_at=aware(seal.opens_at),
        ends_at=aware(seal.ends_at),
        print_lead_minutes=seal.print_lead_minutes,
        status=seal.status,
        sealed_by=seal.sealed_by,
        created_at=aware(seal.created_at),
        opened_at=aware(seal.opened_at) if seal.opened_at else None,
        opened_by=seal.opened_by,
        opened_with=list(seal.opened_with),
    )
