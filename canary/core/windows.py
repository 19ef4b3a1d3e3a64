"""Which windows the edge must measure this tick, so every judged number belongs to the revision.

Pure: from the spec, the status and the time. Every window ends at ``Observation.now`` and never
starts before the current step began, so a check never judges traffic from before this weight
(or from the previous revision, whose pods were gone before the step started):

* a metric check covers ``min(metric interval, time since the step began)``, the step being the
  time since the traffic split last changed (:func:`step_start`); a check with ``minSamples``
  judges every request once: its window starts at the last step or halt and, while it waits for
  samples (``status.inconclusiveSince``), grows over the whole wait until it holds enough;
* the judge covers the time since it last looked (windows chain, never overlap);
* an SLO burn-rate window is cut to the time since the revision first received traffic.

Windows are whole seconds (Prometheus durations) and at least one second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from canary.api.duration import duration_seconds
from canary.api.models import CanaryMetric, CanarySpec, CanaryStatus, Phase, parse_time

__all__ = [
    "DEFAULT_METRIC_WINDOW_SECONDS",
    "MAX_WINDOW_SECONDS",
    "MeasurementPlan",
    "analysis_start",
    "check_window",
    "judge_interval_seconds",
    "judge_window",
    "slo_windows",
    "step_start",
]

#: Flagger's default metric interval (the query window of a metric without ``interval``).
DEFAULT_METRIC_WINDOW_SECONDS = 60
#: No window is longer than a day (the longest interval the API accepts).
MAX_WINDOW_SECONDS = 24 * 3600
#: Phases in which the judge watches a canary that receives traffic.
_JUDGED_PHASES = frozenset({Phase.PROGRESSING, Phase.WAITING, Phase.WAITING_PROMOTION})


@dataclass(frozen=True)
class MeasurementPlan:
    """What to measure this tick: metric checks (name -> window) and revision-count windows."""

    checks: Mapping[str, int] | None = None
    """Window in seconds of each ``analysis.metrics[]`` entry; None when no checks are due."""
    samples: tuple[int, ...] = field(default=())
    """Windows (seconds) over which both revisions' raw counts are needed."""

    @property
    def idle(self) -> bool:
        """Nothing to query this tick."""
        return self.checks is None and not self.samples


def _seconds_between(start: str | None, now: datetime) -> float | None:
    if start is None:
        return None
    return (now - parse_time(start)).total_seconds()


def _whole(seconds: float) -> int:
    return max(1, min(MAX_WINDOW_SECONDS, round(seconds)))


def step_start(status: CanaryStatus) -> str | None:
    """When the canary's traffic last changed (weight or iteration advanced, phase entered).

    Not ``stepStartedAt``, which a halt (failed check, provider error) also moves: traffic since
    the weight changed is this step's traffic still, and after a Prometheus outage the window must
    not shrink to the seconds since the last error, which hold no samples yet.
    """
    return status.last_transition_time or status.step_started_at


def check_window(metric: CanaryMetric, status: CanaryStatus, now: datetime) -> int:
    """Seconds of traffic one metric check judges, ending now (see the module rules)."""
    base = metric.interval_seconds or DEFAULT_METRIC_WINDOW_SECONDS
    if metric.min_samples is not None:
        # Every request is judged once: the window starts where the last judged one ended (the
        # last step or halt) and, while too few samples came, grows over the whole wait.
        if status.inconclusive_since is not None:
            waited = _seconds_between(status.inconclusive_since, now)
            return _whole(waited if waited is not None else base)
        since_judged = _seconds_between(status.step_started_at, now)
        return _whole(base if since_judged is None else min(base, since_judged))
    since_step = _seconds_between(step_start(status), now)
    return _whole(base if since_step is None else min(base, since_step))


def analysis_start(status: CanaryStatus) -> str | None:
    """When the revision under analysis first received traffic (older statuses: the step start)."""
    return status.analysis_started_at or status.step_started_at


def slo_windows(spec: CanarySpec, status: CanaryStatus, now: datetime) -> list[tuple[int, int]]:
    """(short, long) seconds of each burn-rate rule, cut to the revision's time with traffic."""
    slo = spec.analysis.slo
    if slo is None:
        return []
    since = _seconds_between(analysis_start(status), now)
    out: list[tuple[int, int]] = []
    for rule in slo.burn_rates:
        short, long = duration_seconds(rule.short_window), duration_seconds(rule.long_window)
        if since is not None:
            short, long = min(short, since), min(long, since)
        out.append((_whole(short), _whole(long)))
    return out


def judge_interval_seconds(spec: CanarySpec) -> float:
    """How often the judge looks: ``judge.interval``, else a quarter of the analysis interval (>= 1s)."""
    judge = spec.analysis.judge
    if judge is not None and judge.interval is not None:
        return duration_seconds(judge.interval)
    return max(1.0, spec.analysis_interval_seconds / 4.0)


def judge_window(
    spec: CanarySpec, status: CanaryStatus | None, now: datetime, *, step_tick: bool
) -> int | None:
    """Seconds since the judge last looked, when it should look now (always on a step tick)."""
    if status is None or spec.analysis.judge is None or spec.suspend or spec.skip_analysis:
        return None
    if status.phase not in _JUDGED_PHASES or (status.canary_weight == 0 and status.iterations == 0):
        return None
    judged = status.judge
    start = judged.observed_until if judged is not None else None
    since = _seconds_between(start or status.step_started_at, now)
    if since is None or since < 1.0:
        return None
    looked = _seconds_between(judged.looked_at if judged is not None else None, now)
    since_look = since if looked is None else min(since, looked)
    if not step_tick and since_look < judge_interval_seconds(spec):
        return None
    return _whole(since)
