"""The operator's HTTP endpoint: ``/metrics`` for Prometheus, ``/healthz`` and ``/readyz`` for the kubelet.

One port (``--metrics-port``, 8080 by default) serves all three, as Flagger and Argo Rollouts do.
``/readyz`` answers 200 once the replica is useful: standing by for the leader Lease, or leading
with kopf's watches started. A standby replica is ready on purpose: a rolling update of the
operator's own Deployment waits for the new pod to be ready, and only one replica ever leads.
"""

from __future__ import annotations

import enum

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from canary.operator.recorder import Recorder

DEFAULT_METRICS_PORT = 8080


class Readiness(enum.Enum):
    STARTING = "starting"
    STANDBY = "standing by for the leader lease"
    LEADING = "leading"
    STOPPING = "stopping"


class ProbeServer:
    """Serves the recorder's registry and the replica's readiness on the operator's event loop."""

    def __init__(self, recorder: Recorder, host: str, port: int) -> None:
        self.recorder = recorder
        self.host = host
        self.port = port
        self.readiness = Readiness.STARTING
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (0 asks for a free one)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1]) if self._runner.addresses else self.port
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.recorder.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        """Alive while the event loop answers: a wedged loop fails the probe and the pod restarts."""
        return web.Response(text="ok")

    async def _readyz(self, _: web.Request) -> web.Response:
        ready = self.readiness in (Readiness.STANDBY, Readiness.LEADING)
        return web.Response(text=self.readiness.value, status=200 if ready else 503)


__all__ = ["DEFAULT_METRICS_PORT", "ProbeServer", "Readiness"]
