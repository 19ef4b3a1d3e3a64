"""Pacing across ticks and restarts; when to measure and when to wake; deletion; conditions."""

from __future__ import annotations

import pytest
from core_helpers import NEW, T0, at, make_spec, observe, passing, stamp, status

from canary.api.models import CONDITION_PROMOTED, CanaryCondition, CanaryStatus, ConditionStatus, Phase
from canary.core import Finalize, SyncRouting, checks_due, decide, finalize, next_tick_in, set_condition
from canary.core.observations import Observation

SPEC = make_spec()
#: A quiet tick once initialized: only the routing objects are re-synced (no weight change).
QUIET = (SyncRouting(),)


def test_restarted_operator_does_not_advance_twice() -> None:
    before = status(Phase.PROGRESSING, canary_weight=20)
    obs = observe(at(1), checks=(passing(),))
    first = decide(SPEC, before, obs)
    assert first.status.canary_weight == 40
    # The operator restarts and re-reads the status it wrote, at the same instant.
    replay = decide(SPEC, first.status.model_copy(deep=True), obs)
    assert replay.actions == QUIET
    assert replay.status == first.status


def test_restart_mid_interval_waits_for_the_rest_of_it() -> None:
    written = decide(
        SPEC, status(Phase.PROGRESSING, canary_weight=20), observe(at(1), checks=(passing(),))
    ).status
    assert decide(SPEC, written, observe(at(1.9), checks=(passing(),))).actions == QUIET
    assert decide(SPEC, written, observe(at(2), checks=(passing(),))).status.canary_weight == 50


def test_status_survives_serialisation_round_trip() -> None:
    written = decide(
        SPEC, status(Phase.PROGRESSING, canary_weight=20), observe(at(1), checks=(passing(),))
    ).status
    reread = CanaryStatus.model_validate(written.to_dict())
    assert decide(SPEC, reread, observe(at(1.5))).actions == QUIET


@pytest.mark.parametrize(
    ("current", "minutes", "due"),
    [
        pytest.param(None, 0, False, id="no-status"),
        pytest.param(status(Phase.SUCCEEDED), 5, False, id="idle"),
        pytest.param(status(Phase.PROGRESSING), 1, False, id="first-step-has-nothing-to-measure"),
        pytest.param(status(Phase.PROGRESSING, canary_weight=20), 0.5, False, id="not-due"),
        pytest.param(status(Phase.PROGRESSING, canary_weight=20), 1, True, id="due"),
        pytest.param(status(Phase.PROGRESSING, iterations=1), 1, True, id="iteration-due"),
        pytest.param(status(Phase.PROGRESSING, canary_weight=20, failed_checks=5), 1, False, id="threshold"),
        pytest.param(status(Phase.PROMOTING, canary_weight=50), 1, False, id="promoting"),
    ],
)
def test_checks_due(current: CanaryStatus | None, minutes: float, due: bool) -> None:
    assert checks_due(SPEC, current, at(minutes)) is due


def test_checks_due_whenever_decide_would_wait_for_them() -> None:
    current = status(Phase.PROGRESSING, canary_weight=20)
    waiting = decide(SPEC, current, observe(at(1), checks=None))
    assert waiting.status.message == "waiting for metric checks"
    assert checks_due(SPEC, waiting.status, at(1))


@pytest.mark.parametrize(
    ("current", "minutes", "seconds"),
    [
        pytest.param(None, 0, 0.0, id="new-canary-now"),
        pytest.param(status(Phase.INITIALIZING), 0, 10.0, id="initializing-polls"),
        pytest.param(status(Phase.SUCCEEDED), 3, 60.0, id="idle-interval"),
        pytest.param(status(Phase.PROGRESSING, canary_weight=20), 0.25, 45.0, id="rest-of-interval"),
        pytest.param(status(Phase.PROGRESSING, canary_weight=20), 7, 1.0, id="overdue-floor"),
    ],
)
def test_next_tick_in(current: CanaryStatus | None, minutes: float, seconds: float) -> None:
    assert next_tick_in(SPEC, current, at(minutes)) == pytest.approx(seconds)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Observation(
            now=T0.replace(tzinfo=None),
            canary=observe(T0).canary,
            target_revision=None,
            target=observe(T0).target,
            primary=observe(T0).primary,
        )


def test_finalize_reverts_when_asked() -> None:
    spec = make_spec(revert_on_deletion=True)
    decision = finalize(spec, status(Phase.SUCCEEDED), now=at(9), canary=observe(T0).canary)
    assert decision.status.phase is Phase.TERMINATED
    assert decision.actions[0] == Finalize()
    assert decision.events[0].message.startswith("Reverting podinfo.test")
    again = finalize(spec, decision.status, now=at(10), canary=observe(T0).canary)
    assert again.actions == ()


def test_finalize_without_revert_parks_the_target() -> None:
    """Deleting the Canary mid-analysis must not leave the unvalidated revision serving."""
    decision = finalize(SPEC, status(Phase.PROGRESSING), now=at(9), canary=observe(T0).canary)
    assert decision.status.phase is Phase.TERMINATED
    assert decision.actions[0] == Finalize(revert=False)
    assert [e.message for e in decision.events] == [
        "Canary deleted: podinfo.test scaled to zero (revertOnDeletion is false)"
    ]


def test_terminated_canary_is_left_alone() -> None:
    decision = decide(SPEC, status(Phase.TERMINATED), observe(at(3)))
    assert decision.actions == ()


def test_set_condition_keeps_transition_time_when_status_unchanged() -> None:
    first = set_condition([], CONDITION_PROMOTED, ConditionStatus.UNKNOWN, "Progressing", "a", at(0))
    second = set_condition(first, CONDITION_PROMOTED, ConditionStatus.UNKNOWN, "Promoting", "b", at(5))
    [cond] = second
    assert (cond.reason, cond.message) == ("Promoting", "b")
    assert cond.last_transition_time == stamp(0)
    assert cond.last_update_time == stamp(5)
    third = set_condition(second, CONDITION_PROMOTED, ConditionStatus.TRUE, "Succeeded", "c", at(7))
    assert third[0].last_transition_time == stamp(7)


def test_set_condition_unchanged_is_identical_and_keeps_others() -> None:
    other = CanaryCondition(type="UnsupportedFields", status=ConditionStatus.FALSE, reason="None")
    first = set_condition([other], CONDITION_PROMOTED, ConditionStatus.TRUE, "Succeeded", "done", at(0))
    again = set_condition(first, CONDITION_PROMOTED, ConditionStatus.TRUE, "Succeeded", "done", at(9))
    assert again == first
    assert [c.type for c in again] == ["UnsupportedFields", CONDITION_PROMOTED]


def test_idle_tick_rewrites_nothing() -> None:
    current = status(Phase.SUCCEEDED, last_applied_spec=NEW, last_promoted_spec=NEW)
    decision = decide(SPEC, current, observe(at(30)))
    assert decision.status == current
    assert decision.actions == QUIET
