"""考场编排: seating the candidates of one exam session in its rooms, groups kept apart.

A room's seats are numbered 1..capacity row by row, ``columns`` to a row (the last row may be
short). Two seats are *neighbours* when they are side by side in a row or one behind the other
in a column; a *group* is an employer (单位) or a training class (培训班), "" for none.

The rule, in the order it is applied:

1. **Rooms fill in order** of their codes (R01, R02, …; zero-pad numbers so they sort): each
   room is full before the next is used, so only the last room used may be partial and the
   rooms after it stay empty and need no invigilator. Total capacity short of the candidates
   is refused, naming how many seats are missing.
2. **Groups are spread over the rooms** (``spread``): a group of sᵍ among n candidates gets
   xᵍʳ candidates in room r with nʳ candidates, where xᵍʳ is qᵍʳ = sᵍ·nʳ/n rounded down or up
   (|xᵍʳ − qᵍʳ| < 1, always possible: controlled rounding of a matrix whose row and column sums
   are whole, done as a b-matching by augmenting paths). Which rooms get the rounded-up share,
   and which members go where, is drawn from the seeded generator.
3. **Seats in a partial room** are taken in checkerboard order (every other seat, row by row,
   then the seats between), so candidates sit apart when there is room to.
4. **Within a room groups sit apart** (``spread``): seats are filled row by row, each with the
   group that has the most members left among those not sitting to its left or in front; then
   a repair pass swaps two seats (or moves a candidate to an empty seat) while that lowers the
   number of same-group neighbours. Guaranteed: the result is a local minimum — no such swap
   lowers the count. Observed, and held by property tests: no same-group neighbours at all
   whenever no group has more than a third of a room's candidates.

Without ``spread`` the candidates are shuffled and dealt into rooms and seats in order (rules
1 and 3 only). Candidates without a group never count as neighbours of anyone.

Deterministic: the candidates are sorted by key before anything is drawn from
``numpy.random.default_rng(seed)``, so the same candidates in any order and the same seed give
the same seats. Pure: no database, no files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from certify.infra.errors import Error

Assignment = dict[str, tuple[str, int]]
"""Admission number → (room code, seat number)."""

EMPTY, NONE = -1, 0
"""Labels of a seat with no one on it, and of a candidate with no group; groups are 1, 2, …"""


@dataclass(frozen=True)
class Seatee:
    """A candidate to seat: the admission number and the group kept apart ("" = none)."""

    key: str
    group: str = ""


@dataclass(frozen=True)
class RoomSpec:
    """考场: seats 1..capacity, ``columns`` seats to a row."""

    code: str
    capacity: int
    columns: int = 6

    def neighbours(self, seat: int) -> list[int]:
        """The seats beside, in front of and behind ``seat``."""
        column = (seat - 1) % self.columns
        out = [seat - self.columns, seat + self.columns]
        if column > 0:
            out.append(seat - 1)
        if column < self.columns - 1:
            out.append(seat + 1)
        return [s for s in out if 1 <= s <= self.capacity]

    def checkerboard(self) -> list[int]:
        """Every seat, those whose row and column add up even first, each part row by row."""
        seats = range(1, self.capacity + 1)
        even = [s for s in seats if ((s - 1) // self.columns + (s - 1) % self.columns) % 2 == 0]
        return even + sorted(set(seats) - set(even))


class SeatingError(Error):
    """The candidates cannot be seated as asked; nothing is allocated."""

    code = "seating"

    def __init__(self, code: str, zh: str, en: str) -> None:
        self.code = code
        self.message_zh = zh
        self.message_en = en
        super().__init__(f"{zh} / {en}")


def allocate(
    seatees: Iterable[Seatee], rooms: Sequence[RoomSpec], seed: int, *, spread: bool = True
) -> Assignment:
    """Seats for every candidate: admission number → (room code, seat).

    Follows the module's rule; the same input (in any order) and ``seed`` give the same result.
    Raises :class:`SeatingError` for duplicate admission numbers or room codes, a capacity or
    row width under 1, or too few seats.
    """
    people = sorted(seatees, key=lambda s: s.key)
    ordered = _checked(people, rooms)
    rng = np.random.default_rng(seed)
    counts = fill_in_order(len(people), [room.capacity for room in ordered])
    if spread:
        per_room = _spread_over_rooms(people, counts, rng)
    else:
        shuffled = [people[i] for i in rng.permutation(len(people))]
        bounds = np.cumsum([0, *counts]).tolist()
        per_room = [shuffled[a:b] for a, b in pairwise(bounds)]
    out: Assignment = {}
    for room, members in zip(ordered, per_room, strict=True):
        seats = room.checkerboard()[: len(members)]
        placed = (
            _seat_apart(room, members, seats, rng)
            if spread
            else dict(zip(seats, members, strict=True))
        )
        out.update({person.key: (room.code, seat) for seat, person in placed.items()})
    return out


def fill_in_order(n: int, capacities: Sequence[int]) -> list[int]:
    """How many of ``n`` candidates each room takes when rooms fill one after another."""
    out = []
    for capacity in capacities:
        take = min(capacity, n)
        out.append(take)
        n -= take
    return out


def adjacent_pairs(
    assignment: Mapping[str, tuple[str, int]], rooms: Iterable[RoomSpec], groups: Mapping[str, str]
) -> int:
    """Pairs of neighbours of one (non-empty) group; ``groups`` maps admission number → group."""
    specs = {room.code: room for room in rooms}
    seated = {where: groups.get(key, "") for key, where in assignment.items()}
    pairs = 0
    for (code, seat), group in seated.items():
        if group:
            later = (s for s in specs[code].neighbours(seat) if s > seat)
            pairs += sum(seated.get((code, s)) == group for s in later)
    return pairs


def _checked(people: list[Seatee], rooms: Sequence[RoomSpec]) -> list[RoomSpec]:
    """The rooms in fill order, after refusing input that cannot be seated."""
    doubled = sorted(k for k, c in Counter(p.key for p in people).items() if c > 1)
    if doubled:
        listed = ", ".join(doubled[:5])
        raise SeatingError(
            "duplicate_candidate",
            f"准考证号重复：{listed}",
            f"admission number(s) listed more than once: {listed}",
        )
    codes = sorted(k for k, c in Counter(r.code for r in rooms).items() if c > 1)
    if codes:
        listed = ", ".join(codes)
        raise SeatingError(
            "duplicate_room", f"考场编号重复：{listed}", f"room code(s) used twice: {listed}"
        )
    for room in rooms:
        if room.capacity < 1 or room.columns < 1:
            raise SeatingError(
                "bad_room",
                f"考场 {room.code} 的座位数和每排座位数须至少为 1",
                f"room {room.code}: capacity and columns must be at least 1",
            )
    missing = len(people) - sum(room.capacity for room in rooms)
    if missing > 0:
        raise SeatingError(
            "short_of_seats",
            f"座位不足：{len(people)} 名考生，缺 {missing} 个座位，请增加考场",
            f"{len(people)} candidates but {missing} seat(s) short: add rooms",
        )
    return sorted(rooms, key=lambda r: r.code)


def _spread_over_rooms(
    people: list[Seatee], counts: list[int], rng: np.random.Generator
) -> list[list[Seatee]]:
    """The candidates of each room, every group split in proportion to the rooms' numbers."""
    by_group: dict[str, list[Seatee]] = {}
    for person in people:
        by_group.setdefault(person.group, []).append(person)
    members = [by_group[g] for g in sorted(by_group)]
    split = proportional_split(
        np.array([len(m) for m in members], dtype=np.int64), np.array(counts, dtype=np.int64), rng
    )
    per_room: list[list[Seatee]] = [[] for _ in counts]
    for group, row in zip(members, split, strict=True):
        shuffled = [group[i] for i in rng.permutation(len(group))]
        start = 0
        for room, take in enumerate(row.tolist()):
            per_room[room].extend(shuffled[start : start + take])
            start += take
    return per_room


