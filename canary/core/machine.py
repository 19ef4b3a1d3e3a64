"""The canary state machine: ``decide(spec, status, observation) -> Decision``.

A pure function of its inputs (no I/O, no clock: time comes only from ``obs.now``) that takes
at most one analysis step per call and returns the next status plus the actions the operator
must perform, in order, before writing that status once. Semantics follow Flagger's scheduler
(``pkg/controller/scheduler.go``); where this module deliberately differs it says so:

* Pacing lives in ``status.stepStartedAt``: an analysis step is taken only when one interval
  has passed since the previous step began, so a restarted operator neither repeats nor skips
  a step. Every step taken (advance, halt on failed checks, halt on readiness) restarts the
  interval, so failed checks are counted at most once per interval.
* ``status.lastTransitionTime`` moves on phase changes and on progress (weight or iteration
  advanced); the progress deadline is measured from it, so a canary that stops making progress
  for ``progressDeadlineSeconds`` is rolled back even while halts keep re-pacing the steps.
* The rollback happens on the step whose failed check reaches ``threshold`` (Flagger notices
  one interval later); the number of failures tolerated is the same.
* ``failedChecks`` is kept on Failed so users can see why it failed; it resets on a new
  revision (Flagger zeroes it on rollback too).
* A step never overshoots ``maxWeight`` (see :mod:`canary.core.weights`).
* A target change during Promoting/Finalising does not restart anything: the promotion in
  flight finishes and the change is picked up as a new revision afterwards (as in Flagger).
  Any change while Progressing restarts the analysis, even a revert to the promoted template.
* Events are emitted on transitions and when a halt reason changes, not on every tick.

Self-healing after a lost status write (actions run before the single status write, so a
failed write or a dead operator leaves the world ahead of the status):

* Every decision once initialized (not suspended, target present) starts with
  :class:`SyncRouting`, so routing objects follow the spec and are recreated when deleted.
* Route drift: when ``obs.route_weights`` differs from the split ``status.canaryWeight`` records,
  a :class:`SetRoute` back to the status's split comes first in the tick (in every phase but
  Initializing, which routes 100/0 itself). A Warning is emitted only for real drift, i.e. not
  when the rest of the decision routes to exactly the observed split (our own earlier action
  whose status write was lost).
* Lost promotion: while analysing, a primary that already runs ``lastAppliedSpec`` (per
  ``obs.primary_revision``) means :class:`PromoteToPrimary` was applied; the canary goes straight
  to Promoting (no checks, no rollback onto the new template). :class:`PromoteToPrimary` is only
  ever emitted together with the change to Promoting.

Webhooks (:mod:`canary.core.hooks`): a decision that depends on a hook's answer raises
:class:`~canary.core.hooks.NeedAnswers` inside, and :func:`decide` returns a :class:`Decision`
that only ``asks`` for that hook type; the operator calls the hooks and decides again. Closed
gates hold (``Waiting``, the current weight, ``WaitingPromotion``) with ``status.gate`` recording
since when, so ``maxWait`` is measured from the status alone; failing tests count failed checks.

Other rules: a canary above the analysis' maximum weight (``maxWeight``/``stepWeights`` lowered
mid-analysis) is routed down to it at once; resuming after ``suspend`` restarts the deadline
clock; a primary that is not ready during analysis is subject to the progress deadline like the
canary; a router that cannot split traffic (``obs.traffic_splitting`` False) refuses
weight-based analysis and leaves the phase as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from canary.api.duration import format_duration
from canary.api.models import (
    CONDITION_AUTOSCALER_NOT_REFERENCED,
    CONDITION_METRIC_PROVIDER_WARNING,
    CONDITION_PRIMARY_MISSING,
    CONDITION_PROGRESSING,
    CONDITION_PROMOTED,
    CONDITION_TARGET_CONFLICT,
    CONDITION_TRAFFIC_REDIRECTED,
    CONDITION_UNSUPPORTED,
    REQUEST_ABORT,
    REQUEST_PROMOTE,
    REQUEST_RETRY,
    AlertSeverity,
    CanaryMetric,
    CanarySpec,
    CanaryStatus,
    CheckResult,
    ConditionStatus,
    GateWait,
    JudgeStatus,
    Phase,
    RevisionOutcome,
    WebhookType,
    parse_time,
    unsupported_fields,
)
from canary.core import sequential as judging
from canary.core import slo as slo_checks
from canary.core.actions import (
    Action,
    CallWebhooks,
    EmitEvent,
    Finalize,
    InitializePrimary,
    PromoteToPrimary,
    RestorePrimary,
    ScaleTarget,
    SetRoute,
    SyncRouting,
)
from canary.core.checks import JudgmentKind, check_message, classify_measurement, halt_message, judge
from canary.core.conditions import format_timestamp, progressing_condition, promoted_condition, set_condition
from canary.core.hooks import HookOutcome, NeedAnswers, answers, hooks_of
from canary.core.observations import CanaryRef, CheckOutcome, Measurement, Observation, WindowSamples
from canary.core.weights import TOTAL_WEIGHT, is_final_weight, max_weight, next_promotion_weight, next_weight
from canary.core.windows import (
    MeasurementPlan,
    check_window,
    judge_interval_seconds,
    judge_window,
    slo_windows,
)

__all__ = [
    "ANALYSING_PHASES",
    "IDLE_PHASES",
    "MIN_TICK_SECONDS",
    "Decision",
    "MeasurementPlan",
    "checks_due",
    "classify_checks",
    "decide",
    "finalize",
    "measurement_plan",
    "next_tick_in",
]

#: Phases in which analysis steps are taken and a target change restarts the analysis.
ANALYSING_PHASES: frozenset[Phase] = frozenset({Phase.PROGRESSING, Phase.WAITING, Phase.WAITING_PROMOTION})
#: Phases in which nothing is in flight and only a new revision starts work.
IDLE_PHASES: frozenset[Phase] = frozenset({Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED})
#: Phases that are paced by the analysis interval.
PACED_PHASES: frozenset[Phase] = ANALYSING_PHASES | {Phase.PROMOTING, Phase.FINALISING}
#: Never ask to be woken sooner than this, so a tick that cannot act does not busy-loop.
MIN_TICK_SECONDS = 1.0
#: While initializing, poll at least this often for the primary to become ready.
INITIALIZING_POLL_SECONDS = 10.0

SUSPENDED_MESSAGE = "skipping canary run as object is suspended"


@dataclass(frozen=True)
class Decision:
    """The next status and the actions to perform, in order, before writing it.

    A decision with ``asks`` is not one yet: the core needs the answers of those webhook types
    (see :mod:`canary.core.hooks`); the operator calls them and decides again. Its status is the
    old one and it has no actions.
    """

    status: CanaryStatus
    actions: tuple[Action, ...] = ()
    asks: frozenset[WebhookType] = frozenset()

    @property
    def events(self) -> tuple[EmitEvent, ...]:
        """The events among the actions, for tests and logs."""
        return tuple(a for a in self.actions if isinstance(a, EmitEvent))

    @property
    def routes(self) -> tuple[SetRoute, ...]:
        """The route changes among the actions."""
        return tuple(a for a in self.actions if isinstance(a, SetRoute))


@dataclass
class _Draft:
    """Accumulates one decision: status field updates, actions, and the summary message."""

    spec: CanarySpec
    before: CanaryStatus
    obs: Observation
    updates: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    #: Index of the route-repair SetRoute in ``actions`` and the drifted split it replaced.
    repair_at: int | None = None
    drifted: tuple[int, int] | None = None
    #: Why the route carries a safe split instead of the status's (see the routing invariant).
    redirect: str | None = None
    #: A closed gate holds the release this tick (``status.gate`` is kept, else cleared on a phase change).
    gate_held: bool = False

    # -- reading the status as it will be after the updates so far
    def get(self, name: str) -> Any:
        """A status field's value including pending updates."""
        return self.updates[name] if name in self.updates else getattr(self.before, name)

    @property
    def ref(self) -> CanaryRef:
        return self.obs.canary

    @property
    def stamp(self) -> str:
        return format_timestamp(self.obs.now)

    @property
    def target(self) -> str:
        """``podinfo.test``: the target Deployment, as Flagger words its events."""
        return f"{self.spec.target_ref.name}.{self.ref.namespace}"

    @property
    def primary(self) -> str:
        return f"{self.spec.target_ref.name}-primary.{self.ref.namespace}"

    @property
    def canary(self) -> str:
        """``podinfo.test``: the Canary object itself."""
        return f"{self.ref.name}.{self.ref.namespace}"

    @property
    def hands_off(self) -> bool:
        """Suspended, standing aside for another Canary, or being deleted: touch nothing."""
        return (
            self.spec.suspend
            or self.obs.owner is not None
            or self.before.phase in (Phase.TERMINATING, Phase.TERMINATED)
        )

    # -- building
    def act(self, *actions: Action) -> None:
        self.actions.extend(actions)

    def event(
        self, message: str, *, reason: str, warning: bool = False, alert: AlertSeverity | None = None
    ) -> None:
        self.actions.append(EmitEvent("Warning" if warning else "Normal", reason, message, alert))

    def set(self, **fields: Any) -> None:
        self.updates.update(fields)

    def route(self, canary_weight: int) -> None:
        """Route ``canary_weight`` to the canary and the rest to the primary; record it."""
        self.act(SetRoute(TOTAL_WEIGHT - canary_weight, canary_weight))
        self.set(canary_weight=canary_weight)

    def repair_route(self, observed: tuple[int, int], canary_weight: int) -> None:
        """Re-send the split the status records; :meth:`finish` decides whether to warn."""
        self.repair_at = len(self.actions)
        self.drifted = observed
        self.act(SetRoute(TOTAL_WEIGHT - canary_weight, canary_weight))

    def enter(self, phase: Phase, *, message: str | None = None) -> None:
        """Move to ``phase``: new transition time, new step, Promoted condition to match."""
        status, default_message = promoted_condition(phase, self.spec.target_ref.kind)
        conditions = set_condition(
            self.get("conditions"),
            CONDITION_PROMOTED,
            status,
            phase.value,
            message or default_message,
            self.obs.now,
        )
        progressing, progressing_message = progressing_condition(phase)
        conditions = set_condition(
            conditions, CONDITION_PROGRESSING, progressing, phase.value, progressing_message, self.obs.now
        )
        self.set(
            phase=phase,
            last_transition_time=self.stamp,
            step_started_at=self.stamp,
            conditions=conditions,
        )

    def outcome(self, message: str | None = None) -> RevisionOutcome:
        """The record of how the revision under analysis ended, stamped now."""
        revision = self.get("revision")
        return RevisionOutcome(
            hash=self.get("last_applied_spec") or (revision.hash if revision else ""),
            image=revision.image if revision is not None else None,
            time=self.stamp,
            message=message,
        )

    def progressed(self) -> None:
        """A step moved the rollout forward: restart the interval and the deadline clock."""
        self.set(step_started_at=self.stamp, last_transition_time=self.stamp)

    def paced(self) -> None:
        """A step was taken without progress: wait one interval before the next one."""
        self.set(step_started_at=self.stamp)

    def release_gate(self) -> None:
        """Every gate asked here answered 2xx: forget the one that held the release."""
        if self.get("gate") is not None:
            self.set(gate=None)

    def finish(self, message: str | None = None) -> Decision:
        if message is not None:
            self.set(message=message)
        if not self.gate_held and self.get("phase") != self.before.phase:
            self.release_gate()
        self._flag_unsupported_fields()
        self._flag_unreferenced_autoscalers()
        self._flag_target_conflict()
        self._flag_missing_primary()
        self._flag_metric_provider_warnings()
        self._keep_traffic_on_serving_workloads()
        self._word_route_repair()
        self._flag_traffic_redirect()
        # Recreating the primary can fail (no template of the promoted revision left): what
        # protects traffic runs first, so such a failure never leaves the route unprotected.
        restores = [a for a in self.actions if isinstance(a, RestorePrimary)]
        self.actions = [a for a in self.actions if not isinstance(a, RestorePrimary)] + restores
        status = self.before.model_copy(deep=True, update=self.updates)
        return Decision(status=status, actions=tuple(self.actions))

    def _keep_traffic_on_serving_workloads(self) -> None:
        """The routing invariant, applied last to whatever the phase logic decided.

        Traffic never goes to a workload with no available replica while the other one has
        some, and the only serving copy is never scaled to zero: a deleted or crashed primary
        or canary must not turn a decision (a rollback, a drift repair) into an outage. The
        status keeps the split the analysis wants; the route carries the safe one until both
        workloads serve again, when the next route repair restores it. Bootstrap is exempt (it
        creates the primary and routes to it before it can be ready, as Flagger does), and so
        is a Canary told to keep its hands off (suspended, standing aside, being deleted).
        """
        if self.before.phase in (None, Phase.INITIALIZING) or self.hands_off:
            return
        primary_ok, canary_ok = self.obs.primary.serving, self.obs.target.serving
        if primary_ok == canary_ok:
            return  # both serve (nothing to correct) or neither does (nothing better exists)
        safe = SetRoute(0, TOTAL_WEIGHT) if canary_ok else SetRoute(TOTAL_WEIGHT, 0)
        observed = self.obs.route_weights
        before_actions = tuple(self.actions)
        if observed is not None and not any(isinstance(a, SetRoute) for a in self.actions):
            # Nothing was going to touch the route; it must still not point at a dead workload.
            self.actions.append(SetRoute(observed[0], observed[1]))
        safe_actions: list[Action] = []
        for index, action in enumerate(self.actions):
            if isinstance(action, ScaleTarget) and action.to_zero and canary_ok:
                continue  # the canary is the only copy serving: keep it up
            if isinstance(action, SetRoute):
                if index == self.repair_at:
                    self.repair_at = len(safe_actions)
                if action != safe:
                    serving, absent = (
                        (self.target, self.primary) if canary_ok else (self.primary, self.target)
                    )
                    self.redirect = f"all traffic routed to {serving}: {absent} has no available replicas"
                    safe_actions.append(safe)
                    if observed != (safe.primary_weight, safe.canary_weight):
                        safe_actions.append(
                            EmitEvent(
                                "Warning",
                                "TrafficRedirected",
                                f"Routing all traffic of {self.canary} to {serving}: "
                                f"{absent} has no available replicas",
                            )
                        )
                    continue
                if observed == (action.primary_weight, action.canary_weight) and index >= len(before_actions):
                    continue  # the observed route was already safe: no write needed
            safe_actions.append(action)
        self.actions = safe_actions

    def _word_route_repair(self) -> None:
        """Warn about a route repair unless this decision routes to the drifted split anyway.

        That split is then our own earlier action whose status write was lost, not drift.
        """
        if self.repair_at is None or self.drifted is None:
            return
        repair = self.actions[self.repair_at]
        assert isinstance(repair, SetRoute)
        if (repair.primary_weight, repair.canary_weight) == self.drifted:
            return  # the safe split of a workload without replicas, re-sent: not drift
        later = [a for a in self.actions[self.repair_at + 1 :] if isinstance(a, SetRoute)]
        if later and (later[-1].primary_weight, later[-1].canary_weight) == self.drifted:
            return
        was = f"{self.drifted[0]}/{self.drifted[1]}"
        now = f"{repair.primary_weight}/{repair.canary_weight}"
        if self.before.condition(CONDITION_TRAFFIC_REDIRECTED) is not None and self.redirect is None:
            # Our own redirect ends: both workloads serve again. Not somebody's edit.
            restored = EmitEvent(
                "Normal",
                "TrafficRestored",
                f"Route of {self.canary} restored to {now}: both workloads serve again",
            )
            self.actions.insert(self.repair_at + 1, restored)
            self.repair_at = None
            return
        warning = EmitEvent("Warning", "RouteDrift", f"Route of {self.canary} was {was}, restored to {now}")
        self.actions.insert(self.repair_at + 1, warning)
        self.repair_at = None

    def _flag_unsupported_fields(self) -> None:
        """Flagger fields we accept but do not implement yet are named in a condition, not ignored silently."""
        ignored = unsupported_fields(self.spec)
        message = "accepted for Flagger compatibility but not implemented yet: " + ", ".join(ignored)
        self._flag(CONDITION_UNSUPPORTED, "FieldsIgnored", message if ignored else None)

    def _flag_unreferenced_autoscalers(self) -> None:
        """An HPA scaling the target without ``spec.autoscalerRef``: the primary would not autoscale.

        Flagger requires autoscalerRef here; we warn (a condition, and one Warning event when it
        appears) but let the rollout go on.
        """
        names = self.obs.unreferenced_autoscalers
        message = None
        if names:
            kind, verb, pronoun = (
                ("HorizontalPodAutoscaler", "scales", "it")
                if len(names) == 1
                else ("HorizontalPodAutoscalers", "scale", "them")
            )
            message = (
                f"{kind} {', '.join(names)} {verb} deployment {self.spec.target_ref.name} but "
                f"spec.autoscalerRef does not name {pronoun}: the primary will not autoscale; "
                "set spec.autoscalerRef"
            )
        appeared = self._flag(CONDITION_AUTOSCALER_NOT_REFERENCED, "AutoscalerNotReferenced", message)
        if appeared and message is not None:
            self.event(message, reason="AutoscalerNotReferenced", warning=True)

    def _flag_traffic_redirect(self) -> None:
        """While the route carries a safe split instead of the analysis' one, a condition says why."""
        if self.hands_off:
            return
        self._flag(CONDITION_TRAFFIC_REDIRECTED, "WorkloadWithoutReplicas", self.redirect)

    def _flag_target_conflict(self) -> None:
        """Another Canary owns the target: say which, once, and keep saying it in a condition."""
        message = None
        if self.obs.owner is not None:
            message = (
                f"{str(self.spec.target_ref.kind).lower()} {self.spec.target_ref.name} is already managed by "
                f"canary {self.obs.owner}; this Canary changes nothing while that one exists"
            )
        if self._flag(CONDITION_TARGET_CONFLICT, "TargetManagedByAnotherCanary", message) and message:
            self.event(message, reason="TargetConflict", warning=True)

    def _flag_missing_primary(self) -> None:
        """``<target>-primary`` is gone after bootstrap: a condition and one Warning while it is."""
        message = None
        if (
            self.before.phase not in (None, Phase.INITIALIZING)
            and not self.obs.primary.exists
            and not self.hands_off
        ):
            if any(isinstance(a, RestorePrimary) for a in self.actions):
                message = f"{self.primary} was deleted; recreating it from the promoted revision"
            else:
                message = f"{self.primary} was deleted"
        if self._flag(CONDITION_PRIMARY_MISSING, "PrimaryDeleted", message) and message:
            self.event(message, reason="PrimaryMissing", warning=True)

    def _flag_metric_provider_warnings(self) -> None:
        """Unsafe use of a metric provider (credentials over plain http), refreshed when measured."""
        if self.obs.checks is None:
            return
        warnings = sorted({m.warning for m in self.obs.checks if m.warning})
        message = "; ".join(warnings) if warnings else None
        if self._flag(CONDITION_METRIC_PROVIDER_WARNING, "InsecureMetricProvider", message) and message:
            self.event(message, reason="MetricProviderWarning", warning=True)

    def _flag(self, type_: str, reason: str, message: str | None) -> bool:
        """Keep a True condition ``type_`` saying ``message``, or remove it when ``message`` is None.

        Returns True when the condition was set and was not there before (it just appeared).
        """
        conditions = self.get("conditions")
        present = any(c.type == type_ for c in conditions)
        if message is None:
            if present:
                self.set(conditions=[c for c in conditions if c.type != type_])
            return False
        updated = set_condition(conditions, type_, ConditionStatus.TRUE, reason, message, self.obs.now)
        if updated != conditions:
            self.set(conditions=updated)
        return not present


