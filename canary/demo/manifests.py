"""The demo's workload: a podinfo-like Deployment and the Canary that guards it."""

from __future__ import annotations

from typing import Any

NAMESPACE = "demo"
APP = "podinfo"
STABLE_IMAGE = "ghcr.io/stefanprodan/podinfo:6.7.0"
GOOD_IMAGE = "ghcr.io/stefanprodan/podinfo:6.7.1"
BAD_IMAGE = "ghcr.io/stefanprodan/podinfo:6.7.2-bad"  # the sandbox answers 50% 5xx for tags ending in -bad


def namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}


def deployment(image: str = STABLE_IMAGE, namespace: str = NAMESPACE, name: str = APP) -> dict[str, Any]:
    """A one-replica Deployment selected by `app: <name>`, as a user would write it."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 9898}],
                        }
                    ]
                },
            },
        },
    }


def canary(interval: str = "2s", metric_interval: str = "10s") -> dict[str, Any]:
    """A Flagger-style Canary: Gateway API routing, 20% steps to 60%, two SLO checks."""
    return {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": APP, "namespace": NAMESPACE},
        "spec": {
            "provider": "gatewayapi:v1",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
            "progressDeadlineSeconds": 60,
            "service": {
                "port": 9898,
                "targetPort": 9898,
                "hosts": ["podinfo.example.com"],
                "gatewayRefs": [{"name": "public", "namespace": "istio-ingress"}],
            },
            "analysis": {
                "interval": interval,
                "threshold": 2,
                "maxWeight": 60,
                "stepWeight": 20,
                "metrics": [
                    {
                        "name": "request-success-rate",
                        "interval": metric_interval,
                        "thresholdRange": {"min": 99},
                    },
                    {
                        "name": "request-duration",
                        "interval": metric_interval,
                        "thresholdRange": {"max": 500},
                    },
                ],
            },
        },
    }
