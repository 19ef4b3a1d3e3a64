"""Pure evaluation of metric checks: per-metric classification, then scoring of the step.

The edge only measures (:class:`~canary.core.observations.Measurement`: a value, no data, or a
provider error); every judgment of a value happens here. Kayenta's seam:
:func:`classify_measurement` (via :func:`classify`) turns one measurement and its threshold range
into a :class:`CheckOutcome` with a :class:`Verdict`; :func:`judge` combines the verdicts of one
analysis step into a :class:`StepJudgment`. The statistical judge (canary vs primary, :mod:`canary.core.sequential`) works beside
these checks on raw revision counts and never touches their verdicts.

Scoring rule:

* every check SUCCESSFUL (or the Canary defines no metrics) -> the step passes and may advance;
* any check FAILED -> the step fails: one failed check is counted for the step (not one per
  metric, as in Flagger) and advancement halts;
* otherwise any check ERROR (provider failed) -> the step is not a pass and advancement halts;
  it does not count toward ``threshold`` but toward ``consecutiveErrorLimit`` (Argo's separate
  limit), so a short Prometheus outage does not roll back a good release and a long one does;
* otherwise any check INCONCLUSIVE (no data, or fewer samples than its ``minSamples``) -> the
  step is not a pass. **No data never passes**: advancement halts. Too few samples never counts
  toward ``threshold`` (a quiet service is not a bad one); ``inconclusiveDeadline`` bounds the wait. Whether it also counts toward the rollback threshold is the
  explicit policy :data:`UNMEASURED_COUNTS_AS_FAILED_CHECK` (True, like Flagger, which
  increments failedChecks when a query returns nothing) so a canary that receives no traffic
  is eventually rolled back rather than stuck.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from canary.core.observations import CanaryRef, CheckOutcome, Measurement, ProviderOutcome, Verdict

__all__ = [
    "UNMEASURED_COUNTS_AS_FAILED_CHECK",
    "JudgmentKind",
    "StepJudgment",
    "ThresholdRangeLike",
    "check_message",
    "classify",
    "classify_measurement",
    "format_number",
    "halt_message",
    "judge",
    "non_finite_message",
    "samples_message",
]

#: Policy: an INCONCLUSIVE step counts one failed check toward the rollback threshold.
#: It never counts as a pass either way.
UNMEASURED_COUNTS_AS_FAILED_CHECK: bool = True


class ThresholdRangeLike(Protocol):
    """Anything with optional ``min``/``max`` bounds (the API's ``CanaryThresholdRange``)."""

    @property
    def min(self) -> float | None: ...

    @property
    def max(self) -> float | None: ...


def classify(
    value: float | None,
    threshold_range: ThresholdRangeLike | None,
) -> Verdict:
    """Classify one measured value against its inclusive range.

    None and NaN (Prometheus' answer to 0/0, i.e. no traffic) are INCONCLUSIVE: no data never
    passes. So are +Inf and -Inf (e.g. ``histogram_quantile`` over an empty or overflowing
    bucket): they are not measurements, and ``+Inf >= min`` must not pass a check (see
    :func:`non_finite_message` for the wording). A metric without a range cannot fail once it
    has a finite value.
    """
    if value is None or not math.isfinite(value):
        return Verdict.INCONCLUSIVE
    if threshold_range is None:
        return Verdict.SUCCESSFUL
    if threshold_range.min is not None and value < threshold_range.min:
        return Verdict.FAILED
    if threshold_range.max is not None and value > threshold_range.max:
        return Verdict.FAILED
    return Verdict.SUCCESSFUL


def classify_measurement(
    measurement: Measurement,
    threshold_range: ThresholdRangeLike | None,
    *,
    min_samples: int | None = None,
    sample_count: float | None = None,
) -> CheckOutcome:
    """Classify what the edge measured: provider ERROR -> ERROR, fewer than ``min_samples``
    requests in the window -> INCONCLUSIVE (insufficient), NO_DATA -> INCONCLUSIVE, else
    :func:`classify` of the value against the (inclusive) range."""
    insufficient = False
    if measurement.outcome is ProviderOutcome.ERROR:
        verdict = Verdict.ERROR
    elif min_samples is not None and (
        (sample_count or 0.0) < min_samples or measurement.outcome is ProviderOutcome.NO_DATA
    ):
        # With minSamples, no data is waiting for traffic too (e.g. samples a restarted Prometheus lost).
        verdict, insufficient = Verdict.INCONCLUSIVE, True
    elif measurement.outcome is ProviderOutcome.NO_DATA:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = classify(measurement.value, threshold_range)
    return CheckOutcome(
        name=measurement.name,
        verdict=verdict,
        value=measurement.value,
        threshold_min=threshold_range.min if threshold_range is not None else None,
        threshold_max=threshold_range.max if threshold_range is not None else None,
        message=measurement.message,
        primary_value=measurement.primary_value,
        window_seconds=measurement.window_seconds,
        revision_scoped=measurement.revision_scoped,
        sample_count=sample_count,
        min_samples=min_samples,
        insufficient=insufficient,
    )


def check_message(outcome: CheckOutcome) -> str:
    """Short status text for one classified check: why it did not pass ("" when it passed)."""
    value = outcome.value
    if outcome.verdict is Verdict.FAILED and value is not None:
        if outcome.threshold_min is not None and value < outcome.threshold_min:
            return f"{outcome.name} {value:.2f} < {format_number(outcome.threshold_min)}"
        if outcome.threshold_max is not None and value > outcome.threshold_max:
            return f"{outcome.name} {value:.2f} > {format_number(outcome.threshold_max)}"
    if outcome.verdict is Verdict.INCONCLUSIVE:
        if outcome.insufficient:
            return samples_message(outcome)
        if value is not None and math.isinf(value):
            return non_finite_message(outcome.name, value) or ""
        return outcome.message or f"no values found for metric {outcome.name}"
    if outcome.verdict is Verdict.ERROR:
        return outcome.message or "unknown error"
    return outcome.message


def samples_message(outcome: CheckOutcome) -> str:
    """``request-success-rate has 12 of 50 samples``: why a check with minSamples is not judged yet."""
    count = outcome.sample_count or 0.0
    if outcome.min_samples is not None and count >= outcome.min_samples:
        return f"{outcome.name} returned no data over {count:.0f} samples (waiting for traffic)"
    return f"{outcome.name} has {count:.0f} of {outcome.min_samples} samples (waiting for traffic)"


def non_finite_message(name: str, value: float | None) -> str | None:
    """``"request-duration returned +Inf"`` for a NaN/±Inf value (Prometheus spelling), else None."""
    if value is None or math.isfinite(value):
        return None
    shown = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return f"{name} returned {shown}"


class JudgmentKind(StrEnum):
    """Overall result of one analysis step; the worst verdict wins (FAILED > ERROR > INCONCLUSIVE)."""

    PASSED = "Passed"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"


@dataclass(frozen=True)
class StepJudgment:
    """Scored result of one step's checks, keeping which checks were the reason."""

    kind: JudgmentKind
    failed: tuple[CheckOutcome, ...] = ()
    errors: tuple[CheckOutcome, ...] = ()
    inconclusive: tuple[CheckOutcome, ...] = ()

    @property
    def passed(self) -> bool:
        """Whether the step may advance."""
        return self.kind is JudgmentKind.PASSED

    @property
    def counts_as_failed_check(self) -> bool:
        """Whether this step adds one to ``status.failedChecks`` (see module policy)."""
        if self.kind is JudgmentKind.FAILED:
            return True
        if self.kind is JudgmentKind.INCONCLUSIVE:
            # Too few samples (minSamples) is a quiet service, not a bad one: it never counts.
            return UNMEASURED_COUNTS_AS_FAILED_CHECK and not self.only_insufficient
        return False  # ERROR has a limit of its own (consecutiveErrorLimit), see machine._provider_error

    @property
    def only_insufficient(self) -> bool:
        """INCONCLUSIVE only because checks with ``minSamples`` lack samples (see inconclusiveDeadline)."""
        return (
            self.kind is JudgmentKind.INCONCLUSIVE
            and bool(self.inconclusive)
            and all(o.insufficient for o in self.inconclusive)
        )

    @property
    def reasons(self) -> tuple[CheckOutcome, ...]:
        """The checks that kept the step from passing, worst first."""
        return self.failed + self.errors + self.inconclusive


def judge(outcomes: Iterable[CheckOutcome]) -> StepJudgment:
    """Score a step's outcomes: FAILED beats ERROR beats INCONCLUSIVE beats PASSED."""
    items = tuple(outcomes)
    failed = tuple(o for o in items if o.verdict is Verdict.FAILED)
    errors = tuple(o for o in items if o.verdict is Verdict.ERROR)
    inconclusive = tuple(o for o in items if o.verdict is Verdict.INCONCLUSIVE)
    if failed:
        kind = JudgmentKind.FAILED
    elif errors:
        kind = JudgmentKind.ERROR
    elif inconclusive:
        kind = JudgmentKind.INCONCLUSIVE
    else:
        kind = JudgmentKind.PASSED
    return StepJudgment(kind=kind, failed=failed, errors=errors, inconclusive=inconclusive)


def format_number(value: float) -> str:
    """Print a threshold like Go's ``%v`` does for whole numbers: ``99.0`` -> ``99``."""
    return f"{value:g}"


def halt_message(outcome: CheckOutcome, ref: CanaryRef) -> str:
    """Flagger-worded reason why this check halts advancement (for a Warning event)."""
    if outcome.verdict is Verdict.INCONCLUSIVE:
        if outcome.insufficient:
            return f"Halt advancement {samples_message(outcome)}"
        if outcome.value is not None and math.isinf(outcome.value):
            # NaN keeps Flagger's "no values found" wording (0/0: no traffic); ±Inf is named.
            return f"Halt advancement {non_finite_message(outcome.name, outcome.value)}"
        text = f"Halt advancement no values found for metric: {outcome.name}"
        return f"{text}: {outcome.message}" if outcome.message else text
    if outcome.verdict is Verdict.ERROR:
        return f"Metric query failed for {outcome.name}: {outcome.message or 'unknown error'}"
    subject = f"Halt {ref.name}.{ref.namespace} advancement {outcome.name}"
    value = outcome.value
    if value is None:
        return f"{subject} failed: {outcome.message}"
    if outcome.threshold_min is not None and value < outcome.threshold_min:
        return f"{subject} {value:.2f} < {format_number(outcome.threshold_min)}"
    if outcome.threshold_max is not None and value > outcome.threshold_max:
        return f"{subject} {value:.2f} > {format_number(outcome.threshold_max)}"
    return f"{subject} {value:.2f}: {outcome.message}" if outcome.message else f"{subject} {value:.2f}"
