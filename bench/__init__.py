"""Benchmarks (docs/benchmarks.md); what they share."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any


def institution(engine: Any, name: str) -> str:
    """An institution named ``name``, authorised from 2000-01-01 to examine and train for every
    occupation and level of the programme (made once; its name returned for the sitting)."""
    from sqlmodel import Session

    from certify.institutions.registry import add_institution, authorise, find
    from schemas.enums import Level
    from schemas.reference import occupations

    with Session(engine) as session:
        if find(session, name) is not None:
            return name
    code = "B" + hashlib.sha256(name.encode()).hexdigest()[:10]
    add_institution(engine, code, name, actor="bench")
    for kind in ("level", "training"):
        authorise(
            engine,
            code,
            kind=kind,
            occupations=[o.slug for o in occupations()],
            levels=[lv.value for lv in Level],
            valid_from=date(2000, 1, 1),
            actor="bench",
        )
    return name
