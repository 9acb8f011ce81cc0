"""Enumerations shared by the bank, grading, certificates and their files: the domain words,
each with its Chinese and English label."""

from __future__ import annotations

from enum import StrEnum


class Word(StrEnum):
    """A domain word: its value is what is stored and sent (database, tokens, JSON, forms), its
    labels what people read; every word's labels are in one table, :data:`_LABELS`."""

    @property
    def zh(self) -> str:
        return _LABELS[type(self)][self][0]

    @property
    def en(self) -> str:
        return _LABELS[type(self)][self][1]


class Level(StrEnum):
    """专业技术等级: the three levels every occupation is examined at."""

    JUNIOR = "junior"
    INTERMEDIATE = "intermediate"
    SENIOR = "senior"


class ItemType(Word):
    """题型: the kinds of question a bank holds."""

    SINGLE = "single"  # 单选题
    MULTIPLE = "multiple"  # 多选题
    TRUE_FALSE = "true_false"  # 判断题
    FILL = "fill"  # 填空题
    MATCHING = "matching"  # 配对题: each premise matched to one of the options
    SUBJECTIVE = "subjective"  # 主观题 / 实操题

    @property
    def has_options(self) -> bool:
        """Lettered options, shuffled per candidate: choices, and a matching item's answers."""
        return self in (ItemType.SINGLE, ItemType.MULTIPLE, ItemType.MATCHING)

    @property
    def short_zh(self) -> str:
        """The short name tables and messages use: 单选, 多选, 判断, 填空, 配对, 主观."""
        return self.zh.removesuffix("题")

    @property
    def is_objective(self) -> bool:
        """Scored by machine against a key (everything but subjective items)."""
        return self is not ItemType.SUBJECTIVE


class ItemStatus(Word):
    """Lifecycle of one item version: only ``ready`` versions go into papers."""

    DRAFT = "draft"
    READY = "ready"
    RETIRED = "retired"


ITEM_TYPE_ALIASES: dict[str, ItemType] = {
    "单选": ItemType.SINGLE,
    "单选题": ItemType.SINGLE,
    "多选": ItemType.MULTIPLE,
    "多选题": ItemType.MULTIPLE,
    "判断": ItemType.TRUE_FALSE,
    "判断题": ItemType.TRUE_FALSE,
    "填空": ItemType.FILL,
    "填空题": ItemType.FILL,
    "配对": ItemType.MATCHING,
    "配对题": ItemType.MATCHING,
    "匹配题": ItemType.MATCHING,
    "连线": ItemType.MATCHING,
    "连线题": ItemType.MATCHING,
    "主观": ItemType.SUBJECTIVE,
    "主观题": ItemType.SUBJECTIVE,
    "实操": ItemType.SUBJECTIVE,
    "实操题": ItemType.SUBJECTIVE,
    "简答题": ItemType.SUBJECTIVE,
    "案例分析题": ItemType.SUBJECTIVE,
}

ITEM_STATUS_ALIASES: dict[str, ItemStatus] = {
    "草稿": ItemStatus.DRAFT,
    "可用": ItemStatus.READY,
    "启用": ItemStatus.READY,
    "停用": ItemStatus.RETIRED,
    "退役": ItemStatus.RETIRED,
}


class Role(Word):
    """账户角色: what a web account may do — institution administrators, raters (评分员), title
    review committees, invigilators (监考员, their exam rooms only), supervisors (人社部门: every
    institution of their region, read-only, and their inspections)."""

    ADMIN = "admin"
    RATER = "rater"
    COMMITTEE = "committee"
    INVIGILATOR = "invigilator"
    SUPERVISOR = "supervisor"


ROLES = tuple(r.value for r in Role)
"""Roles of web accounts, as stored (:class:`Role`)."""


class SignInOutcome(Word):
    """登录结果: how one sign-in attempt with a username and password ended."""

    OK = "ok"
    WRONG_PASSWORD = "wrong_password"
    DISABLED = "disabled"
    UNKNOWN_ACCOUNT = "unknown_account"
    FAILED = "failed"
    """Refused before the reason was recorded (attempts older than migration 0014)."""


class Verdict(Word):
    """验证结论: what a verifier concludes about one certificate.

    "Signature genuine" and "status known" are separate questions: a certificate whose signature
    holds but whose status nobody could confirm as of a fresh time is :attr:`STATUS_UNKNOWN`,
    never :attr:`GENUINE`."""

    GENUINE = "genuine"
    STATUS_UNKNOWN = "status_unknown"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_GENUINE = "not_genuine"


