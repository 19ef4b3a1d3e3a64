"""An in-process Kubernetes API server emulator for the sandbox (aiohttp + in-memory store).

Real kopf, kubectl and the ``kubernetes`` client talk to it over plain HTTP on 127.0.0.1.
See the module docstrings of ``handlers``, ``validation`` and ``openapi`` for what is modelled.
"""

from __future__ import annotations

import asyncio
import os
import threading
from types import TracebackType
from typing import Any

import yaml
from aiohttp import web

from ..serving import serve
from .gc import GarbageCollector
from .handlers import Handlers
from .registry import Registry, ResourceType
from .store import HISTORY_SIZE, Event, Store

__all__ = ["ApiServer", "ApiServerThread", "Event", "Registry", "ResourceType", "Store"]


def make_kubeconfig(url: str, namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig for a plain-http, auth-less server (kubectl and the python client accept it)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": url}}],
        "users": [{"name": "sandbox", "user": {}}],
        "contexts": [
            {"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": namespace}}
        ],
        "current-context": "sandbox",
        "preferences": {},
    }


class ApiServer:
    """The emulator on an asyncio loop; ``start()`` binds 127.0.0.1 on a free port by default."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, history_size: int = HISTORY_SIZE) -> None:
        self.host = host
        self.port = port
        self.url = ""
        self.store = Store(history_size=history_size)
        self.registry = Registry()
        self.handlers = Handlers(self.store, self.registry)
        self._runner: web.AppRunner | None = None
        self._gc: GarbageCollector | None = None

    async def start(self) -> str:
        self._gc = GarbageCollector(self.store, asyncio.get_running_loop())
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handlers.dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        self.port = await serve(self._runner, self.port, self.host)
        self.url = f"http://{self.host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        self.store.close_watchers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        return make_kubeconfig(self.url, namespace)

    def write_kubeconfig(self, path: str | os.PathLike[str], namespace: str = "default") -> None:
        with open(path, "w") as f:
            yaml.safe_dump(self.kubeconfig(namespace), f)


class ApiServerThread:
    """Runs an :class:`ApiServer` on its own loop in a daemon thread; for pytest and sync code.

    ``call(fn, *args)`` runs ``fn`` on the server loop (the only safe way to touch ``store`` directly).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        self.server = ApiServer(host, port, **kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sandbox-apiserver", daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def store(self) -> Store:
        return self.server.store

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        return self.server.kubeconfig(namespace)

    def write_kubeconfig(self, path: str | os.PathLike[str], namespace: str = "default") -> None:
        self.server.write_kubeconfig(path, namespace)

    def call(self, fn: Any, *args: Any) -> Any:
        """Run a sync callable on the server loop and return its result."""

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def start(self) -> str:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(timeout=10)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> ApiServerThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
