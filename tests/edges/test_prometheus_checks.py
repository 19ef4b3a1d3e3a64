"""Metric checks against a real Prometheus scraping Istio-style counters with known rates."""

from __future__ import annotations

import time

import pytest
from edges_helpers import CANARY_ERROR_RATIO, PrometheusFixture, free_port, make_canary

from canary.api.models import CanaryMetric, MetricTemplateProvider
from canary.core.observations import ProviderOutcome
from canary.metrics.base import (
    MetricCheck,
    MetricsQueryError,
    ResolvedTemplate,
    VectorSample,
    query_context,
    revision_sample,
)
from canary.metrics.factory import provider_for, secret_strings
from canary.metrics.prometheus import PrometheusProvider
from canary.metrics.template import QueryContext, render_query


def _metric(**fields: object) -> CanaryMetric:
    return CanaryMetric.model_validate(fields)


def test_provider_is_online_and_answers(prometheus: PrometheusFixture) -> None:
    provider = PrometheusProvider(prometheus.address)
    assert provider.is_online()
    assert provider.run_query("vector(42)") == 42.0
    assert provider.run_query('istio_requests_total{destination_workload="nobody"}') is None
    assert provider.run_query("0/0") is None, "NaN is no data"


def test_request_success_rate_matches_the_error_ratio(prometheus: PrometheusFixture) -> None:
    check = MetricCheck(PrometheusProvider(prometheus.address))
    outcome = check.measure(make_canary(), _metric(name="request-success-rate", thresholdRange={"min": 99}))
    assert outcome.value == pytest.approx(100 * (1 - CANARY_ERROR_RATIO), abs=1)
    assert outcome.outcome is ProviderOutcome.MEASURED
    assert outcome.message == "", "the edge does not judge the value"
    assert outcome.primary_value == pytest.approx(100.0)
    assert outcome.revision_scoped, "a built-in check selects the canary workload alone"


def test_revision_samples_over_a_window_ending_at_a_given_time(prometheus: PrometheusFixture) -> None:
    """The judge's counts: both revisions over exactly the window asked for, evaluated at ``at``."""
    check = MetricCheck(PrometheusProvider(prometheus.address))
    window = check.samples(make_canary(), 30, at=time.time())
    assert window.error == "" and window.window_seconds == 30.0
    canary, primary = window.canary, window.primary
    assert canary is not None and primary is not None
    assert canary.requests > 0 and canary.errors / canary.requests == pytest.approx(
        CANARY_ERROR_RATIO, rel=0.05
    )
    assert primary.errors == 0
    assert [bound for bound, _ in canary.latency_buckets] == [0.05, 0.1, float("inf")]
    before = check.samples(make_canary(), 30, at=time.time() - 3600)
    assert before.canary is None and before.primary is None, "an hour ago nothing was served"


def test_the_window_fills_the_interval_placeholder(prometheus: PrometheusFixture) -> None:
    check = MetricCheck(PrometheusProvider(prometheus.address))
    metric = _metric(name="w", query="vector(scalar(count_over_time(vector(1)[{{ interval }}:1s])))")
    outcome = check.measure(make_canary(), metric, 7)
    assert outcome.value == pytest.approx(7, abs=1)
    assert (outcome.window_seconds, outcome.revision_scoped) == (7.0, False)


def test_request_duration_p99(prometheus: PrometheusFixture) -> None:
    check = MetricCheck(PrometheusProvider(prometheus.address))
    outcome = check.measure(make_canary(), _metric(name="request-duration", thresholdRange={"max": 500}))
    assert outcome.outcome is ProviderOutcome.MEASURED
    assert outcome.value == pytest.approx(99.0, abs=1)


def test_no_series_is_no_data(prometheus: PrometheusFixture) -> None:
    canary = make_canary(targetRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "absent"})
    outcome = MetricCheck(PrometheusProvider(prometheus.address)).measure(
        canary, _metric(name="request-success-rate", thresholdRange={"min": 99})
    )
    assert outcome.outcome is ProviderOutcome.NO_DATA
    assert outcome.value is None


