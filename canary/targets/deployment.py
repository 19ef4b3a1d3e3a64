"""apps/v1 Deployment target (Flagger's ``DeploymentController``).

The user's Deployment is the canary; the operator owns ``<name>-primary``, a copy whose selector
value carries the ``-primary`` suffix so the apex/primary Services can tell the two apart.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from canary.api.models import AutoscalerKind, Canary, Phase
from canary.core.observations import Revision, WorkloadState
from canary.kube import (
    KubeClients,
    call_json,
    is_conflict,
    owner_reference,
    read_optional,
    retry_on_conflict,
    revert_unless_gone,
)
from canary.targets.base import StaleRevisionError, TargetError, TargetObservation
from canary.targets.workload import (
    FLUX_MARKER,
    REVISION_ANNOTATION,
    SELECTOR_LABELS,
    deployment_readiness,
    discovered_ports,
    first_image,
    pod_template_hash,
    primary_labels,
    primary_name,
    primary_pod_spec,
    selector_label,
    target_pod_spec,
    without_flux_keys,
)

__all__ = [
    "DeploymentTarget",
    "build_primary_deployment",
    "build_primary_hpa",
    "promoted_primary",
    "reverted_target",
]

logger = logging.getLogger(__name__)

Manifest = dict[str, Any]

#: Key of the promoted-template backup ConfigMap holding the primary Deployment as last written.
BACKUP_KEY = "deployment.json"


def backup_name(target_name: str) -> str:
    """``<target>-primary-promoted``: the ConfigMap that remembers the primary's promoted revision."""
    return f"{primary_name(target_name)}-promoted"


def _available(deployment: Mapping[str, Any]) -> bool:
    """At least one replica answers requests now (mid-rollout included); zero desired means none."""
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    return spec.get("replicas") != 0 and int(status.get("availableReplicas") or 0) > 0


def _restorable(primary: Mapping[str, Any], owner: Mapping[str, Any]) -> Manifest:
    """A stored primary Deployment, cleaned of server-set fields, ready to be created again."""
    body: Manifest = copy.deepcopy(dict(primary))
    body.pop("status", None)
    metadata = body.setdefault("metadata", {})
    for key in (
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "managedFields",
        "deletionTimestamp",
    ):
        metadata.pop(key, None)
    metadata["ownerReferences"] = [dict(owner)]
    return body


#: Deployment annotations that describe the target's own history and must not leak onto the primary.
_PRIVATE_ANNOTATION_PREFIXES: tuple[str, ...] = (
    "deployment.kubernetes.io/",
    "kubectl.kubernetes.io/last-applied-configuration",
)

#: Rollout settings copied from the target on promotion (Flagger's list).
_ROLLOUT_FIELDS: tuple[str, ...] = (
    "progressDeadlineSeconds",
    "minReadySeconds",
    "revisionHistoryLimit",
    "strategy",
)


def _copyable_annotations(annotations: Mapping[str, str] | None) -> dict[str, str]:
    return {
        k: v
        for k, v in without_flux_keys(annotations).items()
        if not k.startswith(_PRIVATE_ANNOTATION_PREFIXES) and k != REVISION_ANNOTATION
    }


def _primary_annotations(target: Mapping[str, Any]) -> dict[str, str]:
    """The primary's metadata annotations: the target's copyable ones plus the revision stamp."""
    annotations = _copyable_annotations(target["metadata"].get("annotations"))
    annotations[REVISION_ANNOTATION] = pod_template_hash(target["spec"]["template"])
    return annotations


def _included_labels(labels: Mapping[str, str] | None, prefixes: tuple[str, ...]) -> dict[str, str]:
    """Flagger's ``includeLabelsByPrefix``: only labels the operator was told to carry over."""
    return {
        k: v
        for k, v in without_flux_keys(labels).items()
        if any(p == "*" or (p and k.startswith(p)) for p in prefixes)
    }


def _primary_template(target: Mapping[str, Any], label: str) -> Manifest:
    """The target's pod template, relabelled and re-pointed at the primary."""
    template = target["spec"]["template"]
    metadata = template.get("metadata") or {}
    _, value = selector_label(target, (label,))
    result: Manifest = {
        "metadata": {
            "labels": primary_labels(metadata.get("labels"), label, primary_name(value)),
        },
        "spec": primary_pod_spec(template.get("spec") or {}, label, target["metadata"]["name"]),
    }
    annotations = _copyable_annotations(metadata.get("annotations"))
    if annotations:
        result["metadata"]["annotations"] = annotations
    return result


