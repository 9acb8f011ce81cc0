"""The main job, end to end on the embedded SQLite default: ``certify demo``.

The whole story, in a fresh folder: import the sample bank, assemble parallel forms and print
them; register applicants against the application conditions (a few refused, one accepted on an
admin's override); sit the exam with simulated candidates, mark, grade and analyse it; publish
the pass list (公示) and handle two objections; once the notice period is over, issue signed
certificates and verify one from the QR code read back from its PDF; look the holder up as a
title-review committee would; revoke one and show the effect; run a training course to its
training certificates and subsidy records — the training institution signs with SM2 (SM3), the
evaluation institution with Ed25519, and every certificate of both is read back from its PDF's
QR code and verified; export continuing-education hours and eligibility;
export the bank and check the audit log against its signed checkpoints. The exam is dated so that the notice period has just
ended today. Then a second sitting is delivered at computers (机考) on a simulated clock
(:mod:`certify.commands.demo_delivery`).
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from certify.audit.checkpoints import Checkpoint, LogReport, check_audit_log
from certify.audit.state import STATE_FILE
from certify.certificates.issuance import Issuer
from certify.certificates.progress import sitting_certificate_rows
from certify.certificates.publication import file_objection, publish, resolve_objection
from certify.certificates.revocation import change_status, revocation_list
from certify.commands.demo_delivery import computer_based
from certify.commands.demo_sealing import SEALED_BLUEPRINT, seal_tomorrows_papers, show_sealed
from certify.commands.demo_supervision import supervise
from certify.entitlements.eligibility import credentials, export_ce_hours, export_eligibility
from certify.entitlements.training import assess, create_course, enrol, record_attendance
from certify.grading import simulate
from certify.grading.analysis import exam_report, export_responses
from certify.grading.marks import import_marks, marking_list
from certify.grading.report import render_exam_report
from certify.grading.service import grade_sitting
from certify.grading.sheets import candidate_copies, import_sheets
from certify.infra import db
from certify.infra.errors import Error
from certify.institutions.registry import add_institution, authorise
from certify.keys.publish import build_trust_list
from certify.keys.store import create_key
from certify.registration.applications import override, register_applicants
from certify.registration.identity import IdentityVault, load_vault
from certify.registration.sittings import create_sitting, list_sittings
from certify.signing.algorithms import ALGORITHMS, SM2
from certify.signing.reader import read_token_text
from certify.signing.token import from_text, parse_token
from certify.signing.trust import TrustList, load_trust_list
from certify.signing.verify import load_revocation_list, verify_token
from question_bank.bank import (
    BankSummary,
    ImportReport,
    bank_items,
    export_bank,
    import_bank,
    summarise,
)
from question_bank.blueprints import load_blueprint
from question_bank.papers import AssemblyReport, assemble_papers, write_paper_pdfs
from question_bank.samples import sample_blueprints, sample_files
from schemas.conditions import conditions
from schemas.enums import (
    ApplicationDecision,
    CertificateKind,
    CertificateStatus,
    Level,
    ObjectionState,
    RecordStatus,
    StatusChange,
)

DEMO_FILES = ("certify.db", "bank-export.xlsx", "trust-list.json", "revocations.json")
DEMO_FOLDERS = (
    "papers", "sitting", "notices", "certificates", "training", "exports", "cbt", "inspection",
    "seal",
)  # fmt: skip
DEMO_SITTING = "DEMO-2026-AI-S"
DEMO_CANDIDATES = 120
DEMO_REFUSED = 4
"""Applicants who fall short of the application conditions; one of them is accepted on override."""
DEMO_COURSE = "DEMO-TR-AI-J"
DEMO_TRAINEES = 12
NOTICE_DAYS = 7


class DemoError(Error):
    code = "demo"


@dataclass
class DemoResult:
    directory: Path
    database: Path | None
    """The SQLite file, when the demo made one."""
    imports: list[ImportReport]
    summary: list[BankSummary]
    assemblies: list[AssemblyReport]
    pdfs: list[Path]
    export: Path
    audit_entries: int
    files: dict[str, Path]
    verification_path: str = ""
    """The path of one certificate's verification page on the web app (``/V/<token>``)."""
    notice_path: str = f"/notices/{DEMO_SITTING}"
    """The path of the published pass list on the web app, served from ``--data-dir``."""


