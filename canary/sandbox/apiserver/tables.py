"""Server-side ``Table`` rendering for ``kubectl get`` (Accept ``as=Table;v=v1;g=meta.k8s.io``)."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from typing import Any

from canary.api.duration import human_duration

from .errors import bad_request
from .rbacspecs import subjects_text
from .registry import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj], Any]]  # name, type, priority, extractor

_NAME_DESC = "Name must be unique within a namespace."


def age(timestamp: Any) -> str:
    """Relative age of an RFC 3339 timestamp, or ``<unknown>``."""
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        ts = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    return human_duration((datetime.datetime.now(datetime.UTC) - ts).total_seconds())


_JP_TOKEN = re.compile(
    r"\.([A-Za-z0-9_\-$/]+)|\[(\d+|\*)\]|\[\?\(@\.([\w.\-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]|\['([^']+)'\]"
)


def jsonpath(obj: Any, path: str) -> list[Any]:
    """The JSONPath subset printer columns use: ``.a.b``, ``[0]``, ``[*]``, ``[?(@.k=="v")]``."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    path = path.lstrip("$")
    current: list[Any] = [obj]
    pos = 0
    while pos < len(path):
        m = _JP_TOKEN.match(path, pos)
        if not m:
            return []
        pos = m.end()
        nxt: list[Any] = []
        for cur in current:
            if m.group(1) is not None or m.group(5) is not None:
                key = m.group(1) if m.group(1) is not None else m.group(5)
                if isinstance(cur, dict) and key in cur:
                    nxt.append(cur[key])
            elif m.group(2) is not None and isinstance(cur, list):
                if m.group(2) == "*":
                    nxt.extend(cur)
                elif int(m.group(2)) < len(cur):
                    nxt.append(cur[int(m.group(2))])
            elif m.group(3) is not None and isinstance(cur, list):
                keys = m.group(3).split(".")
                for item in cur:
                    val: Any = item
                    for k in keys:
                        val = val.get(k) if isinstance(val, dict) else None
                    if val is not None and str(val) == m.group(4):
                        nxt.append(item)
        current = nxt
    return current


def _cell(type_: str, values: list[Any]) -> Any:
    if not values:
        return None
    value = values[0] if len(values) == 1 else values
    if type_ == "date":
        return age(value)
    if type_ in ("integer", "number", "boolean") and not isinstance(value, dict | list):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _g(obj: Obj, *path: str, default: Any = None) -> Any:
    cur: Any = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    return default if cur is None else cur


def _ports(obj: Obj) -> str:
    out = []
    for p in _g(obj, "spec", "ports", default=[]):
        text = str(p.get("port", ""))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _hpa_targets(obj: Obj) -> str:
    out = []
    for metric in _g(obj, "spec", "metrics", default=[]):
        target = (metric.get("resource") or {}).get("target") or {}
        current: Obj = next(
            (
                c
                for c in _g(obj, "status", "currentMetrics", default=[])
                if c.get("type") == metric.get("type")
            ),
            {},
        )
        cur = ((current.get("resource") or {}).get("current") or {}).get("averageUtilization")
        want = target.get("averageUtilization", target.get("averageValue", target.get("value", "?")))
        out.append(f"{'<unknown>' if cur is None else str(cur) + '%'}/{want}%")
    return ", ".join(out) or "<none>"


def _created(obj: Obj) -> Any:
    return age(_g(obj, "metadata", "creationTimestamp"))


