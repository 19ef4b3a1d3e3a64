"""The operator's entry point for a step's checks: MetricTemplates and Secrets from the API, a real Prometheus."""

from __future__ import annotations

import base64
import time

from edges_helpers import NAMESPACE, PrometheusFixture, free_port, make_canary

from canary.core import ProviderOutcome, Verdict, classify_checks
from canary.kube import KubeClients, call_json
from canary.metrics.analysis import measure_checks


def _template(kube: KubeClients, name: str, spec: dict[str, object]) -> None:
    body = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "MetricTemplate",
        "metadata": {"name": name},
        "spec": spec,
    }
    call_json(
        kube.custom.create_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        NAMESPACE,
        "metrictemplates",
        body,
    )


async def test_step_checks_use_templates_secrets_and_metrics_server(
    kube: KubeClients, prometheus: PrometheusFixture
) -> None:
    token = base64.b64encode(b"s3cr3t").decode()
    call_json(
        kube.core.create_namespaced_secret,
        NAMESPACE,
        {"metadata": {"name": "prom-auth"}, "data": {"token": token}},
    )
    _template(
        kube,
        "error-ratio",
        {
            "provider": {
                "type": "prometheus",
                "address": prometheus.address,
                "secretRef": {"name": "prom-auth"},
            },
            "query": (
                'sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",'
                'destination_workload="{{ target }}",response_code=~"{{ variables.codes }}"}[{{ interval }}]))'
                ' / sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",'
                'destination_workload="{{ target }}"}[{{ interval }}])) * 100'
            ),
        },
    )
    dead_default = f"http://127.0.0.1:{free_port()}"
    canary = make_canary(
        metricsServer=prometheus.address,  # overrides the operator's (dead) default, like Flagger
        analysis={
            "interval": "15s",
            "stepWeight": 10,
            "metrics": [
                {"name": "request-success-rate", "thresholdRange": {"min": 90}},
                {
                    "name": "5xx-percent",
                    "templateRef": {"name": "error-ratio"},
                    "templateVariables": {"codes": "5.."},
                    "thresholdRange": {"max": 1},
                },
                {"name": "missing", "templateRef": {"name": "nope"}},
            ],
        },
    )
    started = time.monotonic()
    outcomes = await measure_checks(canary, kube, dead_default)
    assert time.monotonic() - started < 5
    by_name = {o.name: o for o in outcomes}
    assert [o.name for o in outcomes] == ["request-success-rate", "5xx-percent", "missing"]
    assert by_name["request-success-rate"].outcome is ProviderOutcome.MEASURED
    assert by_name["5xx-percent"].outcome is ProviderOutcome.MEASURED
    assert by_name["5xx-percent"].value is not None and abs(by_name["5xx-percent"].value - 5) < 1
    assert by_name["missing"].outcome is ProviderOutcome.ERROR
    assert by_name["missing"].message == "metric missing: MetricTemplate nope.test not found"
    # The core classifies them against the spec's thresholds.
    verdicts = [o.verdict for o in classify_checks(canary.spec, outcomes)]
    assert verdicts == [Verdict.SUCCESSFUL, Verdict.FAILED, Verdict.ERROR]


async def test_no_metrics_means_no_checks(kube: KubeClients) -> None:
    canary = make_canary(analysis={"interval": "15s", "stepWeight": 10})
    assert await measure_checks(canary, kube, "http://127.0.0.1:9") == ()


async def test_template_secret_is_never_sent_to_the_canarys_metrics_server(
    kube: KubeClients, prometheus: PrometheusFixture
) -> None:
    """A Canary naming a template (in any namespace) must not redirect the template's credentials."""
    call_json(kube.core.create_namespace, {"metadata": {"name": "monitoring"}})
    call_json(
        kube.core.create_namespaced_secret,
        "monitoring",
        {"metadata": {"name": "prom-auth"}, "stringData": {"token": "s3cr3t"}},
    )
    call_json(
        kube.custom.create_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        "monitoring",
        "metrictemplates",
        {
            "apiVersion": "canary.dev/v1alpha1",
            "kind": "MetricTemplate",
            "metadata": {"name": "shared"},
            "spec": {
                "provider": {"type": "prometheus", "secretRef": {"name": "prom-auth"}},
                "query": "vector(1)",
            },
        },
    )
    canary = make_canary(
        metricsServer=prometheus.address,  # "attacker" server: it would receive the bearer token
        analysis={
            "interval": "15s",
            "stepWeight": 10,
            "metrics": [{"name": "borrowed", "templateRef": {"name": "shared", "namespace": "monitoring"}}],
        },
    )
    (outcome,) = await measure_checks(canary, kube, prometheus.address)
    assert outcome.outcome is ProviderOutcome.ERROR
    assert outcome.message.startswith(
        "metric borrowed: MetricTemplate shared.monitoring has secretRef prom-auth but no provider.address"
    )
