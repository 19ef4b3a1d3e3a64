"""Whole rollouts through the simulator, read as the event stream a user would see."""

from __future__ import annotations

from core_helpers import DEFAULT_METRICS, REF, T0, make_spec

from canary.api.models import Phase
from canary.core import Measurement, Observation, Revision, WorkloadState
from canary.core.simulate import ObservationFn, Tick, simulate


def world(revision_at: int, success_rate: float) -> ObservationFn:
    """Stable revision first, NEW from tick ``revision_at``; primary ready after tick 1; the
    success rate measures ``success_rate`` (the spec's minimum is 99)."""

    def observe(tick: Tick) -> Observation:
        checks = (Measurement.of("request-success-rate", success_rate),) if tick.checks_due else None
        return Observation(
            now=tick.now,
            canary=REF,
            target_revision=Revision(hash="v2" if tick.index >= revision_at else "v1"),
            target=WorkloadState.healthy(),
            primary=WorkloadState.healthy() if tick.index >= 1 else WorkloadState(True, False, "creating"),
            checks=checks,
        )

    return observe


def test_successful_rollout_story() -> None:
    decisions = simulate(make_spec(), world(3, 99.9), 12, start=T0)
    events = [e.message for d in decisions for e in d.events]
    assert events == [
        "Initialization done! podinfo.test",
        "New revision detected! Scaling up podinfo.test",
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary weight 20",
        "Advance podinfo.test canary weight 40",
        "Advance podinfo.test canary weight 50",
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Routing all traffic to primary",
        "Promotion completed! Scaling down podinfo.test",
    ]
    assert decisions[-1].status.phase is Phase.SUCCEEDED
    assert decisions[-1].status.last_promoted_spec == "v2"


def test_failing_rollout_story() -> None:
    spec = make_spec({"step_weight": 20, "max_weight": 50, "threshold": 2, "metrics": DEFAULT_METRICS})
    decisions = simulate(spec, world(3, 91.3), 10, start=T0)
    events = [e.message for d in decisions for e in d.events]
    assert events == [
        "Initialization done! podinfo.test",
        "New revision detected! Scaling up podinfo.test",
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary weight 20",
        "Halt podinfo.test advancement request-success-rate 91.30 < 99",
        "Halt podinfo.test advancement request-success-rate 91.30 < 99",
        "Rolling back podinfo.test failed checks threshold reached 2",
        "Canary failed! Scaling down podinfo.test",
    ]
    final = decisions[-1].status
    assert (final.phase, final.canary_weight, final.failed_checks) == (Phase.FAILED, 0, 2)
    assert final.last_promoted_spec == "v1"


def blue_green_world(splitting: bool) -> ObservationFn:
    """A new revision from tick 3, passing checks, on a router that can (or cannot) split traffic."""

    def observe(tick: Tick) -> Observation:
        return Observation(
            now=tick.now,
            canary=REF,
            target_revision=Revision(hash="v2" if tick.index >= 3 else "v1"),
            target=WorkloadState.healthy(),
            primary=WorkloadState.healthy(),
            checks=(Measurement.of("request-success-rate", 99.9),) if tick.checks_due else None,
            traffic_splitting=splitting,
        )

    return observe


def test_blue_green_cuts_all_traffic_over_to_the_canary_before_promoting() -> None:
    """Flagger's runBlueGreen: after the iterations, one analysed interval with all traffic on the
    canary, then the template copy, then all traffic back to the (promoted) primary."""
    decisions = simulate(make_spec({"iterations": 2}), blue_green_world(True), 14, start=T0)
    events = [e.message for d in decisions for e in d.events]
    assert events == [
        "Initialization done! podinfo.test",
        "New revision detected! Scaling up podinfo.test",
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary iteration 1/2",
        "Advance podinfo.test canary iteration 2/2",
        "Routing all traffic to canary",
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Routing all traffic to primary",
        "Promotion completed! Scaling down podinfo.test",
    ]
    weights = [d.status.canary_weight for d in decisions]
    assert 100 in weights and weights[-1] == 0
    assert decisions[-1].status.phase is Phase.SUCCEEDED


def test_blue_green_on_plain_services_says_nothing_about_routing() -> None:
    """provider kubernetes routes nothing: no cut-over and no "Routing all traffic" events."""
    spec = make_spec({"iterations": 2}, provider="kubernetes")
    decisions = simulate(spec, blue_green_world(False), 14, start=T0)
    events = [e.message for d in decisions for e in d.events]
    assert events == [
        "Initialization done! podinfo.test",
        "New revision detected! Scaling up podinfo.test",
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary iteration 1/2",
        "Advance podinfo.test canary iteration 2/2",
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Promotion completed! Scaling down podinfo.test",
    ]
    assert {d.status.canary_weight for d in decisions} == {0}
    assert decisions[-1].status.phase is Phase.SUCCEEDED