# --------------------------------------------------------------------------- public API


def decide(spec: CanarySpec, status: CanaryStatus | None, obs: Observation) -> Decision:
    """Decide one tick: the next status and the ordered actions that get there.

    Deterministic and side-effect free; ``status`` is never mutated (None means a new Canary).
    """
    draft = _Draft(spec=spec, before=status if status is not None else CanaryStatus(), obs=obs)
    try:
        return _decide(draft)
    except NeedAnswers as need:
        return Decision(status=draft.before.model_copy(deep=True), asks=frozenset({need.type}))


def _decide(draft: _Draft) -> Decision:
    spec, obs = draft.spec, draft.obs
    phase = draft.before.phase

    if spec.suspend:
        return _suspended(draft)
    if phase in (Phase.TERMINATING, Phase.TERMINATED):
        return draft.finish()
    if obs.owner is not None:
        return _stand_aside(draft, obs.owner)
    if obs.target_revision is None or not obs.target.exists:
        return _target_missing(draft)
    _clear_target_missing_note(draft)
    if phase is None or phase is Phase.INITIALIZING:
        return _initialize(draft)
    draft.act(SyncRouting())
    _repair_route(draft)
    _restore_missing_primary(draft)
    if draft.before.message == SUSPENDED_MESSAGE:
        _resume(draft)
    if phase in IDLE_PHASES:
        if phase is Phase.FAILED and _requested(draft, REQUEST_RETRY):
            return _retry(draft)
        return _detect_new_revision(draft)
    if phase is Phase.WAITING:
        return _await_rollout_approval(draft)
    if phase in ANALYSING_PHASES:
        if _promotion_already_applied(draft):
            return _resume_promotion(draft)
        if obs.target_revision.hash != draft.before.last_applied_spec:
            return _restart_analysis(draft)
        if _requested(draft, REQUEST_ABORT):
            return _abort(draft)
        signalled = _rollback_signalled(draft)
        if signalled is not None:
            return signalled
        if _requested(draft, REQUEST_PROMOTE) and obs.target.ready and obs.primary.serving:
            _handled(draft, REQUEST_PROMOTE)
            draft.event(
                f"Promoting {draft.target} on request, skipping the remaining analysis", reason="Promoting"
            )
            draft.act(SetRoute(TOTAL_WEIGHT, 0))
            draft.set(canary_weight=0)
            return _start_promotion(draft)
        return _analyse(draft)
    if phase is Phase.PROMOTING:
        return _promote_traffic(draft)
    if phase is Phase.FINALISING:
        return _finalise(draft)
    return draft.finish()


