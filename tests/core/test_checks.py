"""Classification per metric and scoring per step (Kayenta's seam)."""

from __future__ import annotations

import math

import pytest
from core_helpers import (
    DEFAULT_ANALYSIS,
    REF,
    at,
    failing,
    make_spec,
    no_data,
    observe,
    passing,
    provider_error,
    status,
)

from canary.api.models import Phase, ThresholdRange
from canary.core import checks, classify_checks, decide
from canary.core.checks import (
    JudgmentKind,
    check_message,
    classify,
    classify_measurement,
    halt_message,
    judge,
    non_finite_message,
)
from canary.core.observations import CheckOutcome, Measurement, ProviderOutcome, Verdict

SPEC = make_spec()


def classified(*measurements: Measurement) -> tuple[CheckOutcome, ...]:
    """The measurements as the core classifies them against the default spec's thresholds."""
    return classify_checks(SPEC, measurements)


@pytest.mark.parametrize(
    ("value", "bounds", "verdict"),
    [
        pytest.param(99.5, ThresholdRange(min=99), Verdict.SUCCESSFUL, id="above-min"),
        pytest.param(99.0, ThresholdRange(min=99), Verdict.SUCCESSFUL, id="min-inclusive"),
        pytest.param(91.3, ThresholdRange(min=99), Verdict.FAILED, id="below-min"),
        pytest.param(501.0, ThresholdRange(max=500), Verdict.FAILED, id="above-max"),
        pytest.param(500.0, ThresholdRange(max=500), Verdict.SUCCESSFUL, id="max-inclusive"),
        pytest.param(5.0, ThresholdRange(min=1, max=10), Verdict.SUCCESSFUL, id="inside-range"),
        pytest.param(None, ThresholdRange(min=99), Verdict.INCONCLUSIVE, id="no-data"),
        pytest.param(math.nan, ThresholdRange(min=99), Verdict.INCONCLUSIVE, id="nan-is-no-data"),
        pytest.param(3.0, None, Verdict.SUCCESSFUL, id="no-range"),
        pytest.param(None, None, Verdict.INCONCLUSIVE, id="no-range-no-data"),
        pytest.param(math.inf, ThresholdRange(min=99), Verdict.INCONCLUSIVE, id="plus-inf-never-passes-min"),
        pytest.param(
            -math.inf, ThresholdRange(max=500), Verdict.INCONCLUSIVE, id="minus-inf-never-passes-max"
        ),
        pytest.param(math.inf, ThresholdRange(max=500), Verdict.INCONCLUSIVE, id="plus-inf-is-not-a-failure"),
        pytest.param(-math.inf, ThresholdRange(min=1, max=10), Verdict.INCONCLUSIVE, id="minus-inf-in-range"),
        pytest.param(math.inf, None, Verdict.INCONCLUSIVE, id="plus-inf-no-range"),
        pytest.param(math.nan, None, Verdict.INCONCLUSIVE, id="nan-no-range"),
    ],
)
def test_classify(value: float | None, bounds: ThresholdRange | None, verdict: Verdict) -> None:
    assert classify(value, bounds) is verdict


@pytest.mark.parametrize(
    ("measurements", "kind", "counts"),
    [
        pytest.param((), JudgmentKind.PASSED, False, id="no-metrics-pass"),
        pytest.param(
            (passing(), passing("request-duration", 120)), JudgmentKind.PASSED, False, id="all-pass"
        ),
        pytest.param((passing(), failing()), JudgmentKind.FAILED, True, id="one-failed"),
        pytest.param((no_data(), passing()), JudgmentKind.INCONCLUSIVE, True, id="no-data-never-passes"),
        pytest.param((provider_error(), no_data("x")), JudgmentKind.ERROR, False, id="error-beats-no-data"),
        pytest.param((provider_error(), failing()), JudgmentKind.FAILED, True, id="failed-beats-error"),
    ],
)
def test_judge(measurements: tuple[Measurement, ...], kind: JudgmentKind, counts: bool) -> None:
    judgment = judge(classified(*measurements))
    assert judgment.kind is kind
    assert judgment.passed is (kind is JudgmentKind.PASSED)
    assert judgment.counts_as_failed_check is counts


