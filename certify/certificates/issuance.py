"""发证: issuing signed certificates to candidates who passed, crash-safe and resumable.

Serial numbers (证书编号) are 13 digits, ``PP YY OO L NNNNNN``: the province code (37 = 山东 by
default, the :class:`Issuer`'s province), the year of issue, the occupation's number in the programme
(01 人工智能 … 10 集成电路), the kind and level (1 初级, 2 中级, 3 高级 for a 专业技术等级证书; 4, 5, 6 for
a 培训合格证书 of those levels) and a six-digit sequence per prefix. No national numbering rule is
published for these certificates, so this layout is ours.

Level certificates go to the passed candidates of a sitting once its pass list has been
published and the notice period has ended, except those with an open or upheld objection
(:mod:`certify.certificates.publication`); training certificates go to the trainees who completed a course
(:mod:`certify.entitlements.training`). Each certificate gets its eligibility records (:mod:`certify.entitlements.eligibility`)
in the same transaction.

Certificates are issued in batches of :data:`BATCH_SIZE`, each batch one transaction: its
serials are taken from ``serial_counter`` in one step (a row lock, so two processes issuing at
once on PostgreSQL never share or skip a number), the tokens signed, the PDFs rendered in memory
(in worker processes for a large run) and their fingerprints stored with the records — SHA-256
or SM3, the hash of the issuing key's suite, named beside each value — the audit
entries appended and a checkpoint of the log signed with the institution's key — then the transaction commits and the PDFs are written, each to a temporary
name and renamed. A crash before the commit leaves nothing of the batch (no gap: the counter
rolls back with it); a crash after it leaves records whose PDFs a rerun re-renders, byte for
byte (signatures and PDFs are deterministic), and checks against the stored hashes. Rerunning
issues only to those still without a certificate.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from tqdm import tqdm

from certify.audit.checkpoints import Signer, record
from certify.certificates.publication import issuance_gate, pass_list
from certify.entitlements.eligibility import records_for
from certify.entitlements.training import completed_enrolments, get_course
from certify.infra import audit_log
from certify.infra.db import lock_sitting_row, transaction
from certify.infra.digests import hexdigest
from certify.infra.errors import DatabaseError, Error
from certify.institutions import registry as institutions
from certify.keys.store import signing_material
from certify.registration.sittings import get_sitting
from certify.signing.algorithms import Algorithm, algorithm_named
from certify.signing.token import (
    LEVEL_CODES,
    Claims,
    Kind,
    sign_token,
    text_url,
    to_text,
)
from schemas.certificates import CertificateView
from schemas.conditions import RegionRules, region_rules
from schemas.enums import CertificateKind, Level
from schemas.reference import LEVEL_NAMES_ZH, get_occupation, occupations
from schemas.tables import (
    Candidate,
    Certificate,
    Result,
    SerialCounter,
    SigningKey,
)

DEFAULT_PROVINCE = "37"
"""山东: the province whose code starts a serial unless the issuer is given another."""

DEFAULT_SITE = "https://verify.example.cn"
"""The verification site in the QR codes unless the issuer is given another."""

SEQUENCE_MAX = 999_999
"""The six-digit sequence's last number under one prefix."""

BATCH_SIZE = 50
"""Certificates per transaction: a crash loses at most this much work, which a rerun redoes."""


class IssuanceError(Error):
    code = "issuance"


@dataclass
class IssueReport:
    sitting: str
    """The sitting (or, for training certificates, the course) issued for."""
    issued: list[str] = field(default_factory=list)
    already: int = 0
    pdfs_restored: int = 0
    held: dict[str, str] = field(default_factory=dict)
    """Admission number → objection status, for passed candidates held back by an objection."""


def serial_prefix(
    province: str,
    year: int,
    occupation: str,
    level: str,
    kind: CertificateKind = CertificateKind.LEVEL,
) -> str:
    number = next(n for n, o in enumerate(occupations(), start=1) if o.slug == occupation)
    code = LEVEL_CODES[level] + (3 if kind == CertificateKind.TRAINING else 0)
    return f"{province}{year % 100:02d}{number:02d}{code}"


