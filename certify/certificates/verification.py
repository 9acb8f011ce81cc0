"""Verification against the live register: what the public page, the committee checks and the API
all answer.

Offline, a certificate's status comes from a signed revocation list of some age. Online, the
register is at hand, so the status is read from it at the moment of the request ("as of" now):
:func:`verify_live` and :func:`verify_many` run every check of
:func:`certify.signing.verify.verify_token` with a revocation list built from the database for
just the serials asked about. A token whose signature holds but whose serial the register does
not know fails the status check — a genuine key should never sign an unrecorded certificate.

:func:`result_json` is the one shape of a result, for the API and the committee downloads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from certify.certificates.holders import HolderBudget, names_match, person_key
from certify.infra.db import chunked
from certify.institutions import scope
from certify.registration.identity import IdentityVault, IdNumberError, validate_id_number
from certify.signing.token import SignedToken, TokenFormatError, from_text, parse_token
from certify.signing.trust import TrustList
from certify.signing.verify import (
    GENUINENESS,
    Check,
    Report,
    RevocationList,
    check_signatures,
    verify_parsed,
)
from schemas.enums import (
    CertificateStatus,
    CheckedStatus,
    EntitlementKind,
    Level,
    RecordStatus,
)
from schemas.reference import LEVEL_NAMES_ZH, get_occupation
from schemas.tables import (
    Candidate,
    Certificate,
    EligibilityRecord,
    Revocation,
)

CHUNK = 500
"""Serials per query (well inside every database's limit on bound parameters)."""


@dataclass(frozen=True)
class Registered:
    """What the register holds of one certificate, read as plain columns (no ORM objects: a bulk
    check reads tens of thousands)."""

    id: int
    serial: str
    status: CertificateStatus
    id_number_masked: str
    id_number_digest: str
    token: str
    """The token the register issued, to hold a presented one against."""
    holder_name: str


@dataclass(frozen=True)
class Entitled:
    kind: EntitlementKind
    detail: dict[str, Any]
    status: RecordStatus


@dataclass
class Register:
    """What the register knows of some serials: the certificate, its holder, why its status."""

    certificates: dict[str, Registered] = field(default_factory=dict)
    reasons: dict[int, str] = field(default_factory=dict)
    eligibility: dict[int, list[Entitled]] = field(default_factory=dict)
    issuer_names: dict[str, str] = field(default_factory=dict)
    """Issuer code → institution name, from the trust list."""


_SERIALS: Any = bindparam("serials", expanding=True)
_IDS: Any = bindparam("ids", expanding=True)
_CERTIFICATE_COLUMNS = (
    col(Certificate.id),
    col(Certificate.serial),
    col(Certificate.status),
    col(Candidate.id_number_masked),
    col(Candidate.id_number_digest),
    col(Certificate.token),
    col(Certificate.holder_name),
)
_HOLDERS = col(Candidate.id) == col(Certificate.candidate_id)
_CERTIFICATES = (
    columns(*_CERTIFICATE_COLUMNS)
    .join(Candidate, _HOLDERS)
    .where(col(Certificate.serial).in_(_SERIALS))
)
_WITH_ELIGIBILITY = (
    columns(
        *_CERTIFICATE_COLUMNS,
        col(EligibilityRecord.kind),
        col(EligibilityRecord.detail),
        col(EligibilityRecord.status),
    )
    .join(Candidate, _HOLDERS)
    .outerjoin(EligibilityRecord, col(EligibilityRecord.certificate_id) == col(Certificate.id))
    .where(col(Certificate.serial).in_(_SERIALS))
    .order_by(col(Certificate.id), col(EligibilityRecord.id))
)
_REASONS = (
    columns(col(Revocation.certificate_id), col(Revocation.reason))
    .where(col(Revocation.certificate_id).in_(_IDS))
    .order_by(col(Revocation.id))
)
"""Statements built once; each request only binds its serials (one query for the common case
of certificates with no status change)."""


def read_register(
    connection: Connection, serials: Iterable[str], *, eligibility: bool = False
) -> Register:
    """The register's rows for these serials (unknown ones are simply absent)."""
    register = Register()
    for part in chunked(sorted(set(serials)), CHUNK):
        if eligibility:
            for row in connection.execute(_WITH_ELIGIBILITY, {"serials": list(part)}):
                cert = register.certificates.get(row[1])
                if cert is None:
                    cert = register.certificates[row[1]] = Registered(*row[:7])
                    register.eligibility[cert.id] = []
                if row[7] is not None:
                    register.eligibility[cert.id].append(Entitled(row[7], row[8], row[9]))
        else:
            for id_, serial, status, masked, digest, token, name in connection.execute(
                _CERTIFICATES, {"serials": list(part)}
            ):
                register.certificates[serial] = Registered(
                    id_ or 0, serial, status, masked, digest, token, name
                )
    if scope.current() is not None:
        _keep_to_scope(connection, register)
    changed = [c.id for c in register.certificates.values() if c.status != CertificateStatus.VALID]
    for ids in chunked(changed, CHUNK):
        for certificate_id, reason in connection.execute(_REASONS, {"ids": list(ids)}):
            register.reasons[certificate_id] = reason  # the latest change wins
    return register


def _keep_to_scope(connection: Connection, register: Register) -> None:
    """Under an institution's scope (its admin on the committee pages), the register holds its
    own certificates only: another's is as unknown as one never issued."""
    visible: set[str] = set()
    with Session(bind=connection) as session:
        for part in chunked(sorted(register.certificates), CHUNK):
            visible.update(
                session.exec(select(Certificate.serial).where(col(Certificate.serial).in_(part)))
            )
    for serial in set(register.certificates) - visible:
        gone = register.certificates.pop(serial)
        register.eligibility.pop(gone.id, None)


@dataclass(frozen=True)
class Presented:
    """A token as presented: parsed (or why not), and its canonical text to hold against the
    register's copy."""

    token: SignedToken | TokenFormatError
    text: str = ""


def _parse(text: str) -> Presented:
    try:
        token = parse_token(from_text(text))
    except TokenFormatError as exc:
        return Presented(exc)
    # from_text accepts only canonical base32, so the text itself, upper-cased, is canonical.
    return Presented(token, text.strip().rsplit("/", 1)[-1].upper())


def _live_list(register: Register, now: datetime) -> RevocationList:
    entries = {
        serial: {
            "serial": serial,
            "status": cert.status,
            "reason": register.reasons.get(cert.id, ""),
        }
        for serial, cert in register.certificates.items()
        if cert.status in (CertificateStatus.REVOKED, CertificateStatus.SUSPENDED)
    }
    return RevocationList(now, timedelta(days=1), entries)


def _verify(
    presented: Presented,
    trust: TrustList,
    register: Register,
    live: RevocationList,
    now: datetime,
    signature_ok: bool | None = None,
) -> Report:
    report = verify_parsed(presented.token, trust, live, now=now, signature_ok=signature_ok)
    claims = report.claims
    if claims is None:
        return report
    registered = register.certificates.get(claims.serial)
    if registered is None or registered.token != presented.text:
        # Signed by a trusted key, yet not what the register issued (a leaked key, or a key
        # misused): the claims are not shown, and the status is not read.
        report.claims = None
        report.status = CheckedStatus.UNKNOWN
        report.checks = [c for c in report.checks if c.name in GENUINENESS] + [
            Check(
                "register",
                False,
                "证书登记中没有与之相符的证书，请联系发证机构"
                if registered is None
                else "证书内容与登记不符，请联系发证机构",
                "the register has no certificate with this serial: ask the issuer"
                if registered is None
                else "the certificate does not match the register: ask the issuer",
            )
        ]
    return report


def token_of_holder(engine: Engine, serial: str, name: str) -> str | None:
    """The token of the certificate with this serial, if its holder is ``name`` (spaces and
    full-width forms aside), as printed on the certificate; else None — an unknown serial and a
    wrong name answer the same."""
    with Session(engine) as session:
        found = session.exec(
            select(Certificate.token, Certificate.holder_name).where(Certificate.serial == serial)
        ).first()
    if found is None or not names_match(name, [found[1]]):
        return None
    return str(found[0])


def verify_live(engine: Engine, text: str, trust: TrustList) -> tuple[Report, Register]:
    """Every check on one token, its status read from the register now."""
    reports, register = verify_many(engine, [text], trust)
    return reports[0], register


def verify_many(
    engine: Engine, texts: Sequence[str], trust: TrustList, *, eligibility: bool = False
) -> tuple[list[Report], Register]:
    """Every check on each token, statuses read from the register in a few queries."""
    now = datetime.now(UTC)
    presented = [_parse(t) for t in texts]
    tokens = [p.token for p in presented]
    signatures = check_signatures(tokens, trust)
    # Only the serials of genuine signatures are looked up: a forged token asks nothing.
    serials = [
        t.claims.serial
        for t, ok in zip(tokens, signatures, strict=True)
        if ok and isinstance(t, SignedToken)
    ]
    with engine.connect() as connection:
        register = read_register(connection, serials, eligibility=eligibility)
    register.issuer_names = {k.issuer: k.name for k in trust.keys.values()}
    live = _live_list(register, now)
    return [
        _verify(p, trust, register, live, now, ok)
        for p, ok in zip(presented, signatures, strict=True)
    ], register


def result_json(
    report: Report,
    register: Register,
    *,
    with_eligibility: bool = False,
    holder_matches: bool | None = None,
) -> dict[str, Any]:
    """One verification result as JSON: verdict, status, checks, the certificate's particulars
    (holder name and masked ID number only) and, for committees, its eligibility."""
    claims = report.claims if report.genuine else None
    verdict = report.verdict
    out: dict[str, Any] = {
        "verdict": verdict.value,
        "verdict_zh": verdict.zh,
        "status": report.status,
        "status_as_of": report.status_as_of.isoformat() if report.status_as_of else None,
        "checks": [
            {
                "name": c.name,
                "ok": c.ok,
                "warning": c.warning,
                "zh": c.message_zh,
                "en": c.message_en,
            }
            for c in report.checks
        ],
        "certificate": None,
    }
    if claims is not None:
        cert = register.certificates.get(claims.serial)
        out["certificate"] = {
            "serial": claims.serial,
            "kind": claims.kind.certificate_kind,
            "kind_zh": claims.kind.certificate_kind.zh,
            "holder": claims.holder,
            "id_number_masked": cert.id_number_masked if cert else None,
            "occupation": claims.occupation,
            "occupation_zh": _occupation_zh(claims.occupation),
            "level": claims.level,
            "level_zh": _level_zh(claims.level),
            "issued_on": claims.issued.isoformat(),
            "expires_on": claims.expires.isoformat() if claims.expires else None,
            "issuer": claims.issuer,
            "issuer_name": register.issuer_names.get(claims.issuer, claims.issuer),
        }
        if with_eligibility:
            records = register.eligibility.get(cert.id, []) if cert else []
            out["eligibility"] = [
                {
                    "kind": r.kind,
                    "zh": r.detail.get("zh", ""),
                    "en": r.detail.get("en", ""),
                    "status": r.status,
                    "hours": float(r.detail.get("hours") or 0),
                }
                for r in records
            ]
    if with_eligibility:
        out.setdefault("eligibility", [])
        out["holder_match"] = holder_matches
    return out


def _occupation_zh(slug: str) -> str:
    try:
        return get_occupation(slug).name_zh
    except KeyError:
        return slug


def _level_zh(level: str) -> str:
    try:
        return LEVEL_NAMES_ZH[Level(level)]
    except ValueError:
        return level


def check_id_number(text: str) -> str | None:
    """The reason an ID number is invalid, or None when it is valid (or empty)."""
    if not text.strip():
        return None
    try:
        validate_id_number(text)
    except IdNumberError as exc:
        return f"{exc.message_zh} / {exc.message_en}"
    return None


@dataclass(frozen=True)
class CheckRow:
    """One row of a bulk check: a token (or URL) or a serial, and optionally the applicant's ID
    number to confirm the holder."""

    token: str = ""
    serial: str = ""
    id_number: str = ""


def check_rows(
    engine: Engine,
    trust: TrustList,
    vault: IdentityVault | None,
    rows: Sequence[CheckRow],
    *,
    account_id: int | None = None,
    actor: str = "web",
) -> list[dict[str, Any]]:
    """The committee's bulk check: per row the full result with eligibility and, for a signed-in
    account, the holder match — asked through the account's :class:`HolderBudget`."""
    serial_only = [r.serial.strip() for r in rows if not r.token.strip() and r.serial.strip()]
    tokens: dict[str, str] = {}
    if serial_only:
        with Session(engine) as session:
            for part in chunked(sorted(set(serial_only)), CHUNK):
                for serial, token in session.exec(
                    select(Certificate.serial, Certificate.token).where(
                        col(Certificate.serial).in_(part)
                    )
                ):
                    tokens[serial] = token
    texts = [r.token.strip() or tokens.get(r.serial.strip(), "") for r in rows]
    reports, register = verify_many(engine, [t for t in texts if t], trust, eligibility=True)
    found = iter(reports)
    checked = [(row, next(found) if text else None) for row, text in zip(rows, texts, strict=True)]
    id_problems = [check_id_number(row.id_number) for row in rows]
    budget = (
        HolderBudget(engine, vault, account_id, "verify")
        if vault is not None and account_id is not None
        else None
    )
    questions: list[tuple[str, str] | None] = []
    for (row, report), bad in zip(checked, id_problems, strict=True):
        held = register.certificates.get(report.claims.serial) if report and report.claims else None
        if budget is None or held is None or bad or not row.id_number.strip():
            questions.append(None)
            continue
        person = person_key(budget.vault, held.holder_name, held.id_number_masked)
        questions.append((person, budget.vault.digest(validate_id_number(row.id_number))))
    asked = [q for q in questions if q is not None]
    if budget is not None and asked:
        budget.load(asked)
    out: list[dict[str, Any]] = []
    for (row, report), problem, question in zip(checked, id_problems, questions, strict=True):
        if report is None:
            out.append(_not_found(row, register))
            continue
        serial = report.claims.serial if report.claims else ""
        match = None
        if row.id_number.strip() and not problem:
            if budget is None:
                problem = "核对持证人须以账户登录 / confirming the holder needs a signed-in account"
            elif question is not None:
                person, digest = question
                problem = budget.refusal(person, digest)
                if problem is None:
                    match = register.certificates[serial].id_number_digest == digest
                    budget.record(person, digest, match, serial)
        result = result_json(report, register, with_eligibility=True, holder_matches=match)
        if problem:
            result["id_number_error"] = problem
        result["input"] = {"serial": row.serial[:40], "token": row.token[:80]}
        out.append(result)
    if budget is not None and asked:
        budget.save(actor)
    return out


def _not_found(row: CheckRow, register: Register) -> dict[str, Any]:
    """The result of a row naming no certificate the register knows, or none at all."""
    result = result_json(Report(), register, with_eligibility=True)
    given = bool(row.serial.strip())
    result["checks"] = [
        {
            "name": "register",
            "ok": False,
            "warning": False,
            "zh": "没有该编号的证书" if given else "未提供证书编号或二维码内容",
            "en": "no certificate with this serial" if given else "no serial or token given",
        }
    ]
    result["input"] = {"serial": row.serial[:40], "token": row.token[:80]}
    return result
