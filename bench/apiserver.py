"""API-emulator figures with the real ``kubernetes`` client: CRUD latency, watch latency, keep-alive rate.

The emulator (:class:`canary.sandbox.apiserver.ApiServerThread`) runs in this process on its own
thread, so client and server share the GIL: figures are for the sandbox as tests use it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import Figure, batches, median, percentile, ratio, timed_calls

__all__ = ["NAMES", "run"]

CREATE = "api create ConfigMap"
GET = "api get ConfigMap"
PATCH = "api merge-patch ConfigMap"
LIST = "api list ConfigMaps"
WATCH = "api watch delivery: median"
WATCH_P99 = "api watch delivery: p99"
RAW_RATE = "api raw GET keep-alive"
CLIENT_OVERHEAD = "api client get / raw GET"

#: Every figure this module reports, in order.
NAMES: tuple[str, ...] = (CREATE, GET, PATCH, LIST, WATCH, WATCH_P99, RAW_RATE, CLIENT_OVERHEAD)
UNITS: dict[str, str] = {
    CREATE: "ms",
    GET: "ms",
    PATCH: "ms",
    LIST: "ms",
    WATCH: "ms",
    WATCH_P99: "ms",
    RAW_RATE: "req/s",
    CLIENT_OVERHEAD: "x",
}

NAMESPACE = "bench"
MERGE_PATCH = "application/merge-patch+json"
#: Raw requests ask for JSON and carry the bearer token of the emulator's admin kubeconfig.
ACCEPT = {"Accept": "application/json"}
#: Sequential GETs per timed batch on the keep-alive connection.
RAW_BATCH = 50
#: Seconds to wait for one watch event before giving up on it.
EVENT_TIMEOUT = 5.0


def unavailable(reason: str, names: tuple[str, ...] = NAMES) -> list[Figure]:
    """The named figures (default: all of this module), unmeasured, with the reason."""
    label = "apiserver" if names == NAMES else f"apiserver ({', '.join(names)})"
    print(f"{label}: unavailable ({reason})")
    return [Figure(name, None, UNITS[name], 0, f"unavailable ({reason})") for name in names]


def ms(ns_values: list[int]) -> float:
    """Median of nanosecond samples, in milliseconds."""
    return median(ns_values) / 1e6


def configmap(name: str) -> Any:
    """A small labelled ConfigMap (a ``kubernetes.client.V1ConfigMap``)."""
    from kubernetes import client

    return client.V1ConfigMap(
        api_version="v1",
        kind="ConfigMap",
        metadata=client.V1ObjectMeta(name=name, labels={"app": "bench"}),
        data={"weight": "0", "revision": "stable-hash"},
    )


class WatchReader:
    """Streams a raw ``?watch=true`` response in a thread, timestamping each event line on arrival.

    Plain ``http.client`` (what ``urllib`` uses underneath) so :meth:`close` can shut the socket
    down and unblock the reader at once.
    """

    def __init__(self, server_url: str, path: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        parsed = urllib.parse.urlsplit(server_url)
        self.connection = http.client.HTTPConnection(
            parsed.hostname or "127.0.0.1", parsed.port, timeout=EVENT_TIMEOUT * 4
        )
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"watch {path}: HTTP {self.response.status}")
        self.thread = threading.Thread(target=self._read, name="bench-watch", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.response:
                arrived = time.perf_counter_ns()
                if line.strip():
                    self.events.put((arrived, json.loads(line)))
        except (OSError, ValueError):
            pass  # stream closed by the server stopping, or by close()

    def wait_for(self, event_type: str, resource_version: str) -> int:
        """Arrival time (perf_counter_ns) of the event of that type for that resourceVersion."""
        deadline = time.monotonic() + EVENT_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event_type} event for resourceVersion {resource_version}")
            arrived, event = self.events.get(timeout=remaining)
            meta = event.get("object", {}).get("metadata", {})
            if event.get("type") == event_type and meta.get("resourceVersion") == resource_version:
                return arrived

    def close(self) -> None:
        """Close the stream; the reader thread ends on its own."""
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=1)
        self.connection.close()


def auth_headers(kubeconfig: Path) -> dict[str, str]:
    """``ACCEPT`` plus the kubeconfig user's bearer token (the emulator refuses anonymous requests)."""
    import yaml

    users = yaml.safe_load(kubeconfig.read_text()).get("users") or [{}]
    token = (users[0].get("user") or {}).get("token", "")
    return {**ACCEPT, "Authorization": f"Bearer {token}"} if token else dict(ACCEPT)


