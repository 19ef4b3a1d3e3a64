"""The Services every canary uses (Flagger's ``KubernetesDefaultRouter``).

``<svc>-canary`` selects the target's pods, ``<svc>-primary`` and the apex ``<svc>`` select the
primary's.  With provider ``kubernetes`` these Services are the whole router: traffic never
splits, the apex always serves the primary (blue/green), so weights are fixed at 100/0.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

from canary.api.models import Canary, CanaryService, CustomMetadata
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
from canary.targets.base import TargetError
from canary.targets.workload import primary_name

__all__ = ["KubernetesRouter", "build_service", "is_controlled_by", "service_ports"]

Manifest = dict[str, Any]

#: ``(label, value)`` selecting the target's pods, e.g. ``("app", "podinfo")``.
PodSelector = tuple[str, str]

logger = logging.getLogger(__name__)


def service_ports(service: CanaryService, discovered: Mapping[str, int] | None = None) -> list[Manifest]:
    """The port Flagger exposes: ``portName`` (default ``http``), TCP, ``targetPort`` defaulting to
    ``port``; then the target's other container ports found by ``portDiscovery``, by name."""
    main: Manifest = {
        "name": service.port_name or "http",
        "protocol": "TCP",
        "port": service.port,
        "targetPort": service.effective_target_port,
    }
    extra = [
        {"name": name, "protocol": "TCP", "port": number, "targetPort": number}
        for name, number in sorted((discovered or {}).items())
        if name != main["name"]
    ]
    return [main, *extra]