def test_judge_lists_every_reason_worst_first() -> None:
    spec = make_spec(
        {
            **DEFAULT_ANALYSIS,
            "metrics": [{"name": n, "query": "up", "threshold_range": {"min": 99}} for n in "abcd"],
        }
    )
    outcomes = classify_checks(spec, (no_data("a"), failing("b"), provider_error("c"), passing("d")))
    assert [o.name for o in judge(outcomes).reasons] == ["b", "c", "a"]


def test_unmeasured_policy_is_a_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "UNMEASURED_COUNTS_AS_FAILED_CHECK", False)
    judgment = judge(classified(no_data()))
    assert not judgment.passed
    assert not judgment.counts_as_failed_check
    assert judge(classified(failing())).counts_as_failed_check


@pytest.mark.parametrize(
    ("measurement", "message"),
    [
        pytest.param(failing(), "Halt podinfo.test advancement request-success-rate 91.30 < 99", id="below"),
        pytest.param(
            Measurement.of("request-duration", 612.5),
            "Halt podinfo.test advancement request-duration 612.50 > 500",
            id="above",
        ),
        pytest.param(
            no_data(),
            "Halt advancement no values found for metric: request-success-rate: empty result",
            id="no-data",
        ),
        pytest.param(
            provider_error(), "Metric query failed for request-success-rate: connection refused", id="error"
        ),
        pytest.param(
            Measurement.of("request-duration", math.inf),
            "Halt advancement request-duration returned +Inf",
            id="plus-inf",
        ),
        pytest.param(
            Measurement.of("request-success-rate", -math.inf),
            "Halt advancement request-success-rate returned -Inf",
            id="minus-inf",
        ),
        pytest.param(
            Measurement.of("request-success-rate", math.nan),
            "Halt advancement no values found for metric: request-success-rate",
            id="nan-is-no-values",
        ),
    ],
)
def test_halt_message_wording(measurement: Measurement, message: str) -> None:
    (outcome,) = classified(measurement)
    assert halt_message(outcome, REF) == message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(math.inf, "request-duration returned +Inf", id="plus-inf"),
        pytest.param(-math.inf, "request-duration returned -Inf", id="minus-inf"),
        pytest.param(math.nan, "request-duration returned NaN", id="nan"),
        pytest.param(120.0, None, id="finite"),
        pytest.param(None, None, id="none"),
    ],
)
def test_non_finite_message(value: float | None, message: str | None) -> None:
    assert non_finite_message("request-duration", value) == message


def test_infinite_value_halts_and_counts_in_the_machine() -> None:
    """A +Inf latency is not a pass: the step halts and counts one failed check."""
    measurement = Measurement.of("request-duration", math.inf)
    assert measurement.outcome is ProviderOutcome.MEASURED
    decision = decide(
        SPEC, status(Phase.PROGRESSING, canary_weight=20), observe(at(1), checks=(measurement,))
    )
    assert decision.status.canary_weight == 20
    assert decision.status.failed_checks == 1
    assert [e.message for e in decision.events] == ["Halt advancement request-duration returned +Inf"]


