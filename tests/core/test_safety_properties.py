"""First, do no harm: the routing and promotion invariants under random faults.

A fake cluster loses its primary, its target and their replicas at random ticks, Prometheus
answers at random (values, no data, errors) and status writes get lost; whatever happens,
every decision must keep these promises:

* a route never sends traffic to a workload without available replicas while the other one has
  some (after bootstrap, which routes to the primary it is creating);
* the only copy that serves is never scaled to zero;
* the primary only ever runs a revision that passed (or the stable one): it is promoted only
  after a passing step, and a deleted primary is recreated only from the promoted revision.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal, get_args

import pytest
from core_helpers import NEW, REF, STABLE, T0
from hypothesis import given
from hypothesis import strategies as st
from test_properties import (
    FAST,
    MAX_TICKS,
    Reading,
    analyses,
    measure,
    readings,
    spec_from,
    start,
    within_range,
)

from canary.api.models import CanarySpec, CanaryStatus, Phase
from canary.core import (
    Decision,
    InitializePrimary,
    Measurement,
    Observation,
    PromoteToPrimary,
    RestorePrimary,
    ScaleTarget,
    SetRoute,
    WorkloadState,
    decide,
)
from canary.core.observations import Revision
from canary.core.simulate import Tick, simulate

Fault = Literal[
    "primary-deleted",
    "target-deleted",
    "target-back",
    "canary-down",
    "canary-up",
    "primary-down",
    "primary-up",
]
faults: st.SearchStrategy[Fault | None] = st.one_of(st.none(), st.sampled_from(get_args(Fault)))


class FaultyWorld:
    """A cluster whose workloads vanish and lose replicas; it applies the operator's actions."""

    def __init__(self, spec: CanarySpec, faults: list[Fault | None], script: list[list[Reading]]) -> None:
        self.metrics = list(spec.analysis.metrics or [])
        self.faults = faults
        self.script = iter(script)
        self.primary = {"exists": True, "available": True}
        self.target = {"exists": True, "available": True, "replicas": 0}
        self.route = (100, 0)
        self.primary_revision = STABLE
        self.observations: list[Observation] = []
        self.before: list[CanaryStatus | None] = []

    def __call__(self, tick: Tick) -> Observation:
        fault = self.faults[tick.index] if tick.index < len(self.faults) else None
        if fault == "primary-deleted":
            self.primary = {"exists": False, "available": False}
        elif fault == "primary-down":
            self.primary["available"] = False
        elif fault == "primary-up" and self.primary["exists"]:
            self.primary["available"] = True
        elif fault == "target-deleted":
            self.target = {"exists": False, "available": False, "replicas": 0}
        elif fault == "target-back" and not self.target["exists"]:
            self.target = {"exists": True, "available": False, "replicas": 0}
        elif fault == "canary-down":
            self.target["available"] = False
        elif fault == "canary-up" and self.target["exists"] and self.target["replicas"]:
            self.target["available"] = True
        checks: tuple[Measurement, ...] | None = None
        if tick.checks_due:
            values = list(next(self.script, []))
            values = (values + ["pass"] * len(self.metrics))[: len(self.metrics)]
            checks = tuple(measure(m, r) for m, r in zip(self.metrics, values, strict=True))
        target = (
            WorkloadState(
                exists=True, ready=bool(self.target["available"]), available=bool(self.target["available"])
            )
            if self.target["exists"]
            else WorkloadState.missing("deployment podinfo not found")
        )
        primary = (
            WorkloadState(
                exists=True, ready=bool(self.primary["available"]), available=bool(self.primary["available"])
            )
            if self.primary["exists"]
            else WorkloadState.missing("deployment podinfo-primary not found")
        )
        obs = Observation(
            now=tick.now,
            canary=REF,
            target_revision=Revision(hash=NEW) if self.target["exists"] else None,
            target=target,
            primary=primary,
            checks=checks,
            route_weights=self.route,
            primary_revision=self.primary_revision if self.primary["exists"] else None,
        )
        self.observations.append(obs)
        self.before.append(tick.status)
        return obs

    def apply(self, decision: Decision) -> None:
        for action in decision.actions:
            match action:
                case SetRoute(primary_weight=p, canary_weight=c):
                    self.route = (p, c)
                case ScaleTarget(to_zero=True) if self.target["exists"]:
                    self.target.update(replicas=0, available=False)
                case ScaleTarget(to_zero=False) if self.target["exists"]:
                    self.target.update(replicas=1, available=True)
                case PromoteToPrimary(revision=revision):
                    self.primary_revision = revision
                case RestorePrimary(revision=revision):
                    self.primary = {"exists": True, "available": True}
                    self.primary_revision = revision
                case InitializePrimary():
                    self.primary = {"exists": True, "available": True}