@dataclass(frozen=True)
class Story:
    """Dates of the story: applications judged, the exam, the notice period, issuance."""

    today: date

    @property
    def applied(self) -> date:
        return self.today - timedelta(days=45)

    @property
    def published(self) -> date:
        return self.today - timedelta(days=NOTICE_DAYS)


def run_demo(
    directory: Path,
    echo: Callable[[str], None] = print,
    *,
    url: str | None = None,
    today: date | None = None,
) -> DemoResult:
    """Run the pipeline in ``directory`` (created if needed; earlier demo files replaced).

    The database is a fresh SQLite file in the folder, or the empty database at ``url``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name in (*DEMO_FILES, "certify.secret", STATE_FILE):  # the state is the old log's
        (directory / name).unlink(missing_ok=True)
    for name in DEMO_FOLDERS:
        shutil.rmtree(directory / name, ignore_errors=True)
    database = directory / "certify.db"
    engine = db.make_engine(db.database_url(url or f"sqlite:///{database}"))
    story = Story(today or date.today())
    try:
        echo(f"1. 初始化数据库 / initialise the database: {engine.url.render_as_string()}")
        db.upgrade(engine)
        if list_sittings(engine):
            raise DemoError(
                "演示需要一个空数据库 / the demo needs an empty database: "
                f"{engine.url.render_as_string()} holds sittings already"
            )
        for line in add_institutions(engine, story):
            echo(f"   机构 institution {line}")
        echo("2. 导入样例题库 / import the sample bank")
        reports = [import_bank(engine, path, actor="demo") for path in sample_files()]
        for r in reports:
            echo(f"   {Path(r.file).name}: {r.created} 题新增 new")
        summary = summarise(bank_items(engine))
        echo("3. 按蓝图组卷 / assemble parallel forms from the sample blueprints")
        assemblies, pdfs = [], []
        for path in sample_blueprints():
            report = assemble_papers(engine, load_blueprint(path), actor="demo")
            assemblies.append(report)
            spread = ", ".join(f"{k} {v:.4f}" for k, v in report.spread.items())
            echo(
                f"   {report.blueprint}: {len(report.papers)} 份 forms, 份间极差 spread {spread}, "
                f"最大偏差 objective {report.objective:.4f}, 重叠 overlap {report.max_overlap_seen}"
            )
            if report.blueprint == SEALED_BLUEPRINT:  # tomorrow's: sealed before any print
                sealing = seal_tomorrows_papers(
                    engine, [p.code for p in report.papers], directory, story.today
                )
                echo(f"   {report.blueprint}: 明日考试用卷，组卷后即密封 sealed for tomorrow (16.)")
                continue
            pdfs += write_paper_pdfs(engine, report.papers[0].code, directory / "papers")
        first = assemblies[-1].papers[0].code
        pdfs += write_paper_pdfs(engine, first, directory / "papers", candidate_seed=20261127)
        echo(f"   试卷、答题卡与答案 PDF / papers, answer sheets, keys: {len(pdfs)} PDF files")
        vault = load_vault(directory, create=True)
        people = register(engine, directory, assemblies[-1].blueprint, vault, story, echo)
        exam = simulate_sitting(engine, directory, people, story, echo)
        pdfs.append(exam)
        notice = publish_results(engine, directory, story, echo)
        pdfs.append(notice)
        issued, keys = certify_passed(engine, directory, story, echo)
        pdfs += issued
        lookup_and_revoke(engine, directory, vault, people, issued, keys, echo)
        trained = train(engine, directory, vault, story, keys, echo)
        pdfs += trained
        read_back_every_pdf(engine, [*issued, *trained], keys, echo)
        exports = export_records(engine, directory, vault, echo)
        export = directory / "bank-export.xlsx"
        count = export_bank(engine, export)
        echo(f"12. 导出题库 / export the bank: {count} 题 items -> {export}")
        log = check_demo_log(engine, directory, keys)
        echo(
            f"13. 审计日志 / audit log: {log.entries} 条 entries, 链完整 chain intact: {log.ok}; "
            f"{log.checkpoints} 个签名检查点 signed checkpoints"
            + (
                f", 最新覆盖前 {log.newest.count} 条 newest covers {log.newest.count} "
                f"(kid {log.newest.kid}) -> certify audit verify --trust-list "
                f"{directory / 'trust-list.json'} --root-kid {keys.trust.root_kid}"
                if log.newest
                else ""
            )
        )
        junior = next(a.blueprint for a in assemblies if a.blueprint.startswith("ai-junior"))
        cbt = computer_based(engine, directory, vault, junior, story.today, echo)
        pdfs += cbt.reports
        pdfs.append(supervise(engine, directory, story.today, notice, echo))
        show_sealed(engine, sealing, directory, database if url is None else None, echo)
        return DemoResult(
            directory,
            database if url is None else None,
            reports,
            summary,
            assemblies,
            pdfs,
            export,
            log.entries,
            {
                "applicants": directory / "sitting" / "申报名单.csv",
                "notice": directory / "notices" / f"{DEMO_SITTING}-公示.html",
                "certificates": directory / "certificates",
                "training": directory / "training",
                "exports": exports,
                "trust_list": directory / "trust-list.json",
                "revocations": directory / "revocations.json",
                "cbt": cbt.folder,
                "inspection": directory / "inspection",
            },
            verification_path=f"/V/{_first_token(engine)}",
        )
    finally:
        engine.dispose()


EVALUATOR = ("DEMO-EVAL", "示例评价机构（演示）")
TRAINER = ("DEMO-TRAIN", "示例培训机构（演示）")


def add_institutions(engine: Engine, story: Story) -> list[str]:
    """The demo's institutions, authorised since a year before the story for 人工智能: one to
    examine every level, one to train at the junior level."""
    since = min(story.today, date.today()) - timedelta(days=365)
    lines = []
    for (code, name), kind, levels in (
        (EVALUATOR, "level", ["junior", "intermediate", "senior"]),
        (TRAINER, "training", ["junior"]),
    ):
        add_institution(engine, code, name, region="示例省示例市", actor="demo")
        grants = authorise(
            engine,
            code,
            kind=kind,
            occupations=["ai"],
            levels=levels,
            valid_from=since,
            actor="demo",
        )
        lines.append(f"{code} {name}: " + "; ".join(g.describe() for g in grants))
    return lines


def _first_token(engine: Engine) -> str:
    """The token of the demo sitting's first certificate still valid."""
    rows = sitting_certificate_rows(engine, DEMO_SITTING)
    valid = (c for c, _ in rows if c.status is CertificateStatus.VALID)
    return next((c.token for c in valid), "")


