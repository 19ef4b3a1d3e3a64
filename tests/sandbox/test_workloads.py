"""The workload controller: demo app processes and Deployment/HPA status, against the API emulator."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from canary.sandbox.apiserver import ApiServer
from canary.sandbox.kubeclient import KubeClient, resource_path
from canary.sandbox.workloads import DemoSpec, WorkloadController, image_tag

DEPLOYMENTS = resource_path("apps/v1", "deployments", "default")
HPAS = resource_path("autoscaling/v2", "horizontalpodautoscalers", "default")
JSON = dict[str, Any]


def deployment(name: str, image: str, replicas: int = 1, env: dict[str, str] | None = None) -> JSON:
    container: JSON = {"name": "app", "image": image}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


def rolled_out(dep: JSON) -> bool:
    """Flagger's / kubectl rollout status' notion of done."""
    status, spec = dep.get("status") or {}, dep["spec"]
    return (
        status.get("observedGeneration") == dep["metadata"]["generation"]
        and status.get("updatedReplicas") == spec["replicas"]
        and status.get("replicas") == spec["replicas"]
        and status.get("availableReplicas", 0) == spec["replicas"]
    )


class Cluster:
    def __init__(self, client: KubeClient, controller: WorkloadController) -> None:
        self.client = client
        self.controller = controller

    async def wait_for(self, name: str, condition: Callable[[JSON], bool], timeout: float = 15.0) -> JSON:
        """Poll the Deployment until ``condition``; every observed status is kept in ``seen``."""
        self.seen: list[JSON] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            dep = await self.client.get(f"{DEPLOYMENTS}/{name}")
            self.seen.append(dep.get("status") or {})
            if condition(dep):
                return dep
            assert loop.time() < deadline, f"timed out waiting for {name}: {dep.get('status')}"
            await asyncio.sleep(0.05)

    async def pods(self, app: str) -> list[tuple[str, int]]:
        """(phase, ready containers) of the Pod objects labelled ``app``, once they settle."""
        result: list[tuple[str, int]] = []
        for _ in range(40):
            pods = await self.client.list(resource_path("v1", "pods", "default"), label_selector=f"app={app}")
            result = [
                (p["status"]["phase"], sum(c["ready"] for c in p["status"]["containerStatuses"]))
                for p in pods
                if p.get("status")
            ]
            if len(result) == len(pods) and all(phase == "Running" for phase, _ in result):
                break
            await asyncio.sleep(0.05)
        return result

    async def answer(self, name: str) -> JSON:
        backend = self.controller.registry.get("default", name)
        assert backend is not None and backend.port is not None
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{backend.port}/") as resp,
        ):
            body: JSON = await resp.json()
            return body


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    api = ApiServer()
    url = await api.start()
    controller = WorkloadController(url, token=api.admin_token, ready_delay=0.2, resync=0.5)
    await controller.start()
    client = KubeClient(url, token=api.admin_token)
    try:
        yield Cluster(client, controller)
    finally:
        await client.close()
        await controller.stop()
        await api.stop()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def test_demo_spec_from_image_and_env() -> None:
    assert image_tag("ghcr.io/acme/podinfo:6.1.0-bad") == "6.1.0-bad"
    assert image_tag("localhost:5000/podinfo") == "latest"
    assert image_tag("podinfo@sha256:abc") == "latest"
    bad = DemoSpec.from_deployment(deployment("a", "x/y:1-bad"))
    assert (bad.version, bad.error_rate, bad.latency_ms, bad.labels) == ("1-bad", 0.5, 20.0, {"app": "a"})
    slow = DemoSpec.from_deployment(deployment("a", "x/y:1-slow", env={"DEMO_ERROR_RATE": "0.1"}))
    assert (slow.error_rate, slow.latency_ms) == (0.1, 800.0)
    assert (
        DemoSpec.from_deployment(deployment("a", "x/y:1-bad", env={"DEMO_ERROR_RATE": "0"})).error_rate == 0.0
    )
    assert bad.template_hash != slow.template_hash
    assert DemoSpec.from_deployment(deployment("a", "x/y:2-crash")).crash
    assert DemoSpec.from_deployment(deployment("a", "x/y:2", env={"DEMO_CRASH": "true"})).crash


async def test_rollout_lifecycle(cluster: Cluster) -> None:
    await cluster.client.create(DEPLOYMENTS, deployment("web", "ghcr.io/acme/web:1.0.0"))
    dep = await cluster.wait_for("web", rolled_out)
    conditions = {c["type"]: c for c in dep["status"]["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert dep["status"]["readyReplicas"] == 1 and dep["status"]["unavailableReplicas"] == 0
    assert (await cluster.answer("web"))["version"] == "1.0.0"
    first = cluster.controller.registry.get("default", "web")
    assert first is not None and first.pid is not None and alive(first.pid)
    assert await cluster.pods("web") == [("Running", 1)]

    # a new image: surge (old keeps serving) then swap
    path = f"{DEPLOYMENTS}/web"
    patched = await cluster.client.patch(
        path,
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/web:2.0.0"}]}}
            }
        },
    )
    generation = patched["metadata"]["generation"]
    await cluster.wait_for("web", lambda d: rolled_out(d) and d["metadata"]["generation"] == generation)
    rolling = [
        s for s in cluster.seen if s.get("observedGeneration") == generation and s.get("replicas") == 2
    ]
    assert rolling and all(s["updatedReplicas"] == 1 and s["availableReplicas"] == 1 for s in rolling)
    assert all(
        c["reason"] == "ReplicaSetUpdated"
        for s in rolling
        for c in s["conditions"]
        if c["type"] == "Progressing"
    )
    assert (await cluster.answer("web"))["version"] == "2.0.0"
    assert not alive(first.pid)
    second = cluster.controller.registry.get("default", "web")
    assert second is not None and second.pid is not None and second.pid != first.pid

    # scale to zero
    await cluster.client.patch(path, {"spec": {"replicas": 0}})
    dep = await cluster.wait_for(
        "web",
        lambda d: (
            d.get("status", {}).get("observedGeneration") == d["metadata"]["generation"]
            and d["status"]["replicas"] == 0
        ),
    )
    assert dep["status"]["readyReplicas"] == 0 and dep["status"]["availableReplicas"] == 0
    backend = cluster.controller.registry.get("default", "web")
    assert backend is not None and backend.port is None
    assert not alive(second.pid)
    assert await cluster.pods("web") == []


async def test_status_while_rolling_out_is_not_ready(cluster: Cluster) -> None:
    cluster.controller.ready_delay = 1.0
    await cluster.client.create(DEPLOYMENTS, deployment("slow", "x/slow:1"))
    dep = await cluster.wait_for("slow", lambda d: d.get("status", {}).get("observedGeneration") == 1)
    assert not rolled_out(dep)
    assert dep["status"]["availableReplicas"] == 0 and dep["status"]["unavailableReplicas"] == 1
    assert {c["type"]: c["status"] for c in dep["status"]["conditions"]}["Available"] == "False"
    await cluster.wait_for("slow", rolled_out)


async def test_hpa_min_replicas_and_delete(cluster: Cluster) -> None:
    await cluster.client.create(DEPLOYMENTS, deployment("api", "x/api:1"))
    await cluster.wait_for("api", rolled_out)
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "minReplicas": 2,
            "maxReplicas": 4,
        },
    }
    await cluster.client.create(HPAS, hpa)
    dep = await cluster.wait_for("api", lambda d: d["spec"]["replicas"] == 2 and rolled_out(d))
    assert dep["status"]["readyReplicas"] == 2
    assert await cluster.pods("api") == [("Running", 1), ("Running", 1)]
    status = (await cluster.client.get(f"{HPAS}/api")).get("status") or {}
    assert status.get("desiredReplicas") == 2

    backend = cluster.controller.registry.get("default", "api")
    assert backend is not None and backend.pid is not None
    await cluster.client.delete(f"{DEPLOYMENTS}/api")
    for _ in range(100):
        if cluster.controller.registry.get("default", "api") is None and not alive(backend.pid):
            break
        await asyncio.sleep(0.05)
    assert cluster.controller.registry.get("default", "api") is None
    assert not alive(backend.pid)


async def test_stop_leaves_no_processes() -> None:
    api = ApiServer()
    url = await api.start()
    controller = WorkloadController(url, token=api.admin_token, ready_delay=0.0)
    await controller.start()
    async with KubeClient(url, token=api.admin_token) as client:
        for name in ("a", "b"):
            await client.create(DEPLOYMENTS, deployment(name, f"x/{name}:1"))
        for _ in range(200):
            if all((b := controller.registry.get("default", n)) and b.port for n in ("a", "b")):
                break
            await asyncio.sleep(0.05)
    pids = [b.pid for b in controller.registry.all() if b.pid]
    assert len(pids) == 2 and all(alive(p) for p in pids)
    await controller.stop()
    await api.stop()
    assert not any(alive(p) for p in pids)
    assert os.getpid() not in pids


async def test_crashing_release_exceeds_progress_deadline(cluster: Cluster) -> None:
    """A ``-crash`` tag never becomes ready: the old process keeps serving, Progressing turns False."""
    await cluster.client.create(DEPLOYMENTS, deployment("crashy", "x/crashy:1"))
    await cluster.wait_for("crashy", rolled_out)
    path = f"{DEPLOYMENTS}/crashy"
    image = {"containers": [{"name": "app", "image": "x/crashy:2-crash"}]}
    await cluster.client.patch(path, {"spec": {"progressDeadlineSeconds": 1, "template": {"spec": image}}})

    def stuck(dep: JSON) -> bool:
        conditions = {c["type"]: c for c in (dep.get("status") or {}).get("conditions", [])}
        return conditions.get("Progressing", {}).get("reason") == "ProgressDeadlineExceeded"

    dep = await cluster.wait_for("crashy", stuck, timeout=10)
    assert not rolled_out(dep) and dep["status"]["availableReplicas"] == 1
    assert (await cluster.answer("crashy"))["version"] == "1"
    # rolling back to a good image recovers at once
    await cluster.client.patch(
        path, {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x/crashy:3"}]}}}}
    )
    await cluster.wait_for("crashy", lambda d: rolled_out(d) and not stuck(d))
    assert (await cluster.answer("crashy"))["version"] == "3"
