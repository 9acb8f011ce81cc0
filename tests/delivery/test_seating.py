"""考场编排: every candidate seated once, deterministically, rooms filled in order, groups apart.

The checks are written as plain functions of an allocation so the last tests can show they
catch a plain random seating: a test that cannot fail proves nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.delivery.seating import (
    Assignment,
    RoomSpec,
    Seatee,
    SeatingError,
    adjacent_pairs,
    allocate,
    fill_in_order,
)
from certify.infra.errors import Error

GROUPS = ["", "华为", "中兴", "浪潮", "海尔", "培训一班", "培训二班"]


@dataclass(frozen=True)
class Instance:
    people: list[Seatee]
    rooms: list[RoomSpec]
    seed: int

    @property
    def groups(self) -> dict[str, str]:
        return {p.key: p.group for p in self.people}


@st.composite
def instances(draw: st.DrawFn, *, max_rooms: int = 4, max_capacity: int = 48) -> Instance:
    rooms = [
        RoomSpec(f"R{i:02d}", draw(st.integers(1, max_capacity)), draw(st.integers(1, 8)))
        for i in draw(st.lists(st.integers(1, 20), min_size=1, max_size=max_rooms, unique=True))
    ]
    total = sum(r.capacity for r in rooms)
    n = draw(st.integers(0, total))
    weights = draw(st.lists(st.integers(0, 5), min_size=len(GROUPS), max_size=len(GROUPS)))
    pool = [g for g, w in zip(GROUPS, weights, strict=True) for _ in range(w)] or [""]
    people = [Seatee(f"2026{i:06d}", draw(st.sampled_from(pool))) for i in range(n)]
    return Instance(draw(st.permutations(people)), rooms, draw(st.integers(0, 2**63 - 1)))


def room_members(a: Assignment, code: str) -> list[str]:
    return [key for key, (room, _) in a.items() if room == code]


def fair_share_misses(a: Assignment, x: Instance) -> list[tuple[str, str, int, float]]:
    """(group, room, count, fair share) wherever a group's count is a whole seat off its share."""
    sizes = Counter(x.groups.values())
    n = len(x.people)
    misses = []
    for room in x.rooms:
        members = room_members(a, room.code)
        here = Counter(x.groups[k] for k in members)
        for group, size in sizes.items():
            share = size * len(members) / n
            if abs(here[group] - share) >= 1:
                misses.append((group, room.code, here[group], share))
    return misses


def clashing_sparse_rooms(a: Assignment, x: Instance) -> list[tuple[str, int]]:
    """Rooms where no group has over a third of the candidates yet some sit side by side."""
    out = []
    for room in x.rooms:
        members = room_members(a, room.code)
        here = Counter(x.groups[k] for k in members if x.groups[k])
        if 3 * max(here.values(), default=0) <= len(members):
            sub = {k: a[k] for k in members}
            pairs = adjacent_pairs(sub, [room], x.groups)
            if pairs:
                out.append((room.code, pairs))
    return out


# --- invariants ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(x=instances(), spread=st.booleans())
def test_every_candidate_gets_one_seat_of_a_room_and_no_seat_is_shared(
    x: Instance, spread: bool
) -> None:
    a = allocate(x.people, x.rooms, x.seed, spread=spread)
    assert sorted(a) == sorted(p.key for p in x.people)
    assert len(set(a.values())) == len(a)
    capacity = {r.code: r.capacity for r in x.rooms}
    assert all(1 <= seat <= capacity[room] for room, seat in a.values())


@settings(max_examples=100, deadline=None)
@given(x=instances(), spread=st.booleans(), data=st.data())
def test_the_same_candidates_in_any_order_get_the_same_seats(
    x: Instance, spread: bool, data: st.DataObject
) -> None:
    first = allocate(x.people, x.rooms, x.seed, spread=spread)
    people = data.draw(st.permutations(x.people))
    rooms = data.draw(st.permutations(x.rooms))
    assert allocate(people, rooms, x.seed, spread=spread) == first


@settings(max_examples=100, deadline=None)
@given(x=instances(), spread=st.booleans())
def test_rooms_fill_in_code_order_each_full_before_the_next(x: Instance, spread: bool) -> None:
    a = allocate(x.people, x.rooms, x.seed, spread=spread)
    ordered = sorted(x.rooms, key=lambda r: r.code)
    used = [len(room_members(a, r.code)) for r in ordered]
    assert used == fill_in_order(len(x.people), [r.capacity for r in ordered])


@settings(max_examples=200, deadline=None)
@given(x=instances())
def test_each_group_is_within_one_of_its_fair_share_in_every_room(x: Instance) -> None:
    assert fair_share_misses(allocate(x.people, x.rooms, x.seed), x) == []