def register(
    engine: Engine,
    directory: Path,
    blueprint: str,
    vault: IdentityVault,
    story: Story,
    echo: Callable[[str], None],
) -> list[simulate.SimulatedCandidate]:
    """Applicants checked against the application conditions; one refused accepted on override.

    Returns the simulated people registered for the sitting."""
    folder = directory / "sitting"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261127)
    sitting = create_sitting(
        engine, DEMO_SITTING, blueprint, institution=EVALUATOR[1], actor="demo"
    )
    people = simulate.candidates(DEMO_CANDIDATES + DEMO_REFUSED, ["A", "B"], rng)
    applicants = simulate.write_applicants(
        folder / "申报名单.csv", people, sitting.level, story.applied, rng, short=DEMO_REFUSED
    )
    report = register_applicants(
        engine,
        DEMO_SITTING,
        applicants,
        vault,
        on=story.applied,
        actor="demo",
        shuffle_seed=simulate.seeds(rng),
    )
    counts = {
        ApplicationDecision.ACCEPTED: len(report.accepted),
        ApplicationDecision.REFUSED: len(report.refused),
    }
    echo(
        f"4. 申报审核 / registration against the application conditions ({story.applied}): "
        + ", ".join(f"{d.zh} {d} {n}" for d, n in counts.items())
    )
    for row, masked, decision in report.refused[:2]:
        echo(f"   第 {row} 行 row {row} {masked}: {decision.reason_zh()}")
    row, masked, _ = report.refused[-1]
    refused = people[row - 2]
    override(
        engine,
        DEMO_SITTING,
        refused.id_number,
        vault,
        reason="经评价机构集体研究，其工作业绩突出，同意破格受理（演示）",
        admin="演示管理员",
        shuffle_seed=simulate.seeds(rng),
    )
    echo(f"   破格受理 override with a recorded reason: {masked}")
    refused_numbers = {people[r - 2].id_number for r, _, _ in report.refused[:-1]}
    return [p for p in people if p.id_number not in refused_numbers]


