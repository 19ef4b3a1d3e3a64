"""Bad input that admission cannot know about: each ends in a named condition, never a crash loop.

The CRD refuses what can never work (tests/sandbox/test_bad_input_catalogue.py); what depends on
the cluster (a missing template, a provider or workload kind this operator does not drive, a
label the primary cannot carry, credentials over plain http) is reported in the status instead,
and nothing half-done is left behind: no route points anywhere it should not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from harness import Cluster, OperatorProcess, canary
from kubernetes.client.exceptions import ApiException

from canary.api.models import GROUP, PLURAL, VERSION
from canary.demo.manifests import GOOD_IMAGE, STABLE_IMAGE, deployment

pytestmark = pytest.mark.integration

REPORT_TIMEOUT = 40.0


def _no_route(cluster: Cluster) -> None:
    with pytest.raises(ApiException) as missing:
        cluster.route()
    assert missing.value.status == 404, "nothing may be routed for a Canary the operator cannot drive"


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), {})


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"provider": "istio"}, "provider 'istio' is not supported yet", id="provider-without-router"
        ),
        pytest.param(
            {"targetRef": {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "podinfo"}},
            "DaemonSet",
            id="target-kind-without-controller",
        ),
    ],
)
def test_what_the_operator_cannot_drive_is_an_invalid_spec_condition(
    cluster: Cluster, operator: OperatorProcess, overrides: dict[str, Any], expected: str
) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace, **overrides))
    status = cluster.wait_for(
        "an InvalidSpec condition",
        lambda s: _condition(s, "Promoted").get("reason") == "InvalidSpec",
        REPORT_TIMEOUT,
    )
    promoted = _condition(status, "Promoted")
    assert promoted["status"] == "False" and expected in promoted["message"], promoted
    events = cluster.wait_event_reason("InvalidSpec")
    assert all(e["type"] == "Warning" for e in events if e["reason"] == "InvalidSpec")
    _no_route(cluster)
    assert operator.process is not None and operator.process.poll() is None
    # Nothing was set up for it, so its deletion completes at once (no finalizer retries).
    cluster.clients.custom.delete_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, PLURAL, "podinfo"
    )
    cluster.eventually("the Canary deleted", _gone(cluster), bool, 10)


def _gone(cluster: Cluster) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            cluster.canary()
        except ApiException as exc:
            return exc.status == 404
        return False

    return probe


def test_selector_label_too_long_for_the_primary_is_reported(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """``<value>-primary`` would be a 64-character label value: a real API server refuses it."""
    body = deployment(STABLE_IMAGE, cluster.namespace)
    long_value = "p" * 56
    for labels in (body["spec"]["selector"]["matchLabels"], body["spec"]["template"]["metadata"]["labels"]):
        labels["app"] = long_value
    cluster.clients.apps.create_namespaced_deployment(cluster.namespace, body)
    cluster.create_canary(canary(cluster.namespace))
    status = cluster.wait_for(
        "a ReconcileError condition",
        lambda s: _condition(s, "ReconcileError").get("status") == "True",
        REPORT_TIMEOUT,
    )
    message = _condition(status, "ReconcileError")["message"]
    assert f"selector label app={long_value} is too long" in message, message
    assert "shorten it to 55" in message
    cluster.wait_event_reason("ReconcileError")
    with pytest.raises(ApiException):
        cluster.deployment("podinfo-primary")
    assert operator.process is not None and operator.process.poll() is None


def test_missing_metric_template_is_an_error_never_a_pass(cluster: Cluster) -> None:
    body = canary(cluster.namespace)
    body["spec"]["analysis"]["consecutiveErrorLimit"] = 2
    body["spec"]["analysis"]["metrics"] = [
        {"name": "error-rate", "templateRef": {"name": "nope"}, "thresholdRange": {"max": 1}}
    ]
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(body)
    cluster.wait_phase("Initialized", 60)
    cluster.set_image(GOOD_IMAGE)
    status = cluster.wait_phase("Failed", 90)
    [check] = status["checks"]
    assert check["verdict"] == "Error", check
    assert f"MetricTemplate nope.{cluster.namespace} not found" in check["message"], check
    assert status["failedChecks"] == 0 and status["consecutiveErrors"] == 2, status
    assert cluster.image_of("podinfo-primary") == STABLE_IMAGE
    assert cluster.route_weights() == {"podinfo-primary": 100, "podinfo-canary": 0}


def test_credentials_over_plain_http_raise_a_warning_condition(cluster: Cluster, prometheus_url: str) -> None:
    secret: Any = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "prom-auth"},
        "stringData": {"token": "s3cr3t"},
    }
    cluster.clients.core.create_namespaced_secret(cluster.namespace, secret)
    template = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "MetricTemplate",
        "metadata": {"name": "up", "namespace": cluster.namespace},
        "spec": {
            "provider": {"type": "prometheus", "address": prometheus_url, "secretRef": {"name": "prom-auth"}},
            "query": "vector(1)",
        },
    }
    cluster.clients.custom.create_namespaced_custom_object(
        "canary.dev", "v1alpha1", cluster.namespace, "metrictemplates", template
    )
    body = canary(cluster.namespace)
    body["spec"]["analysis"]["metrics"] = [
        {"name": "up", "templateRef": {"name": "up"}, "thresholdRange": {"min": 1}}
    ]
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(body)
    cluster.wait_phase("Initialized", 60)
    cluster.set_image(GOOD_IMAGE)
    status = cluster.wait_for(
        "a MetricProviderWarning condition",
        lambda s: _condition(s, "MetricProviderWarning").get("status") == "True",
        60,
    )
    message = _condition(status, "MetricProviderWarning")["message"]
    assert f"sends credentials to {prometheus_url.rstrip('/')}" in message and "over plain http" in message
    assert "s3cr3t" not in str(status), "the credential itself is never shown"
    # A warning, not a halt: the values still count and the release is promoted.
    cluster.wait_phase("Succeeded", 90)
    assert cluster.image_of("podinfo-primary") == GOOD_IMAGE