@settings(max_examples=300, deadline=None)
@given(x=instances(max_capacity=60))
def test_no_group_sits_together_where_no_group_has_over_a_third_of_the_room(x: Instance) -> None:
    assert clashing_sparse_rooms(allocate(x.people, x.rooms, x.seed), x) == []


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), columns=st.integers(3, 8))
def test_three_equal_groups_fill_a_full_room_with_no_neighbours_alike(
    seed: int, columns: int
) -> None:
    room = RoomSpec("R01", 6 * columns, columns)
    people = [Seatee(f"{i:04d}", "ABC"[i % 3]) for i in range(room.capacity)]
    groups = {p.key: p.group for p in people}
    assert adjacent_pairs(allocate(people, [room], seed), [room], groups) == 0


def crowded(seed: int) -> Instance:
    """Two rooms, nearly full, where one employer sends half the candidates."""
    people = [Seatee(f"{i:04d}", "华为" if i % 2 else GROUPS[1 + i % 5]) for i in range(64)]
    return Instance(people, [RoomSpec("R01", 36), RoomSpec("R02", 30, 5)], seed)


@pytest.mark.parametrize("seed", range(20))
def test_a_crowded_session_has_fewer_neighbours_alike_than_a_random_seating(seed: int) -> None:
    x = crowded(seed)
    spread = adjacent_pairs(allocate(x.people, x.rooms, seed), x.rooms, x.groups)
    plain = adjacent_pairs(allocate(x.people, x.rooms, seed, spread=False), x.rooms, x.groups)
    assert spread < plain


def test_a_different_seed_gives_a_different_seating() -> None:
    x = crowded(0)
    assert allocate(x.people, x.rooms, 1) != allocate(x.people, x.rooms, 2)


# --- the checks can fail ---------------------------------------------------------------------


def test_the_checks_catch_a_plain_random_seating() -> None:
    people = [Seatee(f"{i:04d}", GROUPS[1 + i % 3]) for i in range(30)]
    one_room = Instance(people, [RoomSpec("R01", 30)], 5)
    plain = allocate(one_room.people, one_room.rooms, one_room.seed, spread=False)
    assert clashing_sparse_rooms(plain, one_room)
    three_rooms = Instance(people, [RoomSpec(f"R0{i}", 10) for i in range(1, 4)], 5)
    by_employer = sorted(people, key=lambda p: p.group)
    # Each employer in a room of its own: rooms filled in order, groups not spread.
    in_order = {p.key: (f"R0{1 + i // 10}", 1 + i % 10) for i, p in enumerate(by_employer)}
    assert fair_share_misses(in_order, three_rooms)


def test_adjacent_pairs_counts_rows_and_columns_not_diagonals() -> None:
    room = RoomSpec("R01", 8, columns=3)  # 1 2 3 / 4 5 6 / 7 8
    a = {"a": ("R01", 1), "b": ("R01", 2), "c": ("R01", 4), "d": ("R01", 5), "e": ("R01", 3)}
    a |= {"f": ("R01", 7), "g": ("R01", 8)}
    groups = {"a": "X", "b": "X", "c": "Y", "d": "X", "e": "Y", "f": "", "g": ""}
    # a–b side by side, b–d one behind the other; a–d diagonal, c–e far; no group never counts.
    assert adjacent_pairs(a, [room], groups) == 2


# --- refusals --------------------------------------------------------------------------------


def test_too_few_seats_is_refused_naming_how_many_are_missing() -> None:
    people = [Seatee(f"{i:04d}") for i in range(75)]
    with pytest.raises(SeatingError) as caught:
        allocate(people, [RoomSpec("R01", 30), RoomSpec("R02", 40)], 1)
    assert caught.value.code == "short_of_seats"
    assert "缺 5 个座位" in caught.value.message_zh
    assert "5 seat(s) short" in caught.value.message_en
    assert isinstance(caught.value, Error) and "缺 5" in caught.value.diagnostics()


def test_an_admission_number_listed_twice_is_refused() -> None:
    people = [Seatee("0001", "A"), Seatee("0002"), Seatee("0001", "B")]
    with pytest.raises(SeatingError) as caught:
        allocate(people, [RoomSpec("R01", 30)], 1)
    assert caught.value.code == "duplicate_candidate" and "0001" in str(caught.value)


@pytest.mark.parametrize("room", [RoomSpec("R02", 0), RoomSpec("R02", -3), RoomSpec("R02", 5, 0)])
def test_a_room_without_seats_or_rows_is_refused(room: RoomSpec) -> None:
    with pytest.raises(SeatingError) as caught:
        allocate([Seatee("0001")], [RoomSpec("R01", 30), room], 1)
    assert caught.value.code == "bad_room" and "R02" in str(caught.value)


def test_a_room_code_used_twice_is_refused() -> None:
    with pytest.raises(SeatingError) as caught:
        allocate([Seatee("0001")], [RoomSpec("R01", 30), RoomSpec("R01", 20)], 1)
    assert caught.value.code == "duplicate_room"


def test_no_candidates_take_no_seats() -> None:
    assert allocate([], [RoomSpec("R01", 30)], 1) == {}
