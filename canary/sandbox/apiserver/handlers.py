"""REST routing: discovery, OpenAPI stub, CRUD/patch/watch on every registered resource.

Paths follow kube exactly (``/api/v1/...``, ``/apis/{g}/{v}/...``, ``namespaces/{ns}/`` infix, legacy
``/watch/`` prefix, ``/status`` and ``/scale`` subresources).  Bodies are JSON (YAML for
``apply-patch+yaml``; a tiny protobuf subset for kubectl's typed ``create``); responses are always JSON.
Every request is authenticated (``auth``) and authorized (``rbac``) before its verb runs, a watch
when it starts; ``Impersonate-User``/``Impersonate-Group`` need the ``impersonate`` verb, as in kube.
Aggregated discovery is not served: kubectl's ``Accept: ...as=APIGroupDiscoveryList...`` gets a plain
``application/json`` APIGroupList, which client-go treats as the legacy form and falls back cleanly.
Deliberately ignored: ``limit``/``continue`` (everything in one page), ``resourceVersionMatch``,
``propagationPolicy`` (GC is always background), managedFields and field ownership (server-side apply is
a create-or-strategic-merge), admission webhooks, conversion between CRD versions (served as-is).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import time
from typing import Any
from urllib.parse import unquote

import yaml
from aiohttp import web

from . import fielderrors, names, openapi, ownerrefs, patching, protobuf, rbacspecs, reviews, specs, tables
from .access import AccessLog
from .auth import Authenticator, UserInfo, service_account_user, split_service_account
from .errors import ApiError, already_exists, bad_request, conflict, invalid, not_found
from .rbac import Attributes, Authorizer, denied, request_attributes
from .registry import Registry, ResourceType, crd_status, crd_to_type
from .selectors import combined
from .store import Event, Store
from .validation import admit, validate_crd, validate_object

log = logging.getLogger(__name__)
Obj = dict[str, Any]

VERSION_INFO = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-canary-sandbox", "gitCommit": "0" * 40,
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
    "compiler": "gc", "platform": "linux/amd64",
}  # fmt: skip
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
BOOKMARK_INTERVAL = 10.0
ATTRS = web.RequestKey("attrs", Attributes)  # the authorized request's attributes (user, verb...)


def _warning(text: str) -> str:
    """RFC 7234 warn-code 299 with an escaped quoted text, as kube-apiserver emits."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {"Warning": ", ".join(_warning(w) for w in warnings)} if warnings else None
    return web.Response(
        text=json.dumps(body), status=status, content_type="application/json", headers=headers
    )


def _wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _refuse_constant(token: str) -> Any:
    """``json.loads`` hook: ``NaN``/``Infinity`` are Python's extension, not JSON."""
    raise ValueError(f"invalid character '{token[0]}' looking for beginning of value")