def simulate_sitting(
    engine: Engine,
    directory: Path,
    people: list[simulate.SimulatedCandidate],
    story: Story,
    echo: Callable[[str], None],
) -> Path:
    """The sitting's simulated candidates: answer sheets, blind marks, grading, statistics."""
    folder = directory / "sitting"
    rng = np.random.default_rng(20261128)
    _, copies = candidate_copies(engine, DEMO_SITTING)
    ability = {p.admission_no: p.ability for p in people}
    views = {a: view for a, (_, view) in copies.items()}
    form_a = sorted((p for p in people if p.form == "A"), key=lambda p: p.ability)
    copier = (form_a[0].admission_no, form_a[1].admission_no)  # the two weakest of form A collude
    sheets = simulate.write_sheets(folder / "模拟答题卡.csv", views, ability, rng, copier=copier)
    import_sheets(engine, DEMO_SITTING, sheets, actor="demo")
    scripts = [
        (s.code, s.maximum, ability[_admission(copies, s.registration_id)])
        for s in marking_list(engine, DEMO_SITTING)
    ]
    mark_files = simulate.write_marks(folder, scripts, rng)
    for path in mark_files:
        import_marks(engine, DEMO_SITTING, path, actor="demo")
    graded = grade_sitting(engine, DEMO_SITTING, actor="demo")
    echo(
        f"5. 模拟考试 / simulated sitting {DEMO_SITTING}: {len(people)} 名模拟考生 simulated candidates, "
        f"{len(mark_files)} 轮评分 marking rounds; 合格 passed {graded.passed}/{graded.graded}"
    )
    data = exam_report(engine, DEMO_SITTING)
    report = render_exam_report(data, folder / f"{DEMO_SITTING}-统计分析.pdf")
    export_responses(engine, DEMO_SITTING, folder / f"{DEMO_SITTING}-作答明细.csv")
    flagged = sum(1 for i in data.items if i.flags)
    pairs = ", ".join(f"{p.a}–{p.b} (z {p.z:.1f})" for p in data.similar_pairs) or "无 none"
    echo(
        f"   信度 α (CIC) {data.cic:.1f}; 需复核试题 items to review {flagged}/{len(data.items)}; "
        f"雷同卷 similar pairs: {pairs}"
    )
    return report


def _admission(copies: dict[str, Any], registration_id: int) -> str:
    return next(a for a, (reg, _) in copies.items() if reg.id == registration_id)


def publish_results(
    engine: Engine, directory: Path, story: Story, echo: Callable[[str], None]
) -> Path:
    """The pass list published for the notice period; one objection dismissed, one upheld."""
    report = publish(
        engine,
        DEMO_SITTING,
        directory / "notices",  # where `certify serve --data-dir DIRECTORY` serves them
        days=NOTICE_DAYS,
        opened_on=story.published,
        actor="demo",
    )
    filed = story.published + timedelta(days=1)
    dismissed = file_objection(
        engine,
        DEMO_SITTING,
        report.listed[0].admission_no,
        reason="反映该考生未实际从事相关工作（演示）",
        filed_by="实名举报人（演示）",
        filed_on=filed,
        actor="demo",
    )
    upheld = file_objection(
        engine,
        DEMO_SITTING,
        report.listed[1].admission_no,
        reason="反映该考生存在替考行为（演示）",
        filed_by="实名举报人（演示）",
        filed_on=filed,
        actor="demo",
    )
    assert dismissed.id is not None and upheld.id is not None
    resolve_objection(
        engine,
        dismissed.id,
        decision=ObjectionState.DISMISSED,
        resolution="经核实，其工作证明与社保记录一致，异议不成立（演示）",
        admin="演示管理员",
    )
    resolve_objection(
        engine,
        upheld.id,
        decision=ObjectionState.UPHELD,
        resolution="经核查考场录像，异议属实，不予发证（演示）",
        admin="演示管理员",
    )
    echo(
        f"6. 公示 / pass list published: {len(report.listed)} 人 listed, "
        f"{report.opened_on} 至 to {report.closes_on} -> {report.html.name}, {report.pdf.name}; "
        f"异议 objections: 1 {ObjectionState.DISMISSED.zh} {ObjectionState.DISMISSED}, "
        f"1 {ObjectionState.UPHELD.zh} {ObjectionState.UPHELD}"
    )
    return report.pdf


@dataclass(frozen=True)
class DemoKeys:
    passphrase: str
    trust: TrustList
    document: dict[str, Any]


