"""Pure functions on workload manifests (camelCase JSON dicts, exactly as the API server stores them).

Kept free of I/O so the rules that decide names, labels, revisions and readiness can be tested
in microseconds and reused by the simulator.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from canary.targets.base import TargetError

__all__ = [
    "FLUX_MARKER",
    "OWNED_POD_ANNOTATIONS",
    "PRIMARY_SUFFIX",
    "REVISION_ANNOTATION",
    "SELECTOR_LABELS",
    "Readiness",
    "SelectorLabelError",
    "deployment_readiness",
    "discovered_ports",
    "first_image",
    "pod_template_hash",
    "primary_labels",
    "primary_name",
    "primary_pod_spec",
    "selector_label",
    "target_pod_spec",
    "without_flux_keys",
]

Manifest = dict[str, Any]

PRIMARY_SUFFIX = "-primary"

#: Flagger's default ``-selector-labels``: the first of these found in the target's
#: ``spec.selector.matchLabels`` is the one whose value gets the ``-primary`` suffix.
SELECTOR_LABELS: tuple[str, ...] = ("app", "name", "app.kubernetes.io/name")

#: Keys containing this are Flux's bookkeeping; Flagger never copies them onto the primary.
FLUX_MARKER = "toolkit.fluxcd.io"

#: Annotation on the ``-primary`` Deployment's metadata (not its pod template): the
#: :func:`pod_template_hash` of the target template it was last created or promoted from.
REVISION_ANNOTATION = "canary.dev/revision"

#: Pod annotations a controller stamps rather than the user writes (Flagger's ``flagger-id``
#: forces a rolling update of its primary); they must not make the target look like a new revision.
OWNED_POD_ANNOTATIONS: frozenset[str] = frozenset({"flagger-id"})


class SelectorLabelError(TargetError, ValueError):
    """The target's selector has none of the labels the router can select on."""


#: Containers Flagger's port discovery skips: service-mesh proxies, not the application.
MESH_SIDECARS: frozenset[str] = frozenset({"istio-proxy", "envoy"})


def discovered_ports(service: Any, containers: Any) -> dict[str, int]:
    """Flagger's ``getPorts`` (``service.portDiscovery``): every container port but the main one.

    Named by the port's name, else ``tcp-<container>-<index>``; mesh sidecars and the port the
    Services already expose (``targetPort``, or ``port`` when it is unset) are skipped.
    """
    ports: dict[str, int] = {}
    main = service.target_port if service.target_port is not None else service.port
    for container in containers or []:
        if container.get("name") in MESH_SIDECARS:
            continue
        for index, port in enumerate(container.get("ports") or []):
            number, name = port.get("containerPort"), port.get("name")
            if number == main or (isinstance(main, str) and name == main):
                continue
            ports[name or f"tcp-{container.get('name')}-{index}"] = int(number)
    return ports


