"""``metadata`` validation as kube-apiserver's ``ValidateObjectMeta`` does it, per kind.

Why it matters here: names and labels the project derives (``<name>-primary``, selector values) can
exceed what a real cluster accepts, and only a refusal in the sandbox surfaces that before a real
cluster does.  Modelled: the name rule of each kind (Namespaces are DNS-1123 labels, Services
DNS-1035 labels, everything else including custom resources DNS-1123 subdomains), ``generateName``
(checked as a prefix, a trailing ``-`` allowed), label keys and values, annotation keys and their
256 KiB total, finalizer names and the required fields of ``ownerReferences``.  Core ``v1`` Events
skip all of it, as kube's legacy Event validation does.  On update the name is not re-checked (it
is immutable, and was checked on create).
"""

from __future__ import annotations

from typing import Any

from . import names, rbacspecs
from .fielderrors import Cause, each_invalid, invalid, required, too_long
from .registry import ResourceType

#: kube's ``TotalAnnotationSizeLimitB``: keys plus values, in bytes.
ANNOTATIONS_MAX_BYTES = 256 * 1024

#: Store keys whose names follow a rule other than DNS-1123 subdomain.
NAME_RULES: dict[str, names.NameRule] = {
    "namespaces": names.name_is_dns_label,
    "services": names.name_is_dns1035_label,
    **{rkey: rbacspecs.path_segment for rkey in rbacspecs.NAMES},
}
#: Store keys exempt from ObjectMeta validation (kube validates core/v1 Events' namespace only).
UNVALIDATED = frozenset({"events"})


def name_rule(rt: ResourceType) -> names.NameRule:
    return NAME_RULES.get(rt.rkey, names.name_is_dns_subdomain)


def label_causes(labels: Any, field: str) -> list[Cause]:
    """``ValidateLabels``: every cause points at the map itself (``metadata.labels``), as kube's do."""
    out: list[Cause] = []
    if not isinstance(labels, dict):
        return out
    for key, value in labels.items():
        out += each_invalid(field, key, names.qualified_name(str(key)))
        if isinstance(value, str):
            out += each_invalid(field, value, names.label_value(value))
    return out


def annotation_causes(annotations: Any, field: str) -> list[Cause]:
    """``ValidateAnnotations``: keys are qualified names (case-insensitive), 256 KiB in total."""
    out: list[Cause] = []
    if not isinstance(annotations, dict):
        return out
    size = 0
    for key, value in annotations.items():
        out += each_invalid(field, key, names.qualified_name(str(key).lower()))
        size += len(str(key).encode()) + len(str(value if value is not None else "").encode())
    if size > ANNOTATIONS_MAX_BYTES:
        out.append(too_long(field, ANNOTATIONS_MAX_BYTES))
    return out


def _owner_causes(refs: Any) -> list[Cause]:
    out: list[Cause] = []
    for i, ref in enumerate(refs if isinstance(refs, list) else []):
        if not isinstance(ref, dict):
            continue
        path = f"metadata.ownerReferences[{i}]"
        version = str(ref.get("apiVersion") or "").rpartition("/")[2]
        if not version:
            out.append(
                invalid(f"{path}.apiVersion", ref.get("apiVersion") or "", "version must not be empty")
            )
        for key in ("kind", "name", "uid"):
            if not ref.get(key):
                out.append(invalid(f"{path}.{key}", ref.get(key) or "", "must not be empty"))
    return out


def meta_causes(rt: ResourceType, obj: dict[str, Any], *, create: bool) -> list[Cause]:
    """All metadata causes for ``obj`` (name generation must already have happened)."""
    if rt.rkey in UNVALIDATED:
        return []
    meta = obj.get("metadata") or {}
    out: list[Cause] = []
    if create:
        rule = name_rule(rt)
        generate = meta.get("generateName")
        if isinstance(generate, str) and generate:
            out += each_invalid("metadata.generateName", generate, rule(generate, True))
        name = meta.get("name")
        if not name:
            out.append(required("metadata.name", "name or generateName is required"))
        elif isinstance(name, str):
            out += each_invalid("metadata.name", name, rule(name, False))
    out += label_causes(meta.get("labels"), "metadata.labels")
    out += annotation_causes(meta.get("annotations"), "metadata.annotations")
    for finalizer in meta.get("finalizers") or []:
        if isinstance(finalizer, str):
            out += each_invalid("metadata.finalizers", finalizer, names.qualified_name(finalizer))
    out += _owner_causes(meta.get("ownerReferences"))
    return out