def finalize(spec: CanarySpec, status: CanaryStatus | None, *, now: datetime, canary: CanaryRef) -> Decision:
    """Decide what happens when the Canary is deleted (``revertOnDeletion``).

    The status goes straight to Terminated: actions run before the status is written, so if
    :class:`Finalize` fails the old status stays and the deletion handler retries.
    """
    before = status if status is not None else CanaryStatus()
    if before.phase is Phase.TERMINATED:
        return Decision(status=before.model_copy(deep=True))
    actions: list[Action] = []
    stamp = format_timestamp(now)
    target = f"{spec.target_ref.name}.{canary.namespace}"
    if spec.revert_on_deletion:
        actions.append(Finalize(revert=True))
        actions.append(
            EmitEvent(
                "Normal", "Terminated", f"Reverting {target}: restored from {spec.target_ref.name}-primary"
            )
        )
        message = f"{target} restored from its primary; canary removed"
    else:
        # The generated objects are garbage-collected; the target is parked so that a revision
        # that never passed (mid-analysis, or a failed one) is not left serving.
        actions.append(Finalize(revert=False))
        actions.append(
            EmitEvent(
                "Normal", "Terminated", f"Canary deleted: {target} scaled to zero (revertOnDeletion is false)"
            )
        )
        message = f"canary removed; {target} scaled to zero (revertOnDeletion is false)"
    updated = before.model_copy(
        deep=True,
        update={"phase": Phase.TERMINATED, "last_transition_time": stamp, "message": message},
    )
    return Decision(status=updated, actions=tuple(actions))


def checks_due(spec: CanarySpec, status: CanaryStatus | None, now: datetime) -> bool:
    """Whether the operator should query metrics this tick (decide will judge them).

    False whenever decide would not look at ``obs.checks``, so quiet ticks stay cheap.
    Readiness is not known here; measuring a canary that turns out not ready is harmless.
    """
    if status is None or status.phase not in ANALYSING_PHASES or spec.suspend or spec.skip_analysis:
        return False
    if status.failed_checks >= spec.analysis.threshold:
        return False
    if status.canary_weight == 0 and status.iterations == 0:
        return False  # first step: nothing has been routed to the canary yet
    return _analysis_due(spec, status, now)


