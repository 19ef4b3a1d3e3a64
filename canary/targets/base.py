"""The workload-controller interface (Flagger's ``canary.Controller``), one implementation per kind.

The operator only talks to this protocol; adding DaemonSets means adding a module, not touching
the scheduler.  Every method takes the parsed Canary explicitly and performs blocking I/O
(call it through ``asyncio.to_thread``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from canary.api.models import Canary
from canary.core.observations import Revision, WorkloadState

__all__ = ["StaleRevisionError", "Target", "TargetError", "TargetObservation", "UnsupportedTargetError"]


class TargetError(RuntimeError):
    """A target operation failed in a way a user can fix (message says how)."""


class StaleRevisionError(TargetError):
    """The target's pod template is no longer the revision that was analysed; nothing was promoted."""


class UnsupportedTargetError(TargetError):
    """``spec.targetRef.kind`` names a workload kind this operator cannot drive (yet)."""


@dataclass(frozen=True)
class TargetObservation:
    """What the core needs to know about the workloads this tick.

    ``revision`` is None when the target is missing; ``target``/``primary`` say whether each
    workload exists and has finished rolling out.  ``primary_revision`` is the target revision
    hash the primary was last created or promoted from (its ``canary.dev/revision``
    annotation); None when the primary is missing or predates the annotation.
    ``unreferenced_autoscalers`` names the HorizontalPodAutoscalers that scale the target while
    ``spec.autoscalerRef`` is unset: the primary would not autoscale (always empty when it is set).
    """

    revision: Revision | None
    target: WorkloadState
    primary: WorkloadState
    primary_revision: str | None = None
    unreferenced_autoscalers: tuple[str, ...] = ()


class Target(Protocol):
    """Drives the user's workload (the "canary") and its ``-primary`` copy."""

    def observe(self, canary: Canary) -> TargetObservation:
        """Read both workloads: revision of the target and readiness of target and primary."""
        ...

    def pod_selector(self, canary: Canary) -> tuple[str, str]:
        """``(label, value)`` selecting the target's pods; the primary's pods have ``value-primary``."""
        ...

    def discovered_ports(self, canary: Canary) -> dict[str, int]:
        """With ``service.portDiscovery``, the target's other container ports by name (else empty)."""
        ...

    def initialize(self, canary: Canary) -> None:
        """Create ``<target>-primary`` (and its HPA) from the target if absent; idempotent.

        A created primary carries the ``canary.dev/revision`` annotation of the template it was copied from.
        """
        ...

    def promote(self, canary: Canary, revision: str) -> None:
        """Copy the target's pod template and rollout settings onto the primary.

        ``revision`` is the hash that was analysed: if the target's template no longer hashes to
        it (checked inside every read-modify-write attempt), raise :class:`StaleRevisionError`
        and write nothing.  The primary is stamped with ``canary.dev/revision: <revision>``.
        """
        ...

    def scale(self, canary: Canary, replicas: int) -> None:
        """Set the target's replica count."""
        ...

    def scale_to_zero(self, canary: Canary) -> None:
        """Park the target once the primary serves everything."""
        ...

    def scale_up(self, canary: Canary) -> None:
        """Bring the target back (own replicas, else the primary's, else the HPA minimum, else 1)."""
        ...

    def restore_primary(self, canary: Canary, revision: str) -> None:
        """Recreate a deleted primary running ``revision`` (the promoted one), never another.

        Raises :class:`TargetError` when no template of that revision is left.
        """
        ...

    def finalize(self, canary: Canary, *, revert: bool = True) -> None:
        """On Canary deletion. Without ``revert``: scale the target to zero (it may run a revision
        that never passed). With ``revert`` (revertOnDeletion): make the target serve what the
        primary served: unless the Canary's phase is Succeeded, the primary's pod template is
        copied back to the target first; then the target gets the primary's replicas.  A missing
        target is not an error, so deleting a namespace or an app's manifests never hangs.
        """
        ...
