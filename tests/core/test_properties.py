"""Properties over random specs and random check outcomes, driven through the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core_helpers import NEW, REF, STABLE, T0, status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canary.api.models import CanarySpec, CanaryStatus, Phase
from canary.core import (
    CheckOutcome,
    Decision,
    Observation,
    PromoteToPrimary,
    ScaleTarget,
    SetRoute,
    Verdict,
    WorkloadState,
    decide,
)
from canary.core.observations import Revision
from canary.core.simulate import Tick, simulate
from canary.core.weights import max_weight

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_TICKS = 260  # > new revision + first step + 100 weight steps + 100 promotion steps + finalise


@st.composite
def analyses(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(["step_weight", "step_weights", "iterations"]))
    fields: dict[str, Any] = {"interval": "1m", "threshold": draw(st.integers(1, 5))}
    if mode == "step_weight":
        ceiling = draw(st.integers(1, 100))
        fields |= {"max_weight": ceiling, "step_weight": draw(st.integers(1, ceiling))}
    elif mode == "step_weights":
        weights = draw(st.lists(st.integers(1, 100), min_size=1, max_size=6, unique=True))
        fields["step_weights"] = sorted(weights)
        if draw(st.booleans()):
            fields["max_weight"] = draw(st.integers(1, 100))
    else:
        fields["iterations"] = draw(st.integers(0, 8))
    if draw(st.booleans()):
        fields["step_weight_promotion"] = draw(st.integers(1, 100))
    return fields


def spec_from(analysis: dict[str, Any]) -> CanarySpec:
    return CanarySpec.model_validate(
        {
            "target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "analysis": analysis,
        }
    )


class World:
    """A healthy cluster running revision NEW; metric verdicts come from a script."""

    def __init__(self, verdicts: list[list[Verdict]] | None, default: Verdict = Verdict.SUCCESSFUL) -> None:
        self._script: Iterator[list[Verdict]] = iter(verdicts or [])
        self._default = default
        self.observations: list[Observation] = []

    def __call__(self, tick: Tick) -> Observation:
        checks: tuple[CheckOutcome, ...] | None = None
        if tick.checks_due:
            verdicts = next(self._script, [self._default])
            checks = tuple(
                CheckOutcome(f"m{i}", v, 99.9 if v is Verdict.SUCCESSFUL else None, threshold_min=99)
                for i, v in enumerate(verdicts)
            )
        obs = Observation(
            now=tick.now,
            canary=REF,
            target_revision=Revision(hash=NEW),
            target=WorkloadState.healthy(),
            primary=WorkloadState.healthy(),
            checks=checks,
        )
        self.observations.append(obs)
        return obs


def finished(decision: Decision) -> bool:
    return decision.status.phase in (Phase.SUCCEEDED, Phase.FAILED)


def start() -> CanaryStatus:
    return status(Phase.SUCCEEDED, last_applied_spec=STABLE, last_promoted_spec=STABLE)


def assert_invariants(spec: CanarySpec, decisions: list[Decision]) -> None:
    ceiling = max_weight(spec.analysis)
    for decision in decisions:
        assert 0 <= decision.status.canary_weight <= ceiling
        for route in decision.routes:
            assert route.primary_weight + route.canary_weight == 100
            assert 0 <= route.canary_weight <= 100 and 0 <= route.primary_weight <= 100
        if decision.status.phase is Phase.FAILED and any(isinstance(a, SetRoute) for a in decision.actions):
            assert SetRoute(100, 0) in decision.actions
            assert ScaleTarget(to_zero=True) in decision.actions
            assert decision.status.canary_weight == 0


verdict_lists = st.lists(st.sampled_from(list(Verdict)), min_size=1, max_size=3)


@FAST
@given(analysis=analyses())
def test_all_passing_run_succeeds_within_bounds(analysis: dict[str, Any]) -> None:
    spec = spec_from(analysis)
    decisions = simulate(spec, World(None), MAX_TICKS, start=T0, status=start(), until=finished)
    assert_invariants(spec, decisions)
    phases = [d.status.phase for d in decisions]
    assert phases[-1] is Phase.SUCCEEDED, phases[-5:]
    assert Phase.FAILED not in phases
    final = decisions[-1].status
    assert (final.last_promoted_spec, final.canary_weight) == (NEW, 0)


@FAST
@given(analysis=analyses(), script=st.lists(verdict_lists, max_size=40))
def test_random_outcomes_keep_invariants(analysis: dict[str, Any], script: list[list[Verdict]]) -> None:
    spec = spec_from(analysis)
    world = World(script)
    decisions = simulate(spec, world, MAX_TICKS, start=T0, status=start(), until=finished)
    assert_invariants(spec, decisions)
    for obs, decision in zip(world.observations, decisions, strict=True):
        if any(isinstance(a, PromoteToPrimary) for a in decision.actions):
            assert obs.checks is not None and all(c.verdict is Verdict.SUCCESSFUL for c in obs.checks)
    assert decisions[-1].status.phase in (Phase.SUCCEEDED, Phase.FAILED)


@FAST
@given(
    analysis=analyses(),
    script=st.lists(
        st.lists(st.sampled_from([Verdict.SUCCESSFUL, Verdict.INCONCLUSIVE]), min_size=1, max_size=3).filter(
            lambda vs: Verdict.INCONCLUSIVE in vs
        ),
        max_size=20,
    ),
)
def test_no_data_never_promotes(analysis: dict[str, Any], script: list[list[Verdict]]) -> None:
    spec = spec_from(analysis)
    world = World(script, default=Verdict.INCONCLUSIVE)
    decisions = simulate(spec, world, MAX_TICKS, start=T0, status=start(), until=finished)
    assert all(not any(isinstance(a, PromoteToPrimary) for a in d.actions) for d in decisions)
    assert decisions[-1].status.phase is Phase.FAILED


@FAST
@given(analysis=analyses(), script=st.lists(verdict_lists, max_size=20), probe=st.integers(0, 60))
def test_decide_is_deterministic_and_pure(
    analysis: dict[str, Any], script: list[list[Verdict]], probe: int
) -> None:
    spec = spec_from(analysis)
    world = World(script)
    decisions = simulate(spec, world, probe + 1, start=T0, status=start())
    before = decisions[probe - 1].status if probe else start()
    obs = world.observations[probe]
    snapshot_status, snapshot_spec = before.model_copy(deep=True), spec.model_copy(deep=True)
    first, second = decide(spec, before, obs), decide(spec, before, obs)
    assert first == second == decisions[probe]
    assert before == snapshot_status
    assert spec == snapshot_spec


@FAST
@given(analysis=analyses(), script=st.lists(verdict_lists, max_size=20), probe=st.integers(1, 60))
def test_replaying_written_status_at_same_instant_takes_no_step(
    analysis: dict[str, Any], script: list[list[Verdict]], probe: int
) -> None:
    spec = spec_from(analysis)
    world = World(script)
    decisions = simulate(spec, world, probe + 1, start=T0, status=start())
    written, obs = decisions[probe].status, world.observations[probe]
    if written.phase in (Phase.PROGRESSING, Phase.PROMOTING, Phase.FINALISING):
        replay = decide(spec, written, obs)
        assert replay.actions == ()
        assert replay.status.canary_weight == written.canary_weight
        assert replay.status.phase == written.phase
