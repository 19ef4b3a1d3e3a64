"""RBAC authorization as kube-apiserver evaluates it (``plugin/pkg/auth/authorizer/rbac``).

Modelled: request attributes as ``RequestInfoFactory`` derives them (verb from the method, ``list``/
``watch``/``deletecollection`` for collections, ``metadata.name`` field selectors naming the object,
the namespace of ``/api/v1/namespaces/{ns}`` itself); ``system:masters`` always allowed (kube's
privileged-group authorizer); ClusterRoleBindings first, then the RoleBindings of the request's
namespace, each rule matched by verbs, apiGroups, resources (``*``, ``res/sub``, ``*/sub``),
resourceNames and nonResourceURLs (``/path``, ``/prefix/*``, ``*``); kube's bootstrap
``system:discovery``, ``system:basic-user`` and ``system:public-info-viewer`` bindings (built in, not
stored objects); the exact Forbidden Status.  Deliberately not modelled: escalation prevention on
Role/binding writes (``escalate``/``bind``), aggregated ClusterRoles, the Node and webhook
authorizers, and the other bootstrap roles (``cluster-admin``, ``view``, ``edit``... are not served).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .auth import AUTHENTICATED, UNAUTHENTICATED, UserInfo
from .errors import ApiError
from .store import Store

Obj = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"
ROLES, ROLE_BINDINGS = f"roles.{RBAC_GROUP}", f"rolebindings.{RBAC_GROUP}"
CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS = f"clusterroles.{RBAC_GROUP}", f"clusterrolebindings.{RBAC_GROUP}"
_PUBLIC_INFO = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
#: kube's bootstrap policy for discovery and self-review: (binding, role, groups, rules).
BOOTSTRAP: list[tuple[str, str, tuple[str, ...], list[Obj]]] = [
    ("system:discovery", "system:discovery", (AUTHENTICATED,),
     [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                             "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]}]),
    ("system:basic-user", "system:basic-user", (AUTHENTICATED,),
     [{"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
       "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
      {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]}]),
    ("system:public-info-viewer", "system:public-info-viewer", (AUTHENTICATED, UNAUTHENTICATED),
     [{"verbs": ["get"], "nonResourceURLs": _PUBLIC_INFO}]),
]  # fmt: skip
_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Attributes:
    """kube's ``authorizer.Attributes`` for one request (or one SubjectAccessReview)."""

    user: UserInfo
    verb: str
    resource_request: bool
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(frozen=True)
class Grant:
    """Which binding, role and rule (index into the role's ``rules``) allowed a request."""

    binding_kind: str  # ClusterRoleBinding | RoleBinding
    binding: str
    binding_namespace: str  # "" for a ClusterRoleBinding
    role_kind: str  # ClusterRole | Role
    role: str
    rule: int
    subject: str  # as kube describes it: ServiceAccount "sa/ns", User "u", Group "g"

    def describe(self) -> str:
        """kube's ``RBAC: allowed by ...`` wording (the SubjectAccessReview reason)."""
        name = f"{self.binding}/{self.binding_namespace}" if self.binding_namespace else self.binding
        return f'RBAC: allowed by {self.binding_kind} "{name}" of {self.role_kind} "{self.role}" to {self.subject}'


def request_attributes(user: UserInfo, method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """A port of ``RequestInfoFactory.NewRequestInfo`` for the /api and /apis prefixes."""
    parts = [p for p in path.strip("/").split("/") if p]
    nonresource = Attributes(user, method.lower(), False, path=path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return nonresource
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(parts) < 3:
            return nonresource
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts[0] == "watch":
        verb, parts = "watch", parts[1:]
        if not parts:
            return Attributes(user, verb, True, group, version, path=path)
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) >= 2 else ""
    subresource = parts[2] if len(parts) >= 3 else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch") in ("true", "1") else "list"
        selector = query.get("fieldSelector", "")
        for term in selector.split(","):
            key, _, value = term.partition("=")
            if key.strip() == "metadata.name" and value.strip().lstrip("="):
                name = value.strip().lstrip("=")
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, True, group, version, resource, subresource, namespace, name, path)


# ---------------------------------------------------------------------- rule matching (evaluation_helpers.go)
def _verb_matches(rule: Obj, verb: str) -> bool:
    return any(v in ("*", verb) for v in rule.get("verbs") or [])


def _group_matches(rule: Obj, group: str) -> bool:
    return any(g in ("*", group) for g in rule.get("apiGroups") or [])


