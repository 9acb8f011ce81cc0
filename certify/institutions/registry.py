"""机构: the evaluation and training institutions of one platform, and what each is authorised for.

An institution is a record (code, name, region); an authorisation (授权范围) lets it examine an
occupation at a level (it issues 专业技术等级证书) or train for one (培训合格证书), from one day,
until another or with no end. Opening a sitting, opening a course, making a signing key and
issuing a certificate each ask :func:`check_authorised`, and the published trust list states
every institution key's grants, so verifiers refuse what the institution was not authorised for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import Error
from certify.institutions.scope import require_platform
from schemas.enums import CertificateKind, Level
from schemas.reference import LEVEL_NAMES_ZH, find_level, find_occupation
from schemas.tables import Authorisation, Institution

INSTITUTION_CODE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
KIND_NAMES_ZH = {CertificateKind.LEVEL: "评价", CertificateKind.TRAINING: "培训"}


class InstitutionError(Error):
    """An institution or authorisation that cannot be made or used; ``field`` names the input
    at fault (``code``, ``name``, ``region``, ``institution``, ``occupation``, ``level``,
    ``kind``, ``valid_from``, ``valid_until``)."""

    code = "institution"

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NotAuthorised(InstitutionError):
    """The institution holds no authorisation for this kind, occupation and level on the day."""

    code = "not_authorised"


@dataclass(frozen=True)
class Grant:
    """One authorisation, as a verifier and a page read it."""

    kind: CertificateKind
    occupation: str
    level: str
    valid_from: date
    valid_until: date | None

    def covers(self, kind: CertificateKind, occupation: str, level: str) -> bool:
        return (self.kind, self.occupation, self.level) == (kind, occupation, level)

    def holds_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def as_json(self) -> dict[str, object]:
        """The grant as the trust list publishes it (the kind as its token number)."""
        return {
            "kind": self.kind.code,
            "occupation": self.occupation,
            "level": self.level,
            "from": self.valid_from.isoformat(),
            "until": self.valid_until.isoformat() if self.valid_until else None,
        }

    def describe(self) -> str:
        until = self.valid_until.isoformat() if self.valid_until else "—"
        return (
            f"{KIND_NAMES_ZH[self.kind]} {self.occupation}/{self.level} "
            f"{self.valid_from.isoformat()}…{until}"
        )


@dataclass(frozen=True)
class InstitutionView:
    """An institution with its authorisations, oldest first."""

    code: str
    name: str
    region: str
    grants: tuple[Grant, ...]

    def current(self, day: date) -> tuple[Grant, ...]:
        return tuple(g for g in self.grants if g.holds_on(day))


def _grant(row: Authorisation) -> Grant:
    return Grant(row.kind, row.occupation, row.level, row.valid_from, row.valid_until)


def _kind(kind: str | CertificateKind) -> CertificateKind:
    try:
        return CertificateKind(kind)
    except ValueError:
        raise InstitutionError(
            f"授权类别应为 level（评价）或 training（培训）：{str(kind)[:40]!r} / the kind is "
            f"level (examining) or training: {str(kind)[:40]!r}",
            "kind",
        ) from None


def _occupation(name: str) -> str:
    occ = find_occupation(name)
    if occ is None:
        raise InstitutionError(
            f"未知职业 {name[:40]!r} / unknown occupation {name[:40]!r}", "occupation"
        )
    return occ.slug


def _level(name: str) -> Level:
    level = find_level(name)
    if level is None:
        raise InstitutionError(
            f"等级应为 初级、中级 或 高级：{name[:40]!r} / the level is junior, intermediate or "
            f"senior: {name[:40]!r}",
            "level",
        )
    return level


def _region(region: str) -> str:
    region = region.strip()
    if len(region) > 64:
        raise InstitutionError("地区至多 64 字 / the region is at most 64 characters", "region")
    return region


def find(session: Session, name_or_code: str) -> Institution | None:
    """The institution of this name or code, or None."""
    return session.exec(
        select(Institution).where(
            or_(col(Institution.name) == name_or_code, col(Institution.code) == name_or_code)
        )
    ).first()


def get(session: Session, name_or_code: str) -> Institution:
    """The institution of this name or code; raises InstitutionError naming ``institution``."""
    found = find(session, name_or_code.strip())
    if found is None:
        raise InstitutionError(
            f"没有机构 {name_or_code[:80]!r}（请先用 certify institution add 登记）/ no institution "
            f"{name_or_code[:80]!r}: add it first (certify institution add)",
            "institution",
        )
    return found


def add_institution(
    engine: Engine, code: str, name: str, *, region: str = "", actor: str = "cli"
) -> Institution:
    """A new institution; audited as ``institution.add``. Raises InstitutionError naming the
    field for a malformed code, an empty or overlong name or region, or a code or name taken."""
    require_platform("登记机构", "add an institution")
    code, name = code.strip(), name.strip()
    if not re.fullmatch(INSTITUTION_CODE, code):
        raise InstitutionError(
            f"机构代码须为 1–64 位字母、数字或 - _ . ，以字母或数字开头：{code[:40]!r} / an "
            f"institution code is 1-64 letters, digits, '-', '_' or '.': {code[:40]!r}",
            "code",
        )
    if not name or len(name) > 200:
        raise InstitutionError(
            "须填写机构名称（至多 200 字）/ the name is required (≤ 200 characters)", "name"
        )
    region = _region(region)
    with transaction(engine) as session:
        for field, value in (("code", code), ("name", name)):
            if find(session, value) is not None:
                raise InstitutionError(
                    f"机构 {value} 已存在 / an institution {value} exists already", field
                )
        row = Institution(code=code, name=name, region=region)
        session.add(row)
        session.flush()
        audit_log.append(
            session,
            actor=actor,
            action="institution.add",
            subject=code,
            detail={"name": name, "region": region},
        )
        return row


def set_region(
    engine: Engine, name_or_code: str, region: str, *, actor: str = "cli"
) -> Institution:
    """Change an institution's region (its name and code stay); audited ``institution.region``."""
    require_platform("更改机构地区", "change an institution's region")
    region = _region(region)
    with transaction(engine) as session:
        row = get(session, name_or_code)
        before, row.region = row.region, region
        session.add(row)
        audit_log.append(
            session,
            actor=actor,
            action="institution.region",
            subject=row.code,
            detail={"from": before, "to": region},
        )
        return row


