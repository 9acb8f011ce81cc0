"""一个机构只见自己的数据: an account of one institution reads and changes nothing of another's.

This is the one place it is enforced. While :func:`scoped` holds an institution, every ORM
statement any service runs — a select, an ORM update or delete, ``Session.get`` — is given the
criteria below (SQLAlchemy's ``with_loader_criteria`` on the ``do_orm_execute`` event), so a
row of another institution is simply not there: a page, a command or a job asking for it by
code or id finds nothing, and a list never shows it. The web app holds the signed-in account's
institution around every view (``certify.web.auth.require_role``) and a background job its
account's (:func:`in_account_scope`); the command line and platform accounts (no institution)
hold none and see everything, as before. The one way past it is a statement's
``ALL_INSTITUTIONS`` execution option (``certify.infra.db``), for the checks that count across
institutions and tell only their outcome.

What belongs to an institution: itself and its authorisations, its sittings and courses and
everything under them (registrations, applications, answers, marks, results, computer-based
sessions, rooms, attempts and their answers, events, attachments and incidents, publications,
their entries and objections, equating runs), its enrolments, the certificates it issued with
their revocations and eligibility records, its signing keys (the root's public half is
everyone's), its accounts with their tokens, sign-ins, committee checks and jobs, and its
inspection records. Shared by every institution on the platform: the question bank (items,
blueprints, papers: the province's bank), people (``candidate``: one record per person across
institutions, reached only through a registration or enrolment of one's own), the audit log
(one chain for the platform), serial counters and published lists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Engine, and_, event, or_, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.util import find_tables
from sqlmodel import SQLModel, col

from certify.infra.db import ALL_INSTITUTIONS
from certify.infra.errors import Error
from schemas.tables import (
    Account,
    AnswerEvent,
    ApiToken,
    Application,
    Attachment,
    Attempt,
    AttemptAnswer,
    Authorisation,
    Blueprint,
    Certificate,
    CommitteeCheck,
    Course,
    EligibilityRecord,
    Enrolment,
    EquatingRun,
    ExamIncident,
    ExamRoom,
    ExamSession,
    FormEquating,
    HolderCheck,
    InspectionEvidence,
    InspectionRecord,
    Institution,
    Job,
    LoginAttempt,
    Mark,
    Objection,
    Paper,
    PaperDocument,
    PaperItem,
    PaperSeal,
    Publication,
    PublicationEntry,
    Registration,
    Response,
    Result,
    Revocation,
    SigningKey,
    Sitting,
)


@dataclass(frozen=True)
class Scope:
    """The institutions an account works on: by name (what sittings, courses and accounts
    name) and by code (what keys, certificates and inspection records carry). An
    institution's account holds its own; a supervisor (人社部门) every institution of its region,
    read-only (``read_only``: nothing of theirs is written; its inspection records are)."""

    names: frozenset[str]
    codes: frozenset[str]
    read_only: bool = False

    @classmethod
    def of(cls, name: str, code: str) -> Scope:
        """One institution's scope."""
        return cls(frozenset({name}), frozenset({code}))

    @property
    def name(self) -> str:
        """The one institution's name (an institution's account has exactly one)."""
        (only,) = self.names
        return only


_current: ContextVar[Scope | None] = ContextVar("certify_institution_scope", default=None)


def current() -> Scope | None:
    """The institution held now, or None (everything is visible)."""
    return _current.get()


@contextmanager
def scoped(scope: Scope | None) -> Iterator[None]:
    """Hold ``scope`` (None: everything) for the statements run inside."""
    token = _current.set(scope)
    try:
        yield
    finally:
        _current.reset(token)


def scope_of_account(session: Session, account: Account | None) -> Scope | None:
    """The scope an account works in: its institution's; for a supervisor every institution
    whose region is the supervisor's or lies within it (``山东省`` holds ``山东省济南市``),
    read-only; None for a platform account."""
    if account is None:
        return None
    if account.role == "supervisor":
        rows = (
            session.execute(
                select(col(Institution.name), col(Institution.code))
                .where(col(Institution.region).startswith(account.region, autoescape=True))
                .execution_options(**ALL_INSTITUTIONS)
            ).all()
            if account.region
            else []
        )
        return Scope(frozenset(n for n, _ in rows), frozenset(c for _, c in rows), read_only=True)
    if account.institution is None:
        return None
    code = session.execute(
        select(col(Institution.code))
        .where(col(Institution.name) == account.institution)
        .execution_options(**ALL_INSTITUTIONS)
    ).scalar_one()
    return Scope.of(account.institution, code)


