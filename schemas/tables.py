"""Table models: the database schema of certify (one Alembic migration chain creates it).

Tables are named now for the whole pipeline, from bank to eligibility records, so later work
adds columns through migrations rather than inventing storage.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    LargeBinary,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import AutoString, Field, SQLModel

from schemas.enums import (
    ApplicationDecision,
    AttemptStatus,
    CertificateKind,
    CertificateStatus,
    EntitlementKind,
    FinishReason,
    IncidentKind,
    JobState,
    ObjectionState,
    RecordStatus,
    StatusChange,
    Word,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), **kw))


class WordType(TypeDecorator[Word]):
    """A domain word (:class:`schemas.enums.Word`) in a plain string column: the database holds
    its value, as the migrations made the column; Python reads and writes the enum member."""

    impl = AutoString
    cache_ok = True

    def __init__(self, word: type[Word], length: int) -> None:
        super().__init__(length=length)
        self.word = word

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.word(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> Word | None:
        return None if value is None else self.word(value)


# --- question bank ---------------------------------------------------------------------------


class Item(SQLModel, table=True):
    """题目: a bank entry; its content lives in versions."""

    __tablename__ = "item"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    occupation: str = Field(max_length=32, index=True)
    level: str = Field(max_length=16, index=True)
    created_at: datetime = _ts(nullable=False)


class ItemVersion(SQLModel, table=True):
    """One version of an item; papers reference versions, never entries."""

    __tablename__ = "item_version"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    version: int
    status: str = Field(max_length=16, index=True)
    type: str = Field(max_length=16)
    knowledge_area: str = Field(max_length=16)
    stem: str
    options: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    premises: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    key: str
    points: float
    difficulty: float | None = None
    source: str = ""
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rubric: str = ""
    content_hash: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)
    sealed_by: int | None = Field(default=None, foreign_key="paper_seal.id", index=True)
    """The seal (:class:`PaperSeal`) that holds this version's texts while its paper is sealed:
    stem, options, premises, key and rubric are then empty here and live only in the seal's
    ciphertext (``question_bank.sealing``)."""


class ItemImage(SQLModel, table=True):
    """An image that items show, stored once by the SHA-256 of its bytes (the hash an item's
    text names it by; see :mod:`question_bank.images`)."""

    __tablename__ = "item_image"

    sha256: str = Field(max_length=64, primary_key=True)
    media_type: str = Field(max_length=32)
    width: int
    height: int
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _ts(nullable=False)


# --- papers ----------------------------------------------------------------------------------


class Blueprint(SQLModel, table=True):
    """组卷蓝图: what a paper of one occupation and level must contain."""

    __tablename__ = "blueprint"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    occupation: str = Field(max_length=32)
    level: str = Field(max_length=16)
    name: str
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    institution: str | None = Field(
        default=None, max_length=200, foreign_key="institution.name", index=True
    )
    """The institution whose blueprint it is — its papers are its own — or None: the
    province's, shared by every institution (``certify.institutions.scope``)."""
    created_at: datetime = _ts(nullable=False)


class Paper(SQLModel, table=True):
    """试卷: one assembled form; frozen once a sitting uses it."""

    __tablename__ = "paper"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=96, unique=True)
    blueprint_id: int = Field(foreign_key="blueprint.id", index=True)
    run: int = 1
    form: str = Field(max_length=16)
    seed: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="draft", max_length=16)
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)
    frozen_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    seal_id: int | None = Field(default=None, foreign_key="paper_seal.id", index=True)
    """The seal of this paper (试卷保密), once sealed; it stays after opening, as the record."""