def proportional_split(
    sizes: NDArray[np.int64], counts: NDArray[np.int64], rng: np.random.Generator
) -> NDArray[np.int64]:
    """Group × room numbers with row sums ``sizes``, column sums ``counts`` (equal totals), each
    qᵍʳ = sᵍ·nʳ/n rounded down or up.

    The rounded-down matrix leaves each row and column a whole number short; the shortfall is
    made up on cells with a fractional quota, at most one each, by augmenting paths (the
    fractional matrix shows that a complete 0/1 choice exists, so every path is found).
    """
    total = int(sizes.sum())
    product = np.outer(sizes, counts)
    base = product // max(total, 1)
    open_cells = product % max(total, 1) != 0
    extra = np.zeros_like(open_cells)
    spare = counts - base.sum(axis=0)
    for g in range(len(sizes)):
        preference = rng.permutation(len(counts))
        for _ in range(int(sizes[g] - base[g].sum())):
            if not _augment(g, open_cells, extra, spare, preference):
                raise AssertionError("no augmenting path: the quotas do not add up")
    out: NDArray[np.int64] = base + extra.astype(np.int64)
    return out


def _augment(
    start: int,
    open_cells: NDArray[np.bool_],
    taken: NDArray[np.bool_],
    spare: NDArray[np.int64],
    preference: NDArray[np.int64],
) -> bool:
    """One more unit for group ``start``: a breadth-first alternating path to a room with spare
    places, taking cells forward and giving back taken ones on the way (Kuhn's algorithm)."""
    came_from: dict[int, tuple[int, int | None]] = {}  # room → (group that takes it, its parent)
    frontier: list[tuple[int, int | None]] = [(start, None)]
    while frontier:
        following: list[tuple[int, int | None]] = []
        for group, via in frontier:
            for room in preference.tolist():
                if room in came_from or not open_cells[group, room] or taken[group, room]:
                    continue
                came_from[room] = (group, via)
                if spare[room] > 0:
                    spare[room] -= 1
                    _flip(room, came_from, taken)
                    return True
                following += [(g, room) for g in np.flatnonzero(taken[:, room]).tolist()]
        frontier = following
    return False


