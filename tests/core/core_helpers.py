"""Builders for the decision-core tests: specs, statuses, observations and check outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from canary.api.models import CanarySpec, CanaryStatus, Phase
from canary.core.conditions import format_timestamp
from canary.core.observations import (
    CanaryRef,
    CheckOutcome,
    Observation,
    Revision,
    Verdict,
    WorkloadState,
)

REF = CanaryRef(name="podinfo", namespace="test")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
STABLE = "stable-hash"
NEW = "new-hash"
NEWER = "newer-hash"


DEFAULT_ANALYSIS: dict[str, Any] = {"interval": "1m", "step_weight": 20, "max_weight": 50}


def make_spec(analysis: dict[str, Any] | None = None, **spec_fields: Any) -> CanarySpec:
    """A podinfo Canary: weights 20, 40, 50 then promote, threshold 5 (the API default)."""
    return CanarySpec.model_validate(
        {
            "target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "analysis": {"interval": "1m", **(analysis if analysis is not None else DEFAULT_ANALYSIS)},
            **spec_fields,
        }
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(minutes: float) -> str:
    return format_timestamp(at(minutes))


def status(phase: Phase | None, *, started: float = 0.0, **fields: Any) -> CanaryStatus:
    """A status in ``phase`` whose step and transition began ``started`` minutes after T0."""
    fields.setdefault("last_applied_spec", NEW if phase not in (Phase.INITIALIZED, None) else STABLE)
    fields.setdefault("last_promoted_spec", STABLE)
    fields.setdefault("step_started_at", stamp(started))
    fields.setdefault("last_transition_time", stamp(started))
    return CanaryStatus(phase=phase, **fields)


def observe(
    now: datetime,
    *,
    revision: str | None = NEW,
    target_ready: bool = True,
    primary_ready: bool = True,
    checks: tuple[CheckOutcome, ...] | None = None,
    target_message: str = "",
    primary_message: str = "",
    target_stuck: bool = False,
    primary_stuck: bool = False,
    route: tuple[int, int] | None = None,
    primary_revision: str | None = None,
    splitting: bool = True,
) -> Observation:
    target = (
        WorkloadState(True, target_ready, target_message, target_stuck)
        if revision is not None
        else WorkloadState.missing(target_message or "deployment podinfo not found")
    )
    return Observation(
        now=now,
        canary=REF,
        target_revision=Revision(hash=revision, image="ghcr.io/podinfo:6.1") if revision else None,
        target=target,
        primary=WorkloadState(True, primary_ready, primary_message, primary_stuck),
        checks=checks,
        route_weights=route,
        primary_revision=primary_revision,
        traffic_splitting=splitting,
    )


def passing(name: str = "request-success-rate", value: float = 99.9) -> CheckOutcome:
    return CheckOutcome(name, Verdict.SUCCESSFUL, value, threshold_min=99)


def failing(name: str = "request-success-rate", value: float = 91.3) -> CheckOutcome:
    return CheckOutcome(name, Verdict.FAILED, value, threshold_min=99)


def no_data(name: str = "request-success-rate") -> CheckOutcome:
    return CheckOutcome(name, Verdict.INCONCLUSIVE, None, threshold_min=99, message="empty result")


def provider_error(name: str = "request-success-rate") -> CheckOutcome:
    return CheckOutcome(name, Verdict.ERROR, None, threshold_min=99, message="connection refused")
