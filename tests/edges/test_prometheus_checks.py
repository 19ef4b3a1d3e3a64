"""Metric checks against a real Prometheus scraping Istio-style counters with known rates."""

from __future__ import annotations

import time

import pytest
from edges_helpers import CANARY_ERROR_RATIO, PrometheusFixture, free_port, make_canary

from canary.api.models import CanaryMetric, MetricTemplateProvider
from canary.core.observations import Verdict
from canary.metrics.base import MetricCheck, MetricsQueryError, ResolvedTemplate
from canary.metrics.factory import provider_for, secret_strings
from canary.metrics.prometheus import PrometheusProvider


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
    assert outcome.verdict is Verdict.FAILED
    assert outcome.message == f"request-success-rate {outcome.value:.2f} < 99"
    assert outcome.primary_value == pytest.approx(100.0)
    assert outcome.samples is not None
    canary, primary = outcome.samples.canary, outcome.samples.primary
    assert canary.requests > 0 and canary.errors / canary.requests == pytest.approx(
        CANARY_ERROR_RATIO, rel=0.05
    )
    assert primary.errors == 0
    assert [bound for bound, _ in canary.latency_buckets] == [0.05, 0.1, float("inf")]


def test_request_duration_p99(prometheus: PrometheusFixture) -> None:
    check = MetricCheck(PrometheusProvider(prometheus.address), collect_samples=False)
    outcome = check.measure(make_canary(), _metric(name="request-duration", thresholdRange={"max": 500}))
    assert outcome.verdict is Verdict.SUCCESSFUL
    assert outcome.value == pytest.approx(99.0, abs=1)


def test_no_series_is_inconclusive(prometheus: PrometheusFixture) -> None:
    canary = make_canary(targetRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "absent"})
    outcome = MetricCheck(PrometheusProvider(prometheus.address)).measure(
        canary, _metric(name="request-success-rate", thresholdRange={"min": 99})
    )
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert outcome.message == "no values found for metric request-success-rate"


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
    assert outcome.verdict is Verdict.INCONCLUSIVE, outcome
    honest = check.measure(
        make_canary(), metric.model_copy(update={"template_variables": {"workload": "podinfo"}})
    )
    # The series is younger than the 1m window, so rate() under-reports; any traffic proves the match.
    assert honest.verdict is Verdict.SUCCESSFUL and honest.value is not None and honest.value > 0


def test_bad_query_is_an_error_without_retries(prometheus: PrometheusFixture) -> None:
    check = MetricCheck(PrometheusProvider(prometheus.address), attempts=3, min_wait=1, max_wait=1)
    started = time.monotonic()
    outcome = check.measure(make_canary(), _metric(name="broken", query="sum(", thresholdRange={"max": 1}))
    assert outcome.verdict is Verdict.ERROR
    assert "400" in outcome.message
    assert time.monotonic() - started < 1, "a 4xx is not retried"


def test_stopped_prometheus_is_an_error_after_bounded_retries() -> None:
    calls = 0
    provider = PrometheusProvider(f"http://127.0.0.1:{free_port()}", timeout=1)
    original = provider.run_query

    def counting(query: str) -> float | None:
        nonlocal calls
        calls += 1
        return original(query)

    provider.run_query = counting  # type: ignore[method-assign]
    started = time.monotonic()
    outcome = MetricCheck(provider).measure(make_canary(), _metric(name="request-success-rate", threshold=99))
    elapsed = time.monotonic() - started
    assert outcome.verdict is Verdict.ERROR
    assert "unreachable" in outcome.message
    assert (outcome.threshold_min, outcome.threshold_max) == (99, None)
    assert calls == 3
    assert elapsed < 5
    assert not provider.is_online()


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
    assert provider._client.headers == {"Authorization": "Bearer s3cr3t"}
    basic = provider_for(
        MetricTemplateProvider(type="prometheus"),
        {"username": "u", "password": "p"},
        default_address="http://d:9090",
    )
    assert isinstance(basic, PrometheusProvider)
    assert basic.address == "http://d:9090"
    assert basic._client.auth == ("u", "p")
