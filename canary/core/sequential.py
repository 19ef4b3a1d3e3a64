"""The canary-vs-primary judge: an anytime-valid sequential test on both revisions' requests.

Pure: it folds one window of request counts into the running evidence stored in
``status.judge`` and says whether the canary regressed. The edge only counts requests, 5xx
answers and latency buckets per revision over the window the core asks for.

The statistics, in plain words
------------------------------
For each signal (errors; slow requests), a request is *bad* when it fails with a 5xx, or when it
is slower than a boundary (the histogram bucket nearest the primary's p99 so far). In one window
the canary served ``n_c`` requests and the primary ``n_p``; ``x_c`` and ``x_p`` of them were bad.

If both revisions are equally good, each bad request landed on the canary with probability
``rho = n_c / (n_c + n_p)``, its share of the traffic, whatever the bad-request rate of that
window was (so a busy hour, a noisy dependency or a diurnal swing that hits both revisions
alike cannot fake a regression). If the canary's rate is ``r`` times the primary's, that
probability is ``pi(r) = rho*r / (rho*r + 1 - rho)``. Given ``x = x_c + x_p`` bad requests, the
likelihood of the split is binomial, and the likelihood ratio of "ratio ``r``" against "ratio
``r0``" for the window is::

    LR_w(r) = (pi(r) / pi(r0)) ** x_c * ((1 - pi(r)) / (1 - pi(r0))) ** x_p

``r0`` is ``maxRatio``, the smallest regression that matters. The judge multiplies the windows'
ratios and averages over a grid of alternatives ``r = r0 * m`` (:data:`REGRESSION_MULTIPLIERS`),
betting on several sizes of regression at once (a mixture sequential probability ratio test)::

    E = mean over m of  prod over windows of LR_w(r0 * m)

Guarantee. While the canary's ratio is at most ``r0``, ``E`` is a non-negative supermartingale
with ``E_0 = 1``, so by Ville's inequality ``P(E ever reaches 1/alpha) <= alpha``, however often
it is looked at and however long the analysis runs. The judge rolls back when ``E >= k/alpha`` for
one of its ``k`` signals (``alpha`` = ``falseRollbackRate``, split between the signals): a release
no worse than tolerated is rolled back with probability at most ``alpha``.

The mirror image (alternatives ``r0 * m`` with ``m < 1``, :data:`NO_REGRESSION_MULTIPLIERS`) tests
"the canary is at least ``r0`` times worse"; reaching ``k/alpha`` within one step shows it is not,
and with ``earlyAdvance`` the step may end before its interval.

Assumptions, said out loud: bad requests of the two revisions are independent given the window
(a Poisson model: exact for rare events, a close approximation for the ~1% tails compared here),
and counts are rounded to whole requests (Prometheus extrapolates ``increase``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from canary.api.models import CanaryJudge, JudgeEvidence, JudgeStatus, LatencyBucket
from canary.core.observations import RevisionSample, WindowSamples

__all__ = [
    "MIN_BOUNDARY_REQUESTS",
    "NO_REGRESSION_MULTIPLIERS",
    "REGRESSION_MULTIPLIERS",
    "JudgeOutcome",
    "JudgeVerdict",
    "Signal",
    "WindowCounts",
    "choose_boundary",
    "e_value",
    "fold",
    "share",
    "slow_counts",
    "update",
    "window_log_ratio",
]

#: Alternatives bet on against "no worse than r0": r0 times these (mixture weights equal).
REGRESSION_MULTIPLIERS: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
#: Alternatives bet on against "at least r0 times worse": r0 times these.
NO_REGRESSION_MULTIPLIERS: tuple[float, ...] = (0.8, 0.6, 0.4, 0.2)
#: The primary requests needed before a latency boundary is chosen (the first windows pick it).
MIN_BOUNDARY_REQUESTS = 200


class Signal(StrEnum):
    """What makes a request bad."""

    ERRORS = "errors"
    LATENCY = "latency"


class JudgeVerdict(StrEnum):
    """The judge's conclusion so far."""

    REGRESSION = "Regression"
    NO_REGRESSION = "NoRegression"
    UNDECIDED = "Undecided"


@dataclass(frozen=True)
class WindowCounts:
    """Requests and bad requests of both revisions in one window."""

    canary_requests: float
    canary_bad: float
    primary_requests: float
    primary_bad: float


@dataclass(frozen=True)
class JudgeOutcome:
    """The new judge status, its verdict, and the signal that decided (for the message)."""

    status: JudgeStatus
    verdict: JudgeVerdict
    signal: Signal | None = None
    message: str = ""


