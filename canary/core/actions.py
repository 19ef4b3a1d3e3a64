"""Effects the operator's apply step performs, in order, after :func:`decide` returns.

Each action is a small frozen value naming *what* must become true, never *how*: the targets,
routers and event recorder own the how. The status is written once, after all actions ran, so a
failed action leaves the old status in place and the next tick decides again from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from canary.api.models import AlertSeverity, Phase, WebhookType

__all__ = [
    "Action",
    "CallWebhooks",
    "EmitEvent",
    "Finalize",
    "InitializePrimary",
    "PromoteToPrimary",
    "RestorePrimary",
    "ScaleTarget",
    "SetRoute",
    "SyncRouting",
]

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class InitializePrimary:
    """Create or refresh ``<target>-primary``, the apex/primary/canary services and the route.

    Idempotent: the operator may repeat it every tick while the Canary is Initializing.
    """


@dataclass(frozen=True)
class SyncRouting:
    """Create or update the Services and route objects to match the spec, keeping the current weights.

    Emitted first in every decision once the Canary is initialized (and not suspended, and the
    target exists), as Flagger reconciles its routers every tick: a changed ``service.port``,
    ``hosts`` or ``gatewayRefs`` is applied and a deleted route object is recreated. Idempotent.
    """


@dataclass(frozen=True)
class SetRoute:
    """Split live traffic between primary and canary; the weights always sum to 100."""

    primary_weight: int
    canary_weight: int

    def __post_init__(self) -> None:
        """Reject impossible splits early: a router must never receive them."""
        if not (0 <= self.primary_weight <= 100 and 0 <= self.canary_weight <= 100):
            raise ValueError(f"route weights out of range: {self.primary_weight}/{self.canary_weight}")
        if self.primary_weight + self.canary_weight != 100:
            raise ValueError(f"route weights must sum to 100: {self.primary_weight}/{self.canary_weight}")


@dataclass(frozen=True)
class ScaleTarget:
    """Scale the user's Deployment (the canary) to zero, or back to its declared replicas."""

    to_zero: bool


@dataclass(frozen=True)
class PromoteToPrimary:
    """Copy the target's pod template (and spec) onto ``<target>-primary``.

    ``revision`` is the template hash that passed analysis: the edge must refuse to promote if
    the target changed since (the next tick then restarts the analysis), so an unanalysed
    template can never reach the primary through a race.
    """

    revision: str


@dataclass(frozen=True)
class RestorePrimary:
    """Recreate a deleted ``<target>-primary`` from the last promoted template, never from the target.

    ``revision`` is the promoted revision hash (``status.lastPromotedSpec``): the edge recreates
    the primary only from a template of that revision (its backup of the promoted template, or
    the target when the target still runs that revision), so a revision that has not passed
    never reaches the primary this way.
    """

    revision: str


@dataclass(frozen=True)
class Finalize:
    """The Canary is being deleted: leave the target in a safe state.

    ``revert`` (``revertOnDeletion``): restore the target from the primary and hand traffic back
    to it. Otherwise the target is scaled to zero (it may hold a revision that never passed) and
    the generated objects are left to garbage collection. A missing target is not an error.
    """

    revert: bool = True


@dataclass(frozen=True)
class EmitEvent:
    """A Kubernetes Event on the Canary, worded for ``kubectl describe``."""

    type: EventType
    reason: str
    message: str
    alert: AlertSeverity | None = None
    """Also sent to the Canary's ``analysis.alerts`` at this severity (Flagger's alert points)."""


@dataclass(frozen=True)
class CallWebhooks:
    """Notify every webhook of ``type`` (``post-rollout``) that the revision ended in ``phase``.

    Performed after the status is written, like Events: a notification, not a question, so its
    answer changes nothing but a Warning Event when it fails (as in Flagger).
    """

    type: WebhookType
    phase: Phase


Action = (
    InitializePrimary
    | SyncRouting
    | SetRoute
    | ScaleTarget
    | PromoteToPrimary
    | RestorePrimary
    | Finalize
    | EmitEvent
    | CallWebhooks
)