def without_flux_keys(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of labels/annotations without Flux's bookkeeping keys (never copied between objects)."""
    return {k: v for k, v in (mapping or {}).items() if FLUX_MARKER not in k}


#: Kubernetes' limit for a label value (the primary's selector value is ``<value>-primary``).
MAX_LABEL_VALUE = 63


def primary_name(target_name: str) -> str:
    """``podinfo`` -> ``podinfo-primary`` (Deployments, HPAs and selector values alike)."""
    return f"{target_name}{PRIMARY_SUFFIX}"


def selector_label(
    workload: Mapping[str, Any], candidates: Iterable[str] = SELECTOR_LABELS
) -> tuple[str, str]:
    """Return ``(label, value)``: the first candidate label present in ``spec.selector.matchLabels``."""
    match_labels: Mapping[str, str] = ((workload.get("spec") or {}).get("selector") or {}).get(
        "matchLabels"
    ) or {}
    candidates = tuple(candidates)
    metadata = workload.get("metadata") or {}
    for label in candidates:
        if label in match_labels:
            value = str(match_labels[label])
            if len(primary_name(value)) > MAX_LABEL_VALUE:
                raise SelectorLabelError(
                    f"{str(workload.get('kind', 'workload')).lower()} {metadata.get('name')}.{metadata.get('namespace')} "
                    f"selector label {label}={value} is too long: the primary's value {primary_name(value)} "
                    f"would exceed {MAX_LABEL_VALUE} characters (shorten it to {MAX_LABEL_VALUE - len(PRIMARY_SUFFIX)})"
                )
            return label, value
    raise SelectorLabelError(
        f"{str(workload.get('kind', 'workload')).lower()} {metadata.get('name')}.{metadata.get('namespace')} "
        f"spec.selector.matchLabels must contain one of {list(candidates)}"
    )


def primary_labels(labels: Mapping[str, str] | None, label: str, primary_value: str) -> dict[str, str]:
    """Flagger's ``makePrimaryLabels``: copy labels, drop Flux's, set ``label`` to the primary value."""
    result = {k: v for k, v in without_flux_keys(labels).items() if k != label}
    result[label] = primary_value
    return result


def _repoint_selectors(pod_spec: Mapping[str, Any], label: str, old: str, new: str) -> dict[str, Any]:
    """Copy the pod spec, changing ``label``'s value ``old`` to ``new`` in (anti-)affinity and spread selectors."""
    spec: dict[str, Any] = copy.deepcopy(dict(pod_spec))
    selectors: list[dict[str, Any]] = []
    for constraint in spec.get("topologySpreadConstraints") or []:
        if constraint.get("labelSelector"):
            selectors.append(constraint["labelSelector"])
    anti = (spec.get("affinity") or {}).get("podAntiAffinity") or {}
    for term in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
        selector = (term.get("podAffinityTerm") or {}).get("labelSelector")
        if selector:
            selectors.append(selector)
    for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        if term.get("labelSelector"):
            selectors.append(term["labelSelector"])
    for selector in selectors:
        for expression in selector.get("matchExpressions") or []:
            if expression.get("key") == label:
                expression["values"] = [new if v == old else v for v in expression.get("values") or []]
        match_labels = selector.get("matchLabels") or {}
        if match_labels.get(label) == old:
            match_labels[label] = new
    return spec


def primary_pod_spec(pod_spec: Mapping[str, Any], label: str, target_name: str) -> dict[str, Any]:
    """Copy the pod spec, pointing self-referencing (anti-)affinity and spread selectors at the primary.

    Without this the primary's pods would spread relative to the canary's pods instead of their own.
    """
    return _repoint_selectors(pod_spec, label, target_name, primary_name(target_name))


def target_pod_spec(pod_spec: Mapping[str, Any], label: str, target_name: str) -> dict[str, Any]:
    """Inverse of :func:`primary_pod_spec`: the primary's pod spec made fit for the target again."""
    return _repoint_selectors(pod_spec, label, primary_name(target_name), target_name)


def pod_template_hash(template: Mapping[str, Any]) -> str:
    """Stable revision id of a pod template: sha256 of its canonical JSON, hex, first 16 chars.

    Annotations the operator owns and Flux bookkeeping are excluded so that promoting (which
    stamps the primary) or a Flux reconcile does not look like a new release.  Key order and
    empty metadata maps do not matter; any change to containers, images, env or labels does.
    """
    canonical: dict[str, Any] = copy.deepcopy(dict(template))
    metadata = dict(canonical.get("metadata") or {})
    annotations = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if k not in OWNED_POD_ANNOTATIONS and FLUX_MARKER not in k
    }
    labels = without_flux_keys(metadata.get("labels"))
    metadata.pop("creationTimestamp", None)
    metadata["annotations"] = annotations
    metadata["labels"] = labels
    canonical["metadata"] = {k: v for k, v in metadata.items() if v not in ({}, None)}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def first_image(template: Mapping[str, Any]) -> str:
    """The first container's image: what a person means by "the version" in events and status."""
    containers = ((template.get("spec") or {}).get("containers")) or []
    return str(containers[0].get("image", "")) if containers else ""


@dataclass(frozen=True)
class Readiness:
    """Outcome of the rollout check: ``stuck`` means waiting longer will not help."""

    ready: bool
    message: str
    stuck: bool = False


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def deployment_readiness(deployment: Mapping[str, Any], ready_threshold_percent: int = 100) -> Readiness:
    """Flagger's ``isDeploymentReady``: is the latest spec rolled out and enough replicas available?

    The controller marks a rollout stuck (Progressing/ProgressDeadlineExceeded) after the
    deployment's own ``progressDeadlineSeconds``; that is reported as ``stuck`` so the caller can
    roll back instead of waiting.
    """
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = metadata.get("name", "")
    if int(metadata.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return Readiness(
            False,
            "waiting for rollout to finish: observed deployment generation less than desired generation",
        )
    progressing = _condition(status, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Readiness(False, f"deployment {name!r} exceeded its progress deadline", stuck=True)
    desired = spec.get("replicas")
    desired = 1 if desired is None else int(desired)
    updated = int(status.get("updatedReplicas") or 0)
    current = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < desired:
        return Readiness(
            False, f"waiting for rollout to finish: {updated} out of {desired} new replicas have been updated"
        )
    if current > updated:
        return Readiness(
            False, f"waiting for rollout to finish: {current - updated} old replicas are pending termination"
        )
    needed = int(updated * ready_threshold_percent / 100)
    if available < needed:
        threshold_note = (
            "" if ready_threshold_percent == 100 else f" (readyThreshold {ready_threshold_percent}%)"
        )
        return Readiness(
            False,
            f"waiting for rollout to finish: {available} of {needed}{threshold_note} updated replicas are available",
        )
    return Readiness(True, "")
