"""The operator's Prometheus metrics: Flagger's families, so its dashboards and alerts carry over, plus our own.

Flagger's families and labels follow ``pkg/metrics/recorder.go`` (``flagger_canary_status`` with
``name`` = the target's name, ``flagger_canary_weight`` per workload, ...). One deliberate
difference: ``flagger_canary_status`` reads 0 (running) in every analysing phase
(``Progressing``, ``WaitingPromotion``, ``Promoting``, ``Finalising``), where Flagger reads 0
only in ``Progressing`` and 1 while it promotes.

Every value about a Canary is derived from its status (never from memory of earlier ticks),
so a restarted or newly elected operator reports the same figures as the one before it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from canary.api.models import Canary, CanaryStatus, Phase, parse_time
from canary.core.observations import Measurement, ProviderOutcome

#: Phases in which a release is being analysed or promoted: ``flagger_canary_status`` 0.
RUNNING_PHASES = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PROMOTING, Phase.FINALISING})
#: How a phase reads in ``flagger_canary_status``.
STATUS_RUNNING, STATUS_SUCCEEDED, STATUS_FAILED = 0, 1, 2
#: A progressing rollout may go this many analysis intervals without a step before it counts
#: as stuck (when that is longer than its progressDeadlineSeconds).
STUCK_INTERVALS = 2
#: Reconcile and request latencies: from a cached no-op tick to a slow Prometheus query.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Step lateness: a step taken within a tick is a few ms late; seconds mean a busy operator.
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

_CANARY = ("name", "namespace")
_OUTCOME = ("name", "namespace", "deployment_strategy", "analysis_status")
_QUERY_RESULTS = {
    ProviderOutcome.MEASURED: "ok",
    ProviderOutcome.NO_DATA: "no_data",
    ProviderOutcome.ERROR: "error",
}


def status_value(phase: Phase | None) -> int:
    """``flagger_canary_status``: 0 running, 2 failed, 1 otherwise (succeeded, initialized, idle)."""
    if phase in RUNNING_PHASES:
        return STATUS_RUNNING
    if phase is Phase.FAILED:
        return STATUS_FAILED
    return STATUS_SUCCEEDED


def deployment_strategy(canary: Canary) -> str:
    """Flagger's ``deployment_strategy`` label: ab-testing, blue-green or canary."""
    analysis = canary.spec.analysis
    if analysis.is_iteration_based:
        return "ab-testing" if analysis.match else "blue-green"
    return "canary"


