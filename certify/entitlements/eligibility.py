"""资格衔接: what each certificate counts for, the committee lookup and the exports.

Every certificate gets eligibility records when it is issued, in the same transaction, from the
rules of its region (``schemas/data/eligibility.json``): a 高级 certificate is an important
reference for senior title review (高级职称评审), a 中级 or 初级 one may count toward title
recognition (职称认定), a training certificate entitles a training-subsidy claim (职业培训补贴), and
each credits continuing-education hours (学时). Revoking a certificate withdraws its records
(:func:`withdraw`); a suspended certificate keeps them, and every query shows its status.

:func:`credentials` is the title-review committee's lookup by ID number: every certificate of
the person with its status and entitlements. :func:`export_ce_hours` writes the hours for the
provincial continuing-education platform; :func:`export_eligibility` the records for review
committees (CSV or XLSX). Layouts are in ``docs/eligibility.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.infra.errors import Error
from certify.infra.tabular import table_bytes
from certify.registration.identity import IdentityVault, IdNumberError, validate_id_number
from schemas.conditions import RegionRules
from schemas.enums import CertificateKind, CertificateStatus, EntitlementKind, Level, RecordStatus
from schemas.reference import LEVEL_NAMES_ZH, get_occupation
from schemas.tables import Candidate, Certificate, EligibilityRecord, SigningKey, utcnow

PROGRAMME = "专业技术人才知识更新工程数字技术工程师培育项目"


class EligibilityError(Error):
    code = "eligibility"


def records_for(
    cert: Certificate, rules: RegionRules, course_hours: float = 0.0
) -> list[EligibilityRecord]:
    """The eligibility records of a just-issued certificate (it must have its id)."""
    assert cert.id is not None
    return [
        EligibilityRecord(
            certificate_id=cert.id,
            kind=e.kind,
            detail={
                "region": rules.code,
                "region_name": rules.name,
                "zh": e.zh,
                "en": e.en,
                "title": e.title,
                "hours": e.hours,
                "category": e.category,
            },
        )
        for e in rules.entitlements(cert.kind, Level(cert.level), course_hours)
    ]


def withdraw(session: Session, cert: Certificate, reason: str) -> int:
    """Withdraw the certificate's active records (inside the caller's transaction); how many."""
    found = list(
        session.exec(
            select(EligibilityRecord).where(
                EligibilityRecord.certificate_id == cert.id,
                EligibilityRecord.status == RecordStatus.ACTIVE,
            )
        )
    )
    for record in found:
        record.status = RecordStatus.WITHDRAWN
        record.detail = {
            **record.detail,
            "withdrawn_at": utcnow().isoformat(),
            "withdrawn_reason": reason,
        }
        session.add(record)
    return len(found)


@dataclass(frozen=True)
class Entitled:
    kind: EntitlementKind
    zh: str
    en: str
    status: RecordStatus
    hours: float = 0.0


@dataclass(frozen=True)
class Credential:
    """One certificate as a committee sees it."""

    serial: str
    kind: CertificateKind
    holder: str
    id_number_masked: str
    occupation: str
    level: str
    issued_on: date
    issuer: str
    status: CertificateStatus
    eligibility: list[Entitled] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        occ = get_occupation(self.occupation)
        return {
            "serial": self.serial,
            "kind": self.kind,
            "kind_zh": self.kind.zh,
            "holder": self.holder,
            "id_number_masked": self.id_number_masked,
            "occupation": self.occupation,
            "occupation_zh": occ.name_zh,
            "level": self.level,
            "level_zh": LEVEL_NAMES_ZH[Level(self.level)],
            "issued_on": self.issued_on.isoformat(),
            "issuer": self.issuer,
            "status": self.status,
            "eligibility": [
                {"kind": e.kind, "zh": e.zh, "en": e.en, "status": e.status, "hours": e.hours}
                for e in self.eligibility
            ],
        }


def issuer_names(session: Session) -> dict[str, str]:
    """Each issuer code's institution name, as its keys record it."""
    return {k.issuer: k.scope.get("name", k.issuer) for k in session.exec(select(SigningKey))}


def canonical_id(id_number: str) -> str:
    """The ID number in canonical form; raises EligibilityError naming what is wrong."""
    try:
        return validate_id_number(id_number)
    except IdNumberError as exc:
        raise EligibilityError(
            f"身份证号无效：{exc.message_zh} / invalid ID number: {exc.message_en}"
        ) from None


