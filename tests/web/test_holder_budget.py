"""One budget for every question about a holder's ID number: a committee account that knows a
holder's name and masked ID number (what the public page shows) cannot recover the full number,
by any path or any mix of paths, and a burst of wrong guesses is refused."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from certify.accounts import create_account, create_token
from certify.certificates import holders
from certify.registration.identity import birth_date, check_character
from schemas.tables import AuditEntry, Certificate, HolderCheck
from tests.web.conftest import Site


def guesses(real: str, count: int) -> list[str]:
    """Valid ID numbers that differ from ``real`` only in the birth date (what the mask hides),
    ``real`` itself last — the order an attacker walking the calendar would find it in."""
    out: list[str] = []
    day = birth_date(real) - timedelta(days=count * 20)
    while len(out) < count - 1:
        day += timedelta(days=1)
        first17 = real[:6] + day.strftime("%Y%m%d") + real[14:17]
        candidate = first17 + check_character(first17)
        if candidate[-4:] == real[-4:] and candidate != real:  # same visible digits
            out.append(candidate)
    return [*out, real]


def lookup(site: Site, headers: dict[str, str], id_number: str, name: str) -> tuple[int, object]:
    response = site.client().post(
        "/api/v1/credentials", json={"id_number": id_number, "name": name}, headers=headers
    )
    return response.status_code, response.json


def verify(site: Site, headers: dict[str, str], serial: str, id_number: str) -> dict[str, object]:
    response = site.client().post(
        "/api/v1/verify", json={"serial": serial, "id_number": id_number}, headers=headers
    )
    assert response.status_code == 200
    return dict(response.json)


def test_walking_birth_dates_by_lookup_never_reaches_the_real_number(site: Site) -> None:
    cert = site.certificates[0]
    real = site.id_numbers[cert.serial]
    tries = guesses(real, 40)
    answers = [lookup(site, site.bearer(), n, cert.holder_name) for n in tries]
    answered = [body for status, body in answers if status == 200]
    assert len(answered) == holders.PER_PERSON  # then refused, whatever the guess
    assert all(body == {"credentials": []} for body in answered)
    assert all(status == 429 for status, _ in answers[holders.PER_PERSON :])
    assert "ID number" in str(answers[-1][1])  # the real one is refused like the rest


def test_the_paths_share_one_budget(site: Site) -> None:
    """Two guesses through the bulk check, one through the API lookup, one through the committee
    form: the fourth different number for the person is refused on every path."""
    cert = site.certificates[1]
    real = site.id_numbers[cert.serial]
    a, b, c, d = guesses(real, 5)[:4]
    assert verify(site, site.bearer(), cert.serial, a)["holder_match"] is False
    committee = site.signed_in("committee")
    upload = committee.post(
        "/committee/checks",
        data={
            "csrf_token": site.csrf(committee),
            "file": (
                __import__("io").BytesIO(f"证书编号,身份证号\n{cert.serial},{b}\n".encode()),
                "c.csv",
            ),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302
    assert lookup(site, site.bearer(), c, cert.holder_name) == (200, {"credentials": []})
    form = committee.post(
        "/committee/lookup",
        data={"csrf_token": site.csrf(committee), "id_number": d, "name": cert.holder_name},
    )
    assert form.status_code == 429 and "3 different ID numbers" in form.data.decode()
    refused = verify(site, site.bearer(), cert.serial, real)
    assert refused["holder_match"] is None and "today" in str(refused["id_number_error"])
    # A number already tried may be asked again (a committee re-checking its own file).
    assert verify(site, site.bearer(), cert.serial, a)["holder_match"] is False
    with Session(site.database.engine) as session:
        kinds = sorted(c.kind for c in session.exec(select(HolderCheck)))
        audited = session.exec(select(AuditEntry).where(AuditEntry.action == "holder.check")).all()
    assert kinds == ["lookup", "verify", "verify", "verify"]
    assert sum(int(e.detail["refused"]) for e in audited) == 2
    assert all(real not in str(e.detail) and a not in str(e.detail) for e in audited)


def test_more_accounts_buy_little(site: Site) -> None:
    cert = site.certificates[2]
    real = site.id_numbers[cert.serial]
    tries = iter(guesses(real, 30))
    answered = 0
    for n in range(5):
        create_account(site.database.engine, f"helper{n}", "committee", "helper-password-1")
        headers = {"Authorization": f"Bearer {create_token(site.database.engine, f'helper{n}')}"}
        for _ in range(holders.PER_PERSON):
            answered += lookup(site, headers, next(tries), cert.holder_name)[0] == 200
    assert answered == holders.PER_PERSON_ALL


def test_a_burst_of_wrong_guesses_is_refused(site: Site) -> None:
    """Guesses spread over many people (one each, within every per-person limit) still stop."""
    people = list(site.certificates)
    assert len(people) * 2 > holders.BURST + 3  # at most two wrong guesses per person
    statuses = []
    for n in range(holders.BURST + 3):
        cert = people[n % len(people)]
        wrong = guesses(site.id_numbers[cert.serial], 3)[n // len(people)]
        statuses.append(lookup(site, site.bearer(), wrong, cert.holder_name)[0])
    assert statuses[: holders.BURST] == [200] * holders.BURST
    assert set(statuses[holders.BURST :]) == {429}
    # Refused for everything now, the real holder included: a refusal tells nothing.
    cert = site.certificates[-1]
    assert lookup(site, site.bearer(), site.id_numbers[cert.serial], cert.holder_name)[0] == 429
    other = site.bearer("admin")  # another account is not affected
    status, body = lookup(site, other, site.id_numbers[cert.serial], cert.holder_name)
    assert status == 200 and body["credentials"][0]["serial"] == cert.serial  # type: ignore[index]


def test_a_lookup_needs_the_name_and_answers_only_when_both_belong_to_one_holder(
    site: Site,
) -> None:
    cert = site.certificates[3]
    real = site.id_numbers[cert.serial]
    missing = site.client().post(
        "/api/v1/credentials", json={"id_number": real}, headers=site.bearer()
    )
    assert missing.status_code == 400
    assert lookup(site, site.bearer(), real, "张三丰") == (200, {"credentials": []})
    status, body = lookup(site, site.bearer(), real, " ".join(cert.holder_name))
    assert status == 200
    assert [c["serial"] for c in body["credentials"]] == [cert.serial]  # type: ignore[index]
    with Session(site.database.engine) as session:
        found = session.exec(select(Certificate).where(Certificate.serial == cert.serial)).one()
    assert real not in str(body) and found.holder_name in str(body)
