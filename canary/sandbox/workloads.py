"""Simulated kube-controller-manager + kubelet for Deployments and HPAs.

Every apps/v1 Deployment with replicas > 0 runs one demo app process (:mod:`.demoapp`) whatever
its image: the version is the image tag, behaviour comes from the first container's env
``DEMO_ERROR_RATE`` (default 0) and ``DEMO_LATENCY_MS`` (default 20); a tag ending in ``-bad``
implies an error rate of 0.5 and ``-slow`` a latency of 800 ms unless env says otherwise; ``-crash``
(or ``DEMO_CRASH=true``) never becomes ready, so after ``progressDeadlineSeconds`` the rollout
reports Progressing=False/ProgressDeadlineExceeded while the old process keeps serving.

Status follows the real deployment controller (``calculateStatus``) for a RollingUpdate with
surge: while a new pod template rolls out, the old process keeps serving, ``replicas`` counts
old + new, ``updatedReplicas`` the new, ready/available the old, and Progressing has reason
ReplicaSetUpdated; once the new process answers ``/healthz`` and ``ready_delay`` passed, the old
one stops and status reads complete (Progressing/NewReplicaSetAvailable). So both ``kubectl
rollout status``-style checks and "observedGeneration == generation and updatedReplicas ==
status.replicas == availableReplicas" see the truth. HPAs only clamp ``spec.replicas`` into
[minReplicas, maxReplicas] (no metrics) and, like the real one, leave a Deployment scaled to 0 alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from .backends import Backend, BackendRegistry
from .kubeclient import JSON, ApiError, KubeClient, resource_path
from .pods import PodGroup, PodMirror
from .processes import spawn, terminate

log = logging.getLogger(__name__)

DEPLOYMENTS = "/apis/apps/v1/deployments"
HPAS = "/apis/autoscaling/v2/horizontalpodautoscalers"
BAD_ERROR_RATE = 0.5
SLOW_LATENCY_MS = 800.0
DEFAULT_LATENCY_MS = 20.0
START_TIMEOUT = 20.0
#: Longest a removed Deployment's teardown (process, Pods) may hold up the controller loop.
WORKER_STOP_SECONDS = 15.0


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_tag(image: str) -> str:
    """``repo/name:tag`` -> ``tag``; digests and untagged images (even ``host:5000/img``) -> ``latest``."""
    last = image.rsplit("/", 1)[-1].split("@", 1)[0]
    return last.split(":", 1)[1] if ":" in last else "latest"


@dataclass(frozen=True)
class DemoSpec:
    """What a pod template means to the sandbox: the demo app's arguments and the pod labels."""

    version: str
    error_rate: float
    latency_ms: float
    labels: Mapping[str, str] = field(default_factory=dict)
    template_hash: str = ""
    crash: bool = False

    @classmethod
    def from_deployment(cls, deployment: Mapping[str, Any]) -> DemoSpec:
        template = (deployment.get("spec") or {}).get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or [{}]
        first = containers[0]
        env = {e.get("name"): e.get("value") for e in first.get("env") or [] if isinstance(e, dict)}
        version = image_tag(str(first.get("image") or ""))
        error_rate = BAD_ERROR_RATE if version.endswith("-bad") else 0.0
        latency_ms = SLOW_LATENCY_MS if version.endswith("-slow") else DEFAULT_LATENCY_MS
        with contextlib.suppress(TypeError, ValueError):
            error_rate = float(str(env["DEMO_ERROR_RATE"])) if "DEMO_ERROR_RATE" in env else error_rate
        with contextlib.suppress(TypeError, ValueError):
            latency_ms = float(str(env["DEMO_LATENCY_MS"])) if "DEMO_LATENCY_MS" in env else latency_ms
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        labels = {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}
        crash = version.endswith("-crash") or str(env.get("DEMO_CRASH", "")).lower() in ("1", "true")
        return cls(version, error_rate, latency_ms, labels, digest, crash)


class CrashLoop(RuntimeError):
    """The pod template asks for a crashing app (tag ``-crash`` or ``DEMO_CRASH=true``)."""


