"""Gateway API router: one ``HTTPRoute`` named after the apex Service (Flagger's ``GatewayAPIRouter``).

The route has one rule (``PathPrefix /``) with two weighted backends, ``<svc>-primary`` and
``<svc>-canary``; shifting traffic only rewrites their weights.  Writes carry the
resourceVersion that was read, so a concurrent edit is never silently overwritten: the
write answers 409 and is redone on top of the new version.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from canary.api.models import Canary, GatewayRef
from canary.kube import (
    KubeClients,
    call_json,
    drop_owner_references,
    owner_reference,
    read_optional,
    retry_on_conflict,
    revert_unless_gone,
)
from canary.routers.base import RouterError, routing_annotations, service_names

__all__ = [
    "GATEWAY_API_GROUP",
    "HTTPROUTE_PLURAL",
    "GatewayAPIRouter",
    "RouteNotReadyError",
    "build_httproute",
    "parent_refs",
    "route_weights",
    "with_weights",
]

GATEWAY_API_GROUP = "gateway.networking.k8s.io"
HTTPROUTE_PLURAL = "httproutes"

Manifest = dict[str, Any]

logger = logging.getLogger(__name__)


class RouteNotReadyError(RouterError):
    """A parent Gateway has not (yet) accepted the current generation of the route."""


def parent_refs(gateway_refs: list[GatewayRef]) -> list[Manifest]:
    """``service.gatewayRefs`` as HTTPRoute ``parentRefs``, unset fields dropped (the schema rejects nulls)."""
    refs: list[Manifest] = []
    for ref in gateway_refs:
        entry: Manifest = {"name": ref.name}
        if ref.group is not None:
            entry["group"] = ref.group
        if ref.kind is not None:
            entry["kind"] = ref.kind
        if ref.namespace:
            entry["namespace"] = ref.namespace
        if ref.section_name:
            entry["sectionName"] = ref.section_name
        if ref.port is not None:
            entry["port"] = ref.port
        refs.append(entry)
    return refs


def _backend(name: str, port: int, weight: int) -> Manifest:
    return {"group": "", "kind": "Service", "name": name, "port": port, "weight": weight}


def build_httproute(
    canary: Canary, primary_weight: int = 100, canary_weight: int = 0, version: str = "v1"
) -> Manifest:
    """The HTTPRoute Flagger writes for a canary without A/B matches, mirroring or session affinity."""
    service = canary.spec.service
    if service is None or not service.gateway_refs:
        raise RouterError(
            f"canary {canary.name}.{canary.namespace}: spec.service.gatewayRefs must be set "
            "when using Gateway API as the provider"
        )
    apex, primary, canary_svc = service_names(canary)
    spec: Manifest = {"parentRefs": parent_refs(service.gateway_refs)}
    if service.hosts:
        spec["hostnames"] = list(service.hosts)
    spec["rules"] = [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [
                _backend(primary, service.port, primary_weight),
                _backend(canary_svc, service.port, canary_weight),
            ],
        }
    ]
    metadata: Manifest = {
        "name": apex,
        "namespace": canary.namespace,
        "labels": dict((service.apex.labels if service.apex else None) or {}),
        "annotations": routing_annotations(service.apex.annotations if service.apex else None),
        "ownerReferences": [owner_reference(canary)],
    }
    return {
        "apiVersion": f"{GATEWAY_API_GROUP}/{version}",
        "kind": "HTTPRoute",
        "metadata": metadata,
        "spec": spec,
    }


def _contains(stored: Any, desired: Any) -> bool:
    """True when ``stored`` has everything ``desired`` specifies (extra keys are server defaults).

    The API server fills CRD defaults (e.g. ``weight: 1``, ``kind: Gateway``) into what we
    wrote; comparing for equality would make every reconcile rewrite an unchanged route.
    """
    if isinstance(desired, dict):
        return isinstance(stored, dict) and all(_contains(stored.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(desired)
            and all(_contains(a, b) for a, b in zip(stored, desired, strict=True))
        )
    return bool(stored == desired)


def _weighted_rule(route: Manifest, primary: str, canary_svc: str) -> Manifest | None:
    """The rule splitting traffic: the one whose backends are exactly primary and canary."""
    for rule in (route.get("spec") or {}).get("rules") or []:
        names = {ref.get("name") for ref in rule.get("backendRefs") or []}
        if names == {primary, canary_svc}:
            result: Manifest = rule
            return result
    return None


def route_weights(route: Manifest, primary: str, canary_svc: str) -> tuple[int, int] | None:
    """``(primary, canary)`` weights of the weighted rule; None if the route has no such rule."""
    rule = _weighted_rule(route, primary, canary_svc)
    if rule is None:
        return None
    weights = {ref.get("name"): int(ref.get("weight", 1)) for ref in rule.get("backendRefs") or []}
    return weights[primary], weights[canary_svc]


def with_weights(
    route: Manifest, primary: str, canary_svc: str, primary_weight: int, canary_weight: int
) -> Manifest:
    """A copy of the route with only the two backend weights changed (everything else kept as stored)."""
    updated = copy.deepcopy(route)
    updated.pop("status", None)
    rule = _weighted_rule(updated, primary, canary_svc)
    if rule is None:
        name = (route.get("metadata") or {}).get("name")
        raise RouterError(f"HTTPRoute {name} has no rule routing to both {primary} and {canary_svc}")
    for ref in rule["backendRefs"]:
        ref["weight"] = primary_weight if ref.get("name") == primary else canary_weight
    return updated


def _check_weights(primary_weight: int, canary_weight: int) -> None:
    if primary_weight < 0 or canary_weight < 0 or primary_weight + canary_weight != 100:
        raise ValueError(f"weights must be non-negative and sum to 100, got {primary_weight}/{canary_weight}")


class GatewayAPIRouter:
    """Implements :class:`canary.routers.base.Router` with a Gateway API HTTPRoute."""

    def __init__(self, clients: KubeClients, version: str = "v1") -> None:
        """``version`` is the HTTPRoute API version served by the cluster (``v1`` or ``v1beta1``)."""
        self._custom = clients.custom
        self._version = version

    @property
    def splits_traffic(self) -> bool:
        """Weighted backendRefs split traffic."""
        return True

    def _read(self, canary: Canary, name: str) -> Manifest | None:
        return read_optional(
            self._custom.get_namespaced_custom_object,
            GATEWAY_API_GROUP,
            self._version,
            canary.namespace,
            HTTPROUTE_PLURAL,
            name,
        )

    def _replace(self, canary: Canary, name: str, body: Manifest) -> None:
        call_json(
            self._custom.replace_namespaced_custom_object,
            GATEWAY_API_GROUP,
            self._version,
            canary.namespace,
            HTTPROUTE_PLURAL,
            name,
            body,
        )

    def reconcile(self, canary: Canary) -> None:
        """Create the route at 100/0, or bring its spec and metadata in line while keeping current weights."""
        apex, primary, canary_svc = service_names(canary)

        def create_or_update() -> None:
            existing = self._read(canary, apex)
            if existing is None:
                call_json(
                    self._custom.create_namespaced_custom_object,
                    GATEWAY_API_GROUP,
                    self._version,
                    canary.namespace,
                    HTTPROUTE_PLURAL,
                    build_httproute(canary, version=self._version),
                )
                return
            weights = route_weights(existing, primary, canary_svc) or (100, 0)
            desired = build_httproute(canary, *weights, version=self._version)
            metadata = existing.get("metadata") or {}
            # Keep annotations other controllers add (e.g. cloud gateway controllers), as Flagger does.
            annotations = {
                **(metadata.get("annotations") or {}),
                **(desired["metadata"].get("annotations") or {}),
            }
            if (
                _contains(existing.get("spec"), desired["spec"])
                and (metadata.get("labels") or {}) == desired["metadata"]["labels"]
                and (metadata.get("annotations") or {}) == annotations
            ):
                return
            updated = copy.deepcopy(existing)
            updated.pop("status", None)
            updated["spec"] = desired["spec"]
            updated["metadata"]["labels"] = desired["metadata"]["labels"]
            updated["metadata"]["annotations"] = annotations
            self._replace(canary, apex, updated)

        retry_on_conflict(create_or_update)

    def set_routes(self, canary: Canary, primary_weight: int, canary_weight: int) -> None:
        """Rewrite only the two backend weights, re-reading and retrying on 409 Conflict."""
        _check_weights(primary_weight, canary_weight)
        apex, primary, canary_svc = service_names(canary)

        def write_weights() -> None:
            route = self._read(canary, apex)
            if route is None:
                raise RouterError(f"HTTPRoute {apex}.{canary.namespace} not found")
            if route_weights(route, primary, canary_svc) == (primary_weight, canary_weight):
                return
            self._replace(
                canary, apex, with_weights(route, primary, canary_svc, primary_weight, canary_weight)
            )

        retry_on_conflict(write_weights)

    def get_routes(self, canary: Canary) -> tuple[int, int]:
        """Current weights; raises RouteNotReadyError while a parent has not accepted this generation."""
        apex, primary, canary_svc = service_names(canary)
        route = self._read(canary, apex)
        if route is None:
            raise RouterError(f"HTTPRoute {apex}.{canary.namespace} not found")
        generation = int((route.get("metadata") or {}).get("generation") or 0)
        current_parents = (route.get("spec") or {}).get("parentRefs") or []
        for parent in (route.get("status") or {}).get("parents") or []:
            if parent.get("parentRef") not in current_parents:
                continue  # status left over from a Gateway the route no longer attaches to
            for condition in parent.get("conditions") or []:
                if condition.get("type") != "Accepted":
                    continue
                observed = int(condition.get("observedGeneration") or 0)
                if condition.get("status") != "True" or observed < generation:
                    raise RouteNotReadyError(
                        f"HTTPRoute {apex}.{canary.namespace} parent {(parent.get('parentRef') or {}).get('name')} "
                        f"is not ready (status: {condition.get('status')}, observed generation: {observed}, "
                        f"current generation: {generation})"
                    )
        weights = route_weights(route, primary, canary_svc)
        if weights is None:
            raise RouterError(
                f"HTTPRoute {apex}.{canary.namespace} has no rule routing to {primary} and {canary_svc}"
            )
        return weights

    def finalize(self, canary: Canary) -> None:
        """Keep the route, sending everything to the apex Service (which the Services layer points at the target).

        Garbage-collecting the route with the Canary (Flagger's behaviour) would leave the
        Gateway's hostnames without a route: an outage for the very app revertOnDeletion is
        meant to preserve.  So the weighted rule's primary/canary backends (both Services die
        with the Canary) are replaced by one backend, the apex at weight 100, and the Canary's
        ownerReference is dropped.  A missing route is not an error.
        """
        service = canary.spec.service
        if service is None:
            return
        apex, primary, canary_svc = service_names(canary)

        def revert() -> None:
            route = self._read(canary, apex)
            if route is None:
                logger.info("canary %s.%s: HTTPRoute %s is gone", canary.name, canary.namespace, apex)
                return
            updated = copy.deepcopy(route)
            updated.pop("status", None)
            changed = drop_owner_references(updated.setdefault("metadata", {}), canary)
            rule = _weighted_rule(updated, primary, canary_svc)
            if rule is not None:
                rule["backendRefs"] = [_backend(apex, service.port, 100)]
                changed = True
            if changed:
                self._replace(canary, apex, updated)

        revert_unless_gone(revert, f"canary {canary.name}.{canary.namespace}: HTTPRoute {apex}")
