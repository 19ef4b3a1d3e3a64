"""Traffic: routing resolvers, and the whole sandbox measured through its real Prometheus."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from waiting import eventually

from canary.sandbox.backends import Backend, BackendRegistry
from canary.sandbox.prometheus import PROMETHEUS_BIN
from canary.sandbox.routing import (
    HTTPRouteResolver,
    NginxIngressResolver,
    ServiceResolver,
    Snapshot,
    VirtualServiceResolver,
)
from canary.sandbox.sandbox import SandboxThread

JSON = dict[str, Any]
NS = "traffic"
RPS = 200.0


def service(name: str, app: str, namespace: str = NS) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 9898}]},
    }


def deployment(name: str, image: str) -> JSON:
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
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def httproute(primary: int, canary: int) -> JSON:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "podinfo", "namespace": NS},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "istio-ingress"}],
            "hostnames": ["podinfo.example.com"],
            "rules": [
                {
                    "matches": [{"headers": [{"name": "x-canary", "value": "insider"}]}],
                    "backendRefs": [{"name": "podinfo-canary", "port": 9898}],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": "podinfo-primary", "port": 9898, "weight": primary},
                        {"name": "podinfo-canary", "port": 9898, "weight": canary},
                    ],
                },
            ],
        },
    }


# ---------------------------------------------------------------------------- resolvers (no processes)


def snapshot(**objects: list[JSON]) -> Snapshot:
    registry = BackendRegistry()
    registry.set(Backend(NS, "podinfo-primary", {"app": "podinfo-primary"}, 1001, "1"))
    registry.set(Backend(NS, "podinfo", {"app": "podinfo"}, None))
    snap = Snapshot(registry, objects=dict(objects))
    for svc in (
        service("podinfo", "podinfo-primary"),
        service("podinfo-primary", "podinfo-primary"),
        service("podinfo-canary", "podinfo"),
    ):
        snap.services[(NS, svc["metadata"]["name"])] = svc
    return snap


def shares(entry_backends: Any) -> dict[str, tuple[int, list[str]]]:
    return {b.service: (b.weight, [w.name for w in b.workloads]) for b in entry_backends}


def test_httproute_uses_catch_all_rule() -> None:
    [entry] = HTTPRouteResolver().resolve(snapshot(HTTPRoute=[httproute(80, 20)]))
    assert entry.key == f"HTTPRoute/{NS}/podinfo"
    assert shares(entry.backends) == {
        "podinfo-primary": (80, ["podinfo-primary"]),
        "podinfo-canary": (20, ["podinfo"]),
    }


def test_virtualservice_ingress_and_service_resolvers() -> None:
    vs = {
        "metadata": {"name": "podinfo", "namespace": NS},
        "spec": {"http": [{"route": [
            {"destination": {"host": "podinfo-primary"}, "weight": 90},
            {"destination": {"host": f"podinfo-canary.{NS}.svc.cluster.local"}, "weight": 10},
        ]}]},
    }  # fmt: skip
    [entry] = VirtualServiceResolver().resolve(snapshot(VirtualService=[vs]))
    assert shares(entry.backends) == {
        "podinfo-primary": (90, ["podinfo-primary"]),
        "podinfo-canary": (10, ["podinfo"]),
    }

    def ingress(name: str, svc: str, annotations: dict[str, str]) -> JSON:
        rule = {
            "host": "app.example.com",
            "http": {"paths": [{"path": "/", "backend": {"service": {"name": svc}}}]},
        }
        return {
            "metadata": {"name": name, "namespace": NS, "annotations": annotations},
            "spec": {"rules": [rule]},
        }

    main = ingress("podinfo", "podinfo-primary", {})
    canary = ingress("podinfo-canary", "podinfo-canary", {
        "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "30"})  # fmt: skip
    [entry] = NginxIngressResolver().resolve(snapshot(Ingress=[main, canary]))
    assert entry.name == "podinfo"
    assert shares(entry.backends) == {
        "podinfo-primary": (70, ["podinfo-primary"]),
        "podinfo-canary": (30, ["podinfo"]),
    }

    entries = ServiceResolver([(NS, "podinfo"), (NS, "missing")]).resolve(snapshot())
    assert [(e.key, shares(e.backends)) for e in entries] == [
        (f"Service/{NS}/podinfo", {"podinfo": (1, ["podinfo-primary"])})
    ]


# ---------------------------------------------------------------------------- the whole sandbox


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.auth = {"Authorization": f"Bearer {token}"}

    def create(self, path: str, body: JSON) -> JSON:
        resp = requests.post(self.url + path, json=body, headers=self.auth, timeout=10)
        assert resp.status_code in (200, 201), resp.text
        result: JSON = resp.json()
        return result

    def patch(self, path: str, body: JSON) -> None:
        resp = requests.patch(
            self.url + path,
            json=body,
            headers={"Content-Type": "application/merge-patch+json", **self.auth},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text


@dataclass
class Traffic:
    """The module's sandbox and when both workloads became ready (steady traffic from then on)."""

    sb: SandboxThread
    ready_at: float


