"""SLO error-budget burn-rate checks (``analysis.slo``) through ``decide``.

Objective 99.9% leaves an error budget of 0.1%: a canary failing 2% of its requests burns it 20
times too fast (above the 14.4 of the 5m/1h rule), 1% burns it 10 times (within 14.4, above the
6 of the 30m/6h rule). Windows are cut to the canary revision's own time with traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest
from core_helpers import NEW, REF, STABLE, T0, make_spec

from canary.api.models import CanarySLO, CanarySpec, CanaryStatus, Phase, Verdict
from canary.core import (
    Decision,
    Observation,
    Revision,
    RevisionSample,
    WindowSamples,
    WorkloadState,
    decide,
    measurement_plan,
)
from canary.core.conditions import format_timestamp
from canary.core.slo import burn_rate, evaluate, rule_name

FAST_RULE = "slo-burn-rate-5m-1h"
SLOW_RULE = "slo-burn-rate-30m-6h"


def slo_spec(**slo: object) -> CanarySpec:
    return make_spec(
        {
            "interval": "1m",
            "step_weight": 20,
            "max_weight": 60,
            "threshold": 3,
            "metrics": [],
            "slo": {"objective": 99.9, **slo},
        }
    )


SPEC = slo_spec()


def analysing(*, analysis_started: timedelta, weight: int = 40) -> CanaryStatus:
    """A step that began one interval before T0; the revision got traffic ``analysis_started`` ago."""
    return CanaryStatus(
        phase=Phase.PROGRESSING,
        last_applied_spec=NEW,
        last_promoted_spec=STABLE,
        step_started_at=format_timestamp(T0 - timedelta(minutes=1)),
        last_transition_time=format_timestamp(T0 - timedelta(minutes=1)),
        analysis_started_at=format_timestamp(T0 - analysis_started),
        canary_weight=weight,
    )


def canary_at(error_rate: float, rps: float = 40.0) -> Mapping[int, WindowSamples]:
    """Every window: the canary serving ``rps`` with ``error_rate`` errors, the primary 0.05%."""

    class Windows(dict[int, WindowSamples]):
        def __missing__(self, window: int) -> WindowSamples:
            requests = rps * window
            return WindowSamples(
                window_seconds=float(window),
                canary=RevisionSample(requests=requests, errors=requests * error_rate),
                primary=RevisionSample(requests=4 * requests, errors=4 * requests * 0.0005),
            )

    return Windows()


def tick(
    spec: CanarySpec, status: CanaryStatus, windows: Mapping[int, WindowSamples], now: datetime = T0
) -> tuple[Decision, tuple[int, ...]]:
    """Measure what the plan asks for from ``windows`` and decide; also return the planned windows."""
    plan = measurement_plan(spec, status, now)
    assert plan.checks == {}
    obs = Observation(
        now=now,
        canary=REF,
        target_revision=Revision(hash=NEW),
        target=WorkloadState.healthy(),
        primary=WorkloadState.healthy(),
        checks=(),
        samples={float(w): windows[w] for w in plan.samples},
    )
    return decide(spec, status, obs), plan.samples


LONG_AGO = timedelta(hours=8)


def test_two_percent_errors_fail_the_fast_burn_rule() -> None:
    decision, _ = tick(SPEC, analysing(analysis_started=LONG_AGO), canary_at(0.02))
    status = decision.status
    checks = {c.name: c for c in status.checks}
    assert list(checks) == [FAST_RULE, SLOW_RULE]
    fast = checks[FAST_RULE]
    assert fast.verdict is Verdict.FAILED
    assert fast.value == pytest.approx(20.0)
    assert fast.threshold_max == 14.4
    assert fast.message == f"{FAST_RULE} 20.00 > 14.4"
    assert (fast.window, fast.scope, fast.samples) == ("1h", "Revision", 40.0 * 3600)
    assert checks[SLOW_RULE].verdict is Verdict.FAILED
    assert status.failed_checks == 1
    assert status.canary_weight == 40
    halts = [e.message for e in decision.events if e.reason == "Halted"]
    assert halts == [
        f"Halt podinfo.test advancement {FAST_RULE} 20.00 > 14.4",
        f"Halt podinfo.test advancement {SLOW_RULE} 20.00 > 6",
    ]


def test_one_percent_errors_pass_the_fast_rule_but_not_the_slow_one() -> None:
    decision, _ = tick(SPEC, analysing(analysis_started=LONG_AGO), canary_at(0.01))
    checks = {c.name: c for c in decision.status.checks}
    assert checks[FAST_RULE].verdict is Verdict.SUCCESSFUL
    assert checks[FAST_RULE].value == pytest.approx(10.0)
    assert checks[FAST_RULE].message is None
    assert checks[SLOW_RULE].verdict is Verdict.FAILED
    assert decision.status.failed_checks == 1


def test_within_budget_the_step_advances() -> None:
    decision, _ = tick(SPEC, analysing(analysis_started=LONG_AGO), canary_at(0.0005))
    assert [c.verdict for c in decision.status.checks] == [Verdict.SUCCESSFUL, Verdict.SUCCESSFUL]
    assert decision.status.canary_weight == 60
    assert [e.message for e in decision.events] == ["Advance podinfo.test canary weight 60"]


def test_only_the_fast_rule_with_one_percent_errors_advances() -> None:
    spec = slo_spec(burn_rates=[{"short_window": "5m", "long_window": "1h", "burn_rate": 14.4}])
    decision, _ = tick(spec, analysing(analysis_started=LONG_AGO), canary_at(0.01))
    assert [(c.name, c.verdict) for c in decision.status.checks] == [(FAST_RULE, Verdict.SUCCESSFUL)]
    assert decision.status.canary_weight == 60


@pytest.mark.parametrize(
    ("since_start", "windows", "shown"),
    [
        pytest.param(LONG_AGO, (300, 1800, 3600, 6 * 3600), ("1h", "6h"), id="long-analysis-full-windows"),
        pytest.param(timedelta(hours=2), (300, 1800, 3600, 7200), ("1h", "2h"), id="6h-cut-to-2h"),
        pytest.param(timedelta(minutes=10), (300, 600), ("10m", "10m"), id="cut-to-10m"),
        pytest.param(timedelta(minutes=3), (180,), ("3m", "3m"), id="all-cut-to-3m"),
    ],
)
def test_windows_are_cut_to_the_time_since_analysis_started(
    since_start: timedelta, windows: tuple[int, ...], shown: tuple[str, str]
) -> None:
    decision, planned = tick(SPEC, analysing(analysis_started=since_start), canary_at(0.0005))
    assert planned == windows
    assert tuple(c.window for c in decision.status.checks) == shown


def test_cut_windows_do_not_see_the_previous_revision() -> None:
    """A revision analysed for 3 minutes is judged on those 3 minutes only: the 1h window of the
    world would mostly hold the previous revision's (or no) traffic."""
    recent = canary_at(0.02)

    class OnlyRecent(dict[int, WindowSamples]):
        def __missing__(self, window: int) -> WindowSamples:
            assert window <= 180, f"window {window}s reaches before the revision got traffic"
            return recent[window]

    decision, planned = tick(SPEC, analysing(analysis_started=timedelta(minutes=3)), OnlyRecent())
    assert planned == (180,)
    assert decision.status.checks[0].verdict is Verdict.FAILED


