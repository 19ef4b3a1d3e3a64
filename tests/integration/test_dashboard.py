"""The Grafana dashboard's queries run on real Prometheus against the sandbox's Istio telemetry."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from harness import REPO_ROOT, Cluster, canary

from canary.demo.manifests import STABLE_IMAGE

pytestmark = pytest.mark.integration
DASHBOARD = REPO_ROOT / "dashboards" / "canary.json"


def test_dashboard_queries_are_valid_and_show_the_primary(cluster: Cluster, prometheus_url: str) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace))
    cluster.wait_phase("Initialized", 60)
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p.get("targets")]
    assert panels, "the dashboard has panels with queries"

    def query(expr: str) -> list[dict[str, Any]]:
        expr = expr.replace("$namespace", cluster.namespace).replace("$target", "podinfo")
        answer = requests.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=5).json()
        assert answer["status"] == "success", (expr, answer)
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    rate_panel = next(p for p in panels if "Request rate" in p["title"])
    workloads = cluster.eventually(
        "primary traffic in Prometheus",
        lambda: {s["metric"].get("destination_workload") for s in query(rate_panel["targets"][0]["expr"])},
        lambda seen: "podinfo-primary" in seen,
        30,
    )
    assert "podinfo-primary" in workloads
    for panel in panels:
        for target in panel["targets"]:
            query(target["expr"])  # every query is valid PromQL for this Prometheus
