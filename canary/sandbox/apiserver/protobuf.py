"""Schema-driven Kubernetes protobuf decoding for kubectl's typed ``create`` commands.

kubectl's typed generators (``create namespace|configmap|secret|serviceaccount|deployment|service|
job|role|ingress|...``) always post ``application/vnd.kubernetes.protobuf`` (magic ``k8s\\0`` +
``runtime.Unknown``); client-go has no JSON fallback, not even after a 415, and nothing the server
advertises changes that.  Everything else kubectl sends (apply, patch, scale, label, set image, run) is
JSON.  So we decode, field by field, the messages listed in ``_KINDS`` (field numbers from
k8s.io/api and k8s.io/apimachinery ``generated.proto``) into the object kubectl would have sent as JSON.

Silent data loss is never acceptable: a field number a schema does not list, a non-empty ``status``,
an unknown kind or a malformed body is refused with 415 and a message naming the field, and nothing is
stored.  Zero values of non-pointer fields (gogo-protobuf always emits them) are dropped like JSON's
``omitempty``; pointer fields (``ptr=True``) keep them, since their presence is meaningful.
Responses are always JSON, which kubectl accepts.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from .errors import ApiError

Obj = dict[str, Any]
MAGIC = b"k8s\x00"
Raw = int | bytes
Kind = Literal[
    "str", "int", "bool", "bytes", "msg", "map", "map_bytes", "map_qty", "intstr", "qty", "time", "zero"
]
_ZERO_TIME = -62135596800  # Go's time.Time{}.Unix(): gogo marshals a zero metav1.Time as this
_SINT64 = 1 << 63


class Undecodable(Exception):
    """A field the schemas do not model; ``path`` names it for the error message."""

    def __init__(self, path: str, why: str = "") -> None:
        super().__init__(path)
        self.path = path
        self.why = why


@dataclass(frozen=True)
class F:
    """One protobuf field: its JSON name, value kind, and how zero values and repetition behave."""

    name: str
    kind: Kind = "str"
    repeated: bool = False
    msg: Schema | None = None
    ptr: bool = False  # Go pointer field: presence is meaningful, keep zero values


Schema = dict[int, F]


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise Undecodable("", "truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes, path: str) -> list[tuple[int, int, Raw]]:
    """Flat (field number, wire type, value) triples; length-delimited values stay bytes."""
    out: list[tuple[int, int, Raw]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
            out.append((num, wire, val))
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise Undecodable(path, "truncated length-delimited field")
            out.append((num, wire, buf[pos : pos + length]))
            pos += length
        else:
            # No modelled field is fixed32/fixed64/group; refuse rather than skip.
            raise Undecodable(f"{path}#{num}" if path else f"#{num}", f"unsupported wire type {wire}")
    return out


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _signed(val: int) -> int:
    """Varints of int32/int64 are two's complement over 64 bits (negative int32s are sign-extended)."""
    return val - (1 << 64) if val >= _SINT64 else val


def _str(val: Raw, path: str) -> str:
    if not isinstance(val, bytes):
        raise Undecodable(path, "expected a length-delimited field")
    try:
        return val.decode()
    except UnicodeDecodeError as exc:
        raise Undecodable(path, "invalid UTF-8") from exc


def _int(val: Raw, path: str) -> int:
    if not isinstance(val, int):
        raise Undecodable(path, "expected a varint")
    return _signed(val)


def _entry(val: Raw, path: str) -> tuple[str, Raw]:
    if not isinstance(val, bytes):
        raise Undecodable(path, "expected a map entry")
    key: str = ""
    value: Raw = b""
    for num, _, raw in _fields(val, path):
        if num == 1:
            key = _str(raw, path)
        elif num == 2:
            value = raw
        else:
            raise Undecodable(f"{path}#{num}")
    return key, value


def _quantity(val: Raw, path: str) -> str:
    return str(_message(val, {1: F("string")}, path).get("string", ""))


def _time(val: Raw, path: str) -> str | None:
    fields = _message(val, {1: F("seconds", "int", ptr=True), 2: F("nanos", "int", ptr=True)}, path)
    seconds, nanos = fields.get("seconds", 0), fields.get("nanos", 0)
    if seconds in (0, _ZERO_TIME) and not nanos:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _intstr(val: Raw, path: str) -> int | str:
    fields = _message(val, {1: F("type", "int"), 2: F("intVal", "int"), 3: F("strVal")}, path)
    return str(fields.get("strVal", "")) if fields.get("type") == 1 else int(fields.get("intVal", 0))