class CertificateKind(Word):
    """证书类型: a level certificate (专业技术等级证书) or a training certificate (培训合格证书).

    A signed token carries the kind as a small integer, :attr:`code`."""

    LEVEL = "level"
    TRAINING = "training"

    @property
    def code(self) -> int:
        """The kind's number in a signed token and in a signing key's scope."""
        return _KIND_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> CertificateKind:
        """The kind numbered ``code``; raises ValueError for a number no kind has."""
        for kind, number in _KIND_CODES.items():
            if number == code:
                return kind
        raise ValueError(f"no certificate kind numbered {code}")


_KIND_CODES = {CertificateKind.LEVEL: 1, CertificateKind.TRAINING: 2}


class CertificateStatus(Word):
    """证书状态: what the register says of an issued certificate now."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class CheckedStatus(Word):
    """A certificate's status as a verification found it: the register's (or a revocation
    list's) :class:`CertificateStatus`, or :attr:`UNKNOWN` when neither was at hand or the
    register does not know the certificate."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


class StatusChange(Word):
    """A change of a certificate's status by an admin: 吊销 (final), 暂停, 恢复."""

    REVOKE = "revoke"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"


class ApplicationDecision(Word):
    """申报审核结果: an application accepted (受理) or refused (不予受理)."""

    ACCEPTED = "accepted"
    REFUSED = "refused"


class ObjectionState(Word):
    """异议状态: open, upheld (no certificate) or dismissed (the certificate may issue)."""

    OPEN = "open"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class RecordStatus(Word):
    """资格记录状态: an eligibility record is active until its certificate is revoked."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class EntitlementKind(Word):
    """资格类别: what a certificate counts for (the wording per region is reference data)."""

    TITLE_REVIEW = "title_review"
    TITLE_RECOGNITION = "title_recognition"
    TRAINING_SUBSIDY = "training_subsidy"
    CE_HOURS = "ce_hours"


class AttemptStatus(Word):
    """机考状态: one candidate in one exam session, from the seat allocated to the hand-in."""

    WAITING = "waiting"
    ACTIVE = "active"
    HANDED_IN = "handed_in"
    ABSENT = "absent"


class FinishReason(Word):
    """交卷方式: who closed an attempt."""

    CANDIDATE = "candidate"
    DEADLINE = "deadline"
    INVIGILATOR = "invigilator"


class IncidentKind(Word):
    """考场记录: what the room's log records, by the invigilator or the engine."""

    SIGN_IN = "sign_in"
    ADMIT_LATE = "admit_late"
    ALLOW_MOVE = "allow_move"
    EXTRA_TIME = "extra_time"
    PAUSE = "pause"
    RESUME = "resume"
    INCIDENT = "incident"
    VIOLATION = "violation"
    ABSENT = "absent"
    FORCE_HAND_IN = "force_hand_in"
    HAND_IN = "hand_in"
    RESTORE = "restore"


_CERTIFICATE_STATUS: dict[Word, tuple[str, str]] = {
    CertificateStatus.VALID: ("有效", "Valid"),
    CertificateStatus.SUSPENDED: ("已暂停", "Suspended"),
    CertificateStatus.REVOKED: ("已吊销", "Revoked"),
}


class JobState(Word):
    """后台任务状态: a background job (assembly, issuance, …) from its request to its end. A
    ``running`` job whose process stopped sending heartbeats is shown as interrupted (never
    stored: whoever reads it can tell) and may be resumed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_LABELS: dict[type[Word], dict[Word, tuple[str, str]]] = {
    ItemType: {
        ItemType.SINGLE: ("单选题", "Single choice"),
        ItemType.MULTIPLE: ("多选题", "Multiple choice"),
        ItemType.TRUE_FALSE: ("判断题", "True or false"),
        ItemType.FILL: ("填空题", "Fill in the blank"),
        ItemType.MATCHING: ("配对题", "Matching"),
        ItemType.SUBJECTIVE: ("主观题", "Subjective"),
    },
    ItemStatus: {
        ItemStatus.DRAFT: ("草稿", "Draft"),
        ItemStatus.READY: ("可用", "Ready"),
        ItemStatus.RETIRED: ("已停用", "Retired"),
    },
    Verdict: {
        Verdict.GENUINE: ("真实有效", "Genuine and valid"),
        Verdict.STATUS_UNKNOWN: ("签名真实，状态未知", "Genuine signature, status unknown"),
        Verdict.SUSPENDED: _CERTIFICATE_STATUS[CertificateStatus.SUSPENDED],
        Verdict.REVOKED: _CERTIFICATE_STATUS[CertificateStatus.REVOKED],
        Verdict.EXPIRED: ("已过期", "Expired"),
        Verdict.NOT_GENUINE: ("无法验证为真", "Not verified as genuine"),
    },
    CertificateKind: {
        CertificateKind.LEVEL: ("专业技术等级证书", "Professional technical level certificate"),
        CertificateKind.TRAINING: ("培训合格证书", "Training certificate"),
    },
    CertificateStatus: _CERTIFICATE_STATUS,
    CheckedStatus: {
        **{CheckedStatus(s): label for s, label in _CERTIFICATE_STATUS.items()},
        CheckedStatus.UNKNOWN: ("状态未知", "Unknown"),
    },
    Role: {
        Role.ADMIN: ("管理员", "Administrator"),
        Role.RATER: ("评分员", "Rater"),
        Role.COMMITTEE: ("评审委员会", "Review committee"),
        Role.INVIGILATOR: ("监考员", "Invigilator"),
        Role.SUPERVISOR: ("监督员（人社部门）", "Supervisor"),
    },
    SignInOutcome: {
        SignInOutcome.OK: ("成功", "Signed in"),
        SignInOutcome.WRONG_PASSWORD: ("密码错误", "Wrong password"),
        SignInOutcome.DISABLED: ("账户已停用", "Account disabled"),
        SignInOutcome.UNKNOWN_ACCOUNT: ("无此账户", "No such account"),
        SignInOutcome.FAILED: ("失败（未记原因）", "Failed (reason not recorded)"),
    },
    StatusChange: {
        StatusChange.REVOKE: ("吊销", "Revoke"),
        StatusChange.SUSPEND: ("暂停", "Suspend"),
        StatusChange.REINSTATE: ("恢复", "Reinstate"),
    },
    ApplicationDecision: {
        ApplicationDecision.ACCEPTED: ("受理", "Accepted"),
        ApplicationDecision.REFUSED: ("不予受理", "Refused"),
    },
    ObjectionState: {
        ObjectionState.OPEN: ("待处理", "Open"),
        ObjectionState.UPHELD: ("属实", "Upheld"),
        ObjectionState.DISMISSED: ("不成立", "Dismissed"),
    },
    RecordStatus: {
        RecordStatus.ACTIVE: ("有效", "Active"),
        RecordStatus.WITHDRAWN: ("已撤销", "Withdrawn"),
    },
    EntitlementKind: {
        EntitlementKind.TITLE_REVIEW: ("职称评审", "Title review"),
        EntitlementKind.TITLE_RECOGNITION: ("职称认定", "Title recognition"),
        EntitlementKind.TRAINING_SUBSIDY: ("职业培训补贴", "Training subsidy"),
        EntitlementKind.CE_HOURS: ("继续教育学时", "Continuing-education hours"),
    },
    AttemptStatus: {
        AttemptStatus.WAITING: ("未入场", "Not signed in"),
        AttemptStatus.ACTIVE: ("作答中", "Answering"),
        AttemptStatus.HANDED_IN: ("已交卷", "Handed in"),
        AttemptStatus.ABSENT: ("缺考", "Absent"),
    },
    FinishReason: {
        FinishReason.CANDIDATE: ("考生交卷", "Handed in by the candidate"),
        FinishReason.DEADLINE: ("时间到自动交卷", "Closed at the deadline"),
        FinishReason.INVIGILATOR: ("监考员收卷", "Handed in by the invigilator"),
    },
    IncidentKind: {
        IncidentKind.SIGN_IN: ("登录", "Signed in"),
        IncidentKind.ADMIT_LATE: ("准许迟到入场", "Admitted late"),
        IncidentKind.ALLOW_MOVE: ("准许更换设备", "Device move allowed"),
        IncidentKind.EXTRA_TIME: ("延长时间", "Extra time"),
        IncidentKind.PAUSE: ("暂停", "Paused"),
        IncidentKind.RESUME: ("恢复", "Resumed"),
        IncidentKind.INCIDENT: ("异常情况", "Incident"),
        IncidentKind.VIOLATION: ("违纪", "Violation"),
        IncidentKind.ABSENT: ("缺考", "Absent"),
        IncidentKind.FORCE_HAND_IN: ("强制收卷", "Handed in by force"),
        IncidentKind.HAND_IN: ("交卷", "Handed in"),
        IncidentKind.RESTORE: ("导入答案备份", "Answer backup imported"),
    },
    JobState: {
        JobState.QUEUED: ("排队中", "Queued"),
        JobState.RUNNING: ("运行中", "Running"),
        JobState.DONE: ("已完成", "Done"),
        JobState.FAILED: ("失败", "Failed"),
    },
}