class PaperSeal(SQLModel, table=True):
    """试卷密封: frozen papers whose item texts, keys, rubrics and PDFs are encrypted under one
    key (AES-256-GCM) that is kept nowhere: it is split among custodians (k of n, Shamir) and
    given back only when k of them present their shares at or after ``opens_at`` less
    ``print_lead_minutes``. Keys and rubrics stay withheld from every reader but the grading
    path until ``ends_at``."""

    __tablename__ = "paper_seal"

    id: int | None = Field(default=None, primary_key=True)
    institution: str | None = Field(
        default=None, max_length=200, foreign_key="institution.name", index=True
    )
    """The institution whose papers these are, or None: the province's."""
    threshold: int
    custodians: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    """Per custodian: ``name``, the share's point ``x`` and ``sha256`` of the share (so a
    wrong share is named without the shares being kept)."""
    images: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    """The SHA-256 of every image its items show (their texts are in the ciphertext): another
    seal leaves such an image in the bank until this one is opened."""
    opens_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ends_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    print_lead_minutes: int = 0
    """How long before ``opens_at`` the papers may be opened for printing (paper sittings)."""
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default="sealed", max_length=16)
    """``sealed`` or ``opened``."""
    sealed_by: str = Field(max_length=200)
    created_at: datetime = _ts(nullable=False)
    opened_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    opened_by: str | None = Field(default=None, max_length=200)
    opened_with: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    """The custodians whose shares opened it."""