def _value(f: F, val: Raw, path: str) -> Any:
    if f.kind == "str":
        return _str(val, path)
    if f.kind == "int":
        return _int(val, path)
    if f.kind == "bool":
        return bool(_int(val, path))
    if f.kind == "bytes":
        if not isinstance(val, bytes):
            raise Undecodable(path, "expected bytes")
        return base64.b64encode(val).decode()
    if f.kind == "msg":
        assert f.msg is not None
        return _message(val, f.msg, path)
    if f.kind == "intstr":
        return _intstr(val, path)
    if f.kind == "qty":
        return _quantity(val, path)
    if f.kind == "time":
        return _time(val, path)
    if f.kind == "zero":
        if not _all_zero(val, path):
            raise Undecodable(path, "only an empty (all-zero) value is accepted here")
        return None
    raise AssertionError(f.kind)  # maps are handled by _message


def _all_zero(val: Raw, path: str) -> bool:
    """True if a value is zero, empty, or a message whose fields are all (recursively) zero."""
    if isinstance(val, int):
        return val == 0
    if not val:
        return True
    try:
        return all(_all_zero(raw, path) for _, _, raw in _fields(val, path))
    except Undecodable:
        return False  # not a message: a non-empty string or bytes


def _is_zero(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value is False or value == [] or value == {}


def _message(buf: Raw, schema: Schema, path: str) -> Obj:
    """Decode one message; any field number the schema does not list is refused."""
    if not isinstance(buf, bytes):
        raise Undecodable(path, "expected an embedded message")
    out: Obj = {}
    for num, _, val in _fields(buf, path):
        f = schema.get(num)
        if f is None:
            raise Undecodable(f"{path}#{num}" if path else f"#{num}")
        where = _join(path, f.name)
        if f.kind in ("map", "map_bytes", "map_qty"):
            key, raw = _entry(val, where)
            convert = {
                "map": _str,
                "map_bytes": lambda v, p: _value(F("", "bytes"), v, p),
                "map_qty": _quantity,
            }
            out.setdefault(f.name, {})[key] = convert[f.kind](raw, f"{where}[{key}]")
            continue
        value = _value(f, val, where)
        if f.repeated:
            out.setdefault(f.name, []).append(value)
        elif f.kind != "zero":
            out[f.name] = value
    for f in schema.values():  # omitempty for non-pointer scalars (gogo emits them unconditionally)
        keeps_zero = f.ptr or f.kind in ("msg", "map", "map_bytes", "map_qty")
        if f.name in out and not keeps_zero and _is_zero(out[f.name]):
            del out[f.name]
    return out


# ---------------------------------------------------------------- schemas (k8s.io generated.proto)
def _strs(name: str) -> F:
    return F(name, repeated=True)


OWNER_REFERENCE: Schema = {
    1: F("kind"), 3: F("name"), 4: F("uid"), 5: F("apiVersion"),
    6: F("controller", "bool", ptr=True), 7: F("blockOwnerDeletion", "bool", ptr=True),
}  # fmt: skip
OBJECT_META: Schema = {
    1: F("name"), 2: F("generateName"), 3: F("namespace"), 4: F("selfLink"), 5: F("uid"),
    6: F("resourceVersion"), 7: F("generation", "int"), 8: F("creationTimestamp", "time"),
    9: F("deletionTimestamp", "time"), 10: F("deletionGracePeriodSeconds", "int", ptr=True),
    11: F("labels", "map"), 12: F("annotations", "map"),
    13: F("ownerReferences", "msg", repeated=True, msg=OWNER_REFERENCE), 14: _strs("finalizers"),
}  # fmt: skip
LABEL_SELECTOR: Schema = {
    1: F("matchLabels", "map"),
    2: F("matchExpressions", "msg", repeated=True, msg={1: F("key"), 2: F("operator"), 3: _strs("values")}),
}
LOCAL_OBJECT_REFERENCE: Schema = {1: F("name")}
CONTAINER: Schema = {
    1: F("name"), 2: F("image"), 3: _strs("command"), 4: _strs("args"), 5: F("workingDir"),
    6: F("ports", "msg", repeated=True, msg={
        1: F("name"), 2: F("hostPort", "int"), 3: F("containerPort", "int"), 4: F("protocol"), 5: F("hostIP"),
    }),
    7: F("env", "msg", repeated=True, msg={1: F("name"), 2: F("value")}),
    8: F("resources", "msg", msg={1: F("limits", "map_qty"), 2: F("requests", "map_qty")}),
    13: F("terminationMessagePath"), 14: F("imagePullPolicy"), 16: F("stdin", "bool"),
    17: F("stdinOnce", "bool"), 18: F("tty", "bool"), 20: F("terminationMessagePolicy"),
    24: F("restartPolicy", ptr=True),
}  # fmt: skip
POD_SPEC: Schema = {
    2: F("containers", "msg", repeated=True, msg=CONTAINER), 3: F("restartPolicy"),
    4: F("terminationGracePeriodSeconds", "int", ptr=True), 5: F("activeDeadlineSeconds", "int", ptr=True),
    6: F("dnsPolicy"), 7: F("nodeSelector", "map"), 8: F("serviceAccountName"), 9: F("serviceAccount"),
    10: F("nodeName"), 11: F("hostNetwork", "bool"), 12: F("hostPID", "bool"), 13: F("hostIPC", "bool"),
    15: F("imagePullSecrets", "msg", repeated=True, msg=LOCAL_OBJECT_REFERENCE), 16: F("hostname"),
    17: F("subdomain"), 19: F("schedulerName"), 20: F("initContainers", "msg", repeated=True, msg=CONTAINER),
    21: F("automountServiceAccountToken", "bool", ptr=True), 24: F("priorityClassName"),
    25: F("priority", "int", ptr=True), 27: F("shareProcessNamespace", "bool", ptr=True),
    29: F("runtimeClassName", ptr=True), 30: F("enableServiceLinks", "bool", ptr=True),
    31: F("preemptionPolicy", ptr=True), 35: F("setHostnameAsFQDN", "bool", ptr=True),
    37: F("hostUsers", "bool", ptr=True),
}  # fmt: skip
POD_TEMPLATE_SPEC: Schema = {1: F("metadata", "msg", msg=OBJECT_META), 2: F("spec", "msg", msg=POD_SPEC)}
DEPLOYMENT_SPEC: Schema = {
    1: F("replicas", "int", ptr=True), 2: F("selector", "msg", msg=LABEL_SELECTOR),
    3: F("template", "msg", msg=POD_TEMPLATE_SPEC),
    4: F("strategy", "msg", msg={
        1: F("type"), 2: F("rollingUpdate", "msg", msg={
            1: F("maxUnavailable", "intstr", ptr=True), 2: F("maxSurge", "intstr", ptr=True),
        }),
    }),
    5: F("minReadySeconds", "int"), 6: F("revisionHistoryLimit", "int", ptr=True), 7: F("paused", "bool"),
    9: F("progressDeadlineSeconds", "int", ptr=True),
}  # fmt: skip
SERVICE_SPEC: Schema = {
    1: F("ports", "msg", repeated=True, msg={
        1: F("name"), 2: F("protocol"), 3: F("port", "int"), 4: F("targetPort", "intstr"),
        5: F("nodePort", "int"), 6: F("appProtocol", ptr=True),
    }),
    2: F("selector", "map"), 3: F("clusterIP"), 4: F("type"), 5: _strs("externalIPs"),
    7: F("sessionAffinity"), 8: F("loadBalancerIP"), 9: _strs("loadBalancerSourceRanges"),
    10: F("externalName"), 11: F("externalTrafficPolicy"), 12: F("healthCheckNodePort", "int"),
    13: F("publishNotReadyAddresses", "bool"),
    14: F("sessionAffinityConfig", "msg", msg={
        1: F("clientIP", "msg", msg={1: F("timeoutSeconds", "int", ptr=True)}),
    }),
    17: F("ipFamilyPolicy", ptr=True), 18: _strs("clusterIPs"), 19: _strs("ipFamilies"),
    20: F("allocateLoadBalancerNodePorts", "bool", ptr=True), 21: F("loadBalancerClass", ptr=True),
    22: F("internalTrafficPolicy", ptr=True), 23: F("trafficDistribution", ptr=True),
}  # fmt: skip
_META = F("metadata", "msg", msg=OBJECT_META)
_STATUS = F("status", "zero")  # a create never carries status; refuse one that does
POLICY_RULE: Schema = {
    1: _strs("verbs"), 2: _strs("apiGroups"), 3: _strs("resources"), 4: _strs("resourceNames"),
    5: _strs("nonResourceURLs"),
}  # fmt: skip
_RULES = F("rules", "msg", repeated=True, msg=POLICY_RULE)
_SUBJECTS = F(
    "subjects", "msg", repeated=True, msg={1: F("kind"), 2: F("apiGroup"), 3: F("name"), 4: F("namespace")}
)
_ROLE_REF = F("roleRef", "msg", msg={1: F("apiGroup"), 2: F("kind"), 3: F("name")})
TOKEN_REQUEST_SPEC: Schema = {
    1: _strs("audiences"), 4: F("expirationSeconds", "int", ptr=True),
    3: F("boundObjectRef", "msg", msg={1: F("kind"), 2: F("apiVersion"), 3: F("name"), 4: F("uid")}),
}  # fmt: skip
ACCESS_REVIEW_SPEC: Schema = {
    1: F("resourceAttributes", "msg", msg={
        1: F("namespace"), 2: F("verb"), 3: F("group"), 4: F("version"), 5: F("resource"),
        6: F("subresource"), 7: F("name"),
    }),
    2: F("nonResourceAttributes", "msg", msg={1: F("path"), 2: F("verb")}),
}  # fmt: skip

_KINDS: dict[tuple[str, str], Schema] = {
    ("v1", "Namespace"): {1: _META, 2: F("spec", "msg", msg={1: _strs("finalizers")}), 3: _STATUS},
    ("v1", "ConfigMap"): {
        1: _META, 2: F("data", "map"), 3: F("binaryData", "map_bytes"), 4: F("immutable", "bool", ptr=True),
    },
    ("v1", "Secret"): {
        1: _META, 2: F("data", "map_bytes"), 3: F("type"), 4: F("stringData", "map"),
        5: F("immutable", "bool", ptr=True),
    },
    ("v1", "ServiceAccount"): {
        1: _META, 3: F("imagePullSecrets", "msg", repeated=True, msg=LOCAL_OBJECT_REFERENCE),
        4: F("automountServiceAccountToken", "bool", ptr=True),
    },
    ("v1", "Service"): {1: _META, 2: F("spec", "msg", msg=SERVICE_SPEC), 3: _STATUS},
    ("apps/v1", "Deployment"): {1: _META, 2: F("spec", "msg", msg=DEPLOYMENT_SPEC), 3: _STATUS},
    ("rbac.authorization.k8s.io/v1", "Role"): {1: _META, 2: _RULES},
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): {1: _META, 2: _RULES},
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): {1: _META, 2: _SUBJECTS, 3: _ROLE_REF},
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): {1: _META, 2: _SUBJECTS, 3: _ROLE_REF},
    ("authentication.k8s.io/v1", "TokenRequest"): {1: _META, 2: F("spec", "msg", msg=TOKEN_REQUEST_SPEC), 3: _STATUS},
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: _META, 2: F("spec", "msg", msg=ACCESS_REVIEW_SPEC), 3: _STATUS,
    },
}  # fmt: skip


