"""The metrics-provider interface (Flagger's ``providers.Interface``) and metric checks at the edge.

A :class:`MetricCheck` turns one ``analysis.metrics[]`` entry into a :class:`Measurement`:
pick the query (built-in, inline or MetricTemplate), render it safely and run it with bounded
retries. The edge only measures; the core classifies the value against the metric's threshold
(:func:`canary.core.checks.classify_measurement`). Failures never raise: "the provider failed"
(or anything else went wrong) is a provider ERROR and an empty result or NaN is NO_DATA, kept
apart in :class:`ProviderOutcome`.  A query answering with several series is an ERROR too: a
check compares one number with its threshold.

Every ERROR message reads ``metric <name>: <short reason>``, the reason naming the provider by
``scheme://host:port`` (see :mod:`canary.metrics.prometheus` for what a reason may contain).
A check is bounded in time as a whole: :data:`CHECK_BUDGET_SECONDS`, retries included.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random

from canary.api.duration import duration_seconds
from canary.api.models import Canary, CanaryMetric, TemplateRef
from canary.core.observations import Measurement, RevisionSample, WindowSamples
from canary.metrics.builtin import BUILTIN_QUERIES, builtin_query, revision_queries
from canary.metrics.template import QueryContext, TemplateError, render_query
from canary.routers.base import service_names
from canary.targets.workload import primary_name

__all__ = [
    "CHECK_BUDGET_SECONDS",
    "DEFAULT_METRIC_INTERVAL",
    "Budget",
    "MetricCheck",
    "MetricTemplateError",
    "MetricsProvider",
    "MetricsQueryError",
    "ResolvedTemplate",
    "TemplateResolver",
    "VectorSample",
    "prometheus_duration",
    "query_context",
    "revision_sample",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Flagger's default query window for a metric without ``interval``.
DEFAULT_METRIC_INTERVAL = "1m"

CHECK_BUDGET_SECONDS = 10.0
"""Longest one metric check may take, tenacity retries and the built-in metrics' extra queries
(primary value, revision samples) included.  Each request gets at most what is left of it (and
at most :data:`canary.metrics.prometheus.QUERY_TIMEOUT_SECONDS`), so a Prometheus that never
answers is an ERROR ("timed out") after about this long, and a step's checks, which run
concurrently, cost one budget however many there are."""

_MIN_ATTEMPT_SECONDS = 0.5
"""No request is started with less than this left of the budget: it could not succeed."""

_WHITESPACE = re.compile(r"\s+")


class Budget:
    """Wall-clock seconds left for one check (monotonic clock)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - time.monotonic())

    def timeout(self) -> float:
        """The timeout for the next request: what is left; MetricsQueryError when that is too little."""
        left = self.remaining()
        if left < _MIN_ATTEMPT_SECONDS:
            raise MetricsQueryError(f"no time left in the check's {self.seconds:g}s budget", retryable=False)
        return left


