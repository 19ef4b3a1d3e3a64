"""Kubernetes client construction and the small helpers every edge shares.

Helpers: 404/409 classification, ``retry_on_conflict`` (optimistic concurrency), the Canary
ownerReference, and raw-JSON calls (``call_json``/``read_optional``).

Edges use the synchronous ``kubernetes`` client (the operator runs them through
``asyncio.to_thread``), and each call gets its clients passed in: no module-level
default configuration is mutated, so tests can point two bundles at two servers.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

logger = logging.getLogger(__name__)

__all__ = [
    "CONFLICT_ATTEMPTS",
    "KubeClients",
    "MissingUidError",
    "call_json",
    "drop_owner_references",
    "instrument",
    "is_conflict",
    "is_not_found",
    "load_clients",
    "load_configuration",
    "owner_reference",
    "read_optional",
    "retry_on_conflict",
    "revert_unless_gone",
]

if TYPE_CHECKING:
    from canary.api.models import Canary

T = TypeVar("T")

#: Bounded: a write that loses the race this many times in a row points at a fight between
#: controllers, which retrying harder will not fix.
CONFLICT_ATTEMPTS = 5


@dataclass(frozen=True)
class KubeClients:
    """The typed API groups the edges use, all sharing one connection pool."""

    api: client.ApiClient
    apps: client.AppsV1Api
    core: client.CoreV1Api
    custom: client.CustomObjectsApi
    autoscaling: client.AutoscalingV2Api
    coordination: client.CoordinationV1Api

    @classmethod
    def from_api_client(cls, api: client.ApiClient) -> KubeClients:
        """Bundle the group APIs around an existing ``ApiClient`` (tests, custom auth)."""
        return cls(
            api=api,
            apps=client.AppsV1Api(api),
            core=client.CoreV1Api(api),
            custom=client.CustomObjectsApi(api),
            autoscaling=client.AutoscalingV2Api(api),
            coordination=client.CoordinationV1Api(api),
        )

    def close(self) -> None:
        """Release the connection pool (the operator calls this on shutdown)."""
        self.api.close()


#: The Kubernetes verb each HTTP method stands for, in request metrics (a list is a ``get`` too).
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def instrument(clients: KubeClients, observe: Callable[[str, str], None]) -> None:
    """Report every request the clients make as ``observe(verb, code)``; code is the HTTP status or ``error``.

    Wraps the REST client's single ``request`` method, which every typed call goes through.
    """
    rest = clients.api.rest_client
    send = rest.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        verb = _VERBS.get(method.upper(), method.lower())
        try:
            response = send(method, url, *args, **kwargs)
        except ApiException as exc:
            observe(verb, str(exc.status))
            raise
        except Exception:
            observe(verb, "error")
            raise
        observe(verb, str(response.status))
        return response

    rest.request = request  # type: ignore[method-assign]


def load_configuration(kubeconfig: str | None = None) -> client.Configuration:
    """Client configuration from an explicit kubeconfig, else in-cluster config, else ``$KUBECONFIG``/~/.kube/config.

    An explicit path wins so that ``canary --kubeconfig`` means what it says even inside a pod.
    ``$KUBECONFIG`` is read at call time (the client library reads it once, at import).
    """
    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException:
            config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG") or None, client_configuration=configuration
            )
    return configuration


def load_clients(kubeconfig: str | None = None) -> KubeClients:
    """Clients for :func:`load_configuration`'s cluster."""
    return KubeClients.from_api_client(client.ApiClient(load_configuration(kubeconfig)))


def _status_of(exc: BaseException) -> int | None:
    return exc.status if isinstance(exc, ApiException) else None


def is_not_found(exc: BaseException) -> bool:
    """True for a 404 from the API server (the object, or its whole API group, is absent)."""
    return _status_of(exc) == 404


def is_conflict(exc: BaseException) -> bool:
    """True for a 409: a stale resourceVersion on update (or create of an existing name)."""
    return _status_of(exc) == 409


