"""Resource types the emulator serves, their discovery documents, and CRD (un)registration."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
COMMON_TOP = frozenset({"apiVersion", "kind", "metadata"})
SPEC_STATUS = frozenset({"spec", "status"})
META_FIELDS = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip


@dataclass
class ResourceType:
    """One served resource (all its versions share one storage, no conversion, like ``strategy: None``)."""

    group: str
    versions: list[str]
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    status: bool = False
    scale: bool = False
    top_fields: frozenset[str] | None = None  # built-ins: allowed top-level fields (strict decoding)
    schemas: dict[str, Obj] = field(default_factory=dict)  # CRDs: version -> openAPIV3Schema
    printer_columns: dict[str, list[Obj]] = field(default_factory=dict)
    crd: bool = False
    verbs: list[str] | None = None  # None: all of VERBS; create-only reviews are never stored
    token: bool = False  # serviceaccounts/token (TokenRequest)

    @property
    def virtual(self) -> bool:
        """A create-only review (SelfSubjectAccessReview): answered, never stored."""
        return self.verbs == ["create"]

    @property
    def rkey(self) -> str:
        """Store key, ``plural.group`` as kube prints it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def discovery_entries(self) -> list[Obj]:
        """APIResource entries incl. subresources, as ``/apis/{g}/{v}`` lists them."""
        main: Obj = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs or VERBS,
        }
        if self.short_names:
            main["shortNames"] = self.short_names
        if self.categories:
            main["categories"] = self.categories
        entries = [main]
        if self.status:
            entries.append(
                {"name": f"{self.plural}/status", "singularName": "", "namespaced": self.namespaced,
                 "kind": self.kind, "verbs": ["get", "patch", "update"]}
            )  # fmt: skip
        if self.scale:
            entries.append(
                {"name": f"{self.plural}/scale", "singularName": "", "namespaced": self.namespaced,
                 "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}
            )  # fmt: skip
        if self.token:
            entries.append(
                {"name": f"{self.plural}/token", "singularName": "", "namespaced": self.namespaced,
                 "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}
            )  # fmt: skip
        return entries


def _b(group: str, version: str, plural: str, kind: str, **kw: Any) -> ResourceType:
    singular = kw.pop("singular", kind.lower())
    top = kw.pop("top", SPEC_STATUS)
    return ResourceType(group, [version], plural, singular, kind, top_fields=COMMON_TOP | top, **kw)


EVENT_FIELDS = frozenset(
    {
        "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "type",
        "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance",
    }
)  # fmt: skip


RBAC = "rbac.authorization.k8s.io"


def builtin_types() -> list[ResourceType]:
    """The built-ins the operator, kubectl and the simulator touch."""
    return [
        _b("", "v1", "namespaces", "Namespace", namespaced=False, short_names=["ns"], status=True),
        _b("", "v1", "services", "Service", short_names=["svc"], categories=["all"], status=True),
        _b("", "v1", "configmaps", "ConfigMap", short_names=["cm"], top=frozenset({"data", "binaryData", "immutable"})),
        _b("", "v1", "secrets", "Secret", top=frozenset({"data", "stringData", "type", "immutable"})),
        _b("", "v1", "events", "Event", short_names=["ev"], top=EVENT_FIELDS),
        _b("", "v1", "pods", "Pod", short_names=["po"], categories=["all"], status=True),
        _b("", "v1", "endpoints", "Endpoints", short_names=["ep"], top=frozenset({"subsets"})),
        _b("", "v1", "serviceaccounts", "ServiceAccount", short_names=["sa"], token=True,
           top=frozenset({"secrets", "imagePullSecrets", "automountServiceAccountToken"})),
        _b("apps", "v1", "deployments", "Deployment", short_names=["deploy"], categories=["all"], status=True, scale=True),
        _b("apps", "v1", "replicasets", "ReplicaSet", short_names=["rs"], categories=["all"], status=True, scale=True),
        _b("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short_names=["hpa"],
           categories=["all"], status=True),
        _b("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=["ing"], status=True),
        _b("events.k8s.io", "v1", "events", "Event", short_names=["ev"],
           top=EVENT_FIELDS | {"note", "regarding", "deprecatedSource", "deprecatedFirstTimestamp",
                               "deprecatedLastTimestamp", "deprecatedCount", "reportingController"}),
        _b("coordination.k8s.io", "v1", "leases", "Lease", top=frozenset({"spec"})),
        _b("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=["pdb"], status=True),
        _b("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
           namespaced=False, short_names=["crd", "crds"], categories=["api-extensions"], status=True),
        _b(RBAC, "v1", "roles", "Role", top=frozenset({"rules"})),
        _b(RBAC, "v1", "rolebindings", "RoleBinding", top=frozenset({"subjects", "roleRef"})),
        _b(RBAC, "v1", "clusterroles", "ClusterRole", namespaced=False, top=frozenset({"rules", "aggregationRule"})),
        _b(RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False,
           top=frozenset({"subjects", "roleRef"})),
        _b("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", namespaced=False,
           verbs=["create"]),
    ]  # fmt: skip


_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kube's version ordering: GA > beta > alpha, higher numbers first, others last alphabetically."""
    m = _VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    major, tier, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[tier]
    return (rank, -major, -minor, "")


class Registry:
    """Lookup of resource types by group/version/plural (or short name) and discovery rendering."""

    def __init__(self) -> None:
        self._types: dict[str, ResourceType] = {}
        for rt in builtin_types():
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._types[rt.rkey] = rt

    def remove(self, rkey: str) -> ResourceType | None:
        return self._types.pop(rkey, None)

    def by_rkey(self, rkey: str) -> ResourceType | None:
        return self._types.get(rkey)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self._types.get(f"{plural}.{group}" if group else plural)
        if rt is None or version not in rt.versions:
            return None
        return rt

    def types(self) -> list[ResourceType]:
        return list(self._types.values())

    # ------------------------------------------------------------ discovery
    def groups(self) -> dict[str, list[str]]:
        """Group -> served versions in preference order (core group excluded)."""
        out: dict[str, list[str]] = {}
        for rt in self._types.values():
            if not rt.group:
                continue
            versions = out.setdefault(rt.group, [])
            for v in rt.versions:
                if v not in versions:
                    versions.append(v)
        return {g: sorted(vs, key=version_priority) for g, vs in out.items()}

    def api_group(self, group: str) -> Obj | None:
        versions = self.groups().get(group)
        if not versions:
            return None
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": gvs,
            "preferredVersion": gvs[0],
        }

    def api_group_list(self) -> Obj:
        groups = [self.api_group(g) for g in self.groups()]
        for g in groups:
            if g is not None:
                g.pop("kind")
                g.pop("apiVersion")
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, group: str, version: str) -> Obj | None:
        resources: list[Obj] = []
        for rt in self._types.values():
            if rt.group == group and version in rt.versions:
                resources.extend(rt.discovery_entries())
        if not resources:
            return None
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def crd_to_type(crd: Obj) -> ResourceType:
    """Translate a CustomResourceDefinition into a served ResourceType (served versions only)."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec.get("versions", []) if v.get("served", True)]
    served.sort(key=lambda v: version_priority(v["name"]))
    rt = ResourceType(
        group=spec["group"],
        versions=[v["name"] for v in served],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        kind=names["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=list(names.get("shortNames") or []),
        categories=list(names.get("categories") or []),
        crd=True,
    )
    for v in served:
        sub = v.get("subresources") or {}
        rt.status = rt.status or "status" in sub
        rt.scale = rt.scale or "scale" in sub
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if schema is not None:
            rt.schemas[v["name"]] = schema
        rt.printer_columns[v["name"]] = list(v.get("additionalPrinterColumns") or [])
    return rt


def crd_status(crd: Obj) -> Obj:
    """The status kube's CRD controllers would converge to: names accepted and established."""
    spec = crd["spec"]
    ts = crd["metadata"].get("creationTimestamp", "")
    conds = [
        {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": ts}
        for t, r, m in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    stored = [v["name"] for v in spec.get("versions", []) if v.get("storage")]
    return {"conditions": conds, "acceptedNames": dict(spec["names"]), "storedVersions": stored}
