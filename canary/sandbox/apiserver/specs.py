"""Type-specific validation of the built-ins the project writes, as kube's registry strategies do it.

Only the rules a manifest (or the operator) can plausibly trip are modelled, each with kube's field
path and wording:

- Deployment / ReplicaSet: ``spec.selector`` required, valid and non-empty, matching
  ``spec.template.metadata.labels``, immutable on update (apps/v1); ``replicas`` and friends
  non-negative; template labels/annotations; at least one container, each with a DNS-1123 label name
  (unique) and an image, valid container ports; ``restartPolicy: Always``.
- Service: ``type``; ``ports`` required unless headless or ExternalName, names (required when there
  are several, DNS-1123 labels, unique), ``port`` 1-65535, ``protocol``, ``targetPort``; selector
  labels.
- PodDisruptionBudget: ``minAvailable`` and ``maxUnavailable`` exclusive, each a count ≥ 0 or a percent.
- HorizontalPodAutoscaler: ``minReplicas`` ≥ 1, ``maxReplicas`` > 0 and ≥ ``minReplicas``,
  ``scaleTargetRef`` kind and name.
- Status writes check only the status (non-negative counts), since kube copies spec and metadata
  from the stored object there.

Everything else in a spec (volumes, probes, resources, env names, HPA metrics, Service clusterIP
immutability...) is accepted as-is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import names, rbacspecs
from .fielderrors import Cause, duplicate, each_invalid, invalid, not_supported, required
from .objectmeta import annotation_causes, label_causes

Obj = dict[str, Any]

NEGATIVE = "must be greater than or equal to 0"
PROTOCOLS = ["SCTP", "TCP", "UDP"]
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _nonnegative(field: str, value: Any) -> list[Cause]:
    number = _int(value)
    return [invalid(field, number, NEGATIVE)] if number is not None and number < 0 else []


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------ label selectors
def selector_causes(selector: Obj, field: str) -> list[Cause]:
    """``ValidateLabelSelector`` (strict: values must be valid label values)."""
    out = label_causes(selector.get("matchLabels"), f"{field}.matchLabels")
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        path = f"{field}.matchExpressions[{i}]"
        expr = _dict(expr)
        op, values = expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn") and not values:
            out.append(required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            out.append(
                invalid(
                    f"{path}.values",
                    values,
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            out.append(invalid(f"{path}.operator", op, "not a valid selector operator"))
        out += each_invalid(
            f"{path}.key", expr.get("key", ""), names.qualified_name(str(expr.get("key", "")))
        )
        for j, value in enumerate(values):
            out += each_invalid(f"{path}.values[{j}]", value, names.label_value(str(value)))
    return out


def selector_matches(selector: Obj, labels: Obj) -> bool:
    """Does a LabelSelector (matchLabels + matchExpressions) select ``labels``?"""
    for label, value in _dict(selector.get("matchLabels")).items():
        if labels.get(label) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        expr = _dict(expr)
        key, op, values = str(expr.get("key", "")), expr.get("operator"), expr.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(str(op), False)
        if not ok:
            return False
    return True


# ------------------------------------------------------------------ pod templates
def _ports(ports: Any, field: str) -> list[Cause]:
    out: list[Cause] = []
    seen: set[str] = set()
    for i, port in enumerate(ports if isinstance(ports, list) else []):
        path, port = f"{field}[{i}]", _dict(port)
        name = port.get("name")
        if isinstance(name, str) and name:
            complaints = names.port_name(name)
            if complaints:
                out += each_invalid(f"{path}.name", name, complaints)
            elif name in seen:
                out.append(duplicate(f"{path}.name", name))
            seen.add(name)
        number = _int(port.get("containerPort")) or 0
        if number == 0:
            out.append(required(f"{path}.containerPort"))
        else:
            out += each_invalid(f"{path}.containerPort", number, names.port_number(number))
        protocol = port.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            out.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    return out


def _containers(containers: Any, field: str, seen: set[str], *, at_least_one: bool) -> list[Cause]:
    items = containers if isinstance(containers, list) else []
    if not items:
        return [required(field)] if at_least_one else []
    out: list[Cause] = []
    for i, ctr in enumerate(items):
        path, ctr = f"{field}[{i}]", _dict(ctr)
        name = ctr.get("name")
        if not name:
            out.append(required(f"{path}.name"))
        else:
            out += each_invalid(f"{path}.name", name, names.dns1123_label(str(name)))
        if not ctr.get("image"):
            out.append(required(f"{path}.image"))
        out += _ports(ctr.get("ports"), f"{path}.ports")
        if name and name in seen:
            out.append(duplicate(f"{path}.name", name))
        elif name:
            seen.add(str(name))
    return out


def template_causes(template: Obj, field: str) -> list[Cause]:
    """``ValidatePodTemplateSpec`` for controllers: metadata labels/annotations and the containers."""
    meta = _dict(template.get("metadata"))
    out = annotation_causes(meta.get("annotations"), f"{field}.metadata.annotations")
    out += label_causes(meta.get("labels"), f"{field}.metadata.labels")
    spec = _dict(template.get("spec"))
    seen: set[str] = set()
    out += _containers(spec.get("initContainers"), f"{field}.spec.initContainers", seen, at_least_one=False)
    out += _containers(spec.get("containers"), f"{field}.spec.containers", seen, at_least_one=True)
    policy = spec.get("restartPolicy")
    if policy is not None and policy != "Always":
        out.append(not_supported(f"{field}.spec.restartPolicy", policy, ["Always"]))
    return out


# ------------------------------------------------------------------ kinds
def replicated(obj: Obj, old: Obj | None) -> list[Cause]:
    """Deployments and ReplicaSets (``ValidateDeploymentSpec`` / ``ValidateReplicaSetSpec``)."""
    spec = _dict(obj.get("spec"))
    out = _nonnegative("spec.replicas", spec.get("replicas"))
    selector = spec.get("selector")
    template = _dict(spec.get("template"))
    labels = _dict(template.get("metadata")).get("labels")
    if not isinstance(selector, dict):
        out.append(required("spec.selector"))
    else:
        out += selector_causes(selector, "spec.selector")
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            out.append(invalid("spec.selector", selector, "empty selector is invalid for deployment"))
    # A missing selector selects nothing, so kube reports the mismatch too; an empty one everything.
    empty = (
        isinstance(selector, dict)
        and not selector.get("matchLabels")
        and not selector.get("matchExpressions")
    )
    if not empty and not (isinstance(selector, dict) and selector_matches(selector, _dict(labels))):
        out.append(invalid("spec.template.metadata.labels", labels, SELECTOR_MISMATCH))
    out += template_causes(template, "spec.template")
    for key in ("minReadySeconds", "revisionHistoryLimit"):
        out += _nonnegative(f"spec.{key}", spec.get(key))
    if old is not None:
        before = _dict(old.get("spec")).get("selector")
        if selector != before:
            out.append(invalid("spec.selector", selector, "field is immutable"))
    return out


def service(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateService`` (ports, type, selector)."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    kind = spec.get("type", "ClusterIP")
    if kind not in SERVICE_TYPES:
        out.append(not_supported("spec.type", kind, SERVICE_TYPES))
    ports: list[Any] = spec["ports"] if isinstance(spec.get("ports"), list) else []
    if kind == "ExternalName" and not spec.get("externalName"):
        out.append(required("spec.externalName"))
    if not ports and spec.get("clusterIP") != "None" and kind != "ExternalName":
        out.append(required("spec.ports"))
    seen: set[str] = set()
    for i, port in enumerate(ports):
        path, port = f"spec.ports[{i}]", _dict(port)
        name = port.get("name")
        if len(ports) > 1 and not name:
            out.append(required(f"{path}.name"))
        elif name:
            out += each_invalid(f"{path}.name", name, names.dns1123_label(str(name)))
            if name in seen:
                out.append(duplicate(f"{path}.name", name))
            seen.add(str(name))
        number = _int(port.get("port")) or 0
        out += each_invalid(f"{path}.port", number, names.port_number(number))
        protocol = port.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            out.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
        target = port.get("targetPort")  # 0 or "" are defaulted to ``port``, as kube does
        if isinstance(target, str) and target:
            out += each_invalid(f"{path}.targetPort", target, names.port_name(target))
        elif target_number := _int(target):
            out += each_invalid(f"{path}.targetPort", target_number, names.port_number(target_number))
    if kind != "ExternalName":
        out += label_causes(spec.get("selector"), "spec.selector")
    return out


def _path_segment(value: str) -> list[str]:
    """``IsValidPathSegmentName``: the value becomes a URL path segment."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def hpa(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateHorizontalPodAutoscaler`` spec bounds and target reference (autoscaling/v2)."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    low = _int(spec.get("minReplicas"))
    high = _int(spec.get("maxReplicas")) or 0
    if low is not None and low < 1:
        out.append(invalid("spec.minReplicas", low, "must be greater than or equal to 1"))
    if high < 1:
        out.append(invalid("spec.maxReplicas", high, "must be greater than 0"))
    if low is not None and high < low:
        out.append(invalid("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`"))
    ref = _dict(spec.get("scaleTargetRef"))
    for key in ("kind", "name"):
        value = ref.get(key)
        if not value:
            out.append(required(f"spec.scaleTargetRef.{key}"))
        else:
            out += each_invalid(f"spec.scaleTargetRef.{key}", value, _path_segment(str(value)))
    return out