def authorise(
    engine: Engine,
    name_or_code: str,
    *,
    kind: str | CertificateKind,
    occupations: Iterable[str],
    levels: Iterable[str],
    valid_from: date,
    valid_until: date | None = None,
    actor: str = "cli",
) -> list[Grant]:
    """Authorise the institution for every occupation × level given, from ``valid_from`` until
    ``valid_until`` (the last day; None: until ended). An authorisation overlapping one the
    institution already holds for the same kind, occupation and level is refused, so the
    grants of one pair never overlap. Audited as ``institution.authorise``, all or nothing."""
    require_platform("授权", "authorise an institution")
    the_kind = _kind(kind)
    pairs = sorted({(_occupation(o), _level(lv).value) for o in occupations for lv in levels})
    if not pairs:
        raise InstitutionError(
            "须至少指定一个职业和一个等级 / name at least one occupation and one level",
            "occupation",
        )
    if valid_until is not None and valid_until < valid_from:
        raise InstitutionError(
            "授权截止日早于起始日 / the authorisation would end before it begins", "valid_until"
        )
    with transaction(engine) as session:
        inst = get(session, name_or_code)
        held = [_grant(a) for a in _authorisations(session, inst)]
        made = []
        for occupation, level in pairs:
            grant = Grant(the_kind, occupation, level, valid_from, valid_until)
            clash = next(
                (g for g in held if g.covers(the_kind, occupation, level) and _overlap(g, grant)),
                None,
            )
            if clash is not None:
                raise InstitutionError(
                    f"{inst.name} 已有重叠的授权：{clash.describe()} / {inst.name} already holds "
                    f"an overlapping authorisation: {clash.describe()}",
                    "valid_from",
                )
            session.add(
                Authorisation(
                    institution_id=inst.id,  # type: ignore[arg-type]
                    kind=the_kind,
                    occupation=occupation,
                    level=level,
                    valid_from=valid_from,
                    valid_until=valid_until,
                    actor=actor,
                )
            )
            made.append(grant)
        audit_log.append(
            session,
            actor=actor,
            action="institution.authorise",
            subject=inst.code,
            detail={"grants": [g.as_json() for g in made]},
        )
        return made