def build_service(
    canary: Canary,
    name: str,
    selector: PodSelector,
    metadata: CustomMetadata | None,
    discovered: Mapping[str, int] | None = None,
) -> Manifest:
    """A ClusterIP Service selecting ``{label: value}``, labelled ``{label: name}`` like Flagger's."""
    service = canary.spec.service
    if service is None:
        raise RouterError(
            f"canary {canary.name}.{canary.namespace}: spec.service is required to create Services"
        )
    label, value = selector
    labels = dict((metadata.labels if metadata else None) or {})
    labels[label] = name
    meta: Manifest = {
        "name": name,
        "namespace": canary.namespace,
        "labels": labels,
        "annotations": routing_annotations(metadata.annotations if metadata else None),
        "ownerReferences": [owner_reference(canary)],
    }
    spec: Manifest = {
        "type": "ClusterIP",
        "selector": {label: value},
        "ports": service_ports(service, discovered),
    }
    if service.headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def is_controlled_by(obj: Mapping[str, Any], canary: Canary) -> bool:
    """True when the object's controller ownerReference is this Canary (by kind and name, as Flagger checks)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == canary.kind and ref.get("name") == canary.name:
            return True
    return False


def _comparable_ports(ports: list[Manifest]) -> list[Manifest]:
    """Ports as we specify them (the server adds defaults like nodePort we must not fight)."""
    keys = ("name", "protocol", "port", "targetPort")
    return sorted(({k: p.get(k) for k in keys} for p in ports), key=lambda p: int(p.get("port") or 0))


class KubernetesRouter:
    """Implements :class:`canary.routers.base.Router` with plain Services (no weights)."""

    def __init__(
        self,
        clients: KubeClients,
        pod_selector: Callable[[Canary], PodSelector],
        discovered_ports: Callable[[Canary], Mapping[str, int]] | None = None,
    ) -> None:
        """``pod_selector`` reads the target's selector label (``Target.pod_selector``) and
        ``discovered_ports`` its other container ports (``Target.discovered_ports``)."""
        self._core = clients.core
        self._pod_selector = pod_selector
        self._discovered_ports = discovered_ports

    @property
    def splits_traffic(self) -> bool:
        """Services alone cannot split traffic: the apex selects the primary only (blue/green)."""
        return False

    def reconcile(self, canary: Canary) -> None:
        """Create or update ``<svc>-canary``, ``<svc>-primary`` and the apex ``<svc>``."""
        service = canary.spec.service
        if service is None:
            raise RouterError(f"canary {canary.name}.{canary.namespace}: spec.service is required")
        label, value = self._pod_selector(canary)
        ports = self._discovered_ports(canary) if self._discovered_ports is not None else {}
        apex, primary, canary_svc = service_names(canary)
        self._reconcile_service(
            build_service(canary, canary_svc, (label, value), service.canary, ports), canary
        )
        self._reconcile_service(
            build_service(canary, primary, (label, primary_name(value)), service.primary, ports), canary
        )
        self._reconcile_service(
            build_service(canary, apex, (label, primary_name(value)), service.apex, ports), canary
        )

    def _reconcile_service(self, desired: Manifest, canary: Canary) -> None:
        name = desired["metadata"]["name"]
        namespace = canary.namespace

        def create_or_update() -> None:
            existing = read_optional(self._core.read_namespaced_service, name, namespace)
            if existing is None:
                # A concurrent create answers 409 AlreadyExists: the retry re-reads and compares.
                call_json(self._core.create_namespaced_service, namespace, desired)
                return
            updated = self._merged(existing, desired, canary)
            if updated is not None:
                call_json(self._core.replace_namespaced_service, name, namespace, updated)

        retry_on_conflict(create_or_update)

    @staticmethod
    def _merged(existing: Manifest, desired: Manifest, canary: Canary) -> Manifest | None:
        """The update to send, or None when nothing we manage differs.

        Selector and ports are always enforced; labels and annotations only on Services this
        Canary created (a user's pre-existing apex Service keeps its metadata, as in Flagger).
        """
        updated = copy.deepcopy(existing)
        updated.pop("status", None)
        changed = False
        spec = updated.setdefault("spec", {})
        ports = copy.deepcopy(desired["spec"]["ports"])
        for port in ports:  # keep allocated nodePorts so a NodePort/LoadBalancer apex is not re-allocated
            for current in spec.get("ports") or []:
                if current.get("name") == port["name"] and current.get("nodePort"):
                    port["nodePort"] = current["nodePort"]
        if spec.get("selector") != desired["spec"]["selector"]:
            spec["selector"] = desired["spec"]["selector"]
            changed = True
        if _comparable_ports(spec.get("ports") or []) != _comparable_ports(ports):
            spec["ports"] = ports
            changed = True
        if is_controlled_by(existing, canary):
            metadata = updated["metadata"]
            for field in ("labels", "annotations"):
                wanted = desired["metadata"].get(field) or {}
                if (metadata.get(field) or {}) != wanted:
                    metadata[field] = wanted
                    changed = True
        return updated if changed else None

    def set_routes(self, canary: Canary, primary_weight: int, canary_weight: int) -> None:
        """No-op: plain Services cannot split traffic (Flagger's blue/green with provider kubernetes)."""

    def get_routes(self, canary: Canary) -> tuple[int, int]:
        """Always ``(100, 0)``: the apex Service selects only the primary's pods."""
        return 100, 0

    def finalize(self, canary: Canary) -> None:
        """Make the apex Service outlive the Canary, selecting the target's pods.

        The Canary's ownerReference is dropped (else the apex would be garbage-collected with the
        Canary and the app would lose its Service) and the selector is pointed at the target.  A
        user-created apex just gets its selector back.  A missing apex or target means nothing
        to revert: logged, not raised, so deleting the namespace never hangs the finalizer.
        """
        apex, _, _ = service_names(canary)
        namespace = canary.namespace
        try:
            label, value = self._pod_selector(canary)
        except TargetError as exc:
            logger.info("canary %s.%s: apex service %s left as is: %s", canary.name, namespace, apex, exc)
            return

        def revert() -> None:
            existing = read_optional(self._core.read_namespaced_service, apex, namespace)
            if existing is None:
                logger.info("canary %s.%s: apex service %s is gone", canary.name, namespace, apex)
                return
            updated = copy.deepcopy(existing)
            updated.pop("status", None)
            changed = drop_owner_references(updated.setdefault("metadata", {}), canary)
            spec = updated.setdefault("spec", {})
            if spec.get("selector") != {label: value}:
                spec["selector"] = {label: value}
                changed = True
            if changed:
                call_json(self._core.replace_namespaced_service, apex, namespace, updated)

        revert_unless_gone(revert, f"canary {canary.name}.{namespace}: apex service {apex}")
