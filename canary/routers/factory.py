"""Choose the :class:`~canary.routers.base.Router` for a Canary's ``spec.provider``.

Every provider gets the Services (:class:`KubernetesRouter`); providers that split traffic add
their own layer on top.  A new mesh (``istio.py``, ``nginx.py``) is one module plus one entry in
:data:`_TRAFFIC_ROUTERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from canary.api.models import Canary
from canary.kube import KubeClients
from canary.routers.base import LayeredRouter, Router, UnsupportedProviderError
from canary.routers.gatewayapi import GatewayAPIRouter
from canary.routers.kubernetes import KubernetesRouter

__all__ = ["DEFAULT_PROVIDER", "SUPPORTED_PROVIDERS", "router_for"]

#: Flagger's default mesh is istio; ours is plain Services until istio.py exists.
DEFAULT_PROVIDER = "kubernetes"

#: Traffic-splitting layers by provider name (``kubernetes`` has none: Services only).
_TRAFFIC_ROUTERS: dict[str, Callable[[KubeClients], Router]] = {
    "gatewayapi": lambda clients: GatewayAPIRouter(clients, "v1"),
    "gatewayapi:v1": lambda clients: GatewayAPIRouter(clients, "v1"),
    "gatewayapi:v1beta1": lambda clients: GatewayAPIRouter(clients, "v1beta1"),
}

SUPPORTED_PROVIDERS: tuple[str, ...] = (DEFAULT_PROVIDER, *_TRAFFIC_ROUTERS)


def router_for(
    canary: Canary,
    clients: KubeClients,
    pod_selector: Callable[[Canary], tuple[str, str]],
    default_provider: str = DEFAULT_PROVIDER,
    discovered_ports: Callable[[Canary], Mapping[str, int]] | None = None,
) -> Router:
    """The router for this Canary; raises UnsupportedProviderError listing what is supported.

    ``pod_selector`` is the target's (the label and value its pods carry), as Flagger's
    ``KubernetesRouter`` receives its label selector: the router never builds a target of its own.
    """
    provider = str(canary.spec.provider.value if canary.spec.provider is not None else default_provider)
    services = KubernetesRouter(clients, pod_selector, discovered_ports)
    if provider == "kubernetes":
        return services
    make_traffic_router = _TRAFFIC_ROUTERS.get(provider)
    if make_traffic_router is None:
        raise UnsupportedProviderError(
            f"canary {canary.name}.{canary.namespace}: provider {provider!r} is not supported yet "
            f"(supported: {', '.join(SUPPORTED_PROVIDERS)})"
        )
    return LayeredRouter(services, make_traffic_router(clients))