class PaperItem(SQLModel, table=True):
    """One question of a paper: an exact item version at a position."""

    __tablename__ = "paper_item"
    __table_args__ = (UniqueConstraint("paper_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    paper_id: int = Field(foreign_key="paper.id", index=True)
    position: int
    part: str = Field(max_length=16)
    item_version_id: int = Field(foreign_key="item_version.id")
    points: float


class PaperDocument(SQLModel, table=True):
    """A paper's printed PDF (``paper``: questions and answer sheet) or its answer key
    (``key``), rendered once and served as stored, so every process and every download gives the
    same bytes."""

    __tablename__ = "paper_document"
    __table_args__ = (UniqueConstraint("paper_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    paper_id: int = Field(foreign_key="paper.id", index=True)
    kind: str = Field(max_length=16)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha256: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)


# --- institutions ----------------------------------------------------------------------------


class Institution(SQLModel, table=True):
    """评价机构 / 培训机构: an institution on the platform. Its name is the issuer that its
    certificates and its keys carry, signed, so it does not change once anything is issued;
    sittings, courses and accounts refer to it by that name."""

    __tablename__ = "institution"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    """The issuer its signing keys and certificates carry (``SD-EVAL-01``)."""
    name: str = Field(max_length=200, unique=True)
    region: str = Field(default="", max_length=64)
    """所在地区, e.g. ``山东省济南市``: a supervisor of ``山东省`` reads it."""
    created_at: datetime = _ts(nullable=False)


class Authorisation(SQLModel, table=True):
    """授权范围: an occupation and level an institution may examine (``level``: it issues
    专业技术等级证书) or train for (``training``: 培训合格证书), from one day, until another or
    open-ended. Ending one sets ``valid_until``; rows are never deleted, so what held on a
    certificate's day can always be told."""

    __tablename__ = "authorisation"
    __table_args__ = (
        UniqueConstraint("institution_id", "kind", "occupation", "level", "valid_from"),
    )

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    kind: CertificateKind = Field(sa_type=WordType(CertificateKind, 16))
    occupation: str = Field(max_length=32)
    level: str = Field(max_length=16)
    valid_from: date
    valid_until: date | None = None
    """The last day it holds; None: until ended."""
    actor: str = Field(default="", max_length=128)
    created_at: datetime = _ts(nullable=False)


# --- candidates and sittings -----------------------------------------------------------------


class Sitting(SQLModel, table=True):
    """考试场次: one exam event of an occupation and level at an institution."""

    __tablename__ = "sitting"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    occupation: str = Field(max_length=32)
    level: str = Field(max_length=16)
    institution: str = Field(max_length=200, foreign_key="institution.name", index=True)
    starts_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    status: str = Field(default="planned", max_length=16)
    blueprint_id: int | None = Field(default=None, foreign_key="blueprint.id")
    pass_rule: str = Field(default="raw", max_length=16)
    """合格判定: ``raw`` (every form's pass mark as the blueprint states it) or ``equated`` (each
    form's pass mark carried from the reference form by ``equating_run_id``)."""
    equating_run_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            # equating_run refers to its sitting as well: created after both tables exist, so
            # that the two can be ordered (and emptied) without a cycle
            ForeignKey(
                "equating_run.id", use_alter=True, name="fk_sitting_equating_run_id_equating_run"
            ),
            nullable=True,
        ),
    )


class Candidate(SQLModel, table=True):
    """考生: a person; the ID number is stored encrypted, looked up by keyed digest."""

    __tablename__ = "candidate"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    id_number_cipher: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    id_number_digest: str = Field(max_length=64, unique=True, index=True)
    id_number_masked: str = Field(max_length=32)
    created_at: datetime = _ts(nullable=False)


class Registration(SQLModel, table=True):
    """报名: a candidate admitted (or refused) to a sitting, with the form and shuffle seed."""

    __tablename__ = "registration"
    __table_args__ = (
        UniqueConstraint("sitting_id", "candidate_id"),
        UniqueConstraint("sitting_id", "admission_no", name="uq_registration_admission"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sitting_id: int = Field(foreign_key="sitting.id", index=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    admission_no: str = Field(default="", max_length=32)
    paper_id: int | None = Field(default=None, foreign_key="paper.id")
    shuffle_seed: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: ApplicationDecision = Field(
        default=ApplicationDecision.ACCEPTED, sa_type=WordType(ApplicationDecision, 16)
    )
    decision_reason: str = ""
    created_at: datetime = _ts(nullable=False)


class Application(SQLModel, table=True):
    """申报: one applicant's application to a sitting, checked against the application conditions.

    ``facts`` are what the applicant declared (education, title, related work since, training
    hours…); ``decision`` is accepted or refused, with the route that admitted them or the
    reasons each route failed. An admin may accept a refused application with a recorded reason
    (``override_by``, ``override_reason``). Accepted applications have a registration.
    """

    __tablename__ = "application"
    __table_args__ = (
        UniqueConstraint("sitting_id", "candidate_id", name="uq_application_candidate"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sitting_id: int = Field(foreign_key="sitting.id", index=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    row: int = 0
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    decision: ApplicationDecision = Field(sa_type=WordType(ApplicationDecision, 16))
    route: str = Field(default="", max_length=32)
    reasons: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    override_by: str = ""
    override_reason: str = ""
    registration_id: int | None = Field(default=None, foreign_key="registration.id")
    decided_at: datetime = _ts(nullable=False)


class Response(SQLModel, table=True):
    """作答: one raw answer of one candidate to one item version, kept as given."""

    __tablename__ = "response"
    __table_args__ = (UniqueConstraint("registration_id", "item_version_id"),)

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registration.id", index=True)
    item_version_id: int = Field(foreign_key="item_version.id")
    raw: str = ""
    recorded_at: datetime = _ts(nullable=False)


class CalibrationRun(SQLModel, table=True):
    """项目反应理论标定: one calibration of the items of one or more sittings (never replaced:
    a later calibration is another run)."""

    __tablename__ = "calibration_run"

    id: int | None = Field(default=None, primary_key=True)
    occupation: str = Field(max_length=32, index=True)
    level: str = Field(max_length=16)
    sittings: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    candidates: int
    items: int
    log_likelihood: float
    iterations: int
    base_run_id: int | None = Field(default=None, foreign_key="calibration_run.id")
    """The run whose scale this one's parameters are on (None: this run is a base scale)."""
    link_method: str = Field(default="", max_length=16)
    link_a: float = 1.0
    link_b: float = 0.0
    """θ_base = link_a·θ_run + link_b, found through the common item versions."""
    drifting: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    actor: str = Field(default="", max_length=128)
    created_at: datetime = _ts(nullable=False)


class EquatingRun(SQLModel, table=True):
    """分数等值: one equating of a sitting's forms to its reference form (never replaced)."""

    __tablename__ = "equating_run"

    id: int | None = Field(default=None, primary_key=True)
    sitting_id: int = Field(foreign_key="sitting.id", index=True)
    method: str = Field(max_length=32)
    reference_form: str = Field(max_length=16)
    smoothing: int = 0
    """The log-linear presmoothing degree (0: none)."""
    replications: int = 0
    seed: int = 0
    candidates: int = 0
    actor: str = Field(default="", max_length=128)
    created_at: datetime = _ts(nullable=False)


class FormEquating(SQLModel, table=True):
    """One part of one form in an equating run: the raw score on the form equivalent to the
    reference form's pass mark, its bootstrap standard error, and the conversion table
    (rows of score, equivalent on the reference form, standard error)."""

    __tablename__ = "form_equating"
    __table_args__ = (UniqueConstraint("run_id", "part", "form"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="equating_run.id", index=True)
    part: str = Field(max_length=64)
    form: str = Field(max_length=16)
    candidates: int
    reference_candidates: int
    common_items: int
    pass_mark: float
    equivalent: float
    se: float | None = None
    table: list[list[float]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class ItemCalibration(SQLModel, table=True):
    """One item version's parameters from one calibration run, on the run's base scale: the
    model, slope, intercepts (one per score step), guessing, their standard errors, the scores
    its categories stand for, and its fit (S-X²)."""

    __tablename__ = "item_calibration"
    __table_args__ = (UniqueConstraint("run_id", "item_version_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="calibration_run.id", index=True)
    item_version_id: int = Field(foreign_key="item_version.id", index=True)
    model: str = Field(max_length=8)
    a: float
    d: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    c: float = 0.0
    se: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    scores: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    answers: int
    fit_s_x2: float | None = None
    fit_df: int | None = None
    fit_p: float | None = None
    misfit: bool = False


class Mark(SQLModel, table=True):
    """评分: one rater's mark for one subjective question of one script, in a marking round."""

    __tablename__ = "mark"
    __table_args__ = (
        UniqueConstraint("registration_id", "item_version_id", "round"),
        UniqueConstraint("registration_id", "item_version_id", "rater"),
    )

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registration.id", index=True)
    item_version_id: int = Field(foreign_key="item_version.id")
    rater: str = Field(max_length=64)
    round: int
    mark: float
    recorded_at: datetime = _ts(nullable=False)


class Result(SQLModel, table=True):
    """成绩: per-part scores and the final pass or fail of one registration."""

    __tablename__ = "result"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registration.id", unique=True)
    part_scores: dict[str, float] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    total: float
    passed: bool
    computed_at: datetime = _ts(nullable=False)


# --- computer-based delivery (机考) -----------------------------------------------------------


class ExamSession(SQLModel, table=True):
    """场次: one timed sitting of one paper part (or every part) at computers."""

    __tablename__ = "exam_session"

    id: int | None = Field(default=None, primary_key=True)
    sitting_id: int = Field(foreign_key="sitting.id", index=True)
    code: str = Field(max_length=64, unique=True)
    part: str = Field(default="", max_length=16)
    """The paper part delivered (``theory``, ``practical``), or "" for every part."""
    starts_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    duration_minutes: int
    entry_minutes: int = 30
    """Latest entry, in minutes after the start (the invigilator may admit later)."""
    handin_minutes: int = 30
    """Earliest hand-in, in minutes after the start."""
    seat_seed: int | None = Field(default=None, sa_column=Column(BigInteger))
    spread: bool = True
    created_at: datetime = _ts(nullable=False)


class ExamRoom(SQLModel, table=True):
    """考场: a room of one session, its seats, its invigilator and the code read out in it."""

    __tablename__ = "exam_room"
    __table_args__ = (UniqueConstraint("session_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="exam_session.id", index=True)
    code: str = Field(max_length=16)
    name: str = ""
    capacity: int
    columns: int = 6
    invigilator: str = Field(default="", max_length=64, index=True)
    room_code: str = Field(max_length=16)
    paused_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = _ts(nullable=False)


class Attempt(SQLModel, table=True):
    """One candidate in one exam session: created with the seat, closed by the hand-in."""

    __tablename__ = "attempt"
    __table_args__ = (
        # these serve look-ups by registration and by room too (their leading column)
        UniqueConstraint("registration_id", "session_id"),
        UniqueConstraint("room_id", "seat"),
    )

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registration.id")
    session_id: int = Field(foreign_key="exam_session.id", index=True)
    room_id: int = Field(foreign_key="exam_room.id")
    seat: int
    status: AttemptStatus = Field(
        default=AttemptStatus.WAITING, sa_type=WordType(AttemptStatus, 16), index=True
    )
    device_hash: str | None = Field(default=None, max_length=64, unique=True)
    device_label: str = Field(default="", max_length=64)
    move_allowed: bool = False
    late_allowed: bool = False
    signed_in_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_seen_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    extra_seconds: int = 0
    paused_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    paused_seconds: int = 0
    deadline_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
    """Start + duration + extra time + time paused: the sweeper selects by it."""
    handed_in_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    finish_reason: FinishReason | None = Field(
        default=None, sa_type=WordType(FinishReason, 16), nullable=True
    )
    last_seq: int = 0
    objective_score: float | None = None
    """The machine-scored points of the hand-in (fill, choice, true/false), for the office."""
    events: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AttemptAnswer(SQLModel, table=True):
    """An attempt's current answer to one question, in the printed letters of its copy."""

    __tablename__ = "attempt_answer"
    __table_args__ = (UniqueConstraint("attempt_id", "item_version_id"),)  # also by attempt

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="attempt.id")
    item_version_id: int = Field(foreign_key="item_version.id")
    value: str = ""
    flagged: bool = False
    seq: int
    saved_at: datetime = _ts(nullable=False)


class AnswerEvent(SQLModel, table=True):
    """Every write an attempt received, kept for appeals: what, when, from which device."""

    __tablename__ = "answer_event"
    __table_args__ = (UniqueConstraint("attempt_id", "seq"),)  # also by attempt

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="attempt.id")
    seq: int
    item_version_id: int = Field(foreign_key="item_version.id")
    value: str = ""
    flagged: bool = False
    device: str = Field(default="", max_length=16)
    client_at: int | None = Field(default=None, sa_column=Column(BigInteger))
    received_at: datetime = _ts(nullable=False)


class Attachment(SQLModel, table=True):
    """A file a candidate attached to a subjective (实操) answer; never deleted."""

    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="attempt.id", index=True)
    item_version_id: int = Field(foreign_key="item_version.id")
    name: str = Field(max_length=128)
    media_type: str = Field(max_length=64)
    size: int
    sha256: str = Field(max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    device: str = Field(default="", max_length=16)
    uploaded_at: datetime = _ts(nullable=False)


class ExamIncident(SQLModel, table=True):
    """考场记录: one line of a room's log (attempt_id None: the whole room)."""

    __tablename__ = "exam_incident"

    id: int | None = Field(default=None, primary_key=True)
    room_id: int = Field(foreign_key="exam_room.id", index=True)
    attempt_id: int | None = Field(default=None, foreign_key="attempt.id")
    kind: IncidentKind = Field(sa_type=WordType(IncidentKind, 16))
    note: str = ""
    actor: str = Field(default="", max_length=96)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = _ts(nullable=False)


# --- certificates and trust ------------------------------------------------------------------


class SigningKey(SQLModel, table=True):
    """A signing key of the provincial authority (root) or of an institution."""

    __tablename__ = "signing_key"

    id: int | None = Field(default=None, primary_key=True)
    kid: str = Field(max_length=32, unique=True)
    issuer: str
    role: str = Field(max_length=16)
    algorithm: str = Field(default="EdDSA", max_length=16)
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    private_key_encrypted: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    scope: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    valid_from: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    valid_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    retired_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class Certificate(SQLModel, table=True):
    """证书: a level certificate (专业技术等级证书) or a training certificate (培训合格证书)."""

    __tablename__ = "certificate"

    id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(max_length=40, unique=True)
    kind: CertificateKind = Field(sa_type=WordType(CertificateKind, 16))
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    registration_id: int | None = Field(default=None, foreign_key="registration.id", unique=True)
    holder_name: str
    occupation: str = Field(max_length=32)
    level: str = Field(max_length=16)
    issued_on: date
    issuer: str
    kid: str = Field(max_length=32)
    token: str
    status: CertificateStatus = Field(
        default=CertificateStatus.VALID, sa_type=WordType(CertificateStatus, 16)
    )
    created_at: datetime = _ts(nullable=False)
    expires_on: date | None = None
    pdf_digest: str = Field(default="", max_length=64)
    """The PDF's fingerprint, under ``pdf_digest_alg``."""
    pdf_digest_alg: str = Field(
        default="sha256", max_length=8, sa_column_kwargs={"server_default": "sha256"}
    )
    """``sha256`` or ``sm3``: the hash of the issuing key's suite."""
    enrolment_id: int | None = Field(default=None, foreign_key="enrolment.id", unique=True)


class Publication(SQLModel, table=True):
    """公示: a sitting's pass list, published for a notice period before certificates issue."""

    __tablename__ = "publication"

    id: int | None = Field(default=None, primary_key=True)
    sitting_id: int = Field(foreign_key="sitting.id", unique=True)
    opened_on: date
    closes_on: date
    """The last day of the notice period; certificates may issue from the day after."""
    listed: int = 0
    published_by: str = ""
    created_at: datetime = _ts(nullable=False)


class PublicationEntry(SQLModel, table=True):
    """One registration on a published pass list: only those listed may be issued a certificate
    (a regrade that turns a fail into a pass after publication needs a new publication)."""

    __tablename__ = "publication_entry"
    __table_args__ = (UniqueConstraint("publication_id", "registration_id"),)

    id: int | None = Field(default=None, primary_key=True)
    publication_id: int = Field(foreign_key="publication.id", index=True)
    registration_id: int = Field(foreign_key="registration.id", index=True)


class Objection(SQLModel, table=True):
    """异议: an objection to one listed candidate during 公示, and how an admin resolved it."""

    __tablename__ = "objection"

    id: int | None = Field(default=None, primary_key=True)
    publication_id: int = Field(foreign_key="publication.id", index=True)
    registration_id: int = Field(foreign_key="registration.id", index=True)
    filed_on: date
    filed_by: str = ""
    reason: str
    status: ObjectionState = Field(
        default=ObjectionState.OPEN, sa_type=WordType(ObjectionState, 16)
    )
    """open, upheld (no certificate) or dismissed (the certificate may issue)."""
    resolution: str = ""
    resolved_by: str = ""
    resolved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class Course(SQLModel, table=True):
    """培训课程: a training institution's course for one occupation and level."""

    __tablename__ = "course"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    occupation: str = Field(max_length=32)
    level: str = Field(max_length=16)
    hours: int
    syllabus: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    institution: str = Field(max_length=200, foreign_key="institution.name", index=True)
    pass_mark: float = 60.0
    created_at: datetime = _ts(nullable=False)


class Enrolment(SQLModel, table=True):
    """One trainee on a course: hours attended, the completion assessment, completion."""

    __tablename__ = "enrolment"
    __table_args__ = (UniqueConstraint("course_id", "candidate_id", name="uq_enrolment_candidate"),)

    id: int | None = Field(default=None, primary_key=True)
    course_id: int = Field(foreign_key="course.id", index=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    attended_hours: float = 0.0
    score: float | None = None
    completed: bool = False
    assessed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class SerialCounter(SQLModel, table=True):
    """The last sequence number used under one serial prefix; bumped inside each issuance."""

    __tablename__ = "serial_counter"

    prefix: str = Field(primary_key=True, max_length=32)
    last: int = 0


class Revocation(SQLModel, table=True):
    """A status change of a certificate (revoke, suspend, reinstate) with its reason."""

    __tablename__ = "revocation"

    id: int | None = Field(default=None, primary_key=True)
    certificate_id: int = Field(foreign_key="certificate.id", index=True)
    action: StatusChange = Field(sa_type=WordType(StatusChange, 16))
    reason: str
    actor: str
    at: datetime = _ts(nullable=False)


class EligibilityRecord(SQLModel, table=True):
    """What a certificate entitles its holder to (title review, subsidy, CE hours)."""

    __tablename__ = "eligibility_record"

    id: int | None = Field(default=None, primary_key=True)
    certificate_id: int = Field(foreign_key="certificate.id", index=True)
    kind: EntitlementKind = Field(sa_type=WordType(EntitlementKind, 32))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: RecordStatus = Field(default=RecordStatus.ACTIVE, sa_type=WordType(RecordStatus, 16))
    created_at: datetime = _ts(nullable=False)


# --- audit -----------------------------------------------------------------------------------


class AuditEntry(SQLModel, table=True):
    """审计日志: an append-only, hash-chained record of every consequential action."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(nullable=False)
    actor: str
    action: str = Field(max_length=64, index=True)
    subject: str = ""
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64, unique=True)  # unique: the chain cannot fork
    hash: str = Field(max_length=64, unique=True)
    hash_alg: str = Field(
        default="sha256", max_length=8, sa_column_kwargs={"server_default": "sha256"}
    )
    """The hash that made ``hash``: ``sha256`` or ``sm3`` (the suite of whoever appended it)."""


class AuditCheckpoint(SQLModel, table=True):
    """审计检查点: a signed statement that the audit log had ``count`` entries, the last of them
    with ``head_hash``, at ``at``; signed by the key ``kid`` over (format, count, head hash,
    time, kid). ``reason`` says what made it and is not signed."""

    __tablename__ = "audit_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    count: int = Field(index=True)
    head_hash: str = Field(max_length=64)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    kid: str = Field(max_length=32)
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    reason: str = Field(default="", max_length=64)


# --- web accounts ----------------------------------------------------------------------------


class Account(SQLModel, table=True):
    """A person who signs in to the web app: admin, rater or committee (public needs none)."""

    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = ""
    role: str = Field(max_length=16)
    password_hash: str
    active: bool = True
    session_version: int = 0
    """Bumped on sign-out, disabling, a role or password change: every earlier session ends."""
    must_change_password: bool = False
    """Set when an admin sets or resets the password: the next sign-in must choose a new one."""
    institution: str | None = Field(
        default=None, max_length=200, foreign_key="institution.name", index=True
    )
    """The institution whose data the account works on (it sees nothing of another's:
    ``certify.institutions.scope``); None: a platform account, which sees every institution's."""
    region: str | None = Field(default=None, max_length=64)
    """A supervisor's (人社部门) region: it reads every institution whose region is this one or
    lies within it, and writes none of their data."""
    created_at: datetime = _ts(nullable=False)


class ApiToken(SQLModel, table=True):
    """An API token of an account, stored as its SHA-256 only (shown once when made)."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    label: str = ""
    created_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class LoginAttempt(SQLModel, table=True):
    """Sign-in attempts, for throttling repeated failures by username and by address, and the
    accounts' sign-in history (never the password typed)."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    address: str = Field(max_length=64, index=True)
    ok: bool = False
    outcome: str = Field(default="", max_length=16)
    """A :class:`~schemas.enums.SignInOutcome` for accounts (a candidate's sign-in: empty)."""
    at: datetime = _ts(nullable=False, index=True)


class CommitteeCheck(SQLModel, table=True):
    """A committee's bulk check: the uploaded rows' results, kept for download by its owner."""

    __tablename__ = "committee_check"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    file_name: str = ""
    rows: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)


class HolderCheck(SQLModel, table=True):
    """A question "does this ID number belong to this person?" that an account asked, by a bulk
    check of a certificate (``verify``) or a lookup by ID number and name (``lookup``): the
    account, the person (the keyed digest of name and masked ID number), the serial if any, and
    the keyed digest of the ID number tried (never the number). The budget of
    ``certify.certificates.holders`` counts these."""

    __tablename__ = "holder_check"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    serial: str = Field(default="", max_length=40, index=True)
    target: str = Field(default="", max_length=64, index=True)
    kind: str = Field(default="verify", max_length=16)
    id_digest: str = Field(max_length=64)
    matched: bool = False
    at: datetime = _ts(nullable=False, index=True)


# --- published lists ---------------------------------------------------------------------------


class PublishedList(SQLModel, table=True):
    """A signed trust list or revocation list as published from the web app (发布): the exact
    bytes offered at ``/trust-list.json`` and ``/revocations.json`` and verified against, newest
    first; every web process reads the newest (a list configured by file stays fixed)."""

    __tablename__ = "published_list"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, index=True)
    """``trust_list`` or ``revocations``."""
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha256: str = Field(max_length=64)
    actor: str = Field(default="", max_length=128)
    published_at: datetime = _ts(nullable=False)


# --- background work -------------------------------------------------------------------------


class Job(SQLModel, table=True):
    """后台任务: work too long for one request (assembling papers, issuing certificates), run by
    a worker thread of a web process, its progress visible to every page that reads the row.

    ``lock_key`` is set while the job is queued or running (and so while it is interrupted): a
    unique column, so one job at a time holds, say, an occupation and level."""

    __tablename__ = "job"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    subject: str = Field(max_length=128, index=True)
    """What the job is about (a blueprint's code, a sitting's code)."""
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: JobState = Field(default=JobState.QUEUED, sa_type=WordType(JobState, 16), index=True)
    done: int = 0
    total: int = 0
    step: str = Field(default="", max_length=200)
    """What the job is doing now, in words."""
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str = ""
    lock_key: str | None = Field(default=None, max_length=200, unique=True)
    account_id: int | None = Field(default=None, foreign_key="account.id")
    actor: str = Field(default="", max_length=128)
    attempts: int = 0
    worker: str | None = Field(default=None, max_length=96)
    created_at: datetime = _ts(nullable=False)
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class InspectionRecord(SQLModel, table=True):
    """检查记录: one target a 双随机 draw picked — its findings (each with the evidence files
    kept in ``inspection_evidence``), a rectification request with its deadline, the
    institution's response, and its closing; each step audited (``inspect.*``)."""

    __tablename__ = "inspection_record"
    __table_args__ = (UniqueConstraint("plan", "target"),)

    id: int | None = Field(default=None, primary_key=True)
    plan: str = Field(max_length=64, index=True)
    target: str = Field(max_length=64)
    label: str = ""
    institution: str = Field(default="", max_length=200)
    inspectors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="open", max_length=16)
    """``open`` → (findings) → ``rectifying`` → ``responded`` → ``closed``; ``open`` → ``closed``
    when nothing was found."""
    findings: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    """Each: ``at``, ``by``, ``text``, ``evidence`` (ids of its files)."""
    rectification: str = ""
    deadline: date | None = None
    response: str = ""
    responded_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    closing: str = ""
    closed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = _ts(nullable=False)


class InspectionEvidence(SQLModel, table=True):
    """A file kept as evidence of a finding (a PDF or a picture); never deleted."""

    __tablename__ = "inspection_evidence"

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="inspection_record.id", index=True)
    name: str = Field(max_length=200)
    media_type: str = Field(max_length=64)
    size: int
    sha256: str = Field(max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    added_by: str = Field(default="", max_length=128)
    added_at: datetime = _ts(nullable=False)
