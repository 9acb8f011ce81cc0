"""试卷保密: sealing frozen papers until their session opens, and opening them with custodians.

Sealing takes a set of papers (the parallel forms of one exam, usually) and moves everything a
reader could learn them from into one ciphertext: the texts of their item versions (stem,
options, premises, key, rubric — emptied in ``item_version``, which now names the seal), their
stored PDFs (deleted from ``paper_document``) and the images only they show (from
``item_image``). A seal takes every paper that shows one of its item versions. The ciphertext
is AES-256-GCM under a fresh random key that is kept nowhere: it is split among the custodians
by Shamir's scheme (:mod:`certify.infra.shamir`), k of n, each share handed out once, as text,
and only its SHA-256 kept, so a wrong share is named without the shares being stored. On SQLite the
emptied texts are overwritten where they lay (``secure_delete``) and the write-ahead log is
truncated, so the database file holds none of them.

Until the seal is opened, every reader refuses the papers with a clear reason
(:class:`PaperSealed`): the paper page and its PDFs, the print and export commands, the exam
page, grading; their versions are left out of assembly, bank exports and the bank's pages.
Opening takes k shares at or after the session's opening time (less the print lead a paper
sitting may be given), puts every text and PDF back as it was, and is audited with who opened
it, with whose shares and when; a refused opening is audited too. After opening, keys and
rubrics stay withheld from every reader but the grading path until the session ends
(:func:`check_keys_released`).
"""

from question_bank.sealing.holds import (
    OPENED,
    SEALED,
    KeysWithheld,
    PaperSealed,
    SealError,
    SealNotFound,
    beijing,
    check_keys_released,
    check_readable,
    check_unheld,
    held_versions,
    sealed_owners,
    unopened_registrations,
)
from question_bank.sealing.opening import Opened, open_seal
from question_bank.sealing.seal import (
    MAX_CUSTODIANS,
    SEALED_FIELDS,
    Sealed,
    purge_freed,
    seal_papers,
)
from question_bank.sealing.shares import parse_share, share_text
from question_bank.sealing.views import SealView, get_seal, list_seals, seal_of_paper

__all__ = [
    "MAX_CUSTODIANS",
    "OPENED",
    "SEALED",
    "SEALED_FIELDS",
    "KeysWithheld",
    "Opened",
    "PaperSealed",
    "SealError",
    "SealNotFound",
    "SealView",
    "Sealed",
    "beijing",
    "check_keys_released",
    "check_readable",
    "check_unheld",
    "get_seal",
    "held_versions",
    "list_seals",
    "open_seal",
    "parse_share",
    "purge_freed",
    "seal_of_paper",
    "seal_papers",
    "sealed_owners",
    "share_text",
    "unopened_registrations",
]
