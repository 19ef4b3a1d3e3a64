"""The canary-vs-primary judge through ``decide``, in a small deterministic traffic world.

The world serves ``rps`` requests a second, split by the route weight the last decision wrote;
each revision fails a fixed share of them and answers within fixed latency buckets. Every tick
the operator's loop is played: ``measurement_plan`` says which windows to measure, the world
answers them (the canary's success rate for the checks, both revisions' counts and cumulative
latency buckets for the sample windows), ``decide`` decides, and the next tick comes
``next_tick_in`` later. What is asserted is what a user sees: phase, weights, events, status.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
from core_helpers import NEW, NEWER, REF, STABLE, T0, make_spec

from canary.api.models import CanarySpec, CanaryStatus, Phase, parse_time
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

#: 90% within 50ms, 98% within 100ms, 99.5% within 250ms: the primary's p99 bucket is 100ms.
USUAL_LATENCY: dict[float, float] = {0.05: 0.9, 0.1: 0.98, 0.25: 0.995, 0.5: 0.999, 1.0: 1.0}
#: Faster than the primary: 0.1% slower than 100ms.
FAST_LATENCY: dict[float, float] = {0.05: 0.95, 0.1: 0.999, 0.25: 1.0, 0.5: 1.0, 1.0: 1.0}


@dataclass(frozen=True)
class Traffic:
    """Requests a second and how each revision answers them."""

    rps: float = 100.0
    primary_errors: float = 0.005
    canary_errors: float = 0.005
    primary_latency: dict[float, float] = field(default_factory=lambda: dict(USUAL_LATENCY))
    canary_latency: dict[float, float] = field(default_factory=lambda: dict(USUAL_LATENCY))
    canary_reachable: bool = True
    """False: the canary's pods receive nothing whatever the route says (a broken selector)."""


@dataclass(frozen=True)
class Second:
    """What one revision served during one second."""

    requests: float
    errors: float
    within: tuple[float, ...]
    """Cumulative requests within each bound of :data:`BOUNDS`."""


BOUNDS: tuple[float, ...] = tuple(sorted(USUAL_LATENCY))


def served(requests: float, error_rate: float, latency: dict[float, float]) -> Second:
    return Second(requests, requests * error_rate, tuple(requests * latency[b] for b in BOUNDS))


class World:
    """Per-second traffic of both revisions, generated up to ``now`` at the route weight in force."""

    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic
        self.canary: list[Second] = []
        self.primary: list[Second] = []

    def advance(self, until_s: int, canary_weight: int) -> None:
        t = self.traffic
        while len(self.canary) < until_s:
            share = canary_weight / 100.0 if t.canary_reachable else 0.0
            self.canary.append(served(t.rps * share, t.canary_errors, t.canary_latency))
            self.primary.append(served(t.rps * (1.0 - share), t.primary_errors, t.primary_latency))

    @staticmethod
    def _sum(seconds: list[Second]) -> RevisionSample | None:
        requests = sum(s.requests for s in seconds)
        if requests <= 0:
            return None  # no request series in the window
        buckets = tuple((b, sum(s.within[i] for s in seconds)) for i, b in enumerate(BOUNDS))
        return RevisionSample(
            requests=requests,
            errors=sum(s.errors for s in seconds),
            latency_buckets=(*buckets, (math.inf, requests)),
        )

    def window(self, now_s: int, window_s: int) -> WindowSamples:
        first = max(0, now_s - window_s)
        return WindowSamples(
            window_seconds=float(window_s),
            canary=self._sum(self.canary[first:now_s]),
            primary=self._sum(self.primary[first:now_s]),
        )

    def success_rate(self, now_s: int, window_s: int) -> Measurement:
        sample = self._sum(self.canary[max(0, now_s - window_s) : now_s])
        value = math.nan if sample is None else 100.0 * (1.0 - sample.errors / sample.requests)
        return Measurement.of("request-success-rate", value, window_seconds=window_s, revision_scoped=True)

    def canary_requests(self, start_s: int, end_s: int) -> float:
        return sum(s.requests for s in self.canary[start_s:end_s])

    def canary_errors(self, end_s: int) -> float:
        return sum(s.errors for s in self.canary[:end_s])


@dataclass(frozen=True)
class Tick:
    """One call of ``decide``: when, what was planned, what was decided."""

    t: int
    before: CanaryStatus
    plan: MeasurementPlan
    decision: Decision

    @property
    def status(self) -> CanaryStatus:
        return self.decision.status


