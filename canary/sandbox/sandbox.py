"""The whole sandbox cluster in one object: API emulator, workloads, traffic, Prometheus.

``async with Sandbox() as sb`` starts, in order, the API emulator (with the project's CRDs and the
Gateway API HTTPRoute CRD installed), the workload controller, the data plane, Prometheus, the
cluster-DNS forward proxy and Flagger's loadtester, and stops them in reverse order, even after a
failed start. A process given :meth:`Sandbox.proxy_env` reaches in-cluster URLs
(``http://podinfo-canary.test:9898/``, ``http://flagger-loadtester.test/``,
``http://prometheus.monitoring:9090``) through the proxy (:mod:`canary.sandbox.proxy`). Gateways are not modelled: an HTTPRoute's
parentRefs are ignored and every route receives traffic. :class:`SandboxThread` runs the same thing
on a background loop for synchronous code (pytest, scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from canary.api.crdgen import all_crds

from .apiserver import ApiServer
from .backends import BackendRegistry
from .dataplane import DataPlane
from .kubeclient import ApiError, KubeClient
from .loadtester import LoadTester
from .prometheus import PrometheusProcess
from .proxy import ClusterProxy, proxy_env
from .workloads import WorkloadController

log = logging.getLogger(__name__)

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
SANDBOX_CRDS = Path(__file__).parent / "crds"


def sandbox_crds() -> list[dict[str, Any]]:
    """The project's CRDs, generated from the models (the same source as ``crds/``), and the vendored
    Gateway API HTTPRoute CRD: works from a checkout and from an installed package alike."""
    vendored = [
        doc
        for path in sorted(SANDBOX_CRDS.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
    ]
    return [*all_crds(), *vendored]


async def install_crds(client: KubeClient, crds: Sequence[dict[str, Any]]) -> list[str]:
    """POST every CustomResourceDefinition; already-present ones are left alone."""
    names = []
    for doc in crds:
        name = str(doc["metadata"]["name"])
        try:
            await client.create(CRD_PATH, doc)
        except ApiError as exc:
            if exc.status != 409:
                raise RuntimeError(f"cannot install the CRD {name}: {exc}") from exc
        names.append(name)
    return names


class Sandbox:
    """A local cluster: ``kubeconfig_path``, ``api_url``, ``prometheus_url``, ``dataplane``,
    ``proxy_url``, ``proxy_env()`` and ``loadtester`` once started."""

    def __init__(
        self,
        *,
        api_port: int = 0,
        prometheus_port: int = 0,
        dataplane_port: int = 0,
        rps: float = 50.0,
        ready_delay: float = 1.0,
        services: Sequence[tuple[str, str]] = (),
        workdir: Path | str | None = None,
        kubeconfig_path: Path | str | None = None,
        namespaces: Sequence[str] = ("default",),
        wait_for_scrape: bool = True,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="canary-sandbox-")) if workdir is None else Path(workdir)
        self.kubeconfig_path = Path(kubeconfig_path) if kubeconfig_path else self.workdir / "kubeconfig.yaml"
        self.namespaces = list(namespaces)
        self.wait_for_scrape = wait_for_scrape
        self.registry = BackendRegistry()
        self.api = ApiServer(port=api_port)
        self.prometheus = PrometheusProcess(prometheus_port, workdir=self.workdir)
        self.rps, self.ready_delay, self.services, self.dataplane_port = (
            rps,
            ready_delay,
            list(services),
            dataplane_port,
        )
        self.controller: WorkloadController | None = None
        self._dataplane: DataPlane | None = None
        self.proxy: ClusterProxy | None = None
        self.loadtester: LoadTester | None = None
        self._stops: list[Callable[[], Awaitable[None]]] = []

    @property
    def api_url(self) -> str:
        return self.api.url

    @property
    def prometheus_url(self) -> str:
        return self.prometheus.url

    @property
    def proxy_url(self) -> str:
        """The forward proxy serving cluster DNS names (``http://127.0.0.1:PORT``)."""
        if self.proxy is None or not self.proxy.url:
            raise RuntimeError("sandbox not started")
        return self.proxy.url

    def proxy_env(self) -> dict[str, str]:
        """Environment for a process that should resolve in-cluster URLs as a pod would:
        ``HTTP_PROXY``/``http_proxy`` (the proxy) and ``NO_PROXY``/``no_proxy`` (127.0.0.1,
        localhost, ::1: the API server and Prometheus by IP stay direct)."""
        return proxy_env(self.proxy_url)

    @property
    def dataplane(self) -> DataPlane:
        if self._dataplane is None:
            raise RuntimeError("sandbox not started")
        return self._dataplane

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self.api.start()
        self._stops.append(self.api.stop)
        async with KubeClient(self.api.url, token=self.api.admin_token) as client:
            installed = await install_crds(client, sandbox_crds())
            for namespace in self.namespaces:
                with contextlib.suppress(ApiError):  # 409: the emulator may create it itself
                    await client.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
        log.info("sandbox: CRDs installed: %s", ", ".join(installed))
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        self.controller = WorkloadController(
            self.api.url,
            self.registry,
            token=self.api.admin_token,
            ready_delay=self.ready_delay,
            log_dir=logs,
        )
        await self.controller.start()
        self._stops.append(self.controller.stop)
        self._dataplane = DataPlane(
            self.api.url,
            self.registry,
            token=self.api.admin_token,
            rps=self.rps,
            port=self.dataplane_port,
            services=self.services,
        )
        await self._dataplane.start()
        self._stops.append(self._dataplane.stop)
        self.prometheus.add_target(self._dataplane.host_port, {"component": "dataplane"})
        self.registry.add_listener(self._scrape_workloads)
        self._scrape_workloads()
        await self.prometheus.start()
        self._stops.append(self.prometheus.stop)
        self.proxy = ClusterProxy(
            self.api.url,
            self.registry,
            token=self.api.admin_token,
            prometheus_url=self.prometheus.url,
            telemetry=self._dataplane.telemetry,
        )
        await self.proxy.start()
        self._stops.append(self.proxy.stop)
        self.loadtester = LoadTester(
            proxy_url=self.proxy.url,
            env={**self.proxy_env(), "KUBECONFIG": str(self.kubeconfig_path)},
        )
        self.proxy.loadtester_url = await self.loadtester.start()
        self._stops.append(self.loadtester.stop)
        if self.wait_for_scrape:  # Prometheus applies new targets only every 5 s: ~6 s after its start
            await self.prometheus.wait_for_series('up{component="dataplane"} == 1', timeout=30)
        self.api.write_kubeconfig(self.kubeconfig_path)

    def _scrape_workloads(self) -> None:
        """Keep Prometheus scraping every running demo app (its own http_requests_total etc.)."""
        targets = {
            f"127.0.0.1:{b.port}": {
                "component": "demoapp",
                "namespace": b.namespace,
                "deployment": b.name,
                "version": b.version,
            }
            for b in self.registry.all()
            if b.port is not None
        }
        self.prometheus.set_targets("workloads", targets)

    async def stop(self) -> None:
        """Stop whatever started, newest first; errors are logged, never stop the rest."""
        while self._stops:
            stop = self._stops.pop()
            try:
                await stop()
            except Exception:
                log.exception("sandbox: error while stopping")
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class SandboxThread:
    """:class:`Sandbox` on its own event loop in a daemon thread; a sync context manager."""

    def __init__(self, **options: Any) -> None:
        self.sandbox = Sandbox(**options)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="canary-sandbox", daemon=True)

    def __getattr__(self, name: str) -> Any:
        """``kubeconfig_path``, ``api_url``, ``prometheus_url``, ``dataplane``, ``registry``… of the sandbox."""
        if "sandbox" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["sandbox"], name)

    def call(self, coro: Awaitable[Any], timeout: float = 60.0) -> Any:
        """Run a coroutine on the sandbox loop (the only safe way to touch its objects)."""

        async def run() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def service_account_kubeconfig(
        self, namespace: str, name: str, path: Path | str, *, expiration_seconds: int = 3600
    ) -> Path:
        """Write a kubeconfig that authenticates as ServiceAccount ``namespace/name`` (a TokenRequest
        token; the ServiceAccount must exist), for least-privilege runs; the admin's is ``kubeconfig_path``."""
        api = self.sandbox.api

        async def token() -> str:
            return api.service_account_token(namespace, name, expiration_seconds)

        api.write_kubeconfig(path, namespace, token=self.call(token()))
        return Path(path)

    def start(self) -> SandboxThread:
        self._thread.start()
        self.call(self.sandbox.start(), timeout=120.0)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self.sandbox.stop(), timeout=60.0)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self.loop.close()

    def __enter__(self) -> SandboxThread:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
