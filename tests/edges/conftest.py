"""Fixtures for the edge tests: the API emulator, and a real Prometheus scraping a fake Istio exporter."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from edges_helpers import CANARY_ERROR_RATIO, NAMESPACE, PrometheusFixture, free_port, wait_for
from kubernetes import client
from reference_data import HTTPROUTE_CRD

from canary.kube import KubeClients, call_json, load_clients
from canary.sandbox.apiserver import ApiServerThread

PROMETHEUS_BIN = shutil.which("prometheus") or "/usr/bin/prometheus"

#: Requests per second the exporter pretends each workload serves.
REQUESTS_PER_SECOND = 100.0


def istio_exposition(elapsed: float) -> str:
    """Istio-style counters growing linearly with time: canary 5% 5xx, primary none.

    Latency: half the requests take <= 50 ms and all <= 100 ms, so p99 interpolates to 99 ms.
    """
    lines = [
        "# TYPE istio_requests_total counter",
        "# TYPE istio_request_duration_milliseconds histogram",
    ]
    total = REQUESTS_PER_SECOND * elapsed
    for workload, error_ratio in (("podinfo", CANARY_ERROR_RATIO), ("podinfo-primary", 0.0)):
        base = (
            f'reporter="destination",destination_workload_namespace="test",destination_workload="{workload}"'
        )
        lines.append(f'istio_requests_total{{{base},response_code="200"}} {total * (1 - error_ratio)}')
        lines.append(f'istio_requests_total{{{base},response_code="500"}} {total * error_ratio}')
        for le, share in (("50", 0.5), ("100", 1.0), ("+Inf", 1.0)):
            lines.append(f'istio_request_duration_milliseconds_bucket{{{base},le="{le}"}} {total * share}')
        lines.append(f"istio_request_duration_milliseconds_count{{{base}}} {total}")
        lines.append(f"istio_request_duration_milliseconds_sum{{{base}}} {total * 60}")
    return "\n".join(lines) + "\n"


class _ExporterHandler(BaseHTTPRequestHandler):
    started = time.monotonic()

    def do_GET(self) -> None:
        body = istio_exposition(time.monotonic() - self.started).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: scrapes every second would drown the test output."""


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusFixture]:
    """Real Prometheus on a free port, with two scrapes' worth of data before tests start."""
    assert os.path.exists(PROMETHEUS_BIN), f"{PROMETHEUS_BIN} missing: run `make install`"
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _ExporterHandler)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    workdir = Path(tempfile.mkdtemp(prefix="edges-prom-"))
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: istio\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter.server_address[1]}']\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [
            PROMETHEUS_BIN,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"http://127.0.0.1:{port}"
    try:

        def rate_available() -> bool:
            response = requests.get(
                f"{address}/api/v1/query", params={"query": "rate(istio_requests_total[1m])"}, timeout=1
            )
            return bool(response.json()["data"]["result"])

        wait_for(rate_available, timeout=20, what="Prometheus to have two scrapes of the exporter")
        yield PrometheusFixture(address)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        exporter.shutdown()
        exporter.server_close()
        shutil.rmtree(workdir, ignore_errors=True)


REPO = Path(__file__).resolve().parents[2]
CRD_FILES = (
    REPO / "crds" / "canary.dev_canaries.yaml",
    REPO / "crds" / "canary.dev_metrictemplates.yaml",
    HTTPROUTE_CRD,
)


@functools.cache
def _crds() -> tuple[dict[str, Any], ...]:
    return tuple(doc for path in CRD_FILES for doc in yaml.safe_load_all(path.read_text()) if doc)


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeClients]:
    """A fresh emulator with the Canary and HTTPRoute CRDs and the ``test`` namespace; clients via kubeconfig."""
    with ApiServerThread() as server:
        kubeconfig = tmp_path / "kubeconfig"
        server.write_kubeconfig(kubeconfig)
        clients = load_clients(str(kubeconfig))
        extensions = client.ApiextensionsV1Api(clients.api)
        for crd in _crds():
            call_json(extensions.create_custom_resource_definition, crd)
        call_json(clients.core.create_namespace, {"metadata": {"name": NAMESPACE}})
        try:
            yield clients
        finally:
            clients.close()