def test_no_canary_requests_is_inconclusive() -> None:
    windows = {
        w: WindowSamples(float(w), canary=None, primary=RevisionSample(requests=4000, errors=0))
        for w in (300, 1800, 3600, 6 * 3600)
    }
    decision, _ = tick(SPEC, analysing(analysis_started=LONG_AGO), windows)
    checks = decision.status.checks
    assert [c.verdict for c in checks] == [Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE]
    assert checks[0].message == "no canary requests in the last 5m"
    assert checks[1].message == "no canary requests in the last 30m"
    # No data never passes: the weight holds (and, as any check without data, it counts).
    assert decision.status.canary_weight == 40
    assert decision.status.failed_checks == 1


def test_window_measured_with_an_error_is_an_error() -> None:
    good = canary_at(0.0005)
    windows = {w: good[w] for w in (300, 1800, 3600, 6 * 3600)}
    windows[3600] = WindowSamples(3600.0, error="prometheus: connection refused")
    decision, _ = tick(SPEC, analysing(analysis_started=LONG_AGO), windows)
    checks = {c.name: c for c in decision.status.checks}
    assert checks[FAST_RULE].verdict is Verdict.ERROR
    assert checks[FAST_RULE].message == "prometheus: connection refused"
    assert checks[SLOW_RULE].verdict is Verdict.SUCCESSFUL
    status = decision.status
    assert (status.canary_weight, status.failed_checks, status.consecutive_errors) == (40, 0, 1)
    assert "Metric query failed for slo-burn-rate-5m-1h: prometheus: connection refused" in [
        e.message for e in decision.events
    ]


def test_window_not_measured_is_an_error() -> None:
    slo = CanarySLO(objective=99.9)
    [outcome, _] = evaluate(slo, [(300, 3600), (1800, 7200)], {300.0: canary_at(0.0)[300]})
    assert outcome.verdict is Verdict.ERROR
    assert outcome.message == "burn-rate windows not measured"


def test_both_windows_must_burn_too_fast() -> None:
    slo = CanarySLO(objective=99.9)
    spike = canary_at(0.05)[300]  # a 5-minute spike: burn 50 over 5m
    calm = canary_at(0.001)[3600]  # but 1 over the hour
    samples = {300.0: spike, 3600.0: calm, 1800.0: spike, 21600.0: calm}
    outcomes = evaluate(slo, [(300, 3600), (1800, 21600)], samples)
    assert [o.verdict for o in outcomes] == [Verdict.SUCCESSFUL, Verdict.SUCCESSFUL]
    assert outcomes[0].value == pytest.approx(1.0)


def test_burn_rate_and_rule_name() -> None:
    assert burn_rate(2, 100, 0.001) == pytest.approx(20.0)
    assert burn_rate(0, 0, 0.001) is None
    assert rule_name("5m", "1h") == FAST_RULE
    assert CanarySLO(objective=99.9).error_budget == pytest.approx(0.001)


def test_slo_windows_are_measured_only_on_a_step() -> None:
    status = analysing(analysis_started=LONG_AGO)
    plan = measurement_plan(SPEC, status, T0 - timedelta(seconds=30))
    assert plan.checks is None
    assert plan.samples == ()
