"""Domain words: every one has its Chinese and English label, and one source for each number."""

from __future__ import annotations

import pytest

from certify.signing.token import KIND_NAMES, Kind
from schemas.enums import CertificateKind, CertificateStatus, CheckedStatus, Verdict, Word

WORDS = sorted(Word.__subclasses__(), key=lambda word: word.__name__)


@pytest.mark.parametrize("word", WORDS, ids=[w.__name__ for w in WORDS])
def test_every_word_has_non_empty_distinct_labels(word: type[Word]) -> None:
    members = list(word)
    assert members
    for language in ("zh", "en"):
        labels = [getattr(m, language) for m in members]
        assert all(label.strip() for label in labels), labels
        assert len(set(labels)) == len(labels), labels


def test_a_status_reads_the_same_as_the_verdict_it_leads_to() -> None:
    for status in (CertificateStatus.SUSPENDED, CertificateStatus.REVOKED):
        assert Verdict(status.value).zh == status.zh == CheckedStatus(status.value).zh
        assert Verdict(status.value).en == status.en


def test_the_token_writes_each_kind_by_its_code() -> None:
    assert {int(k): k.certificate_kind for k in Kind} == {k.code: k for k in CertificateKind}
    assert all(CertificateKind.from_code(k.code) is k for k in CertificateKind)
    assert KIND_NAMES[Kind.TRAINING] == (CertificateKind.TRAINING.zh, CertificateKind.TRAINING.en)
    with pytest.raises(ValueError):
        CertificateKind.from_code(0)
