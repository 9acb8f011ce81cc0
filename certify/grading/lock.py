"""成绩锁定: once a sitting's pass list is published (公示) or a certificate issued, its stored
results move only through a confirmed regrade. What locks a sitting, and the errors it raises.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from certify.infra.db import lock_sitting_row
from certify.infra.errors import Error
from schemas.tables import Certificate, Publication, Registration, Sitting


@dataclass(frozen=True)
class Lock:
    """Why grading may no longer rewrite a sitting's stored results (false when it may)."""

    published: bool = False
    certificates: int = 0
    """Level certificates ever issued from the sitting, whatever their status now."""

    def __bool__(self) -> bool:
        return self.published or self.certificates > 0

    def why(self) -> tuple[str, str]:
        """The reason in Chinese and in English."""
        zh, en = [], []
        if self.published:
            zh.append("合格名单已公示")
            en.append("its pass list is published")
        if self.certificates:
            zh.append(f"已发证书 {self.certificates} 本")
            en.append(f"{self.certificates} certificate(s) are issued")
        return "，".join(zh), " and ".join(en)


def result_lock(session: Session, sitting: Sitting, *, for_update: bool = False) -> Lock:
    """The sitting's lock. With ``for_update`` the sitting's row stays locked until the
    caller's transaction ends, so that a publication cannot come between the check and the
    write (PostgreSQL; SQLite lets one writer at a time in any case)."""
    if for_update:
        lock_sitting_row(session, sitting.id or 0)
    published = session.exec(
        select(Publication.id).where(Publication.sitting_id == sitting.id)
    ).first()
    certificates = session.exec(
        select(func.count())
        .select_from(Certificate)
        .join(Registration, col(Registration.id) == col(Certificate.registration_id))
        .where(Registration.sitting_id == sitting.id)
    ).one()
    return Lock(published is not None, certificates)


def certificates_of(session: Session, registration_ids: list[int]) -> dict[int, Certificate]:
    """The level certificate of each of these registrations that has one."""
    if not registration_ids:
        return {}
    return {
        cert.registration_id or 0: cert
        for cert in session.exec(
            select(Certificate).where(col(Certificate.registration_id).in_(registration_ids))
        )
    }


def _first(admission_numbers: list[str]) -> str:
    more = len(admission_numbers) - 10
    return ", ".join(admission_numbers[:10]) + (f" … (+{more})" if more > 0 else "")


class ResultsLocked(Error):
    """Grading would change or drop stored results of a locked sitting; nothing was written."""

    code = "results_locked"

    def __init__(self, sitting: str, lock: Lock, changed: list[str], unscorable: list[str]):
        self.sitting = sitting
        self.lock = lock
        self.changed = changed
        self.unscorable = unscorable
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        zh_why, en_why = self.lock.why()
        lines = [
            f"{self.sitting} {zh_why}，成绩已锁定：重新评分会改变 {len(self.changed)} 个已存成绩"
            f"{f'，另有 {len(self.unscorable)} 个已无法计算' if self.unscorable else ''}。"
            "未写入任何数据。",
            f"The results of {self.sitting} are locked because {en_why}: grading would change "
            f"{len(self.changed)} stored result(s)"
            f"{f' and could no longer compute {len(self.unscorable)}' if self.unscorable else ''}; "
            f"nothing was written. [{self.code}]",
        ]
        if self.changed:
            lines += [
                f"  会变化 would change: {_first(self.changed)}",
                f"  请运行 certify regrade {self.sitting} 查看差异并确认；不合格的持证人证书将暂停待复核。",
                f"  Run `certify regrade {self.sitting}` to see the differences and confirm them; "
                "certificates of holders who no longer pass are suspended for review.",
            ]
        if self.unscorable:
            lines += [
                f"  无法计算 cannot compute: {_first(self.unscorable)}",
                "  缺少评分或答题卡：请补齐后再评分；已公示的成绩不会被删除。",
                "  A mark or answer sheet is missing: restore it, then grade again; a published "
                "result is never removed.",
            ]
        return "\n".join(lines)


class RegradeStale(Error):
    """Stored results are no longer what the regrade's diff showed; nothing was written."""

    code = "regrade_stale"

    def __init__(self, sitting: str, stale: list[str]):
        self.sitting = sitting
        self.stale = stale
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        return (
            f"{self.sitting}：{len(self.stale)} 个成绩在显示差异后已被改动（{_first(self.stale)}），"
            "未写入任何数据；请重新运行 certify regrade。\n"
            f"{self.sitting}: {len(self.stale)} result(s) changed after the differences were "
            f"shown ({_first(self.stale)}); nothing was written — run `certify regrade` again. "
            f"[{self.code}]"
        )
