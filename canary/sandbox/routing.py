"""Turn routing objects into weighted backends: one resolver per routing kind, one small interface.

An *entry point* is something clients send traffic to (an HTTPRoute, a VirtualService, a main
NGINX Ingress, or a Service named in the data plane's config). Each resolver finds its entry
points in a :class:`Snapshot` of the cluster and resolves each into :class:`WeightedBackend` s:
destination Service, weight, and the Deployments whose pod labels the Service selects.

Only the part of each API that decides *where a plain ``GET /`` goes* is modelled: the first rule
that matches every request (no header/query/method matches), weights, Service selectors. Gateways
and hostnames are not modelled: every route is reachable.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .backends import Backend, BackendRegistry

JSON = dict[str, Any]
CANARY_ANNOTATION = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight"


@dataclass
class Snapshot:
    """The routing-relevant objects of the cluster at one moment, plus the running workloads."""

    registry: BackendRegistry
    services: dict[tuple[str, str], JSON] = field(default_factory=dict)
    objects: dict[str, list[JSON]] = field(default_factory=dict)  # kind -> objects

    def of_kind(self, kind: str) -> list[JSON]:
        return self.objects.get(kind, [])

    def service_backend(self, namespace: str, name: str, weight: int) -> WeightedBackend:
        """A Service and the Deployments its selector matches (none if it does not exist)."""
        svc = self.services.get((namespace, name))
        selector = ((svc or {}).get("spec") or {}).get("selector") or {}
        workloads = tuple(self.registry.select(namespace, selector)) if svc else ()
        return WeightedBackend(namespace, name, weight, workloads)


@dataclass(frozen=True)
class WeightedBackend:
    """A destination Service with its weight and the workloads behind it."""

    namespace: str
    service: str
    weight: int
    workloads: tuple[Backend, ...] = ()

    def pick(self) -> Backend | None:
        """Endpoints are spread evenly; each Deployment's process stands for all its replicas."""
        return random.choice(self.workloads) if self.workloads else None


@dataclass(frozen=True)
class EntryPoint:
    """Where generated traffic is sent; requests are split across ``backends`` by weight."""

    kind: str
    namespace: str
    name: str
    backends: tuple[WeightedBackend, ...]

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    def pick(self) -> WeightedBackend | None:
        live = [b for b in self.backends if b.weight > 0]
        if not live:
            return None
        return random.choices(live, weights=[b.weight for b in live])[0]


class Resolver(Protocol):
    """One routing kind: ``kind`` names the objects it needs in the snapshot (``Snapshot.objects``)."""

    kind: str

    def resolve(self, snapshot: Snapshot) -> list[EntryPoint]: ...