class Recorder:
    """All metric families, on a registry of their own (one per operator; tests make many)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.info = Gauge(
            "flagger_info", "Operator version and default router", ["version", "mesh_provider"], registry=r
        )
        self.duration = Histogram(
            "flagger_canary_duration_seconds",
            "Seconds spent performing canary analysis.",
            _CANARY,
            registry=r,
        )
        self.total = Gauge("flagger_canary_total", "Total number of canary object", ["namespace"], registry=r)
        self.status = Gauge("flagger_canary_status", "Last canary analysis result", _CANARY, registry=r)
        self.weight = Gauge(
            "flagger_canary_weight",
            "The destination weight current value",
            ["workload", "namespace"],
            registry=r,
        )
        self.analysis = Gauge(
            "flagger_canary_metric_analysis",
            "Last canary analysis result per metric",
            ["name", "namespace", "metric"],
            registry=r,
        )
        self.successes = Counter(
            "flagger_canary_successes", "Total number of canary successes", _OUTCOME, registry=r
        )
        self.failures = Counter(
            "flagger_canary_failures", "Total number of canary failures", _OUTCOME, registry=r
        )
        self.threshold = Gauge(
            "canary_metric_threshold",
            "Bound a check's value must respect (bound=min|max)",
            ["name", "namespace", "metric", "bound"],
            registry=r,
        )
        self.last_progress = Gauge(
            "canary_last_progress_timestamp_seconds",
            "When the rollout last took a step or changed phase",
            _CANARY,
            registry=r,
        )
        self.progress_deadline = Gauge(
            "canary_progress_deadline_seconds",
            "How long a running rollout may go without a step before it counts as stuck",
            _CANARY,
            registry=r,
        )
        self.reconcile = Histogram(
            "canary_operator_reconcile_duration_seconds",
            "Seconds one reconcile tick took (result=ok|error)",
            ["result"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lateness = Histogram(
            "canary_operator_step_lateness_seconds",
            "Seconds between when an analysis step was due and when it was taken",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.kube_requests = Counter(
            "canary_operator_kube_requests",
            "Kubernetes API requests of the reconciler (code: HTTP status, or error)",
            ["verb", "code"],
            registry=r,
        )
        self.prometheus_queries = Counter(
            "canary_operator_prometheus_queries",
            "Metric checks queried (result=ok|no_data|error)",
            ["result"],
            registry=r,
        )
        self.leader = Gauge(
            "canary_operator_leader", "1 on the replica that runs the controllers", registry=r
        )
        self.last_reconcile = Gauge(
            "canary_operator_last_reconcile_timestamp_seconds", "When a reconcile tick last ended", registry=r
        )
        self._known: dict[tuple[str, str], _Series] = {}
        for result in ("ok", "no_data", "error"):
            self.prometheus_queries.labels(result)  # present at 0, so rate() works from the start
        for result in ("ok", "error"):
            self.reconcile.labels(result)

    # ------------------------------------------------------------------ per Canary

    def record_canary(self, canary: Canary, old: CanaryStatus | None, new: CanaryStatus) -> None:
        """The gauges of one Canary after a tick, and the outcome counters on a final transition."""
        target = canary.spec.target_ref.name
        ns = canary.namespace
        self._track(canary)
        self.status.labels(target, ns).set(status_value(new.phase))
        self.weight.labels(f"{target}-primary", ns).set(100 - new.canary_weight)
        self.weight.labels(target, ns).set(new.canary_weight)
        series = self._known[(ns, canary.name)]
        for check in new.checks:
            if check.value is not None:
                self.analysis.labels(target, ns, check.name).set(check.value)
                series.metrics.add(check.name)
            for bound, value in (("min", check.threshold_min), ("max", check.threshold_max)):
                if value is not None:
                    self.threshold.labels(target, ns, check.name, bound).set(value)
                    series.thresholds.add((check.name, bound))
        progress = _last_progress(new)
        if progress is not None:
            self.last_progress.labels(target, ns).set(progress.timestamp())
        interval = canary.spec.analysis_interval_seconds
        self.progress_deadline.labels(target, ns).set(
            max(float(canary.spec.progress_deadline_seconds), STUCK_INTERVALS * interval)
        )
        old_phase = old.phase if old is not None else None
        if new.phase != old_phase and new.phase in (Phase.SUCCEEDED, Phase.FAILED):
            skipped = canary.spec.skip_analysis
            labels = (target, ns, deployment_strategy(canary), "skipped" if skipped else "completed")
            (self.successes if new.phase is Phase.SUCCEEDED else self.failures).labels(*labels).inc()

    def observe_analysis(self, canary: Canary, seconds: float) -> None:
        """Time one analysing tick took (Flagger's ``SetDuration``)."""
        self.duration.labels(canary.spec.target_ref.name, canary.namespace).observe(seconds)

    def forget(self, namespace: str, name: str) -> None:
        """A Canary is gone: drop its series, so dashboards and alerts stop showing it."""
        series = self._known.pop((namespace, name), None)
        if series is None:
            return
        target = series.target
        for gauge in (self.status, self.last_progress, self.progress_deadline):
            _remove(gauge, target, namespace)
        for workload in (f"{target}-primary", target):
            _remove(self.weight, workload, namespace)
        for metric in series.metrics:
            _remove(self.analysis, target, namespace, metric)
        for metric, bound in series.thresholds:
            _remove(self.threshold, target, namespace, metric, bound)
        self._set_total(namespace)

    def _track(self, canary: Canary) -> None:
        key = (canary.namespace, canary.name)
        target = canary.spec.target_ref.name
        known = self._known.get(key)
        if known is not None and known.target != target:
            self.forget(*key)  # retargeted: the old target's series would lie
            known = None
        if known is None:
            self._known[key] = _Series(target)
            self._set_total(canary.namespace)

    def _set_total(self, namespace: str) -> None:
        self.total.labels(namespace).set(sum(1 for ns, _ in self._known if ns == namespace))

    # ------------------------------------------------------------------ operator-wide

    def observe_reconcile(self, seconds: float, *, ok: bool, ended: datetime) -> None:
        self.reconcile.labels("ok" if ok else "error").observe(seconds)
        self.last_reconcile.set(ended.timestamp())

    def observe_lateness(self, seconds: float) -> None:
        self.lateness.observe(max(seconds, 0.0))

    def count_queries(self, measurements: Iterable[Measurement]) -> None:
        for measurement in measurements:
            self.prometheus_queries.labels(_QUERY_RESULTS[measurement.outcome]).inc()

    def count_kube_request(self, verb: str, code: str) -> None:
        self.kube_requests.labels(verb, code).inc()


class _Series:
    """Label values one Canary has published, so :meth:`Recorder.forget` removes exactly those."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.metrics: set[str] = set()
        self.thresholds: set[tuple[str, str]] = set()


def _remove(metric: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


def _last_progress(status: CanaryStatus) -> datetime | None:
    """The latest of the step's start and the last phase change, both kept in the status."""
    times = [parse_time(t) for t in (status.step_started_at, status.last_transition_time) if t]
    return max(times) if times else None


__all__ = ["Recorder", "deployment_strategy", "status_value"]