@pytest.fixture(scope="module")
def traffic() -> Iterator[Traffic]:
    assert os.path.exists(PROMETHEUS_BIN), f"{PROMETHEUS_BIN} missing: run `make install`"
    with SandboxThread(rps=RPS, ready_delay=0.2) as sb:
        api = Api(sb.api_url, sb.api.admin_token)
        api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
        for name, image in (
            ("podinfo-primary", "ghcr.io/acme/podinfo:6.0.0"),
            ("podinfo", "ghcr.io/acme/podinfo:6.1.0-bad"),
        ):
            api.create(f"/apis/apps/v1/namespaces/{NS}/deployments", deployment(name, image))
        for svc in (
            service("podinfo", "podinfo-primary"),
            service("podinfo-primary", "podinfo-primary"),
            service("podinfo-canary", "podinfo"),
        ):
            api.create(f"/api/v1/namespaces/{NS}/services", svc)
        api.create(f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes", httproute(80, 20))
        registry = sb.registry
        eventually(
            "both demo-app processes",
            lambda: all((b := registry.get(NS, n)) and b.port for n in ("podinfo", "podinfo-primary")),
            timeout=20,
        )
        yield Traffic(sb, time.monotonic())


def query(traffic: Traffic, promql: str) -> list[JSON]:
    result: list[JSON] = traffic.sb.prometheus.query_sync(promql)
    return result


def settle(traffic: Traffic, seconds: float) -> None:
    """Let ``seconds`` of steady traffic (all processes ready) reach Prometheus (+2 scrapes)."""
    remaining = traffic.ready_at + seconds + 2.0 - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def test_weighted_split_and_error_rate_in_prometheus(traffic: Traffic) -> None:
    window = 10
    settle(traffic, window)
    by_workload = {
        r["metric"]["destination_workload"]: float(r["value"][1])
        for r in query(
            traffic,
            f'sum by (destination_workload) (increase(istio_requests_total{{destination_workload_namespace="{NS}"}}[{window}s]))',
        )
    }
    total = sum(by_workload.values())
    canary_share = 100 * by_workload["podinfo"] / total
    print(f"requests in {window}s: {total:.0f}, canary share {canary_share:.1f}%")
    assert total > RPS * window * 0.5
    assert abs(canary_share - 20) <= 5

    success = (
        f'sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="{NS}",destination_workload=~"%s",response_code!~"5.*"}}[{window}s]))'
        f' / sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="{NS}",destination_workload=~"%s"}}[{window}s])) * 100'
    )
    canary_success = float(query(traffic, success % ("podinfo", "podinfo"))[0]["value"][1])
    primary_success = float(query(traffic, success % ("podinfo-primary", "podinfo-primary"))[0]["value"][1])
    print(f"success rate: canary {canary_success:.1f}%, primary {primary_success:.1f}%")
    assert abs(canary_success / 100 - 0.5) <= 0.1
    assert primary_success == 100.0

    latency = (
        f'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{reporter="destination",'
        f'destination_workload_namespace="{NS}",destination_workload=~"podinfo-primary"}}[{window}s])) by (le))'
    )
    p99 = float(query(traffic, latency)[0]["value"][1])
    print(f"p99 latency of the primary: {p99:.0f} ms")
    assert 10 < p99 < 250


def test_demo_apps_are_scraped_too(traffic: Traffic) -> None:
    result = traffic.sb.prometheus.wait_for_series_sync(
        'sum by (deployment, version) (http_requests_total{component="demoapp"})', timeout=20
    )
    assert {(r["metric"]["deployment"], r["metric"]["version"]) for r in result} == {
        ("podinfo", "6.1.0-bad"),
        ("podinfo-primary", "6.0.0"),
    }


def test_route_change_takes_effect(traffic: Traffic) -> None:
    Api(traffic.sb.api_url, traffic.sb.api.admin_token).patch(
        f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes/podinfo",
        {"spec": httproute(0, 100)["spec"]},
    )

    def canary_only() -> bool:
        [entry] = [e for e in traffic.sb.dataplane.entry_points if e.key == f"HTTPRoute/{NS}/podinfo"]
        return {b.service: b.weight for b in entry.backends} == {"podinfo-primary": 0, "podinfo-canary": 100}

    eventually("the data plane to see the new weights", canary_only, timeout=5)
    routes = requests.get(traffic.sb.dataplane.url + "/routes", timeout=5).json()
    assert routes["sent"] > 0 and routes["routes"]
