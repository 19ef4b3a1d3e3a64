"""The permission usage record: which non-admin user asked for what, and what RBAC answered.

For least-privilege checks in tests: compare :meth:`AccessLog.permissions_used` (what a
ServiceAccount's requests needed) with :func:`granted` (what its bindings give).  Memory is bounded:
identical requests collapse into one :class:`Access` with a count, and at most ``limit`` distinct
entries are kept (the first ones).  ``system:masters`` requests are not recorded.  Non-resource
requests are recorded with ``api_group`` "" and the URL path as ``resource`` (e.g. ``/version``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .auth import UserInfo
from .rbac import CLUSTER_ROLE_BINDINGS, ROLE_BINDINGS, Attributes, Authorizer, Grant, applies_to

LIMIT = 50_000


@dataclass(frozen=True)
class Access:
    """One distinct request: ``resource`` includes ``/subresource``; ``namespace`` "" is cluster scope."""

    user: str
    verb: str
    api_group: str
    resource: str
    namespace: str
    name: str
    allowed: bool


@dataclass(frozen=True)
class Permission:
    """A (verb, apiGroup, resource) a rule grants or a request used; ``*`` stays a wildcard."""

    verb: str
    api_group: str
    resource: str


class AccessLog:
    """Deduplicated record of authorization decisions for non-admin users."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self.counts: Counter[Access] = Counter()
        self.grants: dict[Access, Grant] = {}

    def record(self, attrs: Attributes, allowed: bool, grant: Grant | None) -> None:
        if attrs.user.is_master:
            return
        resource = attrs.combined_resource if attrs.resource_request else attrs.path
        access = Access(
            attrs.user.name, attrs.verb, attrs.api_group, resource, attrs.namespace, attrs.name, allowed
        )
        if access not in self.counts and len(self.counts) >= self.limit:
            return
        self.counts[access] += 1
        if grant is not None:
            self.grants.setdefault(access, grant)

    def permissions_used(self, user: str, *, allowed: bool | None = None) -> set[Access]:
        """Every distinct request ``user`` made (only allowed or only denied ones if ``allowed`` is set)."""
        return {a for a in self.counts if a.user == user and (allowed is None or a.allowed == allowed)}

    def denied(self, user: str) -> set[Access]:
        return self.permissions_used(user, allowed=False)

    def grant_for(self, access: Access) -> Grant | None:
        """The binding, role and rule index that allowed ``access`` (first time it was seen)."""
        return self.grants.get(access)

    def clear(self) -> None:
        self.counts.clear()
        self.grants.clear()


def granted(authorizer: Authorizer, user: UserInfo) -> set[Permission]:
    """Every (verb, apiGroup, resource) the user's stored bindings grant, in any namespace.

    Kube's built-in discovery/basic-user bindings and nonResourceURL rules are left out: they are not
    the user's own RBAC.
    """
    out: set[Permission] = set()
    store = authorizer.store
    bindings = [("", b) for b in store.list(CLUSTER_ROLE_BINDINGS)]
    bindings += [(b["metadata"].get("namespace", ""), b) for b in store.list(ROLE_BINDINGS)]
    for ns, binding in bindings:
        if not any(applies_to(s, user, ns) for s in binding.get("subjects") or []):
            continue
        for rule in authorizer.role_rules(binding.get("roleRef") or {}, ns):
            for verb in rule.get("verbs") or []:
                for group in rule.get("apiGroups") or []:
                    for resource in rule.get("resources") or []:
                        out.add(Permission(verb, group, resource))
    return out


def used(log: AccessLog, user: str) -> set[Permission]:
    """The (verb, apiGroup, resource) of the user's allowed resource requests."""
    return {
        Permission(a.verb, a.api_group, a.resource)
        for a in log.permissions_used(user, allowed=True)
        if not a.resource.startswith("/")
    }


def unused(log: AccessLog, authorizer: Authorizer, user: UserInfo) -> set[Permission]:
    """Granted permissions no allowed request exercised (wildcards count as used if anything matched)."""
    seen = used(log, user.name)

    def hit(p: Permission) -> bool:
        return any(
            p.verb in ("*", u.verb)
            and p.api_group in ("*", u.api_group)
            and (
                p.resource in ("*", u.resource)
                or (p.resource.startswith("*/") and u.resource.endswith(p.resource[1:]))
            )
            for u in seen
        )

    return {p for p in granted(authorizer, user) if not hit(p)}