class DemoProcess:
    """One running demo app; :meth:`start` returns once it answers ``/healthz``."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, spec: DemoSpec) -> None:
        self.proc = proc
        self.port = port
        self.spec = spec

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    @classmethod
    async def start(
        cls, spec: DemoSpec, name: str, session: aiohttp.ClientSession, log_dir: Path | None = None
    ) -> DemoProcess:
        argv = [
            sys.executable, "-m", "canary.sandbox.demoapp", "--port", "0", "--version", spec.version,
            "--error-rate", str(spec.error_rate), "--latency-ms", str(spec.latency_ms),
            "--name", name, "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        }
        log_path = log_dir / f"{name}.log" if log_dir else None
        proc = await spawn(argv, log_path=log_path, stdout_pipe=True, env=env)
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)).decode()
            if not line.startswith("READY port="):
                raise RuntimeError(f"demo app for {name} failed to start (exit code {proc.returncode})")
            self = cls(proc, int(line.split("=", 1)[1]), spec)
            await self._wait_healthy(session)
            return self
        except BaseException:
            await terminate(proc)
            raise

    async def _wait_healthy(self, session: aiohttp.ClientSession) -> None:
        url = f"http://127.0.0.1:{self.port}/healthz"
        for _ in range(int(START_TIMEOUT / 0.05)):
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"demo app on port {self.port} never became healthy")

    async def stop(self) -> None:
        await terminate(self.proc)


#: Python 3.11's ``asyncio.wait_for`` can swallow a cancellation that races with its inner future
#: completing (CPython gh-86296); a loop around it then runs on. Cancelling again recovers it.
CANCEL_ATTEMPTS = 20
CANCEL_WAIT_SECONDS = 0.5


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it ended, cancelling again if a cancellation was lost (bounded)."""
    for _ in range(CANCEL_ATTEMPTS):
        if task.done():
            break
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_WAIT_SECONDS)
    if not task.done():
        log.error("task %s did not stop after %d cancellations", task.get_name(), CANCEL_ATTEMPTS)
        return
    if not task.cancelled() and task.exception() is not None:
        log.debug("task %s ended with %r", task.get_name(), task.exception())


def max_unavailable(deployment: Mapping[str, Any], replicas: int) -> int:
    """RollingUpdate maxUnavailable (default 25%, rounded down like the real controller)."""
    rolling = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return replicas * int(value[:-1]) // 100
    return int(value)


class Conditions:
    """Deployment conditions that keep ``lastTransitionTime`` while their status is unchanged."""

    def __init__(self) -> None:
        self._known: dict[str, JSON] = {}

    def set(self, kind: str, status: bool, reason: str, message: str) -> JSON:
        text = "True" if status else "False"
        old = self._known.get(kind)
        moved = old is None or old["status"] != text
        updated = now() if old is None or old["reason"] != reason or moved else old["lastUpdateTime"]
        cond = {
            "type": kind, "status": text, "reason": reason, "message": message,
            "lastUpdateTime": updated, "lastTransitionTime": now() if moved else old["lastTransitionTime"],  # type: ignore[index]
        }  # fmt: skip
        self._known[kind] = cond
        return cond


