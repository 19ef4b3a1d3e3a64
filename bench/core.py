"""Decision-core figures: the cost of one ``decide`` call and of whole simulated rollouts."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from canary.api.models import CanarySpec, CanaryStatus, Phase
from canary.core.conditions import format_timestamp
from canary.core.machine import Decision, decide
from canary.core.observations import CanaryRef, Measurement, Observation, Revision, WorkloadState
from canary.core.simulate import EPOCH, Tick, simulate

from . import Figure, batches, median, percentile, ratio

__all__ = ["NAMES", "run"]

DECIDE_MEDIAN = "decide: median per call"
DECIDE_P99 = "decide: p99 per call"
DECIDE_TAIL = "decide: p99 / median"
GOOD_RATE = "rollout good -> Succeeded"
GOOD_TICKS = "rollout good: ticks"
BAD_RATE = "rollout bad -> Failed"
BAD_TICKS = "rollout bad: ticks"
BAD_VS_GOOD = "rollout bad / good time"

#: Every figure this module reports, in order.
NAMES: tuple[str, ...] = (
    DECIDE_MEDIAN,
    DECIDE_P99,
    DECIDE_TAIL,
    GOOD_RATE,
    GOOD_TICKS,
    BAD_RATE,
    BAD_TICKS,
    BAD_VS_GOOD,
)

REF = CanaryRef(name="podinfo", namespace="bench")
STABLE = "stable-hash"
NEW = "new-hash"
#: Upper bound on simulated ticks per rollout; a rollout that does not finish is an error.
MAX_TICKS = 200


def make_spec() -> CanarySpec:
    """A podinfo Canary with stepWeight 10, maxWeight 50, two metric checks, threshold 5."""
    return CanarySpec.model_validate(
        {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "analysis": {
                "interval": "1m",
                "threshold": 5,
                "stepWeight": 10,
                "maxWeight": 50,
                "metrics": [
                    {"name": "request-success-rate", "threshold": 99},
                    {"name": "request-duration", "threshold": 500},
                ],
            },
        }
    )


def measurements(good: bool) -> tuple[Measurement, ...]:
    """The two metrics' values: both within their thresholds, or the success rate below 99."""
    rate = Measurement.of("request-success-rate", 99.9 if good else 91.3)
    duration = Measurement.of("request-duration", 120.0)
    return (rate, duration)


def observe(now: datetime, checks: tuple[Measurement, ...] | None) -> Observation:
    """Healthy target and primary running the new revision."""
    return Observation(
        now=now,
        canary=REF,
        target_revision=Revision(hash=NEW, image="ghcr.io/podinfo:6.1"),
        target=WorkloadState.healthy(),
        primary=WorkloadState.healthy(),
        checks=checks,
    )


def world(good: bool) -> Callable[[Tick], Observation]:
    """Observation function for :func:`simulate`: checks only when the core wants them."""
    checks = measurements(good)

    def observe_tick(tick: Tick) -> Observation:
        return observe(tick.now, checks if tick.checks_due else None)

    return observe_tick


def initialized() -> CanaryStatus:
    """An Initialized canary whose primary runs the stable revision."""
    stamp = format_timestamp(EPOCH)
    return CanaryStatus(
        phase=Phase.INITIALIZED,
        last_applied_spec=STABLE,
        last_promoted_spec=STABLE,
        step_started_at=stamp,
        last_transition_time=stamp,
    )


def ticks_to(spec: CanarySpec, good: bool, final: Phase) -> int:
    """Ticks a rollout from Initialized takes to reach ``final``."""
    decisions = simulate(spec, world(good), MAX_TICKS, status=initialized())
    for index, decision in enumerate(decisions):
        if decision.status.phase is final:
            return index + 1
    raise RuntimeError(f"rollout did not reach {final} within {MAX_TICKS} ticks")


def progressing_call(spec: CanarySpec) -> Callable[[], Decision]:
    """One due analysis step of a Progressing canary at weight 20 with two passing checks."""
    started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    stamp = format_timestamp(started)
    status = CanaryStatus(
        phase=Phase.PROGRESSING,
        canary_weight=20,
        last_applied_spec=NEW,
        last_promoted_spec=STABLE,
        step_started_at=stamp,
        last_transition_time=stamp,
    )
    obs = observe(started.replace(minute=1), measurements(True))
    decision = decide(spec, status, obs)
    if decision.status.canary_weight != 30:
        raise RuntimeError(f"benchmark setup: expected an advance to 30, got {decision.status.message}")
    return lambda: decide(spec, status, obs)


def bench_decide(spec: CanarySpec, quick: bool) -> list[Figure]:
    """Per-call latency of ``decide``: median and p99 within each batch, median over batches."""
    call = progressing_call(spec)
    batch_size, max_batches, budget = (200, 3, 0.5) if quick else (2000, 15, 6.0)
    for _ in range(batch_size // 2):
        call()
    clock = time.perf_counter_ns
    deadline = clock() + int(budget * 1e9)
    medians: list[float] = []
    p99s: list[float] = []
    calls = 0
    for _ in range(max_batches):
        durations: list[float] = []
        for _ in range(batch_size):
            start = clock()
            call()
            durations.append((clock() - start) / 1e3)
        calls += len(durations)
        medians.append(median(durations))
        p99s.append(percentile(durations, 99))
        if clock() > deadline:
            break
    note = f"{len(medians)} batches x {batch_size} calls; median of batches"
    mid, p99 = median(medians), median(p99s)
    return [
        Figure(DECIDE_MEDIAN, mid, "us", calls, note),
        Figure(DECIDE_P99, p99, "us", calls, note),
        Figure(DECIDE_TAIL, ratio(p99, mid), "x", calls, "p99 over median"),
    ]


def bench_rollouts(spec: CanarySpec, quick: bool) -> list[Figure]:
    """Full simulated rollouts per second, good (to Succeeded) and bad (to Failed)."""
    batch_size, max_batches, budget = (5, 3, 0.5) if quick else (100, 15, 6.0)
    figures: list[Figure] = []
    seconds: dict[bool, float] = {}
    for good, final, rate_name, ticks_name in (
        (True, Phase.SUCCEEDED, GOOD_RATE, GOOD_TICKS),
        (False, Phase.FAILED, BAD_RATE, BAD_TICKS),
    ):
        ticks = ticks_to(spec, good, final)
        observe_fn = world(good)

        def rollout(ticks: int = ticks, observe_fn: Callable[[Tick], Observation] = observe_fn) -> None:
            simulate(spec, observe_fn, ticks, status=initialized())

        per_rollout = batches(
            rollout, batch_size=batch_size, max_batches=max_batches, budget_s=budget, warmup=2
        )
        seconds[good] = median(per_rollout)
        count = len(per_rollout) * batch_size
        note = f"{len(per_rollout)} batches x {batch_size}; stepWeight 10, maxWeight 50"
        figures.append(Figure(rate_name, 1.0 / seconds[good], "rollouts/s", count, note))
        figures.append(Figure(ticks_name, float(ticks), "ticks", 1, f"Initialized -> {final.value}"))
    figures.append(
        Figure(BAD_VS_GOOD, ratio(seconds[False], seconds[True]), "x", 2, "time per bad / good rollout")
    )
    return figures


def run(quick: bool) -> list[Figure]:
    """All decision-core figures."""
    spec = make_spec()
    return bench_decide(spec, quick) + bench_rollouts(spec, quick)