def initialized() -> CanaryStatus:
    stamp = format_timestamp(T0)
    return CanaryStatus(
        phase=Phase.INITIALIZED,
        last_applied_spec=STABLE,
        last_promoted_spec=STABLE,
        step_started_at=stamp,
        last_transition_time=stamp,
    )


def seconds(stamp: str | None) -> int:
    """Seconds after T0 of a status timestamp."""
    assert stamp is not None
    return round((parse_time(stamp) - T0).total_seconds())


def run(
    spec: CanarySpec,
    traffic: Traffic,
    *,
    horizon_s: int = 900,
    revision: Callable[[int], str] = lambda _t: NEW,
    restart: bool = False,
) -> tuple[list[Tick], World]:
    """Play the operator's loop from an Initialized canary until Failed/Succeeded or the horizon.

    ``restart``: every tick starts from the status as re-read from the API server (a restarted
    operator), i.e. serialised and parsed again.
    """
    world = World(traffic)
    status = initialized()
    ticks: list[Tick] = []
    t = 0
    while t <= horizon_s:
        world.advance(t, status.canary_weight)
        if restart:
            status = CanaryStatus.model_validate(status.to_dict())
        now = T0 + timedelta(seconds=t)
        plan = measurement_plan(spec, status, now)
        checks = None
        if plan.checks is not None:
            checks = tuple(world.success_rate(t, w) for name, w in plan.checks.items())
        obs = Observation(
            now=now,
            canary=REF,
            target_revision=Revision(hash=revision(t), image="ghcr.io/podinfo:6.1"),
            target=WorkloadState.healthy(),
            primary=WorkloadState.healthy(),
            checks=checks,
            samples={float(w): world.window(t, w) for w in plan.samples},
        )
        decision = decide(spec, status, obs)
        ticks.append(Tick(t, status, plan, decision))
        status = decision.status
        if status.phase in (Phase.FAILED, Phase.SUCCEEDED):
            break
        t += max(1, math.ceil(next_tick_in(spec, status, now)))
    return ticks, world


def events(ticks: list[Tick]) -> list[tuple[int, str, str]]:
    """(time, reason, message) of every event, in order."""
    return [(tick.t, e.reason, e.message) for tick in ticks for e in tick.decision.events]


def spec_with(judge: dict[str, Any] | None, **analysis: Any) -> CanarySpec:
    fields: dict[str, Any] = {
        "interval": "1m",
        "step_weight": 20,
        "max_weight": 50,
        "threshold": 5,
        "metrics": [{"name": "request-success-rate", "threshold_range": {"min": 99}}],
        **analysis,
    }
    if judge is not None:
        fields["judge"] = judge
    return make_spec(fields)


JUDGED = spec_with({})
UNJUDGED = spec_with(None)
#: The canary fails 10% of its requests, the primary 0.5%.
BAD = Traffic(canary_errors=0.10)
GOOD = Traffic()
#: Lots of traffic and a canary clearly better than the primary on both signals.
BUSY_BETTER = Traffic(rps=5000, primary_errors=0.01, canary_errors=0.001, canary_latency=FAST_LATENCY)


def started_at(ticks: list[Tick]) -> int:
    """When traffic first went to the canary."""
    return next(tick.t for tick in ticks if tick.status.canary_weight > 0)


# --------------------------------------------------------------------------- regression


def test_judge_rolls_back_a_bad_canary_within_the_first_step() -> None:
    ticks, _world = run(JUDGED, BAD)
    final = ticks[-1].status
    assert final.phase is Phase.FAILED
    start = started_at(ticks)
    rolled = ticks[-1].t
    assert rolled < start + 60, "rolled back before the first step's interval ended"
    rollback = [m for _, reason, m in events(ticks) if reason == "RollingBack"]
    assert len(rollback) == 1
    assert rollback[0].startswith("Rolling back podinfo.test: the judge found a regression: ")
    assert "canary error ratio 10.00% vs primary 0.50%" in rollback[0]
    assert final.last_failed_revision is not None
    assert final.last_failed_revision.message is not None
    assert final.last_failed_revision.message.startswith("judge: canary error ratio 10.00%")
    assert final.judge is not None and final.judge.verdict == "Regression"
    assert (final.canary_weight, final.failed_checks) == (0, 0)
    # No metric check ever failed: the judge decided on its own, between checks.
    assert not any(reason == "Halted" for _, reason, _ in events(ticks))


