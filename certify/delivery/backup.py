"""答案备份: the candidate's encrypted local copy of unsaved answers, and bringing it back.

When the exam page cannot reach the server for long — a cable out, a switch down, the server
away past the deadline — the candidate can download the answers the server has not yet
acknowledged as one file (the page's journal, encrypted), and the invigilator imports it in the
room console, or an administrator with ``certify exam restore``. It is the last resort of
"nothing lost": the page keeps its journal in the browser and re-sends it on its own; the file
is for the case where that browser never reaches the server again.

The file (a small JSON text, ``答案备份-<准考证号>-<time>.certify``)::

    {"format": "certify-exam-backup/1", "attempt": 17, "admission_no": "…", "key_id": "…",
     "epk": "<base64 P-256 point>", "iv": "<base64>", "data": "<base64>"}

``data`` is AES-256-GCM over the JSON ``{"made_at": "…", "entries": [{seq, number, value,
flagged, client_at, left_ms}…]}``; its key comes from HKDF-SHA-256 over the ECDH (P-256) secret of a fresh key the
page makes and the server's backup key, salted with the attempt's own backup secret; the
header (format, attempt, admission number) is the authenticated data. So

- only the server can read a file (the backup key's private half never leaves it: it is derived
  from the ID-number secret, as the vault's other keys are, and is the same in every process);
- only a browser that signed in as the candidate could have made it (the attempt's secret is
  handed to the candidate's page with the paper and to no one else): another candidate cannot
  make a file in someone's name, and a file cannot be moved to another attempt or altered —
  any changed byte fails the tag and the whole file is refused;
- it is the candidate's own word, as every save is: the candidate's device could make any file
  for their own attempt. The import is therefore an invigilator's act at the room, logged and
  audited, and it applies what a save would: entries for questions on the candidate's copy,
  values the question takes, never an older seq over a newer one (an entry the server already
  has is acknowledged again, a different value under a stored seq is refused), and only
  entries the page made while its countdown — the server's clock — still had time left.

The entries land as saves do (``answer_event`` with device ``backup:`` and the file's digest, the
newest value in ``attempt_answer``); for an attempt already handed in — the usual case, the
sweeper closed it at the deadline — the hand-in's ``response`` rows of those questions follow
and the objective part is scored again. A sitting graded before the import needs grading again;
the outcome says so.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, delete, insert
from sqlmodel import Session, col, select

from certify.delivery.attempts import (
    SAVE_GRACE,
    Entry,
    _against,
    _locked,
    _refusal,
    now_utc,
    parse_entries,
    score_objective,
    utc,
)
from certify.delivery.console import Staff, room_for
from certify.delivery.copies import COPIES
from certify.delivery.schedule import get_room, get_session
from certify.delivery.tickets import OFFICE
from certify.infra import audit_log
from certify.infra.db import transaction
from certify.infra.errors import AttemptNotFound, Error, Refused
from certify.registration.identity import IdentityVault
from schemas.enums import AttemptStatus, FinishReason, IncidentKind
from schemas.tables import (
    AnswerEvent,
    Attempt,
    AttemptAnswer,
    ExamIncident,
    ExamSession,
    Registration,
    Response,
    Result,
)

FORMAT = "certify-exam-backup/1"
INFO = b"certify exam backup v1"
MAX_BYTES = 8 * 1024 * 1024
"""A backup holds at most one entry per question (the page keeps only the newest unsaved
change of each), 20,000 characters each: a few MB at most; anything larger is not one."""

MAX_BACKUP_ENTRIES = 2_000

RESTORE_WITHIN = timedelta(hours=6)
"""How long after an attempt's deadline its backup may still be imported: the file belongs to
exam day, taken from the exam computer at the room; later, a complaint is an appeal."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise _not_a_backup(f"{what} is missing")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _not_a_backup(f"{what} is not base64") from None
    if _b64(data) != text:  # one spelling only: no byte of the file can change unnoticed
        raise _not_a_backup(f"{what} is not base64")
    return data


def _not_a_backup(en: str) -> Refused:
    return Refused(
        400,
        "not_a_backup",
        "这不是有效的答案备份文件，或文件已被改动",
        f"not a valid answer backup: {en}",
    )