@lru_cache(maxsize=4096)
def _criteria_for(scope: Scope, tables: frozenset[str]) -> tuple[Any, ...]:
    """The criteria of the owned tables among ``tables`` (the same option objects for the same
    scope and tables, so SQLAlchemy's statement cache keeps hitting)."""
    return tuple(option for table, option in _criteria(scope) if table in tables)


def _one_of(column: Any, values: frozenset[str]) -> Any:
    """``column`` is one of ``values``: an equality for one (an institution's scope), so the
    statement needs no expanding list to render at every execution."""
    if len(values) == 1:
        (only,) = values
        return column == only
    return column.in_(sorted(values))


@lru_cache(maxsize=1)
def _tables() -> dict[str, Any]:
    return {table.name: table for table in SQLModel.metadata.sorted_tables}


@lru_cache(maxsize=256)
def _criteria(scope: Scope) -> tuple[tuple[str, Any], ...]:
    """Every institution-owned table with the criteria its rows must meet."""
    names, codes = scope.names, scope.codes
    # The subqueries are over the tables themselves, not the entities: the criteria apply to the
    # statement's entities once, and are not applied again inside their own subqueries.
    t = _tables()
    sittings = select(t["sitting"].c.id).where(_one_of(t["sitting"].c.institution, names))
    courses = select(t["course"].c.id).where(_one_of(t["course"].c.institution, names))
    sittings_codes = select(t["sitting"].c.code).where(_one_of(t["sitting"].c.institution, names))
    course_codes = select(t["course"].c.code).where(_one_of(t["course"].c.institution, names))
    registrations = select(t["registration"].c.id).where(
        t["registration"].c.sitting_id.in_(sittings)
    )
    sessions = select(t["exam_session"].c.id).where(t["exam_session"].c.sitting_id.in_(sittings))
    attempts = select(t["attempt"].c.id).where(t["attempt"].c.registration_id.in_(registrations))
    rooms = select(t["exam_room"].c.id).where(t["exam_room"].c.session_id.in_(sessions))
    publications = select(t["publication"].c.id).where(t["publication"].c.sitting_id.in_(sittings))
    runs = select(t["equating_run"].c.id).where(t["equating_run"].c.sitting_id.in_(sittings))
    certificates = select(t["certificate"].c.id).where(_one_of(t["certificate"].c.issuer, codes))
    accounts = select(t["account"].c.id).where(_one_of(t["account"].c.institution, names))
    usernames = select(t["account"].c.username).where(_one_of(t["account"].c.institution, names))
    records = select(t["inspection_record"].c.id).where(
        _one_of(t["inspection_record"].c.institution, codes)
    )
    institution_ids = select(t["institution"].c.id).where(_one_of(t["institution"].c.name, names))
    blueprint_visible = or_(
        col(Blueprint.institution).is_(None), _one_of(col(Blueprint.institution), names)
    )
    blueprints = select(t["blueprint"].c.id).where(
        or_(t["blueprint"].c.institution.is_(None), _one_of(t["blueprint"].c.institution, names))
    )
    papers = select(t["paper"].c.id).where(t["paper"].c.blueprint_id.in_(blueprints))
    conditions: list[tuple[type, Any]] = [
        (Institution, _one_of(col(Institution.name), names)),
        # its own blueprints and papers, and the province's (no institution)
        (Blueprint, blueprint_visible),
        (Paper, col(Paper.id).in_(papers)),
        (PaperItem, col(PaperItem.paper_id).in_(papers)),
        (PaperDocument, col(PaperDocument.paper_id).in_(papers)),
        # its own seals and the province's, as its own blueprints and the province's
        (
            PaperSeal,
            or_(col(PaperSeal.institution).is_(None), _one_of(col(PaperSeal.institution), names)),
        ),
        (Authorisation, col(Authorisation.institution_id).in_(institution_ids)),
        (Sitting, _one_of(col(Sitting.institution), names)),
        (Course, _one_of(col(Course.institution), names)),
        (Registration, col(Registration.sitting_id).in_(sittings)),
        (Application, col(Application.sitting_id).in_(sittings)),
        (Response, col(Response.registration_id).in_(registrations)),
        (Mark, col(Mark.registration_id).in_(registrations)),
        (Result, col(Result.registration_id).in_(registrations)),
        (ExamSession, col(ExamSession.sitting_id).in_(sittings)),
        (ExamRoom, col(ExamRoom.session_id).in_(sessions)),
        (Attempt, col(Attempt.registration_id).in_(registrations)),
        (AttemptAnswer, col(AttemptAnswer.attempt_id).in_(attempts)),
        (AnswerEvent, col(AnswerEvent.attempt_id).in_(attempts)),
        (Attachment, col(Attachment.attempt_id).in_(attempts)),
        (ExamIncident, col(ExamIncident.room_id).in_(rooms)),
        (Publication, col(Publication.sitting_id).in_(sittings)),
        (PublicationEntry, col(PublicationEntry.publication_id).in_(publications)),
        (Objection, col(Objection.publication_id).in_(publications)),
        (EquatingRun, col(EquatingRun.sitting_id).in_(sittings)),
        (FormEquating, col(FormEquating.run_id).in_(runs)),
        (Enrolment, col(Enrolment.course_id).in_(courses)),
        (Certificate, _one_of(col(Certificate.issuer), codes)),
        (Revocation, col(Revocation.certificate_id).in_(certificates)),
        (EligibilityRecord, col(EligibilityRecord.certificate_id).in_(certificates)),
        (SigningKey, or_(_one_of(col(SigningKey.issuer), codes), col(SigningKey.role) == "root")),
        (Account, _one_of(col(Account.institution), names)),
        (ApiToken, col(ApiToken.account_id).in_(accounts)),
        (LoginAttempt, col(LoginAttempt.username).in_(usernames)),
        (CommitteeCheck, col(CommitteeCheck.account_id).in_(accounts)),
        (HolderCheck, col(HolderCheck.account_id).in_(accounts)),
        (
            Job,
            or_(
                col(Job.account_id).in_(accounts),
                # a job of the command line about one of its sittings or courses: the kind
                # says which (a sitting's and a course's codes may be the same text)
                and_(
                    col(Job.account_id).is_(None),
                    or_(
                        col(Job.kind).startswith("sitting."), col(Job.kind) == "certificates.issue"
                    ),
                    col(Job.subject).in_(sittings_codes),
                ),
                and_(
                    col(Job.account_id).is_(None),
                    col(Job.kind).startswith("training."),
                    col(Job.subject).in_(course_codes),
                ),
            ),
        ),
        (InspectionRecord, _one_of(col(InspectionRecord.institution), codes)),
        (InspectionEvidence, col(InspectionEvidence.record_id).in_(records)),
    ]
    return tuple(
        (
            entity.__tablename__,  # type: ignore[attr-defined]
            with_loader_criteria(entity, condition, include_aliases=True),
        )
        for entity, condition in conditions
    )


