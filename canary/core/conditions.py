"""Kubernetes-style status conditions, kept stable so that rewriting the same status is a no-op.

``lastTransitionTime`` only moves when the condition's status flips (Kubernetes convention);
``lastUpdateTime`` only moves when something about the condition changed, so a tick that
decides nothing new produces a status equal to the one it read and needs no API write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from canary.api.models import (
    CONDITION_PROMOTED,
    CanaryCondition,
    ConditionStatus,
    Phase,
    TargetKind,
)

__all__ = ["format_timestamp", "progressing_condition", "promoted_condition", "set_condition"]

#: Our condition type warning that an HPA scales the target but ``spec.autoscalerRef`` does not name it.


def format_timestamp(when: datetime) -> str:
    """RFC3339 in UTC with ``Z``; keeps sub-second precision so pacing survives a round-trip."""
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: Sequence[CanaryCondition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
) -> list[CanaryCondition]:
    """Return new conditions with ``type_`` set; other conditions are kept as they are."""
    stamp = format_timestamp(now)
    existing = next((c for c in conditions if c.type == type_), None)
    if (
        existing is not None
        and existing.status == status
        and existing.reason == reason
        and existing.message == message
    ):
        return [c.model_copy() for c in conditions]
    transition = (
        existing.last_transition_time
        if existing is not None and existing.status == status and existing.last_transition_time
        else stamp
    )
    updated = CanaryCondition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_update_time=stamp,
        last_transition_time=transition,
    )
    if existing is None:
        return [*(c.model_copy() for c in conditions), updated]
    return [updated if c.type == type_ else c.model_copy() for c in conditions]


def promoted_condition(phase: Phase, kind: TargetKind | str) -> tuple[ConditionStatus, str]:
    """Flagger's ``Promoted`` condition for a phase: Unknown while in flight, True when the
    primary runs an analysed (or initial) revision, False after a rollback."""
    kind_name = str(kind)
    table: dict[Phase, tuple[ConditionStatus, str]] = {
        Phase.INITIALIZING: (ConditionStatus.UNKNOWN, f"New {kind_name} detected, starting initialization."),
        Phase.INITIALIZED: (ConditionStatus.TRUE, f"{kind_name} initialization completed."),
        Phase.WAITING: (ConditionStatus.UNKNOWN, "Waiting for approval."),
        Phase.WAITING_PROMOTION: (ConditionStatus.UNKNOWN, "Waiting for approval."),
        Phase.PROGRESSING: (ConditionStatus.UNKNOWN, "New revision detected, progressing canary analysis."),
        Phase.PROMOTING: (
            ConditionStatus.UNKNOWN,
            "Canary analysis completed, starting primary rolling update.",
        ),
        Phase.FINALISING: (
            ConditionStatus.UNKNOWN,
            "Canary analysis completed, routing all traffic to primary.",
        ),
        Phase.SUCCEEDED: (
            ConditionStatus.TRUE,
            "Canary analysis completed successfully, promotion finished.",
        ),
        Phase.FAILED: (ConditionStatus.FALSE, f"Canary analysis failed, {kind_name} scaled to zero."),
    }
    return table.get(phase, (ConditionStatus.UNKNOWN, f"Canary is {phase.value}."))


#: Phases in which a revision is in flight (``Progressing=True``); every other phase is settled.
_IN_FLIGHT: frozenset[Phase] = frozenset(
    {
        Phase.INITIALIZING,
        Phase.WAITING,
        Phase.PROGRESSING,
        Phase.WAITING_PROMOTION,
        Phase.PROMOTING,
        Phase.FINALISING,
    }
)


def progressing_condition(phase: Phase) -> tuple[ConditionStatus, str]:
    """``Progressing``: True while in flight, False once settled; the reason is the phase either way.

    ``kubectl wait --for=condition=Progressing=False`` thus ends on success and on failure
    alike (then ``Promoted`` says which); it cannot tell *which* revision settled, which is
    what ``status.lastPromotedRevision``/``lastFailedRevision`` and ``canary wait`` are for.
    """
    if phase in _IN_FLIGHT:
        return ConditionStatus.TRUE, f"Revision in flight: {phase.value}."
    return ConditionStatus.FALSE, f"Settled: {phase.value}."


# Re-exported so callers need not know the constant lives in the API module.
PROMOTED = CONDITION_PROMOTED
