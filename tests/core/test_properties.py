"""Properties over random specs (with metric thresholds) and random measured values, driven
through the simulator: the core classifies the values, the tests never script verdicts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from core_helpers import NEW, REF, STABLE, T0, status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canary.api.models import CanaryMetric, CanarySpec, CanaryStatus, Phase
from canary.core import (
    Decision,
    InitializePrimary,
    Measurement,
    Observation,
    PromoteToPrimary,
    ScaleTarget,
    SetRoute,
    SyncRouting,
    WorkloadState,
    decide,
)
from canary.core.machine import ANALYSING_PHASES
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
    fields["metrics"] = draw(st.lists(threshold_ranges(), min_size=1, max_size=3).map(metrics_from))
    return fields


@st.composite
def threshold_ranges(draw: st.DrawFn) -> dict[str, float]:
    """An inclusive range with a min, a max, both (min <= max) or neither."""
    low, high = sorted((draw(st.floats(0, 1000)), draw(st.floats(0, 1000))))
    kind = draw(st.sampled_from(["min", "max", "both", "none"]))
    bounds: dict[str, float] = {}
    if kind in ("min", "both"):
        bounds["min"] = low
    if kind in ("max", "both"):
        bounds["max"] = high
    return bounds


def metrics_from(ranges: list[dict[str, float]]) -> list[dict[str, Any]]:
    return [{"name": f"m{i}", "query": "up", "threshold_range": r} for i, r in enumerate(ranges)]


@dataclass(frozen=True)
class Down:
    """A reading for which the provider failed."""

    message: str = "connection refused"


#: What the provider answers for one metric: a value (None = empty result; NaN/±Inf included) or a failure.
Reading = float | None | Down
#: A value inside the metric's range, whatever it is.
PASS: Literal["pass"] = "pass"

readings: st.SearchStrategy[Reading] = st.one_of(
    st.floats(-10, 1010),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.none(),
    st.just(Down()),
)
no_data_readings: st.SearchStrategy[Reading] = st.sampled_from([None, math.nan])


def passing_value(metric: CanaryMetric) -> float:
    bounds = metric.effective_range
    return bounds.min if bounds.min is not None else (bounds.max if bounds.max is not None else 0.0)


def measure(metric: CanaryMetric, reading: Reading | Literal["pass"]) -> Measurement:
    """What the metric edge would return for this reading."""
    if isinstance(reading, Down):
        return Measurement.error(metric.name, reading.message)
    return Measurement.of(metric.name, passing_value(metric) if reading == PASS else reading)


def within_range(metric: CanaryMetric, measurement: Measurement) -> bool:
    """The test's own oracle (not the core's ``classify``): a finite value inside the inclusive range."""
    value, bounds = measurement.value, metric.effective_range
    if measurement.name != metric.name or value is None or not math.isfinite(value):
        return False
    return (bounds.min is None or value >= bounds.min) and (bounds.max is None or value <= bounds.max)


def spec_from(analysis: dict[str, Any]) -> CanarySpec:
    return CanarySpec.model_validate(
        {
            "target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "analysis": analysis,
        }
    )


class World:
    """A healthy cluster running revision NEW; each metric's reading comes from a script.

    Each scripted tick lists one reading per metric of the spec, in order (missing readings use
    ``default``). It also plays the routed cluster: the live split and the primary's revision
    follow the actions applied (see :meth:`apply`), and ``drift`` ticks have someone edit the route.
    """

    def __init__(
        self,
        spec: CanarySpec,
        script: list[list[Reading]] | None,
        default: Reading | Literal["pass"] = PASS,
        *,
        drift: frozenset[int] = frozenset(),
        splitting: bool = True,
    ) -> None:
        self._metrics = list(spec.analysis.metrics or [])
        self._script: Iterator[list[Reading]] = iter(script or [])
        self._default = default
        self._drift = drift
        self._splitting = splitting
        self.observations: list[Observation] = []
        self.route: tuple[int, int] = (100, 0)
        self.primary_revision = STABLE
        self.primary_revisions: list[str] = []

    def operator(self, tick: Tick, decision: Decision) -> bool:
        """``simulate``'s apply hook: apply the actions; every status write succeeds."""
        self.apply(decision)
        return True

    def apply(self, decision: Decision) -> None:
        """The operator's apply step, on this fake cluster."""
        for action in decision.actions:
            if isinstance(action, SetRoute):
                self.route = (action.primary_weight, action.canary_weight)
            elif isinstance(action, PromoteToPrimary):
                self.primary_revision = action.revision
            elif isinstance(action, InitializePrimary):
                self.primary_revision = NEW

    def __call__(self, tick: Tick) -> Observation:
        checks: tuple[Measurement, ...] | None = None
        if tick.checks_due:
            scripted: list[Reading | Literal["pass"]] = list(next(self._script, []))
            scripted = (scripted + [self._default] * len(self._metrics))[: len(self._metrics)]
            checks = tuple(measure(m, reading) for m, reading in zip(self._metrics, scripted, strict=True))
        if tick.index in self._drift:
            shifted = (tick.index * 37) % 101
            self.route = (100 - shifted, shifted)
        self.primary_revisions.append(self.primary_revision)
        obs = Observation(
            now=tick.now,
            canary=REF,
            target_revision=Revision(hash=NEW),
            target=WorkloadState.healthy(),
            primary=WorkloadState.healthy(),
            checks=checks,
            route_weights=self.route if self._splitting else None,
            primary_revision=self.primary_revision,
            traffic_splitting=self._splitting,
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
        if decision.status.phase not in (Phase.INITIALIZING, None):
            assert decision.actions[0] == SyncRouting()
        if any(isinstance(a, PromoteToPrimary) for a in decision.actions):
            assert decision.status.phase is Phase.PROMOTING
            assert sum(isinstance(a, PromoteToPrimary) for a in decision.actions) == 1
        for route in decision.routes:
            assert route.primary_weight + route.canary_weight == 100
            assert 0 <= route.canary_weight <= 100 and 0 <= route.primary_weight <= 100
        if decision.status.phase is Phase.FAILED and any(isinstance(a, SetRoute) for a in decision.actions):
            assert SetRoute(100, 0) in decision.actions
            assert ScaleTarget(to_zero=True) in decision.actions
            assert decision.status.canary_weight == 0


reading_lists = st.lists(readings, min_size=1, max_size=3)


@FAST
@given(analysis=analyses())
def test_all_passing_run_succeeds_within_bounds(analysis: dict[str, Any]) -> None:
    spec = spec_from(analysis)
    world = World(spec, None)
    decisions = simulate(
        spec, world, MAX_TICKS, start=T0, status=start(), until=finished, apply=world.operator
    )
    assert_invariants(spec, decisions)
    phases = [d.status.phase for d in decisions]
    assert phases[-1] is Phase.SUCCEEDED, phases[-5:]
    assert Phase.FAILED not in phases
    final = decisions[-1].status
    assert (final.last_promoted_spec, final.canary_weight) == (NEW, 0)


@FAST
@given(analysis=analyses(), script=st.lists(reading_lists, max_size=40))
def test_random_outcomes_keep_invariants(analysis: dict[str, Any], script: list[list[Reading]]) -> None:
    spec = spec_from(analysis)
    world = World(spec, script)
    decisions = simulate(
        spec, world, MAX_TICKS, start=T0, status=start(), until=finished, apply=world.operator
    )
    assert_invariants(spec, decisions)
    for obs, decision in zip(world.observations, decisions, strict=True):
        if any(isinstance(a, PromoteToPrimary) for a in decision.actions):
            metrics = spec.analysis.metrics or []
            assert obs.checks is not None and len(obs.checks) == len(metrics)
            assert all(within_range(m, c) for m, c in zip(metrics, obs.checks, strict=True))
    assert decisions[-1].status.phase in (Phase.SUCCEEDED, Phase.FAILED)


@FAST
@given(
    analysis=analyses(),
    script=st.lists(
        st.lists(st.one_of(st.just(PASS), no_data_readings), min_size=1, max_size=3).filter(
            lambda rs: any(r != PASS for r in rs)
        ),
        max_size=20,
    ),
)
def test_no_data_never_promotes(
    analysis: dict[str, Any], script: list[list[Reading | Literal["pass"]]]
) -> None:
    """Each scripted tick at least one metric reads no data (empty result or NaN), then all do."""
    spec = spec_from(analysis)
    metrics = len(spec.analysis.metrics or [])
    script = [rs[:metrics] if any(r != PASS for r in rs[:metrics]) else [None] for rs in script]
    world = World(spec, script, default=None)
    decisions = simulate(
        spec, world, MAX_TICKS, start=T0, status=start(), until=finished, apply=world.operator
    )
    assert all(not any(isinstance(a, PromoteToPrimary) for a in d.actions) for d in decisions)
    assert decisions[-1].status.phase is Phase.FAILED


@FAST
@given(
    analysis=analyses(),
    script=st.lists(reading_lists, max_size=20),
    probe=st.integers(0, 60),
    drift=st.frozensets(st.integers(0, 60), max_size=5),
    drops=st.frozensets(st.integers(0, 60), max_size=5),
    splitting=st.booleans(),
)
def test_decide_is_deterministic_and_pure(
    analysis: dict[str, Any],
    script: list[list[Reading]],
    probe: int,
    drift: frozenset[int],
    drops: frozenset[int],
    splitting: bool,
) -> None:
    """Same inputs, same decision; neither the status nor the spec is mutated, whatever the
    observation says about routes, the primary's revision or traffic splitting."""
    spec = spec_from(analysis)
    world = World(spec, script, drift=drift, splitting=splitting)

    def apply(tick: Tick, decision: Decision) -> bool:
        world.apply(decision)
        return tick.index not in drops

    decisions = simulate(spec, world, probe + 1, start=T0, status=start(), apply=apply)
    before = _written_before(decisions, probe, drops)
    obs = world.observations[probe]
    snapshot_status, snapshot_spec = before.model_copy(deep=True), spec.model_copy(deep=True)
    first, second = decide(spec, before, obs), decide(spec, before, obs)
    assert first == second == decisions[probe]
    assert before == snapshot_status
    assert spec == snapshot_spec


@FAST
@given(analysis=analyses(), script=st.lists(reading_lists, max_size=20), probe=st.integers(1, 60))
def test_replaying_written_status_at_same_instant_takes_no_step(
    analysis: dict[str, Any], script: list[list[Reading]], probe: int
) -> None:
    spec = spec_from(analysis)
    world = World(spec, script)
    decisions = simulate(spec, world, probe + 1, start=T0, status=start(), apply=world.operator)
    written = decisions[probe].status
    # The operator restarts and observes again at the same instant: the route now shows the
    # actions it applied before writing the status.
    obs = replace(
        world.observations[probe], route_weights=world.route, primary_revision=world.primary_revision
    )
    if written.phase in (Phase.PROGRESSING, Phase.PROMOTING, Phase.FINALISING):
        replay = decide(spec, written, obs)
        assert replay.actions == (SyncRouting(),)
        assert replay.status.canary_weight == written.canary_weight
        assert replay.status.phase == written.phase


def _written_before(decisions: list[Decision], index: int, drops: frozenset[int]) -> CanaryStatus:
    """The status the decision at ``index`` was made from (the last one actually written)."""
    for earlier in range(index - 1, -1, -1):
        if earlier not in drops:
            return decisions[earlier].status
    return start()


@FAST
@given(
    analysis=analyses(),
    script=st.lists(reading_lists, max_size=40),
    drops=st.frozensets(st.integers(0, MAX_TICKS), max_size=12),
    drift=st.frozensets(st.integers(0, MAX_TICKS), max_size=6),
)
def test_lost_status_writes_and_drift_heal(
    analysis: dict[str, Any], script: list[list[Reading]], drops: frozenset[int], drift: frozenset[int]
) -> None:
    """Apply every decision's actions but drop some status writes (and let someone edit the route):
    deciding again from the old status with route/primary revision reflecting the applied
    actions leaves the route equal to the status weight after every decision, and never rolls
    back once the primary already runs the new revision."""
    spec = spec_from(analysis)
    world = World(spec, script, drift=drift)
    routes_after: list[tuple[int, int]] = []

    def apply(tick: Tick, decision: Decision) -> bool:
        world.apply(decision)
        routes_after.append(world.route)
        return tick.index not in drops

    decisions = simulate(spec, world, MAX_TICKS, start=T0, status=start(), until=finished, apply=apply)
    assert_invariants(spec, decisions)
    for index, decision in enumerate(decisions):
        weight = decision.status.canary_weight
        assert routes_after[index] == (100 - weight, weight), (index, decision.actions)
        if world.primary_revisions[index] == NEW:
            assert decision.status.phase is not Phase.FAILED
            assert not any(isinstance(a, ScaleTarget) and a.to_zero for a in decision.actions) or (
                decision.status.phase is Phase.SUCCEEDED
            )
        before = _written_before(decisions, index, drops)
        if any(isinstance(a, PromoteToPrimary) for a in decision.actions):
            assert before.phase is not Phase.PROMOTING


@FAST
@given(
    first=analyses(),
    second=analyses(),
    script=st.lists(reading_lists, max_size=20),
    probe=st.integers(0, 40),
    route_seen=st.booleans(),
)
def test_spec_change_never_leaves_weight_above_new_maximum(
    first: dict[str, Any], second: dict[str, Any], script: list[list[Reading]], probe: int, route_seen: bool
) -> None:
    """Whatever the analysis is edited to mid-run, the next decision's weight is within its maximum."""
    old_spec, new_spec = spec_from(first), spec_from(second)
    world = World(old_spec, script)
    decisions = simulate(old_spec, world, probe + 1, start=T0, status=start(), apply=world.operator)
    before = decisions[-1].status
    if before.phase not in ANALYSING_PHASES:
        return
    obs = world.observations[-1]
    later = Observation(
        now=obs.now + new_spec.analysis_interval,
        canary=REF,
        target_revision=Revision(hash=NEW),
        target=WorkloadState.healthy(),
        primary=WorkloadState.healthy(),
        checks=obs.checks,
        route_weights=(100 - before.canary_weight, before.canary_weight) if route_seen else None,
    )
    decision = decide(new_spec, before, later)
    ceiling = max_weight(new_spec.analysis)
    if decision.status.phase is not Phase.PROMOTING:
        assert decision.status.canary_weight <= ceiling
    if decision.routes:
        assert decision.routes[-1].canary_weight <= ceiling