def allocate_serials(session: Session, prefix: str, count: int = 1) -> list[str]:
    """The next ``count`` serials under ``prefix``, consecutive, inside the caller's transaction
    (the counter's row stays locked until it commits)."""
    for _ in range(3):
        last = session.execute(
            update(SerialCounter)
            .where(col(SerialCounter.prefix) == prefix)
            .values(last=col(SerialCounter.last) + count)
            .returning(col(SerialCounter.last))
        ).scalar_one_or_none()
        if last is None:
            try:
                with session.begin_nested():
                    session.execute(insert(SerialCounter).values(prefix=prefix, last=count))
                last = count
            except IntegrityError:
                continue  # another process created the counter first: bump it instead
        if last > SEQUENCE_MAX:
            raise IssuanceError(
                f"证书编号 {prefix} 的顺序号已用尽 / the sequence under {prefix} is exhausted"
            )
        return [f"{prefix}{n:06d}" for n in range(last - count + 1, last + 1)]
    raise IssuanceError(f"无法分配证书编号 {prefix} / cannot allocate a serial under {prefix}")


def _view(
    cert: Certificate, candidate: Candidate, key: SigningKey, authority: str, site: str
) -> CertificateView:
    occ = get_occupation(cert.occupation)
    return CertificateView(
        serial=cert.serial,
        kind_name=cert.kind.zh,
        holder=cert.holder_name,
        id_number_masked=candidate.id_number_masked,
        occupation_name=occ.name_zh,
        level_name=LEVEL_NAMES_ZH[Level(cert.level)],
        issued=cert.issued_on,
        expires=cert.expires_on,
        issuer_name=key.scope.get("name", key.issuer),
        authority_name=authority,
        url=text_url(site, cert.token),
        verify_site=site,
        signature_algorithm=algorithm_named(key.algorithm).label,
    )


def _pdf(view: CertificateView) -> bytes:
    from certify.certificates.document import certificate_pdf  # reportlab loads on demand

    return certificate_pdf(view)


def _warm_up(parent: int) -> None:
    """Start a render process: load reportlab and the font before the first certificate, and
    leave as soon as the issuing process is gone (killed, it cannot tell its workers to stop)."""
    from certify.infra.pdf import register_names_font

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="certify-parent-watch", daemon=True).start()
    register_names_font()  # and the page's font with it


def _write(target: Path, pdf: bytes) -> None:
    """Write a PDF under its final name atomically: a reader never sees half a file."""
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(pdf)
    os.replace(temporary, target)


def render_processes(pending: int) -> int:
    """How many processes render PDFs: one per usable CPU for a large run, none for a small one
    (starting a render process costs about as much as fifty certificates)."""
    if pending < 4 * BATCH_SIZE:
        return 0
    usable = (
        os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    )
    return min(len(usable), 8)


