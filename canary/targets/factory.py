"""Choose the :class:`~canary.targets.base.Target` for a Canary's ``spec.targetRef.kind``."""

from __future__ import annotations

from canary.api.models import Canary, TargetKind
from canary.kube import KubeClients
from canary.targets.base import Target, UnsupportedTargetError
from canary.targets.deployment import DeploymentTarget
from canary.targets.workload import SELECTOR_LABELS

__all__ = ["SUPPORTED_TARGET_KINDS", "target_for"]

#: Kinds with an implementation; DaemonSet will be one more module and one more entry here.
SUPPORTED_TARGET_KINDS: tuple[TargetKind, ...] = (TargetKind.DEPLOYMENT,)


def target_for(
    canary: Canary,
    clients: KubeClients,
    selector_labels: tuple[str, ...] = SELECTOR_LABELS,
    include_label_prefixes: tuple[str, ...] = (),
) -> Target:
    """The workload controller for this Canary; raises UnsupportedTargetError with what to use instead."""
    kind = canary.spec.target_ref.kind
    if kind is TargetKind.DEPLOYMENT:
        return DeploymentTarget(clients, selector_labels, include_label_prefixes)
    supported = ", ".join(k.value for k in SUPPORTED_TARGET_KINDS)
    raise UnsupportedTargetError(
        f"canary {canary.name}.{canary.namespace}: targetRef kind {kind.value} is not supported yet "
        f"(supported: {supported})"
    )
