"""Enumerations shared by the bank, grading, certificates and their files."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """专业技术等级: the three levels every occupation is examined at."""

    JUNIOR = "junior"
    INTERMEDIATE = "intermediate"
    SENIOR = "senior"


class ItemType(StrEnum):
    """题型: the kinds of question a bank holds."""

    SINGLE = "single"  # 单选题
    MULTIPLE = "multiple"  # 多选题
    TRUE_FALSE = "true_false"  # 判断题
    FILL = "fill"  # 填空题
    SUBJECTIVE = "subjective"  # 主观题 / 实操题

    @property
    def has_options(self) -> bool:
        return self in (ItemType.SINGLE, ItemType.MULTIPLE)

    @property
    def is_objective(self) -> bool:
        """Scored by machine against a key (everything but subjective items)."""
        return self is not ItemType.SUBJECTIVE


class ItemStatus(StrEnum):
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


ROLES = ("admin", "rater", "committee")
"""Roles of web accounts: institution administrators, raters (评分员), title review committees."""


class Verdict(StrEnum):
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

    @property
    def zh(self) -> str:
        return _VERDICT_LABELS[self][0]

    @property
    def en(self) -> str:
        return _VERDICT_LABELS[self][1]


_VERDICT_LABELS = {
    Verdict.GENUINE: ("真实有效", "Genuine and valid"),
    Verdict.STATUS_UNKNOWN: ("签名真实，状态未知", "Genuine signature, status unknown"),
    Verdict.SUSPENDED: ("已暂停", "Suspended"),
    Verdict.REVOKED: ("已吊销", "Revoked"),
    Verdict.EXPIRED: ("已过期", "Expired"),
    Verdict.NOT_GENUINE: ("无法验证为真", "Not verified as genuine"),
}