def deployment_status(
    deployment: Mapping[str, Any],
    conditions: Conditions,
    *,
    replicas: int,
    updated: int,
    available: int,
    rolling: bool,
    rs_name: str,
    stalled: bool = False,
) -> JSON:
    """The status the deployment controller would compute (``calculateStatus`` + conditions)."""
    desired = int((deployment.get("spec") or {}).get("replicas", 1))
    has_minimum = available >= desired - max_unavailable(deployment, desired)
    available_cond = conditions.set(
        "Available",
        has_minimum,
        "MinimumReplicasAvailable" if has_minimum else "MinimumReplicasUnavailable",
        "Deployment has minimum availability."
        if has_minimum
        else "Deployment does not have minimum availability.",
    )
    if stalled:
        progress = (False, "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.')
    elif rolling:
        progress = (True, "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
    else:
        progress = (True, "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
    progressing_cond = conditions.set("Progressing", *progress)
    return {
        "observedGeneration": int((deployment.get("metadata") or {}).get("generation") or 1),
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": available,
        "availableReplicas": available,
        "unavailableReplicas": max(0, replicas - available),
        "conditions": [available_cond, progressing_cond],
    }


class DeploymentWorker:
    """Drives one Deployment: process lifecycle and status, one reconcile at a time."""

    def __init__(self, controller: WorkloadController, deployment: JSON) -> None:
        meta = deployment["metadata"]
        self.namespace: str = meta.get("namespace", "default")
        self.name: str = meta["name"]
        self.path = resource_path("apps/v1", "deployments", self.namespace, self.name)
        self.controller = controller
        self.desired = deployment
        self.current: DemoProcess | None = None
        self.current_replicas = 0
        self.reconciled_generation: int | None = None
        self.conditions = Conditions()
        self.last_status: JSON | None = None
        self.rollout: str | None = None  # template hash being rolled out, and since when
        self.rollout_since = 0.0
        self.pods = PodMirror(controller.client, self.namespace, self.name)
        self.wake = asyncio.Event()
        self.wake.set()
        self.task = asyncio.create_task(self._run(), name=f"deployment {self.namespace}/{self.name}")

    def update(self, deployment: JSON) -> None:
        """Take the latest object; wake up if there is anything to do."""
        self.desired = deployment
        generation = deployment["metadata"].get("generation")
        observed = (deployment.get("status") or {}).get("observedGeneration")
        dead = self.current is not None and not self.current.alive
        if generation != self.reconciled_generation or observed != generation or dead:
            self.wake.set()

    async def stop(self) -> None:
        await cancel_and_wait(self.task)
        if self.current is not None:
            await self.current.stop()
            self.current = None
        self.controller.registry.remove(self.namespace, self.name)
        await self.pods.delete_all()

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                await self.reconcile()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, ApiError) and exc.status == 404:
                    continue  # deleted; the controller stops us
                level = logging.INFO if isinstance(exc, CrashLoop) else logging.WARNING
                log.log(
                    level, "deployment %s/%s: %s (retry in %.1fs)", self.namespace, self.name, exc, backoff
                )
                with contextlib.suppress(TimeoutError):  # a spec change retries at once
                    await asyncio.wait_for(self.wake.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
                self.wake.set()

    def _backend(self, labels: Mapping[str, str]) -> Backend:
        proc = self.current
        if proc is None or not proc.alive:
            return Backend(self.namespace, self.name, labels)
        return Backend(self.namespace, self.name, labels, proc.port, proc.spec.version, proc.proc.pid)

    async def _patch_status(self, deployment: JSON, pods: list[PodGroup], **counts: Any) -> None:
        """Patch the Deployment's status (if it changed), then mirror ``pods`` as Pod objects."""
        rs_name = f"{self.name}-{DemoSpec.from_deployment(deployment).template_hash}"
        status = deployment_status(deployment, self.conditions, rs_name=rs_name, **counts)
        comparable = {
            **status,
            "conditions": [(c["type"], c["status"], c["reason"]) for c in status["conditions"]],
        }
        if (
            comparable != self.last_status
            or (deployment.get("status") or {}).get("observedGeneration") != status["observedGeneration"]
        ):
            await self.controller.client.patch_status(self.path, status)
            self.last_status = comparable
        await self.pods.sync(deployment, pods)

    async def reconcile(self) -> None:
        deployment = self.desired
        generation = deployment["metadata"].get("generation")
        replicas = int((deployment.get("spec") or {}).get("replicas", 1))
        spec = DemoSpec.from_deployment(deployment)
        alive = self.current is not None and self.current.alive
        if replicas == 0:
            if self.current is not None:
                await self.current.stop()
                self.current = None
            self.controller.registry.set(self._backend(spec.labels))
            await self._patch_status(deployment, [], replicas=0, updated=0, available=0, rolling=False)
        elif alive and self.current is not None and self.current.spec.template_hash == spec.template_hash:
            self.current_replicas = replicas
            self.controller.registry.set(self._backend(spec.labels))
            pods = [PodGroup(spec.template_hash, replicas, True)]
            await self._patch_status(
                deployment, pods, replicas=replicas, updated=replicas, available=replicas, rolling=False
            )
        else:
            await self._roll_out(deployment, spec, replicas, alive)
        self.reconciled_generation = generation

    async def _roll_out(self, deployment: JSON, spec: DemoSpec, replicas: int, alive: bool) -> None:
        """Surge: start the new process while the old one serves, then swap and stop the old."""
        old_replicas = self.current_replicas if alive else 0
        if self.current is None or not alive:
            self.controller.registry.set(self._backend(spec.labels))
        pods = [PodGroup(spec.template_hash, replicas, False)]
        if alive and self.current is not None:
            pods.append(PodGroup(self.current.spec.template_hash, old_replicas, True))
        now_ = asyncio.get_running_loop().time()
        if self.rollout != spec.template_hash:
            self.rollout, self.rollout_since = spec.template_hash, now_
        deadline = int((deployment.get("spec") or {}).get("progressDeadlineSeconds") or 600)
        await self._patch_status(
            deployment,
            pods,
            replicas=old_replicas + replicas,
            updated=replicas,
            available=old_replicas,
            rolling=True,
            stalled=now_ - self.rollout_since > deadline,
        )
        if spec.crash:
            raise CrashLoop(f"image tag {spec.version!r} crashes on start (CrashLoopBackOff)")
        new = await DemoProcess.start(spec, self.name, self.controller.session, self.controller.log_dir)
        try:
            await asyncio.sleep(self.controller.ready_delay)
        except BaseException:
            await new.stop()
            raise
        old, self.current, self.current_replicas, self.rollout = self.current, new, replicas, None
        self.controller.registry.set(self._backend(spec.labels))
        if old is not None:
            await old.stop()
        pods = [PodGroup(spec.template_hash, replicas, True)]
        await self._patch_status(
            deployment, pods, replicas=replicas, updated=replicas, available=replicas, rolling=False
        )


class WorkloadController:
    """Level-triggered: every watch event (or ``resync`` seconds) re-lists Deployments and HPAs."""

    def __init__(
        self,
        api_url: str,
        registry: BackendRegistry | None = None,
        *,
        token: str = "",
        ready_delay: float = 1.0,
        resync: float = 1.0,
        log_dir: Path | None = None,
    ) -> None:
        self.client = KubeClient(api_url, token=token)
        self.registry = registry if registry is not None else BackendRegistry()
        self.ready_delay = ready_delay
        self.resync = resync
        self.log_dir = log_dir
        self.workers: dict[tuple[str, str], DeploymentWorker] = {}
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """For health checks of the demo apps."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.client.watch_changes(DEPLOYMENTS, self._changed)),
            asyncio.create_task(self.client.watch_changes(HPAS, self._changed)),
            asyncio.create_task(self._loop()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []
        await asyncio.gather(*(w.stop() for w in self.workers.values()), return_exceptions=True)
        self.workers.clear()
        await self.client.close()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> WorkloadController:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.resync)
            self._changed.clear()
            try:
                await self.reconcile_all()
            except (TimeoutError, aiohttp.ClientError, ApiError) as exc:
                log.warning("workload controller: %s", exc)
            except asyncio.CancelledError:
                raise
            except Exception:  # the controller must outlive any one bad object, as kube's does
                log.exception("workload controller: reconcile failed; retrying on the next change")

    async def reconcile_all(self) -> None:
        deployments = await self.client.list(DEPLOYMENTS)
        if await self._apply_hpas(deployments):
            deployments = await self.client.list(DEPLOYMENTS)
        seen = set()
        for deployment in deployments:
            meta = deployment["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            key = (meta.get("namespace", "default"), meta["name"])
            seen.add(key)
            worker = self.workers.get(key)
            if worker is None:
                self.workers[key] = DeploymentWorker(self, deployment)
            else:
                worker.update(deployment)
        for key in [k for k in self.workers if k not in seen]:
            # Bounded: one Deployment's teardown must not stall every other Deployment.
            try:
                await asyncio.wait_for(self.workers.pop(key).stop(), WORKER_STOP_SECONDS)
            except TimeoutError:
                log.warning("workload controller: stopping deployment %s/%s timed out", *key)

    async def _apply_hpas(self, deployments: list[JSON]) -> bool:
        """Clamp each HPA target's replicas into [min, max]; True when a Deployment was patched."""
        by_key = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in deployments}
        patched = False
        for hpa in await self.client.list(HPAS):
            meta, spec = hpa["metadata"], hpa.get("spec") or {}
            ref = spec.get("scaleTargetRef") or {}
            target = by_key.get((meta.get("namespace"), ref.get("name")))
            if ref.get("kind") != "Deployment" or target is None:
                continue
            current = int((target.get("spec") or {}).get("replicas", 1))
            low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", current))
            desired = current if current == 0 else min(max(current, low), high)
            if desired != current:
                path = resource_path("apps/v1", "deployments", meta.get("namespace"), ref["name"])
                await self.client.patch(path, {"spec": {"replicas": desired}})
                patched = True
            status = {"currentReplicas": current, "desiredReplicas": desired}
            if any((hpa.get("status") or {}).get(k) != v for k, v in status.items()):
                hpa_path = resource_path(
                    "autoscaling/v2", "horizontalpodautoscalers", meta.get("namespace"), meta["name"]
                )
                if desired != current:
                    status["lastScaleTime"] = now()  # type: ignore[assignment]
                with contextlib.suppress(ApiError):
                    await self.client.patch_status(hpa_path, status)
        return patched
