"""JSON merge patch, JSON patch, and a strategic-merge approximation keyed on well-known list fields."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from .errors import ApiError, bad_request

Obj = dict[str, Any]

# Lists kube merges by key under strategic merge patch (patchMergeKey); the rest are replaced.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "ephemeralContainerStatuses": "name",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
}
# ports merge by containerPort in containers, by port in services
PORT_KEYS = ("containerPort", "port")
# primitive lists merged as sets (patchStrategy: merge without key)
PRIMITIVE_MERGE = frozenset({"finalizers"})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Obj, ops: Any) -> Obj:
    """RFC 6902; a failing ``test`` op is 422, as kube answers (kopf relies on it)."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    try:
        result: Obj = jsonpatch.apply_patch(target, ops)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        KeyError,
        IndexError,
        TypeError,
    ) as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field in MERGE_KEYS:
        return MERGE_KEYS[field]
    if field == "ports":
        for key in PORT_KEYS:
            if items and all(isinstance(i, dict) and key in i for i in items):
                return key
    return None


def _strategic_list(field: str, target: list[Any] | None, patch: list[Any]) -> list[Any]:
    target = list(target or [])
    if field in PRIMITIVE_MERGE:
        return target + [p for p in patch if p not in target]
    key = _merge_key(field, [p for p in patch if isinstance(p, dict) and "$patch" not in p] or target)
    if key is None or not all(isinstance(p, dict) for p in patch):
        return [strip_directives(p) for p in patch]
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [strip_directives(p) for p in patch if p.get("$patch") != "replace"]
    result = [copy.deepcopy(t) for t in target]
    for item in patch:
        idx = next(
            (i for i, t in enumerate(result) if isinstance(t, dict) and t.get(key) == item.get(key)), None
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
        elif idx is None:
            result.append(strip_directives(item))
        else:
            result[idx] = strategic_merge(result[idx], item)
    return result


def strip_directives(value: Any) -> Any:
    """Drop ``$patch``/``$setElementOrder``/``$retainKeys``… keys from a value inserted verbatim."""
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [strip_directives(v) for v in value]
    return value


def strategic_merge(target: Any, patch: Any) -> Any:
    """Strategic merge patch (approximation): merge patch plus keyed list merge and directives."""
    if not isinstance(patch, dict):
        return strip_directives(patch)
    if patch.get("$patch") == "replace":
        return strip_directives(patch)
    result: Obj = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name) or [] if v not in value]
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _strategic_list(key, result.get(key), value)
        elif isinstance(value, dict):
            result[key] = strategic_merge(result.get(key), value)
        else:
            result[key] = value
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result