class MetricsQueryError(RuntimeError):
    """The provider could not answer; ``retryable`` is False when asking again cannot help (bad query)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class MetricTemplateError(RuntimeError):
    """A referenced MetricTemplate (or its Secret) is missing or unusable."""


@dataclass(frozen=True)
class VectorSample:
    """One series of an instant-vector answer: its labels and value."""

    labels: Mapping[str, str]
    value: float


class MetricsProvider(Protocol):
    """A metrics backend: a liveness probe and instant queries.

    ``timeout`` is the most a query may take (the provider may use less); None means the
    provider's own default.  A MetricsQueryError's message is shown to users as is: it must name
    the provider and a short reason, never echo a response body or the encoded query.
    """

    def is_online(self) -> bool:
        """True when the backend answers a trivial query."""
        ...

    def run_query(self, query: str, timeout: float | None = None, at: float | None = None) -> float | None:
        """A single value (None = no data) evaluated at unix time ``at`` (default: now); raises
        MetricsQueryError when the backend fails or answers with more than one series."""
        ...

    def run_vector(
        self, query: str, timeout: float | None = None, at: float | None = None
    ) -> list[VectorSample]:
        """Every series of the answer at unix time ``at``, for per-bucket or per-revision observations."""
        ...


@dataclass(frozen=True)
class ResolvedTemplate:
    """A MetricTemplate's query with the provider it must run on.

    ``warning`` is copied to the measurement's ``warning`` once the query was sent (e.g.
    credentials going over plain http).
    """

    query: str
    provider: MetricsProvider
    warning: str = ""


class TemplateResolver(Protocol):
    """Loads the MetricTemplate a metric refers to (and its provider credentials)."""

    def __call__(self, canary: Canary, ref: TemplateRef) -> ResolvedTemplate: ...


@dataclass
class MetricCheck:
    """Measures one metric of a Canary (never raises for provider trouble; never judges the value).

    ``attempts``/``min_wait``/``max_wait`` bound the retries of a failing provider and ``budget``
    bounds the whole check in seconds (:data:`CHECK_BUDGET_SECONDS`): with the defaults a refused
    connection is reported as a provider ERROR in about two seconds, a Prometheus that never
    answers in about ``budget`` seconds.
    """

    provider: MetricsProvider
    resolve_template: TemplateResolver | None = None
    attempts: int = 3
    min_wait: float = 0.2
    max_wait: float = 1.0
    budget: float = CHECK_BUDGET_SECONDS

    def measure(
        self,
        canary: Canary,
        metric: CanaryMetric,
        window_seconds: int | None = None,
        at: float | None = None,
    ) -> Measurement:
        """Run the metric's query over the ``window_seconds`` ending at unix time ``at``.

        The window is what the core chose (:func:`canary.core.windows.check_window`); without
        one the metric's ``interval`` (else 1m) ending now. It fills ``{{ interval }}``.
        Never raises: any exception, expected or not, becomes a provider ERROR carrying its message.
        """
        interval = prometheus_duration(window_seconds) if window_seconds is not None else None
        try:
            return self._measure(canary, metric, interval, at)
        except Exception as exc:  # the contract: a broken check is a provider ERROR, not a crash
            logger.warning("metric %s check failed unexpectedly", metric.name, exc_info=True)
            detail = _WHITESPACE.sub(" ", str(exc)).strip()
            detail = detail if len(detail) <= 200 else detail[:199] + "…"
            return Measurement.error(
                metric.name, f"metric {metric.name} check failed: {type(exc).__name__}: {detail}"
            )

    def _measure(
        self, canary: Canary, metric: CanaryMetric, interval: str | None, at: float | None
    ) -> Measurement:
        budget = Budget(self.budget)
        context = query_context(canary, metric, interval)
        provider = self.provider
        warning = ""
        try:
            if metric.template_ref is not None:
                if self.resolve_template is None:
                    return _error(metric, "MetricTemplates cannot be loaded: no template resolver configured")
                resolved = self.resolve_template(canary, metric.template_ref)
                provider, warning = resolved.provider, resolved.warning
                query = render_query(resolved.query, context)
            elif metric.query is not None:
                query = render_query(metric.query, context)
            elif metric.name in BUILTIN_QUERIES:
                query = builtin_query(metric.name, context)
            else:
                return _error(metric, "no query, templateRef or built-in definition")
        except TemplateError as exc:
            return _error(metric, f"invalid query: {exc}")
        except MetricTemplateError as exc:
            return _error(metric, str(exc))

        try:
            value = self._with_retries(lambda timeout: provider.run_query(query, timeout, at), budget)
        except MetricsQueryError as exc:
            return dataclasses.replace(_error(metric, str(exc)), warning=warning)

        primary_value: float | None = None
        if metric.is_builtin:
            primary_value = self._primary_value(provider, metric.name, context, budget, at)
        measurement = Measurement.of(
            metric.name,
            value,
            primary_value=primary_value,
            window_seconds=_window_seconds(context.interval),
            # Built-in queries select the canary workload by exact name over a window the core
            # cut to the step; a user's query may select anything.
            revision_scoped=metric.is_builtin,
        )
        return dataclasses.replace(measurement, warning=warning) if warning else measurement

    def samples(self, canary: Canary, window_seconds: int, at: float | None = None) -> WindowSamples:
        """Both revisions' raw counts over ``window_seconds`` ending at ``at`` (never raises).

        A revision without request series in the window is None ("no data", not "0 requests").
        """
        context = query_context(canary, None, prometheus_duration(window_seconds))
        budget = Budget(self.budget)
        try:
            canary_sample = self._with_retries(
                lambda timeout: revision_sample(self.provider, context, Budget(timeout), at), budget
            )
            primary_context = _for_workload(context, primary_name(context.target))
            primary_sample = self._with_retries(
                lambda timeout: revision_sample(self.provider, primary_context, Budget(timeout), at), budget
            )
        except MetricsQueryError as exc:
            return WindowSamples(float(window_seconds), error=f"request counts: {exc}")
        except Exception as exc:  # the contract: never raise
            logger.warning("revision samples failed unexpectedly", exc_info=True)
            return WindowSamples(float(window_seconds), error=f"request counts: {type(exc).__name__}: {exc}")
        return WindowSamples(float(window_seconds), canary=canary_sample, primary=primary_sample)

    def _with_retries(self, call: Callable[[float], T], budget: Budget) -> T:
        """``call(timeout)`` retried while retryable, within ``attempts`` and the budget."""

        def stop(state: RetryCallState) -> bool:
            # The next attempt needs the longest wait plus a useful request time.
            return (
                state.attempt_number >= self.attempts
                or budget.remaining() < self.max_wait + _MIN_ATTEMPT_SECONDS
            )

        retrying = Retrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, MetricsQueryError) and exc.retryable),
            stop=stop,
            wait=wait_random(self.min_wait, self.max_wait),
            reraise=True,
        )
        return retrying(lambda: call(budget.timeout()))

    def _primary_value(
        self, provider: MetricsProvider, name: str, context: QueryContext, budget: Budget, at: float | None
    ) -> float | None:
        """The same built-in metric for the primary, for side-by-side display; best effort."""
        try:
            return provider.run_query(
                builtin_query(name, _for_workload(context, primary_name(context.target))),
                budget.timeout(),
                at,
            )
        except MetricsQueryError as exc:
            logger.debug("primary value of %s unavailable: %s", name, exc)
            return None


def _error(metric: CanaryMetric, reason: str) -> Measurement:
    """A provider ERROR whose message names the check: ``metric <name>: <reason>``."""
    return Measurement.error(metric.name, f"metric {metric.name}: {reason}")


# ---------------------------------------------------------------------------- helpers


def query_context(canary: Canary, metric: CanaryMetric | None, interval: str | None = None) -> QueryContext:
    """The placeholder values for one metric of one Canary (or for raw counts, without a metric)."""
    apex, _, _ = service_names(canary)
    return QueryContext(
        name=canary.name,
        namespace=canary.namespace,
        target=canary.spec.target_ref.name,
        service=apex,
        interval=interval or (metric.interval if metric else None) or DEFAULT_METRIC_INTERVAL,
        variables=dict(metric.template_variables or {}) if metric else {},
    )


def prometheus_duration(seconds: int) -> str:
    """A window in Prometheus' duration syntax: ``60`` -> ``60s`` (``{{ interval }}`` renders it)."""
    return f"{max(1, int(seconds))}s"