SCOPED = tuple(table for table, _ in _criteria(Scope(frozenset(), frozenset())))
"""The tables whose rows belong to an institution, as the criteria above name them (a test
checks that every other table is shared on purpose)."""


_OWNED = frozenset(SCOPED)
(_PAST_THE_SCOPE,) = ALL_INSTITUTIONS


class ReadOnlyScope(Error):
    """A supervisor's account reads the institutions of its region and writes none of it."""

    code = "read_only"

    def __init__(self, table: str) -> None:
        super().__init__(
            f"监督账户只读，不能修改机构的数据（{table}）/ a supervisor's account reads the "
            f"institutions' data and changes none of it ({table})"
        )


_DML = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)
SUPERVISORS_WRITE = frozenset(
    {"inspection_record", "inspection_evidence", "audit_log", "audit_checkpoint"}
)
"""What a read-only (supervisor's) scope may still write: its inspections, and the audit log
that records them."""


@event.listens_for(Engine, "before_cursor_execute")
def _read_only_at_the_wire(
    _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    """Under a supervisor's scope, the last word on writes: any INSERT, UPDATE or DELETE that
    reaches the database — ORM or Core, through whichever service — is refused unless it is the
    supervisor's own (its inspections, and the audit log that records them)."""
    scope = _current.get()
    if scope is None or not scope.read_only:
        return
    found = _DML.match(statement)
    if found is not None and found.group(1).lower() not in SUPERVISORS_WRITE:
        raise ReadOnlyScope(found.group(1).lower())


@event.listens_for(Session, "do_orm_execute")
def _keep_to_the_institution(state: ORMExecuteState) -> None:
    scope = _current.get()
    if scope is None or state.execution_options.get(_PAST_THE_SCOPE):
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent row was filtered already
    # Only the criteria of the owned tables the statement reads, anywhere in it (subqueries
    # included): attaching all of them to every statement cost about 1 ms a statement.
    tables = frozenset(
        t.name
        for t in find_tables(
            cast(ClauseElement, state.statement),
            check_columns=True,
            include_aliases=True,
            include_crud=True,
        )
        if hasattr(t, "name")
    )
    options = _criteria_for(scope, tables & _OWNED)
    if options:
        state.statement = state.statement.options(*options)


class PlatformOnly(Error):
    """What only a platform account may do (no institution): add and authorise institutions,
    sign the trust and revocation lists."""

    code = "platform_only"

    def __init__(self, what_zh: str, what_en: str) -> None:
        super().__init__(f"只有平台账户可以{what_zh} / only a platform account may {what_en}")


def require_platform(what_zh: str, what_en: str) -> None:
    """Raises PlatformOnly while an institution is held."""
    if _current.get() is not None:
        raise PlatformOnly(what_zh, what_en)


def scope_of_account_id(engine: Engine, account_id: int | None) -> Scope | None:
    """The scope of the account with this id (a job's), or None."""
    if account_id is None:
        return None
    with Session(engine) as session:
        account = (
            session.execute(
                select(Account)
                .where(col(Account.id) == account_id)
                .execution_options(**ALL_INSTITUTIONS)
            )
            .scalars()
            .first()
        )
        return scope_of_account(session, account)


def in_account_scope(
    handler: Callable[[Engine, Any, Any], Any],
) -> Callable[[Engine, Any, Any], Any]:
    """A job's handler run holding the institution of the job's account, in whichever thread
    or process runs it (a thread does not inherit the scope of the request that started it)."""

    def run(engine: Engine, job: Any, progress: Any) -> Any:
        with scoped(scope_of_account_id(engine, job.account_id)):
            return handler(engine, job, progress)

    return run


class ProvincesOwn(Error):
    """An institution's account changing what is the province's: a shared blueprint or papers
    assembled from one."""

    code = "provinces_own"

    def __init__(self, what_zh: str, what_en: str) -> None:
        super().__init__(
            f"{what_zh}是全省共用的，机构账户不能修改；请以本机构的新代码保存蓝图 / {what_en} is the "
            f"province's, shared by every institution: save the blueprint under a code of your own"
        )


@event.listens_for(Blueprint, "before_insert")
def _owned_by_the_institution(_mapper: Any, _connection: Any, target: Blueprint) -> None:
    """A blueprint an institution's account saves is that institution's (its papers too)."""
    held = _current.get()
    if held is not None and not held.read_only and target.institution is None:
        target.institution = held.name


@event.listens_for(Blueprint, "before_update")
def _provinces_blueprint_stays(_mapper: Any, _connection: Any, target: Blueprint) -> None:
    held = _current.get()
    if held is not None and not held.read_only and target.institution is None:
        raise ProvincesOwn("该蓝图", "this blueprint")


@event.listens_for(PaperSeal, "before_insert")
def _provinces_papers_sealed_by_it(_mapper: Any, _connection: Any, target: PaperSeal) -> None:
    """The province's papers are sealed by the platform, as they are assembled by it."""
    held = _current.get()
    if held is not None and not held.read_only and target.institution is None:
        raise ProvincesOwn("省级统一命题的试卷", "the province's papers")


@event.listens_for(Paper, "before_insert")
def _provinces_papers_stay(_mapper: Any, connection: Any, target: Paper) -> None:
    """Papers of the province's blueprint are assembled by the platform: an institution's
    account would replace every institution's forms."""
    held = _current.get()
    if held is None or held.read_only:
        return
    owner = connection.execute(
        select(col(Blueprint.institution)).where(col(Blueprint.id) == target.blueprint_id)
    ).scalar_one_or_none()
    if owner is None:
        raise ProvincesOwn("该蓝图的试卷", "a paper of this blueprint")