def credentials(engine: Engine, vault: IdentityVault, id_number: str) -> list[Credential]:
    """Every certificate of the person with this ID number, newest first, with entitlements."""
    digest = vault.digest(canonical_id(id_number))
    with Session(engine) as session:
        person = session.exec(select(Candidate).where(Candidate.id_number_digest == digest)).first()
        if person is None:
            return []
        certs = list(
            session.exec(
                select(Certificate)
                .where(Certificate.candidate_id == person.id)
                .order_by(col(Certificate.issued_on).desc(), col(Certificate.serial))
            )
        )
        by_cert: dict[int, list[Entitled]] = {}
        for record in session.exec(
            select(EligibilityRecord)
            .where(col(EligibilityRecord.certificate_id).in_([c.id for c in certs]))
            .order_by(col(EligibilityRecord.id))
        ):
            by_cert.setdefault(record.certificate_id, []).append(
                Entitled(
                    record.kind,
                    record.detail.get("zh", ""),
                    record.detail.get("en", ""),
                    record.status,
                    float(record.detail.get("hours") or 0),
                )
            )
        names = issuer_names(session)
        return [
            Credential(
                c.serial,
                c.kind,
                c.holder_name,
                person.id_number_masked,
                c.occupation,
                c.level,
                c.issued_on,
                names.get(c.issuer, c.issuer),
                c.status,
                by_cert.get(c.id or 0, []),
            )
            for c in certs
        ]


CE_HOURS_COLUMNS = [
    "身份证号",
    "姓名",
    "学时",
    "科目类别",
    "项目名称",
    "证书类型",
    "证书编号",
    "取得日期",
    "发证机构",
]


def export_ce_hours(
    engine: Engine,
    vault: IdentityVault,
    out: Path,
    *,
    since: date | None = None,
    until: date | None = None,
) -> int:
    """Write the continuing-education hours of active records (certificates issued in the
    period) as CSV for the provincial platform; returns the number of rows.

    The platform credits hours to a person by ID number, so this file — unlike every other
    output — carries it in full: it goes to the platform, not to the public.
    """
    rows = []
    with Session(engine) as session:
        query = (
            select(EligibilityRecord, Certificate, Candidate)
            .join(Certificate, col(Certificate.id) == col(EligibilityRecord.certificate_id))
            .join(Candidate, col(Candidate.id) == col(Certificate.candidate_id))
            .where(
                EligibilityRecord.kind == EntitlementKind.CE_HOURS,
                EligibilityRecord.status == RecordStatus.ACTIVE,
            )
            .order_by(col(Certificate.issued_on), col(Certificate.serial))
        )
        if since:
            query = query.where(col(Certificate.issued_on) >= since)
        if until:
            query = query.where(col(Certificate.issued_on) <= until)
        names = issuer_names(session)
        for record, cert, person in session.exec(query):
            rows.append(
                [
                    vault.decrypt(person.id_number_cipher),
                    cert.holder_name,
                    f"{float(record.detail.get('hours') or 0):g}",
                    record.detail.get("category", ""),
                    PROGRAMME,
                    cert.kind.zh,
                    cert.serial,
                    cert.issued_on.isoformat(),
                    names.get(cert.issuer, cert.issuer),
                ]
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(table_bytes(CE_HOURS_COLUMNS, rows, "csv", "继续教育学时"))
    return len(rows)


ELIGIBILITY_COLUMNS = [
    ("serial", "证书编号"),
    ("kind", "证书类型"),
    ("holder", "姓名"),
    ("id_number_masked", "身份证号（脱敏）"),
    ("occupation", "职业"),
    ("level", "等级"),
    ("issued_on", "发证日期"),
    ("issuer", "发证机构"),
    ("certificate_status", "证书状态"),
    ("eligibility", "资格类别"),
    ("entitlement", "衔接事项"),
    ("record_status", "记录状态"),
]


def eligibility_rows(engine: Engine, *, include_withdrawn: bool = False) -> list[list[str]]:
    with Session(engine) as session:
        query = (
            select(EligibilityRecord, Certificate, Candidate)
            .join(Certificate, col(Certificate.id) == col(EligibilityRecord.certificate_id))
            .join(Candidate, col(Candidate.id) == col(Certificate.candidate_id))
            .order_by(col(Certificate.serial), col(EligibilityRecord.id))
        )
        if not include_withdrawn:
            query = query.where(EligibilityRecord.status == RecordStatus.ACTIVE)
        names = issuer_names(session)
        return [
            [
                cert.serial,
                cert.kind.zh,
                cert.holder_name,
                person.id_number_masked,
                get_occupation(cert.occupation).name_zh,
                LEVEL_NAMES_ZH[Level(cert.level)],
                cert.issued_on.isoformat(),
                names.get(cert.issuer, cert.issuer),
                cert.status.zh,
                record.kind.zh,
                record.detail.get("zh", ""),
                record.status.zh,
            ]
            for record, cert, person in session.exec(query)
        ]


def export_eligibility(engine: Engine, out: Path, *, include_withdrawn: bool = False) -> int:
    """Write the eligibility records for review committees, CSV or XLSX by the file's suffix."""
    rows = eligibility_rows(engine, include_withdrawn=include_withdrawn)
    header = [zh for _, zh in ELIGIBILITY_COLUMNS]
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in ("csv", "xlsx"):
        raise EligibilityError(
            f"导出文件须为 .csv 或 .xlsx：{out.name} / the export must be .csv or .xlsx: {out.name}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(table_bytes(header, rows, suffix, "资格衔接"))
    return len(rows)