def measurement_plan(spec: CanarySpec, status: CanaryStatus | None, now: datetime) -> MeasurementPlan:
    """What the edge must measure this tick for :func:`decide` (see :mod:`canary.core.windows`).

    Metric checks with their windows when a step is due; raw revision counts for the checks
    with ``minSamples``, the SLO's burn-rate windows and the judge's next window.
    """
    if status is None:
        return MeasurementPlan()
    step = checks_due(spec, status, now)
    samples: set[int] = set()
    checks: dict[str, int] | None = None
    if step:
        checks = {}
        for metric in spec.analysis.metrics or []:
            window = check_window(metric, status, now)
            checks.setdefault(metric.name, window)
            if metric.min_samples is not None:
                samples.add(window)
        for short, long in slo_windows(spec, status, now):
            samples.update((short, long))
    judged = judge_window(spec, status, now, step_tick=step)
    if judged is not None:
        samples.add(judged)
    return MeasurementPlan(checks=checks, samples=tuple(sorted(samples)))


def next_tick_in(spec: CanarySpec, status: CanaryStatus | None, now: datetime) -> float:
    """Seconds until the operator should call :func:`decide` again for this Canary."""
    interval = spec.analysis_interval_seconds
    if status is None or status.phase is None:
        return 0.0
    if spec.suspend or status.phase in IDLE_PHASES or status.phase is Phase.TERMINATED:
        return max(interval, MIN_TICK_SECONDS)
    if status.phase is Phase.INITIALIZING:
        return max(min(interval, INITIALIZING_POLL_SECONDS), MIN_TICK_SECONDS)
    if status.step_started_at is None:
        return MIN_TICK_SECONDS
    elapsed = (now - parse_time(status.step_started_at)).total_seconds()
    wait = interval - elapsed
    judging_traffic = status.canary_weight > 0 or status.iterations > 0
    if spec.analysis.judge is not None and status.phase in ANALYSING_PHASES and judging_traffic:
        if _judge_cleared_step(spec, status):
            return MIN_TICK_SECONDS
        looked = status.judge.looked_at or status.judge.observed_until if status.judge is not None else None
        since_look = (now - parse_time(looked or status.step_started_at)).total_seconds()
        wait = min(wait, judge_interval_seconds(spec) - since_look)
    return max(wait, MIN_TICK_SECONDS)


# --------------------------------------------------------------------------- phases


def _step_due(spec: CanarySpec, status: CanaryStatus, now: datetime) -> bool:
    """One interval has passed since the current step began (or no step began yet)."""
    if status.step_started_at is None:
        return True
    return now - parse_time(status.step_started_at) >= spec.analysis_interval


def _judge_cleared_step(spec: CanarySpec, status: CanaryStatus) -> bool:
    """The judge showed, within the current step, that the canary is not worse (``earlyAdvance``)."""
    judge_spec, state = spec.analysis.judge, status.judge
    return (
        judge_spec is not None
        and judge_spec.early_advance
        and state is not None
        and state.verdict == judging.JudgeVerdict.NO_REGRESSION.value
        and state.step_started_at == status.step_started_at
        and (status.canary_weight > 0 or status.iterations > 0)
    )


def _analysis_due(spec: CanarySpec, status: CanaryStatus, now: datetime) -> bool:
    """An analysis step is due: its interval has passed, or the judge cleared it early."""
    return _step_due(spec, status, now) or _judge_cleared_step(spec, status)


def _stalled_for(draft: _Draft) -> timedelta:
    """Time since the rollout last made progress (phase change or step forward)."""
    since = draft.get("last_transition_time") or draft.get("step_started_at")
    if since is None:
        return timedelta(0)
    return draft.obs.now - parse_time(since)


def _past_deadline(draft: _Draft) -> bool:
    return _stalled_for(draft) > draft.spec.progress_deadline


def _warn_once(draft: _Draft, message: str, *, reason: str, alert: AlertSeverity | None = None) -> None:
    """Emit a Warning only when the message differs from the last decision's summary."""
    if draft.before.message != message:
        draft.event(message, reason=reason, warning=True, alert=alert)


def _repair_route(draft: _Draft) -> None:
    """Route drift (a lost status write, or someone edited the route): restore the status's split."""
    observed = draft.obs.route_weights
    if observed is None or not draft.obs.traffic_splitting:
        return
    weight = draft.before.canary_weight
    if tuple(observed) != (TOTAL_WEIGHT - weight, weight):
        draft.repair_route((observed[0], observed[1]), weight)


def _resume(draft: _Draft) -> None:
    """Unsuspended: time spent suspended must not count toward the progress deadline.

    Only the deadline clock restarts (not the step interval), so a step that was due when the
    Canary was suspended is taken right away.
    """
    if draft.before.phase in PACED_PHASES:
        draft.set(last_transition_time=draft.stamp)
    draft.set(message="resumed after suspension")


def _refusal(draft: _Draft) -> tuple[str, str] | None:
    """Why this analysis may not start or go on here (message, event reason), or None."""
    unsplittable = _unsplittable(draft)
    if unsplittable is not None:
        return unsplittable, "TrafficSplitUnsupported"
    return None


def _unsplittable(draft: _Draft) -> str | None:
    """Why a weight-based analysis cannot run on this router, or None when it can."""
    spec = draft.spec
    if draft.obs.traffic_splitting or spec.analysis.is_iteration_based or spec.skip_analysis:
        return None
    name = str(spec.provider) if spec.provider is not None else "(operator default)"
    return (
        f"provider {name} cannot split traffic: use analysis.iterations (blue/green) "
        "or a traffic-splitting provider such as gatewayapi"
    )


def _suspended(draft: _Draft) -> Decision:
    if draft.before.message != SUSPENDED_MESSAGE:
        draft.event(SUSPENDED_MESSAGE, reason="Suspended")
    return draft.finish(SUSPENDED_MESSAGE)


def _target_missing(draft: _Draft) -> Decision:
    """Hold everything until the target is back; say why in the Promoted condition.

    Traffic on the canary goes back to the primary at once (it would be answered by nobody),
    and an analysis in flight ends as Failed: the revision under analysis is gone.
    """
    kind = str(draft.spec.target_ref.kind).lower()
    message = draft.obs.target.message or f"{kind} {draft.spec.target_ref.name} not found"
    phase = draft.before.phase
    observed = draft.obs.route_weights
    if phase not in (None, Phase.INITIALIZING) and (
        draft.before.canary_weight > 0 or (observed is not None and observed[1] > 0)
    ):
        draft.route(0)
    if phase in ANALYSING_PHASES:
        draft.set(iterations=0, last_failed_revision=draft.outcome(f"{message} during the analysis"))
        draft.enter(Phase.FAILED, message=f"Canary failed: {message}")
        draft.event(
            f"Rolling back {draft.canary}: {message} during the analysis; all traffic to {draft.primary}",
            reason="RollingBack",
            warning=True,
        )
        draft.event(f"Canary failed! {message}", reason="Failed", warning=True, alert=AlertSeverity.ERROR)
        _notify_post_rollout(draft, Phase.FAILED)
        return draft.finish(message)
    _warn_once(draft, message, reason="TargetNotFound")
    if phase is None:
        draft.enter(Phase.INITIALIZING, message=message)
    else:
        current = draft.before.condition(CONDITION_PROMOTED)
        status, _ = promoted_condition(phase, draft.spec.target_ref.kind)
        draft.set(
            conditions=set_condition(
                draft.before.conditions,
                CONDITION_PROMOTED,
                current.status if current else status,
                current.reason if current else phase.value,
                message,
                draft.obs.now,
            )
        )
    return draft.finish(message)


def _stand_aside(draft: _Draft, owner: str) -> Decision:
    """Another Canary manages this target: touch nothing (the condition says who, see finish)."""
    return draft.finish(
        f"{str(draft.spec.target_ref.kind).lower()} {draft.spec.target_ref.name} is already managed by canary {owner}"
    )


