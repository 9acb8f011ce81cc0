"""The one error hierarchy of certify.

Every error a person can act on derives from :class:`Error`, carries a stable ``code`` and
explains itself through :meth:`Error.diagnostics`, so the CLI prints a message, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class Error(Exception):
    """Base class of every error certify reports to a person."""

    code = "error"

    def diagnostics(self) -> str:
        """A text a person can act on, in Chinese and English."""
        return str(self)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input row: where it is and what to do about it."""

    file: str
    row: int | None
    field: str | None
    code: str
    message_zh: str
    message_en: str

    def where(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.where()}: {self.message_zh} / {self.message_en} [{self.code}]"


class InputError(Error):
    """An input file as a whole cannot be read (size, format, encoding, columns)."""

    code = "input"

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.code = problem.code


class ValidationFailed(Error):
    """Rows of an input file are invalid; nothing was written."""

    code = "validation_failed"

    def __init__(self, problems: list[Problem], *, total_rows: int | None = None) -> None:
        self.problems = problems
        self.total_rows = total_rows
        self.rejects_file: Path | None = None
        """Where the refused rows were written with their reasons, when the caller asked."""
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        rows = {(p.file, p.row) for p in self.problems}
        if self.total_rows is None:
            n = len(self.problems)
            head = f"{n} 处错误，未写入任何数据。\n{n} problem(s); nothing was written."
            return "\n".join([head, *(f"  {p}" for p in self.problems)])
        head = (
            f"{len(self.problems)} 处错误，涉及 {len(rows)} 行（共 {self.total_rows} 行），未导入任何数据。\n"
            f"{len(self.problems)} problem(s) in {len(rows)} of {self.total_rows} row(s); "
            "nothing was imported."
        )
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


class DatabaseError(Error):
    """The database is missing, unreachable or not at the expected schema revision."""

    code = "database"


class NotFound(Error):
    """The thing named does not exist: a sitting, a course, a certificate, an objection… Each
    kind has its own stable code (``sitting_not_found``, …); the web answers 404."""

    code = "not_found"
    what_zh = "对象"
    what_en = "thing"

    def __init__(self, key: object) -> None:
        self.key = key
        super().__init__(f"没有{self.what_zh} {key} / no {self.what_en} {key}")


class SittingNotFound(NotFound):
    code, what_zh, what_en = "sitting_not_found", "考试场次", "sitting"


class CourseNotFound(NotFound):
    code, what_zh, what_en = "course_not_found", "培训班", "course"


class ItemNotFound(NotFound):
    code, what_zh, what_en = "item_not_found", "题目", "item"


class BlueprintNotFound(NotFound):
    code, what_zh, what_en = "blueprint_not_found", "组卷蓝图", "blueprint"


class PaperNotFound(NotFound):
    code, what_zh, what_en = "paper_not_found", "试卷", "paper"


class JobNotFound(NotFound):
    code, what_zh, what_en = "job_not_found", "后台任务", "job"


class CertificateNotFound(NotFound):
    code, what_zh, what_en = "certificate_not_found", "证书", "certificate"


class ObjectionNotFound(NotFound):
    code, what_zh, what_en = "objection_not_found", "异议", "objection"


class AccountNotFound(NotFound):
    code, what_zh, what_en = "account_not_found", "用户", "account"


class ExamSessionNotFound(NotFound):
    code, what_zh, what_en = "exam_session_not_found", "机考场次", "exam session"


class RoomNotFound(NotFound):
    code, what_zh, what_en = "room_not_found", "考场", "exam room"


class AttemptNotFound(NotFound):
    code, what_zh, what_en = "attempt_not_found", "考生作答", "attempt"


class ScriptNotFound(NotFound):
    code, what_zh, what_en = "script_not_found", "评卷号", "script"


class AttachmentNotFound(NotFound):
    code, what_zh, what_en = "attachment_not_found", "附件", "attachment"


class Refused(Error):
    """A request the rules refuse, with its HTTP status: the web answers it as it is, the CLI
    prints the diagnosis. ``code`` is stable (``device_in_use``, ``deadline_passed``, …)."""

    def __init__(self, status: int, code: str, message_zh: str, message_en: str) -> None:
        self.status = status
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        super().__init__(f"{message_zh} / {message_en}")