def certify_passed(
    engine: Engine, directory: Path, story: Story, echo: Callable[[str], None]
) -> tuple[list[Path], DemoKeys]:
    """Keys, trust list, certificates for the passed, and one verified from its PDF.

    The demo's keys are protected by a passphrase made for this run and kept nowhere.
    """
    passphrase = secrets.token_urlsafe(24)
    create_key(
        engine,
        role="root",
        issuer="DEMO-HRSS",
        name="示例省人力资源和社会保障厅（演示）",
        passphrase=passphrase,
        actor="demo",
    )
    create_key(
        engine,
        role="institution",
        issuer=EVALUATOR[0],
        name=EVALUATOR[1],
        passphrase=passphrase,
        scope={"kinds": [CertificateKind.LEVEL.code], "occupations": ["ai"], "levels": []},
        actor="demo",
    )
    create_key(
        engine,
        role="institution",
        issuer=TRAINER[0],
        name=TRAINER[1],
        passphrase=passphrase,
        scope={"kinds": [CertificateKind.TRAINING.code], "occupations": ["ai"], "levels": []},
        algorithm=SM2(),  # this institution chose the national commercial algorithms
        actor="demo",
    )
    document = build_trust_list(engine, passphrase)
    (directory / "trust-list.json").write_text(
        json.dumps(document, ensure_ascii=False, indent=2), "utf-8"
    )
    out = directory / "certificates"
    report = Issuer.open(engine, EVALUATOR[0], passphrase, out=out, actor="demo").issue_level(
        DEMO_SITTING, today=story.today
    )
    first = out / f"{report.issued[0]}.pdf"
    trust = load_trust_list(document, pinned_root_kid=document["root_kid"])
    fresh = load_revocation_list(revocation_list(engine, passphrase), trust)
    verdict = verify_token(read_token_text(str(first)), trust, fresh)
    echo(
        f"7. 公示期满发证 / notice period over, certificates: {len(report.issued)} 张 issued, "
        f"{len(report.held)} 张因异议属实不发 held by an upheld objection -> {out}"
    )
    echo(f"8. 从 PDF 扫码验证 / QR read back from {first.name}: {verdict.verdict.value}")
    return [out / f"{serial}.pdf" for serial in report.issued], DemoKeys(
        passphrase, trust, document
    )


def lookup_and_revoke(
    engine: Engine,
    directory: Path,
    vault: IdentityVault,
    people: list[simulate.SimulatedCandidate],
    issued: list[Path],
    keys: DemoKeys,
    echo: Callable[[str], None],
) -> None:
    """A committee looks a holder up by ID number; one certificate is revoked, and it shows."""
    serial = issued[-1].stem
    holders = {
        c.serial: admission_no for c, admission_no in sitting_certificate_rows(engine, DEMO_SITTING)
    }
    person = next(p for p in people if p.admission_no == holders[serial])
    before = credentials(engine, vault, person.id_number)[0]
    echo(
        f"9. 职称评审查询 / committee lookup by ID number {before.id_number_masked}: {serial} "
        f"{before.status.zh} {before.status}; " + "；".join(e.zh for e in before.eligibility)
    )
    change_status(engine, serial, StatusChange.REVOKE, "演示：模拟吊销", actor="demo")
    revocations = revocation_list(engine, keys.passphrase, max_age_hours=24)
    (directory / "revocations.json").write_text(
        json.dumps(revocations, ensure_ascii=False, indent=2), "utf-8"
    )
    last = verify_token(
        read_token_text(str(issued[-1])), keys.trust, load_revocation_list(revocations, keys.trust)
    )
    after = credentials(engine, vault, person.id_number)[0]
    withdrawn = sum(e.status == RecordStatus.WITHDRAWN for e in after.eligibility)
    echo(
        f"10. 吊销一张 / revoked one: {serial} → {last.verdict.value}; "
        f"资格记录撤销 eligibility records withdrawn {withdrawn}/{len(after.eligibility)}; "
        f"离线验证 verify offline: certify verify {issued[0]} --trust-list {directory / 'trust-list.json'} "
        f"--revocations {directory / 'revocations.json'} --root-kid {keys.trust.root_kid}"
    )


