"""A sandbox holding Flagger's podinfo layout in namespace ``test`` (for the proxy and loadtester tests).

Deployments ``podinfo`` (the target, 6.1.0) and ``podinfo-primary`` (6.0.0), and the Services the
operator generates: ``podinfo`` (apex) and ``podinfo-primary`` select the primary's pods,
``podinfo-canary`` the target's, all on port 9898. No synthetic traffic (``rps=0``): every request
the data plane counts comes from the test.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import requests
from waiting import eventually

from canary.sandbox.prometheus import PROMETHEUS_BIN
from canary.sandbox.sandbox import SandboxThread

NS = "test"
PRIMARY_VERSION, CANARY_VERSION = "6.0.0", "6.1.0"
PORT = 9898


def admin(sb: SandboxThread) -> dict[str, str]:
    """The sandbox admin's bearer token header, for raw requests to its API server."""
    return {"Authorization": f"Bearer {sb.api.admin_token}"}


def create(sb: SandboxThread, path: str, body: dict[str, Any]) -> None:
    resp = requests.post(sb.api_url + path, json=body, headers=admin(sb), timeout=10)
    assert resp.status_code == 201, resp.text


def service(name: str, app: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]},
    }


def deployment(name: str, version: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "podinfo", "image": f"ghcr.io/stefanprodan/podinfo:{version}"}]
                },
            },
        },
    }


@contextlib.contextmanager
def podinfo_cluster() -> Iterator[SandboxThread]:
    assert os.path.exists(PROMETHEUS_BIN), f"{PROMETHEUS_BIN} missing: run `make install`"
    with SandboxThread(rps=0.0, ready_delay=0.2) as sb:
        create(sb, "/api/v1/namespaces", {"metadata": {"name": NS}})
        for name, version in (("podinfo", CANARY_VERSION), ("podinfo-primary", PRIMARY_VERSION)):
            create(sb, f"/apis/apps/v1/namespaces/{NS}/deployments", deployment(name, version))
        for name, app in (("podinfo", "podinfo-primary"), ("podinfo-primary", "podinfo-primary")):
            create(sb, f"/api/v1/namespaces/{NS}/services", service(name, app))
        create(sb, f"/api/v1/namespaces/{NS}/services", service("podinfo-canary", "podinfo"))
        registry = sb.registry
        eventually(
            "both demo-app processes",
            lambda: all((b := registry.get(NS, n)) and b.port for n in ("podinfo", "podinfo-primary")),
            timeout=30,
        )
        yield sb
