"""Minimal OpenAPI v3 so ``kubectl apply`` works with its default ``--validate=strict``.

kubectl asks the server whether it supports server-side field validation by looking, in
``/openapi/v3/<group-version>``, for a PATCH operation tagged with the object's
``x-kubernetes-group-version-kind`` that declares a ``fieldValidation`` query parameter.  When found,
kubectl sends ``fieldValidation=Strict`` and leaves validation to us; that is all this module serves
(no component schemas, so kubectl falls back to its built-in Go structs for strategic-merge diffs).
``/openapi/v2`` is not served (kubectl would want protobuf there); a 404 makes clients use v3.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .registry import Registry, ResourceType

Obj = dict[str, Any]

_QUERY_PARAMS = ("fieldValidation", "dryRun", "fieldManager", "force", "pretty")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _operations(rt: ResourceType, group: str, version: str) -> dict[str, Obj]:
    gvk = {"group": group, "version": version, "kind": rt.kind}
    params = [
        {"name": p, "in": "query", "schema": {"type": "string"}, "uniqueItems": True} for p in _QUERY_PARAMS
    ]
    base = (
        "/"
        + _gv_path(group, version)
        + ("/namespaces/{namespace}" if rt.namespaced else "")
        + f"/{rt.plural}"
    )
    ok = {"200": {"description": "OK"}}

    def op(verb: str, action: str) -> Obj:
        return {"operationId": f"{verb}{rt.kind}", "parameters": params, "responses": ok,
                "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk}  # fmt: skip

    return {
        base: {"get": op("list", "list"), "post": op("create", "post")},
        base + "/{name}": {"get": op("read", "get"), "put": op("replace", "put"),
                           "patch": op("patch", "patch"), "delete": op("delete", "delete")},
    }  # fmt: skip


def group_version_document(registry: Registry, group: str, version: str) -> Obj | None:
    paths: dict[str, Obj] = {}
    for rt in registry.types():
        if rt.group == group and version in rt.versions:
            paths.update(_operations(rt, group, version))
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
            "components": {"schemas": {}}}  # fmt: skip


def document(registry: Registry, parts: list[str]) -> Obj | None:
    """Serve ``/openapi/v3`` (index with content hashes so kubectl's cache refreshes) and per-GV docs."""
    if parts == ["v3"]:
        gvs = [("", "v1")] + [(g, v) for g, vs in registry.groups().items() for v in vs]
        index = {}
        for group, version in gvs:
            doc = group_version_document(registry, group, version)
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
            index[_gv_path(group, version)] = {
                "serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"
            }
        return {"paths": index}
    if parts[:1] == ["v3"] and len(parts) >= 3:
        if parts[1] == "api" and len(parts) == 3:
            return group_version_document(registry, "", parts[2])
        if parts[1] == "apis" and len(parts) == 4:
            return group_version_document(registry, parts[2], parts[3])
    return None
