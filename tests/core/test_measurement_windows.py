"""Which windows ``measurement_plan`` asks the edge to measure (see :mod:`canary.core.windows`).

Every window ends now and never reaches before the current step began, so a check judges only
traffic at the current weight of the current revision: a metric check covers ``min(metric
interval, time since the step began)``; with ``minSamples`` the whole time since its samples ran
short; SLO windows are cut to the time since the revision got traffic; the judge's window is the
time since it last looked, on every step tick and every ``judge.interval`` between steps.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from core_helpers import NEW, STABLE, T0, make_spec, observe, passing

from canary.api.models import CanarySpec, CanaryStatus, JudgeStatus, Phase
from canary.core import Measurement, decide, measurement_plan
from canary.core.conditions import format_timestamp
from canary.core.windows import MAX_WINDOW_SECONDS, check_window, judge_window, slo_windows

METRIC = "request-success-rate"


def stamp(seconds: float) -> str:
    return format_timestamp(T0 + timedelta(seconds=seconds))


def now(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def spec(metric: dict[str, Any] | None = None, **analysis: Any) -> CanarySpec:
    """Interval 1m, one success-rate check (with ``metric``'s extra fields)."""
    return make_spec(
        {
            "interval": "1m",
            "step_weight": 20,
            "max_weight": 50,
            "metrics": [{"name": METRIC, "threshold_range": {"min": 99}, **(metric or {})}],
            **analysis,
        }
    )


def analysing(step_started: float = 0.0, phase: Phase = Phase.PROGRESSING, **fields: Any) -> CanaryStatus:
    """``phase`` (Progressing) at weight 20; the step began ``step_started`` seconds after T0."""
    fields.setdefault("canary_weight", 20)
    fields.setdefault("analysis_started_at", stamp(step_started - 120))
    return CanaryStatus(
        phase=phase,
        last_applied_spec=NEW,
        last_promoted_spec=STABLE,
        step_started_at=stamp(step_started),
        last_transition_time=stamp(step_started),
        **fields,
    )


JUDGED = spec(judge={})

# --------------------------------------------------------------------------- metric checks


@pytest.mark.parametrize(
    ("metric", "elapsed", "window"),
    [
        pytest.param({}, 60, 60, id="default-1m-on-time"),
        pytest.param({}, 95, 60, id="default-1m-late-tick"),
        pytest.param({"interval": "30s"}, 60, 30, id="metric-interval-shorter-than-step"),
        pytest.param({"interval": "5m"}, 60, 60, id="metric-5m-cut-to-the-step"),
        pytest.param({"interval": "5m"}, 200, 200, id="metric-5m-late-tick-cut-to-the-step"),
        pytest.param({"interval": "5m"}, 600, 300, id="metric-5m-whole"),
    ],
)
def test_check_window_is_the_metric_interval_cut_to_the_step(
    metric: dict[str, Any], elapsed: int, window: int
) -> None:
    canary = spec(metric)
    plan = measurement_plan(canary, analysing(), now(elapsed))
    assert plan.checks == {METRIC: window}
    assert plan.samples == ()  # no minSamples, no SLO, no judge: no raw counts needed


def test_check_window_is_whole_seconds_and_at_least_one() -> None:
    metric = spec({"interval": "5m"}).analysis.metrics
    assert metric is not None
    status = analysing()
    assert check_window(metric[0], status, now(90.4)) == 90
    assert check_window(metric[0], status, now(90.6)) == 91
    assert check_window(metric[0], status, now(0.2)) == 1
    assert (
        check_window(
            metric[0],
            analysing().model_copy(update={"step_started_at": None, "last_transition_time": None}),
            now(9),
        )
        == 300
    )


def test_no_checks_planned_before_the_step_is_due() -> None:
    plan = measurement_plan(spec(), analysing(), now(59))
    assert plan.checks is None
    assert plan.idle


def test_checks_are_measured_over_the_planned_window_in_status() -> None:
    """What the user sees: the window the check covered, ending at the check's time."""
    canary = spec({"interval": "5m"})
    plan = measurement_plan(canary, analysing(), now(60))
    assert plan.checks is not None
    measured = Measurement.of(METRIC, 99.9, window_seconds=plan.checks[METRIC], revision_scoped=True)
    decision = decide(canary, analysing(), observe(now(60), checks=(measured,)))
    [check] = decision.status.checks
    assert (check.window, check.scope, check.time) == ("1m", "Revision", stamp(60))
    assert decision.status.canary_weight == 40


def test_a_users_query_is_shown_as_query_scoped() -> None:
    measured = Measurement.of(METRIC, 99.9, window_seconds=60)
    [check] = decide(spec(), analysing(), observe(now(60), checks=(measured,))).status.checks
    assert check.scope == "Query"
    [unknown] = decide(spec(), analysing(), observe(now(60), checks=(passing(),))).status.checks
    assert (unknown.window, unknown.scope) == (None, None)


# --------------------------------------------------------------------------- minSamples


def test_min_samples_window_judges_each_request_once() -> None:
    """Not yet waiting: the metric's window, cut at the last step or halt (not the weight change)."""
    canary = spec({"interval": "30s", "min_samples": 50})
    plan = measurement_plan(canary, analysing(), now(60))
    assert plan.checks == {METRIC: 30}, "the metric's 30s, as without minSamples"
    assert plan.samples == (30,), "the canary's request count over the same window"
    halted = analysing().model_copy(update={"step_started_at": stamp(50)})
    [metric] = canary.analysis.metrics or []
    assert check_window(metric, halted, now(60)) == 10, "from the last halt"


def test_min_samples_window_grows_from_inconclusive_since() -> None:
    canary = spec({"min_samples": 50})
    status = analysing(step_started=240, inconclusive_since=stamp(0))
    plan = measurement_plan(canary, status, now(300))
    assert plan.checks == {METRIC: 300}
    assert plan.samples == (300,)


def test_min_samples_windows_of_two_metrics_share_their_request_count() -> None:
    canary = make_spec(
        {
            "interval": "1m",
            "step_weight": 20,
            "metrics": [
                {"name": METRIC, "threshold_range": {"min": 99}, "min_samples": 50},
                {"name": "request-duration", "threshold_range": {"max": 500}, "min_samples": 10},
                {"name": "custom", "query": "sum(up)", "interval": "30s"},
            ],
        }
    )
    plan = measurement_plan(canary, analysing(), now(60))
    assert plan.checks == {METRIC: 60, "request-duration": 60, "custom": 30}
    assert plan.samples == (60,)


# --------------------------------------------------------------------------- SLO


def test_slo_windows_are_cut_to_the_revisions_time_with_traffic() -> None:
    canary = spec(slo={"objective": 99.9})
    status = analysing(step_started=0, analysis_started_at=stamp(-540))
    assert slo_windows(canary, status, now(60)) == [(300, 600), (600, 600)]
    plan = measurement_plan(canary, status, now(60))
    assert plan.samples == (300, 600)


def test_slo_windows_fall_back_to_the_step_for_older_statuses() -> None:
    canary = spec(slo={"objective": 99.9})
    status = analysing(step_started=0, analysis_started_at=None)
    assert slo_windows(canary, status, now(60)) == [(60, 60), (60, 60)]


def test_slo_window_of_a_day_after_a_long_analysis() -> None:
    canary = spec(
        slo={"objective": 99.9, "burn_rates": [{"short_window": "1h", "long_window": "24h", "burn_rate": 1}]}
    )
    status = analysing(step_started=0, analysis_started_at=stamp(-10 * 86400))
    assert slo_windows(canary, status, now(60)) == [(3600, MAX_WINDOW_SECONDS)]


def test_no_slo_no_windows() -> None:
    assert slo_windows(spec(), analysing(), now(60)) == []


# --------------------------------------------------------------------------- judge


@pytest.mark.parametrize(
    ("canary", "status"),
    [
        pytest.param(spec(), analysing(), id="no-judge"),
        pytest.param(JUDGED, analysing(canary_weight=0), id="weight-0-first-step"),
        pytest.param(JUDGED.model_copy(update={"suspend": True}), analysing(), id="suspended"),
        pytest.param(JUDGED.model_copy(update={"skip_analysis": True}), analysing(), id="skip-analysis"),
        pytest.param(JUDGED, analysing(phase=Phase.PROMOTING), id="promoting"),
        pytest.param(JUDGED, analysing(phase=Phase.SUCCEEDED), id="succeeded"),
    ],
)
def test_no_judge_window(canary: CanarySpec, status: CanaryStatus) -> None:
    for seconds in (15, 30, 60, 600):
        assert judge_window(canary, status, now(seconds), step_tick=True) is None
        assert judge_window(canary, status, now(seconds), step_tick=False) is None
        plan = measurement_plan(canary, status, now(seconds))
        assert plan.samples == ()


def test_judge_window_between_steps_every_interval() -> None:
    status = analysing()
    assert judge_window(JUDGED, status, now(14), step_tick=False) is None
    assert judge_window(JUDGED, status, now(15), step_tick=False) == 15
    looked = status.model_copy(update={"judge": JudgeStatus(observed_until=stamp(15))})
    assert judge_window(JUDGED, looked, now(29), step_tick=False) is None
    assert judge_window(JUDGED, looked, now(30), step_tick=False) == 15
    assert measurement_plan(JUDGED, looked, now(30)).samples == (15,)
    assert measurement_plan(JUDGED, looked, now(29)).idle


def test_judge_window_is_always_present_on_a_step_tick() -> None:
    looked = analysing(judge=JudgeStatus(observed_until=stamp(55)))
    assert judge_window(JUDGED, looked, now(60), step_tick=True) == 5
    plan = measurement_plan(JUDGED, looked, now(60))
    assert plan.checks == {METRIC: 60}
    assert 5 in plan.samples
    # Late tick: the judge covers everything since it last looked (windows chain).
    assert measurement_plan(JUDGED, looked, now(100)).samples == (45,)


def test_judge_window_on_an_iteration_based_analysis() -> None:
    canary = make_spec(
        {
            "interval": "1m",
            "iterations": 3,
            "metrics": [{"name": METRIC, "threshold_range": {"min": 99}}],
            "judge": {},
        }
    )
    first = analysing(canary_weight=0, iterations=0)
    assert judge_window(canary, first, now(60), step_tick=True) is None
    second = analysing(canary_weight=0, iterations=1)
    assert judge_window(canary, second, now(60), step_tick=True) == 60