def _for_workload(context: QueryContext, workload: str) -> QueryContext:
    return QueryContext(
        name=context.name,
        namespace=context.namespace,
        target=workload,
        service=context.service,
        interval=context.interval,
        variables=context.variables,
    )


def _window_seconds(interval: str) -> float | None:
    try:
        return duration_seconds(interval)
    except ValueError:
        return None


def revision_sample(
    provider: MetricsProvider,
    context: QueryContext,
    budget: Budget | None = None,
    at: float | None = None,
) -> RevisionSample | None:
    """Requests, 5xx errors and cumulative latency buckets (upper bound in seconds) of one workload
    over ``context.interval`` ending at ``at`` (default now).

    Exact counts: each counter series read at both ends of the window, the difference taken per
    series (a counter that went down was reset, so its whole later value counts, as in
    ``increase``), then summed. None when the workload has no request series at the window's end:
    that is "unknown", not "0 requests". With a ``budget`` each query gets what is left of it
    (MetricsQueryError once it is used up).
    """

    def timeout() -> float | None:
        return budget.timeout() if budget is not None else None

    end = at if at is not None else time.time()
    start = end - (_window_seconds(context.interval) or 60.0)
    queries = revision_queries(context)
    now_requests = provider.run_vector(queries.requests, timeout(), end)
    if not now_requests:
        return None
    requests = errors = 0.0
    for labels, count in _increments(now_requests, provider.run_vector(queries.requests, timeout(), start)):
        requests += count
        if labels.get("response_code", "").startswith("5"):
            errors += count
    buckets: dict[float, float] = {}
    now_buckets = provider.run_vector(queries.latency_buckets, timeout(), end)
    before = provider.run_vector(queries.latency_buckets, timeout(), start) if now_buckets else []
    for labels, count in _increments(now_buckets, before):
        le = labels.get("le")
        if le is not None:
            bound = float(le) / 1000.0
            buckets[bound] = buckets.get(bound, 0.0) + count
    return RevisionSample(requests=requests, errors=errors, latency_buckets=tuple(sorted(buckets.items())))


def _increments(now: list[VectorSample], before: list[VectorSample]) -> list[tuple[Mapping[str, str], float]]:
    """Each series' growth between two readings (absent before: all of it; reset: its new value)."""
    earlier = {_series_key(s.labels): s.value for s in before}
    out: list[tuple[Mapping[str, str], float]] = []
    for sample in now:
        previous = earlier.get(_series_key(sample.labels), 0.0)
        out.append((sample.labels, sample.value - previous if sample.value >= previous else sample.value))
    return out


def _series_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))
