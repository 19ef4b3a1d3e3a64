"""An HTTP forward proxy that answers cluster DNS names, so in-cluster URLs work on the sandbox.

A process given the sandbox's :meth:`~canary.sandbox.sandbox.Sandbox.proxy_env` (``HTTP_PROXY``,
``NO_PROXY=127.0.0.1,localhost,::1``) sends every plain-http request for a non-local host here as
an absolute URL (``GET http://podinfo-canary.test:9898/ HTTP/1.1``). The host is read as a cluster
DNS name, ``svc``, ``svc.ns``, ``svc.ns.svc`` or ``svc.ns.svc.cluster.local`` (a bare ``svc`` is in
``default``), and the request goes to the local process behind it:

- ``prometheus`` in any namespace (port 9090 or none): the sandbox's Prometheus;
- ``flagger-loadtester`` in any namespace (port 80): the sandbox's loadtester;
- a Service of the emulated API: one of the demo-app processes of the Deployments its selector
  picks (one at random per request, as kube-proxy would), counted in the data plane's Istio
  telemetry like its own traffic; a port the Service does not declare is refused, as in a cluster.

A cluster name that resolves to nothing is answered ``502`` with one line saying why; a name that is
not a cluster's (an IP, ``example.com`` when there is no namespace ``com``) is refused with ``403``,
and ``CONNECT`` (https, tunnels) with ``405``: the sandbox never reaches the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from .backends import BackendRegistry
from .kubeclient import ApiError, KubeClient
from .serving import serve
from .telemetry import Destination, IstioTelemetry

log = logging.getLogger(__name__)

#: Hosts every client reaches directly (the API emulator, Prometheus and the demo apps by IP).
NO_PROXY = "127.0.0.1,localhost,::1"
PROMETHEUS_SERVICE, PROMETHEUS_PORT = "prometheus", 9090
LOADTESTER_SERVICE, LOADTESTER_PORT = "flagger-loadtester", 80
#: Headers that concern one connection, never forwarded (RFC 9110 7.6.1, plus the proxy ones).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",  # recomputed for the body as forwarded
    }
)
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
LOOKUP_TTL = 1.0  # seconds a Service/namespace lookup is reused (keeps a load test off the API)


def proxy_env(proxy_url: str) -> dict[str, str]:
    """The environment that makes curl, requests, urllib, aiohttp (``trust_env=True``) use the proxy."""
    return {"HTTP_PROXY": proxy_url, "http_proxy": proxy_url, "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY}


@dataclass(frozen=True)
class ClusterName:
    """A host read as a cluster DNS name; ``qualified``: it cannot be anything else."""

    service: str
    namespace: str
    qualified: bool

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service}"


def parse_host(host: str) -> ClusterName | None:
    """``svc``, ``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.cluster.local``; None for anything else."""
    host = host.lower().rstrip(".")
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host.strip("[]"))
        return None
    labels = host.split(".")
    if host == "localhost" or not all(DNS_LABEL.fullmatch(label) for label in labels):
        return None
    if len(labels) == 1:
        return ClusterName(labels[0], "default", True)
    if len(labels) == 2:  # also what a public name looks like: decided by whether the namespace exists
        return ClusterName(labels[0], labels[1], False)
    if (len(labels) == 3 and labels[2] == "svc") or labels[2:] == ["svc", "cluster", "local"]:
        return ClusterName(labels[0], labels[1], True)
    return None


def _text(status: int, message: str, *, close: bool = False) -> web.Response:
    log.debug("proxy: %d %s", status, message)
    response = web.Response(status=status, text=message + "\n")
    if close:  # after a CONNECT the connection is the client's tunnel: never reuse it
        response.force_close()
    return response


def _forwardable(headers: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


class ClusterProxy:
    """The forward proxy; ``start()`` returns its url (``http://127.0.0.1:PORT``)."""

    def __init__(
        self,
        api_url: str,
        registry: BackendRegistry,
        *,
        token: str = "",
        prometheus_url: str = "",
        loadtester_url: str = "",
        telemetry: IstioTelemetry | None = None,
        port: int = 0,
        timeout: float = 120.0,
    ) -> None:
        self.client = KubeClient(api_url, token=token)
        self.registry = registry
        self.prometheus_url = prometheus_url  # read per request: may be set after start()
        self.loadtester_url = loadtester_url
        self.telemetry = telemetry
        self.port = port
        self.timeout = timeout
        self.url = ""
        self.requests = 0  # requests received (tests check that local clients bypass the proxy)
        self._cache: dict[str, tuple[float, Any]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.ServerRunner | None = None

    async def start(self) -> str:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, limit_per_host=64),
            timeout=aiohttp.ClientTimeout(total=self.timeout, sock_connect=5),
            auto_decompress=False,  # bodies pass through as the upstream encoded them
            skip_auto_headers=("Accept-Encoding", "Content-Type", "User-Agent"),
            cookie_jar=aiohttp.DummyCookieJar(),  # never carry one client's cookies to another
        )
        self._runner = web.ServerRunner(web.Server(self._handle), access_log=None, shutdown_timeout=0.5)
        self.port = await serve(self._runner, self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self.client.close()

    async def __aenter__(self) -> ClusterProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ requests
    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.requests += 1
        if request.method == "CONNECT":
            return _text(
                405,
                f"CONNECT {request.raw_path} refused: the sandbox proxy only serves plain http "
                "to cluster names (no https, no tunnels)",
                close=True,
            )
        if not request.raw_path.lower().startswith("http://"):
            return _text(
                400,
                "this is the sandbox's forward proxy: send absolute http:// URLs through it "
                "(HTTP_PROXY), e.g. http://podinfo.test:9898/",
                close=True,
            )
        url = request.url
        host, port = url.host or "", url.port or 80
        name = parse_host(host)
        if name is None:
            return _text(
                403, f"refused: {host} is not a cluster name (the sandbox never reaches the internet)"
            )
        try:
            if name.service == PROMETHEUS_SERVICE and url.explicit_port in (None, PROMETHEUS_PORT):
                return await self._local(request, self.prometheus_url, "prometheus")
            if name.service == LOADTESTER_SERVICE and port == LOADTESTER_PORT:
                return await self._local(request, self.loadtester_url, "flagger-loadtester")
            service = await self._lookup(f"/api/v1/namespaces/{name.namespace}/services/{name.service}")
            if service is not None:
                return await self._to_service(request, name, port, service)
            if not name.qualified and await self._lookup(f"/api/v1/namespaces/{name.namespace}") is None:
                return _text(
                    403,
                    f"refused: {host} is not a cluster name (no namespace {name.namespace}); "
                    "the sandbox never reaches the internet",
                )
        except (ApiError, aiohttp.ClientError, TimeoutError) as exc:
            return _text(502, f"could not resolve host {host}: the sandbox API did not answer: {exc}")
        return _text(
            502, f"could not resolve host {host}: no Service {name.service} in namespace {name.namespace}"
        )

    async def _lookup(self, path: str) -> Any:
        """GET an object of the emulated API (None when it does not exist), reused for LOOKUP_TTL."""
        now = asyncio.get_running_loop().time()
        cached = self._cache.get(path)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            found: Any = await self.client.get(path)
        except ApiError as exc:
            if exc.status != 404:
                raise
            found = None
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[path] = (now + LOOKUP_TTL, found)
        return found

    async def _local(self, request: web.BaseRequest, base_url: str, what: str) -> web.StreamResponse:
        if not base_url:
            return _text(502, f"could not resolve host {request.url.host}: the sandbox runs no {what}")
        try:
            return await self._send(request, base_url, await request.read())
        except TimeoutError:
            return _text(504, f"{what} did not answer within {self.timeout:g}s")
        except aiohttp.ClientError as exc:
            return _text(502, f"{what} is unreachable: {exc}")

    async def _to_service(
        self, request: web.BaseRequest, name: ClusterName, port: int, service: Mapping[str, Any]
    ) -> web.StreamResponse:
        spec = service.get("spec") or {}
        ports = [p.get("port") for p in spec.get("ports") or []]
        if ports and port not in ports:
            listed = ", ".join(str(p) for p in ports)
            return _text(502, f"connection refused: Service {name} has no port {port} (ports: {listed})")
        selector = spec.get("selector") or {}
        body = await request.read()
        loop = asyncio.get_running_loop()
        started = loop.time()
        workload, response = "unknown", None
        for _ in range(2):  # a failed connection is retried once, as the data plane (Envoy) does
            backends = self.registry.select(name.namespace, selector)
            ready = [b for b in backends if b.port is not None]
            if backends:
                workload = backends[0].name
            if not ready:
                response = _text(503, "no healthy upstream")
                break
            backend = random.choice(ready)
            workload = backend.name
            try:
                response = await self._send(request, f"http://127.0.0.1:{backend.port}", body)
                break
            except TimeoutError:
                response = _text(504, "upstream request timeout")
                break
            except aiohttp.ClientError:
                response = _text(503, "upstream connect error or disconnect/reset before headers")
        assert response is not None
        if self.telemetry is not None:
            dest = Destination(workload, name.namespace, name.service)
            self.telemetry.observe(dest, response.status, (loop.time() - started) * 1000.0)
        return response

    async def _send(self, request: web.BaseRequest, base_url: str, body: bytes) -> web.Response:
        """Forward method, path, headers (Host included) and body; answer with the upstream's reply."""
        assert self._session is not None
        async with self._session.request(
            request.method,
            base_url.rstrip("/") + request.url.raw_path_qs,
            headers=_forwardable(request.headers),
            data=body or None,
            allow_redirects=False,
        ) as upstream:
            content = await upstream.read()
            return web.Response(
                status=upstream.status,
                reason=upstream.reason,
                body=content,
                headers=_forwardable(upstream.headers),
            )
