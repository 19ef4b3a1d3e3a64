"""The sandbox's traffic: a bounded load generator, a router, and Istio-style telemetry.

Every entry point the resolvers find (each HTTPRoute, Istio VirtualService and main NGINX Ingress
in the cluster, plus the Services listed in ``services``) gets an equal share of ``rps``. Each
request picks a destination Service by weight, then one of the Deployments its selector matches,
and really goes over HTTP to that Deployment's demo app process. What happened is counted as Istio
would report it at the destination and exposed on ``/metrics`` (``/routes`` shows the routing).
A destination without a ready process counts as a 503; connection failures are retried once,
like Envoy's default retry policy, so a process swap during a rollout is not counted as an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web

from .backends import BackendRegistry
from .kubeclient import ApiError, KubeClient
from .routing import COLLECTIONS, EntryPoint, Resolver, Snapshot, WeightedBackend, default_resolvers
from .serving import serve
from .telemetry import Destination, IstioTelemetry

log = logging.getLogger(__name__)

SERVICES = "/api/v1/services"
TICK = 0.02  # load generator granularity (seconds)


class DataPlane:
    """Load generator + router + ``/metrics``; ``start()`` returns the metrics server's url."""

    def __init__(
        self,
        api_url: str,
        registry: BackendRegistry,
        *,
        token: str = "",
        rps: float = 50.0,
        port: int = 0,
        services: Sequence[tuple[str, str]] = (),
        resolvers: Sequence[Resolver] | None = None,
        timeout: float = 5.0,
        max_in_flight: int = 256,
        resync: float = 1.0,
    ) -> None:
        self.client = KubeClient(api_url, token=token)
        self.registry = registry
        self.rps = rps
        self.port = port
        self.resolvers = list(resolvers) if resolvers is not None else default_resolvers(services)
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.resync = resync
        self.telemetry = IstioTelemetry()
        self.entry_points: list[EntryPoint] = []
        self.sent = 0
        self.dropped = 0
        self.url = ""
        self._snapshot = Snapshot(registry)
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        registry.add_listener(self._resolve)

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/routes", self._routes)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        self.port = await serve(self._runner, self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self._session = aiohttp.ClientSession(
            # per-host limit: a slow backend must not starve the others of connections
            connector=aiohttp.TCPConnector(limit=self.max_in_flight, limit_per_host=64),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )
        collections = [SERVICES, *(COLLECTIONS[r.kind] for r in self.resolvers if r.kind in COLLECTIONS)]
        self._tasks = [asyncio.create_task(self.client.watch_changes(c, self._changed)) for c in collections]
        self._tasks += [asyncio.create_task(self._refresh_loop()), asyncio.create_task(self._load_loop())]
        return self.url

    async def stop(self) -> None:
        for task in [*self._tasks, *self._in_flight]:
            task.cancel()
        for task in [*self._tasks, *self._in_flight]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks, self._in_flight = [], set()
        if self._session is not None:
            await self._session.close()
        await self.client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> DataPlane:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ routing
    async def refresh(self) -> None:
        """Re-read Services and routing objects; kinds whose CRD is not installed count as empty."""
        snapshot = Snapshot(self.registry)
        for svc in await self.client.list(SERVICES):
            meta = svc["metadata"]
            snapshot.services[(meta.get("namespace", "default"), meta["name"])] = svc
        for resolver in self.resolvers:
            path = COLLECTIONS.get(resolver.kind)
            if path is None:
                continue
            try:
                snapshot.objects[resolver.kind] = await self.client.list(path)
            except ApiError as exc:
                if exc.status != 404:
                    raise
        self._snapshot = snapshot
        self._resolve()

    def _resolve(self) -> None:
        self.entry_points = [e for r in self.resolvers for e in r.resolve(self._snapshot)]

    async def _refresh_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.resync)
            self._changed.clear()
            try:
                await self.refresh()
            except (aiohttp.ClientError, ApiError, TimeoutError) as exc:
                log.warning("data plane: cannot read routes: %s", exc)

    # ------------------------------------------------------------------ load
    async def _load_loop(self) -> None:
        loop = asyncio.get_running_loop()
        due, carry, turn = loop.time(), 0.0, 0
        while True:
            due = max(due + TICK, loop.time() - 1.0)  # never burst more than a second's worth
            await asyncio.sleep(max(0.0, due - loop.time()))
            entries = self.entry_points
            if not entries:
                carry = 0.0
                continue
            carry += self.rps * TICK
            count, carry = int(carry), carry - int(carry)
            for _ in range(count):
                entry, turn = entries[turn % len(entries)], turn + 1
                if len(self._in_flight) >= self.max_in_flight:
                    self.dropped += 1
                    continue
                task = asyncio.create_task(self.send(entry))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def send(self, entry: EntryPoint, path: str = "/") -> int | None:
        """One request through ``entry``; returns the response code (None: no weighted backend)."""
        choice = entry.pick()
        if choice is None:
            return None
        backend = choice.pick()
        dest = Destination(backend.name if backend else "unknown", choice.namespace, choice.service)
        loop = asyncio.get_running_loop()
        started = loop.time()
        code = await self._request(dest, path) if backend is not None else 503
        self.sent += 1
        self.telemetry.observe(dest, code, (loop.time() - started) * 1000.0)
        return code

    async def _request(self, dest: Destination, path: str) -> int:
        """GET from the destination's current process; a failed connection is retried once."""
        for _ in range(2):
            backend = self.registry.get(dest.namespace, dest.workload)
            if backend is None or backend.port is None or self._session is None:
                return 503
            try:
                async with self._session.get(f"http://127.0.0.1:{backend.port}{path}") as resp:
                    await resp.read()
                    return resp.status
            except TimeoutError:
                return 504
            except aiohttp.ClientError:
                continue
        return 503

    # ------------------------------------------------------------------ http
    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.telemetry.render(), content_type="text/plain", charset="utf-8")

    async def _routes(self, request: web.Request) -> web.Response:
        routes = [
            {"entryPoint": e.key, "backends": [_describe(b) for b in e.backends]} for e in self.entry_points
        ]
        return web.json_response(
            {"rps": self.rps, "sent": self.sent, "dropped": self.dropped, "routes": routes}
        )


def _describe(backend: WeightedBackend) -> dict[str, Any]:
    workloads = [{"name": w.name, "port": w.port, "version": w.version} for w in backend.workloads]
    return {
        "service": f"{backend.namespace}/{backend.service}",
        "weight": backend.weight,
        "workloads": workloads,
    }