def build_primary_deployment(
    target: Mapping[str, Any],
    owner: Mapping[str, Any],
    replicas: int,
    selector_labels: tuple[str, ...] = SELECTOR_LABELS,
    include_label_prefixes: tuple[str, ...] = (),
) -> Manifest:
    """The ``-primary`` Deployment for a target: same pod spec, ``-primary`` selector value."""
    label, value = selector_label(target, selector_labels)
    target_meta = target["metadata"]
    spec = target["spec"]
    primary_spec: Manifest = {
        "replicas": replicas,
        "selector": {"matchLabels": {label: primary_name(value)}},
        "template": _primary_template(target, label),
    }
    for field in _ROLLOUT_FIELDS:
        if field in spec:
            primary_spec[field] = copy.deepcopy(spec[field])
    metadata: Manifest = {
        "name": primary_name(target_meta["name"]),
        "namespace": target_meta.get("namespace"),
        "labels": primary_labels(
            _included_labels(target_meta.get("labels"), include_label_prefixes), label, primary_name(value)
        ),
        "ownerReferences": [dict(owner)],
        "annotations": _primary_annotations(target),
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": primary_spec}


def promoted_primary(
    primary: Mapping[str, Any],
    target: Mapping[str, Any],
    copy_replicas: bool,
    selector_labels: tuple[str, ...] = SELECTOR_LABELS,
    include_label_prefixes: tuple[str, ...] = (),
) -> Manifest:
    """The primary after promotion: target's template and rollout settings, primary's own selector.

    The selector is immutable in apps/v1, and keeping it is what keeps the primary Service's
    endpoints stable through the update.  ``resourceVersion`` is kept for optimistic concurrency.
    The metadata is stamped with ``canary.dev/revision``: the hash of the template copied.
    """
    label, value = selector_label(target, selector_labels)
    result: Manifest = copy.deepcopy(dict(primary))
    result.pop("status", None)
    spec = result["spec"]
    for field in _ROLLOUT_FIELDS:
        if field in target["spec"]:
            spec[field] = copy.deepcopy(target["spec"][field])
        else:
            spec.pop(field, None)
    if copy_replicas and target["spec"].get("replicas"):
        # Never zero: a parked target's count would leave the primary without replicas.
        spec["replicas"] = target["spec"]["replicas"]
    spec["template"] = _primary_template(target, label)
    metadata = result["metadata"]
    metadata["annotations"] = _primary_annotations(target)
    metadata["labels"] = primary_labels(
        _included_labels(target["metadata"].get("labels"), include_label_prefixes), label, primary_name(value)
    )
    return result


def reverted_target(
    target: Mapping[str, Any],
    primary: Mapping[str, Any],
    revert_template: bool,
    selector_labels: tuple[str, ...] = SELECTOR_LABELS,
) -> Manifest:
    """The target after revertOnDeletion: the primary's replicas and, if asked, its pod template.

    The template's labels and self-referencing selectors are pointed back at the target (the
    inverse of the primary's relabelling); the target's own Flux keys are kept so Flux does not
    see drift in its bookkeeping.  ``resourceVersion`` is kept for optimistic concurrency.
    """
    result: Manifest = copy.deepcopy(dict(target))
    result.pop("status", None)
    spec = result["spec"]
    replicas = (primary.get("spec") or {}).get("replicas")
    spec["replicas"] = 1 if replicas is None else int(replicas)
    if revert_template:
        label, value = selector_label(target, selector_labels)
        current = spec.get("template") or {}
        current_meta = current.get("metadata") or {}
        source = primary["spec"]["template"]
        source_meta = source.get("metadata") or {}
        labels = {**without_flux_keys(source_meta.get("labels")), label: value}
        labels.update({k: v for k, v in (current_meta.get("labels") or {}).items() if FLUX_MARKER in k})
        metadata: Manifest = {"labels": labels}
        annotations = without_flux_keys(source_meta.get("annotations"))
        annotations.update(
            {k: v for k, v in (current_meta.get("annotations") or {}).items() if FLUX_MARKER in k}
        )
        if annotations:
            metadata["annotations"] = annotations
        spec["template"] = {
            "metadata": metadata,
            "spec": target_pod_spec(source.get("spec") or {}, label, target["metadata"]["name"]),
        }
    return result


def build_primary_hpa(hpa: Mapping[str, Any], primary_deployment: str, owner: Mapping[str, Any]) -> Manifest:
    """``<hpa>-primary``: the target's HPA spec, scaling the primary Deployment instead."""
    spec: Manifest = copy.deepcopy(dict(hpa.get("spec") or {}))
    spec["scaleTargetRef"] = {**spec.get("scaleTargetRef", {}), "name": primary_deployment}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": primary_name(hpa["metadata"]["name"]),
            "namespace": hpa["metadata"].get("namespace"),
            "labels": without_flux_keys(hpa["metadata"].get("labels")),
            "ownerReferences": [dict(owner)],
        },
        "spec": spec,
    }