def test_judge_rolls_back_a_slower_canary_that_the_checks_pass() -> None:
    """Same error ratio, but 10% of the canary's requests are slower than the primary's p99 bucket
    (100ms), against 2% of the primary's. The first look only learns that boundary."""
    slower = Traffic(canary_latency={0.05: 0.5, 0.1: 0.9, 0.25: 0.97, 0.5: 0.99, 1.0: 1.0})
    ticks, _ = run(JUDGED, slower)
    final = ticks[-1].status
    assert final.phase is Phase.FAILED
    assert ticks[-1].t == started_at(ticks) + 30
    [rollback] = [m for _, reason, m in events(ticks) if reason == "RollingBack"]
    assert (
        "the judge found a regression: canary share of requests slower than 100ms 10.00% vs primary 2.00%"
        in (rollback)
    )
    assert final.judge is not None and final.judge.latency_boundary == 0.1
    flagger, _ = run(UNJUDGED, slower)
    assert flagger[-1].status.phase is Phase.SUCCEEDED, "a success-rate check cannot see it"


def test_without_judge_the_same_canary_waits_for_the_threshold() -> None:
    ticks, _ = run(UNJUDGED, BAD)
    final = ticks[-1].status
    assert final.phase is Phase.FAILED
    start = started_at(ticks)
    assert ticks[-1].t == start + 5 * 60
    rollback = [m for _, reason, m in events(ticks) if reason == "RollingBack"]
    assert rollback == ["Rolling back podinfo.test failed checks threshold reached 5"]
    halts = [m for _, reason, m in events(ticks) if reason == "Halted"]
    assert len(halts) == 5 and all("request-success-rate 90.00 < 99" in m for m in halts)
    assert final.judge is None


def test_judge_serves_far_fewer_bad_requests_than_the_threshold() -> None:
    judged_ticks, judged = run(JUDGED, BAD)
    flagger_ticks, flagger = run(UNJUDGED, BAD)
    assert judged.canary_errors(judged_ticks[-1].t) * 10 < flagger.canary_errors(flagger_ticks[-1].t)


# --------------------------------------------------------------------------- a good canary


def schedule(ticks: list[Tick]) -> list[tuple[int, str]]:
    return [(t, m) for t, _, m in events(ticks)]


def test_good_canary_is_promoted_on_flaggers_schedule() -> None:
    judged, _ = run(JUDGED, GOOD)
    flagger, _ = run(UNJUDGED, GOOD)
    assert judged[-1].status.phase is Phase.SUCCEEDED
    assert schedule(judged) == schedule(flagger)
    assert [m for _, m in schedule(judged)] == [
        "New revision detected! Scaling up podinfo.test",
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary weight 20",
        "Advance podinfo.test canary weight 40",
        "Advance podinfo.test canary weight 50",
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Routing all traffic to primary",
        "Promotion completed! Scaling down podinfo.test",
    ]
    advances = [t for t, m in schedule(judged) if "canary weight" in m]
    assert [b - a for a, b in itertools.pairwise(advances)] == [60, 60]
    judge = judged[-1].status.judge
    assert judge is not None and judge.verdict == "Undecided"


def judged_windows(ticks: list[Tick]) -> list[tuple[int, int]]:
    """(start, end) seconds of each window the judge folded, from the status it wrote."""
    out = []
    for tick in ticks:
        before, after = tick.before.judge, tick.status.judge
        if after is None or after.observed_until is None:
            continue
        if before is not None and before.observed_until == after.observed_until:
            continue
        start = before.observed_until if before is not None else tick.before.step_started_at
        out.append((seconds(start), seconds(after.observed_until)))
    return out


def test_judge_windows_chain_without_gaps_or_overlaps() -> None:
    ticks, world = run(JUDGED, GOOD)
    windows = judged_windows(ticks)
    assert len(windows) >= 12
    start = started_at(ticks)
    assert windows[0][0] == start
    for (_, end), (next_start, _) in itertools.pairwise(windows):
        assert next_start == end
    # Every window was planned: the edge measured exactly the span since the judge last looked.
    for tick in ticks:
        after = tick.status.judge
        if after is not None and tick.before.judge != after and tick.status.phase is not Phase.FAILED:
            since = tick.before.judge.observed_until if tick.before.judge else tick.before.step_started_at
            assert tick.t - seconds(since) in tick.plan.samples
    # So the judge counted each canary request exactly once.
    last = ticks[-1].status.judge
    assert last is not None and last.errors is not None
    assert last.errors.canary_requests == pytest.approx(world.canary_requests(start, windows[-1][1]))