_AGE: Column = ("Age", "string", 0, _created)
BUILTIN_COLUMNS: dict[str, list[Column]] = {
    "deployments.apps": [
        (
            "Ready",
            "string",
            0,
            lambda o: f"{_g(o, 'status', 'readyReplicas', default=0)}/{_g(o, 'spec', 'replicas', default=1)}",
        ),
        ("Up-to-date", "integer", 0, lambda o: _g(o, "status", "updatedReplicas", default=0)),
        ("Available", "integer", 0, lambda o: _g(o, "status", "availableReplicas", default=0)),
        _AGE,
        (
            "Containers",
            "string",
            1,
            lambda o: ",".join(
                c.get("name", "") for c in _g(o, "spec", "template", "spec", "containers", default=[])
            ),
        ),
        (
            "Images",
            "string",
            1,
            lambda o: ",".join(
                c.get("image", "") for c in _g(o, "spec", "template", "spec", "containers", default=[])
            ),
        ),
    ],
    "services": [
        ("Type", "string", 0, lambda o: _g(o, "spec", "type", default="ClusterIP")),
        ("Cluster-IP", "string", 0, lambda o: _g(o, "spec", "clusterIP", default="<none>")),
        ("External-IP", "string", 0, lambda o: "<none>"),
        ("Port(s)", "string", 0, _ports),
        _AGE,
        (
            "Selector",
            "string",
            1,
            lambda o: (
                ",".join(f"{k}={v}" for k, v in _g(o, "spec", "selector", default={}).items()) or "<none>"
            ),
        ),
    ],
    "namespaces": [("Status", "string", 0, lambda o: _g(o, "status", "phase", default="Active")), _AGE],
    "configmaps": [
        ("Data", "integer", 0, lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
        _AGE,
    ],
    "secrets": [
        ("Type", "string", 0, lambda o: o.get("type", "Opaque")),
        ("Data", "integer", 0, lambda o: len(o.get("data") or {}) + len(o.get("stringData") or {})),
        _AGE,
    ],
    "pods": [
        (
            "Ready",
            "string",
            0,
            lambda o: (
                f"{sum(1 for c in _g(o, 'status', 'containerStatuses', default=[]) if c.get('ready'))}/{len(_g(o, 'spec', 'containers', default=[]))}"
            ),
        ),
        ("Status", "string", 0, lambda o: _g(o, "status", "phase", default="Pending")),
        (
            "Restarts",
            "integer",
            0,
            lambda o: sum(c.get("restartCount", 0) for c in _g(o, "status", "containerStatuses", default=[])),
        ),
        _AGE,
    ],
    "poddisruptionbudgets.policy": [
        ("Min Available", "string", 0, lambda o: str(_g(o, "spec", "minAvailable", default="N/A"))),
        ("Max Unavailable", "string", 0, lambda o: str(_g(o, "spec", "maxUnavailable", default="N/A"))),
        ("Allowed Disruptions", "integer", 0, lambda o: _g(o, "status", "disruptionsAllowed", default=0)),
        _AGE,
    ],
    "horizontalpodautoscalers.autoscaling": [
        (
            "Reference",
            "string",
            0,
            lambda o: (
                f"{_g(o, 'spec', 'scaleTargetRef', 'kind', default='')}/{_g(o, 'spec', 'scaleTargetRef', 'name', default='')}"
            ),
        ),
        ("Targets", "string", 0, _hpa_targets),
        ("MinPods", "integer", 0, lambda o: _g(o, "spec", "minReplicas", default=1)),
        ("MaxPods", "integer", 0, lambda o: _g(o, "spec", "maxReplicas", default=0)),
        ("Replicas", "integer", 0, lambda o: _g(o, "status", "currentReplicas", default=0)),
        _AGE,
    ],
    "ingresses.networking.k8s.io": [
        ("Class", "string", 0, lambda o: _g(o, "spec", "ingressClassName", default="<none>")),
        (
            "Hosts",
            "string",
            0,
            lambda o: ",".join(r.get("host", "*") for r in _g(o, "spec", "rules", default=[])) or "*",
        ),
        ("Address", "string", 0, lambda o: ""),
        ("Ports", "string", 0, lambda o: "80"),
        _AGE,
    ],
    "customresourcedefinitions.apiextensions.k8s.io": [
        ("Created At", "date", 0, lambda o: _g(o, "metadata", "creationTimestamp", default="")),
    ],
}
_CREATED_AT: Column = ("Created At", "date", 0, lambda o: _g(o, "metadata", "creationTimestamp", default=""))
_BINDING_COLUMNS: list[Column] = [
    (
        "Role",
        "string",
        0,
        lambda o: f"{_g(o, 'roleRef', 'kind', default='')}/{_g(o, 'roleRef', 'name', default='')}",
    ),
    _AGE,
    ("Users", "string", 1, lambda o: subjects_text(o, "User")),
    ("Groups", "string", 1, lambda o: subjects_text(o, "Group")),
    ("ServiceAccounts", "string", 1, lambda o: subjects_text(o, "ServiceAccount")),
]
BUILTIN_COLUMNS.update(
    {
        "roles.rbac.authorization.k8s.io": [_CREATED_AT],
        "clusterroles.rbac.authorization.k8s.io": [_CREATED_AT],
        "rolebindings.rbac.authorization.k8s.io": _BINDING_COLUMNS,
        "clusterrolebindings.rbac.authorization.k8s.io": _BINDING_COLUMNS,
    }
)
_EVENT_COLUMNS: list[Column] = [
    (
        "Last Seen",
        "string",
        0,
        lambda o: age(o.get("lastTimestamp") or o.get("eventTime") or _g(o, "metadata", "creationTimestamp")),
    ),
    ("Type", "string", 0, lambda o: o.get("type", "")),
    ("Reason", "string", 0, lambda o: o.get("reason", "")),
    (
        "Object",
        "string",
        0,
        lambda o: (
            f"{_g(o, 'involvedObject', 'kind', default='').lower()}/{_g(o, 'involvedObject', 'name', default='')}"
        ),
    ),
    ("Message", "string", 0, lambda o: (o.get("message") or "").strip()),
]


def _column_extractor(type_: str, path: str) -> Callable[[Obj], Any]:
    """Bind one printer column's jsonPath and type (a closure per column, not per loop variable)."""
    return lambda obj: _cell(type_, jsonpath(obj, path))


def columns_for(rt: ResourceType, version: str) -> tuple[list[Column], bool]:
    """Columns after NAME, and whether the NAME column is shown (events omit it, like kube)."""
    if rt.plural == "events":
        return _EVENT_COLUMNS, False
    if rt.crd:
        cols: list[Column] = []
        for c in rt.printer_columns.get(version, []):
            path, type_ = c.get("jsonPath", ""), c.get("type", "string")
            cols.append((c["name"], type_, int(c.get("priority", 0)), _column_extractor(type_, path)))
        if not any(c[0].lower() == "age" for c in cols):
            cols.append(_AGE)
        return cols, True
    return BUILTIN_COLUMNS.get(rt.rkey, [_AGE]), True


#: ``kubectl get --subresource=scale``: kube's ``printScale`` columns (the Scale carries no printer of its own).
SCALE_COLUMNS: list[Column] = [
    ("Desired", "integer", 0, lambda o: _g(o, "spec", "replicas", default=0)),
    ("Available", "integer", 0, lambda o: _g(o, "status", "replicas", default=0)),
    _AGE,
]
INCLUDE_OBJECT = ("Metadata", "None", "Object")


def include_object(value: str | None) -> str:
    """The validated ``includeObject`` parameter (kube's ``ValidateTableOptions``); empty means Metadata."""
    if not value:
        return "Metadata"
    if value not in INCLUDE_OBJECT:
        supported = ", ".join(f'"{v}"' for v in INCLUDE_OBJECT)
        raise bad_request(
            "Unable to convert to Table as requested: "
            f'includeObject: Unsupported value: "{value}": supported values: {supported}'
        )
    return value


def _partial(obj: Obj) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def render(
    rt: ResourceType,
    version: str,
    objects: list[Obj],
    resource_version: str,
    include: str,
    columns: list[Column] | None = None,
) -> Obj:
    """A ``meta.k8s.io/v1`` Table; ``include`` is the ``includeObject`` parameter (default Metadata).

    ``columns`` overrides the resource's own printer (with a NAME column), as for the scale subresource.
    """
    cols, with_name = columns_for(rt, version) if columns is None else (columns, True)
    definitions = []
    if with_name:
        definitions.append(
            {"name": "Name", "type": "string", "format": "name", "description": _NAME_DESC, "priority": 0}
        )
    definitions += [{"name": n, "type": "string" if t == "date" else t, "format": "", "description": n, "priority": p}
                    for n, t, p, _ in cols]  # fmt: skip
    rows = []
    for obj in objects:
        cells: list[Any] = [obj.get("metadata", {}).get("name", "")] if with_name else []
        cells += [fn(obj) for _, _, _, fn in cols]
        row: Obj = {"cells": cells}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }


def render_one(
    rt: ResourceType, version: str, obj: Obj, include: str, columns: list[Column] | None = None
) -> Obj:
    """The Table kube-apiserver answers a single-object GET with: one row, the object's resourceVersion."""
    rv = str(obj.get("metadata", {}).get("resourceVersion", ""))
    return render(rt, version, [obj], rv, include, columns)
