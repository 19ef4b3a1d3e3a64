"""Builders shared by the edge tests: a Canary and a target Deployment like Flagger's podinfo example."""

from __future__ import annotations

import copy
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from canary.api.models import Canary

NAMESPACE = "test"
TARGET = "podinfo"

#: Share of 5xx responses the fake exporter reports for the canary (the primary has none).
CANARY_ERROR_RATIO = 0.05


@dataclass(frozen=True)
class PrometheusFixture:
    """A running Prometheus scraping the fake exporter every second."""

    address: str


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: Callable[[], Any], timeout: float, what: str, poll: float = 0.1) -> Any:
    """Poll until ``condition()`` is truthy (exceptions count as not yet); bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception as exc:  # the thing we wait for may not be up yet
            last_error = exc
        threading.Event().wait(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


def canary_body(**spec_overrides: Any) -> dict[str, Any]:
    """A Canary manifest (gatewayapi provider, builtin metrics); top-level spec keys can be overridden."""
    spec: dict[str, Any] = {
        "provider": "gatewayapi:v1",
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": TARGET},
        "service": {
            "port": 9898,
            "targetPort": 9898,
            "gatewayRefs": [{"name": "public-gateway", "namespace": "istio-ingress"}],
            "hosts": ["app.example.com"],
        },
        "analysis": {
            "interval": "15s",
            "threshold": 5,
            "maxWeight": 50,
            "stepWeight": 10,
            "metrics": [
                {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"},
                {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "1m"},
            ],
        },
    }
    spec.update(spec_overrides)
    return {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": TARGET, "namespace": NAMESPACE, "uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
        "spec": spec,
    }


def make_canary(**spec_overrides: Any) -> Canary:
    """The parsed Canary model."""
    return Canary.from_body(canary_body(**spec_overrides))


def deployment_body(
    name: str = TARGET, image: str = "ghcr.io/stefanprodan/podinfo:6.0.0", replicas: int = 2
) -> dict[str, Any]:
    """A target Deployment selecting ``app: <name>``."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name, "team": "web"}},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 60,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {
                    "containers": [
                        {
                            "name": "podinfod",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 9898}],
                        }
                    ]
                },
            },
        },
    }


def with_status(deployment: dict[str, Any], **status: Any) -> dict[str, Any]:
    """A copy with ``metadata.generation`` and a ``status`` block."""
    result = copy.deepcopy(deployment)
    result["metadata"]["generation"] = status.pop("generation", 1)
    result["status"] = {"observedGeneration": 1, **status}
    return result