@dataclass(frozen=True, kw_only=True)
class Issuer:
    """An institution issuing certificates: its signing key, opened once, where the PDFs go,
    the verification site in their QR codes and the province in their serials; one method per
    kind of certificate. Build it with :meth:`open`."""

    engine: Engine
    key: SigningKey
    private: bytes = field(repr=False)
    out: Path
    site: str = DEFAULT_SITE
    province: str = DEFAULT_PROVINCE
    """The two-digit province code that starts every serial (37 山东)."""
    actor: str = "cli"
    batch_size: int = BATCH_SIZE
    """Certificates committed together."""
    processes: int | None = None
    """Processes rendering the PDFs (0 or 1: this one); None lets :func:`render_processes`
    decide from the number of certificates to issue."""
    progress: bool | None = False
    """A progress bar on stderr: True always, False never, None when stderr is a terminal."""
    tally: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)
    """Told (certificates the run's holders have, how many it issues to in all) when the run
    starts and after each batch — how a background job shows its progress."""

    def __post_init__(self) -> None:
        if not (len(self.province) == 2 and self.province.isdigit()):
            raise IssuanceError(
                f"省份代码应为两位数字：{self.province!r} / the province code must be two digits"
            )

    @classmethod
    def open(
        cls,
        engine: Engine,
        issuer: str,
        passphrase: str,
        *,
        out: Path,
        site: str = DEFAULT_SITE,
        province: str = DEFAULT_PROVINCE,
        actor: str = "cli",
        batch_size: int = BATCH_SIZE,
        processes: int | None = None,
        progress: bool | None = False,
    ) -> Issuer:
        """The issuer signing with ``issuer``'s active key, opened once with ``passphrase``;
        raises KeyProblem when it has none or the passphrase is wrong."""
        key, private = signing_material(engine, issuer, passphrase)
        return cls(
            engine=engine,
            key=key,
            private=private,
            out=out,
            site=site,
            province=province,
            actor=actor,
            batch_size=batch_size,
            processes=processes,
            progress=progress,
        )

    def issue_level(self, sitting_code: str, *, today: date | None = None) -> IssueReport:
        """Issue a level certificate (专业技术等级证书) to every passed candidate of the sitting
        who has none yet, once the pass list's notice period has ended (raises PublicationError
        before); candidates held back by an objection are in the report's ``held``."""
        today = today or date.today()
        report = IssueReport(sitting_code)
        with Session(self.engine) as session:
            sitting = get_sitting(session, sitting_code)
            self.check_institution(
                session,
                sitting.institution,
                CertificateKind.LEVEL,
                sitting.occupation,
                sitting.level,
                today,
            )
            gate = issuance_gate(session, sitting, today)
            rows = pass_list(session, sitting)
        report.held = {r.admission_no: gate.why_not(r.id) for r, _ in rows if not gate.allows(r.id)}
        subjects = [
            _Subject(
                person, reg.id, None, {"sitting": sitting.code, "admission_no": reg.admission_no}
            )
            for reg, person in rows
            if gate.allows(reg.id)
        ]
        batch = self._batch(CertificateKind.LEVEL, sitting.occupation, sitting.level, today, 0.0)
        batch = replace(batch, sitting_id=sitting.id)
        _issue_all(
            self.engine,
            batch,
            subjects,
            report,
            self.progress,
            self.batch_size,
            self.processes,
            self.tally,
        )
        return report

    def issue_training(self, course_code: str, *, today: date | None = None) -> IssueReport:
        """Issue a training certificate (培训合格证书) to every trainee who completed the course
        and has none yet; each gets a training-subsidy record and the course's hours."""
        today = today or date.today()
        report = IssueReport(course_code)
        with Session(self.engine) as session:
            course = get_course(session, course_code)
            self.check_institution(
                session,
                course.institution,
                CertificateKind.TRAINING,
                course.occupation,
                course.level,
                today,
            )
            rows = completed_enrolments(session, course)
        subjects = [
            _Subject(person, None, e.id, {"course": course.code, "enrolment": e.id})
            for e, person in rows
        ]
        batch = self._batch(
            CertificateKind.TRAINING, course.occupation, course.level, today, float(course.hours)
        )
        _issue_all(
            self.engine,
            batch,
            subjects,
            report,
            self.progress,
            self.batch_size,
            self.processes,
            self.tally,
        )
        return report

    def check_institution(
        self,
        session: Session,
        owner: str,
        kind: CertificateKind,
        occupation: str,
        level: str,
        day: date,
    ) -> None:
        """Raises IssuanceError unless the key's institution is ``owner`` (the institution of
        the sitting or course) and is authorised for this kind, occupation and level on
        ``day``: a key of one institution never issues for another's candidates."""
        try:
            inst = institutions.check_authorised(
                session, self.key.issuer, kind, occupation, level, day
            )
        except institutions.InstitutionError as exc:
            raise IssuanceError(str(exc)) from None
        if inst.name != owner:
            raise IssuanceError(
                f"这是 {owner} 的考生，{inst.name} 的密钥不能为其签发 / these candidates are "
                f"{owner}'s: the key of {inst.name} cannot issue for them"
            )

    def check_scope(self, kind: CertificateKind, occupation: str, level: str) -> None:
        """Raises IssuanceError when the key's scope does not cover this kind, occupation or
        level."""
        scope = self.key.scope
        for name, value in (("kinds", kind.code), ("occupations", occupation), ("levels", level)):
            if scope.get(name) and value not in scope[name]:
                issuer = self.key.issuer
                raise IssuanceError(
                    f"{issuer} 无权签发此类证书（{name}: {value}）/ {issuer} may not issue this "
                    f"certificate ({name} {value} is outside its scope)"
                )

    def _batch(
        self, kind: CertificateKind, occupation: str, level: str, today: date, course_hours: float
    ) -> _Batch:
        """What every certificate of one run shares; raises IssuanceError when the key's scope
        does not cover this kind, occupation or level."""
        self.check_scope(kind, occupation, level)
        with Session(self.engine) as session:
            authority = session.exec(select(SigningKey).where(SigningKey.role == "root")).first()
        self.out.mkdir(parents=True, exist_ok=True)
        return _Batch(
            kind=kind,
            occupation=occupation,
            level=level,
            key=self.key,
            private=self.private,
            prefix=serial_prefix(self.province, today.year, occupation, level, kind),
            today=today,
            authority=authority.scope.get("name", authority.issuer) if authority else "",
            site=self.site,
            out=self.out,
            actor=self.actor,
            rules=region_rules(self.province),
            course_hours=course_hours,
        )


