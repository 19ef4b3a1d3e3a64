"""Classification per metric and scoring per step (Kayenta's seam)."""

from __future__ import annotations

import math

import pytest
from core_helpers import REF, at, failing, make_spec, no_data, observe, passing, provider_error, status

from canary.api.models import Phase, ThresholdRange
from canary.core import checks, decide
from canary.core.checks import JudgmentKind, classify, halt_message, judge, non_finite_message
from canary.core.observations import CheckOutcome, Verdict


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
    ("outcomes", "kind", "counts"),
    [
        pytest.param((), JudgmentKind.PASSED, False, id="no-metrics-pass"),
        pytest.param((passing(), passing("latency", 1)), JudgmentKind.PASSED, False, id="all-pass"),
        pytest.param((passing(), failing()), JudgmentKind.FAILED, True, id="one-failed"),
        pytest.param((no_data(), passing()), JudgmentKind.INCONCLUSIVE, True, id="no-data-never-passes"),
        pytest.param((provider_error(), no_data("x")), JudgmentKind.ERROR, True, id="error-beats-no-data"),
        pytest.param((provider_error(), failing()), JudgmentKind.FAILED, True, id="failed-beats-error"),
    ],
)
def test_judge(outcomes: tuple[CheckOutcome, ...], kind: JudgmentKind, counts: bool) -> None:
    judgment = judge(outcomes)
    assert judgment.kind is kind
    assert judgment.passed is (kind is JudgmentKind.PASSED)
    assert judgment.counts_as_failed_check is counts


def test_judge_lists_every_reason_worst_first() -> None:
    outcomes = (no_data("a"), failing("b"), provider_error("c"), passing("d"))
    assert [o.name for o in judge(outcomes).reasons] == ["b", "c", "a"]


def test_unmeasured_policy_is_a_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "UNMEASURED_COUNTS_AS_FAILED_CHECK", False)
    judgment = judge((no_data(),))
    assert not judgment.passed
    assert not judgment.counts_as_failed_check
    assert judge((failing(),)).counts_as_failed_check


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        pytest.param(failing(), "Halt podinfo.test advancement request-success-rate 91.30 < 99", id="below"),
        pytest.param(
            CheckOutcome("request-duration", Verdict.FAILED, 612.5, threshold_max=500),
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
            CheckOutcome("request-duration", Verdict.INCONCLUSIVE, math.inf, threshold_max=500),
            "Halt advancement request-duration returned +Inf",
            id="plus-inf",
        ),
        pytest.param(
            CheckOutcome("request-success-rate", Verdict.INCONCLUSIVE, -math.inf, threshold_min=99),
            "Halt advancement request-success-rate returned -Inf",
            id="minus-inf",
        ),
        pytest.param(
            CheckOutcome("request-success-rate", Verdict.INCONCLUSIVE, math.nan, threshold_min=99),
            "Halt advancement no values found for metric: request-success-rate",
            id="nan-is-no-values",
        ),
    ],
)
def test_halt_message_wording(outcome: CheckOutcome, message: str) -> None:
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
    outcome = CheckOutcome(
        "request-duration", classify(math.inf, ThresholdRange(max=500)), math.inf, threshold_max=500
    )
    decision = decide(
        make_spec(), status(Phase.PROGRESSING, canary_weight=20), observe(at(1), checks=(outcome,))
    )
    assert decision.status.canary_weight == 20
    assert decision.status.failed_checks == 1
    assert [e.message for e in decision.events] == ["Halt advancement request-duration returned +Inf"]
