"""A MetricTemplate querying the application's own metrics, through the real operator and Prometheus."""

from __future__ import annotations

import pytest
from harness import Cluster, canary

from canary.demo.manifests import BAD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration

ERROR_PERCENT = (
    '100 * sum(rate(http_requests_total{namespace="{{ namespace }}", deployment="{{ target }}", '
    'code=~"{{ variables.errors }}"}[{{ interval }}])) '
    '/ sum(rate(http_requests_total{namespace="{{ namespace }}", deployment="{{ target }}"}[{{ interval }}]))'
)


def test_template_check_on_app_metrics_rolls_back_a_bad_release(
    cluster: Cluster, prometheus_url: str
) -> None:
    template = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "MetricTemplate",
        "metadata": {"name": "error-percent", "namespace": cluster.namespace},
        "spec": {"provider": {"type": "prometheus", "address": prometheus_url}, "query": ERROR_PERCENT},
    }
    cluster.clients.custom.create_namespaced_custom_object(
        "canary.dev", "v1alpha1", cluster.namespace, "metrictemplates", template
    )
    body = canary(cluster.namespace, threshold=6)
    body["spec"]["analysis"]["metrics"] = [
        {
            "name": "error-percent",
            "interval": "10s",
            "templateRef": {"name": "error-percent"},
            "templateVariables": {"errors": "5.."},
            "thresholdRange": {"max": 1},
        }
    ]
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(body)
    cluster.wait_phase("Initialized", 60)
    cluster.set_image(BAD_IMAGE)
    status = cluster.wait_phase("Failed", 120)
    check = {c["name"]: c for c in status["checks"]}["error-percent"]
    # Rolled back because the app's own 5xx share was measured too high, not for lack of data.
    assert check["verdict"] == "Failed", check
    assert check["value"] > 20, check
    assert cluster.image_of("podinfo-primary") == STABLE_IMAGE
