"""The OwnerReferencesPermissionEnforcement admission plugin (``plugin/pkg/admission/gc``), enabled.

Kube ships it and OpenShift turns it on; the sandbox always runs it so an operator's RBAC is checked
as strictly as there.  A create/update/patch that changes ``metadata.ownerReferences`` needs
``delete`` on the object itself; each ownerReference that newly sets ``blockOwnerDeletion: true``
needs ``update`` on the owner's ``finalizers`` subresource (e.g. ``canaries/finalizers`` in
canary.dev).  Refusals are kube's 403 with its exact wording (``..., <nil>`` included).  The
``pods/status`` exemption is kept.  Not modelled: an owner kind that maps to several resources.
"""

from __future__ import annotations

from typing import Any

from .access import AccessLog
from .errors import ApiError
from .rbac import Attributes, Authorizer, forbidden
from .registry import Registry, ResourceType

Obj = dict[str, Any]


def _refs(obj: Obj | None) -> list[Obj]:
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return [r for r in refs if isinstance(r, dict)]


def _changing(new: Obj, old: Obj | None) -> bool:
    return bool(_refs(new)) if old is None else _refs(new) != _refs(old)


def _new_blocking(new: Obj, old: Obj | None) -> list[Obj]:
    """References newly blocking: added with ``blockOwnerDeletion: true``, or switched to true."""
    before = {r.get("uid"): r for r in _refs(old)}
    out = []
    for ref in _refs(new):
        if ref.get("blockOwnerDeletion") is not True:
            continue
        prior = before.get(ref.get("uid"))
        if prior is None or prior.get("blockOwnerDeletion") is not True:
            out.append(ref)
    return out


def admit(
    authz: Authorizer,
    log: AccessLog,
    registry: Registry,
    attrs: Attributes,
    rt: ResourceType,
    new: Obj,
    old: Obj | None,
) -> None:
    """Raise kube's 403 when the caller may not set these ownerReferences; ``attrs`` is the request's."""
    if attrs.user.is_master or (rt.rkey == "pods" and attrs.subresource == "status"):
        return
    if not _changing(new, old):
        return
    name = attrs.name or (new.get("metadata") or {}).get("name", "")

    def check(a: Attributes) -> tuple[bool, str]:
        allowed, grant = authz.authorize(a)
        log.record(a, allowed, grant)
        return allowed, grant.describe() if grant else ""

    delete = Attributes(attrs.user, "delete", True, rt.group, attrs.api_version, rt.plural,
                        attrs.subresource, attrs.namespace, name)  # fmt: skip
    allowed, reason = check(delete)
    if not allowed:
        raise _refused(rt, name, "cannot set an ownerRef on a resource you can't delete: , <nil>")
    for ref in _new_blocking(new, old):
        api_version, kind = str(ref.get("apiVersion", "")), str(ref.get("kind", ""))
        group, _, version = api_version.rpartition("/")
        owners = [
            t for t in registry.types() if t.group == group and t.kind == kind and version in t.versions
        ]
        if not owners:
            raise _refused(
                rt, name,
                f"cannot set blockOwnerDeletion in this case because cannot find RESTMapping for APIVersion "
                f'{api_version} Kind {kind}: {reason}, no matches for kind "{kind}" in version "{api_version}"',
            )  # fmt: skip
        for owner in owners:
            finalizers = Attributes(attrs.user, "update", True, group, version, owner.plural, "finalizers",
                                    attrs.namespace, str(ref.get("name", "")))  # fmt: skip
            if not check(finalizers)[0]:
                raise _refused(
                    rt, name,
                    "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set "
                    "finalizers on: , <nil>",
                )  # fmt: skip


def _refused(rt: ResourceType, name: str, message: str) -> ApiError:
    """``admission.NewForbidden``: the resource being written, not the owner, is named."""
    return forbidden(rt.plural, rt.group, name, message)