def measure(server_url: str, kubeconfig: Path, quick: bool) -> list[Figure]:
    """Run every API figure against a started emulator."""
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    objects, budget = (10, 1.0) if quick else (100, 4.0)
    config.load_kube_config(config_file=str(kubeconfig))
    headers = auth_headers(kubeconfig)
    core = client.CoreV1Api()
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    except ApiException as exc:
        if exc.status != 409:
            raise

    names = [f"bench-{i:04d}" for i in range(objects)]
    counter = iter(range(len(names)))
    core.create_namespaced_config_map(NAMESPACE, configmap("bench-warmup"))

    def create() -> None:
        core.create_namespaced_config_map(NAMESPACE, configmap(names[next(counter)]))

    create_ns = timed_calls(create, count=objects, budget_s=budget)
    created = len(create_ns)

    def get() -> None:
        core.read_namespaced_config_map(names[0], NAMESPACE)

    values = iter(range(1_000_000))

    def patch() -> Any:
        body = {"data": {"weight": str(next(values))}}
        return core.patch_namespaced_config_map(names[0], NAMESPACE, body, _content_type=MERGE_PATCH)

    def list_all() -> None:
        items = core.list_namespaced_config_map(NAMESPACE, label_selector="app=bench").items
        if len(items) != created + 1:
            raise RuntimeError(f"list returned {len(items)} objects, expected {created + 1}")

    repeats = 20 if quick else 500
    results: dict[str, list[int]] = {}
    for name, fn, count in ((GET, get, repeats), (PATCH, patch, repeats), (LIST, list_all, repeats // 4)):
        for _ in range(3):
            fn()
        results[name] = timed_calls(fn, count=count, budget_s=budget)

    get_ms = ms(results[GET])
    figures = [
        Figure(CREATE, ms(create_ns), "ms", created, "kubernetes client, one object per call"),
        Figure(GET, get_ms, "ms", len(results[GET]), "kubernetes client"),
        Figure(PATCH, ms(results[PATCH]), "ms", len(results[PATCH]), MERGE_PATCH),
        Figure(LIST, ms(results[LIST]), "ms", len(results[LIST]), f"{created + 1} objects per list"),
    ]
    try:
        watch_ms = [
            ns / 1e6 for ns in measure_watch(server_url, headers, patch, 10 if quick else 300, budget)
        ]
    except Exception as exc:
        figures += unavailable(f"{type(exc).__name__}: {exc}", (WATCH, WATCH_P99))
    else:
        note = "patch returned -> MODIFIED read off a raw watch (<0: event beat the response)"
        figures.append(Figure(WATCH, median(watch_ms), "ms", len(watch_ms), note))
        figures.append(Figure(WATCH_P99, percentile(watch_ms, 99), "ms", len(watch_ms), "same samples"))
    try:
        per_request = measure_raw_gets(server_url, headers, names[0], quick, budget)
    except Exception as exc:
        return figures + unavailable(f"{type(exc).__name__}: {exc}", (RAW_RATE, CLIENT_OVERHEAD))
    raw_rate = 1.0 / median(per_request)
    note = f"http.client, one connection; median of {len(per_request)} batches"
    figures.append(Figure(RAW_RATE, raw_rate, "req/s", len(per_request) * RAW_BATCH, note))
    overhead = ratio(get_ms, 1e3 / raw_rate)
    figures.append(Figure(CLIENT_OVERHEAD, overhead, "x", len(results[GET]), "client get ms / raw GET ms"))
    return figures


def measure_watch(
    server_url: str, headers: dict[str, str], patch: Callable[[], Any], count: int, budget: float
) -> list[int]:
    """Nanoseconds from each merge-patch returning to its MODIFIED event arriving on an open watch."""
    current = patch()
    query = urllib.parse.urlencode(
        {
            "watch": "true",
            "resourceVersion": current.metadata.resource_version,
            "fieldSelector": f"metadata.name={current.metadata.name}",
            "timeoutSeconds": "60",
        }
    )
    reader = WatchReader(server_url, f"/api/v1/namespaces/{NAMESPACE}/configmaps?{query}", headers)
    latencies: list[int] = []
    deadline = time.monotonic() + budget
    try:
        for _ in range(count):
            updated = patch()
            returned = time.perf_counter_ns()
            arrived = reader.wait_for("MODIFIED", updated.metadata.resource_version)
            latencies.append(arrived - returned)
            if time.monotonic() > deadline:
                break
    finally:
        reader.close()
    return latencies


def measure_raw_gets(
    server_url: str, headers: dict[str, str], name: str, quick: bool, budget: float
) -> list[float]:
    """Seconds per sequential GET over one keep-alive connection, one value per batch."""
    parsed = urllib.parse.urlsplit(server_url)
    connection = http.client.HTTPConnection(
        parsed.hostname or "127.0.0.1", parsed.port, timeout=EVENT_TIMEOUT
    )
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{name}"

    def get() -> None:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")

    try:
        return batches(
            get, batch_size=RAW_BATCH, max_batches=4 if quick else 40, budget_s=budget / 2, warmup=10
        )
    finally:
        connection.close()


def run(quick: bool) -> list[Figure]:
    """All API-emulator figures, or all of them marked unavailable when the emulator cannot run."""
    try:
        from canary.sandbox.apiserver import ApiServerThread
    except Exception as exc:
        return unavailable(f"{type(exc).__name__}: {exc}")
    try:
        with tempfile.TemporaryDirectory(prefix="canary-bench-") as tmp, ApiServerThread() as server:
            kubeconfig = Path(tmp) / "kubeconfig"
            server.write_kubeconfig(kubeconfig)
            return measure(server.url, kubeconfig, quick)
    except Exception as exc:
        return unavailable(f"{type(exc).__name__}: {exc}")
