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
    SyncRouting,
    Verdict,
    decide,
)

SPEC = make_spec()
U, T, F = ConditionStatus.UNKNOWN, ConditionStatus.TRUE, ConditionStatus.FALSE
HALT_RATE = "Halt podinfo.test advancement request-success-rate 91.30 < 99"
CANARY_FAILED = "Canary failed! Scaling down podinfo.test"
NOT_READY = "waiting for rollout: 1 of 2 updated replicas are available"
SUSPENDED = "skipping canary run as object is suspended"
PROMOTING = "Copying podinfo.test template spec to podinfo-primary.test"
ALREADY_PROMOTED = "podinfo-primary.test already runs revision new-hash: promotion was applied but not recorded, continuing it"
NO_SPLIT = (
    "provider kubernetes cannot split traffic: use analysis.iterations (blue/green) "
    "or a traffic-splitting provider such as gatewayapi"
)
KUBERNETES = make_spec(provider="kubernetes")


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
    #: Whether the decision must start with SyncRouting (False: initializing, suspended, target
    #: missing); ``actions`` lists what follows it.
    synced: bool = True


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
        synced=False,
    ),
    Case(
        "initializing-waits-for-primary",
        status(Phase.INITIALIZING, last_applied_spec=None, last_promoted_spec=None),
        observe(at(0.2), revision=STABLE, primary_ready=False, primary_message="0 of 2 ready"),
        Phase.INITIALIZING,
        (InitializePrimary(), SetRoute(100, 0)),
        fields={"message": "waiting for podinfo-primary.test: 0 of 2 ready"},
        synced=False,
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
        synced=False,
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
        # Flagger's order: the target is scaled up first, so the template promoted has started
        # somewhere and the replica count copied to the primary is not zero.
        "skip-analysis-scales-up-new-revision-first",
        status(Phase.SUCCEEDED, last_applied_spec=STABLE),
        observe(at(5)),
        Phase.PROGRESSING,
        (ScaleTarget(to_zero=False),),
        ("New revision detected! Scaling up podinfo.test",),
        spec=make_spec(skip_analysis=True),
        weight=0,
    ),
    Case(
        "skip-analysis-promotes-once-target-ready",
        status(Phase.PROGRESSING),
        observe(at(1)),
        Phase.PROMOTING,
        (SetRoute(100, 0), PromoteToPrimary(revision=NEW)),
        (PROMOTING,),
        spec=make_spec(skip_analysis=True),
        condition=(U, "Promoting"),
    ),
    Case(
        "skip-analysis-waits-for-target-ready",
        status(Phase.PROGRESSING),
        observe(at(1), target_ready=False, target_message=NOT_READY),
        Phase.PROGRESSING,
        (),
        (f"Halt advancement canary deployment podinfo.test not ready: {NOT_READY}",),
        spec=make_spec(skip_analysis=True),
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
        # Argo's Error verdict: neither a pass nor a failed check; a limit of its own.
        "provider-error-halts-without-failed-check",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), checks=(provider_error(),)),
        Phase.PROGRESSING,
        (),
        ("Metric query failed for request-success-rate: connection refused",),
        weight=20,
        failed_checks=0,
        fields={"consecutive_errors": 1},
    ),
    Case(
        "provider-error-limit-rolls-back",
        status(Phase.PROGRESSING, canary_weight=20, consecutive_errors=3),
        observe(at(1), checks=(provider_error(),)),
        Phase.FAILED,
        (SetRoute(100, 0), ScaleTarget(to_zero=True)),
        (
            "Metric query failed for request-success-rate: connection refused",
            "Rolling back podinfo.test: metrics could not be measured for 4 consecutive checks "
            "(Metric query failed for request-success-rate: connection refused)",
            CANARY_FAILED,
        ),
        weight=0,
        condition=(F, "Failed"),
    ),
    Case(
        # A restarted Prometheus has lost its last samples: that gap is the outage's, not the canary's.
        "no-data-right-after-a-provider-error-is-not-a-failed-check",
        status(Phase.PROGRESSING, canary_weight=20, consecutive_errors=1),
        observe(at(1), checks=(no_data(),)),
        Phase.PROGRESSING,
        (),
        ("Halt advancement no values found for metric: request-success-rate: empty result",),
        weight=20,
        failed_checks=0,
        fields={"consecutive_errors": 2},
    ),
    Case(
        "no-data-without-an-outage-is-a-failed-check",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), checks=(no_data(),)),
        Phase.PROGRESSING,
        (),
        ("Halt advancement no values found for metric: request-success-rate: empty result",),
        weight=20,
        failed_checks=1,
        fields={"consecutive_errors": 0},
    ),
    Case(
        "measured-step-resets-provider-errors",
        status(Phase.PROGRESSING, canary_weight=20, consecutive_errors=3),
        observe(at(1), checks=(failing(),)),
        Phase.PROGRESSING,
        (),
        (HALT_RATE,),
        weight=20,
        failed_checks=1,
        fields={"consecutive_errors": 0},
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
        "iterations-done-routes-all-traffic-to-the-canary-first",
        status(Phase.PROGRESSING, iterations=3),
        observe(at(1), checks=(passing(),)),
        Phase.PROGRESSING,
        (SetRoute(0, 100),),
        ("Routing all traffic to canary",),
        spec=make_spec({"iterations": 3}),
        weight=100,
    ),
    Case(
        "iterations-done-with-all-traffic-on-the-canary-promotes",
        status(Phase.PROGRESSING, iterations=3, canary_weight=100),
        observe(at(1), checks=(passing(),), route=(0, 100)),
        Phase.PROMOTING,
        (PromoteToPrimary(revision=NEW),),
        ("Copying podinfo.test template spec to podinfo-primary.test",),
        spec=make_spec({"iterations": 3}),
        weight=100,
    ),
    Case(
        "iterations-done-without-traffic-split-promotes-at-once",
        status(Phase.PROGRESSING, iterations=3),
        observe(at(1), checks=(passing(),), splitting=False),
        Phase.PROMOTING,
        (PromoteToPrimary(revision=NEW),),
        ("Copying podinfo.test template spec to podinfo-primary.test",),
        spec=make_spec({"iterations": 3}, provider="kubernetes"),
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
        synced=False,
    ),
    Case(
        "suspended-event-once",
        status(Phase.PROGRESSING, message="skipping canary run as object is suspended"),
        observe(at(1)),
        Phase.PROGRESSING,
        spec=make_spec(suspend=True),
        synced=False,
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
        synced=False,
    ),
    Case(
        # Nobody would answer the canary's share: it goes back to the primary at once.
        "target-deleted-mid-analysis-routes-back-and-fails",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(0.5), revision=None),
        Phase.FAILED,
        (SetRoute(100, 0),),
        (
            "Rolling back podinfo.test: deployment podinfo not found during the analysis; "
            "all traffic to podinfo-primary.test",
            "Canary failed! deployment podinfo not found",
        ),
        weight=0,
        condition=(F, "Failed"),
        synced=False,
    ),
    Case(
        "target-missing-when-settled-warns-once",
        status(Phase.SUCCEEDED, message="deployment podinfo not found"),
        observe(at(3), revision=None),
        Phase.SUCCEEDED,
        weight=0,
        synced=False,
    ),
    Case(
        "target-missing-before-init",
        None,
        observe(at(0), revision=None),
        Phase.INITIALIZING,
        (),
        ("deployment podinfo not found",),
        condition=(U, "Initializing"),
        synced=False,
    ),
    # ---------------------------------------------------------------- route drift (lost writes, edits)
    Case(
        "drift-halting-tick-restores-route",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(0.5), route=(70, 30)),
        Phase.PROGRESSING,
        (SetRoute(80, 20),),
        ("Route of podinfo.test was 70/30, restored to 80/20",),
        weight=20,
        fields={"step_started_at": stamp(0)},
    ),
    Case(
        "drift-restored-before-failed-check-halt",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), route=(100, 0), checks=(failing(),)),
        Phase.PROGRESSING,
        (SetRoute(80, 20),),
        ("Route of podinfo.test was 100/0, restored to 80/20", HALT_RATE),
        weight=20,
        failed_checks=1,
    ),
    Case(
        "drift-restored-before-rollback",
        status(Phase.PROGRESSING, canary_weight=40, failed_checks=4),
        observe(at(1), route=(50, 50), checks=(failing(),)),
        Phase.FAILED,
        (SetRoute(60, 40), SetRoute(100, 0), ScaleTarget(to_zero=True)),
        (
            "Route of podinfo.test was 50/50, restored to 60/40",
            HALT_RATE,
            "Rolling back podinfo.test failed checks threshold reached 5",
            CANARY_FAILED,
        ),
        weight=0,
    ),
    Case(
        "route-matching-status-is-left-alone",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(0.5), route=(80, 20)),
        Phase.PROGRESSING,
        weight=20,
    ),
    Case(
        "lost-advance-write-resent-without-warning",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), route=(60, 40), checks=(passing(),)),
        Phase.PROGRESSING,
        (SetRoute(80, 20), SetRoute(60, 40)),
        ("Advance podinfo.test canary weight 40",),
        weight=40,
    ),
    Case(
        "lost-finalising-write-resent-without-warning",
        status(Phase.PROMOTING, canary_weight=50),
        observe(at(1), route=(100, 0)),
        Phase.FINALISING,
        (SetRoute(50, 50), SetRoute(100, 0)),
        ("Routing all traffic to primary",),
        weight=0,
    ),
    Case(
        "drift-while-promoting-restored",
        status(Phase.PROMOTING, canary_weight=50),
        observe(at(0.5), route=(90, 10), primary_ready=False),
        Phase.PROMOTING,
        (SetRoute(50, 50),),
        ("Route of podinfo.test was 90/10, restored to 50/50",),
        weight=50,
    ),
    Case(
        "drift-while-finalising-restored",
        status(Phase.FINALISING),
        observe(at(0.5), route=(80, 20)),
        Phase.FINALISING,
        (SetRoute(100, 0),),
        ("Route of podinfo.test was 80/20, restored to 100/0",),
        weight=0,
    ),
    *(
        Case(
            f"drift-{phase.value.lower()}-idle-restored-to-primary",
            status(phase, last_applied_spec=NEW, last_promoted_spec=NEW),
            observe(at(5), route=(70, 30)),
            phase,
            (SetRoute(100, 0),),
            ("Route of podinfo.test was 70/30, restored to 100/0",),
            weight=0,
        )
        for phase in (Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED)
    ),
    Case(
        "drift-before-new-revision-restored-then-reset",
        status(Phase.SUCCEEDED, last_applied_spec=STABLE),
        observe(at(5), route=(0, 100)),
        Phase.PROGRESSING,
        (SetRoute(100, 0), ScaleTarget(to_zero=False)),
        (
            "Route of podinfo.test was 0/100, restored to 100/0",
            "New revision detected! Scaling up podinfo.test",
        ),
        weight=0,
    ),
    Case(
        "drift-ignored-while-suspended",
        status(Phase.PROGRESSING, canary_weight=20, message=SUSPENDED),
        observe(at(1), route=(70, 30)),
        Phase.PROGRESSING,
        spec=make_spec(suspend=True),
        weight=20,
        synced=False,
    ),
    Case(
        "target-missing-with-canary-traffic-in-route-routes-back",
        status(Phase.SUCCEEDED, message="deployment podinfo not found"),
        observe(at(1), revision=None, route=(70, 30)),
        Phase.SUCCEEDED,
        (SetRoute(100, 0),),
        weight=0,
        synced=False,
    ),
    Case(
        "drift-not-repaired-without-traffic-splitting",
        status(Phase.PROGRESSING, iterations=1),
        observe(at(0.5), route=(70, 30), splitting=False),
        Phase.PROGRESSING,
        spec=make_spec({"iterations": 3}, provider="kubernetes"),
        weight=0,
    ),
    # ---------------------------------------------------------------- promotion applied, status lost
    Case(
        "promotion-already-applied-skips-failing-checks",
        status(Phase.PROGRESSING, canary_weight=50, failed_checks=4),
        observe(at(1), primary_revision=NEW, route=(50, 50), checks=(failing(),)),
        Phase.PROMOTING,
        (),
        (ALREADY_PROMOTED,),
        weight=50,
        failed_checks=4,
        condition=(U, "Promoting"),
        fields={"last_promoted_spec": STABLE, "step_started_at": stamp(1)},
    ),
    Case(
        "promotion-already-applied-before-step-is-due",
        status(Phase.PROGRESSING, canary_weight=50),
        observe(at(0.5), primary_revision=NEW),
        Phase.PROMOTING,
        (),
        (ALREADY_PROMOTED,),
        weight=50,
    ),
    Case(
        "promotion-already-applied-wins-over-target-change",
        status(Phase.PROGRESSING, canary_weight=50),
        observe(at(1), revision=NEWER, primary_revision=NEW),
        Phase.PROMOTING,
        (),
        (ALREADY_PROMOTED,),
        weight=50,
        fields={"last_applied_spec": NEW},
    ),
    Case(
        "primary-on-promoted-revision-analysis-continues",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), primary_revision=STABLE, checks=(passing(),)),
        Phase.PROGRESSING,
        (SetRoute(60, 40),),
        ("Advance podinfo.test canary weight 40",),
        weight=40,
    ),
    Case(
        "primary-revision-unknown-analysis-continues",
        status(Phase.PROGRESSING, canary_weight=50),
        observe(at(1), primary_revision=None, checks=(passing(),)),
        Phase.PROMOTING,
        (PromoteToPrimary(revision=NEW),),
        (PROMOTING,),
    ),
    # ---------------------------------------------------------------- maximum weight lowered mid-analysis
    Case(
        "max-weight-lowered-routes-down-at-once",
        status(Phase.PROGRESSING, canary_weight=50),
        observe(at(0.2), checks=(passing(),)),
        Phase.PROGRESSING,
        (SetRoute(70, 30),),
        ("Lowered podinfo.test canary weight from 50 to 30: above the analysis' maximum weight",),
        spec=make_spec({"step_weight": 10, "max_weight": 30}),
        weight=30,
        fields={"step_started_at": stamp(0), "last_transition_time": stamp(0)},
    ),
    Case(
        "step-weights-shortened-routes-down",
        status(Phase.PROGRESSING, canary_weight=25),
        observe(at(1), checks=(passing(),)),
        Phase.PROGRESSING,
        (SetRoute(90, 10),),
        ("Lowered podinfo.test canary weight from 25 to 10: above the analysis' maximum weight",),
        spec=make_spec({"step_weights": [5, 10]}),
        weight=10,
    ),
    Case(
        "weight-at-new-maximum-promotes-normally",
        status(Phase.PROGRESSING, canary_weight=30),
        observe(at(1), checks=(passing(),)),
        Phase.PROMOTING,
        (PromoteToPrimary(revision=NEW),),
        (PROMOTING,),
        spec=make_spec({"step_weight": 10, "max_weight": 30}),
    ),
    # ---------------------------------------------------------------- suspend, resume, deadlines
    Case(
        "resume-after-long-suspend-restarts-deadline",
        status(Phase.PROGRESSING, canary_weight=20, message=SUSPENDED),
        observe(at(60), target_ready=False, target_message=NOT_READY),
        Phase.PROGRESSING,
        (),
        (f"Halt advancement canary deployment podinfo.test not ready: {NOT_READY}",),
        weight=20,
        fields={"last_transition_time": stamp(60), "step_started_at": stamp(60)},
    ),
    Case(
        "resume-takes-due-step-at-once",
        status(Phase.PROGRESSING, canary_weight=20, message=SUSPENDED),
        observe(at(60), checks=(passing(),)),
        Phase.PROGRESSING,
        (SetRoute(60, 40),),
        ("Advance podinfo.test canary weight 40",),
        weight=40,
    ),
    Case(
        "resume-before-step-due-says-so",
        status(Phase.PROGRESSING, canary_weight=20, message=SUSPENDED),
        observe(at(0.5)),
        Phase.PROGRESSING,
        weight=20,
        fields={"message": "resumed after suspension", "last_transition_time": stamp(0.5)},
    ),
    Case(
        "primary-not-ready-past-deadline-rolls-back",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(2), primary_ready=False, primary_message="1 old replicas are pending termination"),
        Phase.FAILED,
        (SetRoute(100, 0), ScaleTarget(to_zero=True)),
        (
            "Rolling back podinfo.test: Primary podinfo-primary.test is not ready after 60s "
            "(1 old replicas are pending termination)",
            CANARY_FAILED,
        ),
        spec=make_spec(progress_deadline_seconds=60),
        weight=0,
        condition=(F, "Failed"),
    ),
    Case(
        "primary-not-ready-within-deadline-halts",
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), primary_ready=False, primary_message="1 old replicas are pending termination"),
        Phase.PROGRESSING,
        (),
        ("Halt advancement podinfo-primary.test not ready: 1 old replicas are pending termination",),
        spec=make_spec(progress_deadline_seconds=120),
        weight=20,
    ),
    # ---------------------------------------------------------------- routers that cannot split traffic
    Case(
        "no-traffic-split-refuses-weight-analysis",
        status(Phase.SUCCEEDED, last_applied_spec=STABLE),
        observe(at(5), splitting=False),
        Phase.SUCCEEDED,
        (),
        (NO_SPLIT,),
        spec=KUBERNETES,
        weight=0,
        fields={"message": NO_SPLIT, "last_applied_spec": STABLE},
    ),
    Case(
        "no-traffic-split-warns-once",
        status(Phase.SUCCEEDED, last_applied_spec=STABLE, message=NO_SPLIT),
        observe(at(6), splitting=False),
        Phase.SUCCEEDED,
        spec=KUBERNETES,
        fields={"last_applied_spec": STABLE},
    ),
    Case(
        "no-traffic-split-mid-analysis-holds",
        status(Phase.PROGRESSING, canary_weight=0),
        observe(at(1), splitting=False),
        Phase.PROGRESSING,
        (),
        (NO_SPLIT,),
        spec=KUBERNETES,
        weight=0,
        fields={"message": NO_SPLIT, "step_started_at": stamp(1), "last_transition_time": stamp(0)},
    ),
    Case(
        "no-traffic-split-iterations-start",
        status(Phase.SUCCEEDED, last_applied_spec=STABLE),
        observe(at(5), splitting=False),
        Phase.PROGRESSING,
        (ScaleTarget(to_zero=False),),
        ("New revision detected! Scaling up podinfo.test",),
        spec=make_spec({"iterations": 3}, provider="kubernetes"),
    ),
    Case(
        "no-traffic-split-iterations-advance",
        status(Phase.PROGRESSING, iterations=1),
        observe(at(1), splitting=False, checks=(passing(),)),
        Phase.PROGRESSING,
        (),
        ("Advance podinfo.test canary iteration 2/3",),
        spec=make_spec({"iterations": 3}, provider="kubernetes"),
        fields={"iterations": 2},
    ),
    Case(
        "no-traffic-split-skip-analysis-scales-up",
        status(Phase.SUCCEEDED, last_applied_spec=STABLE),
        observe(at(5), splitting=False),
        Phase.PROGRESSING,
        (ScaleTarget(to_zero=False),),
        ("New revision detected! Scaling up podinfo.test",),
        spec=make_spec(provider="kubernetes", skip_analysis=True),
    ),
    # ---------------------------------------------------------------- routing objects
    Case(
        "terminated-does-not-sync-routing",
        status(Phase.TERMINATED),
        observe(at(1), route=(70, 30)),
        Phase.TERMINATED,
        synced=False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transition(case: Case) -> None:
    decision = decide(case.spec, case.status, case.obs)
    got = decision.status

    assert got.phase == case.phase
    expected = ((SyncRouting(),) if case.synced else ()) + case.actions
    assert tuple(a for a in decision.actions if not isinstance(a, EmitEvent)) == expected
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
        Verdict.SUCCESSFUL,
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
    assert back.actions == (SyncRouting(),)
    again = decide(SPEC, back.status, observe(at(4), revision=None))
    assert [e.message for e in again.events] == ["deployment podinfo not found"]


def test_target_back_after_deletion_mid_analysis_needs_a_new_revision() -> None:
    """The aborted revision is not resumed; its reappearance is not a new revision either."""
    missing = decide(SPEC, status(Phase.PROGRESSING, canary_weight=20), observe(at(1), revision=None)).status
    assert (missing.phase, missing.canary_weight) == (Phase.FAILED, 0)
    back = decide(SPEC, missing, observe(at(1.5)))
    assert back.status.phase is Phase.FAILED
    assert not back.routes and not any(isinstance(a, PromoteToPrimary) for a in back.actions)
    newer = decide(SPEC, back.status, observe(at(2), revision=NEWER))
    assert newer.status.phase is Phase.PROGRESSING


def test_unsupported_flagger_fields_are_named_in_a_condition() -> None:
    """A Flagger field we accept but ignore is surfaced to the user, and the flag clears when removed."""
    spec = make_spec(analysis={"stepWeight": 10, "maxWeight": 50, "mirror": True})
    decision = decide(spec, status(Phase.SUCCEEDED), observe(at(1), revision=STABLE))
    flagged = decision.status.condition("UnsupportedFields")
    assert flagged is not None and flagged.status == ConditionStatus.TRUE
    assert flagged.message is not None and "spec.analysis.mirror" in flagged.message
    cleared = decide(make_spec(), decision.status, observe(at(2), revision=STABLE))
    assert cleared.status.condition("UnsupportedFields") is None


UNREFERENCED_HPA = (
    "HorizontalPodAutoscaler podinfo scales deployment podinfo but spec.autoscalerRef does not name it: "
    "the primary will not autoscale; set spec.autoscalerRef"
)


@dataclass(frozen=True)
class AutoscalerTick:
    id: str
    autoscalers: tuple[str, ...]
    condition: str | None
    """The AutoscalerNotReferenced condition's message after the tick (None: no condition)."""
    warnings: tuple[str, ...] = ()


#: Consecutive ticks of an idle Canary whose target is (or stops being) scaled by an unreferenced HPA.
AUTOSCALER_TICKS = (
    AutoscalerTick("appears", ("podinfo",), UNREFERENCED_HPA, warnings=(UNREFERENCED_HPA,)),
    AutoscalerTick("persists", ("podinfo",), UNREFERENCED_HPA),
    AutoscalerTick("gone", (), None),
    AutoscalerTick("reappears", ("podinfo",), UNREFERENCED_HPA, warnings=(UNREFERENCED_HPA,)),
    AutoscalerTick(
        "another-hpa-joins",
        ("podinfo", "podinfo-burst"),
        "HorizontalPodAutoscalers podinfo, podinfo-burst scale deployment podinfo but spec.autoscalerRef "
        "does not name them: the primary will not autoscale; set spec.autoscalerRef",
    ),
)


def test_unreferenced_autoscaler_is_flagged_and_warned_once() -> None:
    """An HPA the Canary does not reference: a True condition, one Warning when it appears, gone with the HPA."""
    current = status(Phase.SUCCEEDED)
    for minute, tick in enumerate(AUTOSCALER_TICKS, start=1):
        decision = decide(SPEC, current, observe(at(minute), revision=STABLE, autoscalers=tick.autoscalers))
        flagged = decision.status.condition("AutoscalerNotReferenced")
        if tick.condition is None:
            assert flagged is None, tick.id
        else:
            assert flagged is not None, tick.id
            assert (flagged.status, flagged.reason, flagged.message) == (
                T,
                "AutoscalerNotReferenced",
                tick.condition,
            ), tick.id
        assert decision.events == tuple(
            EmitEvent("Warning", "AutoscalerNotReferenced", text) for text in tick.warnings
        ), tick.id
        if tick.id == "persists":
            assert decision.status == current, "an unchanged condition needs no status write"
        assert decision.status.phase is Phase.SUCCEEDED, tick.id
        current = decision.status


def test_unreferenced_autoscaler_does_not_block_the_rollout() -> None:
    decision = decide(
        SPEC,
        status(Phase.PROGRESSING, canary_weight=20),
        observe(at(1), checks=(passing(),), autoscalers=("podinfo",)),
    )
    assert decision.status.canary_weight == 40
    assert [e.reason for e in decision.events] == ["Advanced", "AutoscalerNotReferenced"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_promotion_only_with_the_change_to_promoting(case: Case) -> None:
    """PromoteToPrimary is emitted once, in the decision that moves the Canary to Promoting."""
    decision = decide(case.spec, case.status, case.obs)
    promotions = [a for a in decision.actions if isinstance(a, PromoteToPrimary)]
    if promotions:
        assert len(promotions) == 1
        assert decision.status.phase is Phase.PROMOTING
        assert case.status is not None and case.status.phase is not Phase.PROMOTING


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sync_routing_comes_first_or_not_at_all(case: Case) -> None:
    decision = decide(case.spec, case.status, case.obs)
    syncs = [i for i, a in enumerate(decision.actions) if isinstance(a, SyncRouting)]
    assert syncs == ([0] if case.synced else [])