@dataclass(frozen=True)
class _Subject:
    """Who gets one certificate, and for what: a registration or an enrolment."""

    person: Candidate
    registration_id: int | None
    enrolment_id: int | None
    reference: dict[str, Any]
    """What the audit entry records besides the serial."""

    @property
    def key(self) -> int | None:
        return self.registration_id if self.registration_id is not None else self.enrolment_id


@dataclass(frozen=True)
class _Batch:
    """What every certificate of one issuance run shares."""

    kind: CertificateKind
    occupation: str
    level: str
    key: SigningKey
    private: bytes
    prefix: str
    today: date
    authority: str
    site: str
    out: Path
    actor: str
    rules: RegionRules
    course_hours: float
    sitting_id: int | None = None
    """For level certificates: the sitting, whose results each batch re-reads under its lock."""

    @property
    def algorithm(self) -> Algorithm:
        """The issuing key's algorithm, which also names the suite's hash."""
        return algorithm_named(self.key.algorithm)

    @property
    def link(self) -> Any:
        """The certificate column that ties it to its registration or enrolment."""
        return col(
            Certificate.registration_id
            if self.kind == CertificateKind.LEVEL
            else Certificate.enrolment_id
        )


def _issue_all(
    engine: Engine,
    batch: _Batch,
    subjects: list[_Subject],
    report: IssueReport,
    progress: bool | None,
    batch_size: int,
    processes: int | None,
    tally: Callable[[int, int], None] | None = None,
) -> None:
    done = _issued(engine, batch.link, [s.key for s in subjects])
    todo = [s for s in subjects if s.key not in done]
    report.already += len(subjects) - len(todo)

    def told() -> None:
        if tally is not None:
            tally(report.already + len(report.issued), len(subjects))

    told()
    _restore_pdfs(engine, batch.link.in_([k for k in done]), batch, report)
    workers = render_processes(len(todo)) if processes is None else processes
    pool = (
        ProcessPoolExecutor(
            workers,
            mp_context=get_context("spawn"),
            initializer=_warm_up,
            initargs=(os.getpid(),),
        )
        if workers > 1
        else None
    )
    render: Callable[[list[CertificateView]], list[bytes]] = (
        (lambda views: list(pool.map(_pdf, views, chunksize=4)))
        if pool is not None
        else (lambda views: [_pdf(v) for v in views])
    )
    try:
        with tqdm(
            total=len(todo),
            desc="发证 issue",
            unit="张",
            disable=None if progress is None else not progress,  # None: on a terminal
            leave=False,
        ) as bar:
            for first in range(0, len(todo), batch_size):
                chunk = todo[first : first + batch_size]
                while chunk:
                    try:
                        report.issued += _issue_batch(engine, batch, chunk, render)
                        bar.update(len(chunk))
                        told()
                        break
                    except DatabaseError:
                        # Another process issued some of these meanwhile: leave those to it.
                        taken = _issued(engine, batch.link, [s.key for s in chunk])
                        if not taken:
                            raise
                        report.already += len(taken)
                        bar.update(len(taken))
                        chunk = [s for s in chunk if s.key not in taken]
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _issued(engine: Engine, link: Any, keys: list[int | None]) -> set[int | None]:
    """Which of the registrations (or enrolments) have a certificate."""
    with Session(engine) as session:
        return set(session.exec(select(link).where(link.in_(keys))))


