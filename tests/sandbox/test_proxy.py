"""The sandbox's forward proxy: in-cluster URLs reach Prometheus, the loadtester and Services' pods.

Clients are real (requests, urllib, aiohttp, the kubernetes client, curl, a shell evaluating
`canary sandbox`'s exports); the only configuration is the environment ``proxy_env()`` gives.
"""

from __future__ import annotations

import asyncio
import selectors
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import requests
from kubernetes import client, config
from podinfo_cluster import CANARY_VERSION, NS, PRIMARY_VERSION, admin, create, podinfo_cluster, service
from waiting import eventually

from canary.sandbox.proxy import ClusterName, parse_host
from canary.sandbox.sandbox import SandboxThread


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxThread]:
    with podinfo_cluster() as running:
        yield running


def get(sb: SandboxThread, url: str, method: str = "GET", **kw: object) -> requests.Response:
    return requests.request(method, url, proxies={"http": sb.proxy_url}, timeout=10, **kw)  # type: ignore[arg-type]


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no output from `canary sandbox` within {timeout}s")
    return proc.stdout.readline()


def test_parse_host() -> None:
    assert parse_host("podinfo") == ClusterName("podinfo", "default", True)
    assert parse_host("podinfo.test") == ClusterName("podinfo", "test", False)
    assert parse_host("podinfo.test.svc") == ClusterName("podinfo", "test", True)
    assert parse_host("PodInfo.Test.svc.cluster.local.") == ClusterName("podinfo", "test", True)
    for host in ("203.0.113.7", "::1", "localhost", "a.b.c", "a.b.c.d.e", "www.example.com", "under_score"):
        assert parse_host(host) is None, host


@pytest.mark.parametrize(
    "host",
    [
        "prometheus.istio-system:9090",  # the operator's default --prometheus-url
        "prometheus.monitoring:9090",  # Flagger's MetricTemplate examples
        "prometheus.monitoring.svc.cluster.local:9090",
        "prometheus:9090",
        "prometheus.monitoring",
    ],
)
def test_prometheus_by_any_cluster_name(sb: SandboxThread, host: str) -> None:
    resp = get(sb, f"http://{host}/api/v1/query", params={"query": 'up{component="dataplane"}'})
    assert resp.status_code == 200, resp.text
    [series] = resp.json()["data"]["result"]
    assert series["value"][1] == "1"


@pytest.mark.parametrize(
    "host",
    ["flagger-loadtester.test", "flagger-loadtester.flagger:80", "flagger-loadtester.test.svc.cluster.local"],
)
def test_loadtester_by_any_cluster_name(sb: SandboxThread, host: str) -> None:
    resp = get(sb, f"http://{host}/healthz")
    assert (resp.status_code, resp.text) == (200, "OK")


def test_services_reach_the_pods_their_selector_picks(sb: SandboxThread) -> None:
    def version(url: str) -> str:
        resp = get(sb, url)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["version"])

    before = sb.dataplane.telemetry.counts(NS).get("podinfo", {}).get(200, 0)
    assert version(f"http://podinfo-canary.{NS}:9898/") == CANARY_VERSION
    assert version(f"http://podinfo-primary.{NS}:9898/") == PRIMARY_VERSION
    assert version(f"http://podinfo.{NS}.svc.cluster.local:9898/") == PRIMARY_VERSION  # the apex: primary's
    assert version(f"http://podinfo-canary.{NS}.svc:9898/api/echo?x=1") == CANARY_VERSION
    resp = get(sb, f"http://podinfo-canary.{NS}:9898/token", "POST", data=b"test")
    assert resp.status_code == 200 and set(resp.json()) == {"token", "expires_at"}  # podinfo's /token
    # counted like the data plane's traffic: destination podinfo behind Service podinfo-canary
    assert sb.dataplane.telemetry.counts(NS)["podinfo"][200] == before + 3
    rendered = sb.dataplane.telemetry.render()
    assert f'destination_workload="podinfo",destination_workload_namespace="{NS}"' in rendered
    assert 'destination_service_name="podinfo-canary"' in rendered


def test_a_service_new_in_the_api_answers_at_once(sb: SandboxThread) -> None:
    create(sb, f"/api/v1/namespaces/{NS}/services", service("podinfo-preview", "podinfo"))
    resp = get(sb, f"http://podinfo-preview.{NS}:9898/")
    assert resp.status_code == 200 and resp.json()["version"] == CANARY_VERSION


def test_ports_and_endpoints_as_in_a_cluster(sb: SandboxThread) -> None:
    resp = get(sb, f"http://podinfo-canary.{NS}/")  # port 80: the Service only has 9898
    assert resp.status_code == 502
    assert resp.text == f"connection refused: Service {NS}/podinfo-canary has no port 80 (ports: 9898)\n"
    create(sb, f"/api/v1/namespaces/{NS}/services", service("orphan", "nothing-has-this-label"))
    resp = get(sb, f"http://orphan.{NS}:9898/")
    assert (resp.status_code, resp.text) == (503, "no healthy upstream\n")