def _refuse(what: str, detail: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the sandbox API emulator cannot decode protobuf for {what}{detail}; "
        "nothing was stored - use `kubectl apply -f` (JSON/YAML) instead",
    )


def decode(body: bytes) -> Obj:
    """Decode a protobuf request body into a JSON-shaped object, or refuse it whole (415)."""
    if not body.startswith(MAGIC):
        raise ApiError(415, "UnsupportedMediaType", "protobuf body without k8s magic")
    try:
        unknown = _message(
            body[len(MAGIC) :],
            {1: F("typeMeta", "msg", msg={1: F("apiVersion"), 2: F("kind")}), 2: F("raw", "bytes"),
             3: F("contentEncoding"), 4: F("contentType")},
            "",
        )  # fmt: skip
    except Undecodable as exc:
        raise _refuse(
            "this body", f" (runtime.Unknown field {exc.path}: {exc.why or 'unknown field'})"
        ) from exc
    type_meta = unknown.get("typeMeta", {})
    api_version, kind = str(type_meta.get("apiVersion", "")), str(type_meta.get("kind", ""))
    what = f"{api_version} {kind}".strip() or "an object without apiVersion/kind"
    schema = _KINDS.get((api_version, kind))
    if schema is None:
        raise _refuse(what, " (kind not supported)")
    if unknown.get("contentEncoding"):
        raise _refuse(what, f" (content encoding {unknown['contentEncoding']!r})")
    raw = base64.b64decode(unknown.get("raw", ""))
    try:
        fields = _message(raw, schema, "")
    except Undecodable as exc:
        reason = f": {exc.why}" if exc.why else ""
        raise _refuse(what, f" field {exc.path or '<root>'}{reason}") from exc
    return {"apiVersion": api_version, "kind": kind, **fields}