@lru_cache(maxsize=8)
def _server_key(secret: bytes) -> ec.EllipticCurvePrivateKey:
    """The backup key pair, derived from the secret: the same in every process, never stored."""
    seed = IdentityVault(secret).key(b"exam-backup/p256")
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    return ec.derive_private_key(int.from_bytes(seed, "big") % (order - 1) + 1, ec.SECP256R1())


def _point_of(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _public_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return _point_of(key.public_key())


def key_id(point: bytes) -> str:
    return hashlib.sha256(point).hexdigest()[:16]


@dataclass(frozen=True)
class Whose:
    """What an attempt's backup secret is bound to: the attempt, and the registration and part
    it is of — so a secret never carries over to another candidate, even where a database
    reuses an attempt's number (seats allocated again, a new database under the same
    secret)."""

    attempt_id: int
    registration_id: int
    part: str


def attempt_secret(vault: IdentityVault, whose: Whose) -> bytes:
    """The attempt's backup secret: HKDF salt of its files, known to the server and to the
    candidate's signed-in page only."""
    label = f"exam-backup/attempt/{whose.attempt_id}/{whose.registration_id}/{whose.part}"
    return vault.key(label.encode())


def page_keys(vault: IdentityVault, whose: Whose) -> dict[str, Any]:
    """What the candidate's page needs to make a backup: the server's public key and the
    attempt's secret (sent with the candidate's own paper only)."""
    point = _public_point(_server_key(vault.secret))
    return {
        "format": FORMAT,
        "attempt": whose.attempt_id,
        "server_key": _b64(point),
        "key_id": key_id(point),
        "secret": _b64(attempt_secret(vault, whose)),
    }


def header_bytes(attempt_id: int, admission_no: str) -> bytes:
    """The authenticated data: what ties a file to one attempt of one candidate."""
    return f"{FORMAT}\n{attempt_id}\n{admission_no}".encode()


def aes_key(shared: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=INFO).derive(shared)


def seal(
    keys: dict[str, Any],
    admission_no: str,
    entries: list[dict[str, Any]],
    *,
    made_at: str = "",
) -> bytes:
    """A backup file as the exam page makes it (``downloadBackup`` in exam.js), from the keys
    the page got with its paper: the demo's simulated pages use it, and the tests check that
    the page's own file opens exactly as this one does."""
    point = base64.b64decode(keys["server_key"])
    server = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    mine = ec.generate_private_key(ec.SECP256R1())
    iv = secrets.token_bytes(12)
    plain = json.dumps({"made_at": made_at, "entries": entries}, ensure_ascii=False)
    sealed = AESGCM(
        aes_key(mine.exchange(ec.ECDH(), server), base64.b64decode(keys["secret"]))
    ).encrypt(iv, plain.encode(), header_bytes(keys["attempt"], admission_no))
    head = {
        "format": keys["format"],
        "attempt": keys["attempt"],
        "admission_no": admission_no,
        "key_id": keys["key_id"],
        "epk": _b64(_point_of(mine.public_key())),
        "iv": _b64(iv),
        "data": _b64(sealed),
    }
    return json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Sealed:
    """A backup file read but not yet opened: whose it says it is, and its sealed parts."""

    attempt_id: int
    admission_no: str
    digest: str
    epk: bytes
    iv: bytes
    data: bytes


@dataclass(frozen=True)
class Opened:
    """A backup file, decrypted and checked: the entries it holds, each with the time its page
    said was left when the change was made."""

    made_at: str
    entries: list[Entry]
    left_ms: dict[int, int]


def _json(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _not_a_backup("not JSON text") from None


def read_file(vault: IdentityVault, data: bytes) -> Sealed:
    """A backup file's outside: Refused (``not_a_backup``) unless it is one, made for this
    server's key; 413 beyond :data:`MAX_BYTES`."""
    if len(data) > MAX_BYTES:
        raise Refused(
            413, "too_large", "备份文件过大", f"a backup is at most {MAX_BYTES // 2**20} MB"
        )
    head = _json(data)
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise _not_a_backup(f"format is not {FORMAT}")
    attempt_id, admission_no = head.get("attempt"), head.get("admission_no")
    if not isinstance(attempt_id, int) or isinstance(attempt_id, bool) or attempt_id < 1:
        raise _not_a_backup("attempt is missing")
    if not isinstance(admission_no, str) or not 0 < len(admission_no) <= 32:
        raise _not_a_backup("admission_no is missing")
    epk, iv, blob = (_unb64(head.get(k), k) for k in ("epk", "iv", "data"))
    if len(iv) != 12 or len(epk) != 65:
        raise _not_a_backup("iv or epk has the wrong length")
    if head.get("key_id") != key_id(_public_point(_server_key(vault.secret))) or len(head) != 7:
        raise _not_a_backup("made for another server's key, or with other fields")
    return Sealed(attempt_id, admission_no, hashlib.sha256(data).hexdigest(), epk, iv, blob)


def unseal(vault: IdentityVault, sealed: Sealed, whose: Whose) -> Opened:
    """The entries of a file, if it was made by the page of the attempt ``whose`` for this
    server; else Refused (``not_a_backup``), the same whichever check failed."""
    server = _server_key(vault.secret)
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sealed.epk)
        shared = server.exchange(ec.ECDH(), peer)
        plain = AESGCM(aes_key(shared, attempt_secret(vault, whose))).decrypt(
            sealed.iv, sealed.data, header_bytes(sealed.attempt_id, sealed.admission_no)
        )
    except (ValueError, InvalidTag):
        raise _not_a_backup("it was not made by this candidate's page for this server") from None
    body = _json(plain)
    raw = body.get("entries") if isinstance(body, dict) else None
    if not isinstance(raw, list) or len(raw) > MAX_BACKUP_ENTRIES:
        raise _not_a_backup("no list of entries")
    try:
        entries = parse_entries({"entries": raw}, limit=MAX_BACKUP_ENTRIES)
    except Refused as bad:
        raise _not_a_backup(bad.message_en) from None
    left = {
        r["seq"]: r["left_ms"]
        for r in raw
        if isinstance(r.get("left_ms"), int) and not isinstance(r.get("left_ms"), bool)
    }
    made_at = body.get("made_at")
    return Opened(made_at[:40] if isinstance(made_at, str) else "", entries, left)


def open_backup(vault: IdentityVault, data: bytes, whose: Whose) -> Opened:
    """:func:`read_file` and :func:`unseal`, for a file of the attempt ``whose``."""
    sealed = read_file(vault, data)
    if sealed.attempt_id != whose.attempt_id:
        raise _not_a_backup("another attempt's file")
    return unseal(vault, sealed, whose)


@dataclass
class Restored:
    """What an import did: entries stored, acknowledged again (the server had them), refused
    (each with its reason); whether the hand-in's responses changed and the sitting must be
    graded again."""

    attempt_id: int
    admission_no: str
    stored: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    handed_in: bool = False
    regrade: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt_id,
            "admission_no": self.admission_no,
            "stored": self.stored,
            "already": self.already,
            "refused": self.refused,
            "handed_in": self.handed_in,
            "regrade": self.regrade,
        }


