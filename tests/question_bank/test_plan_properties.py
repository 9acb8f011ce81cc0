"""Blueprint-level invariants: feasible blueprints give conforming forms; infeasible ones name a real shortfall."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.infra.errors import ValidationFailed
from question_bank.assembly.engine import assemble
from question_bank.assembly.plan import Infeasible, PoolItem, make_plan
from question_bank.blueprints import parse_blueprint
from schemas.enums import ItemType, Level
from schemas.reference import get_occupation

OBJECTIVE = [ItemType.SINGLE, ItemType.MULTIPLE, ItemType.TRUE_FALSE, ItemType.FILL]
AREAS = [a.code for a in get_occupation("ai").areas_at(Level.JUNIOR)]


@st.composite
def pools(draw: st.DrawFn) -> list[PoolItem]:
    size = draw(st.integers(10, 120))
    return [
        PoolItem(
            version_pk=n,
            code=f"P-{n:04d}",
            version=1,
            area=draw(st.sampled_from(AREAS)),
            type=draw(st.sampled_from(OBJECTIVE)),
            difficulty=draw(st.integers(0, 100)) / 100,
        )
        for n in range(size)
    ]


def blueprint_for(types: dict[ItemType, int], forms: int, **extra: Any) -> Any:
    spec = {t.value: {"count": n, "points": 1} for t, n in types.items() if n}
    return parse_blueprint(
        {
            "code": "prop",
            "name": "性质测试",
            "occupation": "ai",
            "level": "junior",
            "forms": forms,
            "parts": [
                {
                    "part": "theory",
                    "title": "理论知识",
                    "total_points": sum(types.values()),
                    "pass_mark": 0,
                    "time_limit_minutes": 60,
                    "types": spec,
                }
            ],
            **extra,
        }
    )


@settings(max_examples=80, deadline=None)
@given(pool=pools(), data=st.data())
def test_feasible_blueprints_give_forms_that_meet_every_constraint(
    pool: list[PoolItem], data: st.DataObject
) -> None:
    forms = data.draw(st.integers(1, 3), label="forms")
    have = Counter(p.type for p in pool)
    types = {t: data.draw(st.integers(0, have[t] // forms), label=t.value) for t in OBJECTIVE}
    if not sum(types.values()):
        return
    bp = blueprint_for(types, forms)
    plan = make_plan(bp, pool)
    result = assemble(plan.problem())
    assert result.violations == 0
    for f in range(forms):
        chosen = [plan.pool[int(i)] for i in result.form_items(f)]
        assert len({p.code for p in chosen}) == len(chosen)
        assert Counter(p.type for p in chosen) == Counter({t: n for t, n in types.items() if n})


@settings(max_examples=60, deadline=None)
@given(pool=pools(), data=st.data())
def test_infeasible_blueprints_name_a_real_shortfall(
    pool: list[PoolItem], data: st.DataObject
) -> None:
    have = Counter(p.type for p in pool)
    short = data.draw(st.sampled_from(OBJECTIVE), label="short type")
    extra = data.draw(st.integers(1, 5), label="extra")
    types = {t: min(have[t], 1) for t in OBJECTIVE}
    types[short] = have[short] + extra
    with pytest.raises(Infeasible) as err:
        make_plan(blueprint_for(types, 1), pool)
    named = [s for s in err.value.shortfalls if s.constraint.endswith(f"types.{short.value}")]
    assert named, err.value.shortfalls
    assert (
        f"needs {have[short] + extra} {short.value} items per form; the bank has {have[short]} ready"
        in named[0].message_en
    )


def _with_form_targets(targets: list[float], forms: int) -> Any:
    bp = blueprint_for({ItemType.SINGLE: 10}, forms)
    data = bp.model_dump(mode="json")
    data["parts"][0]["difficulty"]["form_targets"] = targets
    return parse_blueprint(data)


def test_form_targets_give_each_form_its_own_mean_difficulty() -> None:
    pool = [
        PoolItem(n, f"P-{n:04d}", 1, AREAS[n % len(AREAS)], ItemType.SINGLE, (n % 81 + 10) / 100)
        for n in range(240)
    ]
    plan = make_plan(_with_form_targets([0.4, 0.4, 0.6], 3), pool)
    result = assemble(plan.problem())
    assert result.violations == 0
    assert np.allclose(result.means[:, 0], [0.4, 0.4, 0.6], atol=0.005)


def test_form_targets_must_name_one_target_per_form() -> None:
    with pytest.raises(ValidationFailed) as err:
        _with_form_targets([0.4, 0.6], 3)
    assert [p.field for p in err.value.problems] == ["parts[0].difficulty.form_targets"]
    assert "3 forms, 2 given" in err.value.problems[0].message_en
