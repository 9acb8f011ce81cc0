"""持证人核对: one budget for every question "does this ID number belong to this person?".

The public page shows a holder's ID number masked except for the birth date (first 6 and last 4
characters), and only about 2,000 birth dates fit a given check character — so an account that
may ask freely whether an ID number is a holder's recovers it in a few thousand questions. Every
path that confirms a holder by ID number (the API's ``verify`` with ``id_number``, the committee's
bulk checks) or looks credentials up by one (the API's ``credentials``, the committee's lookup
form) therefore asks through one :class:`HolderBudget`, and each question that runs is recorded
(``holder_check``: the keyed digest of the ID number, never the number) and audited.

A question is about a *person*: the keyed digest of their name and masked ID number, which is
what someone guessing a birth date holds fixed (a bulk check names the person through the
certificate; a lookup must give the name as well as the ID number, and answers only where both
belong to one holder). Within :data:`WINDOW`:

- one account may try at most :data:`PER_PERSON` different ID numbers for one person, and all
  accounts together :data:`PER_PERSON_ALL` (so more accounts buy little);
- one ID number per person per request;
- an account whose answers were "no" :data:`BURST` times within :data:`BURST_WINDOW`, or
  :data:`MISSES_PER_DAY` times within the window, is refused every further check until they
  pass — a burst of guesses is answered by refusing, not by answering faster.

A refused question gets no answer, so a refusal says nothing about the person.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from certify.entitlements.eligibility import Credential, EligibilityError, canonical_id, credentials
from certify.infra import audit_log
from certify.infra.db import ALL_INSTITUTIONS, transaction
from certify.infra.errors import Error
from certify.registration.identity import IdentityVault, mask_id_number
from schemas.tables import HolderCheck

WINDOW = timedelta(days=1)
PER_PERSON = 3
"""Different ID numbers one account may try for one person within :data:`WINDOW`."""
PER_PERSON_ALL = 10
"""Different ID numbers all accounts together may try for one person within :data:`WINDOW`."""
BURST = 20
"""Answers of "no" within :data:`BURST_WINDOW` after which an account is refused."""
BURST_WINDOW = timedelta(minutes=10)
MISSES_PER_DAY = 100
"""Answers of "no" within :data:`WINDOW` after which an account is refused for the rest of it."""
CHUNK = 500


class HolderCheckRefused(Error):
    """A lookup by ID number the budget does not allow (the web answers 429)."""

    code = "holder_check_refused"


def normal_name(name: str) -> str:
    """A name as compared and digested: NFKC, without spaces (``欧阳 小锋`` is ``欧阳小锋``)."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def person_key(vault: IdentityVault, name: str, masked_id: str) -> str:
    """The keyed digest that names a person to the budget: their name and masked ID number."""
    return vault.keyed(b"holder-person", f"{normal_name(name)}\x1f{masked_id}")


def person_key_of_id(vault: IdentityVault, name: str, id_number: str) -> str:
    return person_key(vault, name, mask_id_number(id_number))