def restore(
    engine: Engine,
    vault: IdentityVault,
    room_id: int,
    staff: Staff,
    data: bytes,
    *,
    now: datetime | None = None,
) -> Restored:
    """Import a backup file into its attempt, which must be in ``room_id`` and that room this
    person's (an administrator: any room; another room is "not found" and nothing is logged).
    One transaction under the attempt's row lock: the entries as a save would take them, the
    room's log and the audit log; then the objective part scored again when the attempt was
    handed in already. A file refused whole is logged in the room and audited too, with why."""
    now = now or now_utc()
    with Session(engine) as session:
        room_for(session, room_id, staff)
    digest = hashlib.sha256(data).hexdigest()
    try:
        out = _restore(engine, vault, room_id, staff, data, now)
    except Error as refused:
        _log_refusal(engine, room_id, staff, digest, refused, now)
        raise
    if out.handed_in and out.stored:
        score_objective(engine, out.attempt_id)
    return out


def _restore(
    engine: Engine,
    vault: IdentityVault,
    room_id: int,
    staff: Staff,
    data: bytes,
    now: datetime,
) -> Restored:
    sealed = read_file(vault, data)
    out = Restored(sealed.attempt_id, sealed.admission_no)
    with transaction(engine) as session:
        room = room_for(session, room_id, staff)
        owner = session.exec(
            select(Attempt.room_id, Registration.admission_no)
            .join(Registration, col(Registration.id) == col(Attempt.registration_id))
            .where(Attempt.id == sealed.attempt_id)
        ).first()
        if owner is None or owner[0] != room.id or owner[1] != sealed.admission_no:
            raise AttemptNotFound(sealed.attempt_id)
        attempt = _locked(session, sealed.attempt_id)
        exam = session.get(ExamSession, attempt.session_id)
        assert exam is not None
        opened = unseal(vault, sealed, Whose(attempt.id or 0, attempt.registration_id, exam.part))
        _may_restore(attempt, now)
        copy = COPIES.get(engine, attempt.registration_id, exam.part)
        good, out.refused = _against(copy, opened.entries)
        timed = []
        for e, pk in good:
            left = opened.left_ms.get(e.seq)
            if left is None:
                out.refused.append(
                    _refusal(e.seq, "no_time", "备份中缺少作答时的剩余时间", "no time left given")
                )
            elif left < -SAVE_GRACE.total_seconds() * 1000:
                out.refused.append(
                    _refusal(
                        e.seq,
                        "deadline_passed",
                        "该答案在考试时间结束后作出",
                        "made after the time was up",
                    )
                )
            else:
                timed.append((e, pk))
        stored_events = {
            seq: (pk, value, flagged)
            for seq, pk, value, flagged in session.exec(
                select(
                    AnswerEvent.seq,
                    AnswerEvent.item_version_id,
                    AnswerEvent.value,
                    AnswerEvent.flagged,
                ).where(
                    AnswerEvent.attempt_id == attempt.id,
                    col(AnswerEvent.seq).in_([e.seq for e, _ in timed]),
                )
            )
        }
        answers = {
            a.item_version_id: a
            for a in session.exec(
                select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt.id)
            )
        }
        newest: dict[int, Entry] = {}
        device = f"backup:{sealed.digest[:9]}"  # the column holds 16
        for e, pk in timed:
            if e.seq in stored_events:
                if stored_events[e.seq] == (pk, e.value, e.flagged):
                    out.already.append(e.seq)
                else:
                    out.refused.append(
                        _refusal(
                            e.seq,
                            "seq_conflict",
                            "该序号在服务器上已有不同的答案",
                            "the server holds another change under this seq",
                        )
                    )
                continue
            held = answers.get(pk)
            if held is not None and held.seq > e.seq:
                out.refused.append(
                    _refusal(
                        e.seq,
                        "stale",
                        "服务器上已有该题更新的答案",
                        "the server holds a newer answer to this question",
                    )
                )
                continue
            session.add(
                AnswerEvent(
                    attempt_id=attempt.id or 0,
                    seq=e.seq,
                    item_version_id=pk,
                    value=e.value,
                    flagged=e.flagged,
                    device=device,
                    client_at=e.client_at,
                    received_at=now,
                )
            )
            out.stored.append(e.seq)
            newest[pk] = e  # entries in seq order: the last one wins
        for pk, e in newest.items():
            held = answers.get(pk) or AttemptAnswer(
                attempt_id=attempt.id or 0, item_version_id=pk, seq=e.seq
            )
            held.value, held.flagged, held.seq, held.saved_at = e.value, e.flagged, e.seq, now
            session.add(held)
        if out.stored:
            attempt.last_seq = max(attempt.last_seq, *out.stored)
            session.add(attempt)
        out.handed_in = attempt.status is AttemptStatus.HANDED_IN
        if out.handed_in and newest:
            finish = utc(attempt.handed_in_at) if attempt.handed_in_at else now
            session.execute(
                delete(Response).where(
                    col(Response.registration_id) == attempt.registration_id,
                    col(Response.item_version_id).in_(list(newest)),
                )
            )
            session.execute(
                insert(Response),
                [
                    {
                        "registration_id": attempt.registration_id,
                        "item_version_id": pk,
                        "raw": e.value,
                        "recorded_at": finish,
                    }
                    for pk, e in newest.items()
                ],
            )
            out.regrade = (
                session.exec(
                    select(Result.id).where(Result.registration_id == attempt.registration_id)
                ).first()
                is not None
            )
        detail = {
            "file": sealed.digest,
            "made_at": opened.made_at,
            "stored": len(out.stored),
            "already": len(out.already),
            "refused": len(out.refused),
            "regrade": out.regrade,
        }
        note = (
            f"导入答案备份：保存 {len(out.stored)} 条，已有 {len(out.already)} 条，"
            f"未接受 {len(out.refused)} 条" + ("；该考次须重新评分" if out.regrade else "")
        )
        _record(session, staff, room.id or 0, attempt.id, "restore", note, detail, now)
    return out