def _flip(
    room: int, came_from: dict[int, tuple[int, int | None]], taken: NDArray[np.bool_]
) -> None:
    current: int | None = room
    while current is not None:
        group, previous = came_from[current]
        taken[group, current] = True
        if previous is not None:
            taken[group, previous] = False
        current = previous


def _seat_apart(
    room: RoomSpec, members: list[Seatee], seats: list[int], rng: np.random.Generator
) -> dict[int, Seatee]:
    """Seat ``members`` on ``seats`` of ``room`` with as few same-group neighbours as found."""
    names = sorted({p.group for p in members if p.group})
    label_of = {name: i for i, name in enumerate(names, start=1)} | {"": NONE}
    waiting: dict[int, list[Seatee]] = {}
    for person in members:
        waiting.setdefault(label_of[person.group], []).append(person)
    for label, people in waiting.items():
        waiting[label] = [people[i] for i in rng.permutation(len(people))]
    rank = {label: int(r) for label, r in zip(waiting, rng.permutation(len(waiting)), strict=True)}
    labels = np.full(room.capacity + 1, EMPTY, dtype=np.int64)  # index 0 unused
    people_at: dict[int, Seatee] = {}
    for seat in sorted(seats):
        behind = {int(labels[s]) for s in room.neighbours(seat) if s < seat} - {NONE}
        left = [label for label, p in waiting.items() if p]
        allowed = [label for label in left if label not in behind] or left
        label = max(allowed, key=lambda x: (len(waiting[x]), -rank[x]))
        labels[seat] = label
        people_at[seat] = waiting[label].pop()
    _repair(room, labels, people_at)
    return people_at


def _clashes(room: RoomSpec, labels: NDArray[np.int64], seat: int, label: int, skip: int) -> int:
    """Neighbours of ``seat`` (other than ``skip``) that share ``label``, a real group."""
    if label <= NONE:
        return 0
    return sum(1 for s in room.neighbours(seat) if s != skip and labels[s] == label)


def _repair(room: RoomSpec, labels: NDArray[np.int64], people_at: dict[int, Seatee]) -> None:
    """Swap seats (an empty one too) while a swap lowers the number of same-group neighbours;
    each time the best swap for the first seat that has a clash."""
    seats = range(1, room.capacity + 1)
    for _ in range(4 * room.capacity):
        improved = False
        for s in seats:
            a = int(labels[s])
            if _clashes(room, labels, s, a, 0) == 0:
                continue
            best, partner = 0, 0
            for t in seats:
                b = int(labels[t])
                if b == a:
                    continue
                before = _clashes(room, labels, s, a, t) + _clashes(room, labels, t, b, s)
                after = _clashes(room, labels, t, a, s) + _clashes(room, labels, s, b, t)
                if after - before < best:
                    best, partner = after - before, t
            if partner:
                _swap(labels, people_at, s, partner)
                improved = True
        if not improved:
            return


def _swap(labels: NDArray[np.int64], people_at: dict[int, Seatee], s: int, t: int) -> None:
    labels[s], labels[t] = labels[t], labels[s]
    first, second = people_at.pop(s, None), people_at.pop(t, None)
    if first is not None:
        people_at[t] = first
    if second is not None:
        people_at[s] = second
