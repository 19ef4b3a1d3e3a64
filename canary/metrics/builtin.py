"""Built-in checks for Istio telemetry, and per-revision sample queries for a statistical judge.

``request-success-rate`` and ``request-duration`` are Flagger's Istio observer queries verbatim
(``pkg/metrics/observers/istio.go``), so thresholds written for Flagger mean the same here.
"""

from __future__ import annotations

from dataclasses import dataclass

from canary.metrics.template import QueryContext, render_query

__all__ = [
    "BUILTIN_QUERIES",
    "REQUEST_DURATION",
    "REQUEST_SUCCESS_RATE",
    "RevisionQueries",
    "builtin_query",
    "revision_queries",
]

REQUEST_SUCCESS_RATE = "request-success-rate"
REQUEST_DURATION = "request-duration"

#: Percentage of non-5xx responses served by the target's pods.
_SUCCESS_RATE = """
	sum(
		rate(
			istio_requests_total{
				reporter="destination",
				destination_workload_namespace="{{ namespace }}",
				destination_workload=~"{{ target }}",
				response_code!~"5.*"
			}[{{ interval }}]
		)
	)
	/
	sum(
		rate(
			istio_requests_total{
				reporter="destination",
				destination_workload_namespace="{{ namespace }}",
				destination_workload=~"{{ target }}"
			}[{{ interval }}]
		)
	)
	* 100"""

#: 99th percentile request duration in milliseconds.
_DURATION_P99 = """
	histogram_quantile(
		0.99,
		sum(
			rate(
				istio_request_duration_milliseconds_bucket{
					reporter="destination",
					destination_workload_namespace="{{ namespace }}",
					destination_workload=~"{{ target }}"
				}[{{ interval }}]
			)
		) by (le)
	)"""

BUILTIN_QUERIES: dict[str, str] = {REQUEST_SUCCESS_RATE: _SUCCESS_RATE, REQUEST_DURATION: _DURATION_P99}


def builtin_query(metric_name: str, context: QueryContext) -> str:
    """The rendered built-in query; KeyError for a name that is not built in."""
    return render_query(BUILTIN_QUERIES[metric_name], context)


# Exact match (``=``), unlike Flagger's ``=~``: the canary's name is a prefix of ``<name>-primary``
# only by convention, and a regex must never let one revision's traffic count for the other.
_SELECTOR = 'reporter="destination", destination_workload_namespace="{{ namespace }}", destination_workload="{{ target }}"'
_REQUESTS = "istio_requests_total{" + _SELECTOR + "}"
_BUCKETS = "istio_request_duration_milliseconds_bucket{" + _SELECTOR + "}"


@dataclass(frozen=True)
class RevisionQueries:
    """The raw counters of one revision, every series (no ``increase``: see :func:`revision_queries`).

    ``requests`` carries ``response_code`` (5xx are errors); ``latency_buckets`` carries ``le`` in ms.
    """

    requests: str
    latency_buckets: str


def revision_queries(context: QueryContext) -> RevisionQueries:
    """Counter selectors for the workload named ``context.target`` (the canary, or ``<target>-primary``).

    Counts over a window are the counters' exact differences between its two ends, series by
    series, instead of ``increase()``: ``increase`` extrapolates to the window's edges and scales
    counts by up to the window over the time its samples span, which a statistical test would take
    for extra evidence; and it needs two scrapes inside every window, which a judge looking every
    few seconds does not get from a 15 s scrape interval. Differences chain without gaps.
    """
    return RevisionQueries(
        requests=render_query(_REQUESTS, context),
        latency_buckets=render_query(_BUCKETS, context),
    )