def test_injected_template_variable_cannot_change_the_answer(prometheus: PrometheusFixture) -> None:
    """Unescaped, ``or vector(1)`` would make this query return 1; escaped it matches nothing."""
    provider = PrometheusProvider(prometheus.address)
    query = 'sum(rate(istio_requests_total{destination_workload="{{ variables.workload }}"}[{{ interval }}]))'
    check = MetricCheck(provider, resolve_template=lambda canary, ref: ResolvedTemplate(query, provider))
    metric = _metric(
        name="custom",
        templateRef={"name": "rps"},
        templateVariables={"workload": 'podinfo"} or vector(1) #'},
        thresholdRange={"min": 0},
    )
    outcome = check.measure(make_canary(), metric)
    assert outcome.outcome is ProviderOutcome.NO_DATA and outcome.value is None, outcome
    honest = check.measure(
        make_canary(), metric.model_copy(update={"template_variables": {"workload": "podinfo"}})
    )
    # The series is younger than the 1m window, so rate() under-reports; any traffic proves the match.
    assert honest.outcome is ProviderOutcome.MEASURED and honest.value is not None and honest.value > 0


def test_bad_query_is_an_error_without_retries(prometheus: PrometheusFixture) -> None:
    check = MetricCheck(PrometheusProvider(prometheus.address), attempts=3, min_wait=1, max_wait=1)
    started = time.monotonic()
    outcome = check.measure(make_canary(), _metric(name="broken", query="sum(", thresholdRange={"max": 1}))
    assert outcome.outcome is ProviderOutcome.ERROR and outcome.value is None
    assert "400" in outcome.message
    assert time.monotonic() - started < 1, "a 4xx is not retried"


def test_stopped_prometheus_is_an_error_after_bounded_retries() -> None:
    calls = 0
    provider = PrometheusProvider(f"http://127.0.0.1:{free_port()}", timeout=1)
    original = provider.run_query

    def counting(query: str, timeout: float | None = None, at: float | None = None) -> float | None:
        nonlocal calls
        calls += 1
        return original(query, timeout, at)

    provider.run_query = counting  # type: ignore[method-assign]
    started = time.monotonic()
    outcome = MetricCheck(provider).measure(make_canary(), _metric(name="request-success-rate", threshold=99))
    elapsed = time.monotonic() - started
    assert outcome.outcome is ProviderOutcome.ERROR
    assert outcome.message.startswith(
        "metric request-success-rate: Prometheus unreachable at http://127.0.0.1:"
    )
    assert outcome.message.endswith("(connection refused)")
    assert calls == 3
    assert elapsed < 5
    assert not provider.is_online()


def test_nan_is_no_data_and_infinity_is_measured(prometheus: PrometheusFixture) -> None:
    """NaN (0/0: no traffic) is "no data"; +Inf is a number the core refuses to pass (INCONCLUSIVE)."""
    check = MetricCheck(PrometheusProvider(prometheus.address))
    infinite = check.measure(
        make_canary(), _metric(name="inf", query="vector(1/0)", thresholdRange={"max": 1})
    )
    assert (infinite.outcome, infinite.value) == (ProviderOutcome.MEASURED, float("inf"))
    empty = check.measure(make_canary(), _metric(name="nan", query="vector(0/0)", thresholdRange={"max": 1}))
    assert empty.outcome is ProviderOutcome.NO_DATA


def test_provider_errors_are_typed() -> None:
    with pytest.raises(MetricsQueryError) as info:
        PrometheusProvider(f"http://127.0.0.1:{free_port()}", timeout=1).run_query("vector(1)")
    assert info.value.retryable


