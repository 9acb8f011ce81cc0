"""Benchmark: signing, verifying and issuing certificates (sign + QR + PDF + database).

    python3 bench/certificates.py [--count 10000] [--quick] [--repeat 5] [--profile-count 200]

Every figure runs against a baseline in the same process, on a fresh SQLite database in a
temporary folder:

1. **Sign**: ``sign_token`` on realistic claims (Chinese names of two to four characters, 13-digit
   serials) → ``sign_per_s``. Baseline: a bare Ed25519 sign (``cryptography``, key loaded once)
   of the very bytes ``sign_token`` signs (the COSE Sig_structure) → ``raw_sign_per_s``;
   ``raw_sign_ratio`` = raw / ``sign_token``. Ed25519 is deterministic: both signatures must be
   equal.
2. **Verify**: ``verify_token`` on the verification URLs, every check, with the root-signed trust
   list loaded and a revocation list of 1,000 entries → ``verify_per_s``; every verdict must be
   ``genuine``. Baseline: a bare Ed25519 verify of the same signed bytes → ``raw_verify_per_s``;
   ``raw_verify_ratio`` = raw / ``verify_token`` (what the full check list costs).
3. **Issue**: ``--count`` passed candidates of one sitting (rows inserted in bulk: grading is
   not measured), then the key opened (``Issuer.open``) and ``issue_level`` end to end —
   serials, signing, QR, PDF, audit entries, a transaction per batch of 50, PDFs rendered in one process per CPU
   (``render_processes``) → ``issue_s``; ``issue_10k_s`` is that figure when ``--count`` is
   10,000, else an extrapolation (``issue_10k_extrapolated`` says so). Goal: ≤ 60 s.
   Baseline: the parts alone — ``sign_token`` and ``render_certificate`` on their own (a
   sample, scaled) → ``parts_alone_s``; ``issue_vs_parts_ratio`` = issue / parts alone;
   ``qr_matrix`` alone → ``qr_matrix_alone_ms``, against the ``qrcode`` library making the
   same symbol its own way → ``qrcode_alone_ms`` and ``qr_speedup`` (the two matrices must be
   equal); ``rl_accel`` says whether reportlab's C accelerator is installed. Then a cProfile of
   issuing ``--profile-count`` certificates in one process on another fresh database splits
   the time into signing, PDF (QR included) and database (the profiler inflates pure-Python
   code: the "alone" figures are the real ms).
4. **PDF and QR**: ``pdf_kb`` = mean size of the PDFs written; ``qr_version`` = the QR version
   (error correction M) of a certificate's verification URL, and its length. ``zip_s``: the
   sitting's ``--count`` PDFs in one ZIP as the certificates page sends it (``sitting_zip``,
   each PDF checked against its fingerprint; ``zip_mb`` its size); baseline: the same files
   stored in a ZIP the same way unchecked → ``zip_plain_s``, ``zip_vs_plain_ratio``.
5. **SM2 with SM3**, the same three steps in the same run for an institution whose key is SM2:
   ``sm2_sign_per_s`` (``sign_token``; baseline: a bare Tongsuo SM2 sign, key loaded once, of
   the same bytes → ``sm2_raw_sign_per_s``; SM2 signatures are randomised, so the check is that
   every ``sign_token`` signature verifies under the bare key), ``sm2_verify_per_s``
   (``verify_token``, every check; goal ≥ 1,500/s; baseline: a bare Tongsuo verify →
   ``sm2_raw_verify_per_s``), ``sm2_issue_10k_s`` (``--count`` more certificates of another
   sitting, issued end to end with the SM2 key; goal ≤ 60 s) and ``sm2_qr_version`` (≤ 10).

``--quick`` shrinks everything (1,000 certificates, smaller samples) for a smoke run.
Prints one line per figure, then LAST one JSON object with every figure; exits 1 when a
correctness check fails.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import random
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cbor2
import qrcode  # type: ignore[import-untyped, unused-ignore]
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from qrcode.constants import ERROR_CORRECT_M  # type: ignore[import-untyped, unused-ignore]
from reportlab.lib import rl_accel  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select
from tongsuopy.crypto import hashes
from tongsuopy.crypto.asymciphers import ec

from bench import institution
from certify.certificates.document import render_certificate
from certify.certificates.files import SPOOL_IN_MEMORY, sitting_zip
from certify.certificates.issuance import Issuer, render_processes
from certify.certificates.qr import qr_matrix
from certify.infra import db
from certify.keys.publish import build_trust_list
from certify.keys.store import create_key, decrypt_private, signing_material
from certify.registration.identity import IdentityVault, check_character, mask_id_number
from certify.signing.algorithms import DEFAULT, SM2, Algorithm, key_id
from certify.signing.token import (
    HEADER_ALG,
    HEADER_KID,
    Claims,
    Kind,
    parse_token,
    sign_token,
    text_url,
    token_url,
)
from certify.signing.trust import load_trust_list
from certify.signing.verify import load_revocation_list, sign_revocation_list, verify_token
from schemas.certificates import CertificateView
from schemas.enums import ApplicationDecision, CertificateKind, CertificateStatus, Verdict
from schemas.tables import (
    Candidate,
    Certificate,
    Publication,
    PublicationEntry,
    Registration,
    Result,
    SigningKey,
    Sitting,
)

PASSPHRASE = "bench passphrase, not a secret"
SITE = "https://verify.example.cn"
ROOT, INSTITUTION, SM2_INSTITUTION = "SD-HRSS", "SD-EVAL-01", "SD-EVAL-SM2"
ROOT_NAME, INSTITUTION_NAME = "山东省人力资源和社会保障厅", "山东省数字技术工程师评价中心"
SM2_INSTITUTION_NAME = "山东省数字技术工程师评价中心（国密）"
OCCUPATION, LEVEL = "ai", "junior"
TODAY = date.today()
"""Issue date of the certificates: today, as the keys are made today (a fixed date would fall
outside their validity once the calendar moves on)."""
GOAL_10K_S = 60.0
GOAL_SM2_VERIFY_PER_S = 1_500.0

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "慕容", "皇甫", "令狐")
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅丹玲晓辉鑫宇浩然子轩梓涵一诺欣怡雨泽思远博文嘉怡"


def chinese_names(count: int, seed: int) -> list[str]:
    """Realistic names: mostly 2–3 characters, a few with a compound surname (up to 4)."""
    rng = random.Random(seed)
    names = []
    for _ in range(count):
        surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.03 else rng.choice(SURNAMES)
        names.append(surname + "".join(rng.choices(GIVEN, k=1 if rng.random() < 0.3 else 2)))
    return names


def rates(fn: Callable[[], object], count: int, repeat: int) -> list[float]:
    """Operations per second of ``fn`` (which does ``count`` operations), ``repeat`` times."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(count / (time.perf_counter() - start))
    return out