def end_authorisation(
    engine: Engine,
    name_or_code: str,
    *,
    kind: str | CertificateKind,
    occupation: str,
    level: str,
    last_day: date,
    actor: str = "cli",
) -> Grant:
    """End the institution's authorisation for this kind, occupation and level after
    ``last_day`` (撤销/到期). Certificates issued while it held keep verifying; nothing later is
    issued under it. Audited as ``institution.end``."""
    require_platform("终止授权", "end an authorisation")
    the_kind, occ, lvl = _kind(kind), _occupation(occupation), _level(level).value
    with transaction(engine) as session:
        inst = get(session, name_or_code)
        rows = [
            a
            for a in _authorisations(session, inst)
            if _grant(a).covers(the_kind, occ, lvl)
            and a.valid_from <= last_day
            and (a.valid_until is None or a.valid_until > last_day)
        ]
        if not rows:
            raise InstitutionError(
                f"{inst.name} 在 {last_day} 之后没有 {KIND_NAMES_ZH[the_kind]} {occ}/{lvl} 的授权可终止 "
                f"/ {inst.name} holds no {the_kind.value} authorisation for {occ}/{lvl} running "
                f"past {last_day}",
                "valid_until",
            )
        row = rows[0]
        before = row.valid_until
        row.valid_until = last_day
        session.add(row)
        audit_log.append(
            session,
            actor=actor,
            action="institution.end",
            subject=inst.code,
            detail={
                "kind": the_kind.value,
                "occupation": occ,
                "level": lvl,
                "valid_from": row.valid_from.isoformat(),
                "until_before": before.isoformat() if before else None,
                "until": last_day.isoformat(),
            },
        )
        return _grant(row)


def _overlap(a: Grant, b: Grant) -> bool:
    a_end = a.valid_until or date.max
    b_end = b.valid_until or date.max
    return a.valid_from <= b_end and b.valid_from <= a_end


def _authorisations(session: Session, inst: Institution) -> Sequence[Authorisation]:
    return session.exec(
        select(Authorisation)
        .where(Authorisation.institution_id == inst.id)
        .order_by(col(Authorisation.valid_from), col(Authorisation.id))
    ).all()


def grants_of(session: Session, code: str) -> tuple[Grant, ...] | None:
    """Every authorisation of the institution of this code (the issuer its keys carry), or None
    when no institution has it."""
    inst = session.exec(select(Institution).where(Institution.code == code)).first()
    if inst is None:
        return None
    return tuple(_grant(a) for a in _authorisations(session, inst))


def check_authorised(
    session: Session,
    name_or_code: str,
    kind: CertificateKind,
    occupation: str,
    level: str,
    day: date,
) -> Institution:
    """The institution, when it is authorised for this kind, occupation and level on ``day``;
    raises InstitutionError (unknown institution) or NotAuthorised, naming ``institution``."""
    inst = get(session, name_or_code)
    if any(
        g.covers(kind, occupation, level) and g.holds_on(day)
        for g in map(_grant, _authorisations(session, inst))
    ):
        return inst
    found = find_level(level)
    level_zh = LEVEL_NAMES_ZH[found] if found else level
    raise NotAuthorised(
        f"{inst.name} 在 {day} 未获 {occupation} {level_zh}的{KIND_NAMES_ZH[kind]}授权 / "
        f"{inst.name} is not authorised for {kind.value} in {occupation}/{level} on {day}",
        "institution",
    )


def list_institutions(engine: Engine) -> list[InstitutionView]:
    """Every institution with its authorisations, by code."""
    with Session(engine) as session:
        insts = session.exec(select(Institution).order_by(col(Institution.code))).all()
        grants: dict[int, list[Grant]] = {}
        for a in session.exec(
            select(Authorisation).order_by(col(Authorisation.valid_from), col(Authorisation.id))
        ):
            grants.setdefault(a.institution_id, []).append(_grant(a))
        return [
            InstitutionView(i.code, i.name, i.region, tuple(grants.get(i.id or 0, ())))
            for i in insts
        ]


def institution_names(engine: Engine) -> list[str]:
    """Every institution's name, by code (for a form's choices)."""
    with Session(engine) as session:
        return list(session.exec(select(Institution.name).order_by(col(Institution.code))).all())