@pytest.mark.parametrize(
    ("measurement", "bounds", "verdict"),
    [
        pytest.param(
            Measurement.of("m", 99.5), ThresholdRange(min=99), Verdict.SUCCESSFUL, id="measured-pass"
        ),
        pytest.param(Measurement.of("m", 91.3), ThresholdRange(min=99), Verdict.FAILED, id="measured-fail"),
        pytest.param(Measurement.of("m", math.inf), ThresholdRange(min=99), Verdict.INCONCLUSIVE, id="inf"),
        pytest.param(Measurement.of("m", None), ThresholdRange(min=99), Verdict.INCONCLUSIVE, id="empty"),
        pytest.param(Measurement.of("m", math.nan), None, Verdict.INCONCLUSIVE, id="nan-no-range"),
        pytest.param(Measurement.no_data("m", "why"), None, Verdict.INCONCLUSIVE, id="no-data"),
        pytest.param(Measurement.error("m", "down"), ThresholdRange(min=99), Verdict.ERROR, id="error"),
    ],
)
def test_classify_measurement(
    measurement: Measurement, bounds: ThresholdRange | None, verdict: Verdict
) -> None:
    outcome = classify_measurement(measurement, bounds)
    assert outcome.verdict is verdict
    assert (outcome.name, outcome.message) == (measurement.name, measurement.message)
    assert (outcome.threshold_min, outcome.threshold_max) == (
        (bounds.min, bounds.max) if bounds is not None else (None, None)
    )


def test_measurement_outcome_follows_the_value() -> None:
    assert Measurement.of("m", 1.0).outcome is ProviderOutcome.MEASURED
    assert Measurement.of("m", None).outcome is ProviderOutcome.NO_DATA
    assert Measurement.of("m", math.nan).outcome is ProviderOutcome.NO_DATA
    with pytest.raises(ValueError, match="needs a value"):
        Measurement("m", ProviderOutcome.MEASURED)
    with pytest.raises(ValueError, match="no value"):
        Measurement("m", ProviderOutcome.ERROR, 1.0)


def test_thresholds_come_from_the_spec() -> None:
    """The legacy ``threshold`` is a minimum for the success rate and a maximum otherwise."""
    spec = make_spec(
        {
            **DEFAULT_ANALYSIS,
            "metrics": [
                {"name": "request-success-rate", "threshold": 99},
                {"name": "request-duration", "threshold": 500},
            ],
        }
    )
    rate, duration = classify_checks(
        spec, (Measurement.of("request-success-rate", 98.0), Measurement.of("request-duration", 450.0))
    )
    assert (rate.verdict, rate.threshold_min, rate.threshold_max) == (Verdict.FAILED, 99, None)
    assert (duration.verdict, duration.threshold_min, duration.threshold_max) == (
        Verdict.SUCCESSFUL,
        None,
        500,
    )


def test_a_metric_missing_from_the_spec_is_an_error_never_a_pass() -> None:
    (outcome,) = classified(Measurement.of("latency", 1.0))
    assert outcome.verdict is Verdict.ERROR
    assert outcome.message == "metric latency is not defined in spec.analysis.metrics"


@pytest.mark.parametrize(
    ("measurement", "message"),
    [
        pytest.param(passing(), "", id="passed"),
        pytest.param(failing(), "request-success-rate 91.30 < 99", id="below"),
        pytest.param(Measurement.of("request-duration", 612.5), "request-duration 612.50 > 500", id="above"),
        pytest.param(
            Measurement.of("request-duration", None),
            "no values found for metric request-duration",
            id="empty",
        ),
        pytest.param(no_data(), "empty result", id="no-data-detail"),
        pytest.param(
            Measurement.of("request-duration", math.inf), "request-duration returned +Inf", id="inf"
        ),
        pytest.param(provider_error(), "connection refused", id="error"),
    ],
)
def test_status_message_per_check(measurement: Measurement, message: str) -> None:
    (outcome,) = classified(measurement)
    assert check_message(outcome) == message


def test_status_records_the_core_classification() -> None:
    decision = decide(SPEC, status(Phase.PROGRESSING, canary_weight=20), observe(at(1), checks=(failing(),)))
    [recorded] = decision.status.checks
    assert (recorded.verdict, recorded.value, recorded.threshold_min, recorded.message) == (
        Verdict.FAILED,
        91.3,
        99,
        "request-success-rate 91.30 < 99",
    )