def retry_on_conflict(read_modify_write: Callable[[], T], attempts: int = CONFLICT_ATTEMPTS) -> T:
    """Run ``read_modify_write`` again while it fails with 409 Conflict.

    The callable must re-read the object each time, so every retry writes on top of the latest
    resourceVersion (client-go's ``retry.RetryOnConflict``).  Waits are short and jittered so
    two writers that collided do not collide again in lockstep.
    """
    retrying = Retrying(
        retry=retry_if_exception(is_conflict),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.02, max=0.5),
        reraise=True,
    )
    return retrying(read_modify_write)


class MissingUidError(ValueError):
    """An ownerReference was asked for an object the API server has not given a uid yet."""


def revert_unless_gone(read_modify_write: Callable[[], None], what: str) -> None:
    """A finalizing read-modify-write (retried on 409); an object deleted meanwhile leaves nothing to revert."""
    try:
        retry_on_conflict(read_modify_write)
    except ApiException as exc:
        if not is_not_found(exc):
            raise
        logger.info("%s vanished while reverting; nothing left to revert", what)


def owner_reference(canary: Canary) -> dict[str, Any]:
    """Controller ownerReference to the Canary, so deleting it garbage-collects what we created.

    ``blockOwnerDeletion`` keeps foreground deletion of the Canary waiting for its children.
    Raises :class:`MissingUidError` for a Canary without ``metadata.uid`` (one not read from
    the API server): a reference with an empty uid is rejected or, worse, dangles.
    """
    uid = canary.metadata.get("uid")
    if not uid:
        raise MissingUidError(
            f"canary {canary.name}.{canary.namespace} has no metadata.uid; "
            "owner references need the object as stored by the API server"
        )
    return {
        "apiVersion": canary.api_version,
        "kind": canary.kind,
        "name": canary.name,
        "uid": str(uid),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def drop_owner_references(metadata: dict[str, Any], canary: Canary) -> bool:
    """Remove the Canary's ownerReferences from ``metadata`` in place; True if any was removed.

    Matches by uid when both sides have one, else by kind and name (as :func:`owner_reference` writes them).
    """
    refs = metadata.get("ownerReferences") or []
    uid = canary.metadata.get("uid")

    def is_ours(ref: dict[str, Any]) -> bool:
        if ref.get("kind") != canary.kind or ref.get("name") != canary.name:
            return False
        return not (uid and ref.get("uid") and ref.get("uid") != uid)

    kept = [ref for ref in refs if not is_ours(ref)]
    if len(kept) == len(refs):
        return False
    metadata["ownerReferences"] = kept
    return True


def call_json(method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a client method and return the server's JSON untouched.

    Skipping the typed models avoids their client-side validation (which rejects objects other
    controllers wrote loosely) and keeps one representation, camelCase dicts, across the edges.
    """
    response = method(*args, _preload_content=False, **kwargs)
    payload = response.data
    result: dict[str, Any] = json.loads(payload) if payload else {}
    return result


def read_optional(method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    """Like :func:`call_json` for reads, but None when the object does not exist."""
    try:
        return call_json(method, *args, **kwargs)
    except ApiException as exc:
        if is_not_found(exc):
            return None
        raise


class ObjectUnavailable(LookupError):
    """A referenced canary.dev object (a template, a provider) is absent or cannot be read."""


def read_canary_object(
    clients: KubeClients, plural: str, kind: str, namespace: str, name: str
) -> dict[str, Any]:
    """One ``canary.dev`` object by name; :class:`ObjectUnavailable` says which and why when it cannot."""
    from canary.api.models import GROUP, VERSION

    try:
        return call_json(clients.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name)
    except ApiException as exc:
        if is_not_found(exc):
            raise ObjectUnavailable(f"{kind} {name}.{namespace} not found") from exc
        raise ObjectUnavailable(f"{kind} {name}.{namespace} could not be read: {exc.reason}") from exc