@pytest.mark.parametrize("traffic", [GOOD, BUSY_BETTER], ids=["good", "busy-better"])
def test_no_judged_window_straddles_a_weight_change(traffic: Traffic) -> None:
    """Each window's traffic share is one weight, so the share of bad requests it compares is exact."""
    ticks, world = run(JUDGED, traffic)
    for start, end in judged_windows(ticks):
        shares = {round(s.requests / traffic.rps, 6) for s in world.canary[start:end]}
        assert len(shares) == 1, (start, end, shares)


def test_judge_looks_every_interval_between_steps() -> None:
    spec = spec_with({"interval": "10s"})
    ticks, _ = run(spec, GOOD)
    assert ticks[-1].status.phase is Phase.SUCCEEDED
    analysing = [
        tick for tick in ticks if tick.status.phase is Phase.PROGRESSING and tick.status.canary_weight
    ]
    for tick in analysing:
        assert next_tick_in(spec, tick.status, T0 + timedelta(seconds=tick.t)) <= 10.0
    windows = judged_windows(ticks)
    assert {end - start for start, end in windows} == {10}
    default, _ = run(JUDGED, GOOD)
    assert {end - start for start, end in judged_windows(default)} == {15}, "a quarter of the 1m interval"


@pytest.mark.parametrize("phase", [Phase.PROGRESSING, Phase.WAITING])
def test_judge_does_not_busy_loop_before_the_canary_gets_traffic(phase: Phase) -> None:
    before = CanaryStatus(
        phase=phase,
        last_applied_spec=NEW,
        last_promoted_spec=STABLE,
        step_started_at=format_timestamp(T0),
        last_transition_time=format_timestamp(T0),
        canary_weight=0,
    )
    now = T0 + timedelta(seconds=30)
    assert measurement_plan(JUDGED, before, now).idle
    assert next_tick_in(JUDGED, before, now) == next_tick_in(UNJUDGED, before, now) == 30.0


def test_judge_adds_no_ticks_before_the_analysis_starts() -> None:
    ticks, _ = run(JUDGED, GOOD)
    flagger, _ = run(UNJUDGED, GOOD)
    assert [tick.t for tick in flagger if tick.t < started_at(flagger)] == [0]
    assert [tick.t for tick in ticks if tick.t < started_at(ticks)] == [0]


def test_restarted_operator_continues_the_same_evidence() -> None:
    for traffic in (GOOD, BAD):
        once, _ = run(JUDGED, traffic)
        restarted, _ = run(JUDGED, traffic, restart=True)
        assert [(t.t, t.decision.actions) for t in restarted] == [(t.t, t.decision.actions) for t in once]
        assert [t.status.judge for t in restarted] == [t.status.judge for t in once]
    # The evidence in the middle of the analysis survives the round trip as it was written.
    mid = next(t.status for t in once if t.status.judge is not None and t.status.judge.errors)
    reread = CanaryStatus.model_validate(mid.to_dict())
    assert reread.judge == mid.judge


def test_judge_status_is_strict_json() -> None:
    """The API server stores JSON: every status the judge writes must serialise without NaN/Infinity."""
    ticks, _ = run(JUDGED, GOOD)
    written = next(t.status for t in ticks if t.status.judge is not None and t.status.judge.primary_buckets)
    json.dumps(written.to_dict(), allow_nan=False)


def test_new_revision_mid_analysis_resets_the_judge() -> None:
    ticks, world = run(JUDGED, GOOD, revision=lambda t: NEW if t < 150 else NEWER)
    restart = next(i for i, tick in enumerate(ticks) if tick.t >= 150)
    assert [e.message for e in ticks[restart].decision.events] == [
        "New revision detected! Restarting analysis for podinfo.test"
    ]
    assert ticks[restart - 1].status.judge is not None
    assert ticks[restart].status.judge is None
    assert ticks[-1].status.phase is Phase.SUCCEEDED
    # The new revision's evidence counts only its own traffic.
    restart_t = ticks[restart].t
    start = next(t.t for t in ticks if t.t > restart_t and t.status.canary_weight > 0)
    final = ticks[-1].status.judge
    assert final is not None and final.errors is not None
    windows = [w for w in judged_windows(ticks) if w[0] >= start]
    assert windows[0][0] == start
    assert final.errors.canary_requests == pytest.approx(world.canary_requests(start, windows[-1][1]))


# --------------------------------------------------------------------------- earlyAdvance