def pod_disruption_budget(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidatePodDisruptionBudgetSpec``: one of minAvailable/maxUnavailable, never negative."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        out.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        value = spec.get(key)
        if isinstance(value, int) and value < 0:
            out.append(invalid(f"spec.{key}", value, "must be greater than or equal to 0"))
        if isinstance(value, str) and not (value.endswith("%") and value[:-1].isdigit()):
            out.append(
                invalid(
                    f"spec.{key}",
                    value,
                    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                )
            )
    return out


def replicated_status(obj: Obj) -> list[Cause]:
    """``ValidateDeploymentStatus`` / ``ValidateReplicaSetStatus``, counts non-negative.

    kube also refuses counts out of order (``readyReplicas`` > ``replicas``, ``availableReplicas`` >
    ``readyReplicas``); that is not modelled, as tests fake partial statuses (``availableReplicas``
    without ``readyReplicas``) that only a controller, never a user, would write.
    """
    status = _dict(obj.get("status"))
    out: list[Cause] = []
    keys = ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
            "unavailableReplicas", "fullyLabeledReplicas", "collisionCount")  # fmt: skip
    for key in keys:
        out += _nonnegative(f"status.{key}", status.get(key))
    return out


def hpa_status(obj: Obj) -> list[Cause]:
    status = _dict(obj.get("status"))
    out: list[Cause] = []
    for key in ("currentReplicas", "desiredReplicas"):
        out += _nonnegative(f"status.{key}", status.get(key))
    return out


SPEC_RULES: dict[str, Callable[[Obj, Obj | None], list[Cause]]] = {
    "deployments.apps": replicated,
    "replicasets.apps": replicated,
    "services": service,
    "horizontalpodautoscalers.autoscaling": hpa,
    "poddisruptionbudgets.policy": pod_disruption_budget,
    **rbacspecs.SPEC_RULES,
}
STATUS_RULES: dict[str, Callable[[Obj], list[Cause]]] = {
    "deployments.apps": replicated_status,
    "replicasets.apps": replicated_status,
    "horizontalpodautoscalers.autoscaling": hpa_status,
}