def _requested(draft: _Draft, kind: str) -> bool:
    """A pending request of ``kind`` for the revision this Canary is on.

    The value is ``<revision hash>`` optionally followed by ``@<anything>`` (a nonce, so the same
    request can be made again); it acts once (``status.handledRequests`` remembers the value) and
    only for its revision, so a stale annotation never promotes or aborts a later release.
    """
    value = draft.obs.requests.get(kind)
    if not value or (draft.before.handled_requests or {}).get(kind) == value:
        return False
    return value.split("@", 1)[0] == draft.before.last_applied_spec


def _handled(draft: _Draft, kind: str) -> None:
    handled = dict(draft.get("handled_requests") or {})
    handled[kind] = draft.obs.requests[kind]
    draft.set(handled_requests=handled)


def _retry(draft: _Draft) -> Decision:
    """Analyse the failed revision again without changing its pod template (fluxcd/flagger #862)."""
    revision = draft.obs.target_revision
    assert revision is not None
    _handled(draft, REQUEST_RETRY)
    if revision.hash != draft.before.last_applied_spec:
        return _detect_new_revision(draft)  # the target moved on: that is a new revision anyway
    _reset_for_revision(draft, always_reroute=False)
    draft.act(ScaleTarget(to_zero=False))
    draft.enter(Phase.PROGRESSING)
    draft.event(
        f"Retrying the analysis of {draft.target} revision {revision.hash} on request", reason="NewRevision"
    )
    return draft.finish(f"retrying revision {revision.hash}: scaling up {draft.target}")


def _restore_missing_primary(draft: _Draft) -> None:
    """``<target>-primary`` was deleted after bootstrap: recreate it from the promoted revision."""
    promoted = draft.before.last_promoted_spec
    if not draft.obs.primary.exists and promoted:
        draft.act(RestorePrimary(revision=promoted))


def _park_target(draft: _Draft) -> None:
    """Idle with nothing routed to it, the target should have no replicas: scale it to zero.

    Catches a target that kept its replicas while the primary was missing (it was the only
    copy serving) once the primary serves again; idempotent otherwise.
    """
    obs = draft.obs
    if (
        draft.before.canary_weight == 0
        and obs.target.available is True
        and obs.primary.serving
        and obs.primary.ready
    ):
        draft.act(ScaleTarget(to_zero=True))


def _clear_target_missing_note(draft: _Draft) -> None:
    """The target is back: give the Promoted condition its phase's own message again.

    Only :func:`_target_missing` writes the same text to the condition and to
    ``status.message``, which is how a stale "not found" note is recognised here.
    """
    phase = draft.before.phase
    current = draft.before.condition(CONDITION_PROMOTED)
    if phase is None or current is None or current.message != draft.before.message:
        return
    _, message = promoted_condition(phase, draft.spec.target_ref.kind)
    draft.set(
        conditions=set_condition(
            draft.before.conditions,
            CONDITION_PROMOTED,
            current.status,
            current.reason,
            message,
            draft.obs.now,
        ),
        message=f"{draft.target} found again",
    )


def _initialize(draft: _Draft) -> Decision:
    """Create the primary and route all traffic to it; once it is ready, park the target."""
    assert draft.obs.target_revision is not None
    if draft.before.phase is None:
        draft.act(InitializePrimary(), SetRoute(TOTAL_WEIGHT, 0))
        draft.enter(Phase.INITIALIZING)
        draft.set(canary_weight=0)
        return draft.finish(f"creating {draft.primary} and routing all traffic to it")
    if not draft.obs.primary.ready:
        # Idempotent; retries a primary whose creation failed or was never attempted.
        draft.act(InitializePrimary(), SetRoute(TOTAL_WEIGHT, 0))
        detail = draft.obs.primary.message or "not ready"
        return draft.finish(f"waiting for {draft.primary}: {detail}")
    revision = draft.obs.target_revision
    draft.act(ScaleTarget(to_zero=True))
    draft.enter(Phase.INITIALIZED)
    draft.set(
        last_applied_spec=revision.hash,
        last_promoted_spec=revision.hash,
        revision=revision.model_copy(),
        canary_weight=0,
        failed_checks=0,
        iterations=0,
    )
    draft.set(last_promoted_revision=draft.outcome("initial revision"))
    draft.event(f"Initialization done! {draft.canary}", reason="Initialized", alert=AlertSeverity.INFO)
    return draft.finish(f"initialized: {draft.primary} serves all traffic")


def _detect_new_revision(draft: _Draft) -> Decision:
    """From an idle phase, a changed target template starts an analysis (or a direct promotion)."""
    revision = draft.obs.target_revision
    assert revision is not None
    before = draft.before
    if revision.hash == before.last_applied_spec:
        _park_target(draft)
        return draft.finish()
    if revision.hash == before.last_promoted_spec:
        # Flagger: the template the primary already runs is not a new revision; only resync.
        draft.set(last_applied_spec=revision.hash, revision=revision.model_copy())
        return draft.finish(f"{draft.target} is back to the promoted revision; nothing to analyse")

    held = _refusal(draft)
    if held is not None:
        # Nothing starts: the revision stays unapplied, so fixing the spec starts it next tick.
        refusal, reason = held
        _warn_once(draft, refusal, reason=reason)
        return draft.finish(refusal)

    return _start_analysis(draft)


def _start_analysis(draft: _Draft) -> Decision:
    """A new revision, once every confirm-rollout gate agrees: scale the target up, Progressing."""
    revision = draft.obs.target_revision
    assert revision is not None
    held = _closed_gate(draft, WebhookType.CONFIRM_ROLLOUT)
    if held is not None:
        if draft.before.last_applied_spec != revision.hash:
            _reset_for_revision(draft, always_reroute=False)
        return _hold(
            draft, held, f"Halt {draft.canary} advancement waiting for approval {held.name}", Phase.WAITING
        )
    _reset_for_revision(draft, always_reroute=False)
    # skipAnalysis too: the target is scaled up and must be ready before its template is
    # promoted, as Flagger does, so the primary never gets a template no replica has started.
    draft.act(ScaleTarget(to_zero=False))
    draft.enter(Phase.PROGRESSING)
    draft.event(
        f"New revision detected! Scaling up {draft.target}", reason="NewRevision", alert=AlertSeverity.INFO
    )
    return draft.finish(f"new revision {revision.hash}: scaling up {draft.target}")


def _await_rollout_approval(draft: _Draft) -> Decision:
    """``Waiting``: a new revision is held by a confirm-rollout gate, its target not scaled up yet.

    The gate is asked again once per interval (and at once when the target changes again);
    rollback hooks and ``canary abort`` end the wait as a rollback would.
    """
    revision = draft.obs.target_revision
    assert revision is not None
    before = draft.before
    if revision.hash == before.last_promoted_spec:
        draft.set(last_applied_spec=revision.hash, revision=revision.model_copy())
        draft.enter(Phase.SUCCEEDED, message="Target is back to the promoted revision; nothing to approve.")
        return draft.finish(f"{draft.target} is back to the promoted revision; nothing to approve")
    if _requested(draft, REQUEST_ABORT):
        return _abort(draft)
    changed = revision.hash != before.last_applied_spec
    if not changed and not _step_due(draft.spec, before, draft.obs.now):
        draft.gate_held = True
        return draft.finish()
    signalled = _rollback_signalled(draft)
    if signalled is not None:
        return signalled
    return _start_analysis(draft)


def _closed_gate(draft: _Draft, type_: WebhookType) -> HookOutcome | None:
    """The first hook of a gate type that did not answer 2xx, or None when all agree.

    Each agreeing hook gets Flagger's Normal Event (``Confirm-rollout check NAME passed``).
    """
    outcomes = answers(draft.spec, draft.obs.hooks, type_)
    closed = next((o for o in outcomes if not o.ok), None)
    if closed is not None:
        return closed
    label = type_.value.capitalize()
    for outcome in outcomes:
        draft.event(f"{label} check {outcome.name} passed", reason="Synced")
    if outcomes:
        draft.release_gate()
    return None


