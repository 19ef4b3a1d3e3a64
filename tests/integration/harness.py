"""What a user has in front of them during a rollout: kubectl, the API, the operator's process.

The same `Cluster` drives the sandbox (tests/integration) and a real cluster (tests/e2e): it only
talks to the Kubernetes API and to kubectl, never to the sandbox's internals.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from kubernetes.client.exceptions import ApiException
from waiting import eventually

from canary.api.models import GROUP, PLURAL, VERSION
from canary.demo.manifests import STABLE_IMAGE, deployment
from canary.kube import KubeClients, load_clients

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = "podinfo"
POLL_SECONDS = 0.2
#: How long an Event may trail the status write it goes with (a loaded CI machine included).
EVENT_TIMEOUT = 15.0
T = TypeVar("T")


class OperatorProcess:
    """`canary operator` as a child process: started, stopped with SIGINT, or killed like a crashed pod.

    It serves its metrics and probes on 127.0.0.1 at a port picked here (``metrics_url``).
    """

    def __init__(
        self,
        kubeconfig: str,
        prometheus_url: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        *,
        args: Sequence[str] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.prometheus_url = prometheus_url
        self.log_path = log_path
        self.env = dict(env or {})  # added to ours, e.g. the sandbox's proxy_env() for in-cluster URLs
        self.args = list(args)  # added to ours, e.g. a Deployment's container args
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "canary",
            "operator",
            "--kubeconfig",
            self.kubeconfig,
            "--prometheus-url",
            self.prometheus_url,
            *self.args,
            "--metrics-bind-address",
            "127.0.0.1",
            "--metrics-port",
            str(self.metrics_port),
        ]

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child for its lifetime
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **self.env},
        )
        log.close()

    def probe(self, path: str) -> int:
        """HTTP status of ``/healthz``, ``/readyz`` or ``/metrics`` (0 while nothing listens)."""
        try:
            with urllib.request.urlopen(self.metrics_url + path, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.metrics_url + "/metrics", timeout=5) as response:
            return str(response.read().decode())

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no status write, like a node failure."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
            self.process = None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no operator log)"


def free_port() -> int:
    """A loopback port free right now (the child binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def canary(
    namespace: str,
    *,
    interval: str = "3s",
    threshold: int = 2,
    step_weight: int = 25,
    max_weight: int = 50,
    metric_interval: str = "10s",
    target: str = APP,
    **spec_overrides: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "provider": "gatewayapi:v1",
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "progressDeadlineSeconds": 60,
        "service": {
            "name": APP,
            "port": 9898,
            "hosts": ["podinfo.example.com"],
            "gatewayRefs": [{"name": "public", "namespace": "istio-ingress"}],
        },
        "analysis": {
            "interval": interval,
            "threshold": threshold,
            "maxWeight": max_weight,
            "stepWeight": step_weight,
            "metrics": [
                {"name": "request-success-rate", "interval": metric_interval, "thresholdRange": {"min": 99}},
                {"name": "request-duration", "interval": metric_interval, "thresholdRange": {"max": 500}},
            ],
        },
    }
    spec.update(spec_overrides)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Canary",
        "metadata": {"name": APP, "namespace": namespace},
        "spec": spec,
    }