@FAST
@given(
    analysis=analyses(),
    fault_script=st.lists(faults, max_size=60),
    script=st.lists(st.lists(readings, min_size=1, max_size=3), max_size=40),
    drops=st.frozensets(st.integers(0, MAX_TICKS), max_size=8),
    skip=st.booleans(),
)
def test_no_decision_routes_to_nothing_or_promotes_unpassed(
    analysis: dict[str, Any],
    fault_script: list[Fault | None],
    script: list[list[Reading]],
    drops: frozenset[int],
    skip: bool,
) -> None:
    spec = spec_from(analysis).model_copy(update={"skip_analysis": skip})
    world = FaultyWorld(spec, fault_script, script)

    routes_after: list[tuple[int, int]] = []

    def apply(tick: Tick, decision: Decision) -> bool:
        world.apply(decision)
        routes_after.append(world.route)
        return tick.index not in drops

    decisions = simulate(spec, world, MAX_TICKS, start=T0, status=start(), apply=apply)
    passed: set[str] = {STABLE}
    for obs, before, decision, live in zip(
        world.observations, world.before, decisions, routes_after, strict=True
    ):
        primary_ok, canary_ok = obs.primary.serving, obs.target.serving
        for route in (*decision.routes, SetRoute(*live)):
            if route.canary_weight > 0 and not canary_ok:
                assert not primary_ok, (route, obs, decision.actions)
            if route.primary_weight > 0 and not primary_ok:
                assert not canary_ok, (route, obs, decision.actions)
        if canary_ok and not primary_ok:
            assert ScaleTarget(to_zero=True) not in decision.actions
        for action in decision.actions:
            if isinstance(action, PromoteToPrimary):
                metrics = spec.analysis.metrics or []
                measured_pass = obs.checks is not None and all(
                    within_range(m, c) for m, c in zip(metrics, obs.checks, strict=True)
                )
                assert skip or measured_pass, (obs.checks, decision.status.message)
                assert obs.target.ready
                passed.add(action.revision)
            if isinstance(action, RestorePrimary):
                assert before is not None and action.revision == before.last_promoted_spec
                assert action.revision in passed
    assert world.primary_revision in passed


def test_primary_deleted_when_settled_is_restored_with_a_warning() -> None:
    spec = spec_from({"interval": "1m", "step_weight": 50})
    settled = start()
    obs = Observation(
        now=T0,
        canary=REF,
        target_revision=Revision(hash=STABLE),
        target=WorkloadState(exists=True, ready=True, available=False),
        primary=WorkloadState.missing("deployment podinfo-primary.test not found"),
        route_weights=(100, 0),
    )
    decision = decide(spec, settled, obs)
    assert RestorePrimary(revision=STABLE) in decision.actions
    assert decision.status.phase is Phase.SUCCEEDED
    condition = decision.status.condition("PrimaryMissing")
    assert condition is not None and condition.status == "True"
    assert [e.reason for e in decision.events] == ["PrimaryMissing"]
    # Still missing next tick: restored again, but no second Warning.
    again = decide(spec, decision.status, obs)
    assert RestorePrimary(revision=STABLE) in again.actions and not again.events
    # Back: the condition clears.
    back = decide(spec, again.status, Observation(**{**obs.__dict__, "primary": WorkloadState.healthy()}))
    assert back.status.condition("PrimaryMissing") is None


def _progressing_obs(**fields: Any) -> Observation:
    base: dict[str, Any] = {
        "now": T0,
        "canary": REF,
        "target_revision": Revision(hash=NEW),
        "target": WorkloadState.healthy(),
        "primary": WorkloadState.healthy(),
        "route_weights": (80, 20),
    }
    return Observation(**{**base, **fields})


def test_second_canary_on_a_target_changes_nothing_and_names_the_owner() -> None:
    spec = spec_from({"interval": "1m", "step_weight": 50})
    decision = decide(spec, None, _progressing_obs(owner="test/podinfo-a"))
    assert decision.actions == (decision.events[0],), (
        "no InitializePrimary, no route, no scaling: only the Warning"
    )
    assert decision.events[0].reason == "TargetConflict"
    condition = decision.status.condition("TargetConflict")
    assert condition is not None and "canary test/podinfo-a" in (condition.message or "")
    again = decide(spec, decision.status, _progressing_obs(owner="test/podinfo-a"))
    assert again.actions == ()
    freed = decide(spec, again.status, _progressing_obs())
    assert freed.status.condition("TargetConflict") is None
    assert any(isinstance(a, InitializePrimary) for a in freed.actions)


