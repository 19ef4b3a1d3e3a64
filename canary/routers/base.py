"""The traffic-routing interface (Flagger's ``router.Interface``), one implementation per provider.

Weights are percentages that always sum to 100.  Every method takes the parsed Canary
explicitly and performs blocking I/O (call it through ``asyncio.to_thread``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from canary.api.models import Canary
from canary.targets.workload import without_flux_keys

__all__ = [
    "FLUX_HANDS_OFF",
    "LayeredRouter",
    "Router",
    "RouterError",
    "UnsupportedProviderError",
    "routing_annotations",
    "service_names",
]

#: Annotations on every routing object the operator writes, as Flagger's router ``filterMetadata``
#: sets them: Flux's kustomize-controller and helm-controller then leave those objects alone
#: instead of reverting the operator's weights and selectors to what Git says.
FLUX_HANDS_OFF: dict[str, str] = {
    "kustomize.toolkit.fluxcd.io/reconcile": "disabled",
    "helm.toolkit.fluxcd.io/driftDetection": "disabled",
}


def routing_annotations(custom: Mapping[str, str] | None) -> dict[str, str]:
    """The user's annotations for a generated object, Flux's bookkeeping dropped, hands-off added."""
    return {**without_flux_keys(custom), **FLUX_HANDS_OFF}


class RouterError(RuntimeError):
    """A routing object is missing or unusable; the message names it."""


class UnsupportedProviderError(RouterError):
    """``spec.provider`` names a mesh or ingress this operator cannot drive (yet)."""


class Router(Protocol):
    """Owns the objects that route traffic between ``<svc>-primary`` and ``<svc>-canary``."""

    @property
    def splits_traffic(self) -> bool:
        """True when :meth:`set_routes` really splits traffic (a mesh or Gateway API layer).

        False for Services alone: weights are fixed at 100/0 and only blue/green makes sense.
        """
        ...

    def reconcile(self, canary: Canary) -> None:
        """Create or update the owned routing objects (keeping any weights already set)."""
        ...

    def set_routes(self, canary: Canary, primary_weight: int, canary_weight: int) -> None:
        """Send ``canary_weight`` percent of traffic to the canary, the rest to the primary."""
        ...

    def get_routes(self, canary: Canary) -> tuple[int, int]:
        """Current ``(primary_weight, canary_weight)``."""
        ...

    def finalize(self, canary: Canary) -> None:
        """Leave traffic flowing to the target once the Canary and its primary are gone.

        Objects that are already gone are not an error (nothing to revert).
        """
        ...


def service_names(canary: Canary) -> tuple[str, str, str]:
    """Flagger's ``GetServiceNames``: apex (``service.name`` or the target's name), ``-primary``, ``-canary``."""
    service = canary.spec.service
    apex = (service.name if service is not None else None) or canary.spec.target_ref.name
    return apex, f"{apex}-primary", f"{apex}-canary"


class LayeredRouter:
    """The Services every canary needs, plus a provider that splits traffic on top of them.

    Flagger's scheduler calls its Kubernetes router and its mesh router one after the other; this
    keeps that ordering in one place so the operator sees a single :class:`Router`.
    """

    def __init__(self, services: Router, traffic: Router) -> None:
        self.services = services
        self.traffic = traffic

    @property
    def splits_traffic(self) -> bool:
        """Whatever the traffic layer can do."""
        return self.traffic.splits_traffic

    def reconcile(self, canary: Canary) -> None:
        """Services first: routes reference them by name."""
        self.services.reconcile(canary)
        self.traffic.reconcile(canary)

    def set_routes(self, canary: Canary, primary_weight: int, canary_weight: int) -> None:
        """Weights live in the traffic layer only."""
        self.traffic.set_routes(canary, primary_weight, canary_weight)

    def get_routes(self, canary: Canary) -> tuple[int, int]:
        """Weights live in the traffic layer only."""
        return self.traffic.get_routes(canary)

    def finalize(self, canary: Canary) -> None:
        """Routes first (onto the apex, which still selects the primary), then the apex onto the target."""
        self.traffic.finalize(canary)
        self.services.finalize(canary)
