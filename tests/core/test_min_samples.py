"""``minSamples`` and ``inconclusiveDeadline``: a quiet canary is not a bad one, but not a pass.

Driven through ``decide`` the way the operator does: ``measurement_plan`` says which windows to
measure, a scripted world answers how many canary requests each window held, and the next tick
comes ``next_tick_in`` later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core_helpers import NEW, REF, STABLE, T0, make_spec, no_data, observe

from canary.api.models import CONDITION_PROMOTED, CanarySpec, CanaryStatus, Phase, Verdict
from canary.core import (
    Decision,
    Measurement,
    MeasurementPlan,
    Observation,
    Revision,
    RevisionSample,
    WindowSamples,
    WorkloadState,
    decide,
    measurement_plan,
    next_tick_in,
)
from canary.core.conditions import format_timestamp

METRIC = "request-success-rate"
WAITING = f"{METRIC} has 10 of 50 samples (waiting for traffic)"

#: How many canary requests the window ending at ``t`` seconds, ``window`` long, held.
Requests = Callable[[int, int], float]


def quiet(_t: int, _window: int) -> float:
    """Ten canary requests in whatever window is asked for."""
    return 10.0


def busy_from(start: int) -> Requests:
    """Ten requests a window until ``start`` seconds, then ten a second."""

    def requests(t: int, window: int) -> float:
        return 10.0 if t < start else 10.0 * window

    return requests


def spec(**analysis: Any) -> CanarySpec:
    return make_spec(
        {
            "interval": "1m",
            "step_weight": 20,
            "max_weight": 50,
            "threshold": 2,
            "metrics": [{"name": METRIC, "threshold_range": {"min": 99}, "min_samples": 50}],
            **analysis,
        }
    )


def analysing(weight: int = 20) -> CanaryStatus:
    """Analysis started at T0 at ``weight`` (the first step was taken)."""
    stamp = format_timestamp(T0)
    return CanaryStatus(
        phase=Phase.PROGRESSING,
        last_applied_spec=NEW,
        last_promoted_spec=STABLE,
        step_started_at=stamp,
        last_transition_time=stamp,
        analysis_started_at=stamp,
        canary_weight=weight,
    )


@dataclass(frozen=True)
class Tick:
    t: int
    before: CanaryStatus
    plan: MeasurementPlan
    decision: Decision

    @property
    def status(self) -> CanaryStatus:
        return self.decision.status


def run(canary: CanarySpec, requests: Requests, *, horizon_s: int = 1200) -> list[Tick]:
    status = analysing()
    ticks: list[Tick] = []
    t = 0
    while t <= horizon_s:
        now = T0 + timedelta(seconds=t)
        plan = measurement_plan(canary, status, now)
        checks = None
        if plan.checks is not None:
            checks = tuple(
                Measurement.of(name, 99.9 if requests(t, w) > 0 else math.nan, window_seconds=w)
                for name, w in plan.checks.items()
            )
        samples = {
            float(w): WindowSamples(
                window_seconds=float(w),
                canary=RevisionSample(requests=requests(t, w), errors=0.0),
                primary=RevisionSample(requests=40.0 * w, errors=0.0),
            )
            for w in plan.samples
        }
        obs = Observation(
            now=now,
            canary=REF,
            target_revision=Revision(hash=NEW),
            target=WorkloadState.healthy(),
            primary=WorkloadState.healthy(),
            checks=checks,
            samples=samples,
        )
        decision = decide(canary, status, obs)
        ticks.append(Tick(t, status, plan, decision))
        status = decision.status
        if status.phase in (Phase.FAILED, Phase.PROMOTING):
            break
        t += max(1, math.ceil(next_tick_in(canary, status, now)))
    return ticks


def measured(ticks: list[Tick]) -> list[Tick]:
    """The ticks on which the checks were measured (steps)."""
    return [tick for tick in ticks if tick.plan.checks is not None]


def test_too_few_samples_is_inconclusive_and_never_a_failed_check() -> None:
    ticks = run(spec(inconclusive_deadline="30m"), quiet, horizon_s=900)
    steps = measured(ticks)
    assert len(steps) == 15
    for tick in steps:
        status = tick.status
        assert status.phase is Phase.PROGRESSING
        assert status.canary_weight == 20
        assert status.failed_checks == 0
        [check] = status.checks
        assert check.name == METRIC
        assert check.verdict is Verdict.INCONCLUSIVE
        assert (check.samples, check.min_samples) == (10.0, 50)
        assert check.message == WAITING
        assert status.inconclusive_since == format_timestamp(T0)
        assert status.message is not None and status.message.startswith(f"Halt advancement {WAITING}")
    # Never an advance, never a rollback.
    reasons = {e.reason for tick in ticks for e in tick.decision.events}
    assert reasons == {"Inconclusive"}
    assert all(
        e.message == f"Halt advancement {WAITING}" and e.type == "Warning"
        for tick in ticks
        for e in tick.decision.events
    )


def test_the_window_grows_from_inconclusive_since() -> None:
    ticks = run(spec(inconclusive_deadline="30m"), quiet, horizon_s=600)
    windows = [tick.plan.checks[METRIC] for tick in measured(ticks) if tick.plan.checks is not None]
    assert windows == [60 * k for k in range(1, 11)]
    # The request counts asked for cover the same windows, and the status shows them.
    for tick in measured(ticks):
        assert (tick.plan.checks or {})[METRIC] in tick.plan.samples
        assert tick.status.checks[0].window == f"{(tick.plan.checks or {})[METRIC] // 60}m"


def test_traffic_arriving_lets_the_step_pass() -> None:
    ticks = run(spec(inconclusive_deadline="30m"), busy_from(200))
    advances = [(tick.t, e.message) for tick in ticks for e in tick.decision.events if e.reason == "Advanced"]
    assert advances[0] == (240, "Advance podinfo.test canary weight 40")
    after = next(tick for tick in ticks if tick.t == 240).status
    assert after.inconclusive_since is None
    assert after.failed_checks == 0
    assert after.checks[0].verdict is Verdict.SUCCESSFUL
    assert after.checks[0].samples == 2400.0
    # The next step judges only its own traffic again: the window restarts at the step.
    next_step = next(tick for tick in ticks if tick.t == 300)
    assert next_step.plan.checks == {METRIC: 60}
    assert ticks[-1].status.phase is Phase.PROMOTING


def test_inconclusive_deadline_rolls_back() -> None:
    ticks = run(spec(inconclusive_deadline="5m"), quiet)
    final = ticks[-1].status
    assert final.phase is Phase.FAILED
    assert ticks[-1].t == 360, "the first check more than 5 minutes after the samples ran short"
    assert final.failed_checks == 0
    rollback = [e.message for e in ticks[-1].decision.events if e.reason == "RollingBack"]
    assert rollback == [f"Rolling back podinfo.test: analysis inconclusive for 6m: {WAITING}"]
    condition = final.condition(CONDITION_PROMOTED)
    assert condition is not None and condition.message is not None
    assert condition.message.startswith("analysis inconclusive for 6m")
    assert final.last_failed_revision is not None
    assert final.last_failed_revision.message == f"analysis inconclusive for 6m: {WAITING}"


def test_without_inconclusive_deadline_the_progress_deadline_applies() -> None:
    ticks = run(spec(), quiet)
    final = ticks[-1].status
    assert final.phase is Phase.FAILED
    assert ticks[-1].t == 660, "progressDeadlineSeconds defaults to 600"
    assert [e.message for e in ticks[-1].decision.events if e.reason == "RollingBack"] == [
        f"Rolling back podinfo.test: analysis inconclusive for 11m: {WAITING}"
    ]
    shorter = run(make_spec_with_deadline(120), quiet)
    assert shorter[-1].status.phase is Phase.FAILED
    assert shorter[-1].t == 180


def make_spec_with_deadline(seconds: int) -> CanarySpec:
    canary = spec()
    return canary.model_copy(update={"progress_deadline_seconds": seconds})


def test_metric_without_min_samples_and_no_data_still_counts_a_failed_check() -> None:
    flagger = make_spec(
        {
            "interval": "1m",
            "step_weight": 20,
            "max_weight": 50,
            "threshold": 2,
            "metrics": [{"name": METRIC, "threshold_range": {"min": 99}}],
        }
    )
    first = decide(flagger, analysing(), observe(T0 + timedelta(minutes=1), checks=(no_data(),)))
    assert first.status.failed_checks == 1
    assert first.status.checks[0].verdict is Verdict.INCONCLUSIVE
    assert first.status.checks[0].min_samples is None
    assert first.status.inconclusive_since is None
    assert [e.message for e in first.events] == [
        f"Halt advancement no values found for metric: {METRIC}: empty result"
    ]
    second = decide(flagger, first.status, observe(T0 + timedelta(minutes=2), checks=(no_data(),)))
    assert second.status.phase is Phase.FAILED
    assert [e.message for e in second.events if e.reason == "RollingBack"] == [
        "Rolling back podinfo.test failed checks threshold reached 2"
    ]


def test_no_data_beside_a_quiet_metric_still_counts() -> None:
    """Only "too few samples" is forgiven; a second metric without data counts as in Flagger."""
    both = make_spec(
        {
            "interval": "1m",
            "step_weight": 20,
            "max_weight": 50,
            "threshold": 2,
            "metrics": [
                {"name": METRIC, "threshold_range": {"min": 99}, "min_samples": 50},
                {"name": "request-duration", "threshold_range": {"max": 500}},
            ],
        }
    )
    now = T0 + timedelta(minutes=1)
    plan = measurement_plan(both, analysing(), now)
    assert plan.checks == {METRIC: 60, "request-duration": 60}
    obs = Observation(
        now=now,
        canary=REF,
        target_revision=Revision(hash=NEW),
        target=WorkloadState.healthy(),
        primary=WorkloadState.healthy(),
        checks=(Measurement.of(METRIC, 99.9), no_data("request-duration")),
        samples={60.0: WindowSamples(60.0, canary=RevisionSample(10, 0), primary=RevisionSample(400, 0))},
    )
    decision = decide(both, analysing(), obs)
    assert decision.status.failed_checks == 1
    assert [c.verdict for c in decision.status.checks] == [Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE]
    assert decision.status.checks[0].message == WAITING


def test_unmeasured_request_count_is_a_provider_error_not_a_pass() -> None:
    now = T0 + timedelta(minutes=1)
    obs = observe(now, checks=(Measurement.of(METRIC, 99.9),))
    decision = decide(spec(), analysing(), obs)
    [check] = decision.status.checks
    assert check.verdict is Verdict.ERROR
    assert check.message == f"metric {METRIC}: samples: request count not measured"
    assert decision.status.canary_weight == 20
    assert decision.status.failed_checks == 0
    assert decision.status.consecutive_errors == 1


def test_inconclusive_warning_is_emitted_once_while_it_stays_the_same() -> None:
    ticks = run(spec(inconclusive_deadline="30m"), quiet, horizon_s=600)
    warnings = [e.message for tick in ticks for e in tick.decision.events if e.reason == "Inconclusive"]
    assert warnings == [f"Halt advancement {WAITING}"]


def test_flaky_provider_does_not_stall_a_quiet_canary_forever() -> None:
    canary = spec(inconclusive_deadline="5m")
    status = analysing()
    for k in range(1, 21):
        now = T0 + timedelta(minutes=k)
        plan = measurement_plan(canary, status, now)
        assert plan.checks is not None
        window = plan.checks[METRIC]
        counted = (
            WindowSamples(float(window), error="prometheus: connection refused")
            if k % 2
            else WindowSamples(float(window), canary=RevisionSample(10, 0), primary=RevisionSample(400, 0))
        )
        obs = Observation(
            now=now,
            canary=REF,
            target_revision=Revision(hash=NEW),
            target=WorkloadState.healthy(),
            primary=WorkloadState.healthy(),
            checks=(Measurement.of(METRIC, 99.9, window_seconds=window),),
            samples={float(window): counted},
        )
        status = decide(canary, status, obs).status
        if status.phase is Phase.FAILED:
            break
    # 20 minutes without a judgeable check: past inconclusiveDeadline (5m) and the progress deadline (10m).
    assert status.phase is Phase.FAILED
