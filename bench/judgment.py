"""Judgment benchmark: how well each release policy tells good releases from bad ones.

``python -m bench judgment [--seeds N] [--quick] [--json]`` (and part of ``make bench``).

A fixed, seeded suite of nine release scenarios is played against three policies with a
simulated clock and simulated traffic (no network, no Prometheus):

(a) **flagger**: Flagger's threshold policy at its documented defaults, modelled here
    independently of this operator's core from Flagger's ``pkg/controller/scheduler.go`` and
    ``scheduler_metrics.go``: interval 1m, threshold 5, stepWeight 10, maxWeight 50,
    request-success-rate >= 99 (%) and request-duration (p99) <= 500 (ms) over a 1m window of the
    canary's traffic. The scheduler ticks once per interval: the tick that sees the new revision
    scales it up (Progressing, weight 0); the next starts the analysis and routes 10%; every later
    tick first rolls back if ``failedChecks >= threshold`` (so the rollback comes one interval
    after the fifth failed check), else queries the two metrics: a value out of range *or no data*
    (zero requests: NaN) fails the check (``failedChecks += 1``, weight kept); a passing check
    adds 10 to the weight, or promotes once the weight is at maxWeight. p99 is computed as
    Prometheus' ``histogram_quantile`` does (see :func:`histogram_quantile`).
(b) **threshold**: this operator's threshold mode, driven through the real
    :func:`canary.core.machine.decide`: the same Canary plus ``minSamples: 20`` on each metric.
(c) **judge**: as (b) plus ``analysis.judge: {}`` (defaults), through the same ``decide``.
    Both start from an Initialized status (primary on the stable revision) and play the
    operator's loop: each tick ``measurement_plan`` names the windows to measure, the simulated
    world answers them (the canary's success rate and p99 over each check's window, both
    revisions' raw counts and cumulative latency buckets over each sample window), ``decide``
    decides, its status (and so the route weight) is kept, and the clock jumps ``next_tick_in``.

Traffic model
-------------
Time is cut into 5-second slices. In each slice the service receives Poisson traffic at
``rate(t)`` requests per second in total (default 100 rps), split between the canary and the
primary by the route weight in force (Poisson thinning, so each revision's count is Poisson).
Each request's latency is lognormal (median 50 ms, sigma 0.5 in log space; the canary's latency
is scaled by the scenario's factor) and recorded in Istio's histogram buckets (ms: 0.5, 1, 5,
10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
3600000, +Inf): each bucket's count is an independent Poisson draw (equivalently, a multinomial
split of a Poisson total). Each request fails independently with the revision's error ratio
(baseline 0.1%). Per slice and revision the simulator keeps requests, errors and the bucket
counts (cumulative sums), so any window ``[t0, t1)`` is summed exactly, as Prometheus would
over scraped counters (no rate() extrapolation, no scrape lag). The canary's pods are ready at
t=0, when the release starts; the first policy tick is at t=0. A run ends at the decision
(promotion: the first tick the policy promotes, i.e. the core's phase becomes Promoting;
rollback: phase Failed) or at the 30-minute horizon (undecided).

Scenarios (error deltas are absolute: +2% turns a 0.1% error ratio into 2.1%):
1 good release; 2 +0.5% errors; 3 +2% errors; 4 +10% errors; 5 p99 +20% (canary latencies x1.2);
6 p99 +100% (x2.0); 7 quiet traffic (1 rps in total, otherwise good); 8 a noisy baseline with
diurnal drift (good release; both revisions share the environment: the request rate and the
base error ratio follow a sinusoid with a 2-hour period (a day's cycle compressed so that it
drifts within one release) at a random phase, the base error ratio also jitters minute by minute
(lognormal, sigma 0.3), and error bursts (on average one per 5 minutes, 10-40 s long, +2..10%
errors) hit both revisions alike); 9 a release that is good for 5 minutes and then adds +5%
errors.

Bad requests
------------
The expected excess harm the bad revision caused: for every request the regressed canary served,
(its error probability - the stable revision's) for error regressions, and (its probability of
exceeding the stable revision's true p99 latency - 0.01) for latency regressions; summed over
the requests it served until rollback, or, when it is promoted, until the 30-minute horizon
(after promotion it serves 100% of the traffic; that part is the expected count, rate x time).
Good releases have 0 bad requests.

Everything is seeded: each (scenario, seed) has its own ``random.Random`` streams (environment,
canary traffic, primary traffic), shared by the three policies, so reruns print the same figures.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from canary.api.models import CanarySpec, CanaryStatus, Phase
from canary.core import machine
from canary.core.conditions import format_timestamp
from canary.core.observations import (
    CanaryRef,
    Measurement,
    Observation,
    Revision,
    RevisionSample,
    WindowSamples,
    WorkloadState,
)
from canary.core.simulate import EPOCH
from canary.sandbox.telemetry import ISTIO_BUCKETS

__all__ = [
    "ISTIO_BUCKETS_MS",
    "POLICIES",
    "SCENARIOS",
    "Report",
    "Result",
    "Scenario",
    "World",
    "histogram_quantile",
    "main",
    "run_core",
    "run_flagger",
    "suite",
]

#: Istio's ``istio_request_duration_milliseconds`` bucket upper bounds (ms), as the sandbox exports them.
ISTIO_BUCKETS_MS: tuple[float, ...] = (*ISTIO_BUCKETS, math.inf)
SLICE_S = 5
HORIZON_S = 1800
INTERVAL_S = 60
BASE_RPS = 100.0
BASE_ERROR = 0.001
LATENCY_MEDIAN_MS = 50.0
LATENCY_SIGMA = 0.5
#: Flagger's documented defaults used by every policy.
THRESHOLD = 5
STEP_WEIGHT = 10
MAX_WEIGHT = 50
MIN_SUCCESS_RATE = 99.0
MAX_P99_MS = 500.0
MIN_SAMPLES = 20

FULL_SEEDS = 200
QUICK_SEEDS = 10
REPRODUCE = "python -m bench judgment --seeds {seeds}"

FLAGGER, THRESHOLD_MODE, JUDGE = "flagger", "threshold", "judge"
POLICIES: tuple[str, ...] = (FLAGGER, THRESHOLD_MODE, JUDGE)
POLICY_TITLES = {
    FLAGGER: "Flagger policy (model)",
    THRESHOLD_MODE: "threshold mode (minSamples 20)",
    JUDGE: "judge (defaults)",
}
PROMOTED, ROLLED_BACK, UNDECIDED = "promoted", "rolled back", "undecided"

_NORMAL = statistics.NormalDist()
_Z99 = _NORMAL.inv_cdf(0.99)


# --------------------------------------------------------------------------- Prometheus


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus' ``histogram_quantile(q, ...)`` over cumulative ``(le, count)`` buckets.

    As ``promql/quantile.go``'s ``BucketQuantile``: NaN without a +Inf bucket, with fewer than two
    buckets or with no observations; the rank ``q * total`` falls in the first bucket whose
    cumulative count reaches it, and the value is interpolated linearly inside that bucket (the
    first bucket starts at 0); a rank in the +Inf bucket answers the highest finite bound.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return math.nan
    total = ordered[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    index = next((i for i in range(len(ordered) - 1) if ordered[i][1] >= rank), len(ordered) - 1)
    if index == len(ordered) - 1:
        return ordered[-2][0]
    if index == 0 and ordered[0][0] <= 0:
        return ordered[0][0]
    start, end, count = 0.0, ordered[index][0], ordered[index][1]
    if index > 0:
        start = ordered[index - 1][0]
        count -= ordered[index - 1][1]
        rank -= ordered[index - 1][1]
    return start + (end - start) * (rank / count)


# --------------------------------------------------------------------------- sampling


def poisson(rng: random.Random, lam: float) -> int:
    """One Poisson(``lam``) draw: inversion for small means, Hörmann's PTRS (as numpy) otherwise."""
    if lam <= 0.0:
        return 0
    if lam < 10.0:
        u = rng.random()
        p = math.exp(-lam)
        cumulative = p
        k = 0
        while u > cumulative and k < 1000:
            k += 1
            p *= lam / k
            cumulative += p
        return k
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        k = math.floor((2 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if v > 0 and (
            math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)
            <= -lam + k * loglam - math.lgamma(k + 1)
        ):
            return k


def binomial(rng: random.Random, n: int, p: float) -> int:
    """One Binomial(``n``, ``p``) draw by geometric skips (cost grows with ``n * p``; p is small here)."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1.0 - p)
    log_q = math.log1p(-p)
    count = 0
    position = 0
    while True:
        position += int(math.log(1.0 - rng.random()) / log_q) + 1
        if position > n:
            return count
        count += 1


def bucket_probabilities(factor: float) -> tuple[tuple[int, float], ...]:
    """(bucket index, probability) of a lognormal latency (median 50 ms x ``factor``) per Istio bucket.

    Buckets whose probability is below 1e-12 are dropped (fewer than 1e-6 expected requests over
    a whole run at 100 rps).
    """
    mu = math.log(LATENCY_MEDIAN_MS * factor)
    previous = 0.0
    out: list[tuple[int, float]] = []
    for index, bound in enumerate(ISTIO_BUCKETS_MS):
        cdf = 1.0 if math.isinf(bound) else _NORMAL.cdf((math.log(bound) - mu) / LATENCY_SIGMA)
        if cdf - previous > 1e-12:
            out.append((index, cdf - previous))
        previous = cdf
    return tuple(out)


def latency_excess(factor: float) -> float:
    """P(canary latency > the stable revision's true p99) - 0.01, for canary latencies x ``factor``."""
    if factor <= 1.0:
        return 0.0
    return (1.0 - _NORMAL.cdf(_Z99 - math.log(factor) / LATENCY_SIGMA)) - 0.01


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    """One release: how the canary differs from the stable revision, and the traffic around it."""

    number: int
    key: str
    title: str
    good: bool
    error_delta: float = 0.0
    latency_factor: float = 1.0
    total_rps: float = BASE_RPS
    noisy: bool = False
    degrade_after_s: float = 0.0


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(1, "good", "good release", good=True),
    Scenario(2, "errors+0.5%", "+0.5% error ratio", good=False, error_delta=0.005),
    Scenario(3, "errors+2%", "+2% error ratio", good=False, error_delta=0.02),
    Scenario(4, "errors+10%", "+10% error ratio", good=False, error_delta=0.10),
    Scenario(5, "p99+20%", "p99 +20% (latency x1.2)", good=False, latency_factor=1.2),
    Scenario(6, "p99+100%", "p99 +100% (latency x2)", good=False, latency_factor=2.0),
    Scenario(7, "quiet", "quiet traffic (1 rps), good", good=True, total_rps=1.0),
    Scenario(8, "noisy-diurnal", "noisy diurnal baseline, good", good=True, noisy=True),
    Scenario(9, "late+5%", "+5% errors from minute 5", good=False, error_delta=0.05, degrade_after_s=300),
)
#: Good releases (false-rollback rate) and the bad ones counted as missed when promoted.
GOOD_SCENARIOS = (1, 7, 8)
BAD_SCENARIOS = (2, 3, 4, 5, 6, 9)
SEVERE_SCENARIOS = (3, 4, 9)
SLICES = HORIZON_S // SLICE_S


@dataclass(frozen=True)
class Environment:
    """Per-slice total request rate (rps) and stable error ratio, shared by both revisions."""

    rate: tuple[float, ...]
    base_error: tuple[float, ...]


def environment(scenario: Scenario, seed: int) -> Environment:
    """The scenario's environment for one seed (only the noisy scenario uses randomness)."""
    if not scenario.noisy:
        return Environment((scenario.total_rps,) * SLICES, (BASE_ERROR,) * SLICES)
    rng = random.Random(f"judgment:{scenario.key}:{seed}:environment")
    period = 7200.0
    phase = rng.uniform(0.0, period)
    jitter = [math.exp(rng.gauss(0.0, 0.3)) for _ in range(HORIZON_S // 60 + 1)]
    bursts: list[tuple[float, float, float]] = []
    start = rng.expovariate(1 / 300)
    while start < HORIZON_S:
        bursts.append((start, start + rng.uniform(10, 40), rng.uniform(0.02, 0.10)))
        start += rng.expovariate(1 / 300)
    rates: list[float] = []
    errors: list[float] = []
    for index in range(SLICES):
        t = index * SLICE_S + SLICE_S / 2
        angle = 2 * math.pi * (t + phase) / period
        rates.append(scenario.total_rps * (1 + 0.5 * math.sin(angle)))
        error = BASE_ERROR * (1 + 0.5 * math.sin(angle + 0.8)) * jitter[int(t // 60)]
        error += sum(extra for begin, end, extra in bursts if begin <= t < end)
        errors.append(min(error, 1.0))
    return Environment(tuple(rates), tuple(errors))


# --------------------------------------------------------------------------- world


class Series:
    """Cumulative per-slice counts of one revision: ``requests[i]`` = requests in slices < i."""

    __slots__ = ("buckets", "errors", "requests")

    def __init__(self) -> None:
        self.requests: list[int] = [0]
        self.errors: list[int] = [0]
        self.buckets: list[list[int]] = [[0] * len(ISTIO_BUCKETS_MS)]

    def add(self, requests: int, errors: int, buckets: Mapping[int, int]) -> None:
        """Append one slice."""
        self.requests.append(self.requests[-1] + requests)
        self.errors.append(self.errors[-1] + errors)
        row = list(self.buckets[-1])
        for index, count in buckets.items():
            row[index] += count
        self.buckets.append(row)

    def window(self, first: int, last: int) -> tuple[int, int, tuple[tuple[float, int], ...]]:
        """Requests, errors and cumulative ``(le_ms, count)`` buckets over slices ``[first, last)``."""
        first = max(0, min(first, last))
        requests = self.requests[last] - self.requests[first]
        errors = self.errors[last] - self.errors[first]
        high, low = self.buckets[last], self.buckets[first]
        cumulative: list[tuple[float, int]] = []
        running = 0
        for index, bound in enumerate(ISTIO_BUCKETS_MS):
            running += high[index] - low[index]
            cumulative.append((bound, running))
        return requests, errors, tuple(cumulative)


class World:
    """Simulated traffic of one (scenario, seed): generated slice by slice as the clock advances."""

    def __init__(self, scenario: Scenario, seed: int, *, with_primary: bool = True) -> None:
        self.scenario = scenario
        self.env = environment(scenario, seed)
        self.with_primary = with_primary
        self.canary_rng = random.Random(f"judgment:{scenario.key}:{seed}:canary")
        self.primary_rng = random.Random(f"judgment:{scenario.key}:{seed}:primary")
        self.canary_buckets = bucket_probabilities(scenario.latency_factor)
        self.primary_buckets = bucket_probabilities(1.0)
        self.latency_excess = latency_excess(scenario.latency_factor)
        self.canary = Series()
        self.primary = Series()
        self.bad_requests = 0.0
        self.canary_requests = 0

    @property
    def slices(self) -> int:
        """Slices generated so far."""
        return len(self.canary.requests) - 1

    def canary_error(self, index: int) -> float:
        """The canary's error ratio in slice ``index``."""
        base = self.env.base_error[index]
        if index * SLICE_S >= self.scenario.degrade_after_s:
            return min(base + self.scenario.error_delta, 1.0)
        return base

    def excess(self, index: int) -> float:
        """Expected excess harm of one request the canary serves in slice ``index``."""
        return self.canary_error(index) - self.env.base_error[index] + self.latency_excess

    def advance(self, until_s: float, canary_weight: int) -> None:
        """Generate the slices ending at or before ``until_s`` with ``canary_weight`` % on the canary."""
        last = min(int(until_s // SLICE_S), SLICES)
        share = canary_weight / 100.0
        while self.slices < last:
            index = self.slices
            total = self.env.rate[index] * SLICE_S
            served = self._slice(
                self.canary_rng, self.canary, total * share, self.canary_buckets, self.canary_error(index)
            )
            self.canary_requests += served
            self.bad_requests += served * self.excess(index)
            if self.with_primary:
                self._slice(
                    self.primary_rng,
                    self.primary,
                    total * (1.0 - share),
                    self.primary_buckets,
                    self.env.base_error[index],
                )
            else:
                self.primary.add(0, 0, {})

    @staticmethod
    def _slice(
        rng: random.Random,
        series: Series,
        lam: float,
        probabilities: tuple[tuple[int, float], ...],
        error: float,
    ) -> int:
        counts: dict[int, int] = {}
        requests = 0
        if lam > 0:
            for index, probability in probabilities:
                count = poisson(rng, lam * probability)
                if count:
                    counts[index] = count
                    requests += count
        series.add(requests, binomial(rng, requests, error), counts)
        return requests

    def expected_harm_after(self, start_s: float) -> float:
        """Expected bad requests of the promoted canary serving all traffic from ``start_s`` to the horizon."""
        first = min(math.ceil(start_s / SLICE_S), SLICES)
        return sum(self.env.rate[i] * SLICE_S * self.excess(i) for i in range(first, SLICES))

    def slice_range(self, end_s: float, length_s: float) -> tuple[int, int]:
        """Slices ``[first, last)`` covering ``[end - length, end)``: both ends floored to a slice.

        The same rounding at both ends keeps chained windows (one ending where the next starts)
        from overlapping or leaving gaps.
        """
        last = min(int(end_s // SLICE_S), self.slices)
        first = int(max(0.0, end_s - length_s) // SLICE_S)
        return min(first, last), last

    def canary_window(self, end_s: float, length_s: float) -> tuple[int, int, tuple[tuple[float, int], ...]]:
        """The canary's counts over ``[end - length, end)`` (slice-aligned)."""
        return self.canary.window(*self.slice_range(end_s, length_s))

    def primary_window(self, end_s: float, length_s: float) -> tuple[int, int, tuple[tuple[float, int], ...]]:
        """The primary's counts over ``[end - length, end)`` (slice-aligned)."""
        return self.primary.window(*self.slice_range(end_s, length_s))


def success_rate(requests: int, errors: int) -> float:
    """The built-in request-success-rate (%), NaN without requests (Prometheus' 0/0)."""
    return math.nan if requests == 0 else 100.0 * (1.0 - errors / requests)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Result:
    """How one policy ended one (scenario, seed) run."""

    outcome: str
    decided_at_s: float | None
    bad_requests: float
    canary_requests: int


def finish(world: World, outcome: str, at_s: float | None) -> Result:
    """Close a run: add the promoted canary's expected harm until the horizon."""
    harm = world.bad_requests
    if outcome == PROMOTED and at_s is not None:
        harm += world.expected_harm_after(at_s)
    if world.scenario.good:
        harm = 0.0
    return Result(outcome, at_s, harm, world.canary_requests)


# --------------------------------------------------------------------------- (a) Flagger model


def flagger_check(world: World, now_s: float) -> bool:
    """Flagger's two built-in checks over the canary's last minute; no data fails the check."""
    requests, errors, buckets = world.canary_window(now_s, INTERVAL_S)
    rate = success_rate(requests, errors)
    if math.isnan(rate) or rate < MIN_SUCCESS_RATE:
        return False
    p99 = histogram_quantile(0.99, buckets)
    return not (math.isnan(p99) or p99 > MAX_P99_MS)


def run_flagger(scenario: Scenario, seed: int) -> Result:
    """Flagger's scheduler (Canary strategy, no webhooks) ticking once per interval from t=0."""
    world = World(scenario, seed, with_primary=False)
    # t=0: the new revision is detected, the canary is scaled up: Progressing, weight 0.
    weight = 0
    failed = 0
    t = INTERVAL_S
    while t <= HORIZON_S:
        world.advance(t, weight)
        if failed >= THRESHOLD:
            return finish(world, ROLLED_BACK, t)
        if weight == 0:
            weight = STEP_WEIGHT  # "Starting canary analysis": no metrics yet, first step
        elif not flagger_check(world, t):
            failed += 1
        elif weight < MAX_WEIGHT:
            weight = min(weight + STEP_WEIGHT, 100)
        else:
            return finish(world, PROMOTED, t)
        t += INTERVAL_S
    world.advance(HORIZON_S, weight)
    return finish(world, UNDECIDED, None)


# --------------------------------------------------------------------------- (b), (c) our core

REF = CanaryRef(name="podinfo", namespace="bench")
STABLE = "stable-hash"
NEW = Revision(hash="new-hash", image="ghcr.io/podinfo:6.1")


def canary_manifest(*, min_samples: int | None, judge: bool) -> dict[str, Any]:
    """The Canary spec (camelCase) of policies (b) and (c)."""
    metrics: list[dict[str, Any]] = [
        {"name": "request-success-rate", "threshold": MIN_SUCCESS_RATE},
        {"name": "request-duration", "threshold": MAX_P99_MS},
    ]
    if min_samples is not None:
        for metric in metrics:
            metric["minSamples"] = min_samples
    analysis: dict[str, Any] = {
        "interval": "1m",
        "threshold": THRESHOLD,
        "stepWeight": STEP_WEIGHT,
        "maxWeight": MAX_WEIGHT,
        "metrics": metrics,
    }
    if judge:
        analysis["judge"] = {}
    return {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "analysis": analysis,
    }


def core_spec(policy: str) -> CanarySpec | None:
    """The spec of a core policy, or None when this checkout's API does not accept it yet."""
    manifest = canary_manifest(min_samples=MIN_SAMPLES, judge=policy == JUDGE)
    try:
        return CanarySpec.model_validate(manifest)
    except ValueError:
        return None


def initialized() -> CanaryStatus:
    """An Initialized canary whose primary runs the stable revision (as ``bench/core.py``)."""
    stamp = format_timestamp(EPOCH)
    return CanaryStatus(
        phase=Phase.INITIALIZED,
        last_applied_spec=STABLE,
        last_promoted_spec=STABLE,
        step_started_at=stamp,
        last_transition_time=stamp,
    )


def measure(world: World, name: str, now_s: float, window_s: float) -> Measurement:
    """One built-in metric of the canary over ``[now - window, now)``, as the metric edge answers.

    request-success-rate is ``100 * (1 - errors / requests)`` and request-duration the p99 in ms
    (``histogram_quantile``); both NaN (no data) without requests.
    """
    requests, errors, buckets = world.canary_window(now_s, window_s)
    if name == "request-success-rate":
        value = success_rate(requests, errors)
    elif name == "request-duration":
        value = histogram_quantile(0.99, buckets)
    else:
        return Measurement.error(name, f"bench: unknown metric {name}")
    return Measurement.of(name, value, window_seconds=window_s, revision_scoped=True)


def revision_sample(series: Series, first: int, last: int) -> RevisionSample | None:
    """A revision's raw counts over slices ``[first, last)``; None before its first request (no series)."""
    if series.requests[last] == 0:
        return None
    requests, errors, buckets = series.window(first, last)
    seconds = tuple((bound / 1000.0, float(count)) for bound, count in buckets)
    return RevisionSample(requests=float(requests), errors=float(errors), latency_buckets=seconds)


def window_samples(world: World, now_s: float, window_s: float) -> WindowSamples:
    """Both revisions' counts over ``[now - window, now)``, as the metric edge would query them."""
    first, last = world.slice_range(now_s, window_s)
    return WindowSamples(
        window_seconds=window_s,
        canary=revision_sample(world.canary, first, last),
        primary=revision_sample(world.primary, first, last),
    )


def observe(spec: CanarySpec, status: CanaryStatus, world: World, now_s: float) -> Observation:
    """What the operator's observe step hands ``decide`` at ``now_s``.

    Both workloads ready, the target on the new revision, and whatever
    :func:`~canary.core.machine.measurement_plan` asks for: the due checks over their windows and
    both revisions' raw counts over the sample windows.
    """
    now = EPOCH + timedelta(seconds=now_s)
    plan = machine.measurement_plan(spec, status, now)
    checks: tuple[Measurement, ...] | None = None
    if plan.checks is not None:
        checks = tuple(measure(world, name, now_s, window) for name, window in plan.checks.items())
    return Observation(
        now=now,
        canary=REF,
        target_revision=NEW,
        target=WorkloadState.healthy(),
        primary=WorkloadState.healthy(),
        checks=checks,
        samples={window: window_samples(world, now_s, window) for window in plan.samples},
    )


#: Bound on ``decide`` calls per run (the judge looks every 15 s: 120 looks in 30 minutes).
MAX_TICKS = 2000


def run_core(spec: CanarySpec, scenario: Scenario, seed: int) -> Result:
    """Drive ``decide`` over the simulated world until it promotes, rolls back or hits the horizon.

    Each tick: generate the traffic since the last tick at the route weight then in force, observe,
    decide, take the decision's status (and so its weight), and wait ``next_tick_in``.
    """
    world = World(scenario, seed)
    status: CanaryStatus = initialized()
    weight = 0
    t = 0.0
    for _ in range(MAX_TICKS):
        if t > HORIZON_S:
            break
        world.advance(t, weight)
        status = machine.decide(spec, status, observe(spec, status, world, t)).status
        if status.phase is Phase.FAILED:
            return finish(world, ROLLED_BACK, t)
        if status.phase in (Phase.PROMOTING, Phase.FINALISING, Phase.SUCCEEDED):
            return finish(world, PROMOTED, t)
        weight = status.canary_weight
        wait = machine.next_tick_in(spec, status, EPOCH + timedelta(seconds=t))
        t += max(wait, machine.MIN_TICK_SECONDS)
    world.advance(HORIZON_S, weight)
    return finish(world, UNDECIDED, None)


# --------------------------------------------------------------------------- the suite


@dataclass
class Row:
    """One scenario under one policy, over all seeds."""

    scenario: int
    key: str
    title: str
    policy: str
    seeds: int
    promoted: int
    rolled_back: int
    undecided: int
    median_time_to_decision_s: float | None
    median_time_to_promote_s: float | None
    median_time_to_rollback_s: float | None
    mean_bad_requests: float
    median_bad_requests: float
    available: bool = True

    @property
    def outcome(self) -> str:
        """The most frequent outcome with the counts, e.g. ``rolled back 198/200``."""
        if not self.available:
            return "n/a"
        counts = {PROMOTED: self.promoted, ROLLED_BACK: self.rolled_back, UNDECIDED: self.undecided}
        best = max(counts, key=lambda k: counts[k])
        others = ", ".join(f"{k[0].upper()}{v}" for k, v in counts.items() if k != best and v)
        return f"{best} {counts[best]}/{self.seeds}" + (f" ({others})" if others else "")


@dataclass
class Report:
    """The whole suite: per-scenario rows and the headline rates."""

    seeds: int
    elapsed_s: float
    rows: list[Row] = field(default_factory=list)
    available: dict[str, bool] = field(default_factory=dict)

    def rows_of(self, policy: str, scenarios: Sequence[int]) -> list[Row]:
        """The rows of ``policy`` for the given scenario numbers."""
        return [r for r in self.rows if r.policy == policy and r.scenario in scenarios]

    def false_rollback_rate(self, policy: str) -> float | None:
        """Share of good-release runs (scenarios 1, 7, 8) rolled back."""
        rows = self.rows_of(policy, GOOD_SCENARIOS)
        if not self.available.get(policy) or not rows:
            return None
        return sum(r.rolled_back for r in rows) / sum(r.seeds for r in rows)

    def missed_bad_rate(self, policy: str, scenarios: Sequence[int] = SEVERE_SCENARIOS) -> float | None:
        """Share of bad-release runs (by default +2% errors or worse: 3, 4, 9) that were promoted."""
        rows = self.rows_of(policy, scenarios)
        if not self.available.get(policy) or not rows:
            return None
        return sum(r.promoted for r in rows) / sum(r.seeds for r in rows)

    def bad_requests(self, policy: str) -> float | None:
        """Mean bad requests per release, summed over the bad scenarios (2-6, 9)."""
        if not self.available.get(policy):
            return None
        return sum(r.mean_bad_requests for r in self.rows_of(policy, BAD_SCENARIOS))

    def scenario_bad_requests(self, policy: str, scenario: int) -> float | None:
        """Mean bad requests per release of one scenario under ``policy``."""
        rows = self.rows_of(policy, (scenario,))
        if not self.available.get(policy) or not rows:
            return None
        return rows[0].mean_bad_requests

    def promote_time(self, policy: str) -> float | None:
        """Median time to promote the good release (scenario 1), seconds."""
        rows = self.rows_of(policy, (1,))
        if not self.available.get(policy) or not rows:
            return None
        return rows[0].median_time_to_promote_s

    def summary(self) -> dict[str, Any]:
        """The headline figures (the JSON object's top-level keys)."""
        return {
            "seeds": self.seeds,
            "bad_requests_ratio": _ratio(self.bad_requests(JUDGE), self.bad_requests(FLAGGER)),
            "bad_requests_ratio_threshold": _ratio(
                self.bad_requests(THRESHOLD_MODE), self.bad_requests(FLAGGER)
            ),
            "bad_requests_judge": self.bad_requests(JUDGE),
            "bad_requests_threshold": self.bad_requests(THRESHOLD_MODE),
            "bad_requests_flagger": self.bad_requests(FLAGGER),
            "false_rollback_rate_judge": self.false_rollback_rate(JUDGE),
            "false_rollback_rate_threshold": self.false_rollback_rate(THRESHOLD_MODE),
            "false_rollback_rate_flagger": self.false_rollback_rate(FLAGGER),
            "missed_bad_rate_judge": self.missed_bad_rate(JUDGE),
            "missed_bad_rate_threshold": self.missed_bad_rate(THRESHOLD_MODE),
            "missed_bad_rate_flagger": self.missed_bad_rate(FLAGGER),
            "missed_any_bad_rate_judge": self.missed_bad_rate(JUDGE, BAD_SCENARIOS),
            "missed_any_bad_rate_threshold": self.missed_bad_rate(THRESHOLD_MODE, BAD_SCENARIOS),
            "missed_any_bad_rate_flagger": self.missed_bad_rate(FLAGGER, BAD_SCENARIOS),
            "bad_requests_ratio_by_scenario": {
                str(n): _ratio(self.scenario_bad_requests(JUDGE, n), self.scenario_bad_requests(FLAGGER, n))
                for n in BAD_SCENARIOS
            },
            "promote_time_ratio": _ratio(self.promote_time(JUDGE), self.promote_time(FLAGGER)),
            "promote_time_judge_s": self.promote_time(JUDGE),
            "promote_time_threshold_s": self.promote_time(THRESHOLD_MODE),
            "promote_time_flagger_s": self.promote_time(FLAGGER),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: headline figures, then every row."""
        return {
            **self.summary(),
            "elapsed_s": round(self.elapsed_s, 2),
            "reproduce": REPRODUCE.format(seeds=self.seeds) + " --json",
            "policies_available": dict(self.available),
            "bad_requests_definition": BAD_REQUESTS_DEFINITION,
            "rows": [{**asdict(r), "outcome": r.outcome} for r in self.rows],
        }


BAD_REQUESTS_DEFINITION = (
    "expected excess harm of the regressed canary: per request it served, error probability minus the "
    "stable revision's (error regressions) and P(latency > stable p99) - 0.01 (latency regressions), "
    "until rollback, or until the 30-minute horizon at 100% of traffic once promoted"
)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def summarise(scenario: Scenario, policy: str, results: Sequence[Result]) -> Row:
    """One row from the runs of one scenario under one policy."""
    decided = [r.decided_at_s for r in results if r.decided_at_s is not None]
    promoted = [r.decided_at_s for r in results if r.outcome == PROMOTED and r.decided_at_s is not None]
    rolled = [r.decided_at_s for r in results if r.outcome == ROLLED_BACK and r.decided_at_s is not None]
    harm = [r.bad_requests for r in results]
    return Row(
        scenario=scenario.number,
        key=scenario.key,
        title=scenario.title,
        policy=policy,
        seeds=len(results),
        promoted=sum(r.outcome == PROMOTED for r in results),
        rolled_back=sum(r.outcome == ROLLED_BACK for r in results),
        undecided=sum(r.outcome == UNDECIDED for r in results),
        median_time_to_decision_s=_median(decided),
        median_time_to_promote_s=_median(promoted),
        median_time_to_rollback_s=_median(rolled),
        mean_bad_requests=statistics.fmean(harm) if harm else 0.0,
        median_bad_requests=_median(harm) or 0.0,
    )


def unavailable_row(scenario: Scenario, policy: str) -> Row:
    """A placeholder row for a policy this checkout cannot run."""
    return Row(
        scenario.number, scenario.key, scenario.title, policy, 0, 0, 0, 0, None, None, None, 0.0, 0.0, False
    )


def runner(policy: str) -> Callable[[Scenario, int], Result] | None:
    """The run function of ``policy``, or None when unavailable in this checkout."""
    if policy == FLAGGER:
        return run_flagger
    spec = core_spec(policy)
    if spec is None:
        return None
    return lambda scenario, seed: run_core(spec, scenario, seed)


def suite(
    seeds: int, policies: Sequence[str] = POLICIES, scenarios: Sequence[Scenario] = SCENARIOS
) -> Report:
    """Run every scenario under every policy for seeds ``0 .. seeds-1``."""
    started = time.perf_counter()
    report = Report(seeds=seeds, elapsed_s=0.0)
    for policy in policies:
        run = runner(policy)
        report.available[policy] = run is not None
        for scenario in scenarios:
            if run is None:
                report.rows.append(unavailable_row(scenario, policy))
                continue
            results = [run(scenario, seed) for seed in range(seeds)]
            report.rows.append(summarise(scenario, policy, results))
    report.rows.sort(key=lambda r: (r.scenario, POLICIES.index(r.policy)))
    report.elapsed_s = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------- output


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}m"


def _number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _vs_flagger(report: Report, row: Row) -> str:
    """A bad scenario's mean bad requests over the Flagger policy's ("" for good ones and Flagger)."""
    if row.policy == FLAGGER or row.scenario not in BAD_SCENARIOS or not row.available:
        return ""
    value = _ratio(row.mean_bad_requests, report.scenario_bad_requests(FLAGGER, row.scenario))
    return "n/a" if value is None else f"{value:.3f}"


def render(report: Report) -> str:
    """The per-scenario table, the rates and the ratio line."""
    header = ("#", "scenario", "policy", "outcome (P/R/U)", "t decide", "bad req mean", "median", "/ Flagger")
    cells = [
        (
            str(r.scenario),
            r.title,
            r.policy,
            r.outcome,
            _minutes(r.median_time_to_decision_s),
            _number(r.mean_bad_requests) if r.available else "n/a",
            _number(r.median_bad_requests) if r.available else "n/a",
            _vs_flagger(report, r),
        )
        for r in report.rows
    ]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    right = {4, 5, 6, 7}

    def line(row: Sequence[str]) -> str:
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)]
        return "  ".join(parts).rstrip()

    out = [
        f"judgment: {report.seeds} seeds x {len(SCENARIOS)} scenarios x {len(POLICIES)} policies, "
        f"simulated traffic and clock; took {report.elapsed_s:.1f} s",
        line(header),
        "  ".join("-" * w for w in widths),
    ]
    previous = None
    for row, cell in zip(report.rows, cells, strict=True):
        if previous is not None and row.scenario != previous:
            out.append("")
        previous = row.scenario
        out.append(line(cell))
    summary = report.summary()
    out.append("")
    out.append(
        "t decide: median time to promotion (phase Promoting) or rollback over decided seeds; "
        "P/R/U = promoted / rolled back / undecided at the 30m horizon; / Flagger = mean bad requests "
        "over the Flagger policy's"
    )
    out.append("bad req: " + BAD_REQUESTS_DEFINITION)
    for policy in POLICIES:
        out.append(
            f"{POLICY_TITLES[policy]:<32} false rollbacks (good: 1,7,8) "
            f"{_percent(report.false_rollback_rate(policy)):>6}   "
            f"missed bad (+2% or worse: 3,4,9) {_percent(report.missed_bad_rate(policy)):>6}   "
            f"missed bad (2-6,9) {_percent(report.missed_bad_rate(policy, BAD_SCENARIOS)):>6}   "
            f"bad req (2-6,9) {_number(report.bad_requests(policy)):>9}   "
            f"promote good {_minutes(report.promote_time(policy))}"
        )
    out.append(
        "ratio judge / Flagger policy: bad requests served "
        f"{_number(summary['bad_requests_ratio'], 3)}, time to promote a good release "
        f"{_number(summary['promote_time_ratio'], 3)}; false rollbacks judge "
        f"{_percent(summary['false_rollback_rate_judge'])} vs Flagger policy "
        f"{_percent(summary['false_rollback_rate_flagger'])}"
    )
    out.append(f"reproduce: {REPRODUCE.format(seeds=report.seeds)} (add --json for the JSON object)")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench judgment [--seeds N] [--quick] [--json]``."""
    parser = argparse.ArgumentParser(prog="python -m bench judgment", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seeds", type=int, default=FULL_SEEDS, help=f"seeds per scenario (default {FULL_SEEDS})"
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SEEDS} seeds (smoke test)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    seeds = QUICK_SEEDS if args.quick else args.seeds
    if seeds < 1:
        parser.error("--seeds must be at least 1")
    report = suite(seeds)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