def _hold(draft: _Draft, closed: HookOutcome, text: str, phase: Phase | None = None) -> Decision:
    """A closed gate holds the release where it is; past the hook's ``maxWait`` the release fails.

    ``status.gate`` records which gate holds and since when (kept while the same gate keeps
    holding), so the wait survives operator restarts and ``maxWait`` counts from the first hold.
    """
    current = draft.get("gate")
    same = current is not None and current.name == closed.name and current.type is closed.type
    since = current.since if same and current is not None else draft.stamp
    draft.set(gate=GateWait(name=closed.name, type=closed.type, since=since, message=closed.message or None))
    draft.gate_held = True
    hook = next((h for h in hooks_of(draft.spec, closed.type) if h.name == closed.name), None)
    limit = hook.max_wait_seconds if hook is not None else None
    waited = (draft.obs.now - parse_time(since)).total_seconds()
    if hook is not None and limit is not None and waited >= limit:
        why = f"gate {closed.name} ({closed.type.value}) did not open within {hook.max_wait}"
        draft.gate_held = False
        draft.set(gate=None)
        return _rollback(
            draft, f"Rolling back {draft.canary}: {why}", cause=why, condition=f"Canary failed: {why}."
        )
    if phase is not None and draft.before.phase is not phase:
        draft.enter(phase, message=f"Waiting for approval: {closed.name} ({closed.type.value}).")
    else:
        draft.paced()
    detail = f" ({closed.message})" if closed.message else ""
    muted = hook is not None and bool(hook.mute_alert)
    _warn_once(draft, text + detail, reason="Waiting", alert=None if muted else AlertSeverity.WARN)
    return draft.finish(text + detail)


def _rollback_signalled(draft: _Draft) -> Decision | None:
    """A rollback webhook answered 2xx (asked once per interval while analysing): roll back."""
    if not _step_due(draft.spec, draft.before, draft.obs.now):
        return None
    signalled = [o for o in answers(draft.spec, draft.obs.hooks, WebhookType.ROLLBACK) if o.ok]
    if not signalled:
        return None
    name = signalled[0].name
    return _rollback(
        draft,
        f"Rolling back {draft.canary} manual webhook invoked",
        cause=f"rollback webhook {name} signalled a rollback",
    )


def _abort(draft: _Draft) -> Decision:
    _handled(draft, REQUEST_ABORT)
    return _rollback(
        draft,
        f"Rolling back {draft.canary}: aborted on request",
        cause="aborted on request (canary.dev/abort)",
    )


def _failed_step(draft: _Draft, messages: list[str], cause: str) -> Decision:
    """A step whose checks (metrics, pre-rollout or rollout hooks) failed: one failed check, halt.

    Reaching ``threshold`` rolls back now; ``cause`` is the one-line why for ``lastFailedRevision``.
    """
    for text in messages:
        draft.event(text, reason="Halted", warning=True)
    threshold = draft.spec.analysis.threshold
    failed = draft.before.failed_checks + 1
    draft.set(failed_checks=failed)
    draft.paced()
    if failed >= threshold:
        return _rollback(draft, _threshold_message(draft, failed), cause=f"{cause} ({failed} failed checks)")
    return draft.finish(f"{messages[0]} ({failed}/{threshold} failed checks)")


def _failed_hooks(draft: _Draft, type_: WebhookType, label: str) -> list[str]:
    """Flagger's Halt messages for the hooks of ``type_`` that did not answer 2xx."""
    return [
        f"Halt {draft.canary} advancement {label} {o.name} failed {o.message}".rstrip()
        for o in answers(draft.spec, draft.obs.hooks, type_)
        if not o.ok
    ]


def _reset_for_revision(draft: _Draft, *, always_reroute: bool) -> None:
    """Start over for the observed revision: all traffic to the primary, counters and checks cleared."""
    revision = draft.obs.target_revision
    assert revision is not None
    if always_reroute or draft.before.canary_weight != 0:
        draft.act(SetRoute(TOTAL_WEIGHT, 0))
    draft.set(
        canary_weight=0,
        failed_checks=0,
        consecutive_errors=0,
        iterations=0,
        checks=[],
        gate=None,
        judge=None,
        analysis_started_at=None,
        inconclusive_since=None,
        last_applied_spec=revision.hash,
        revision=revision.model_copy(),
    )


def _promotion_already_applied(draft: _Draft) -> bool:
    """The primary runs the analysed revision although the status never recorded the promotion."""
    before = draft.before
    return (
        draft.obs.primary_revision is not None
        and draft.obs.primary_revision == before.last_applied_spec
        and before.last_applied_spec != before.last_promoted_spec
    )


def _resume_promotion(draft: _Draft) -> Decision:
    """PromoteToPrimary succeeded but its status write was lost: finish that promotion.

    No checks and no rollback any more: rolling back would route to a primary that already runs
    the new template. The promotion is not re-sent; Promoting waits for the primary's rollout.
    """
    revision = draft.before.last_applied_spec
    draft.enter(Phase.PROMOTING)
    draft.event(
        f"{draft.primary} already runs revision {revision}: promotion was applied but not recorded, "
        "continuing it",
        reason="Promoting",
    )
    return draft.finish(f"promotion of revision {revision} to {draft.primary} already applied; continuing it")


def _restart_analysis(draft: _Draft) -> Decision:
    """The target changed mid-analysis: all traffic back to the primary, start over."""
    revision = draft.obs.target_revision
    assert revision is not None
    _reset_for_revision(draft, always_reroute=True)
    draft.enter(Phase.PROGRESSING)
    draft.event(
        f"New revision detected! Restarting analysis for {draft.target}",
        reason="NewRevision",
        alert=AlertSeverity.INFO,
    )
    return draft.finish(f"new revision {revision.hash}: analysis restarted")


def _analyse(draft: _Draft) -> Decision:
    """One analysis step: readiness, threshold, checks, then advance or promote."""
    spec, before, obs = draft.spec, draft.before, draft.obs
    held = _refusal(draft)
    if held is not None:
        # Hold where we are; re-paced once per interval so the operator does not busy-loop.
        refusal, reason = held
        if before.message == refusal and not _step_due(spec, before, obs.now):
            return draft.finish()
        _warn_once(draft, refusal, reason=reason)
        draft.paced()
        return draft.finish(refusal)

    ceiling = max_weight(spec.analysis)
    if before.canary_weight > ceiling:
        # maxWeight or stepWeights lowered mid-analysis: obey the new maximum now, measure there.
        draft.route(ceiling)
        draft.event(
            f"Lowered {draft.canary} canary weight from {before.canary_weight} to {ceiling}: "
            "above the analysis' maximum weight",
            reason="WeightCapped",
        )
        return draft.finish(f"canary weight {ceiling} (capped to the analysis' maximum weight)")

    regression = _judge(draft)
    if regression is not None:
        return regression
    if not _analysis_due(spec, before, obs.now):
        return draft.finish()

    if not obs.primary.ready:
        detail = f"{draft.primary} not ready: {obs.primary.message or 'waiting for rollout'}"
        if obs.primary.deadline_exceeded:
            return _rollback(draft, f"Rolling back {draft.canary} primary not ready: {detail}")
        if _past_deadline(draft):
            # Not Flagger (which halts forever): a stall is a stall, whichever side is stuck.
            deadline = spec.progress_deadline_seconds
            reason = obs.primary.message or "waiting for rollout"
            return _rollback(
                draft,
                f"Rolling back {draft.canary}: Primary {draft.primary} is not ready after {deadline}s ({reason})",
            )
        _warn_once(draft, f"Halt advancement {detail}", reason="Halted")
        draft.paced()
        return draft.finish(f"Halt advancement {detail}")

    if not obs.target.ready:
        detail = f"canary deployment {draft.target} not ready: {obs.target.message or 'waiting for rollout'}"
        if obs.target.deadline_exceeded or _past_deadline(draft):
            deadline = spec.progress_deadline_seconds
            return _rollback(
                draft,
                f"Rolling back {draft.canary} progress deadline exceeded: {detail} (after {deadline}s)",
            )
        _warn_once(draft, f"Halt advancement {detail}", reason="Halted")
        draft.paced()
        return draft.finish(f"Halt advancement {detail}")

    if spec.skip_analysis:
        draft.act(SetRoute(TOTAL_WEIGHT, 0))
        draft.set(canary_weight=0)
        return _start_promotion(draft)

    threshold = spec.analysis.threshold
    if before.failed_checks >= threshold:
        return _rollback(draft, _threshold_message(draft, before.failed_checks))

    if before.canary_weight == 0 and before.iterations == 0:
        # Nothing has been routed to the canary yet, so there is nothing to measure; the first
        # step only starts the analysis, so even ``iterations: 0`` needs one passing check.
        draft.event(f"Starting canary analysis for {draft.target}", reason="Started")
        failed_tests = _failed_hooks(draft, WebhookType.PRE_ROLLOUT, "pre-rollout check")
        if failed_tests:
            return _failed_step(draft, failed_tests, cause=failed_tests[0])
        for outcome in answers(spec, obs.hooks, WebhookType.PRE_ROLLOUT):
            draft.event(f"Pre-rollout check {outcome.name} passed", reason="Synced")
        return _advance(draft, first_step=True)

    if obs.checks is None:
        # Not measured this tick (the operator asks checks_due first); judge on the next tick.
        return draft.finish("waiting for metric checks")

    # Load tests and acceptance tests (rollout hooks) run with every check, as in Flagger.
    failed_tests = _failed_hooks(draft, WebhookType.ROLLOUT, "external check")
    outcomes = classify_checks(spec, obs.checks, obs.samples, before, obs.now) + _slo_outcomes(draft)
    judgment = judge(outcomes)
    draft.set(checks=[_check_result(o, draft.stamp) for o in outcomes])
    if failed_tests:
        return _failed_step(draft, failed_tests, cause=failed_tests[0])
    # No data right after the provider was unreachable belongs to the outage (a restarted
    # Prometheus has lost its last samples and not scraped new ones yet), not to the canary.
    outage_gap = (
        judgment.kind is JudgmentKind.INCONCLUSIVE
        and not judgment.only_insufficient
        and before.consecutive_errors > 0
    )
    provider_trouble = judgment.kind is JudgmentKind.ERROR or outage_gap
    draft.set(consecutive_errors=before.consecutive_errors + 1 if provider_trouble else 0)
    if outage_gap:
        messages = [halt_message(o, draft.ref) for o in judgment.reasons]
        for text in messages:
            draft.event(text, reason="Halted", warning=True)
        return _provider_error(draft, f"{messages[0]} (right after the metrics provider was unreachable)")
    if judgment.only_insufficient:
        return _insufficient_samples(draft, judgment.inconclusive)
    if judgment.kind is not JudgmentKind.ERROR:
        # A verdict ends the wait for samples; a provider error says nothing about the traffic.
        draft.set(inconclusive_since=None)
    if not judgment.passed:
        messages = [halt_message(o, draft.ref) for o in judgment.reasons]
        if judgment.kind is JudgmentKind.ERROR:
            for text in messages:
                draft.event(text, reason="Halted", warning=True)
            return _provider_error(draft, messages[0])
        worst = judgment.reasons[0]
        if not judgment.counts_as_failed_check:
            for text in messages:
                draft.event(text, reason="Halted", warning=True)
            draft.paced()
            return draft.finish(f"{messages[0]} ({before.failed_checks}/{threshold} failed checks)")
        return _failed_step(draft, messages, cause=check_message(worst) or halt_message(worst, draft.ref))

    return _advance(draft)