def test_early_advance_ends_a_step_once_the_judge_shows_no_regression() -> None:
    ticks, _ = run(JUDGED, BUSY_BETTER)
    assert ticks[-1].status.phase is Phase.SUCCEEDED
    advances = [(t, m) for t, m in schedule(ticks) if "canary weight" in m]
    assert [m for _, m in advances] == [
        "Advance podinfo.test canary weight 20",
        "Advance podinfo.test canary weight 40",
        "Advance podinfo.test canary weight 50",
    ]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(advances)]
    assert all(gap < 60 for gap in gaps), gaps
    # Each early step was cleared by the judge within that step, as status.judge said before it.
    for index, tick in enumerate(ticks):
        moved = tick.status.canary_weight != tick.before.canary_weight and tick.before.canary_weight > 0
        if moved and tick.t - seconds(tick.before.step_started_at) < 60:
            judge = ticks[index - 1].status.judge
            assert judge is not None and judge.verdict == "NoRegression"
            assert judge.step_started_at == tick.before.step_started_at
            assert judge.message is not None and judge.message.startswith("no regression this step: ")


def test_without_early_advance_steps_keep_their_interval() -> None:
    spec = spec_with({"early_advance": False})
    ticks, _ = run(spec, BUSY_BETTER)
    assert ticks[-1].status.phase is Phase.SUCCEEDED
    advances = [t for t, m in schedule(ticks) if "canary weight" in m]
    assert [b - a for a, b in itertools.pairwise(advances)] == [60, 60]
    assert any(t.status.judge is not None and t.status.judge.verdict == "NoRegression" for t in ticks)


# --------------------------------------------------------------------------- no canary traffic


def test_judge_without_canary_traffic_never_rolls_back() -> None:
    ticks, _ = run(JUDGED, replace(BAD, canary_reachable=False))
    final = ticks[-1].status
    # The checks find no data and count failed checks (Flagger's semantics); the judge stays out.
    assert final.phase is Phase.FAILED
    assert [m for _, r, m in events(ticks) if r == "RollingBack"] == [
        "Rolling back podinfo.test failed checks threshold reached 5"
    ]
    for tick in ticks:
        judge = tick.status.judge
        assert judge is None or (judge.errors is None and judge.latency is None)
        assert judge is None or judge.verdict == "Undecided"
    assert final.judge is not None
    assert final.judge.message == "errors: no data yet, latency: no data yet"


def test_judge_without_canary_traffic_alone_does_not_stop_a_release() -> None:
    spec = spec_with({}, metrics=[])
    ticks, _ = run(spec, replace(BAD, canary_reachable=False))
    assert ticks[-1].status.phase is Phase.SUCCEEDED
    assert not any(r == "RollingBack" for _, r, _ in events(ticks))


def test_window_measured_with_an_error_is_judged_again_longer() -> None:
    """Nothing is learnt from a failed measurement; the next look covers that time too."""
    world = World(GOOD)
    world.advance(40, 20)
    before = CanaryStatus(
        phase=Phase.PROGRESSING,
        last_applied_spec=NEW,
        last_promoted_spec=STABLE,
        step_started_at=format_timestamp(T0),
        last_transition_time=format_timestamp(T0),
        analysis_started_at=format_timestamp(T0),
        canary_weight=20,
    )

    def look(status: CanaryStatus, t: int, *, error: str = "") -> tuple[MeasurementPlan, CanaryStatus]:
        now = T0 + timedelta(seconds=t)
        plan = measurement_plan(JUDGED, status, now)
        samples = {
            float(w): WindowSamples(float(w), error=error) if error else world.window(t, w)
            for w in plan.samples
        }
        obs = Observation(
            now=now,
            canary=REF,
            target_revision=Revision(hash=NEW),
            target=WorkloadState.healthy(),
            primary=WorkloadState.healthy(),
            samples=samples,
        )
        return plan, decide(JUDGED, status, obs).status

    plan, failed = look(before, 15, error="prometheus: connection refused")
    assert plan.samples == (15,)
    assert failed.judge is not None and failed.judge.observed_until is None, "no window was judged"
    assert failed.judge.message == "prometheus: connection refused", "the user sees why"
    assert failed.phase is Phase.PROGRESSING
    plan, judged = look(failed, 30)
    assert plan.samples == (30,)
    assert judged.judge is not None and judged.judge.errors is not None
    assert judged.judge.observed_until == format_timestamp(T0 + timedelta(seconds=30))
    assert judged.judge.errors.canary_requests == pytest.approx(world.canary_requests(0, 30))