def _resource_matches(rule: Obj, combined: str, subresource: str) -> bool:
    for r in rule.get("resources") or []:
        if r in ("*", combined):
            return True
        if subresource and r == f"*/{subresource}":
            return True
    return False


def _name_matches(rule: Obj, name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def _url_matches(rule: Obj, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url in ("*", path) or (url.endswith("*") and path.startswith(url.rstrip("*"))):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Obj) -> bool:
    """``RuleAllows``: does one PolicyRule cover the request?"""
    if not _verb_matches(rule, attrs.verb):
        return False
    if attrs.resource_request:
        return (
            _group_matches(rule, attrs.api_group)
            and _resource_matches(rule, attrs.combined_resource, attrs.subresource)
            and _name_matches(rule, attrs.name)
        )
    return _url_matches(rule, attrs.path)


def _subject_text(subject: Obj, binding_ns: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} "{name}/{subject.get("namespace") or binding_ns}"'
    return f'{kind} "{name}"'


def applies_to(subject: Obj, user: UserInfo, binding_ns: str) -> bool:
    """``appliesToUser``: a binding subject naming this user, one of its groups, or its ServiceAccount."""
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(name) and user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return bool(ns) and user.name == f"system:serviceaccount:{ns}:{name}"
    return False


class Authorizer:
    """Evaluates requests against the stored Roles, ClusterRoles and their bindings."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def role_rules(self, ref: Obj, binding_ns: str) -> list[Obj]:
        kind, name = ref.get("kind", ""), ref.get("name", "")
        if kind == "ClusterRole":
            role = self.store.get(CLUSTER_ROLES, "", name)
        else:
            role = self.store.get(ROLES, binding_ns, name) if kind == "Role" and binding_ns else None
        return list((role or {}).get("rules") or [])

    def visit(self, user: UserInfo, namespace: str) -> Iterator[tuple[Grant, Obj]]:
        """Every rule that applies to ``user`` in ``namespace`` (cluster-wide ones first), as kube visits them."""
        for bootstrap, role, groups, rules in BOOTSTRAP:
            group = next((g for g in groups if g in user.groups), None)
            if group is not None:
                for i, rule in enumerate(rules):
                    yield (
                        Grant(
                            "ClusterRoleBinding", bootstrap, "", "ClusterRole", role, i, f'Group "{group}"'
                        ),
                        rule,
                    )
        bindings = [("", b) for b in self.store.list(CLUSTER_ROLE_BINDINGS)]
        if namespace:
            bindings += [(namespace, b) for b in self.store.list(ROLE_BINDINGS, namespace)]
        for ns, binding in bindings:
            subject = next((s for s in binding.get("subjects") or [] if applies_to(s, user, ns)), None)
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            kind = "RoleBinding" if ns else "ClusterRoleBinding"
            name, text = binding["metadata"]["name"], _subject_text(subject, ns)
            for i, rule in enumerate(self.role_rules(ref, ns)):
                yield Grant(kind, name, ns, ref.get("kind", ""), ref.get("name", ""), i, text), rule

    def authorize(self, attrs: Attributes) -> tuple[bool, Grant | None]:
        """Allowed?, and the grant that allowed it (None for ``system:masters``)."""
        if attrs.user.is_master:
            return True, None
        for grant, rule in self.visit(attrs.user, attrs.namespace):
            if rule_allows(attrs, rule):
                return True, grant
        return False, None


def forbidden_message(attrs: Attributes) -> str:
    """``responsewriters.forbiddenMessage``."""
    user = attrs.user.name
    if not attrs.resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = attrs.combined_resource
    if attrs.namespace:
        return (
            f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" '
            f'in the namespace "{attrs.namespace}"'
        )
    return f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" at the cluster scope'


def forbidden(resource: str, group: str, name: str, message: str) -> ApiError:
    """``apierrors.NewForbidden``: ``<res>.<group> "<name>" is forbidden: <message>``."""
    qualified = f"{resource}.{group}" if group else resource
    if not resource and not group:
        text = f"forbidden: {message}"
    elif not name:
        text = f"{qualified} is forbidden: {message}"
    else:
        text = f'{qualified} "{name}" is forbidden: {message}'
    details: Obj = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if resource:
        details["kind"] = resource
    return ApiError(403, "Forbidden", text, details=details)


def denied(attrs: Attributes) -> ApiError:
    """The 403 the authorization filter writes for a denied request."""
    return forbidden(attrs.resource, attrs.api_group, attrs.name, forbidden_message(attrs))