def test_infinite_values_are_stored_as_null_and_named() -> None:
    spec = spec_from(
        {"interval": "1m", "step_weight": 20, "metrics": [{"name": "m0", "query": "vector(1)/0"}]}
    )
    before = start().model_copy(
        update={"phase": Phase.PROGRESSING, "canary_weight": 20, "last_applied_spec": NEW}
    )
    obs = _progressing_obs(
        now=T0.replace(hour=T0.hour + 1),
        checks=(Measurement.of("m0", math.inf, primary_value=-math.inf),),
    )
    decision = decide(spec, before, obs)
    [check] = decision.status.checks
    assert (check.value, check.primary_value, check.verdict) == (None, None, "Inconclusive")
    assert "+Inf" in (check.message or "")
    json.dumps(decision.status.to_dict(), allow_nan=False)  # valid JSON: raises on NaN/Infinity


def test_credentials_over_http_raise_a_warning_condition() -> None:
    spec = spec_from({"interval": "1m", "step_weight": 20, "metrics": [{"name": "m0", "query": "up"}]})
    before = start().model_copy(
        update={"phase": Phase.PROGRESSING, "canary_weight": 20, "last_applied_spec": NEW}
    )
    warning = "metric template t.test sends credentials to http://prom:9090 over plain http; use https"
    measured = Measurement(name="m0", outcome=Measurement.of("m0", 1.0).outcome, value=1.0, warning=warning)
    decision = decide(spec, before, _progressing_obs(now=T0.replace(hour=T0.hour + 1), checks=(measured,)))
    condition = decision.status.condition("MetricProviderWarning")
    assert condition is not None and condition.message == warning
    assert [e.reason for e in decision.events if e.type == "Warning"] == ["MetricProviderWarning"]


@pytest.mark.parametrize(
    "hands_off",
    [
        pytest.param({"spec": {"suspend": True}}, id="suspended"),
        pytest.param({"obs": {"owner": "test/podinfo-a"}}, id="standing-aside"),
        pytest.param({"status": {"phase": Phase.TERMINATING}}, id="terminating"),
    ],
)
def test_a_canary_told_to_keep_hands_off_does_not_reroute(hands_off: dict[str, dict[str, Any]]) -> None:
    """Even with the primary gone: suspend means suspend, and another Canary's route is not ours."""
    spec = spec_from({"interval": "1m", "step_weight": 50}).model_copy(update=hands_off.get("spec", {}))
    before = start().model_copy(update=hands_off.get("status", {}))
    obs = _progressing_obs(
        primary=WorkloadState.missing("deployment podinfo-primary.test not found"), route_weights=(100, 0)
    )
    obs = Observation(**{**obs.__dict__, **hands_off.get("obs", {})})
    decision = decide(spec, before, obs)
    assert not decision.routes
    assert not any(isinstance(a, RestorePrimary | ScaleTarget) for a in decision.actions)
    assert decision.status.condition("PrimaryMissing") is None


def test_redirect_is_a_condition_and_its_end_is_not_called_drift() -> None:
    spec = spec_from({"interval": "1m", "step_weight": 10})
    before = start().model_copy(
        update={"phase": Phase.PROGRESSING, "canary_weight": 10, "last_applied_spec": NEW}
    )
    gone = _progressing_obs(
        primary=WorkloadState.missing("deployment podinfo-primary.test not found"), route_weights=(90, 10)
    )
    redirected = decide(spec, before, gone)
    assert redirected.routes[-1] == SetRoute(0, 100)
    assert redirected.status.canary_weight == 10, "the analysis' split is kept in the status"
    condition = redirected.status.condition("TrafficRedirected")
    assert condition is not None and "podinfo-primary.test has no available replicas" in (
        condition.message or ""
    )
    still = decide(spec, redirected.status, Observation(**{**gone.__dict__, "route_weights": (0, 100)}))
    assert still.status.condition("TrafficRedirected") is not None
    assert not any(e.reason in ("RouteDrift", "TrafficRedirected") for e in still.events)
    back = decide(spec, still.status, _progressing_obs(route_weights=(0, 100)))
    assert back.routes[0] == SetRoute(90, 10)
    assert [e.reason for e in back.events if e.reason in ("RouteDrift", "TrafficRestored")] == [
        "TrafficRestored"
    ]
    assert back.status.condition("TrafficRedirected") is None


def test_a_load_test_webhook_does_not_hold_the_release() -> None:
    hooks = [{"name": "load-test", "type": "rollout", "url": "http://flagger-loadtester.test/"}]
    spec = spec_from({"interval": "1m", "step_weight": 50, "webhooks": hooks})
    started = decide(spec, start(), _progressing_obs(route_weights=(100, 0)))
    assert started.status.phase is Phase.PROGRESSING
