"""What a regrade's diff job keeps is what its confirmation applies: a change survives the
job's JSON unchanged."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from certify.grading.grading_job import change_json, change_of
from certify.grading.service import Change
from certify.registration.sittings import sitting_lock
from schemas.enums import CertificateStatus

parts = st.dictionaries(
    st.sampled_from(["theory", "practical"]), st.floats(0, 100, allow_nan=False), min_size=1
)
changes = st.builds(
    Change,
    admission_no=st.from_regex(r"[A-Za-z0-9-]{1,32}", fullmatch=True),
    before=parts,
    after=parts,
    passed_before=st.booleans(),
    passed_after=st.booleans(),
    certificate=st.text(max_size=20),
    certificate_status=st.none() | st.sampled_from(list(CertificateStatus)),
    needs_publication=st.booleans(),
)


@given(changes)
def test_a_change_survives_the_jobs_json(change: Change) -> None:
    kept = json.loads(json.dumps(change_json(change)))
    again = change_of(kept)
    assert again == change
    assert (again.suspends, again.crosses_pass_line) == (change.suspends, change.crosses_pass_line)


def test_a_sittings_jobs_share_one_lock() -> None:
    assert sitting_lock("S1") == "sitting:S1" != sitting_lock("S2")