def train(
    engine: Engine,
    directory: Path,
    vault: IdentityVault,
    story: Story,
    keys: DemoKeys,
    echo: Callable[[str], None],
) -> list[Path]:
    """A training course to its end: enrolment, attendance, assessment, training certificates."""
    folder = directory / "training"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261129)
    hours = conditions().training_hours[Level.JUNIOR]
    create_course(
        engine,
        DEMO_COURSE,
        occupation="ai",
        level="junior",
        hours=hours,
        institution=TRAINER[1],
        syllabus=["人工智能基础", "机器学习", "深度学习应用", "人工智能伦理与安全"],
        actor="demo",
    )
    trainees = simulate.candidates(DEMO_TRAINEES, ["A"], rng, prefix="TRN", area="370203")
    trainees = [replace(t, name=f"模拟学员{n}") for n, t in enumerate(trainees, start=1)]
    enrol(engine, DEMO_COURSE, simulate.write_trainees(folder / "报名.csv", trainees), vault)
    half = hours / 2
    for session_no, missed in ((1, {}), (2, {0: 10.0})):  # the first trainee misses 10 hours
        attended = {t.id_number: half - missed.get(n, 0.0) for n, t in enumerate(trainees)}
        record_attendance(
            engine,
            DEMO_COURSE,
            simulate.write_hours(folder / f"考勤-{session_no}.csv", attended),
            vault,
        )
    scores = {
        t.id_number: (52.0 if n == 1 else float(rng.integers(65, 98)))
        for n, t in enumerate(trainees)
    }
    assessed = assess(
        engine, DEMO_COURSE, simulate.write_scores(folder / "结业考核.csv", scores), vault
    )
    issuer = Issuer.open(
        engine, TRAINER[0], keys.passphrase, out=folder / "certificates", actor="demo"
    )
    report = issuer.issue_training(DEMO_COURSE, today=story.today)
    first = folder / "certificates" / f"{report.issued[0]}.pdf"
    fresh = load_revocation_list(revocation_list(engine, keys.passphrase), keys.trust)
    verdict = verify_token(read_token_text(str(first)), keys.trust, fresh)
    echo(
        f"11. 培训 / training course {DEMO_COURSE} ({hours} 学时 hours): {DEMO_TRAINEES} 人报名 enrolled, "
        f"{assessed.completed} 人结业 completed -> {len(report.issued)} 张培训合格证书 training "
        f"certificates with 培训补贴 subsidy records; {first.name}: {verdict.verdict.value}"
    )
    return [folder / "certificates" / f"{serial}.pdf" for serial in report.issued]


def read_back_every_pdf(
    engine: Engine, pdfs: list[Path], keys: DemoKeys, echo: Callable[[str], None]
) -> None:
    """Every certificate of the story read back from the QR code of its PDF and verified with a
    fresh revocation list; the verdicts counted per signature algorithm (the one the trust list
    states for the signing key). Raises DemoError if any is not genuine."""
    fresh = load_revocation_list(revocation_list(engine, keys.passphrase), keys.trust)
    counts: Counter[tuple[str, str]] = Counter()
    for pdf in pdfs:
        text = read_token_text(str(pdf))
        report = verify_token(text, keys.trust, fresh)
        if not report.genuine:
            raise DemoError(f"{pdf.name}: {report.verdict.value}")
        key = keys.trust.keys[parse_token(from_text(text)).kid.hex()]
        counts[ALGORITHMS[key.alg].label, report.verdict.value] += 1
    suites = sorted({label for label, _ in counts})
    echo(
        "    所有证书从 PDF 扫码验证 / every certificate read back from its PDF's QR code: "
        + "; ".join(
            f"{label} "
            + ", ".join(
                f"{verdict} {n}" for (lb, verdict), n in sorted(counts.items()) if lb == label
            )
            for label in suites
        )
    )


def check_demo_log(engine: Engine, directory: Path, keys: DemoKeys) -> LogReport:
    """The audit log against its checkpoints, under the trust list's keys, and against the
    checkpoints published with the trust and revocation lists."""
    published = [
        Checkpoint.from_document(json.loads((directory / name).read_text("utf-8")), name)
        for name in ("trust-list.json", "revocations.json")
    ]
    return check_audit_log(engine, keys.trust, published=published)


def export_records(
    engine: Engine, directory: Path, vault: IdentityVault, echo: Callable[[str], None]
) -> Path:
    folder = directory / "exports"
    hours = export_ce_hours(engine, vault, folder / "继续教育学时.csv")
    rows = export_eligibility(engine, folder / "资格衔接.xlsx")
    echo(
        f"    导出 exports: 继续教育学时 CE hours {hours} 行 rows, 资格衔接 eligibility {rows} 行 rows -> {folder}"
    )
    return folder