def _record(
    session: Session,
    staff: Staff,
    room_id: int,
    attempt_id: int | None,
    action: str,
    note: str,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    """An import, or a file refused whole, in the room's log and the audit log."""
    session.add(
        ExamIncident(
            room_id=room_id,
            attempt_id=attempt_id,
            kind=IncidentKind.RESTORE,
            actor=staff.actor,
            note=note[:500],
            detail=detail,
            at=now,
        )
    )
    subject = f"room:{room_id}" + (f"/attempt:{attempt_id}" if attempt_id else "")
    audit_log.append(
        session, actor=staff.actor, action=f"invigilate.{action}", subject=subject, detail=detail
    )


def _may_restore(attempt: Attempt, now: datetime) -> None:
    """An attempt takes a backup while it is open and not paused, or when the deadline closed
    it (the page cut off to the end) — within :data:`RESTORE_WITHIN` of its deadline. A
    candidate's own hand-in needs none (the page hands in only with everything saved), and an
    invigilator's forced hand-in is final."""
    if attempt.status is AttemptStatus.ACTIVE:
        if attempt.paused_at is not None:
            raise Refused(
                409, "paused", "该考生的考试已暂停：恢复后再导入", "paused: import after resuming"
            )
    elif attempt.status is AttemptStatus.HANDED_IN:
        if attempt.finish_reason is FinishReason.CANDIDATE:
            raise Refused(
                409,
                "handed_in_by_candidate",
                "考生已自行交卷（交卷时答案已全部保存），不再导入答案备份",
                "the candidate handed in with everything saved: no backup is taken",
            )
        if attempt.finish_reason is FinishReason.INVIGILATOR:
            raise Refused(
                409,
                "forced_hand_in",
                "该考生已被监考员收卷，不能再导入答案备份；如有异议请按申诉程序处理",
                "handed in by the invigilator: final; a complaint is an appeal",
            )
    else:
        raise Refused(
            409,
            "not_signed_in",
            "该考生本场未登录作答，没有可导入的答案",
            "the candidate has not sat this session: nothing to import into",
        )
    if now > utc(attempt.deadline_at) + RESTORE_WITHIN:
        hours = int(RESTORE_WITHIN.total_seconds() // 3600)
        raise Refused(
            409,
            "too_late",
            f"考试结束已超过 {hours} 小时，不能再导入答案备份；请按申诉程序处理",
            f"more than {hours} hours after the deadline: a backup is no longer imported",
        )


def _log_refusal(
    engine: Engine, room_id: int, staff: Staff, digest: str, refused: Error, now: datetime
) -> None:
    """A file refused whole, in the room's log and the audit log: which file, and why."""
    code = getattr(refused, "code", "error")
    zh = getattr(refused, "message_zh", "") or str(refused)
    detail = {"file": digest, "error": code}
    with transaction(engine) as session:
        _record(
            session, staff, room_id, None, "restore_refused", f"答案备份未导入：{zh}", detail, now
        )


def restore_in_room(
    engine: Engine, vault: IdentityVault, session_code: str, room_code: str, data: bytes
) -> Restored:
    """:func:`restore` for the office (``certify exams restore``): the room by its codes."""
    with Session(engine) as session:
        room = get_room(session, get_session(session, session_code), room_code)
    return restore(engine, vault, room.id or 0, OFFICE, data)
