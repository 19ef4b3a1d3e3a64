"""Step-weight arithmetic."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.api.models import CanaryAnalysis
from canary.core.weights import is_final_weight, max_weight, next_weight, promotion_steps


def analysis(**fields: Any) -> CanaryAnalysis:
    return CanaryAnalysis.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "current", "expected"),
    [
        pytest.param({"step_weight": 20, "max_weight": 50}, 0, 20, id="first-step"),
        pytest.param({"step_weight": 20, "max_weight": 50}, 40, 50, id="clamped-to-max"),
        pytest.param({"step_weight": 10}, 90, 100, id="default-max-100"),
        pytest.param({"step_weights": [1, 5, 30]}, 0, 1, id="weights-first"),
        pytest.param({"step_weights": [1, 5, 30]}, 5, 30, id="weights-next"),
        pytest.param({"step_weights": [1, 5, 30]}, 3, 5, id="weights-off-list-moves-forward"),
        pytest.param({"step_weights": [1, 5, 30], "max_weight": 20}, 5, 20, id="weights-clamped-by-max"),
        pytest.param({"iterations": 5}, 0, 0, id="iterations-keep-weight"),
    ],
)
def test_next_weight(fields: dict[str, Any], current: int, expected: int) -> None:
    assert next_weight(analysis(**fields), current) == expected


def test_final_weight() -> None:
    spec = analysis(step_weights=[10, 40])
    assert max_weight(spec) == 40
    assert not is_final_weight(spec, 10)
    assert is_final_weight(spec, 40)


@pytest.mark.parametrize(
    ("fields", "start", "steps"),
    [
        pytest.param({"step_weight": 10}, 50, (0,), id="all-at-once"),
        pytest.param({"step_weight": 10, "step_weight_promotion": 20}, 50, (30, 10, 0), id="stepped"),
        pytest.param({"step_weight": 10, "step_weight_promotion": 20}, 0, (), id="nothing-to-move"),
    ],
)
def test_promotion_steps(fields: dict[str, Any], start: int, steps: tuple[int, ...]) -> None:
    assert promotion_steps(analysis(**fields), start) == steps


@given(step=st.integers(1, 100), ceiling=st.integers(1, 100), current=st.integers(0, 100))
def test_next_weight_within_bounds_and_monotonic(step: int, ceiling: int, current: int) -> None:
    spec = analysis(step_weight=min(step, ceiling), max_weight=ceiling)
    nxt = next_weight(spec, min(current, ceiling))
    assert 0 <= nxt <= ceiling
    assert nxt >= min(current, ceiling)
