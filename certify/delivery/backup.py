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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, delete, insert
from sqlmodel import Session, col, select

from certify.delivery.attempts import (
    Entry,
    _against,
    _locked,
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
from certify.infra.errors import AttemptNotFound, Refused
from certify.registration.identity import IdentityVault
from schemas.enums import AttemptStatus, IncidentKind
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

RESTORE_WITHIN = timedelta(hours=24)
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


def _public_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def key_id(point: bytes) -> str:
    return hashlib.sha256(point).hexdigest()[:16]


def attempt_secret(vault: IdentityVault, attempt_id: int) -> bytes:
    """The attempt's backup secret: HKDF salt of its files, known to the server and to the
    candidate's signed-in page only."""
    return vault.key(b"exam-backup/attempt/%d" % attempt_id)


def page_keys(vault: IdentityVault, attempt_id: int) -> dict[str, Any]:
    """What the candidate's page needs to make a backup: the server's public key and the
    attempt's secret (sent with the candidate's own paper only)."""
    point = _public_point(_server_key(vault.secret))
    return {
        "format": FORMAT,
        "attempt": attempt_id,
        "server_key": _b64(point),
        "key_id": key_id(point),
        "secret": _b64(attempt_secret(vault, attempt_id)),
    }


def header_bytes(attempt_id: int, admission_no: str) -> bytes:
    """The authenticated data: what ties a file to one attempt of one candidate."""
    return f"{FORMAT}\n{attempt_id}\n{admission_no}".encode()


def aes_key(shared: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=INFO).derive(shared)


@dataclass(frozen=True)
class Opened:
    """A backup file, decrypted and checked: whose it is and the entries it holds."""

    attempt_id: int
    admission_no: str
    made_at: str
    digest: str
    entries: list[Entry]
    left_ms: dict[int, int | None]


def open_backup(vault: IdentityVault, data: bytes) -> Opened:
    """Decrypt and check a backup file; Refused (400, ``not_a_backup``) for anything that is not
    one made by the attempt's own page for this server, with nothing said about which check
    failed."""
    if len(data) > MAX_BYTES:
        raise Refused(
            413, "too_large", "备份文件过大", f"a backup is at most {MAX_BYTES // 2**20} MB"
        )
    try:
        head = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _not_a_backup("not JSON text") from None
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
    server = _server_key(vault.secret)
    if head.get("key_id") != key_id(_public_point(server)) or len(head) != 7:
        raise _not_a_backup("made for another server's key, or with other fields")
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), epk)
        shared = server.exchange(ec.ECDH(), peer)
        plain = AESGCM(aes_key(shared, attempt_secret(vault, attempt_id))).decrypt(
            iv, blob, header_bytes(attempt_id, admission_no)
        )
        body = json.loads(plain.decode("utf-8"))
    except (ValueError, InvalidTag, UnicodeDecodeError):
        raise _not_a_backup("it does not decrypt under this server's key") from None
    raw = body.get("entries") if isinstance(body, dict) else None
    if not isinstance(raw, list) or len(raw) > MAX_BACKUP_ENTRIES:
        raise _not_a_backup("no list of entries")
    entries = parse_entries({"entries": raw})
    left: dict[int, int | None] = {}
    for r in raw:
        value = r.get("left_ms") if isinstance(r, dict) else None
        left[r["seq"]] = value if isinstance(value, int) and not isinstance(value, bool) else None
    made_at = body.get("made_at")
    return Opened(
        attempt_id,
        admission_no,
        made_at[:40] if isinstance(made_at, str) else "",
        hashlib.sha256(data).hexdigest(),
        entries,
        left,
    )


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
    person's (an administrator: any room). One transaction under the attempt's row lock: the
    entries as a save would take them, the room's log and the audit log; then the objective
    part scored again when the attempt was handed in already."""
    now = now or now_utc()
    opened = open_backup(vault, data)
    out = Restored(opened.attempt_id, opened.admission_no)
    with transaction(engine) as session:
        room = room_for(session, room_id, staff)
        owner = session.exec(
            select(Attempt.room_id, Registration.admission_no)
            .join(Registration, col(Registration.id) == col(Attempt.registration_id))
            .where(Attempt.id == opened.attempt_id)
        ).first()
        if owner is None or owner[0] != room.id or owner[1] != opened.admission_no:
            raise AttemptNotFound(opened.attempt_id)
        attempt = _locked(session, opened.attempt_id)
        if attempt.status not in (AttemptStatus.ACTIVE, AttemptStatus.HANDED_IN):
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
        exam = session.get(ExamSession, attempt.session_id)
        assert exam is not None
        copy = COPIES.get(engine, attempt.registration_id, exam.part)
        good, out.refused = _against(copy, opened.entries)
        late = [e for e, _ in good if (opened.left_ms.get(e.seq) or 0) < 0]
        out.refused += [
            {
                "seq": e.seq,
                "error": "deadline_passed",
                "message_zh": "该答案在考试时间结束后作出",
                "message_en": "made after the time was up",
            }
            for e in late
        ]
        good = [(e, pk) for e, pk in good if (opened.left_ms.get(e.seq) or 0) >= 0]
        stored_events = {
            seq: (value, flagged)
            for seq, value, flagged in session.exec(
                select(AnswerEvent.seq, AnswerEvent.value, AnswerEvent.flagged).where(
                    AnswerEvent.attempt_id == attempt.id,
                    col(AnswerEvent.seq).in_([e.seq for e, _ in good]),
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
        device = f"backup:{opened.digest[:9]}"  # the column holds 16
        for e, pk in good:
            if e.seq in stored_events:
                if stored_events[e.seq] == (e.value, e.flagged):
                    out.already.append(e.seq)
                else:
                    out.refused.append(_conflict(e.seq))
                continue
            held = answers.get(pk)
            if held is not None and held.seq > e.seq:
                out.refused.append(
                    {
                        "seq": e.seq,
                        "error": "stale",
                        "message_zh": "服务器上已有该题更新的答案",
                        "message_en": "the server holds a newer answer to this question",
                    }
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
            "file": opened.digest,
            "made_at": opened.made_at,
            "stored": len(out.stored),
            "already": len(out.already),
            "refused": len(out.refused),
        }
        session.add(
            ExamIncident(
                room_id=room.id or 0,
                attempt_id=attempt.id,
                kind=IncidentKind.RESTORE,
                actor=staff.actor,
                note=f"导入答案备份：保存 {len(out.stored)} 条，已有 {len(out.already)} 条，"
                f"未接受 {len(out.refused)} 条",
                detail=detail,
                at=now,
            )
        )
        audit_log.append(
            session,
            actor=staff.actor,
            action="invigilate.restore",
            subject=f"room:{room.id}/attempt:{attempt.id}",
            detail=detail,
        )
    if out.handed_in and out.stored:
        score_objective(engine, out.attempt_id)
    return out


def _conflict(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "error": "conflict",
        "message_zh": "该序号在服务器上已有不同的答案",
        "message_en": "the server holds another value under this seq",
    }


def restore_in_room(
    engine: Engine, vault: IdentityVault, session_code: str, room_code: str, data: bytes
) -> Restored:
    """:func:`restore` for the office (``certify exams restore``): the room by its codes."""
    with Session(engine) as session:
        room = get_room(session, get_session(session, session_code), room_code)
    return restore(engine, vault, room.id or 0, OFFICE, data)
