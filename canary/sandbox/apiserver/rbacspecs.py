"""Validation and defaulting of rbac.authorization.k8s.io/v1 objects, as ``pkg/apis/rbac/validation``.

Modelled: names are path segments (``system:foo`` is fine, ``/`` and ``%`` are not); every
PolicyRule needs verbs; resource rules need apiGroups and resources; nonResourceURLs only in
ClusterRoles and never mixed with resources; roleRef apiGroup/kind/name (a ClusterRoleBinding may
only reference a ClusterRole) and immutable on update; subjects ServiceAccount (namespace required in
a ClusterRoleBinding), User, Group, with kube's subject apiGroup defaulting.  Not modelled:
aggregationRule selectors (stored as-is), the existence of the referenced role (kube does not check
it either).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .fielderrors import Cause, invalid, not_supported, required
from .rbac import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, RBAC_GROUP, ROLE_BINDINGS, ROLES

Obj = dict[str, Any]


def path_segment(name: str, prefix: bool = False) -> list[str]:
    """``ValidatePathSegmentName``: RBAC names only avoid ``.``, ``..``, ``/`` and ``%``."""
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _go_strings(values: list[Any]) -> str:
    """A ``[]string`` as Go's ``%#v`` prints it (ErrorBody's fallback for slices)."""
    return "[]string{" + ", ".join(json.dumps(str(v)) for v in values) + "}"


def _raw(field: str, rendered: str, detail: str) -> Cause:
    return {"field": field, "reason": "FieldValueInvalid", "message": f"Invalid value: {rendered}: {detail}"}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def policy_rule(rule: Any, namespaced: bool, field: str) -> list[Cause]:
    """``ValidatePolicyRule``."""
    rule = rule if isinstance(rule, dict) else {}
    causes: list[Cause] = []
    if not _list(rule.get("verbs")):
        causes.append(required(f"{field}.verbs", "verbs must contain at least one value"))
    urls = _list(rule.get("nonResourceURLs"))
    if urls:
        if namespaced:
            causes.append(_raw(f"{field}.nonResourceURLs", _go_strings(urls),
                               "namespaced rules cannot apply to non-resource URLs"))  # fmt: skip
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            causes.append(_raw(f"{field}.nonResourceURLs", _go_strings(urls),
                               "rules cannot apply to both regular resources and non-resource URLs"))  # fmt: skip
        return causes
    if not _list(rule.get("apiGroups")):
        causes.append(required(f"{field}.apiGroups", "resource rules must supply at least one api group"))
    if not _list(rule.get("resources")):
        causes.append(required(f"{field}.resources", "resource rules must supply at least one resource"))
    return causes


def _role(namespaced: bool) -> Callable[[Obj, Obj | None], list[Cause]]:
    def rule(obj: Obj, old: Obj | None) -> list[Cause]:
        causes: list[Cause] = []
        for i, r in enumerate(_list(obj.get("rules"))):
            causes += policy_rule(r, namespaced, f"rules[{i}]")
        return causes

    return rule


def subject(subj: Any, namespaced: bool, field: str) -> list[Cause]:
    """``ValidateRoleBindingSubject``."""
    subj = subj if isinstance(subj, dict) else {}
    causes: list[Cause] = []
    name, kind, group = subj.get("name") or "", subj.get("kind") or "", subj.get("apiGroup") or ""
    if not name:
        causes.append(required(f"{field}.name"))
    if kind == "ServiceAccount":
        if name:
            causes += [invalid(f"{field}.name", name, m) for m in path_segment(name)]
        if group:
            causes.append(not_supported(f"{field}.apiGroup", group, [""]))
        if not namespaced and not subj.get("namespace"):
            causes.append(required(f"{field}.namespace"))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            causes.append(not_supported(f"{field}.apiGroup", group, [RBAC_GROUP]))
    else:
        causes.append(not_supported(f"{field}.kind", kind, ["ServiceAccount", "User", "Group"]))
    return causes


def _role_ref_text(ref: Obj) -> str:
    """The internal ``rbac.RoleRef`` as Go's ``%#v`` prints it in ``cannot change roleRef``."""
    return (
        f"rbac.RoleRef{{APIGroup:{json.dumps(str(ref.get('apiGroup') or ''))}, "
        f"Kind:{json.dumps(str(ref.get('kind') or ''))}, Name:{json.dumps(str(ref.get('name') or ''))}}}"
    )


def _binding(namespaced: bool) -> Callable[[Obj, Obj | None], list[Cause]]:
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]

    def rule(obj: Obj, old: Obj | None) -> list[Cause]:
        ref: Obj = obj["roleRef"] if isinstance(obj.get("roleRef"), dict) else {}
        causes: list[Cause] = []
        if (ref.get("apiGroup") or "") != RBAC_GROUP:
            causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [RBAC_GROUP]))
        if (ref.get("kind") or "") not in kinds:
            causes.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
        name = ref.get("name") or ""
        if not name:
            causes.append(required("roleRef.name"))
        else:
            causes += [invalid("roleRef.name", name, m) for m in path_segment(name)]
        for i, subj in enumerate(_list(obj.get("subjects"))):
            causes += subject(subj, namespaced, f"subjects[{i}]")
        old_ref = (old or {}).get("roleRef") or {}
        if old is not None and {k: old_ref.get(k) or "" for k in ("apiGroup", "kind", "name")} != {
            k: ref.get(k) or "" for k in ("apiGroup", "kind", "name")
        }:
            causes.append(_raw("roleRef", _role_ref_text(ref), "cannot change roleRef"))
        return causes

    return rule


def default(rkey: str, obj: Obj) -> None:
    """``SetDefaults_Subject``: User and Group subjects default their apiGroup to rbac's."""
    if rkey not in (ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS):
        return
    for subj in _list(obj.get("subjects")):
        if isinstance(subj, dict) and not subj.get("apiGroup") and subj.get("kind") in ("User", "Group"):
            subj["apiGroup"] = RBAC_GROUP


SPEC_RULES: dict[str, Callable[[Obj, Obj | None], list[Cause]]] = {
    ROLES: _role(True),
    CLUSTER_ROLES: _role(False),
    ROLE_BINDINGS: _binding(True),
    CLUSTER_ROLE_BINDINGS: _binding(False),
}
NAMES = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)


def subjects_text(obj: Obj, kind: str) -> str:
    """The wide USERS/GROUPS/SERVICEACCOUNTS cells of ``kubectl get rolebinding -o wide``."""
    out = []
    for subj in _list(obj.get("subjects")):
        if isinstance(subj, dict) and subj.get("kind") == kind:
            out.append(
                f"{subj.get('namespace', '')}/{subj.get('name', '')}"
                if kind == "ServiceAccount"
                else subj.get("name", "")
            )
    return ", ".join(out)