@dataclasses.dataclass
class Cluster:
    """One test's namespace on a cluster, seen through the API and kubectl."""

    kubeconfig: str
    namespace: str
    clients: KubeClients = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.clients = load_clients(self.kubeconfig)

    # ---------------------------------------------------------------- commands

    def kubectl(
        self, *args: str, timeout: float = 30.0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", self.kubeconfig, "-n", self.namespace, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def create_namespace(self) -> None:
        body: Any = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        self.clients.core.create_namespace(body)

    def delete_namespace(self) -> None:
        with contextlib.suppress(ApiException):
            self.clients.core.delete_namespace(self.namespace)

    def create_deployment(self, image: str = STABLE_IMAGE, name: str = APP) -> None:
        body: Any = deployment(image, self.namespace, name)
        self.clients.apps.create_namespaced_deployment(self.namespace, body)

    def create_canary(self, body: dict[str, Any]) -> None:
        self.clients.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def set_image(self, image: str, name: str = APP) -> None:
        patch = {"spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}}}
        self.clients.apps.patch_namespaced_deployment(name, self.namespace, patch)

    # ---------------------------------------------------------------- what a user sees

    def canary(self, name: str = APP) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self.clients.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name),
        )

    def status(self, name: str = APP) -> dict[str, Any]:
        return cast(dict[str, Any], self.canary(name).get("status") or {})

    def condition(self, type_: str = "Promoted", name: str = APP) -> dict[str, Any]:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == type_), {})

    def deployment(self, name: str) -> dict[str, Any]:
        obj = self.clients.apps.read_namespaced_deployment(name, self.namespace)
        return cast(dict[str, Any], self.clients.api.sanitize_for_serialization(obj))

    def image_of(self, name: str) -> str:
        return str(self.deployment(name)["spec"]["template"]["spec"]["containers"][0]["image"])

    def replicas_of(self, name: str) -> int:
        return int(self.deployment(name)["spec"].get("replicas", 0))

    def route(self, name: str = APP) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self.clients.custom.get_namespaced_custom_object(
                "gateway.networking.k8s.io", "v1", self.namespace, "httproutes", name
            ),
        )

    def route_weights(self, name: str = APP) -> dict[str, int]:
        refs = self.route(name)["spec"]["rules"][0]["backendRefs"]
        return {ref["name"]: int(ref.get("weight", 1)) for ref in refs}

    def event_messages(self, name: str = APP) -> list[str]:
        return [e["message"] for e in self.events(name)]

    def wait_event(self, text: str, timeout: float = EVENT_TIMEOUT, name: str = APP) -> list[str]:
        """The Canary's Event messages once one contains ``text``.

        Events are posted after the status write (as kube's own controllers do), so a test that
        has just seen a phase must await the Event that goes with it, not read it at once.
        """
        return self.eventually(
            f"an Event containing {text!r}",
            lambda: self.event_messages(name),
            lambda messages: any(text in m for m in messages),
            timeout,
        )

    def wait_event_reason(
        self, reason: str, timeout: float = EVENT_TIMEOUT, name: str = APP
    ) -> list[dict[str, str]]:
        """The Canary's Events once one has ``reason``."""
        return self.eventually(
            f"an Event with reason {reason}",
            lambda: self.events(name),
            lambda events: any(e["reason"] == reason for e in events),
            timeout,
        )

    def events(self, name: str = APP) -> list[dict[str, str]]:
        """The Canary's Events as `kubectl describe` lists them: type, reason, message."""
        listing = self.clients.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=Canary"
        )
        return [
            {"type": str(e.type), "reason": str(e.reason), "message": str(e.message)} for e in listing.items
        ]

    # ---------------------------------------------------------------- waiting

    @staticmethod
    def eventually(what: str, probe: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
        """Await a condition on the cluster; API errors (an object not there yet) count as "not yet"."""
        return eventually(what, probe, done, timeout, interval=POLL_SECONDS, ignore=(ApiException,))

    def wait_for(
        self, what: str, predicate: Callable[[dict[str, Any]], bool], timeout: float, name: str = APP
    ) -> dict[str, Any]:
        """Poll the Canary until `predicate(status)` holds; fail with the last status seen."""
        return self.eventually(what, lambda: self.status(name), predicate, timeout)

    def wait_phase(self, phase: str, timeout: float, name: str = APP) -> dict[str, Any]:
        return self.wait_for(f"phase {phase}", lambda s: s.get("phase") == phase, timeout, name)

    def watch_weights(
        self, until_phase: str, timeout: float, name: str = APP
    ) -> tuple[list[int], dict[str, Any]]:
        """Record every distinct canaryWeight seen until the Canary reaches `until_phase`."""
        seen: list[int] = []

        def record(status: dict[str, Any]) -> bool:
            weight = int(status.get("canaryWeight", 0))
            if not seen or seen[-1] != weight:
                seen.append(weight)
            return status.get("phase") == until_phase

        status = self.wait_for(f"phase {until_phase}", record, timeout, name)
        return seen, status


#: `(destination_service_name, destination_workload, response_code)` -> requests served so far.
Served = dict[tuple[str, str, str], float]


@dataclasses.dataclass
class Prometheus:
    """The requests a namespace's workloads served, as Istio's `istio_requests_total` reports them."""

    url: str
    namespace: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(address, timeout=10) as response:
            body = json.loads(response.read())
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def _selector(self) -> str:
        return f'istio_requests_total{{destination_service_namespace="{self.namespace}"}}'

    def counters(self) -> tuple[Served, float]:
        """The counters now and the time of their oldest latest sample (how current they are)."""
        counts: Served = {}
        for series in self.query(
            f"sum by (destination_service_name, destination_workload, response_code) ({self._selector()})"
        ):
            labels = series["metric"]
            key = (
                labels.get("destination_service_name", ""),
                labels.get("destination_workload", ""),
                labels.get("response_code", ""),
            )
            counts[key] = float(series["value"][1])
        stamps = self.query(f"min(timestamp({self._selector()}))")
        scraped = float(stamps[0]["value"][1]) if stamps else 0.0
        return counts, scraped

    def served(self, not_before: float | None = None, timeout: float = 30.0) -> Served:
        """The counters once every series was scraped after `not_before` (wall clock; default now)."""
        since = time.time() if not_before is None else not_before
        counts, _ = eventually(
            f"Prometheus samples newer than {since:.1f}",
            self.counters,
            lambda c: c[1] >= since,
            timeout,
            interval=0.25,
            ignore=(OSError, KeyError, IndexError, ValueError),
        )
        return counts


def delta(before: Served, after: Served) -> Served:
    """What was served between two snapshots (a series absent before started from zero)."""
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}


def total(
    served: Served, *, workload: str | None = None, codes: str = "", service: str | None = None
) -> float:
    """Requests in `served` answered by `workload` (any if None) with a code starting with `codes`."""
    return sum(
        n
        for (svc, wl, code), n in served.items()
        if (workload is None or wl == workload)
        and (service is None or svc == service)
        and code.startswith(codes)
    )


@contextlib.contextmanager
def namespace_for(kubeconfig: str, name: str) -> Iterator[Cluster]:
    cluster = Cluster(kubeconfig, name)
    cluster.create_namespace()
    try:
        yield cluster
    finally:
        cluster.delete_namespace()