def share(rho: float, ratio: float) -> float:
    """Probability that a bad request is the canary's when its rate is ``ratio`` times the primary's."""
    return rho * ratio / (rho * ratio + 1.0 - rho)


def window_log_ratio(counts: WindowCounts, ratio: float, null_ratio: float) -> float:
    """ln LR of one window: canary-to-primary ratio ``ratio`` against ``null_ratio`` (0 when uninformative)."""
    n_c, n_p = round(counts.canary_requests), round(counts.primary_requests)
    x_c = min(max(round(counts.canary_bad), 0), n_c)
    x_p = min(max(round(counts.primary_bad), 0), n_p)
    if n_c <= 0 or n_p <= 0 or x_c + x_p == 0:
        return 0.0
    rho = n_c / (n_c + n_p)
    alt, null = share(rho, ratio), share(rho, null_ratio)
    return x_c * math.log(alt / null) + x_p * math.log((1.0 - alt) / (1.0 - null))


def fold(
    log_evidence: Sequence[float], counts: WindowCounts, null_ratio: float, multipliers: Sequence[float]
) -> list[float]:
    """Each alternative's running ln LR with one more window (a fresh list when ``log_evidence`` is empty)."""
    start = list(log_evidence) if len(log_evidence) == len(multipliers) else [0.0] * len(multipliers)
    return [
        value + window_log_ratio(counts, null_ratio * m, null_ratio)
        for value, m in zip(start, multipliers, strict=True)
    ]


def e_value(log_evidence: Sequence[float]) -> float:
    """The mixture e-value: the mean of the alternatives' likelihood ratios (1 before any data)."""
    if not log_evidence:
        return 1.0
    top = max(log_evidence)
    if top > 700:
        return math.inf
    return sum(math.exp(v) for v in log_evidence) / len(log_evidence)


def choose_boundary(primary_buckets: Sequence[LatencyBucket], quantile: float) -> float | None:
    """The bucket bound (seconds) nearest the primary's ``quantile``, or None with too little data.

    The largest finite bound that at least ``1 - quantile`` of the primary's requests exceed, so
    the tail compared is never thinner than asked (if none does, the smallest bound).
    """
    total = next((b.count for b in primary_buckets if math.isinf(b.le)), None)
    if total is None or total < MIN_BOUNDARY_REQUESTS:
        return None
    finite = sorted((b for b in primary_buckets if math.isfinite(b.le)), key=lambda b: b.le)
    if not finite:
        return None
    chosen = finite[0].le
    for bucket in finite:
        # A relative tolerance: 1 - 0.99 is 0.010000000000000009 in binary floating point.
        if (total - bucket.count) / total >= (1.0 - quantile) * (1.0 - 1e-9):
            chosen = bucket.le
    return chosen


def slow_counts(sample: RevisionSample, boundary: float) -> tuple[float, float] | None:
    """(requests, requests slower than ``boundary``) from cumulative buckets; None without them."""
    total = next((c for le, c in sample.latency_buckets if math.isinf(le)), None)
    within = next((c for le, c in sample.latency_buckets if math.isclose(le, boundary)), None)
    if total is None or within is None:
        return None
    return total, max(total - within, 0.0)


def _merge_buckets(held: Sequence[LatencyBucket], sample: RevisionSample) -> list[LatencyBucket]:
    counts = {b.le: b.count for b in held}
    for le, count in sample.latency_buckets:
        counts[le] = counts.get(le, 0.0) + max(count, 0.0)
    return [LatencyBucket(le=le, count=count) for le, count in sorted(counts.items())]


def _accumulate(
    evidence: JudgeEvidence | None, counts: WindowCounts, null_ratio: float, new_step: bool
) -> JudgeEvidence:
    held = evidence or JudgeEvidence()
    step = [] if new_step else held.step_log_evidence
    return JudgeEvidence(
        canary_requests=held.canary_requests + counts.canary_requests,
        canary_bad=held.canary_bad + counts.canary_bad,
        primary_requests=held.primary_requests + counts.primary_requests,
        primary_bad=held.primary_bad + counts.primary_bad,
        log_evidence=fold(held.log_evidence, counts, null_ratio, REGRESSION_MULTIPLIERS),
        step_log_evidence=fold(step, counts, null_ratio, NO_REGRESSION_MULTIPLIERS),
    )


def _fresh_step(evidence: JudgeEvidence | None) -> JudgeEvidence | None:
    if evidence is None or not evidence.step_log_evidence:
        return evidence
    return evidence.model_copy(update={"step_log_evidence": []})


def _rate(bad: float, total: float) -> str:
    return f"{100.0 * bad / total:.2f}%" if total > 0 else "n/a"


