"""Run :func:`~canary.core.machine.decide` over scripted observations with a fake clock.

Used by the tests and the benchmarks: the same pure core the operator runs, fed by a function
that plays the world (readiness, revisions, measured metric values) tick by tick. The world
supplies :class:`~canary.core.observations.Measurement` values, as the metric edge does; the
core classifies them against the spec's thresholds, so a simulated run exercises the same
judgment as the operator.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from canary.api.models import CanarySpec, CanaryStatus
from canary.core.machine import Decision, checks_due, decide
from canary.core.observations import Observation

__all__ = ["EPOCH", "ApplyFn", "ObservationFn", "Tick", "simulate"]

#: Default start of the fake clock; any aware datetime works.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Tick:
    """What the world function is told about one tick."""

    __slots__ = ("checks_due", "index", "now", "status")

    def __init__(self, index: int, now: datetime, status: CanaryStatus | None, checks_due: bool) -> None:
        self.index = index
        self.now = now
        self.status = status
        self.checks_due = checks_due


#: Plays the world: given the tick, returns what the operator would observe.
ObservationFn = Callable[[Tick], Observation]
#: Plays the operator's apply step: performs the decision's actions on the fake world and
#: returns whether the status write then succeeded (False: the next tick sees the old status).
ApplyFn = Callable[[Tick, Decision], bool]


def simulate(
    spec: CanarySpec,
    observations_fn: ObservationFn,
    ticks: int,
    *,
    start: datetime = EPOCH,
    step: timedelta | None = None,
    status: CanaryStatus | None = None,
    until: Callable[[Decision], bool] | None = None,
    apply: ApplyFn | None = None,
) -> list[Decision]:
    """Call ``decide`` up to ``ticks`` times, ``step`` apart (default: the analysis interval).

    Each decision's status feeds the next tick, as the operator's status write would, unless
    ``apply`` (which performs the actions on the fake world) reports the write as lost; the run
    stops early after the first decision for which ``until`` returns True.
    """
    spacing = step if step is not None else spec.analysis_interval
    decisions: list[Decision] = []
    current = status
    for index in range(ticks):
        now = start + spacing * index
        tick = Tick(index, now, current, checks_due(spec, current, now))
        decision = decide(spec, current, observations_fn(tick))
        decisions.append(decision)
        if apply is None or apply(tick, decision):
            current = decision.status
        if until is not None and until(decision):
            break
    return decisions