def test_provider_from_template_and_secret() -> None:
    secret = {"data": {"token": "czNjcjN0"}}  # "s3cr3t"
    provider = provider_for(
        MetricTemplateProvider(type="prometheus", address="http://prom:9090/"), secret_strings(secret)
    )
    assert isinstance(provider, PrometheusProvider)
    assert provider.address == "http://prom:9090"
    assert provider._session.headers["Authorization"] == "Bearer s3cr3t"
    basic = provider_for(
        MetricTemplateProvider(type="prometheus"),
        {"username": "u", "password": "p"},
        default_address="http://d:9090",
    )
    assert isinstance(basic, PrometheusProvider)
    assert basic.address == "http://d:9090"
    assert basic._session.auth == ("u", "p")


@pytest.mark.parametrize("quoted", ['"{{ variables.v }}"', "'{{ variables.v }}'"])
def test_apostrophe_in_a_variable_yields_a_query_prometheus_accepts(
    prometheus: PrometheusFixture, quoted: str
) -> None:
    """Escaping ``'`` inside "..." as ``\\'`` made Prometheus answer 400 "unknown escape sequence"."""
    context = QueryContext("podinfo", "test", "podinfo", "podinfo", "1m", {"v": 'it\'s "quoted"'})
    query = render_query(
        "count(istio_requests_total{destination_workload=" + quoted + "}) or vector(7)", context
    )
    assert PrometheusProvider(prometheus.address).run_query(query) == 7.0  # parsed; the label matched nothing
    with pytest.raises(MetricsQueryError, match="400"):  # the old escaping, for contrast
        PrometheusProvider(prometheus.address).run_query('count(m{p="it\\\'s"})')


def test_several_series_are_an_error_not_an_arbitrary_pick(prometheus: PrometheusFixture) -> None:
    provider = PrometheusProvider(prometheus.address)
    query = 'istio_requests_total{destination_workload="podinfo"}'  # 200 and 500: two series
    with pytest.raises(MetricsQueryError, match="query returned 2 series; a check needs one") as info:
        provider.run_query(query)
    assert not info.value.retryable
    started = time.monotonic()
    outcome = MetricCheck(provider, min_wait=1, max_wait=1).measure(
        make_canary(), _metric(name="raw", query=query, thresholdRange={"min": 0})
    )
    assert outcome.outcome is ProviderOutcome.ERROR
    assert "query returned 2 series; a check needs one" in outcome.message
    assert time.monotonic() - started < 1, "not retried"


def test_no_data_is_not_zero_requests(prometheus: PrometheusFixture) -> None:
    provider = PrometheusProvider(prometheus.address)
    canary = make_canary(targetRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "absent"})
    metric = _metric(name="request-success-rate", thresholdRange={"min": 99})
    assert revision_sample(provider, query_context(canary, metric)) is None
    assert MetricCheck(provider).samples(canary, 60).canary is None
    present = revision_sample(provider, query_context(make_canary(), metric))
    assert present is not None and present.requests > 0


class _Exploding:
    def is_online(self) -> bool:
        return True

    def run_query(self, query: str, timeout: float | None = None, at: float | None = None) -> float | None:
        raise KeyError("surprise")

    def run_vector(
        self, query: str, timeout: float | None = None, at: float | None = None
    ) -> list[VectorSample]:
        raise KeyError("surprise")


def test_measure_never_raises() -> None:
    metric = _metric(name="request-success-rate", thresholdRange={"min": 99})
    outcome = MetricCheck(_Exploding()).measure(make_canary(), metric)
    assert outcome.outcome is ProviderOutcome.ERROR
    assert outcome.message == "metric request-success-rate check failed: KeyError: 'surprise'"

    def broken_resolver(canary: object, ref: object) -> ResolvedTemplate:
        raise RuntimeError("api down")

    templated = _metric(name="t", templateRef={"name": "x"})
    outcome = MetricCheck(_Exploding(), resolve_template=broken_resolver).measure(make_canary(), templated)
    assert outcome.outcome is ProviderOutcome.ERROR and "RuntimeError: api down" in outcome.message
