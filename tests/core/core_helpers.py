"""Builders for the decision-core tests: specs, statuses, observations and measurements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from canary.api.models import CanarySpec, CanaryStatus, Phase
from canary.core.conditions import format_timestamp
from canary.core.observations import (
    CanaryRef,
    Measurement,
    Observation,
    Revision,
    WorkloadState,
)

REF = CanaryRef(name="podinfo", namespace="test")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
STABLE = "stable-hash"
NEW = "new-hash"
NEWER = "newer-hash"


DEFAULT_ANALYSIS: dict[str, Any] = {"interval": "1m", "step_weight": 20, "max_weight": 50}
#: The metrics every test spec defines unless its analysis says otherwise: the core reads the
#: thresholds from here to classify the measured values.
DEFAULT_METRICS: list[dict[str, Any]] = [
    {"name": "request-success-rate", "threshold_range": {"min": 99}},
    {"name": "request-duration", "threshold_range": {"max": 500}},
]


def make_spec(analysis: dict[str, Any] | None = None, **spec_fields: Any) -> CanarySpec:
    """A podinfo Canary: weights 20, 40, 50 then promote, threshold 5 (the API default),
    success rate >= 99 and duration <= 500."""
    return CanarySpec.model_validate(
        {
            "target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "analysis": {
                "interval": "1m",
                "metrics": DEFAULT_METRICS,
                **(analysis if analysis is not None else DEFAULT_ANALYSIS),
            },
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
    checks: tuple[Measurement, ...] | None = None,
    target_message: str = "",
    primary_message: str = "",
    target_stuck: bool = False,
    primary_stuck: bool = False,
    route: tuple[int, int] | None = None,
    primary_revision: str | None = None,
    splitting: bool = True,
    autoscalers: tuple[str, ...] = (),
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
        unreferenced_autoscalers=autoscalers,
    )


def passing(name: str = "request-success-rate", value: float = 99.9) -> Measurement:
    """A value within the default spec's threshold for ``name`` (success rate >= 99)."""
    return Measurement.of(name, value)


def failing(name: str = "request-success-rate", value: float = 91.3) -> Measurement:
    """A value below the default success-rate minimum of 99."""
    return Measurement.of(name, value)


def no_data(name: str = "request-success-rate") -> Measurement:
    return Measurement.no_data(name, "empty result")


def provider_error(name: str = "request-success-rate") -> Measurement:
    return Measurement.error(name, "connection refused")
