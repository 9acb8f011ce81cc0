"""复核重评: applying a regrade — the results change, and certificates follow them.

:func:`certify.grading.service.regrade_diff` says who a regrade would change; applying it is the
certificates' business as much as grading's, because a holder who no longer passes must not keep
a valid certificate: :func:`apply_regrade` writes the results, audits every change with before and
after, and suspends the certificates of holders who went from pass to fail, all in one
transaction under the sitting's lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from certify.certificates import revocation
from certify.grading.lock import RegradeStale, certificates_of, result_lock
from certify.grading.service import Change, moved, stored_results
from certify.grading.sheets import candidate_copies
from certify.infra import audit_log
from certify.infra.db import transaction
from schemas.enums import CertificateStatus, StatusChange
from schemas.tables import utcnow


@dataclass(frozen=True)
class RegradeReport:
    changed: int
    suspended: list[str]
    """Serials of the certificates suspended because their holder no longer passes."""


def apply_regrade(
    engine: Engine, sitting_code: str, changes: list[Change], *, actor: str = "cli"
) -> RegradeReport:
    """Write the changed results with one audit entry listing every change (before and after),
    and suspend — with a reason naming the regrade — every valid certificate whose holder goes
    from pass to fail, all in one transaction.

    Raises RegradeStale, writing nothing, when a stored result is no longer the diff's
    ``before`` (it changed after the diff was shown).
    """
    if not changes:
        return RegradeReport(0, [])
    sitting, copies = candidate_copies(engine, sitting_code)
    reg_ids = {c.admission_no: copies[c.admission_no][0].id or 0 for c in changes}
    with transaction(engine) as session:
        result_lock(session, sitting, for_update=True)
        stored = stored_results(session, list(reg_ids.values()))
        stale = [
            c.admission_no
            for c in changes
            if (old := stored.get(reg_ids[c.admission_no])) is None
            or moved(old.part_scores, old.passed, c.before, c.passed_before)
        ]
        if stale:
            raise RegradeStale(sitting_code, stale)
        for change in changes:
            result = stored[reg_ids[change.admission_no]]
            result.part_scores = change.after
            result.total = round(sum(change.after.values()), 4)
            result.passed = change.passed_after
            result.computed_at = utcnow()
            session.add(result)
        failed = [
            reg_ids[c.admission_no] for c in changes if c.passed_before and not c.passed_after
        ]
        valid = sorted(
            (
                c
                for c in certificates_of(session, failed).values()
                if c.status == CertificateStatus.VALID
            ),
            key=lambda c: c.serial,
        )
        entry = audit_log.append(
            session,
            actor=actor,
            action="regrade",
            subject=sitting_code,
            detail={
                "changes": [
                    {
                        "admission_no": c.admission_no,
                        "before": c.before,
                        "after": c.after,
                        "passed_before": c.passed_before,
                        "passed_after": c.passed_after,
                    }
                    for c in changes
                ],
                "certificates_suspended": [c.serial for c in valid],
            },
        )
        reason = (
            f"复核重评 {sitting_code}（审计 #{entry.id}）：成绩由合格变为不合格，证书暂停待复核 / "
            f"regrade of {sitting_code} (audit #{entry.id}): the result changed from pass to fail; "
            "suspended for review"
        )
        for cert in valid:
            revocation.apply_status(session, cert, StatusChange.SUSPEND, reason, actor=actor)
    return RegradeReport(len(changes), [c.serial for c in valid])