def _scales_deployment(hpa: Mapping[str, Any], name: str) -> bool:
    """Whether an HPA's ``spec.scaleTargetRef`` is the Deployment ``name`` (same namespace by construction)."""
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return ref.get("kind") == "Deployment" and ref.get("name") == name


class DeploymentTarget:
    """Implements :class:`canary.targets.base.Target` for apps/v1 Deployments."""

    def __init__(
        self,
        clients: KubeClients,
        selector_labels: tuple[str, ...] = SELECTOR_LABELS,
        include_label_prefixes: tuple[str, ...] = (),
    ) -> None:
        self._apps = clients.apps
        self._core = clients.core
        self._autoscaling = clients.autoscaling
        self._selector_labels = selector_labels
        self._include_label_prefixes = include_label_prefixes

    # ------------------------------------------------------------------ reads

    def _read(self, name: str, namespace: str) -> Manifest | None:
        return read_optional(self._apps.read_namespaced_deployment, name, namespace)

    def _require(self, name: str, namespace: str) -> Manifest:
        deployment = self._read(name, namespace)
        if deployment is None:
            raise TargetError(f"deployment {name}.{namespace} not found")
        return deployment

    def _hpa_min_replicas(self, canary: Canary) -> int | None:
        ref = canary.spec.autoscaler_ref
        if ref is None or ref.kind is not AutoscalerKind.HPA:
            return None
        hpa = read_optional(
            self._autoscaling.read_namespaced_horizontal_pod_autoscaler, ref.name, canary.namespace
        )
        if hpa is None:
            return None
        minimum = (hpa.get("spec") or {}).get("minReplicas")
        return int(minimum) if minimum is not None else None

    def observe(self, canary: Canary) -> TargetObservation:
        """Revision of the target and readiness of both Deployments (Flagger's IsCanaryReady/IsPrimaryReady)."""
        namespace = canary.namespace
        target_name = canary.spec.target_ref.name
        analysis = canary.spec.analysis
        target = self._read(target_name, namespace)
        primary = self._read(primary_name(target_name), namespace)

        revision: Revision | None = None
        if target is None:
            target_state = WorkloadState.missing(f"deployment {target_name}.{namespace} not found")
        else:
            template = target["spec"]["template"]
            revision = Revision(hash=pod_template_hash(template), image=first_image(template) or None)
            readiness = deployment_readiness(target, analysis.effective_canary_ready_threshold)
            target_state = WorkloadState(
                exists=True,
                ready=readiness.ready,
                message=readiness.message,
                deadline_exceeded=readiness.stuck,
                available=_available(target),
            )

        primary_revision: str | None = None
        if primary is None:
            primary_state = WorkloadState.missing(
                f"deployment {primary_name(target_name)}.{namespace} not found"
            )
        else:
            readiness = deployment_readiness(primary, analysis.effective_primary_ready_threshold)
            message = readiness.message
            ready = readiness.ready
            if ready and (primary.get("spec") or {}).get("replicas") == 0:
                ready, message = (
                    False,
                    f"halt {canary.name}.{namespace} advancement: primary deployment is scaled to zero",
                )
            primary_state = WorkloadState(
                exists=True,
                ready=ready,
                message=message,
                deadline_exceeded=readiness.stuck,
                available=_available(primary),
            )
            stamp = (primary["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
            primary_revision = str(stamp) if stamp else None
        return TargetObservation(
            revision=revision,
            target=target_state,
            primary=primary_state,
            primary_revision=primary_revision,
            unreferenced_autoscalers=self._unreferenced_autoscalers(canary),
        )

    def _unreferenced_autoscalers(self, canary: Canary) -> tuple[str, ...]:
        """HPAs scaling the target while ``spec.autoscalerRef`` is unset (one list call; none if it is set).

        Such an HPA goes inert once the target is parked at zero, and the primary gets a fixed
        replica count: the core warns about it.  A 404/403 on listing HPAs counts as none.
        """
        if canary.spec.autoscaler_ref is not None:
            return ()
        namespace = canary.namespace
        try:
            listing = call_json(self._autoscaling.list_namespaced_horizontal_pod_autoscaler, namespace)
        except ApiException as exc:
            if exc.status not in (403, 404):
                raise
            logger.warning(
                "canary %s.%s: cannot list HorizontalPodAutoscalers (%s %s); assuming none scale %s",
                canary.name,
                namespace,
                exc.status,
                exc.reason,
                canary.spec.target_ref.name,
            )
            return ()
        target_name = canary.spec.target_ref.name
        names = (
            str(hpa["metadata"]["name"])
            for hpa in listing.get("items") or []
            if _scales_deployment(hpa, target_name)
        )
        return tuple(sorted(names))

    def pod_selector(self, canary: Canary) -> tuple[str, str]:
        """Flagger's GetMetadata: the selector label the Services use (``app``, ``name``, ...)."""
        target = self._require(canary.spec.target_ref.name, canary.namespace)
        return selector_label(target, self._selector_labels)

    def discovered_ports(self, canary: Canary) -> dict[str, int]:
        """Flagger's port discovery over the target's pod template (``service.portDiscovery``)."""
        service = canary.spec.service
        if service is None or not service.port_discovery:
            return {}
        target = self._require(canary.spec.target_ref.name, canary.namespace)
        return discovered_ports(service, target["spec"]["template"]["spec"].get("containers"))

    # ------------------------------------------------------------------ writes

    def initialize(self, canary: Canary) -> None:
        """Create ``<target>-primary`` (and ``<hpa>-primary``) if absent; never touches an existing primary."""
        namespace = canary.namespace
        target = self._require(canary.spec.target_ref.name, namespace)
        owner = owner_reference(canary)
        if self._read(primary_name(canary.spec.target_ref.name), namespace) is None:
            replicas = int(target["spec"].get("replicas") or 0)
            if replicas <= 0:
                replicas = self._hpa_min_replicas(canary) or 1
            body = build_primary_deployment(
                target, owner, replicas, self._selector_labels, self._include_label_prefixes
            )
            self._create(self._apps.create_namespaced_deployment, namespace, body)
            self._back_up(canary, body)
        self._reconcile_primary_hpa(canary, owner)

    def _back_up(self, canary: Canary, primary: Mapping[str, Any]) -> None:
        """Remember the primary as promoted, so a deleted primary can be recreated without the target.

        The target may hold a revision that has not passed (mid-analysis, or a failed one): it
        is never a source for the primary, except when it still runs the promoted revision.
        """
        name = backup_name(canary.spec.target_ref.name)
        revision = (primary.get("metadata", {}).get("annotations") or {}).get(REVISION_ANNOTATION, "")
        body: Manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": canary.namespace,
                "annotations": {REVISION_ANNOTATION: revision},
                "ownerReferences": [owner_reference(canary)],
            },
            "data": {BACKUP_KEY: json.dumps(_restorable(primary, owner_reference(canary)), sort_keys=True)},
        }
        core = self._core
        if read_optional(core.read_namespaced_config_map, name, canary.namespace) is None:
            self._create(core.create_namespaced_config_map, canary.namespace, body)
        else:
            call_json(core.replace_namespaced_config_map, name, canary.namespace, body)

    def _promoted_backup(self, canary: Canary) -> Manifest | None:
        """The primary Deployment as last promoted (from its backup ConfigMap), or None."""
        backup = read_optional(
            self._core.read_namespaced_config_map, backup_name(canary.spec.target_ref.name), canary.namespace
        )
        raw = ((backup or {}).get("data") or {}).get(BACKUP_KEY)
        if not raw:
            return None
        try:
            stored: Manifest = json.loads(raw)
        except ValueError:
            logger.warning(
                "canary %s.%s: promoted-template backup is not JSON", canary.name, canary.namespace
            )
            return None
        return stored

    def restore_primary(self, canary: Canary, revision: str) -> None:
        """Recreate a deleted ``<target>-primary`` running ``revision`` (the promoted one).

        From the backup of the promoted primary, else from the target when it still runs that
        revision; never from a template that has not passed. Raises TargetError when neither
        source holds ``revision`` (the status says so; traffic stays on what serves).
        """
        namespace = canary.namespace
        target_name = canary.spec.target_ref.name
        if self._read(primary_name(target_name), namespace) is not None:
            return
        owner = owner_reference(canary)
        backup = self._promoted_backup(canary)
        stored = ((backup or {}).get("metadata", {}).get("annotations") or {}).get(REVISION_ANNOTATION)
        if backup is not None and stored == revision:
            body = _restorable(backup, owner)
        else:
            target = self._read(target_name, namespace)
            if target is None or pod_template_hash(target["spec"]["template"]) != revision:
                raise TargetError(
                    f"cannot recreate deployment {primary_name(target_name)}.{namespace}: no template of the "
                    f"promoted revision {revision} is left (the target runs another revision)"
                )
            replicas = int(target["spec"].get("replicas") or 0) or self._hpa_min_replicas(canary) or 1
            body = build_primary_deployment(
                target, owner, replicas, self._selector_labels, self._include_label_prefixes
            )
        logger.warning(
            "canary %s.%s: recreating deleted %s", canary.name, namespace, primary_name(target_name)
        )
        self._create(self._apps.create_namespaced_deployment, namespace, body)
        self._reconcile_primary_hpa(canary, owner)

    @staticmethod
    def _create(create: Any, namespace: str, body: Manifest) -> None:
        """Create, treating "already exists" as success: a concurrent initialize got there first."""
        try:
            call_json(create, namespace, body)
        except ApiException as exc:
            if not is_conflict(exc):
                raise

    def _reconcile_primary_hpa(self, canary: Canary, owner: Mapping[str, Any]) -> None:
        ref = canary.spec.autoscaler_ref
        if ref is None:
            return
        if ref.kind is not AutoscalerKind.HPA:
            raise TargetError(f"autoscalerRef kind {ref.kind} is not supported; use HorizontalPodAutoscaler")
        namespace = canary.namespace
        api = self._autoscaling
        hpa = read_optional(api.read_namespaced_horizontal_pod_autoscaler, ref.name, namespace)
        if hpa is None:
            raise TargetError(f"HorizontalPodAutoscaler {ref.name}.{namespace} not found")
        desired = build_primary_hpa(hpa, primary_name(canary.spec.target_ref.name), owner)
        name = desired["metadata"]["name"]

        def create_or_update() -> None:
            existing = read_optional(api.read_namespaced_horizontal_pod_autoscaler, name, namespace)
            if existing is None:
                self._create(api.create_namespaced_horizontal_pod_autoscaler, namespace, desired)
            elif existing.get("spec") != desired["spec"]:
                updated = {**existing, "spec": desired["spec"]}
                updated.pop("status", None)
                call_json(api.replace_namespaced_horizontal_pod_autoscaler, name, namespace, updated)

        retry_on_conflict(create_or_update)

    def promote(self, canary: Canary, revision: str) -> None:
        """Copy the target's template onto the primary (re-read and retried on 409), then sync the primary HPA.

        Every attempt re-checks that the target still is ``revision`` (the analysed one): a
        template changed between analysis and promotion, or during a 409 retry, raises
        :class:`StaleRevisionError` instead of reaching the primary unanalysed.
        """
        namespace = canary.namespace
        target_name = canary.spec.target_ref.name

        def copy_template() -> None:
            target = self._require(target_name, namespace)
            current = pod_template_hash(target["spec"]["template"])
            if current != revision:
                raise StaleRevisionError(
                    f"deployment {target_name}.{namespace} changed since analysis "
                    f"(analysed revision {revision}, now {current}); not promoting"
                )
            primary = self._require(primary_name(target_name), namespace)
            updated = promoted_primary(
                primary,
                target,
                copy_replicas=canary.spec.autoscaler_ref is None,
                selector_labels=self._selector_labels,
                include_label_prefixes=self._include_label_prefixes,
            )
            written = call_json(
                self._apps.replace_namespaced_deployment, primary_name(target_name), namespace, updated
            )
            self._back_up(canary, written or updated)

        retry_on_conflict(copy_template)
        # Flagger re-reconciles the primary HPA after Promote: a changed target HPA reaches the primary.
        # A target HPA deleted meanwhile must not hold the promotion: the primary keeps its copy.
        try:
            self._reconcile_primary_hpa(canary, owner_reference(canary))
        except TargetError as exc:
            logger.warning("promoted %s.%s; primary HPA left as it was: %s", target_name, namespace, exc)

    def scale(self, canary: Canary, replicas: int) -> None:
        """Merge-patch ``spec.replicas`` of the target (no resourceVersion: last writer wins, like kubectl scale)."""
        name = canary.spec.target_ref.name
        try:
            call_json(
                self._apps.patch_namespaced_deployment,
                name,
                canary.namespace,
                {"spec": {"replicas": replicas}},
            )
        except ApiException as exc:
            if exc.status == 404:
                raise TargetError(f"deployment {name}.{canary.namespace} not found") from exc
            raise

    def scale_to_zero(self, canary: Canary) -> None:
        """Park the target after promotion or rollback."""
        self.scale(canary, 0)

    def scale_up(self, canary: Canary) -> None:
        """Flagger's ScaleFromZero: own replicas, else the primary's (no HPA), else the HPA minimum, else 1."""
        namespace = canary.namespace
        target = self._require(canary.spec.target_ref.name, namespace)
        replicas = int(target["spec"].get("replicas") or 0)
        if replicas <= 0:
            if canary.spec.autoscaler_ref is None:
                primary = self._read(primary_name(canary.spec.target_ref.name), namespace)
                replicas = int(((primary or {}).get("spec") or {}).get("replicas") or 0)
            else:
                replicas = self._hpa_min_replicas(canary) or 0
        self.scale(canary, max(replicas, 1))

    def finalize(self, canary: Canary, *, revert: bool = True) -> None:
        """Canary deleted. Without ``revert``: park the target (it may run a revision that never
        passed; a missing target is fine). With it (revertOnDeletion): make the target serve what
        the primary served, then hand it the replicas.

        Unless the Canary's phase is Succeeded the target may hold a failed or unpromoted
        template, so the primary's template is copied back onto it (one write with the replica
        count, retried on 409).  A missing target means nothing to revert: logged, not raised,
        so deleting a namespace or ``kubectl delete -f`` of Deployment and Canary never hangs.
        """
        namespace = canary.namespace
        target_name = canary.spec.target_ref.name
        if not revert:
            if self._read(target_name, namespace) is not None:
                try:
                    self.scale_to_zero(canary)
                except TargetError:
                    logger.info(
                        "canary %s.%s: deployment %s vanished meanwhile", canary.name, namespace, target_name
                    )
            return
        if self._read(target_name, namespace) is None:
            logger.info(
                "canary %s.%s: deployment %s.%s is gone, nothing to revert",
                canary.name,
                namespace,
                target_name,
                namespace,
            )
            return
        revert_template = canary.current_status.phase is not Phase.SUCCEEDED
        if self._read(primary_name(target_name), namespace) is None:
            if self._promoted_backup(canary) is not None:
                revert_template = True  # the primary is gone: revert from its backup instead
            else:
                promoted = canary.current_status.last_promoted_spec
                current = self._read(target_name, namespace)
                if promoted and current and pod_template_hash(current["spec"]["template"]) != promoted:
                    logger.warning(
                        "canary %s.%s: primary and its backup are gone and %s runs a revision that never "
                        "passed; left scaled as it is",
                        canary.name,
                        namespace,
                        target_name,
                    )
                    return
                self.scale_up(canary)
                return

        def revert_target() -> None:
            target = self._read(target_name, namespace)
            primary = self._read(primary_name(target_name), namespace) or self._promoted_backup(canary)
            if target is None or primary is None:
                return  # deleted meanwhile: nothing left to revert from or to
            updated = reverted_target(target, primary, revert_template, self._selector_labels)
            unchanged = updated["spec"]["replicas"] == target["spec"].get("replicas") and pod_template_hash(
                updated["spec"]["template"]
            ) == pod_template_hash(target["spec"]["template"])
            if unchanged:
                return
            call_json(self._apps.replace_namespaced_deployment, target_name, namespace, updated)

        revert_unless_gone(revert_target, f"canary {canary.name}.{namespace}: deployment {target_name}")