def update(
    spec: CanaryJudge,
    status: JudgeStatus | None,
    window: WindowSamples,
    *,
    observed_until: str,
    step_started_at: str | None,
) -> JudgeOutcome:
    """Fold one window into the evidence and decide.

    ``window`` must start where ``status.observedUntil`` ended (or at the step's start) and end
    at ``observed_until``. A window in which either revision served nothing adds no evidence.
    """
    held = status or JudgeStatus()
    new_step = held.step_started_at != step_started_at
    errors, latency = held.errors, held.latency
    boundary = held.latency_boundary
    buckets = [*held.primary_buckets, LatencyBucket(le=math.inf, count=held.primary_total)]
    canary, primary = window.canary, window.primary
    if canary is not None and primary is not None and canary.requests > 0 and primary.requests > 0:
        if spec.errors.enabled:
            counts = WindowCounts(canary.requests, canary.errors, primary.requests, primary.errors)
            errors = _accumulate(errors, counts, spec.errors.max_ratio, new_step)
        if spec.latency.enabled:
            # The boundary comes from earlier windows only, so the test of this one stays valid.
            if boundary is None:
                boundary = choose_boundary(buckets, spec.latency.quantile)
            canary_slow = slow_counts(canary, boundary) if boundary is not None else None
            primary_slow = slow_counts(primary, boundary) if boundary is not None else None
            if canary_slow is not None and primary_slow is not None:
                counts = WindowCounts(canary_slow[0], canary_slow[1], primary_slow[0], primary_slow[1])
                latency = _accumulate(latency, counts, spec.latency.max_ratio, new_step)
            buckets = _merge_buckets(buckets, primary)
    if new_step:
        # A signal that saw nothing in this window still starts the new step without evidence.
        errors = _fresh_step(errors) if errors is held.errors else errors
        latency = _fresh_step(latency) if latency is held.latency else latency
    next_status = JudgeStatus(
        observed_until=observed_until,
        looked_at=observed_until,
        step_started_at=step_started_at,
        errors=errors,
        latency=latency,
        latency_boundary=boundary,
        # JSON has no infinity: the +Inf bucket is kept as the total.
        primary_buckets=[b for b in buckets if math.isfinite(b.le)],
        primary_total=next((b.count for b in buckets if math.isinf(b.le)), 0.0),
    )
    return _decide(spec, next_status)


def _decide(spec: CanaryJudge, status: JudgeStatus) -> JudgeOutcome:
    signals = [(Signal(name), getattr(status, name)) for name in spec.signals]
    k = max(len(signals), 1)
    bar = k / spec.false_rollback_rate
    for signal, evidence in signals:
        if evidence is not None and e_value(evidence.log_evidence) >= bar:
            message = _regression_message(spec, status, signal, evidence)
            return _with(status, JudgeVerdict.REGRESSION, message, signal)
    shown = ", ".join(_summary(signal, evidence) for signal, evidence in signals) or "no signals enabled"
    cleared = bool(signals) and all(
        evidence is not None and e_value(evidence.step_log_evidence) >= bar for _, evidence in signals
    )
    if cleared:
        return _with(status, JudgeVerdict.NO_REGRESSION, f"no regression this step: {shown}")
    return _with(status, JudgeVerdict.UNDECIDED, shown)


def _with(
    status: JudgeStatus, verdict: JudgeVerdict, message: str, signal: Signal | None = None
) -> JudgeOutcome:
    written = status.model_copy(update={"verdict": verdict.value, "message": message})
    return JudgeOutcome(status=written, verdict=verdict, signal=signal, message=message)


def _summary(signal: Signal, evidence: JudgeEvidence | None) -> str:
    if evidence is None:
        return f"{signal.value}: no data yet"
    return (
        f"{signal.value} canary {_rate(evidence.canary_bad, evidence.canary_requests)} vs primary "
        f"{_rate(evidence.primary_bad, evidence.primary_requests)} (evidence {e_value(evidence.log_evidence):.3g})"
    )


def _regression_message(
    spec: CanaryJudge, status: JudgeStatus, signal: Signal, evidence: JudgeEvidence
) -> str:
    canary = _rate(evidence.canary_bad, evidence.canary_requests)
    primary = _rate(evidence.primary_bad, evidence.primary_requests)
    if signal is Signal.ERRORS:
        what, tolerated = "error ratio", spec.errors.max_ratio
    else:
        bound = status.latency_boundary or 0.0
        what, tolerated = f"share of requests slower than {bound * 1000:g}ms", spec.latency.max_ratio
    return (
        f"canary {what} {canary} vs primary {primary}: more than {tolerated:g}x worse "
        f"(evidence {e_value(evidence.log_evidence):.3g} >= {len(spec.signals) / spec.false_rollback_rate:g})"
    )
