"""Fixtures for the integration scenarios: one sandbox and one operator process per session.

By default everything runs on the local sandbox. With CANARY_E2E=1 (set by `make e2e`) the same
scenarios run against the real cluster named by KUBECONFIG: the operator is still started locally
by these fixtures, against that cluster, and Prometheus is CANARY_E2E_PROMETHEUS_URL.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Cluster, OperatorProcess, Prometheus, namespace_for

E2E = os.environ.get("CANARY_E2E") == "1"
#: The scrape job of the operator's /metrics (the name deploy/monitoring's ServiceMonitor gives it).
OPERATOR_JOB = "canary-operator-metrics"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object | None]:
    if E2E:
        yield None
        return
    from canary.sandbox.sandbox import SandboxThread

    workdir = tmp_path_factory.mktemp("sandbox")
    with SandboxThread(workdir=workdir, rps=60.0) as running:
        yield running


@pytest.fixture(scope="session")
def kubeconfig(sandbox: object | None) -> str:
    if E2E:
        path = os.environ.get("KUBECONFIG")
        if not path:
            pytest.exit("CANARY_E2E=1 needs KUBECONFIG pointing at a real cluster", returncode=2)
        return path
    return str(sandbox.kubeconfig_path)  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def prometheus_url(sandbox: object | None) -> str:
    if E2E:
        return os.environ.get("CANARY_E2E_PROMETHEUS_URL", "http://127.0.0.1:9090")
    return str(sandbox.prometheus_url)  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def operator(
    sandbox: object | None, kubeconfig: str, prometheus_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    # on the sandbox, in-cluster URLs (webhooks, MetricTemplate addresses) go through its proxy
    env = {} if sandbox is None else sandbox.proxy_env()  # type: ignore[attr-defined]
    process = OperatorProcess(kubeconfig, prometheus_url, log, env)
    if sandbox is not None:  # the sandbox's Prometheus scrapes the operator, as a ServiceMonitor would
        targets = {f"127.0.0.1:{process.metrics_port}": {"job": OPERATOR_JOB}}
        sandbox.prometheus.set_targets("operator", targets)  # type: ignore[attr-defined]
    process.start()
    yield process
    process.stop()


@pytest.fixture
def cluster(kubeconfig: str, operator: OperatorProcess, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A fresh namespace per test; the operator's log tail is printed when the test fails."""
    if operator.process is None:
        operator.start()  # a previous test killed it
    name = f"it-{request.node.name.replace('_', '-')[5:30].strip('-')}-{uuid.uuid4().hex[:4]}"
    with namespace_for(kubeconfig, name) as ns:
        yield ns
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- operator log (tail) ---\n{operator.log_tail()}")


@pytest.fixture
def stop_prometheus(sandbox: Any) -> Iterator[Callable[[], None]]:
    """Stops the sandbox's Prometheus mid-test; it is started again (same port) after the test."""
    if sandbox is None:
        pytest.skip("stopping Prometheus is only possible on the sandbox, not on a real cluster")
    stopped: list[bool] = []

    def stop() -> None:
        sandbox.prometheus.stop_sync()
        stopped.append(True)

    yield stop
    if stopped:
        sandbox.prometheus.start_sync()


@pytest.fixture
def prometheus(cluster: Cluster, prometheus_url: str) -> Prometheus:
    """Istio's request counters for the test's namespace, read from the Prometheus the operator uses."""
    return Prometheus(prometheus_url, cluster.namespace)


class PrometheusSwitch:
    """Stop the sandbox's Prometheus and start it again (same port, same data) within a test."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.running = True

    def stop(self) -> None:
        self.sandbox.prometheus.stop_sync()
        self.running = False

    def start(self) -> None:
        if not self.running:
            self.sandbox.prometheus.start_sync()
            self.running = True


@pytest.fixture
def prometheus_switch(sandbox: Any) -> Iterator[PrometheusSwitch]:
    """Like `stop_prometheus`, but the test may start it again; it always runs after the test."""
    if sandbox is None:
        pytest.skip("stopping Prometheus is only possible on the sandbox, not on a real cluster")
    switch = PrometheusSwitch(sandbox)
    yield switch
    switch.start()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
