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

__all__ = ["Target", "TargetError", "TargetObservation", "UnsupportedTargetError"]


class TargetError(RuntimeError):
    """A target operation failed in a way a user can fix (message says how)."""


class UnsupportedTargetError(TargetError):
    """``spec.targetRef.kind`` names a workload kind this operator cannot drive (yet)."""


@dataclass(frozen=True)
class TargetObservation:
    """What the core needs to know about the workloads this tick.

    ``revision`` is None when the target is missing; ``target``/``primary`` say whether each
    workload exists and has finished rolling out.
    """

    revision: Revision | None
    target: WorkloadState
    primary: WorkloadState


class Target(Protocol):
    """Drives the user's workload (the "canary") and its ``-primary`` copy."""

    def observe(self, canary: Canary) -> TargetObservation:
        """Read both workloads: revision of the target and readiness of target and primary."""
        ...

    def pod_selector(self, canary: Canary) -> tuple[str, str]:
        """``(label, value)`` selecting the target's pods; the primary's pods have ``value-primary``."""
        ...

    def initialize(self, canary: Canary) -> None:
        """Create ``<target>-primary`` (and its HPA) from the target if absent; idempotent."""
        ...

    def promote(self, canary: Canary) -> None:
        """Copy the target's pod template and rollout settings onto the primary."""
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

    def finalize(self, canary: Canary) -> None:
        """On Canary deletion with revertOnDeletion: give the target the primary's replicas back."""
        ...