def _issue_batch(
    engine: Engine,
    batch: _Batch,
    chunk: list[_Subject],
    render: Callable[[list[CertificateView]], list[bytes]],
) -> list[str]:
    """Certificates for ``chunk`` in one transaction; their PDFs are written after the commit."""
    key = batch.key
    algorithm = batch.algorithm
    kind = Kind(batch.kind.code)
    with transaction(engine) as session:
        chunk = _still_passing(session, batch, chunk)
        if not chunk:
            return []
        serials = allocate_serials(session, batch.prefix, len(chunk))
        certs = [
            Certificate(
                serial=serial,
                kind=batch.kind,
                candidate_id=s.person.id or 0,
                registration_id=s.registration_id,
                enrolment_id=s.enrolment_id,
                holder_name=s.person.name,
                occupation=batch.occupation,
                level=batch.level,
                issued_on=batch.today,
                issuer=key.issuer,
                kid=key.kid,
                token=to_text(
                    sign_token(
                        Claims(
                            serial,
                            kind,
                            s.person.name,
                            batch.occupation,
                            batch.level,
                            batch.today,
                            key.issuer,
                        ),
                        batch.private,
                        key.public_key,
                        algorithm,
                    )
                ),
            )
            for serial, s in zip(serials, chunk, strict=True)
        ]
        pdfs = render(
            [
                _view(cert, s.person, key, batch.authority, batch.site)
                for cert, s in zip(certs, chunk, strict=True)
            ]
        )
        for cert, pdf in zip(certs, pdfs, strict=True):
            cert.pdf_digest, cert.pdf_digest_alg = (
                hexdigest(algorithm.digest, pdf),
                algorithm.digest,
            )
        session.add_all(certs)
        session.flush()
        session.add_all(
            [r for cert in certs for r in records_for(cert, batch.rules, batch.course_hours)]
        )
        audit_log.append_many(
            session,
            actor=batch.actor,
            action="certificate.issue",
            entries=[
                (
                    cert.serial,
                    {
                        **s.reference,
                        "kind": batch.kind,
                        "kid": key.kid,
                        "pdf_digest": cert.pdf_digest,
                        "pdf_digest_alg": cert.pdf_digest_alg,
                    },
                )
                for cert, s in zip(certs, chunk, strict=True)
            ],
            digest=algorithm.digest,
        )
        record(session, Signer.of(key, batch.private), f"{batch.kind}.issue")
    for serial, pdf in zip(serials, pdfs, strict=True):
        _write(batch.out / f"{serial}.pdf", pdf)
    return serials


def _still_passing(session: Session, batch: _Batch, chunk: list[_Subject]) -> list[_Subject]:
    """The subjects of ``chunk`` whose result still passes, read with the sitting's row locked
    (as a regrade locks it), so a regrade that commits after the pass list was read cannot
    leave a new certificate with a holder who no longer passes."""
    if batch.sitting_id is None:
        return chunk
    lock_sitting_row(session, batch.sitting_id)
    passing = set(
        session.exec(
            select(Result.registration_id).where(
                col(Result.registration_id).in_([s.registration_id for s in chunk]),
                col(Result.passed).is_(True),
            )
        )
    )
    return [s for s in chunk if s.registration_id in passing]


def _restore_pdfs(engine: Engine, which: Any, batch: _Batch, report: IssueReport) -> None:
    """Re-render any missing or damaged PDF of an issued certificate and check it against its
    fingerprint, each under the key that signed it (which may be of another suite than today's)."""
    with Session(engine) as session:
        found = list(
            session.exec(
                select(Certificate, Candidate, SigningKey)
                .join(Candidate, col(Candidate.id) == col(Certificate.candidate_id))
                .join(SigningKey, col(SigningKey.kid) == col(Certificate.kid))
                .where(which)
            )
        )
    for cert, person, key in found:
        target = batch.out / f"{cert.serial}.pdf"
        if target.exists() and _matches(target.read_bytes(), cert):
            continue
        pdf = _pdf(_view(cert, person, key, batch.authority, batch.site))
        if not _matches(pdf, cert):
            raise IssuanceError(
                f"证书 {cert.serial} 重新生成的 PDF 与记录不符 / the re-rendered PDF of {cert.serial} does not match its record"
            )
        _write(target, pdf)
        report.pdfs_restored += 1


def _matches(pdf: bytes, cert: Certificate) -> bool:
    """Is ``pdf`` the one the register fingerprinted, under the hash it recorded?"""
    return hexdigest(cert.pdf_digest_alg, pdf) == cert.pdf_digest