@dataclass(frozen=True)
class _Seen:
    person: str
    id_digest: str
    matched: bool
    at: datetime


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass
class HolderBudget:
    """The holder checks one account may run now, loaded once per request; :meth:`refusal`
    before each question, :meth:`record` after it, :meth:`save` at the end of the request."""

    engine: Engine
    vault: IdentityVault
    account_id: int
    kind: str
    """``verify`` (a bulk or single check of a certificate's holder) or ``lookup``."""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    mine: dict[str, set[str]] = field(default_factory=dict)
    everyone: dict[str, set[str]] = field(default_factory=dict)
    misses: list[datetime] = field(default_factory=list)
    asked: dict[str, set[str]] = field(default_factory=dict)
    new: list[HolderCheck] = field(default_factory=list)
    refused: int = 0

    def load(self, questions: Iterable[tuple[str, str]]) -> None:
        """Read the recent checks that bear on these (person, ID digest) questions."""
        for person, digest in questions:
            self.asked.setdefault(person, set()).add(digest)
        since = self.now - WINDOW
        with Session(self.engine) as session:
            for seen in session.exec(
                select(HolderCheck).where(
                    HolderCheck.account_id == self.account_id, col(HolderCheck.at) >= since
                )
            ):
                if seen.target:
                    self.mine.setdefault(seen.target, set()).add(seen.id_digest)
                if not seen.matched:
                    self.misses.append(_aware(seen.at))
            people = sorted(self.asked)
            for start in range(0, len(people), CHUNK):
                # every account's checks, whichever institution's: the limit is per person
                for person, digest in session.exec(
                    select(HolderCheck.target, HolderCheck.id_digest)
                    .where(
                        col(HolderCheck.target).in_(people[start : start + CHUNK]),
                        col(HolderCheck.at) >= since,
                    )
                    .execution_options(**ALL_INSTITUTIONS)
                ):
                    self.everyone.setdefault(person, set()).add(digest)

    def _burst(self) -> bool:
        recent = sum(at >= self.now - BURST_WINDOW for at in self.misses)
        return recent >= BURST or len(self.misses) >= MISSES_PER_DAY

    def refusal(self, person: str, id_digest: str) -> str | None:
        """Why this question may not be asked, or None (it is then counted as asked)."""
        reason = self._reason(person, id_digest)
        if reason is not None:
            self.refused += 1
            return reason
        self.mine.setdefault(person, set()).add(id_digest)
        self.everyone.setdefault(person, set()).add(id_digest)
        return None

    def _reason(self, person: str, id_digest: str) -> str | None:
        if self._burst():
            return (
                "核对不符的次数过多，本账户暂停核对持证人，请稍后再试或联系发证机构 / "
                "too many checks answered 'no': this account may not check holders for now"
            )
        if len(self.asked.get(person, ())) > 1:
            return "同一持证人每次请求只能核对一个身份证号 / one ID number per person per request"
        mine = self.mine.get(person, set())
        if id_digest not in mine and len(mine) >= PER_PERSON:
            return (
                f"今日已对该持证人核对 {PER_PERSON} 个不同的身份证号，请联系发证机构 / "
                f"{PER_PERSON} different ID numbers were tried for this person today: ask the issuer"
            )
        everyone = self.everyone.get(person, set())
        if id_digest not in everyone and len(everyone) >= PER_PERSON_ALL:
            return (
                "今日对该持证人的核对次数已达上限，请联系发证机构 / "
                "this person's holder checks for today are used up: ask the issuer"
            )
        return None

    def record(self, person: str, id_digest: str, matched: bool, serial: str = "") -> None:
        self.new.append(
            HolderCheck(
                account_id=self.account_id,
                serial=serial[:40],
                target=person,
                kind=self.kind,
                id_digest=id_digest,
                matched=matched,
            )
        )
        if not matched:
            self.misses.append(self.now)

    def save(self, actor: str) -> None:
        """Store the checks that ran and audit the request (refusals counted)."""
        if not self.new and not self.refused:
            return
        with transaction(self.engine) as session:
            session.add_all(self.new)
            audit_log.append(
                session,
                actor=actor,
                action="holder.check",
                subject=str(self.account_id),
                detail={
                    "kind": self.kind,
                    "checks": len(self.new),
                    "matched": sum(c.matched for c in self.new),
                    "refused": self.refused,
                    "serials": sorted({c.serial for c in self.new if c.serial})[:50],
                },
            )


def names_match(given: str, held: Sequence[str]) -> bool:
    wanted = normal_name(given)
    return bool(wanted) and any(normal_name(name) == wanted for name in held)


def lookup_credentials(
    engine: Engine,
    vault: IdentityVault,
    id_number: str,
    name: str,
    *,
    account_id: int,
    actor: str,
) -> list[Credential]:
    """A committee's lookup of one person's credentials by ID number *and* name, through the
    account's budget: the credentials whose holder has both, else none (a wrong name and an
    unknown ID number look the same). Raises EligibilityError for an invalid ID number or an
    empty name, HolderCheckRefused when the budget does not allow the question."""
    canonical = canonical_id(id_number)
    if not normal_name(name) or len(name) > 64:
        raise EligibilityError(
            "请同时填写持证人姓名（1–64 个字符）/ give the holder's name too (1-64 characters)"
        )
    budget = HolderBudget(engine, vault, account_id, "lookup")
    person, digest = person_key_of_id(vault, name, canonical), vault.digest(canonical)
    budget.load([(person, digest)])
    refused = budget.refusal(person, digest)
    if refused is not None:
        budget.save(actor)
        raise HolderCheckRefused(refused)
    found = [c for c in credentials(engine, vault, canonical) if names_match(name, [c.holder])]
    budget.record(person, digest, bool(found))
    budget.save(actor)
    return found
