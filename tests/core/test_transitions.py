"""Table of every state-machine transition: what the user sees (status, conditions, events)
and what the operator is asked to do (routes, scaling, promotion)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from core_helpers import (
    NEW,
    NEWER,
    STABLE,
    at,
    failing,
    make_spec,
    no_data,
    observe,
    passing,
    provider_error,
    stamp,
    status,
)

from canary.api.models import CONDITION_PROMOTED, CanarySpec, CanaryStatus, ConditionStatus, Phase
from canary.core import (
    Action,
    EmitEvent,
    InitializePrimary,
    Observation,
    PromoteToPrimary,
    ScaleTarget,
    SetRoute,
    decide,
)

SPEC = make_spec()
U, T, F = ConditionStatus.UNKNOWN, ConditionStatus.TRUE, ConditionStatus.FALSE
HALT_RATE = "Halt podinfo.test advancement request-success-rate 91.30 < 99"
CANARY_FAILED = "Canary failed! Scaling down podinfo.test"
NOT_READY = "waiting for rollout: 1 of 2 updated replicas are available"


@dataclass(frozen=True)
class Case:
    id: str
    status: CanaryStatus | None
    obs: Observation
    phase: Phase | None
    actions: tuple[Action, ...] = ()
    events: tuple[str, ...] = ()
    spec: CanarySpec = field(default_factory=lambda: SPEC)
    weight: int | None = None
    failed_checks: int | None = None
    condition: tuple[ConditionStatus, str] | None = None
    fields: dict[str, Any] = field(default_factory=dict)


CASES = [
    # ---------------------------------------------------------------- initialization
    Case(
        "new-canary-creates-primary",
        None,
        observe(at(0), revision=STABLE, primary_ready=False),
        Phase.INITIALIZING,
        (InitializePrimary(), SetRoute(100, 0)),
        condition=(U, "Initializing"),
        weight=0,
    ),
    Case(
        "initializing-waits-for-primary",
        status(Phase.INITIALIZING, last_applied_spec=None, last_promoted_spec=None),
        observe(at(0.2), revision=STABLE, primary_ready=False, primary_message="0 of 2 ready"),
        Phase.INITIALIZING,
        (InitializePrimary(), SetRoute(100, 0)),
        fields={"message": "waiting for podinfo-primary.test: 0 of 2 ready"},
    ),
    Case(
        "primary-ready-initialized",
        status(Phase.INITIALIZING, last_applied_spec=None, last_promoted_spec=None),
        observe(at(0.5), revision=STABLE),
        Phase.INITIALIZED,
        (ScaleTarget(to_zero=True),),
        ("Initialization done! podinfo.test",),
        condition=(T, "Initialized"),
        fields={"last_applied_spec": STABLE, "last_promoted_spec": STABLE},
    ),
    # ---------------------------------------------------------------- new revisions
    Case(
        "initialized-same-revision-idle",
        status(Phase.INITIALIZED),
        observe(at(5), revision=STABLE),
        Phase.INITIALIZED,
    ),
    *(
        Case(
            f"{phase.value.lower()}-new-revision-starts-progressing",
            status(phase, last_applied_spec=STABLE, failed_checks=3 if phase is Phase.FAILED else 0),
            observe(at(5)),
            Phase.PROGRESSING,
            (ScaleTarget(to_zero=False),),
            ("New revision detected! Scaling up podinfo.test",),
            weight=0,
            failed_checks=0,
            condition=(U, "Progressing"),
            fields={"last_applied_spec": NEW, "iterations": 0, "step_started_at": stamp(5)},
        )
        for phase in (Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED)
    ),
    Case(
        "failed-revert-to-promoted-starts-nothing",
        status(Phase.FAILED, last_applied_spec=NEW),
        observe(at(5), revision=STABLE),
        Phase.FAILED,
        fields={"last_applied_spec": STABLE, "last_promoted_spec": STABLE},
    ),
    Case(
        "skip-analysis-promotes-new-revision-at-once",
        status(Phase.SUCCEEDED, last_applied_spec=STABLE),
        observe(at(5)),
        Phase.PROMOTING,
        (PromoteToPrimary(revision=NEW),),
        (
            "New revision detected! Promoting podinfo.test without analysis",
            "Copying podinfo.test template spec to podinfo-primary.test",
        ),
        spec=make_spec(skip_analysis=True),
        condition=(U, "Promoting"),
    ),
    # ---------------------------------------------------------------- progressing
    Case(
        "step-not-due-does-nothing",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(0.5), checks=(passing(),)),
        Phase.PROGRESSING,
        weight=20,
    ),
    Case(
        "first-step-routes-without-checks",
        status(Phase.PROGRESSING),
        observe(at(1)),
        Phase.PROGRESSING,
        (SetRoute(80, 20),),
        ("Starting canary analysis for podinfo.test", "Advance podinfo.test canary weight 20"),
        weight=20,
        fields={"step_started_at": stamp(1), "last_transition_time": stamp(1)},
    ),
    Case(
        "checks-pass-advance",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), checks=(passing(),)),
        Phase.PROGRESSING,
        (SetRoute(60, 40),),
        ("Advance podinfo.test canary weight 40",),
        weight=40,
    ),
    Case(
        "last-step-clamped-to-max-weight",
        status(Phase.PROGRESSING, canary_weight=40),
        observe(at(1), checks=(passing(),)),
        Phase.PROGRESSING,
        (SetRoute(50, 50),),
        ("Advance podinfo.test canary weight 50",),
        weight=50,
    ),
    Case(
        "max-weight-passes-promotes",
        status(Phase.PROGRESSING, canary_weight=50),
        observe(at(1), checks=(passing(),)),
        Phase.PROMOTING,
        (PromoteToPrimary(revision=NEW),),
        ("Copying podinfo.test template spec to podinfo-primary.test",),
        weight=50,
        condition=(U, "Promoting"),
    ),
    Case(
        "step-weights-next-entry",
        status(Phase.PROGRESSING, canary_weight=10),
        observe(at(1), checks=(passing(),)),
        Phase.PROGRESSING,
        (SetRoute(75, 25),),
        ("Advance podinfo.test canary weight 25",),
        spec=make_spec({"step_weights": [5, 10, 25]}),
        weight=25,
    ),
    Case(
        "step-weights-last-entry-promotes",
        status(Phase.PROGRESSING, canary_weight=25),
        observe(at(1), checks=(passing(),)),
        Phase.PROMOTING,
        (PromoteToPrimary(revision=NEW),),
        ("Copying podinfo.test template spec to podinfo-primary.test",),
        spec=make_spec({"step_weights": [5, 10, 25]}),
    ),
    Case(
        "failed-check-halts-and-counts",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), checks=(failing(), passing("request-duration", 120))),
        Phase.PROGRESSING,
        (),
        (HALT_RATE,),
        weight=20,
        failed_checks=1,
        fields={"step_started_at": stamp(1), "last_transition_time": stamp(0)},
    ),
    Case(
        "no-data-halts-and-counts",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), checks=(no_data(),)),
        Phase.PROGRESSING,
        (),
        ("Halt advancement no values found for metric: request-success-rate: empty result",),
        weight=20,
        failed_checks=1,
    ),
    Case(
        "provider-error-halts-and-counts",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), checks=(provider_error(),)),
        Phase.PROGRESSING,
        (),
        ("Metric query failed for request-success-rate: connection refused",),
        weight=20,
        failed_checks=1,
    ),
    Case(
        "threshold-reached-rolls-back",
        status(Phase.PROGRESSING, canary_weight=40, failed_checks=4),
        observe(at(1), checks=(failing(),)),
        Phase.FAILED,
        (SetRoute(100, 0), ScaleTarget(to_zero=True)),
        (HALT_RATE, "Rolling back podinfo.test failed checks threshold reached 5", CANARY_FAILED),
        weight=0,
        failed_checks=5,
        condition=(F, "Failed"),
    ),
    Case(
        "threshold-already-reached-rolls-back-without-checks",
        status(Phase.PROGRESSING, canary_weight=40, failed_checks=5),
        observe(at(1)),
        Phase.FAILED,
        (SetRoute(100, 0), ScaleTarget(to_zero=True)),
        ("Rolling back podinfo.test failed checks threshold reached 5", CANARY_FAILED),
        weight=0,
    ),
    Case(
        "unmeasured-tick-waits-for-checks",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), checks=None),
        Phase.PROGRESSING,
        weight=20,
        fields={"message": "waiting for metric checks", "step_started_at": stamp(0)},
    ),
    Case(
        "canary-not-ready-halts",
        status(Phase.PROGRESSING, canary_weight=20, message="canary weight 20"),
        observe(at(1), target_ready=False, target_message=NOT_READY, checks=(passing(),)),
        Phase.PROGRESSING,
        (),
        (f"Halt advancement canary deployment podinfo.test not ready: {NOT_READY}",),
        weight=20,
    ),
    Case(
        "canary-not-ready-same-reason-no-repeat-event",
        status(
            Phase.PROGRESSING,
            canary_weight=20,
            message=f"Halt advancement canary deployment podinfo.test not ready: {NOT_READY}",
        ),
        observe(at(1), target_ready=False, target_message=NOT_READY),
        Phase.PROGRESSING,
        weight=20,
    ),
    Case(
        "canary-not-ready-past-deadline-rolls-back",
        status(Phase.PROGRESSING, canary_weight=20, step_started_at=stamp(10)),
        observe(at(11), target_ready=False, target_message=NOT_READY),
        Phase.FAILED,
        (SetRoute(100, 0), ScaleTarget(to_zero=True)),
        (
            "Rolling back podinfo.test progress deadline exceeded: canary deployment podinfo.test "
            f"not ready: {NOT_READY} (after 600s)",
            CANARY_FAILED,
        ),
        condition=(F, "Failed"),
    ),
    Case(
        "canary-stuck-rolls-back",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), target_ready=False, target_stuck=True, target_message="ProgressDeadlineExceeded"),
        Phase.FAILED,
        (SetRoute(100, 0), ScaleTarget(to_zero=True)),
        (
            "Rolling back podinfo.test progress deadline exceeded: canary deployment podinfo.test "
            "not ready: ProgressDeadlineExceeded (after 600s)",
            CANARY_FAILED,
        ),
    ),
    Case(
        "primary-not-ready-halts",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), primary_ready=False, primary_message="1 old replicas are pending termination"),
        Phase.PROGRESSING,
        (),
        ("Halt advancement podinfo-primary.test not ready: 1 old replicas are pending termination",),
        weight=20,
    ),
    Case(
        "new-revision-mid-analysis-restarts",
        status(Phase.PROGRESSING, canary_weight=40, failed_checks=2, step_started_at=stamp(3)),
        observe(at(3.2), revision=NEWER, checks=(passing(),)),
        Phase.PROGRESSING,
        (SetRoute(100, 0),),
        ("New revision detected! Restarting analysis for podinfo.test",),
        weight=0,
        failed_checks=0,
        fields={"last_applied_spec": NEWER, "step_started_at": stamp(3.2)},
    ),
    Case(
        "skip-analysis-set-mid-analysis-promotes",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1)),
        Phase.PROMOTING,
        (SetRoute(100, 0), PromoteToPrimary(revision=NEW)),
        ("Copying podinfo.test template spec to podinfo-primary.test",),
        spec=make_spec(skip_analysis=True),
        weight=0,
    ),
    # ---------------------------------------------------------------- iterations (blue/green)
    Case(
        "iterations-first-step",
        status(Phase.PROGRESSING),
        observe(at(1)),
        Phase.PROGRESSING,
        (),
        ("Starting canary analysis for podinfo.test", "Advance podinfo.test canary iteration 1/3"),
        spec=make_spec({"iterations": 3}),
        weight=0,
        fields={"iterations": 1},
    ),
    Case(
        "iterations-pass-counts",
        status(Phase.PROGRESSING, iterations=2),
        observe(at(1), checks=(passing(),)),
        Phase.PROGRESSING,
        (),
        ("Advance podinfo.test canary iteration 3/3",),
        spec=make_spec({"iterations": 3}),
        weight=0,
        fields={"iterations": 3},
    ),
    Case(
        "iterations-done-promotes",
        status(Phase.PROGRESSING, iterations=3),
        observe(at(1), checks=(passing(),)),
        Phase.PROMOTING,
        (PromoteToPrimary(revision=NEW),),
        ("Copying podinfo.test template spec to podinfo-primary.test",),
        spec=make_spec({"iterations": 3}),
    ),
    Case(
        "iterations-failed-check-counts",
        status(Phase.PROGRESSING, iterations=2),
        observe(at(1), checks=(failing(),)),
        Phase.PROGRESSING,
        (),
        (HALT_RATE,),
        spec=make_spec({"iterations": 3}),
        failed_checks=1,
        fields={"iterations": 2},
    ),
    # ---------------------------------------------------------------- promotion
    Case(
        "promoting-waits-for-primary-rollout",
        status(Phase.PROMOTING, canary_weight=50),
        observe(at(1), primary_ready=False, primary_message="1 of 2 updated"),
        Phase.PROMOTING,
        weight=50,
    ),
    Case(
        "promoting-primary-ready-routes-back",
        status(Phase.PROMOTING, canary_weight=50),
        observe(at(1)),
        Phase.FINALISING,
        (SetRoute(100, 0),),
        ("Routing all traffic to primary",),
        weight=0,
        condition=(U, "Finalising"),
    ),
    Case(
        "promoting-step-weight-promotion",
        status(Phase.PROMOTING, canary_weight=50),
        observe(at(1)),
        Phase.PROMOTING,
        (SetRoute(70, 30),),
        ("Advance podinfo.test primary weight 70",),
        spec=make_spec({"step_weight": 20, "max_weight": 50, "step_weight_promotion": 20}),
        weight=30,
    ),
    Case(
        "promoting-primary-stuck-fails-to-canary",
        status(Phase.PROMOTING, canary_weight=50),
        observe(at(1), primary_ready=False, primary_stuck=True, primary_message="ProgressDeadlineExceeded"),
        Phase.FAILED,
        (SetRoute(0, 100),),
        ("Promotion of podinfo.test failed, primary not ready: ProgressDeadlineExceeded",),
        weight=100,
        condition=(F, "Failed"),
    ),
    Case(
        "finalising-scales-down-succeeded",
        status(Phase.FINALISING, last_promoted_spec=STABLE),
        observe(at(1)),
        Phase.SUCCEEDED,
        (ScaleTarget(to_zero=True),),
        ("Promotion completed! Scaling down podinfo.test",),
        weight=0,
        condition=(T, "Succeeded"),
        fields={"last_promoted_spec": NEW, "last_applied_spec": NEW},
    ),
    Case(
        "finalising-skip-analysis-wording",
        status(Phase.FINALISING),
        observe(at(1)),
        Phase.SUCCEEDED,
        (ScaleTarget(to_zero=True),),
        ("Promotion completed! Canary analysis was skipped for podinfo.test",),
        spec=make_spec(skip_analysis=True),
    ),
    Case(
        "promotion-ignores-target-change",
        status(Phase.FINALISING),
        observe(at(1), revision=NEWER),
        Phase.SUCCEEDED,
        (ScaleTarget(to_zero=True),),
        ("Promotion completed! Scaling down podinfo.test",),
        fields={"last_promoted_spec": NEW},
    ),
    # ---------------------------------------------------------------- suspend / missing target
    Case(
        "suspended-does-nothing",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), checks=(failing(),)),
        Phase.PROGRESSING,
        (),
        ("skipping canary run as object is suspended",),
        spec=make_spec(suspend=True),
        weight=20,
        failed_checks=0,
        fields={"message": "skipping canary run as object is suspended"},
    ),
    Case(
        "suspended-event-once",
        status(Phase.PROGRESSING, message="skipping canary run as object is suspended"),
        observe(at(1)),
        Phase.PROGRESSING,
        spec=make_spec(suspend=True),
    ),
    Case(
        "target-missing-holds-and-warns",
        status(Phase.SUCCEEDED).model_copy(
            update={"conditions": decide(SPEC, status(Phase.FINALISING), observe(at(1))).status.conditions}
        ),
        observe(at(2), revision=None),
        Phase.SUCCEEDED,
        (),
        ("deployment podinfo not found",),
        condition=(T, "Succeeded"),
        fields={"message": "deployment podinfo not found"},
    ),
    Case(
        "target-missing-warns-once",
        status(Phase.PROGRESSING, canary_weight=20, message="deployment podinfo not found"),
        observe(at(3), revision=None),
        Phase.PROGRESSING,
        weight=20,
    ),
    Case(
        "target-missing-before-init",
        None,
        observe(at(0), revision=None),
        Phase.INITIALIZING,
        (),
        ("deployment podinfo not found",),
        condition=(U, "Initializing"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transition(case: Case) -> None:
    decision = decide(case.spec, case.status, case.obs)
    got = decision.status

    assert got.phase == case.phase
    assert tuple(a for a in decision.actions if not isinstance(a, EmitEvent)) == case.actions
    assert tuple(e.message for e in decision.events) == case.events
    if case.weight is not None:
        assert got.canary_weight == case.weight
    if case.failed_checks is not None:
        assert got.failed_checks == case.failed_checks
    if case.condition is not None:
        promoted = got.condition(CONDITION_PROMOTED)
        assert promoted is not None
        assert (promoted.status, promoted.reason) == case.condition
        assert promoted.message
    for name, expected in case.fields.items():
        assert getattr(got, name) == expected, name


def test_warnings_are_warning_events() -> None:
    decision = decide(
        SPEC,
        status(Phase.PROGRESSING, canary_weight=40, failed_checks=4),
        observe(at(1), checks=(failing(),)),
    )
    assert {e.type for e in decision.events} == {"Warning"}


def test_target_missing_message_lands_in_promoted_condition() -> None:
    decision = decide(SPEC, None, observe(at(0), revision=None))
    promoted = decision.status.condition(CONDITION_PROMOTED)
    assert promoted is not None and promoted.message == "deployment podinfo not found"


def test_checks_are_recorded_in_status() -> None:
    outcome = passing()
    decision = decide(SPEC, status(Phase.PROGRESSING, canary_weight=20), observe(at(1), checks=(outcome,)))
    [recorded] = decision.status.checks
    assert (recorded.name, recorded.verdict, recorded.value, recorded.threshold_min) == (
        outcome.name,
        outcome.verdict,
        outcome.value,
        99,
    )
    assert recorded.time == stamp(1)


def test_progress_restarts_deadline_but_halts_do_not() -> None:
    halted = decide(SPEC, status(Phase.PROGRESSING, canary_weight=20), observe(at(1), checks=(failing(),)))
    assert halted.status.last_transition_time == stamp(0)
    advanced = decide(SPEC, status(Phase.PROGRESSING, canary_weight=20), observe(at(1), checks=(passing(),)))
    assert advanced.status.last_transition_time == stamp(1)


def test_target_back_restores_condition_message_and_warns_again_next_time() -> None:
    succeeded = decide(SPEC, status(Phase.FINALISING), observe(at(1))).status
    missing = decide(SPEC, succeeded, observe(at(2), revision=None)).status
    back = decide(SPEC, missing, observe(at(3)))
    promoted = back.status.condition(CONDITION_PROMOTED)
    assert promoted is not None
    assert promoted.message == "Canary analysis completed successfully, promotion finished."
    assert back.status.message == "podinfo.test found again"
    assert back.actions == ()
    again = decide(SPEC, back.status, observe(at(4), revision=None))
    assert [e.message for e in again.events] == ["deployment podinfo not found"]


def test_target_back_mid_analysis_continues() -> None:
    missing = decide(SPEC, status(Phase.PROGRESSING, canary_weight=20), observe(at(1), revision=None)).status
    assert missing.canary_weight == 20
    back = decide(SPEC, missing, observe(at(1.5), checks=(passing(),)))
    assert back.status.canary_weight == 40
    promoted = back.status.condition(CONDITION_PROMOTED)
    assert promoted is not None and promoted.message == "New revision detected, progressing canary analysis."


def test_unsupported_flagger_fields_are_named_in_a_condition() -> None:
    """A Flagger field we accept but ignore is surfaced to the user, and the flag clears when removed."""
    spec = make_spec(analysis={"stepWeight": 10, "maxWeight": 50, "mirror": True})
    decision = decide(spec, status(Phase.SUCCEEDED), observe(at(1), revision=STABLE))
    flagged = decision.status.condition("UnsupportedFields")
    assert flagged is not None and flagged.status == ConditionStatus.TRUE
    assert flagged.message is not None and "spec.analysis.mirror" in flagged.message
    cleared = decide(make_spec(), decision.status, observe(at(2), revision=STABLE))
    assert cleared.status.condition("UnsupportedFields") is None
