"""Just enough Kubernetes protobuf decoding for kubectl's typed ``create`` commands.

``kubectl create namespace|configmap|secret`` post ``application/vnd.kubernetes.protobuf`` bodies
(magic ``k8s\\0`` + ``runtime.Unknown``).  We decode ObjectMeta's name/generateName/namespace/labels/
annotations and the few top-level fields of Namespace, ConfigMap and Secret; other kinds get only
metadata.  Responses are always JSON, which kubectl accepts.
"""

from __future__ import annotations

import base64
from typing import Any

from .errors import ApiError

Obj = dict[str, Any]
MAGIC = b"k8s\x00"


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Flat (field number, value) pairs; length-delimited values stay bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
            out.append((num, val))
        elif wire == 2:
            length, pos = _varint(buf, pos)
            out.append((num, buf[pos : pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ApiError(415, "UnsupportedMediaType", "unsupported protobuf wire type")
    return out


def _map(entries: list[bytes], binary: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries:
        kv = dict(_fields(entry))
        key = kv.get(1, b"")
        val = kv.get(2, b"")
        if isinstance(key, bytes) and isinstance(val, bytes):
            out[key.decode()] = base64.b64encode(val).decode() if binary else val.decode()
    return out


def _group(fields: list[tuple[int, int | bytes]], num: int) -> list[bytes]:
    return [v for n, v in fields if n == num and isinstance(v, bytes)]


def _meta(buf: bytes) -> Obj:
    fields = _fields(buf)
    meta: Obj = {}
    for num, key in ((1, "name"), (2, "generateName"), (3, "namespace")):
        vals = _group(fields, num)
        if vals and vals[0]:
            meta[key] = vals[0].decode()
    for num, key in ((11, "labels"), (12, "annotations")):
        entries = _group(fields, num)
        if entries:
            meta[key] = _map(entries)
    return meta


def decode(body: bytes) -> Obj:
    """Decode a protobuf request body into a JSON-shaped object."""
    if not body.startswith(MAGIC):
        raise ApiError(415, "UnsupportedMediaType", "protobuf body without k8s magic")
    unknown = _fields(body[len(MAGIC) :])
    type_meta = dict(_fields(_group(unknown, 1)[0])) if _group(unknown, 1) else {}
    raw = _group(unknown, 2)[0] if _group(unknown, 2) else b""
    api_version = type_meta.get(1, b"")
    kind = type_meta.get(2, b"")
    obj: Obj = {
        "apiVersion": api_version.decode() if isinstance(api_version, bytes) else "",
        "kind": kind.decode() if isinstance(kind, bytes) else "",
    }
    fields = _fields(raw)
    if _group(fields, 1):
        obj["metadata"] = _meta(_group(fields, 1)[0])
    if obj["kind"] == "ConfigMap":
        if _group(fields, 2):
            obj["data"] = _map(_group(fields, 2))
        if _group(fields, 3):
            obj["binaryData"] = _map(_group(fields, 3), binary=True)
    elif obj["kind"] == "Secret":
        if _group(fields, 2):
            obj["data"] = _map(_group(fields, 2), binary=True)
        if _group(fields, 3) and _group(fields, 3)[0]:
            obj["type"] = _group(fields, 3)[0].decode()
        if _group(fields, 4):
            obj["stringData"] = _map(_group(fields, 4))
    return obj
