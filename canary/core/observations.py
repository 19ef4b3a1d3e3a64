"""What the operator saw this tick, as plain immutable values.

The decision core never talks to the cluster or to Prometheus: the operator's observe step fills
these dataclasses and hands them to :func:`canary.core.machine.decide`. Keeping them free of I/O
and of Kubernetes types is what lets the core be table-tested and replayed by the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# The API's enum and revision identity are reused, so a CheckOutcome's verdict (decided by the
# core, see canary.core.checks) and the observed revision can be written to the status without
# translation. Verdict follows Argo's vocabulary: INCONCLUSIVE (no data) and ERROR (provider
# failed) are kept apart from FAILED (metric is bad).
from canary.api.models import Revision, Verdict, WebhookType
from canary.core.hooks import HookOutcome

__all__ = [
    "CanaryRef",
    "CheckOutcome",
    "HookOutcome",
    "Measurement",
    "Observation",
    "ProviderOutcome",
    "Revision",
    "RevisionSample",
    "Verdict",
    "WindowSamples",
    "WorkloadState",
]


@dataclass(frozen=True)
class CanaryRef:
    """Identity of the Canary object, used only to word events the way Flagger does."""

    name: str
    namespace: str


@dataclass(frozen=True)
class WorkloadState:
    """Readiness of one workload (the target Deployment or ``<target>-primary``).

    ``ready`` must mean the rollout of the *current* template finished (observedGeneration caught
    up, every replica updated, enough available per the ready threshold): after a promotion the
    core relies on it to know the primary runs the promoted template. ``deadline_exceeded``
    mirrors the Deployment's ``ProgressDeadlineExceeded`` condition: the rollout is stuck and
    waiting longer will not help (Flagger's non-retriable readiness error).
    """

    exists: bool
    ready: bool
    message: str = ""
    deadline_exceeded: bool = False
    available: bool | None = None
    """At least one replica can serve a request now, even mid-rollout; None when the edge does not
    say (then a workload that exists is assumed to serve)."""

    @property
    def serving(self) -> bool:
        """Whether traffic routed to this workload would be answered (the routing invariant's test)."""
        return self.exists and self.available is not False

    @classmethod
    def missing(cls, message: str) -> WorkloadState:
        """A workload that is not in the cluster (e.g. ``deployment podinfo not found``)."""
        return cls(exists=False, ready=False, message=message, available=False)

    @classmethod
    def healthy(cls) -> WorkloadState:
        """A workload whose rollout has finished and whose replicas are available."""
        return cls(exists=True, ready=True, available=True)


@dataclass(frozen=True)
class RevisionSample:
    """Raw traffic counts of one revision over the analysis window.

    ``latency_buckets`` are cumulative histogram buckets ``(upper_bound_seconds, count)``, as
    Prometheus exposes them, so a statistical judge can compare distributions, not only means.
    """

    requests: float
    errors: float
    latency_buckets: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class WindowSamples:
    """Both revisions' raw counts over one window the core asked for (ending at ``Observation.now``).

    ``canary``/``primary`` are None when that revision has no request series in the window (no
    data, not "0 requests"); ``error`` is the provider's message when the queries failed.
    """

    window_seconds: float
    canary: RevisionSample | None = None
    primary: RevisionSample | None = None
    error: str = ""


class ProviderOutcome(StrEnum):
    """What the metrics provider answered for one metric, before any judgment of the value."""

    MEASURED = "Measured"
    """A number came back (possibly ±Inf, which the core does not accept as a measurement)."""
    NO_DATA = "NoData"
    """The query ran but answered nothing usable: an empty result or NaN (0/0, no traffic)."""
    ERROR = "Error"
    """The provider could not answer (unreachable, bad query, missing template...)."""


@dataclass(frozen=True)
class Measurement:
    """What the edge measured for one ``analysis.metrics[]`` entry this tick; no verdict yet.

    The edge only measures; :func:`canary.core.checks.classify_measurement` compares the value
    with the metric's threshold from the spec. ``message`` is the provider's explanation (the
    error text, or why there is no data); ``primary_value`` is the same metric for the primary
    (display only). Raw counts for the judge come separately, as :class:`WindowSamples`.
    """

    name: str
    outcome: ProviderOutcome
    value: float | None = None
    message: str = ""
    primary_value: float | None = None
    warning: str = ""
    """Something unsafe about how it was measured that does not change the value (for example
    credentials sent over plain http); the core shows it in a warning condition."""
    window_seconds: float | None = None
    """The query window, ending at the observation's ``now``."""
    revision_scoped: bool = False
    """True when the query provably covers only the canary revision (the built-in checks); a
    user's query or MetricTemplate cannot be vouched for."""

    def __post_init__(self) -> None:
        """A MEASURED outcome without a value, or an ERROR with one, would be a lie."""
        if self.outcome is ProviderOutcome.MEASURED and self.value is None:
            raise ValueError(f"measurement {self.name}: MEASURED needs a value")
        if self.outcome is ProviderOutcome.ERROR and self.value is not None:
            raise ValueError(f"measurement {self.name}: ERROR carries no value")

    @classmethod
    def of(
        cls,
        name: str,
        value: float | None,
        *,
        primary_value: float | None = None,
        window_seconds: float | None = None,
        revision_scoped: bool = False,
    ) -> Measurement:
        """The provider's answer: None (empty result) and NaN are NO_DATA, anything else MEASURED."""
        no_data = value is None or math.isnan(value)
        return cls(
            name=name,
            outcome=ProviderOutcome.NO_DATA if no_data else ProviderOutcome.MEASURED,
            value=value,
            primary_value=primary_value,
            window_seconds=window_seconds,
            revision_scoped=revision_scoped,
        )

    @classmethod
    def no_data(cls, name: str, message: str = "") -> Measurement:
        """The query answered nothing; ``message`` may say why."""
        return cls(name=name, outcome=ProviderOutcome.NO_DATA, message=message)

    @classmethod
    def error(cls, name: str, message: str) -> Measurement:
        """The provider failed; ``message`` says how."""
        return cls(name=name, outcome=ProviderOutcome.ERROR, message=message)


@dataclass(frozen=True)
class CheckOutcome:
    """One measurement classified by the core against its metric's threshold range.

    ``message`` is the provider's explanation carried over from the :class:`Measurement` (error
    text, or why there is no data); the status and event wording is built from these fields by
    :mod:`canary.core.checks`.
    """

    name: str
    verdict: Verdict
    value: float | None = None
    threshold_min: float | None = None
    threshold_max: float | None = None
    message: str = ""
    primary_value: float | None = None
    window_seconds: float | None = None
    revision_scoped: bool = False
    sample_count: float | None = None
    """Canary requests in the window, when counted."""
    min_samples: int | None = None
    insufficient: bool = False
    """INCONCLUSIVE because the window held fewer than ``min_samples`` requests: halts
    advancement but never counts as a failed check."""


@dataclass(frozen=True)
class Observation:
    """Everything :func:`~canary.core.machine.decide` may know about the world for one tick.

    ``now`` is the only clock the core reads (timezone-aware UTC). ``target_revision`` is None
    when the target Deployment is missing. ``checks`` is None when metrics were not queried this
    tick (see :func:`~canary.core.machine.checks_due`), which is different from an empty tuple
    (queried, but the Canary defines no metrics). The measurements carry no verdict: ``decide``
    classifies them against ``spec.analysis.metrics[].effective_range``.

    ``route_weights`` is the live ``(primary, canary)`` split read from the router, or None when
    no route was observed (not created yet, or not applicable); the core restores the split the
    status records when they differ. ``primary_revision`` is the revision hash the primary runs,
    as stamped by the edge on initialize/promote (None = unknown); it lets the core notice a
    promotion whose status write was lost. ``traffic_splitting`` is False for routers that cannot
    split traffic (``provider: kubernetes``): weight-based analysis is then refused.
    ``unreferenced_autoscalers`` names HorizontalPodAutoscalers that scale the target while
    ``spec.autoscalerRef`` does not name them: the primary will not autoscale (a warning, not a halt).
    ``owner`` names another Canary (``namespace/name``) that manages the same target and takes
    precedence (created first): this Canary then does nothing but say so. ``requests`` are the
    manual requests found on the Canary (``promote``, ``abort``, ``retry`` -> value of the
    ``canary.dev/<name>`` annotation); the core decides whether each applies. ``hooks`` holds
    the webhook answers the core asked for (a type absent from it was not called this tick).
    """

    now: datetime
    canary: CanaryRef
    target_revision: Revision | None
    target: WorkloadState
    primary: WorkloadState
    checks: tuple[Measurement, ...] | None = None
    route_weights: tuple[int, int] | None = None
    primary_revision: str | None = None
    traffic_splitting: bool = True
    unreferenced_autoscalers: tuple[str, ...] = ()
    owner: str | None = None
    requests: Mapping[str, str] = field(default_factory=dict)
    hooks: Mapping[WebhookType, tuple[HookOutcome, ...]] = field(default_factory=dict)
    """Answers of the webhooks the core asked for this tick, by type (see :mod:`canary.core.hooks`)."""
    samples: Mapping[float, WindowSamples] = field(default_factory=dict)
    """Raw revision counts for the windows :func:`~canary.core.machine.measurement_plan` asked
    for, by window length in seconds (a window absent from it was not measured this tick)."""

    def __post_init__(self) -> None:
        """A naive ``now`` would make pacing depend on the host's timezone; refuse it."""
        if self.now.tzinfo is None:
            raise ValueError("Observation.now must be timezone-aware (UTC)")
