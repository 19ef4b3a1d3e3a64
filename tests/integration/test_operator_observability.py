"""What a platform team sees of the operator itself: probes, its metrics in Prometheus, Events' source."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from conftest import OPERATOR_JOB
from harness import REPO_ROOT, Cluster, OperatorProcess, canary

from canary.demo.manifests import BAD_IMAGE, GOOD_IMAGE, STABLE_IMAGE
from canary.routers.factory import DEFAULT_PROVIDER

pytestmark = pytest.mark.integration
DASHBOARD = REPO_ROOT / "dashboards" / "canary-operator.json"
#: Panels that may rightly be empty after a clean rollout (no API errors, no series to divide).
MAY_BE_EMPTY = {"Kubernetes API error ratio"}


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert answer["status"] == "success", (expr, answer)
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def status_samples(prometheus_url: str, namespace: str) -> list[int]:
    """Every scraped value of flagger_canary_status for podinfo in the namespace, oldest first."""
    series = query(prometheus_url, f'flagger_canary_status{{name="podinfo",namespace="{namespace}"}}[10m]')
    return [int(float(value)) for _, value in series[0]["values"]] if series else []


def changes(samples: list[int]) -> list[int]:
    """The distinct values in the order they were seen."""
    return [v for i, v in enumerate(samples) if i == 0 or samples[i - 1] != v]


def wait_status_changes(cluster: Cluster, prometheus_url: str, last: list[int]) -> list[int]:
    """The status values Prometheus scraped, once the newest changes are ``last``."""
    return cluster.eventually(
        f"flagger_canary_status going {' then '.join(map(str, last))} in Prometheus",
        lambda: changes(status_samples(prometheus_url, cluster.namespace)),
        lambda values: values[-len(last) :] == last,
        30,
    )


def test_probes_answer_and_prometheus_scrapes_the_operator(
    cluster: Cluster, operator: OperatorProcess, prometheus_url: str
) -> None:
    cluster.eventually("the operator alive", lambda: operator.probe("/healthz"), lambda code: code == 200, 30)
    cluster.eventually("the operator ready", lambda: operator.probe("/readyz"), lambda code: code == 200, 30)
    assert operator.probe("/nope") == 404
    up = cluster.eventually(
        "the operator scraped",
        lambda: query(prometheus_url, f'up{{job="{OPERATOR_JOB}"}}'),
        lambda result: bool(result) and result[0]["value"][1] == "1",
        30,
    )
    assert up
    info = query(prometheus_url, f'flagger_info{{job="{OPERATOR_JOB}"}}')
    assert info and info[0]["metric"]["mesh_provider"] == DEFAULT_PROVIDER


def test_status_metric_reads_running_then_succeeded_then_failed(
    cluster: Cluster, prometheus_url: str
) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace, interval="3s", step_weight=25, max_weight=50))
    cluster.wait_phase("Initialized", 60)
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_phase("Succeeded", 90)
    seen = wait_status_changes(cluster, prometheus_url, [0, 1])
    assert 0 in seen and seen[-1] == 1
    weights = query(
        prometheus_url,
        f'max_over_time(flagger_canary_weight{{workload="podinfo",namespace="{cluster.namespace}"}}[10m])',
    )
    assert weights and float(weights[0]["value"][1]) == 50, "the canary's top weight was scraped"
    successes = query(
        prometheus_url, f'flagger_canary_successes_total{{name="podinfo",namespace="{cluster.namespace}"}}'
    )
    assert [s["metric"]["deployment_strategy"] for s in successes] == ["canary"]
    assert float(successes[0]["value"][1]) == 1

    cluster.set_image(BAD_IMAGE)
    cluster.wait_phase("Failed", 90)
    seen = wait_status_changes(cluster, prometheus_url, [0, 2])
    assert seen[-4:] == [0, 1, 0, 2], seen
    analysed = query(
        prometheus_url, f'flagger_canary_metric_analysis{{name="podinfo",namespace="{cluster.namespace}"}}'
    )
    assert {s["metric"]["metric"] for s in analysed} == {"request-success-rate", "request-duration"}
    threshold = query(
        prometheus_url,
        f'canary_metric_threshold{{name="podinfo",namespace="{cluster.namespace}",bound="min"}}',
    )
    assert [float(s["value"][1]) for s in threshold] == [99.0]


def test_events_name_canary_as_their_source(cluster: Cluster) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace))
    cluster.wait_phase("Initialized", 60)
    cluster.wait_event("Initialization done")
    listing = json.loads(cluster.kubectl("get", "events", "-o", "json", check=True).stdout)
    ours = [e for e in listing["items"] if e["involvedObject"]["kind"] == "Canary"]
    assert ours
    assert {(e.get("reportingComponent"), e["source"].get("component")) for e in ours} == {
        ("canary", "canary")
    }
    described = cluster.kubectl("describe", "canary", "podinfo", check=True).stdout
    line = next(line for line in described.splitlines() if "Initialization done" in line)
    assert line.split()[3] == "canary", line  # Type Reason Age From Message


def dashboard_panels_without_data(prometheus_url: str, namespace: str) -> list[str]:
    """Titles of the operator dashboard's panels none of whose queries returns a series."""
    dashboard = json.loads(DASHBOARD.read_text())
    empty = []
    for panel in dashboard["panels"]:
        results = []
        for target in panel.get("targets", []):
            expr = (
                target["expr"]
                .replace("$namespace", namespace)
                .replace("$name", "podinfo")
                .replace("$__rate_interval", "2m")
            )
            results.extend(query(prometheus_url, expr))
        if panel.get("targets") and not results:
            empty.append(panel["title"])
    return empty