def _ns(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _catch_all(matches: Sequence[Mapping[str, Any]] | None) -> bool:
    """True when a rule's matches accept ``GET /`` without headers or query parameters."""
    if not matches:
        return True
    for match in matches:
        path = match.get("path") or {}
        if match.get("headers") or match.get("queryParams") or match.get("method"):
            continue
        if path.get("type", "PathPrefix") == "PathPrefix" and path.get("value", "/") == "/":
            return True
    return False


class HTTPRouteResolver:
    """Gateway API HTTPRoute: the first catch-all rule's ``backendRefs`` (weight defaults to 1)."""

    kind = "HTTPRoute"

    def resolve(self, snapshot: Snapshot) -> list[EntryPoint]:
        entries = []
        for route in snapshot.of_kind(self.kind):
            rules = (route.get("spec") or {}).get("rules") or [{}]
            rule = next((r for r in rules if _catch_all(r.get("matches"))), rules[0])
            backends = tuple(
                snapshot.service_backend(
                    str(ref.get("namespace") or _ns(route)), str(ref["name"]), int(ref.get("weight", 1))
                )
                for ref in rule.get("backendRefs") or []
                if ref.get("kind", "Service") == "Service" and ref.get("name")
            )
            entries.append(EntryPoint(self.kind, _ns(route), _name(route), backends))
        return entries


def _istio_host(host: str, namespace: str) -> tuple[str, str]:
    """``svc``, ``svc.ns`` or ``svc.ns.svc.cluster.local`` -> (namespace, service)."""
    parts = host.split(".")
    return (parts[1] if len(parts) > 1 else namespace), parts[0]


class VirtualServiceResolver:
    """Istio VirtualService: the first catch-all ``http`` route; a lone destination gets weight 100."""

    kind = "VirtualService"

    def resolve(self, snapshot: Snapshot) -> list[EntryPoint]:
        entries = []
        for vs in snapshot.of_kind(self.kind):
            http = (vs.get("spec") or {}).get("http") or [{}]
            rule = next((r for r in http if _catch_all_istio(r.get("match"))), http[0])
            routes = rule.get("route") or []
            backends = []
            for dest in routes:
                namespace, service = _istio_host(
                    str((dest.get("destination") or {}).get("host", "")), _ns(vs)
                )
                weight = int(dest.get("weight", 100 if len(routes) == 1 else 0))
                backends.append(snapshot.service_backend(namespace, service, weight))
            entries.append(EntryPoint(self.kind, _ns(vs), _name(vs), tuple(backends)))
        return entries


def _catch_all_istio(matches: Sequence[Mapping[str, Any]] | None) -> bool:
    if not matches:
        return True
    return any(not m.get("headers") and not m.get("queryParams") and set(m.get("uri") or {"prefix": "/"}) == {"prefix"}
               and (m.get("uri") or {}).get("prefix", "/") == "/" for m in matches)  # fmt: skip


def _ingress_services(ingress: Mapping[str, Any]) -> list[str]:
    names = []
    default = (((ingress.get("spec") or {}).get("defaultBackend") or {}).get("service") or {}).get("name")
    if default:
        names.append(str(default))
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            name = ((path.get("backend") or {}).get("service") or {}).get("name")
            if name:
                names.append(str(name))
    return names


def _ingress_hosts(ingress: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(str(r.get("host", "")) for r in (ingress.get("spec") or {}).get("rules") or [])


class NginxIngressResolver:
    """NGINX Ingress: a main Ingress, plus ``canary-weight`` % to a canary Ingress on the same hosts."""

    kind = "Ingress"

    def resolve(self, snapshot: Snapshot) -> list[EntryPoint]:
        ingresses = snapshot.of_kind(self.kind)

        def is_canary(ing: Mapping[str, Any]) -> bool:
            return ((ing.get("metadata") or {}).get("annotations") or {}).get(CANARY_ANNOTATION) == "true"

        entries = []
        for main in (i for i in ingresses if not is_canary(i)):
            services = _ingress_services(main)
            if not services:
                continue
            canary = next((c for c in ingresses if is_canary(c) and _ns(c) == _ns(main)
                           and _ingress_hosts(c) == _ingress_hosts(main) and _ingress_services(c)), None)  # fmt: skip
            weight = 0
            if canary is not None:
                annotations = (canary.get("metadata") or {}).get("annotations") or {}
                weight = max(0, min(100, int(annotations.get(CANARY_WEIGHT_ANNOTATION, "0") or 0)))
            backends = [snapshot.service_backend(_ns(main), services[0], 100 - weight)]
            if canary is not None:
                backends.append(snapshot.service_backend(_ns(main), _ingress_services(canary)[0], weight))
            entries.append(EntryPoint(self.kind, _ns(main), _name(main), tuple(backends)))
        return entries


class ServiceResolver:
    """Plain Services named in the config: all their traffic goes to the Deployments they select."""

    kind = "Service"

    def __init__(self, services: Sequence[tuple[str, str]] = ()) -> None:
        self.services = list(services)

    def resolve(self, snapshot: Snapshot) -> list[EntryPoint]:
        return [
            EntryPoint(self.kind, namespace, name, (snapshot.service_backend(namespace, name, 1),))
            for namespace, name in self.services
            if (namespace, name) in snapshot.services
        ]


#: REST collection (cluster-wide) of each routing kind the resolvers read.
COLLECTIONS: dict[str, str] = {
    "HTTPRoute": "/apis/gateway.networking.k8s.io/v1/httproutes",
    "VirtualService": "/apis/networking.istio.io/v1beta1/virtualservices",
    "Ingress": "/apis/networking.k8s.io/v1/ingresses",
}


def default_resolvers(services: Sequence[tuple[str, str]] = ()) -> list[Resolver]:
    return [HTTPRouteResolver(), VirtualServiceResolver(), NginxIngressResolver(), ServiceResolver(services)]