def _judge(draft: _Draft) -> Decision | None:
    """Fold the judge's new window into its evidence; roll back at once on a proven regression."""
    spec, before, obs = draft.spec, draft.before, draft.obs
    if spec.analysis.judge is None:
        return None
    window = judge_window(spec, before, obs.now, step_tick=checks_due(spec, before, obs.now))
    samples = obs.samples.get(float(window)) if window is not None else None
    if samples is None:
        return None
    if samples.error:
        # Nothing learnt; the window is judged again (longer) at the next look, not the next second.
        held = before.judge or JudgeStatus()
        draft.set(judge=held.model_copy(update={"looked_at": draft.stamp, "message": samples.error}))
        return None
    outcome = judging.update(
        spec.analysis.judge,
        before.judge,
        samples,
        observed_until=draft.stamp,
        step_started_at=before.step_started_at,
    )
    draft.set(judge=outcome.status)
    if outcome.verdict is not judging.JudgeVerdict.REGRESSION:
        return None
    return _rollback(
        draft,
        f"Rolling back {draft.canary}: the judge found a regression: {outcome.message}",
        cause=f"judge: {outcome.message}",
    )


def _slo_outcomes(draft: _Draft) -> tuple[CheckOutcome, ...]:
    """The SLO burn-rate checks of this step (none without ``analysis.slo``)."""
    slo = draft.spec.analysis.slo
    if slo is None:
        return ()
    return slo_checks.evaluate(slo, slo_windows(draft.spec, draft.before, draft.obs.now), draft.obs.samples)


def _insufficient_samples(draft: _Draft, short: tuple[CheckOutcome, ...]) -> Decision:
    """Too little traffic to judge: halt without a failed check, until ``inconclusiveDeadline``."""
    spec, before, now = draft.spec, draft.before, draft.obs.now
    since = before.inconclusive_since or before.step_started_at or draft.stamp
    draft.set(inconclusive_since=since)
    waited = now - parse_time(since)
    deadline = spec.analysis.inconclusive_deadline_timedelta or spec.progress_deadline
    detail = "; ".join(check_message(o) for o in short)
    if waited > deadline:
        text = f"analysis inconclusive for {format_duration(waited)}: {detail}"
        return _rollback(draft, f"Rolling back {draft.canary}: {text}", cause=text, condition=text)
    if before.inconclusive_since is None:
        # Once when the wait starts: the sample counts change every interval, the reason does not.
        for outcome in short:
            draft.event(halt_message(outcome, draft.ref), reason="Inconclusive", warning=True)
    draft.paced()
    return draft.finish(
        f"Halt advancement {detail} (inconclusive for {format_duration(waited)} of {format_duration(deadline)})"
    )


def _provider_error(draft: _Draft, reason: str) -> Decision:
    """The provider could not answer: halt, and roll back only after ``consecutiveErrorLimit`` in a row.

    Such a step is neither a pass nor a failed check (Argo's Error verdict): a short Prometheus
    outage must not roll back a good release, and a long one must not promote an unjudged one.
    """
    errors = draft.get("consecutive_errors")
    limit = draft.spec.analysis.effective_consecutive_error_limit
    draft.paced()
    if errors >= limit:
        return _rollback(
            draft,
            f"Rolling back {draft.canary}: metrics could not be measured for {errors} consecutive checks "
            f"({reason})",
            cause=f"metrics could not be measured for {errors} consecutive checks: {reason}",
        )
    return draft.finish(f"{reason} ({errors}/{limit} consecutive provider errors)")


def _advance(draft: _Draft, *, first_step: bool = False) -> Decision:
    """Checks passed (or the analysis just started): next weight or iteration, or promote."""
    analysis = draft.spec.analysis
    before = draft.before
    if analysis.is_iteration_based:
        wanted = max(analysis.iterations or 0, 1)
        if before.iterations >= wanted and not first_step:
            return _confirm_promotion(draft)
        iteration = before.iterations + 1
        draft.set(iterations=iteration)
        draft.progressed()
        if first_step:
            draft.set(analysis_started_at=draft.stamp)
        draft.event(f"Advance {draft.canary} canary iteration {iteration}/{wanted}", reason="Advanced")
        return draft.finish(f"iteration {iteration}/{wanted}")
    if is_final_weight(analysis, before.canary_weight) and not first_step:
        return _confirm_promotion(draft)
    if before.phase is Phase.PROGRESSING:
        held = _closed_gate(draft, WebhookType.CONFIRM_TRAFFIC_INCREASE)
        if held is not None:
            return _hold(
                draft,
                held,
                f"Halt {draft.canary} advancement waiting for traffic increase approval {held.name}",
            )
    weight = next_weight(analysis, before.canary_weight)
    draft.route(weight)
    draft.progressed()
    if first_step:
        draft.set(analysis_started_at=draft.stamp)
    draft.event(f"Advance {draft.canary} canary weight {weight}", reason="Advanced")
    return draft.finish(f"canary weight {weight}")