def fresh_engine(path: Path) -> Engine:
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    return engine


def make_keys(engine: Engine) -> None:
    """The root (Ed25519), and two institutions for the same scope: one Ed25519, one SM2."""
    create_key(engine, role="root", issuer=ROOT, name=ROOT_NAME, passphrase=PASSPHRASE)
    for issuer, name, algorithm in (
        (INSTITUTION, INSTITUTION_NAME, DEFAULT),
        (SM2_INSTITUTION, SM2_INSTITUTION_NAME, SM2()),
    ):
        institution(engine, issuer)
        create_key(
            engine,
            role="institution",
            issuer=issuer,
            name=name,
            passphrase=PASSPHRASE,
            scope={"kinds": [int(Kind.LEVEL)], "occupations": [OCCUPATION], "levels": []},
            algorithm=algorithm,
        )


def passed_sitting(engine: Engine, code: str, count: int, seed: int) -> None:
    """A sitting with ``count`` candidates who all passed and whose pass list was published a
    month ago: bulk inserts, no grading pipeline."""
    vault = IdentityVault(b"b" * 32)
    now = datetime.now(UTC)
    with Session(engine) as session:
        sitting = Sitting(code=code, occupation=OCCUPATION, level=LEVEL, institution=INSTITUTION)
        session.add(sitting)
        session.flush()
        assert sitting.id is not None
        # Published a month ago: the notice period is over.
        publication = Publication(
            sitting_id=sitting.id,
            opened_on=TODAY - timedelta(days=30),
            closes_on=TODAY - timedelta(days=24),
            listed=count,
        )
        session.add(publication)
        session.commit()
        sitting_id, publication_id = sitting.id, publication.id
        base = session.exec(select(Candidate.id).order_by(col(Candidate.id).desc())).first() or 0
    candidates, registrations, results, listed = [], [], [], []
    for n, name in enumerate(chinese_names(count, seed)):
        first17 = f"370102{1975 + n % 30}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
        number = first17 + check_character(first17)
        ident = base + n + 1
        candidates.append(
            {
                "id": ident,
                "name": name,
                "id_number_cipher": vault.encrypt(number),
                "id_number_digest": vault.digest(f"{code}-{n}-{number}"),  # unique per row
                "id_number_masked": mask_id_number(number),
                "created_at": now,
            }
        )
        registrations.append(
            {
                "id": ident,
                "sitting_id": sitting_id,
                "candidate_id": ident,
                "admission_no": f"{code}{n + 1:06d}",
                "shuffle_seed": n,
                "status": ApplicationDecision.ACCEPTED,
                "decision_reason": "",
                "created_at": now,
            }
        )
        listed.append({"publication_id": publication_id, "registration_id": ident})
        results.append(
            {
                "registration_id": ident,
                "part_scores": {"theory": 80.0, "practice": 75.0},
                "total": 77.5,
                "passed": True,
                "computed_at": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(Candidate), candidates)
        conn.execute(insert(Registration), registrations)
        conn.execute(insert(Result), results)
        conn.execute(insert(PublicationEntry), listed)


def sample_claims(count: int, seed: int, issuer: str = INSTITUTION) -> list[Claims]:
    return [
        Claims(f"3726011{n + 1:06d}", Kind.LEVEL, name, OCCUPATION, LEVEL, TODAY, issuer)
        for n, name in enumerate(chinese_names(count, seed))
    ]


def signed_bytes(claims: Claims, public: bytes, algorithm: Algorithm = DEFAULT) -> bytes:
    """What sign_token signs: the COSE Sig_structure (RFC 9052 §4.4)."""
    protected = cbor2.dumps({HEADER_ALG: algorithm.cose_id, HEADER_KID: key_id(public)})
    return cbor2.dumps(["Signature1", protected, b"", claims.to_cbor()])


def revocation_entries(count: int) -> list[dict[str, Any]]:
    """``count`` revoked or suspended serials, none of them among the tokens verified."""
    since = datetime(2026, 10, 1, tzinfo=UTC)
    return [
        {
            "serial": f"3725011{n + 1:06d}",
            "status": CertificateStatus.REVOKED if n % 4 else CertificateStatus.SUSPENDED,
            "since": (since + timedelta(minutes=n)).isoformat(),
            "reason": "考试违纪" if n % 2 else "申报材料不实",
        }
        for n in range(count)
    ]


def qr_version(url: str) -> int:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    code.add_data(url)
    code.make(fit=True)
    return int(code.version)


def qrcode_matrix(url: str) -> list[list[bool]]:
    """The baseline: the ``qrcode`` library's own symbol (all eight masks laid out and scored in
    Python), quiet zone included."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    code.add_data(url)
    code.make(fit=True)
    return [[bool(m) for m in row] for row in code.get_matrix()]


def parts_alone(engine: Engine, folder: Path, count: int) -> tuple[float, float, float, bool]:
    """Seconds per certificate of render_certificate alone, of qr_matrix alone and of the
    ``qrcode`` library alone, on views of certificates just issued; and whether the two
    symbols agree."""
    with Session(engine) as session:
        rows = list(
            session.exec(
                select(Certificate, Candidate)
                .join(Candidate, col(Candidate.id) == col(Certificate.candidate_id))
                .limit(count)
            )
        )
    views = [
        CertificateView(
            serial=cert.serial,
            kind_name=CertificateKind.LEVEL.zh,
            holder=cert.holder_name,
            id_number_masked=person.id_number_masked,
            occupation_name="人工智能工程技术人员",
            level_name="初级",
            issued=cert.issued_on,
            issuer_name=INSTITUTION_NAME,
            authority_name=ROOT_NAME,
            url=text_url(SITE, cert.token),
            verify_site=SITE,
            signature_algorithm=DEFAULT.label,
        )
        for cert, person in rows
    ]
    folder.mkdir(exist_ok=True)
    start = time.perf_counter()
    for n, view in enumerate(views):
        render_certificate(view, folder / f"{n}.pdf")
    render = (time.perf_counter() - start) / len(views)
    start = time.perf_counter()
    ours = [qr_matrix(view.url) for view in views]
    qr = (time.perf_counter() - start) / len(views)
    start = time.perf_counter()
    theirs = [qrcode_matrix(view.url) for view in views]
    library = (time.perf_counter() - start) / len(views)
    same = all(a.tolist() == b for a, b in zip(ours, theirs, strict=True))
    return render, qr, library, same


PROFILE_GROUPS = [
    # (label, file suffix, function name): cumulative times, read from pstats.
    ("Issuer.issue_level (whole run)", "certify/certificates/issuance.py", "issue_level"),
    ("  batches (_issue_batch)", "certify/certificates/issuance.py", "_issue_batch"),
    ("    signing: sign_token", "certify/signing/token.py", "sign_token"),
    ("    PDF: _pdf", "certify/certificates/issuance.py", "_pdf"),
    ("      of which QR matrix", "certify/certificates/qr.py", "qr_matrix"),
    ("      of which drawing the QR", "certify/certificates/document.py", "_qr"),
    ("      of which the statement paragraph", "certify/certificates/document.py", "_statement"),
    ("      of which the particulars table", "certify/certificates/document.py", "_fields"),
    ("      of which the footer paragraphs", "certify/certificates/document.py", "_footer"),
    ("      of which canvas.save (font subset, write)", "reportlab/pdfgen/canvas.py", "save"),
    ("    view: _view (token URL, masks)", "certify/certificates/issuance.py", "_view"),
    ("    database: allocate_serials", "certify/certificates/issuance.py", "allocate_serials"),
    (
        "    database: audit.append_many (read last, flush)",
        "certify/infra/audit_log.py",
        "append_many",
    ),
    ("    database: commit (flush + COMMIT)", "sqlalchemy/orm/session.py", "commit"),
    (
        "      of which sqlite3 COMMIT (fsync)",
        "~",
        "<method 'commit' of 'sqlite3.Connection' objects>",
    ),
]


def profile_issue(folder: Path, count: int, seed: int) -> dict[str, Any]:
    """cProfile of issuing ``count`` certificates on a fresh database; cumulative seconds."""
    engine = fresh_engine(folder / "profile.db")
    make_keys(engine)
    passed_sitting(engine, "PROFILE", count, seed)
    profiler = cProfile.Profile()
    profiler.enable()
    Issuer.open(
        engine, INSTITUTION, PASSPHRASE, out=folder / "profile-certs", site=SITE, processes=0
    ).issue_level("PROFILE", today=TODAY)
    profiler.disable()
    engine.dispose()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    cumulative: dict[str, float] = {}
    for label, suffix, name in PROFILE_GROUPS:
        found = [
            v[3]
            for (file, _, func), v in stats.items()
            if func == name and (file == suffix or file.endswith(suffix))
        ]
        cumulative[label] = max(found) if found else 0.0
    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    return {
        "cumulative": cumulative,
        "top_tottime": [
            (f"{Path(file).name}:{line}({func})", v[2]) for (file, line, func), v in top
        ],
    }


def issue_sitting(
    engine: Engine, issuer_code: str, sitting: str, count: int, out: Path, failures: list[str]
) -> float:
    """Seconds to open ``issuer_code``'s key and issue every certificate of ``sitting`` end to
    end (a failure noted unless exactly ``count`` are issued)."""
    print(f"issuing {count} certificates ({issuer_code}) …", file=sys.stderr, flush=True)
    start = time.perf_counter()
    issuer = Issuer.open(
        engine, issuer_code, PASSPHRASE, out=out, site=SITE, progress=sys.stderr.isatty()
    )
    report = issuer.issue_level(sitting, today=TODAY)
    seconds = time.perf_counter() - start
    if len(report.issued) != count:
        failures.append(f"{issuer_code} issued {len(report.issued)} certificates, not {count}")
    return seconds


def zip_sitting(engine: Engine, code: str, folder: Path) -> tuple[float, float]:
    """Seconds for :func:`certify.certificates.files.sitting_zip` (the ZIP the page sends), and
    its size in MB."""
    start = time.perf_counter()
    with sitting_zip(engine, code, folder, actor="bench") as spool:
        size = spool.seek(0, os.SEEK_END)
    return time.perf_counter() - start, size / 1e6


def zip_plainly(folder: Path) -> float:
    """Seconds to store every PDF of ``folder`` in a ZIP spooled the same way, unchecked."""
    start = time.perf_counter()
    with (
        tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool,
        zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive,
    ):
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.endswith(".pdf"):
                archive.write(entry.path, entry.name)
    return time.perf_counter() - start


def _der(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


SM2_WITH_SM3 = ec.ECDSA(hashes.SM3())


def sm2_figures(
    engine: Engine,
    folder: Path,
    count: int,
    batch: int,
    args: argparse.Namespace,
    trust: Any,
    revocations: Any,
    failures: list[str],
) -> dict[str, Any]:
    """Sign, verify and issue with the SM2 institution's key, each against a bare Tongsuo call
    on the same bytes; the QR version of one of its certificates."""
    figures: dict[str, Any] = {}
    key, private = signing_material(engine, SM2_INSTITUTION, PASSPHRASE)
    public = key.public_key
    claims = sample_claims(batch, args.seed, SM2_INSTITUTION)
    messages = [signed_bytes(c, public, SM2()) for c in claims]
    tokens: list[bytes] = []

    def sign_all() -> None:
        tokens[:] = [sign_token(c, private, public, SM2()) for c in claims]

    bare_private = ec.derive_private_key(int.from_bytes(private, "big"), ec.SM2())
    bare_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), b"\x04" + public)

    def holds(signed: bytes, signature: bytes) -> bool:
        try:
            bare_public.verify(_der(signature), signed, SM2_WITH_SM3)
        except Exception:
            return False
        return True

    def raw_sign_all() -> None:
        for m in messages:
            bare_private.sign(m, SM2_WITH_SM3)

    sign_all()
    raw_sign_all()
    figures["sm2_sign_per_s"] = statistics.median(rates(sign_all, batch, args.repeat))
    figures["sm2_raw_sign_per_s"] = statistics.median(rates(raw_sign_all, batch, args.repeat))
    parsed = [parse_token(t) for t in tokens]
    if not all(holds(p.signed_bytes, p.signature) for p in parsed):
        failures.append("an SM2 sign_token signature does not verify under the bare key")

    urls = [token_url(SITE, t) for t in tokens]
    verdicts: list[str] = []

    def verify_all() -> None:
        verdicts[:] = [verify_token(u, trust, revocations).verdict for u in urls]

    def raw_verify_all() -> None:
        for p in parsed:
            holds(p.signed_bytes, p.signature)

    verify_all()
    figures["sm2_verify_per_s"] = statistics.median(rates(verify_all, batch, args.repeat))
    figures["sm2_raw_verify_per_s"] = statistics.median(rates(raw_verify_all, batch, args.repeat))
    figures["sm2_verify_goal_per_s"] = GOAL_SM2_VERIFY_PER_S
    if set(verdicts) != {Verdict.GENUINE}:
        failures.append(f"SM2 verify_token verdicts {sorted(set(verdicts))}, expected genuine")

    passed_sitting(engine, "BENCH-SM2", count, args.seed + 2)
    figures["sm2_issue_s"] = issue_sitting(
        engine, SM2_INSTITUTION, "BENCH-SM2", count, folder / "certs-sm2", failures
    )
    figures["sm2_issue_10k_s"] = figures["sm2_issue_s"] * 10_000 / count
    with Session(engine) as session:
        first = session.exec(
            select(Certificate).where(Certificate.kid == key.kid).order_by(col(Certificate.serial))
        ).first()
    assert first is not None
    if first.pdf_digest_alg != "sm3":
        failures.append(f"an SM2 certificate's PDF fingerprint is {first.pdf_digest_alg}, not sm3")
    url = text_url(SITE, first.token)
    figures["sm2_url_chars"] = len(url)
    figures["sm2_qr_version"] = qr_version(url)
    if figures["sm2_qr_version"] > 10:
        failures.append(f"SM2 QR version {figures['sm2_qr_version']} > 10")
    if verify_token(url, trust, revocations).verdict != Verdict.GENUINE:
        failures.append("an issued SM2 certificate does not verify")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, help="certificates to issue (default 10000)")
    parser.add_argument("--quick", action="store_true", help="1,000 certificates, small samples")
    parser.add_argument("--repeat", type=int, default=5, help="throughput repeats (median)")
    parser.add_argument("--profile-count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    count = args.count or (1_000 if args.quick else 10_000)
    batch = 500 if args.quick else 2_000
    render_sample = 30 if args.quick else 100
    failures: list[str] = []
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = fresh_engine(folder / "bench.db")
        make_keys(engine)
        key, private = signing_material(engine, INSTITUTION, PASSPHRASE)
        public = key.public_key

        # 1. sign_token against a bare Ed25519 sign of the same bytes.
        claims = sample_claims(batch, args.seed)
        tokens: list[bytes] = []

        def sign_all() -> None:
            tokens[:] = [sign_token(c, private, public, DEFAULT) for c in claims]

        messages = [signed_bytes(c, public) for c in claims]
        raw_key = Ed25519PrivateKey.from_private_bytes(private)
        raw_signatures: list[bytes] = []

        def raw_sign_all() -> None:
            raw_signatures[:] = [raw_key.sign(m) for m in messages]

        sign_all()  # warm up
        raw_sign_all()
        sign_rates = rates(sign_all, batch, args.repeat)
        raw_sign_rates = rates(raw_sign_all, batch, args.repeat)
        if [parse_token(t).signature for t in tokens] != raw_signatures:
            failures.append("sign_token's signatures differ from the bare Ed25519 ones")
        figures["sign_per_s"] = statistics.median(sign_rates)
        figures["raw_sign_per_s"] = statistics.median(raw_sign_rates)
        figures["raw_sign_ratio"] = figures["raw_sign_per_s"] / figures["sign_per_s"]

        # 2. verify_token (every check) against a bare Ed25519 verify.
        with Session(engine) as session:
            root = session.exec(select(SigningKey).where(SigningKey.role == "root")).one()
        trust = load_trust_list(build_trust_list(engine, PASSPHRASE), pinned_root_kid=root.kid)
        assert root.private_key_encrypted is not None
        revocations = load_revocation_list(
            sign_revocation_list(
                revocation_entries(1_000),
                decrypt_private(root.private_key_encrypted, PASSPHRASE),
                DEFAULT,
                issued_at=datetime.now(UTC),
            ),
            trust,
        )
        urls = [token_url(SITE, t) for t in tokens]
        parsed = [parse_token(t) for t in tokens]
        raw_public = Ed25519PublicKey.from_public_bytes(public)
        verdicts: list[str] = []

        def verify_all() -> None:
            verdicts[:] = [verify_token(u, trust, revocations).verdict for u in urls]

        def raw_verify_all() -> None:
            for p in parsed:
                raw_public.verify(p.signature, p.signed_bytes)

        verify_all()
        raw_verify_all()
        verify_rates = rates(verify_all, batch, args.repeat)
        raw_verify_rates = rates(raw_verify_all, batch, args.repeat)
        if set(verdicts) != {Verdict.GENUINE}:
            failures.append(f"verify_token verdicts {sorted(set(verdicts))}, expected genuine")
        figures["verify_per_s"] = statistics.median(verify_rates)
        figures["raw_verify_per_s"] = statistics.median(raw_verify_rates)
        figures["raw_verify_ratio"] = figures["raw_verify_per_s"] / figures["verify_per_s"]
        figures["revocation_entries"] = len(revocations.entries)

        # 3. Issue ``count`` certificates end to end.
        start = time.perf_counter()
        passed_sitting(engine, "BENCH", count, args.seed)
        figures["setup_rows_s"] = time.perf_counter() - start
        out = folder / "certs"
        figures["issue_s"] = issue_sitting(engine, INSTITUTION, "BENCH", count, out, failures)
        figures["certificates_per_s"] = count / figures["issue_s"]
        figures["issue_10k_s"] = figures["issue_s"] * 10_000 / count
        figures["issue_10k_extrapolated"] = count != 10_000
        figures["issue_10k_goal_s"] = GOAL_10K_S

        figures["render_processes"] = render_processes(count)

        # Baseline: the parts alone.
        render_s, qr_s, library_s, same = parts_alone(engine, folder / "alone", render_sample)
        figures["render_alone_ms"], figures["qr_matrix_alone_ms"] = render_s * 1e3, qr_s * 1e3
        figures["qrcode_alone_ms"] = library_s * 1e3
        figures["qr_speedup"] = library_s / qr_s
        if not same:
            failures.append("qr_matrix and the qrcode library made different symbols")
        figures["rl_accel"] = rl_accel.fp_str is not getattr(rl_accel, "_py_fp_str", None)
        figures["parts_alone_s"] = count * (
            1 / figures["sign_per_s"] + figures["render_alone_ms"] / 1e3
        )
        figures["issue_vs_parts_ratio"] = figures["issue_s"] / figures["parts_alone_s"]

        # 4. PDF size and QR version.
        sizes = [entry.stat().st_size for entry in os.scandir(out) if entry.name.endswith(".pdf")]
        if len(sizes) != count:
            failures.append(f"{len(sizes)} PDFs written, expected {count}")
        figures["pdf_kb"] = statistics.fmean(sizes) / 1024 if sizes else 0.0
        with Session(engine) as session:
            first = session.exec(select(Certificate).order_by(col(Certificate.serial))).first()
        assert first is not None
        url = text_url(SITE, first.token)
        figures["url_chars"] = len(url)
        figures["qr_version"] = qr_version(url)

        # 4b. The sitting's certificates as one ZIP, as the web page sends it (every PDF checked
        # against its fingerprint), against zipping the folder as it is (no check).
        figures["zip_s"], figures["zip_mb"] = zip_sitting(engine, "BENCH", out)
        figures["zip_plain_s"] = zip_plainly(out)
        figures["zip_vs_plain_ratio"] = figures["zip_s"] / figures["zip_plain_s"]

        # 5. The same for an SM2 institution.
        figures.update(
            sm2_figures(engine, folder, count, batch, args, trust, revocations, failures)
        )
        engine.dispose()

        profile = profile_issue(folder, args.profile_count, args.seed + 1)

    label = "extrapolated from " + f"{count:,}" if figures["issue_10k_extrapolated"] else "measured"
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; SQLite; repeats: {args.repeat} (medians)"
    )
    print(f"sign_token ({batch} Chinese-name claims): {figures['sign_per_s']:,.0f} /s")
    print(f"baseline bare Ed25519 sign, same bytes:   {figures['raw_sign_per_s']:,.0f} /s")
    print(f"ratio bare / sign_token:                 {figures['raw_sign_ratio']:.2f}x")
    print(
        f"verify_token (trust list, {figures['revocation_entries']:,} revocations): "
        f"{figures['verify_per_s']:,.0f} /s"
    )
    print(f"baseline bare Ed25519 verify:            {figures['raw_verify_per_s']:,.0f} /s")
    print(f"ratio bare / verify_token:               {figures['raw_verify_ratio']:.2f}x")
    print(f"bulk-insert {count:,} passed candidates:     {figures['setup_rows_s']:.2f} s")
    print(
        f"issue {count:,} certificates end to end:  {figures['issue_s']:.1f} s "
        f"({figures['certificates_per_s']:.1f} certificates/s)"
    )
    print(
        f"issue 10,000 ({label}):    {figures['issue_10k_s']:.1f} s "
        f"(goal ≤ {GOAL_10K_S:.0f} s: {'met' if figures['issue_10k_s'] <= GOAL_10K_S else 'MISSED'}; "
        f"{figures['render_processes']} render processes)"
    )
    print(f"render_certificate alone:                {figures['render_alone_ms']:.1f} ms each")
    print(
        f"  of which qr_matrix alone:              {figures['qr_matrix_alone_ms']:.1f} ms each "
        f"(reportlab C accelerator rl_accel: {'yes' if figures['rl_accel'] else 'no'})"
    )
    print(f"  baseline qrcode library, same symbol:  {figures['qrcode_alone_ms']:.1f} ms each")
    print(f"  ratio qrcode / qr_matrix:              {figures['qr_speedup']:.2f}x")
    print(f"baseline parts alone (sign + render):     {figures['parts_alone_s']:.1f} s")
    print(f"ratio issue / parts alone:               {figures['issue_vs_parts_ratio']:.2f}x")
    print(f"mean PDF size:                           {figures['pdf_kb']:.1f} KiB")
    print(f"QR version (M) of a {figures['url_chars']}-character URL:  {figures['qr_version']}")
    print(
        f"the sitting's ZIP ({figures['zip_mb']:.0f} MB, every PDF checked): "
        f"{figures['zip_s']:.2f} s; unchecked {figures['zip_plain_s']:.2f} s "
        f"({figures['zip_vs_plain_ratio']:.2f}×)"
    )
    sm2_verify_met = figures["sm2_verify_per_s"] >= GOAL_SM2_VERIFY_PER_S
    print(f"SM2 sign_token:                          {figures['sm2_sign_per_s']:,.0f} /s")
    print(f"  baseline bare Tongsuo sign, same bytes: {figures['sm2_raw_sign_per_s']:,.0f} /s")
    print(
        f"SM2 verify_token:                        {figures['sm2_verify_per_s']:,.0f} /s "
        f"(goal ≥ {GOAL_SM2_VERIFY_PER_S:,.0f}: {'met' if sm2_verify_met else 'MISSED'})"
    )
    print(f"  baseline bare Tongsuo verify:          {figures['sm2_raw_verify_per_s']:,.0f} /s")
    print(
        f"SM2 issue 10,000 ({label}): {figures['sm2_issue_10k_s']:.1f} s "
        f"(goal ≤ {GOAL_10K_S:.0f} s: {'met' if figures['sm2_issue_10k_s'] <= GOAL_10K_S else 'MISSED'})"
    )
    print(
        f"SM2 QR version (M) of a {figures['sm2_url_chars']}-character URL: "
        f"{figures['sm2_qr_version']}"
    )
    print(f"cProfile, issuing {args.profile_count} certificates (cumulative s, profiler on):")
    whole = profile["cumulative"]["Issuer.issue_level (whole run)"] or 1.0
    for name, seconds in profile["cumulative"].items():
        print(f"  {name:<52} {seconds:7.3f} s  {100 * seconds / whole:5.1f} %")
    print("  top functions by own time:")
    for name, seconds in profile["top_tottime"]:
        print(f"    {name:<60} {seconds:7.3f} s")
    for failure in failures:
        print(f"FAILED: {failure}")
    summary = {
        "count": count,
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()},
        "profile_count": args.profile_count,
        "profile_s": {k.strip(): round(v, 4) for k, v in profile["cumulative"].items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "ok": not failures,
    }
    print(json.dumps(summary, ensure_ascii=False))
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