class Handlers:
    """Owns the registry and store wiring; one instance per server."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.authn = Authenticator(store)
        self.authz = Authorizer(store)
        self.access = AccessLog()
        self.cluster_ips: set[str] = set()
        store.on_removed.append(self._on_removed)
        self._bootstrap()

    def _bootstrap(self) -> None:
        for ns in ("default", "kube-system", "kube-public"):
            self.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                                             "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})  # fmt: skip
        self.store.create("services", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        })  # fmt: skip
        self.cluster_ips.add("10.96.0.1")

    def _on_removed(self, rkey: str, obj: Obj) -> None:
        if rkey == "customresourcedefinitions.apiextensions.k8s.io":
            rt = crd_to_type(obj)
            self.registry.remove(rt.rkey)
            self.store.drop_resource(rt.rkey)
        if rkey == "services":
            self.cluster_ips.discard(obj.get("spec", {}).get("clusterIP", ""))

    # ------------------------------------------------------------------ entry point
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Single catch-all route: kube paths are too irregular for aiohttp's router."""
        try:
            request[ATTRS] = self._authorize(request)
            return await self._route(request)
        except ApiError as exc:
            return _json(exc.status(), exc.code)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # pragma: no cover - a bug, but answer like kube would
            log.exception("internal error on %s %s", request.method, request.path)
            return _json(ApiError(500, "InternalError", f"internal error: {exc}").status(), 500)

    def _authorize(self, request: web.Request) -> Attributes:
        """Authenticate, impersonate, authorize (kube's filter order); 401/403 before any verb runs."""
        peercert = request.transport.get_extra_info("peercert") if request.transport is not None else None
        user = self.authn.authenticate(request.headers.get("Authorization"), peercert)
        user = self._impersonate(request, user)
        attrs = request_attributes(user, request.method, request.path, request.query)
        allowed, grant = self.authz.authorize(attrs)
        self.access.record(attrs, allowed, grant)
        if not allowed:
            raise denied(attrs)
        return attrs

    def _impersonate(self, request: web.Request, user: UserInfo) -> UserInfo:
        """``Impersonate-User``/``Impersonate-Group``: the caller needs ``impersonate`` on each."""
        target = request.headers.get("Impersonate-User", "")
        groups = request.headers.getall("Impersonate-Group", [])
        if not target and not groups:
            return user
        if not target:
            raise bad_request("requested impersonation of groups without impersonating a user")
        sa = split_service_account(target)
        checks = [
            Attributes(user, "impersonate", True, resource="serviceaccounts", namespace=sa[0], name=sa[1])
            if sa
            else Attributes(user, "impersonate", True, resource="users", name=target)
        ]
        checks += [Attributes(user, "impersonate", True, resource="groups", name=g) for g in groups]
        for attrs in checks:
            allowed, grant = self.authz.authorize(attrs)
            self.access.record(attrs, allowed, grant)
            if not allowed:
                raise denied(attrs)
        if sa and not groups:
            return service_account_user(*sa)
        extra = ["system:unauthenticated" if target == "system:anonymous" else "system:authenticated"]
        return UserInfo(target, tuple(groups) + tuple(g for g in extra if g not in groups))

    async def _route(self, request: web.Request) -> web.StreamResponse:
        parts = [unquote(p) for p in request.path.strip("/").split("/") if p]
        if request.method == "GET":
            static = self._static(parts)
            if static is not None:
                return static
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        watch = request.query.get("watch") in ("true", "1")
        if rest and rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        rt = self.registry.lookup(group, version, plural)
        if rt is None or len(rest) > 3 or (namespace is not None and not rt.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if (
            rt.namespaced
            and namespace is None
            and (name is not None or request.method not in ("GET", "DELETE"))
        ):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if sub is not None and not (
            (sub == "status" and rt.status) or (sub == "scale" and rt.scale) or (sub == "token" and rt.token)
        ):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns = namespace or ""
        method = request.method
        if sub == "token" and name is not None and method == "POST":
            body = await self._body(request)
            return _json(reviews.token_request(self.authn, self.store, ns, name, body), 201)
        if rt.virtual and name is None and method == "POST":
            body = await self._body(request)
            return _json(reviews.self_subject_access_review(self.authz, request[ATTRS].user, body), 201)
        if sub == "token" or rt.virtual:
            raise ApiError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        if method == "GET" and name is None:
            return await (
                self._watch(request, rt, version, namespace)
                if watch
                else self._list(request, rt, version, namespace)
            )
        if method == "GET" and name is not None:
            return self._get(request, rt, version, ns, name, sub)
        if method == "POST" and name is None:
            return await self._create(request, rt, version, ns)
        if method == "PUT" and name is not None:
            return await self._update(request, rt, version, ns, name, sub)
        if method == "PATCH" and name is not None:
            return await self._patch(request, rt, version, ns, name, sub)
        if method == "DELETE" and name is not None:
            return await self._delete(request, rt, version, ns, name)
        if method == "DELETE" and name is None:
            return self._delete_collection(request, rt, version, namespace)
        raise ApiError(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )

    def _static(self, parts: list[str]) -> web.StreamResponse | None:
        path = "/".join(parts)
        if path in ("healthz", "readyz", "livez"):
            return web.Response(text="ok")
        if path == "version":
            return _json(VERSION_INFO)
        if path == "api":
            return _json(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
                }
            )
        if path == "api/v1":
            return _json(self.registry.resource_list("", "v1"))
        if path == "apis":
            return _json(self.registry.api_group_list())
        if parts[:1] == ["apis"] and len(parts) in (2, 3):
            doc = (
                self.registry.api_group(parts[1])
                if len(parts) == 2
                else self.registry.resource_list(parts[1], parts[2])
            )
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return _json(doc)
        if parts[:1] == ["openapi"]:
            doc = openapi.document(self.registry, parts[1:])
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return _json(doc)
        return None

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _out(rt: ResourceType, version: str, obj: Obj) -> Obj:
        """Serve any stored object as the requested version (no conversion, like ``strategy: None``)."""
        obj["apiVersion"] = rt.api_version(version)
        obj["kind"] = rt.kind
        return obj

    @staticmethod
    async def _body(request: web.Request, *, allow_yaml: bool = False) -> Any:
        raw = await request.read()
        if request.content_type == "application/vnd.kubernetes.protobuf":
            return protobuf.decode(raw)
        try:
            if allow_yaml:
                return yaml.safe_load(raw.decode() or "null")
            # Strict JSON, as Go's decoder: NaN and Infinity are not JSON and a real server refuses them.
            return json.loads(raw or b"null", parse_constant=_refuse_constant)
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"the body of the request was in an unknown format: {exc}") from exc

    def _check_namespace(self, rt: ResourceType, ns: str) -> None:
        if rt.namespaced and self.store.get("namespaces", "", ns) is None:
            raise not_found("namespaces", "", ns)

    def _scale(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        selector = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in selector.items())},
        }  # fmt: skip

    def _assign_cluster_ip(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if spec.get("clusterIP") in (None, ""):
            while True:
                ip = f"10.96.{random.randint(1, 254)}.{random.randint(1, 254)}"
                if ip not in self.cluster_ips:
                    break
            spec["clusterIP"] = ip
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))

    def _prepare(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        """Type-specific defaulting that kube's registry strategies perform."""
        if rt.rkey == "services" and old is None:
            self._assign_cluster_ip(obj)
        elif rt.rkey == "services" and old is not None:
            obj.setdefault("spec", {}).setdefault("clusterIP", old.get("spec", {}).get("clusterIP"))
            obj["spec"].setdefault("clusterIPs", old.get("spec", {}).get("clusterIPs"))
        elif rt.rkey == "namespaces":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
        elif rt.rkey in ("deployments.apps", "replicasets.apps"):
            obj.setdefault("spec", {}).setdefault("replicas", 1)
            if rt.rkey == "deployments.apps":
                obj["spec"].setdefault("revisionHistoryLimit", 10)
                obj["spec"].setdefault("progressDeadlineSeconds", 600)
                obj["spec"].setdefault(
                    "strategy",
                    {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                )
        elif rt.rkey == "secrets":
            obj.setdefault("type", "Opaque")
        elif rt.rkey in rbacspecs.NAMES:
            rbacspecs.default(rt.rkey, obj)
        elif rt.rkey == "customresourcedefinitions.apiextensions.k8s.io":
            validate_crd(obj)
            obj["status"] = crd_status(obj)

    def _admit_owner_refs(self, request: web.Request, rt: ResourceType, new: Obj, old: Obj | None) -> None:
        attrs = request.get(ATTRS)
        if attrs is not None:
            ownerrefs.admit(self.authz, self.access, self.registry, attrs, rt, new, old)

    def _after_write(self, rt: ResourceType, obj: Obj) -> None:
        if rt.rkey == "services" and obj.get("spec", {}).get("clusterIP") not in (None, "", "None"):
            self.cluster_ips.add(obj["spec"]["clusterIP"])  # only once stored: a refused write holds no IP
        if rt.rkey == "customresourcedefinitions.apiextensions.k8s.io" and not obj["metadata"].get(
            "deletionTimestamp"
        ):
            self.registry.add(crd_to_type(obj))

    # ------------------------------------------------------------------ verbs
    async def _list(
        self, request: web.Request, rt: ResourceType, version: str, namespace: str | None
    ) -> web.Response:
        match = combined(request.query.get("labelSelector"), request.query.get("fieldSelector"))
        items = [self._out(rt, version, o) for o in self.store.list(rt.rkey, namespace) if match(o)]
        rv = str(self.store.resource_version)
        if _wants_table(request):
            include = tables.include_object(request.query.get("includeObject"))
            return _json(tables.render(rt, version, items, rv, include))
        return _json({"kind": rt.list_kind, "apiVersion": rt.api_version(version),
                      "metadata": {"resourceVersion": rv}, "items": items})  # fmt: skip

    def _get(
        self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str, sub: str | None
    ) -> web.Response:
        """One object; with ``as=Table`` a one-row Table, as kube's ``transformResponseObject`` does.

        Errors (a NotFound) stay plain Status objects, like kube (``doTransformObject`` skips a Status).
        """
        obj = self.store.require(rt.rkey, ns, name)  # a NotFound wins over bad table options, as in kube
        include = tables.include_object(request.query.get("includeObject")) if _wants_table(request) else None
        if sub == "scale":
            scale = self._scale(rt, obj)
            if include is None:
                return _json(scale)
            return _json(tables.render_one(rt, version, scale, include, tables.SCALE_COLUMNS))
        out = self._out(rt, version, obj)
        return _json(out if include is None else tables.render_one(rt, version, out, include))

    async def _create(self, request: web.Request, rt: ResourceType, version: str, ns: str) -> web.Response:
        obj = await self._body(request)
        if not isinstance(obj, dict):
            raise bad_request("the body of the request must be an object")
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(rt.kind, rt.group, "", [{"field": "metadata.name", "reason": "FieldValueRequired",
                                                        "message": "Required value: name or generateName is required"}])  # fmt: skip
            base = str(meta["generateName"])[: names.GENERATED_BASE_MAX]  # as kube: room for the suffix
            meta["name"] = base + "".join(random.choices(_SUFFIX_CHARS, k=5))
        return self._do_create(request, rt, version, obj)

    def _do_create(self, request: web.Request, rt: ResourceType, version: str, obj: Obj) -> web.Response:
        meta = obj["metadata"]
        self._check_namespace(rt, meta.get("namespace", ""))
        self._out(rt, version, obj)
        if rt.status:
            obj.pop("status", None)
        for key in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(key, None)
        warnings = admit(rt, version, obj, request.query.get("fieldValidation", ""))
        self._prepare(rt, obj, None)
        self._admit_owner_refs(request, rt, obj, None)
        validate_object(rt, obj, None)
        if request.query.get("dryRun"):
            if self.store.get(rt.rkey, meta.get("namespace", ""), meta["name"]) is not None:
                raise already_exists(rt.plural, rt.group, meta["name"])
            return _json(obj, 201, warnings)
        created = self.store.create(rt.rkey, obj)
        self._after_write(rt, created)
        return _json(self._out(rt, version, created), 201, warnings)

    def _write(
        self,
        request: web.Request,
        rt: ResourceType,
        version: str,
        old: Obj,
        new: Obj,
        sub: str | None,
        expected_rv: str | None,
    ) -> web.Response:
        """Shared tail of PUT and PATCH: status isolation, validation, optimistic concurrency."""
        meta = new.setdefault("metadata", {})
        old_meta = old["metadata"]
        if meta.get("name", old_meta["name"]) != old_meta["name"]:
            raise bad_request("the name of the object does not match the name on the URL")
        if rt.namespaced and meta.get("namespace", old_meta["namespace"]) != old_meta["namespace"]:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        if expected_rv and expected_rv != old_meta["resourceVersion"]:
            raise conflict(rt.plural, rt.group, old_meta["name"])
        if sub == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif rt.status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        new["metadata"]["name"] = old_meta["name"]
        if rt.namespaced:
            new["metadata"]["namespace"] = old_meta["namespace"]
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        self._out(rt, version, new)
        warnings = admit(rt, version, new, request.query.get("fieldValidation", ""))
        self._prepare(rt, new, old)
        self._admit_owner_refs(request, rt, new, old)
        validate_object(rt, new, old, sub)
        if request.query.get("dryRun"):
            return _json(new, 200, warnings)
        updated = self.store.update(rt.rkey, new)
        self._after_write(rt, updated)
        return _json(self._out(rt, version, updated), 200, warnings)

    async def _update(
        self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str, sub: str | None
    ) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        old = self.store.require(rt.rkey, ns, name)
        if sub == "scale":
            return self._write_scale(rt, version, old, body)
        expected = (body.get("metadata") or {}).get("resourceVersion")
        return self._write(request, rt, version, old, body, sub, expected)

    def _write_scale(self, rt: ResourceType, version: str, old: Obj, scale: Obj) -> web.Response:
        expected = (scale.get("metadata") or {}).get("resourceVersion")
        if expected and expected != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, old["metadata"]["name"])
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if isinstance(replicas, int) and replicas < 0:  # kube's ValidateScale
            cause = fielderrors.invalid("spec.replicas", replicas, specs.NEGATIVE)
            raise invalid("Scale", "autoscaling", old["metadata"]["name"], [cause])
        new = copy.deepcopy(old)
        new.setdefault("spec", {})["replicas"] = replicas
        updated = self.store.update(rt.rkey, new)
        return _json(self._scale(rt, updated))

    async def _patch(
        self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str, sub: str | None
    ) -> web.Response:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        is_apply = ctype == "application/apply-patch+yaml"
        body = await self._body(request, allow_yaml=is_apply)
        old = self.store.get(rt.rkey, ns, name)
        if old is None:
            if is_apply and isinstance(body, dict) and sub is None:
                meta = body.setdefault("metadata", {})
                meta["name"] = name
                if rt.namespaced:
                    meta["namespace"] = ns
                return self._do_create(request, rt, version, body)
            raise not_found(rt.plural, rt.group, name)
        base = self._scale(rt, old) if sub == "scale" else old
        if ctype == "application/json-patch+json":
            patched = patching.json_patch(base, body)
        elif ctype == "application/merge-patch+json":
            patched = patching.merge_patch(base, body)
        elif ctype in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
            if rt.crd and ctype.startswith("application/strategic"):
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                )
            patched = patching.strategic_merge(base, body)
        else:
            raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {ctype!r}")
        if not isinstance(patched, dict):
            raise bad_request("patch result is not an object")
        if sub == "scale":
            return self._write_scale(rt, version, old, patched)
        expected = (patched.get("metadata") or {}).get("resourceVersion")
        return self._write(request, rt, version, old, patched, sub, expected)

    async def _delete(
        self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str
    ) -> web.Response:
        raw = await request.read()
        options: Obj = {}
        if raw:
            try:
                options = json.loads(raw) or {}
            except ValueError:
                options = {}
        pre = options.get("preconditions") or {}
        current = self.store.require(rt.rkey, ns, name)
        if pre.get("uid") and pre["uid"] != current["metadata"]["uid"]:
            raise conflict(rt.plural, rt.group, name)
        if request.query.get("dryRun"):
            return _json(self._out(rt, version, current))
        obj = self.store.delete(rt.rkey, ns, name, expected_rv=pre.get("resourceVersion"))
        return _json(self._out(rt, version, obj))

    def _delete_collection(
        self, request: web.Request, rt: ResourceType, version: str, namespace: str | None
    ) -> web.Response:
        match = combined(request.query.get("labelSelector"), request.query.get("fieldSelector"))
        deleted = []
        for obj in self.store.list(rt.rkey, namespace):
            if match(obj):
                meta = obj["metadata"]
                deleted.append(
                    self._out(
                        rt, version, self.store.delete(rt.rkey, meta.get("namespace", ""), meta["name"])
                    )
                )
        return _json({"kind": rt.list_kind, "apiVersion": rt.api_version(version),
                      "metadata": {"resourceVersion": str(self.store.resource_version)}, "items": deleted})  # fmt: skip

    # ------------------------------------------------------------------ watch
    async def _watch(
        self, request: web.Request, rt: ResourceType, version: str, namespace: str | None
    ) -> web.StreamResponse:
        match = combined(request.query.get("labelSelector"), request.query.get("fieldSelector"))
        timeout = float(request.query.get("timeoutSeconds") or 1800)
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
        as_table = _wants_table(request)
        include = tables.include_object(request.query.get("includeObject")) if as_table else "Metadata"
        response = web.StreamResponse(
            headers={"Content-Type": "application/json", "Cache-Control": "no-cache"}
        )
        response.enable_chunked_encoding()
        try:
            watcher, backlog = self.store.subscribe(rt.rkey, namespace, request.query.get("resourceVersion"))
        except ApiError as exc:
            if exc.code != 410:
                raise
            await response.prepare(request)
            await response.write(json.dumps({"type": "ERROR", "object": exc.status()}).encode() + b"\n")
            await response.write_eof()
            return response
        await response.prepare(request)

        async def send(type_: str, obj: Obj) -> None:
            obj = self._out(rt, version, copy.deepcopy(obj))
            if as_table and type_ != "BOOKMARK":
                obj = tables.render(rt, version, [obj], obj["metadata"].get("resourceVersion", ""), include)
            await response.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")

        async def deliver(event: Event) -> None:
            now_ok = match(event.object)
            was_ok = event.previous is not None and match(event.previous)
            if event.type == "ADDED" and now_ok:
                await send("ADDED", event.object)
            elif event.type == "MODIFIED":
                if now_ok:
                    await send("MODIFIED" if was_ok else "ADDED", event.object)
                elif was_ok:
                    await send("DELETED", event.object)
            elif event.type == "DELETED" and (was_ok or now_ok):
                await send("DELETED", event.object)

        deadline = time.monotonic() + timeout
        try:
            for event in backlog:
                await deliver(event)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(remaining, BOOKMARK_INTERVAL) if bookmarks else remaining
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    if bookmarks and deadline - time.monotonic() > 0:
                        bookmark = {"metadata": {"resourceVersion": str(self.store.resource_version)}}
                        await send("BOOKMARK", bookmark)
                    continue
                if item is None:
                    break
                await deliver(item)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self.store.unsubscribe(watcher)
        return response