def _confirm_promotion(draft: _Draft) -> Decision:
    """The analysis passed: promote once every confirm-promotion gate agrees, else WaitingPromotion.

    While waiting, the analysis goes on every interval (failed checks still roll back), as in Flagger.
    """
    held = _closed_gate(draft, WebhookType.CONFIRM_PROMOTION)
    if held is not None:
        return _hold(
            draft,
            held,
            f"Halt {draft.canary} advancement waiting for promotion approval {held.name}",
            Phase.WAITING_PROMOTION,
        )
    if (
        draft.spec.analysis.is_iteration_based
        and draft.obs.traffic_splitting
        and draft.before.canary_weight < TOTAL_WEIGHT
    ):
        # Blue/green and A/B (Flagger's runBlueGreen): the canary takes all traffic for one
        # interval, still analysed, before its template is copied to the primary.
        draft.route(TOTAL_WEIGHT)
        draft.progressed()
        draft.event("Routing all traffic to canary", reason="Advanced")
        return draft.finish(f"all traffic routed to {draft.target} before promotion")
    return _start_promotion(draft)


def _notify_post_rollout(draft: _Draft, phase: Phase) -> None:
    """Post-rollout hooks learn the outcome after the status is written (fire and forget)."""
    if hooks_of(draft.spec, WebhookType.POST_ROLLOUT):
        draft.act(CallWebhooks(WebhookType.POST_ROLLOUT, phase))


def _start_promotion(draft: _Draft) -> Decision:
    revision = draft.obs.target_revision
    assert revision is not None
    draft.act(PromoteToPrimary(revision=revision.hash))
    draft.enter(Phase.PROMOTING)
    draft.event(f"Copying {draft.target} template spec to {draft.primary}", reason="Promoting")
    return draft.finish(f"promoting revision {revision.hash} to {draft.primary}")


def _promote_traffic(draft: _Draft) -> Decision:
    """Wait for the primary to roll out the promoted template, then route traffic back to it."""
    obs = draft.obs
    if not _step_due(draft.spec, draft.before, obs.now):
        return draft.finish()
    if not obs.primary.ready:
        detail = obs.primary.message or "waiting for rollout"
        if obs.primary.deadline_exceeded or _past_deadline(draft):
            return _failed_promotion(draft, detail)
        return draft.finish(f"waiting for {draft.primary}: {detail}")
    if not obs.traffic_splitting:
        # Services alone (provider kubernetes): the apex always selects the primary, which now
        # runs the promoted template; nothing is routed, so nothing is said about routing (Flagger).
        draft.route(0)
        draft.enter(Phase.FINALISING)
        return draft.finish(f"{draft.primary} runs the promoted revision")
    weight = next_promotion_weight(draft.spec.analysis, draft.before.canary_weight)
    draft.route(weight)
    if weight > 0:
        draft.progressed()
        draft.event(f"Advance {draft.canary} primary weight {TOTAL_WEIGHT - weight}", reason="Promoting")
        return draft.finish(f"primary weight {TOTAL_WEIGHT - weight}")
    draft.enter(Phase.FINALISING)
    draft.event("Routing all traffic to primary", reason="Promoting")
    return draft.finish(f"all traffic routed to {draft.primary}")


def _finalise(draft: _Draft) -> Decision:
    """Promotion done and traffic on the primary: park the target and record the promotion."""
    if not _step_due(draft.spec, draft.before, draft.obs.now):
        return draft.finish()
    draft.act(ScaleTarget(to_zero=True))
    draft.enter(Phase.SUCCEEDED)
    draft.set(last_promoted_spec=draft.before.last_applied_spec, canary_weight=0, iterations=0)
    draft.set(
        last_promoted_revision=draft.outcome(
            "promoted without analysis (skipAnalysis)"
            if draft.spec.skip_analysis
            else "promoted after analysis"
        )
    )
    if draft.spec.skip_analysis:
        text = f"Promotion completed! Canary analysis was skipped for {draft.target}"
    else:
        text = f"Promotion completed! Scaling down {draft.target}"
    draft.event(text, reason="Succeeded", alert=AlertSeverity.INFO)
    _notify_post_rollout(draft, Phase.SUCCEEDED)
    return draft.finish(text)


def _rollback(
    draft: _Draft, reason: str, *, cause: str | None = None, condition: str | None = None
) -> Decision:
    """All traffic to the primary, target to zero, phase Failed.

    ``cause`` is the one-line why recorded in ``lastFailedRevision`` (the failing check and its
    value); the event ``reason`` by default. ``condition`` replaces the Promoted condition's
    generic message when the why matters there (an expired gate).
    """
    draft.act(SetRoute(TOTAL_WEIGHT, 0), ScaleTarget(to_zero=True))
    draft.set(canary_weight=0, iterations=0, last_failed_revision=draft.outcome(cause or reason))
    draft.enter(Phase.FAILED, message=condition)
    draft.event(reason, reason="RollingBack", warning=True, alert=AlertSeverity.ERROR)
    draft.event(f"Canary failed! Scaling down {draft.canary}", reason="Failed", warning=True)
    _notify_post_rollout(draft, Phase.FAILED)
    return draft.finish(reason)


def _failed_promotion(draft: _Draft, detail: str) -> Decision:
    """The primary cannot roll out the promoted template (Flagger's handleFailedPromotion).

    The canary is the only healthy copy of the new revision, so traffic goes to it when it is
    ready; otherwise the primary keeps the traffic since nothing better exists.
    """
    text = f"Promotion of {draft.target} failed, primary not ready: {detail}"
    draft.set(last_failed_revision=draft.outcome(text))
    if draft.obs.target.ready:
        draft.route(TOTAL_WEIGHT)
    else:
        draft.route(0)
    draft.enter(Phase.FAILED, message=f"Canary promotion failed, primary not ready: {detail}")
    draft.event(text, reason="PromotionFailed", warning=True, alert=AlertSeverity.ERROR)
    _notify_post_rollout(draft, Phase.FAILED)
    return draft.finish(text)


def _threshold_message(draft: _Draft, failed: int) -> str:
    return f"Rolling back {draft.canary} failed checks threshold reached {failed}"


def classify_checks(
    spec: CanarySpec,
    measurements: tuple[Measurement, ...],
    samples: Mapping[float, WindowSamples] | None = None,
    status: CanaryStatus | None = None,
    now: datetime | None = None,
) -> tuple[CheckOutcome, ...]:
    """Classify each measurement against its metric's range in the spec (matched by name).

    A measurement of a metric the spec does not define cannot be judged: it is an ERROR, never
    a pass. A metric with ``minSamples`` is judged only once its window (see
    :func:`~canary.core.windows.check_window`, which needs ``status`` and ``now``) holds that
    many canary requests in ``samples``; a window whose counts could not be measured is an ERROR.
    """
    metrics: dict[str, CanaryMetric] = {}
    for defined in spec.analysis.metrics or []:
        metrics.setdefault(defined.name, defined)
    outcomes: list[CheckOutcome] = []
    for measurement in measurements:
        metric = metrics.get(measurement.name)
        if metric is None:
            unknown = Measurement.error(
                measurement.name, f"metric {measurement.name} is not defined in spec.analysis.metrics"
            )
            outcomes.append(classify_measurement(unknown, None))
            continue
        if metric.min_samples is None or status is None or now is None:
            outcomes.append(classify_measurement(measurement, metric.effective_range))
            continue
        window = (samples or {}).get(float(check_window(metric, status, now)))
        if window is None or window.error:
            reason = window.error if window is not None and window.error else "request count not measured"
            counted = Measurement.error(measurement.name, f"metric {measurement.name}: samples: {reason}")
            outcomes.append(classify_measurement(counted, metric.effective_range))
            continue
        count = window.canary.requests if window.canary is not None else 0.0
        outcomes.append(
            classify_measurement(
                measurement, metric.effective_range, min_samples=metric.min_samples, sample_count=count
            )
        )
    return tuple(outcomes)


def _check_result(outcome: CheckOutcome, stamp: str) -> CheckResult:
    return CheckResult(
        name=outcome.name,
        verdict=outcome.verdict,
        value=_finite(outcome.value),
        threshold_min=outcome.threshold_min,
        threshold_max=outcome.threshold_max,
        message=check_message(outcome) or None,
        primary_value=_finite(outcome.primary_value),
        time=stamp,
        window=format_duration(outcome.window_seconds) if outcome.window_seconds else None,
        scope=("Revision" if outcome.revision_scoped else "Query") if outcome.window_seconds else None,
        samples=_finite(outcome.sample_count),
        min_samples=outcome.min_samples,
    )


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or Infinity: a non-finite value is stored as null (the message names it)."""
    return value if value is not None and math.isfinite(value) else None
