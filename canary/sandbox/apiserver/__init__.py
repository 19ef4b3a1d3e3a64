"""An in-process Kubernetes API server emulator for the sandbox (aiohttp + in-memory store).

Real kopf, kubectl and the ``kubernetes`` client talk to it over plain HTTP on 127.0.0.1.
See the module docstrings of ``handlers``, ``validation`` and ``openapi`` for what is modelled, and
``auth``, ``rbac``, ``ownerrefs`` and ``access`` for authentication, RBAC and the permission record.

Every server has a random admin token (``system:admin`` in ``system:masters``), which
:meth:`ApiServer.kubeconfig` carries along with an admin client certificate (like kind's admin.conf);
its server is the HTTPS port (kubectl sends credentials over TLS only), ``url`` the plain-http one.
``kubeconfig(token=...)`` builds one for another token (no certificate), e.g. a ServiceAccount's from
:meth:`ApiServer.service_account_token`.  ``kubectl --token`` with the admin kubeconfig still
authenticates by its certificate, as kube tries x509 first.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from types import TracebackType
from typing import Any

import yaml
from aiohttp import web

from ..serving import serve
from . import tls
from .access import Access, AccessLog, Permission, granted, unused
from .auth import ADMIN, MASTERS, UserInfo, service_account_user
from .gc import GarbageCollector
from .handlers import Handlers
from .rbac import Authorizer, Grant
from .registry import Registry, ResourceType
from .reviews import token_request
from .store import HISTORY_SIZE, Event, Store

__all__ = [
    "Access", "AccessLog", "ApiServer", "ApiServerThread", "Event", "Grant", "Permission", "Registry",
    "ResourceType", "Store", "UserInfo", "make_kubeconfig",
]  # fmt: skip


def make_kubeconfig(
    url: str,
    namespace: str = "default",
    token: str = "",
    ca_pem: bytes = b"",
    client_cert: tuple[bytes, bytes] | None = None,
) -> dict[str, Any]:
    """A kubeconfig for the emulator; ``token`` is sent as a bearer token (none: anonymous).

    kubectl sends credentials only to an ``https`` server (``ca_pem`` its CA); over http it is anonymous.
    ``client_cert`` (certificate and key PEM) adds an x509 identity, as kubeadm's admin.conf has.
    """
    cluster: dict[str, Any] = {"server": url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user: dict[str, Any] = {"token": token} if token else {}
    if client_cert is not None:
        user["client-certificate-data"] = base64.b64encode(client_cert[0]).decode()
        user["client-key-data"] = base64.b64encode(client_cert[1]).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": cluster}],
        "users": [{"name": "sandbox", "user": user}],
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
        self.https_url = ""  # kubeconfigs use it: kubectl sends credentials over TLS only (see ``tls``)
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
        cert = tls.certificate()
        if cert is not None:
            site = web.TCPSite(self._runner, self.host, 0, ssl_context=cert.server_context())
            await site.start()
            sockets = getattr(site._server, "sockets", None) or []
            self.https_url = f"https://{self.host}:{sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        self.store.close_watchers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def admin_token(self) -> str:
        """The bearer token of ``system:admin`` (group ``system:masters``: always allowed)."""
        return self.handlers.authn.admin_token

    @property
    def authorizer(self) -> Authorizer:
        return self.handlers.authz

    @property
    def access_log(self) -> AccessLog:
        """Every distinct request by a non-admin user, allowed or denied, and the rule that allowed it."""
        return self.handlers.access

    def kubeconfig(self, namespace: str = "default", token: str | None = None) -> dict[str, Any]:
        """The admin kubeconfig (token and client certificate), or one for ``token`` (``""``: anonymous)."""
        cert = tls.certificate() if self.https_url else None
        admin = tls.client_certificate(ADMIN.name, (MASTERS,)) if cert is not None and token is None else None
        return make_kubeconfig(
            self.https_url or self.url,
            namespace,
            self.admin_token if token is None else token,
            ca_pem=cert.pem if cert is not None else b"",
            client_cert=(admin.pem, admin.key_pem) if admin is not None else None,
        )

    def write_kubeconfig(
        self, path: str | os.PathLike[str], namespace: str = "default", token: str | None = None
    ) -> None:
        with open(path, "w") as f:
            yaml.safe_dump(self.kubeconfig(namespace, token), f)

    def service_account_token(self, namespace: str, name: str, expiration_seconds: int = 3600) -> str:
        """A bound token for an existing ServiceAccount (TokenRequest, in-process; on the server loop)."""
        body = {"spec": {"expirationSeconds": expiration_seconds}}
        return str(token_request(self.handlers.authn, self.store, namespace, name, body)["status"]["token"])

    def permissions_used(self, user: str, *, allowed: bool | None = None) -> set[Access]:
        """The distinct requests ``user`` made (e.g. ``system:serviceaccount:ns:sa``)."""
        return self.access_log.permissions_used(user, allowed=allowed)

    def grant_for(self, access: Access) -> Grant | None:
        """The binding, role and rule index that allowed a recorded request."""
        return self.access_log.grant_for(access)

    def granted(self, user: str | UserInfo) -> set[Permission]:
        """Every (verb, apiGroup, resource) the user's bindings grant (ServiceAccount names get SA groups)."""
        return granted(self.authorizer, _user(user))

    def unused_grants(self, user: str | UserInfo) -> set[Permission]:
        """Granted (verb, apiGroup, resource) no allowed request of the user exercised."""
        return unused(self.access_log, self.authorizer, _user(user))


def _user(user: str | UserInfo) -> UserInfo:
    if isinstance(user, UserInfo):
        return user
    ns, _, name = user.removeprefix("system:serviceaccount:").partition(":")
    if user.startswith("system:serviceaccount:") and name:
        return service_account_user(ns, name)
    return UserInfo(user, ("system:authenticated",))


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

    @property
    def admin_token(self) -> str:
        return self.server.admin_token

    def kubeconfig(self, namespace: str = "default", token: str | None = None) -> dict[str, Any]:
        return self.server.kubeconfig(namespace, token)

    def write_kubeconfig(
        self, path: str | os.PathLike[str], namespace: str = "default", token: str | None = None
    ) -> None:
        self.server.write_kubeconfig(path, namespace, token)

    def service_account_token(self, namespace: str, name: str, expiration_seconds: int = 3600) -> str:
        return str(self.call(self.server.service_account_token, namespace, name, expiration_seconds))

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