@pytest.mark.parametrize(
    "host",
    [f"nope.{NS}", f"nope.{NS}:9898", f"nope.{NS}.svc.cluster.local", "nope", "nope.absent-namespace.svc"],
)
def test_unknown_cluster_names_are_502(sb: SandboxThread, host: str) -> None:
    resp = get(sb, f"http://{host}/")
    assert resp.status_code == 502
    assert resp.text.startswith(f"could not resolve host {host.split(':')[0]}: no Service nope in namespace ")
    assert resp.text.count("\n") == 1


@pytest.mark.parametrize(
    "url", ["http://example.com/", "http://www.example.com/x", "http://203.0.113.7:8080/"]
)
def test_the_internet_is_refused(sb: SandboxThread, url: str) -> None:
    resp = get(sb, url)
    assert resp.status_code == 403
    assert "the sandbox never reaches the internet" in resp.text


def test_connect_and_direct_requests_are_refused(sb: SandboxThread) -> None:
    port = int(sb.proxy_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        answer = sock.makefile("rb").read().decode()
    assert answer.startswith("HTTP/1.1 405 ")
    assert "CONNECT example.com:443 refused: the sandbox proxy only serves plain http" in answer
    resp = requests.get(sb.proxy_url + "/", timeout=10)  # not a proxy request
    assert resp.status_code == 400 and "forward proxy" in resp.text


def test_clients_follow_the_proxy_env(sb: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    env = sb.proxy_env()
    assert env == {
        "HTTP_PROXY": sb.proxy_url,
        "http_proxy": sb.proxy_url,
        "NO_PROXY": "127.0.0.1,localhost,::1",
        "no_proxy": "127.0.0.1,localhost,::1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    url = f"http://podinfo-canary.{NS}:9898/"

    assert requests.get(url, timeout=10).json()["version"] == CANARY_VERSION  # prometheus-api-client's
    # urllib reads the env when an opener is built: urlopen()'s global one may predate the env here
    with urllib.request.build_opener().open(url, timeout=10) as answer:
        assert b'"version": "6.1.0"' in answer.read()

    async def with_aiohttp() -> str:
        async with (
            aiohttp.ClientSession(trust_env=True) as session,
            session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp,
        ):
            return str((await resp.json())["version"])

    assert asyncio.run(with_aiohttp()) == CANARY_VERSION

    # what stays direct: the API server and Prometheus by IP (NO_PROXY); the proxy sees none of it
    seen = sb.proxy.requests
    assert requests.get(f"{sb.prometheus_url}/-/ready", timeout=10).status_code == 200
    # the kubeconfig's API server is https (kubectl sends tokens over TLS only): HTTP_PROXY, which is for
    # http URLs, never applies to it, with or without NO_PROXY
    for keep_no_proxy in (True, False):
        if not keep_no_proxy:
            monkeypatch.delenv("NO_PROXY")
            monkeypatch.delenv("no_proxy")
        api = config.new_client_from_config(str(sb.kubeconfig_path))
        try:
            assert api.configuration.host.startswith("https://127.0.0.1:")
            assert api.configuration.proxy is None
            assert NS in [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        finally:
            api.close()
    assert sb.proxy.requests == seen


def test_curl_with_the_proxy_env(sb: SandboxThread) -> None:
    def curl(*args: str) -> str:
        done = subprocess.run(
            ["curl", "-s", *args],
            env={"PATH": "/usr/bin:/bin", **sb.proxy_env()},
            capture_output=True,
            timeout=20,
        )
        return done.stdout.decode()

    assert '"token": "' in curl("-d", "test", f"http://podinfo-canary.{NS}:9898/token")
    assert curl("-o", "/dev/null", "-w", "%{http_code}", f"http://nope.{NS}/") == "502"
    assert curl(f"http://flagger-loadtester.{NS}/gate/approve") == "OK"


def test_canary_sandbox_prints_the_exports(tmp_path: Path) -> None:
    """`eval` the export lines `canary sandbox` prints after its ready line: a shell reaches cluster names."""
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "canary", "sandbox", "--kubeconfig", str(kubeconfig), "--rps", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert read_line(proc, 60).startswith("sandbox ready: kubeconfig=")
        assert proc.stdout is not None  # printed right after the ready line (maybe already buffered)
        exports = [proc.stdout.readline() for _ in range(4)]
        assert [line.split("=", 1)[0] for line in exports] == [
            "export HTTP_PROXY",
            "export http_proxy",
            "export NO_PROXY",
            "export no_proxy",
        ]
        script = "".join(exports) + "curl -s http://prometheus.istio-system:9090/-/ready"
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=20)
        assert done.stdout.startswith("Prometheus Server is Ready"), done
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_proxy_survives_a_stopped_backend(sb: SandboxThread) -> None:
    """A Deployment scaled to zero: its Service answers 503 (no healthy upstream), never hangs."""
    requests.patch(
        f"{sb.api_url}/apis/apps/v1/namespaces/{NS}/deployments/podinfo-primary",
        json={"spec": {"replicas": 0}},
        headers={"Content-Type": "application/merge-patch+json", **admin(sb)},
        timeout=10,
    ).raise_for_status()
    eventually(
        "podinfo-primary without a process",
        lambda: get(sb, f"http://podinfo-primary.{NS}:9898/").status_code,
        lambda code: code == 503,
        timeout=20,
    )
