"""Webhooks in the decision core: asked at Flagger's hook points, gates fail closed, tests count.

``run`` plays the operator's part: it answers what ``decide`` asks (recording the order of the
questions) and decides again, exactly as the reconciler does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
from core_helpers import MINUTE, NEW, STABLE, T0, at, make_spec, observe, passing, status

from canary.api.models import CanarySpec, CanaryStatus, Phase, WebhookType
from canary.core import Decision, Observation, PromoteToPrimary, ScaleTarget, SetRoute, SyncRouting, decide
from canary.core.actions import CallWebhooks
from canary.core.hooks import HookOutcome

GATE_URL = "http://flagger-loadtester.test/gate/check"


def spec_with(*hooks: dict[str, Any], **analysis: Any) -> CanarySpec:
    base: dict[str, Any] = {"interval": "1m", "step_weight": 20, "max_weight": 40}
    return make_spec({**base, **analysis, "webhooks": [{"url": GATE_URL, **hook} for hook in hooks]})


def run(
    spec: CanarySpec,
    before: CanaryStatus | None,
    obs: Observation,
    answers: Mapping[str, bool] | None = None,
    asked: list[WebhookType] | None = None,
) -> Decision:
    """Decide, answering each webhook by name (``ok`` per hook; unnamed hooks answer 2xx)."""
    answers = answers or {}
    decision = decide(spec, before, obs)
    for _ in range(len(WebhookType)):
        if not decision.asks:
            return decision
        assert decision.actions == () and decision.status == (before or CanaryStatus())
        given = dict(obs.hooks)
        for type_ in decision.asks:
            if asked is not None:
                asked.append(type_)
            given[type_] = tuple(
                HookOutcome(
                    h.name, type_, answers.get(h.name, True), "" if answers.get(h.name, True) else "HTTP 403"
                )
                for h in spec.analysis.webhooks or []
                if h.effective_type is type_
            )
        obs = dataclasses.replace(obs, hooks=given)
        decision = decide(spec, before, obs)
    raise AssertionError(f"decide kept asking: {decision.asks}")


def new_revision(now: datetime = T0) -> Observation:
    return observe(now, route=(100, 0))


SUCCEEDED = status(Phase.SUCCEEDED, last_applied_spec=STABLE)


# ------------------------------------------------------------------ confirm-rollout


def test_confirm_rollout_closed_holds_in_waiting_without_scaling_up() -> None:
    spec = spec_with({"name": "approval", "type": "confirm-rollout"})
    asked: list[WebhookType] = []
    held = run(spec, SUCCEEDED, new_revision(), {"approval": False}, asked)
    assert asked == [WebhookType.CONFIRM_ROLLOUT]
    assert held.status.phase is Phase.WAITING
    assert held.status.last_applied_spec == NEW, "the waiting revision is recorded for canary wait"
    assert not any(isinstance(a, ScaleTarget) for a in held.actions) and not held.routes
    assert held.status.gate is not None and held.status.gate.name == "approval"
    assert [e.message for e in held.events] == [
        "Halt podinfo.test advancement waiting for approval approval (HTTP 403)"
    ]
    promoted = held.status.condition("Promoted")
    assert promoted is not None and promoted.status == "Unknown" and "approval" in promoted.message


def test_waiting_asks_again_once_per_interval_and_scales_up_when_approved() -> None:
    spec = spec_with({"name": "approval", "type": "confirm-rollout"})
    held = run(spec, SUCCEEDED, new_revision(), {"approval": False})
    asked: list[WebhookType] = []
    soon = run(spec, held.status, new_revision(at(0.5)), {"approval": True}, asked)
    assert asked == [] and soon.status == held.status and soon.actions == (SyncRouting(),)
    again = run(spec, held.status, new_revision(at(1)), {"approval": False})
    assert again.status.phase is Phase.WAITING and again.events == ()
    assert again.status.gate is not None and again.status.gate.since == held.status.gate.since  # type: ignore[union-attr]
    opened = run(spec, again.status, new_revision(at(2)), {"approval": True})
    assert opened.status.phase is Phase.PROGRESSING and ScaleTarget(to_zero=False) in opened.actions
    assert opened.status.gate is None
    assert [e.message for e in opened.events][:1] == ["Confirm-rollout check approval passed"]


def test_a_gate_that_does_not_open_within_max_wait_fails_the_release() -> None:
    spec = spec_with({"name": "approval", "type": "confirm-rollout", "maxWait": "5m"})
    held = run(spec, SUCCEEDED, new_revision(), {"approval": False})
    still = run(spec, held.status, new_revision(at(4)), {"approval": False})
    assert still.status.phase is Phase.WAITING
    expired = run(spec, still.status, new_revision(at(5)), {"approval": False})
    assert expired.status.phase is Phase.FAILED
    promoted = expired.status.condition("Promoted")
    assert promoted is not None and promoted.status == "False"
    assert "gate approval (confirm-rollout) did not open within 5m" in promoted.message
    assert expired.status.last_failed_revision is not None
    assert expired.status.last_failed_revision.hash == NEW
    assert SetRoute(100, 0) in expired.actions


# ------------------------------------------------------------------ pre-rollout and rollout


def test_failing_pre_rollout_counts_a_failed_check_and_routes_nothing() -> None:
    spec = spec_with({"name": "acceptance", "type": "pre-rollout"})
    started = status(Phase.PROGRESSING)
    failed = run(spec, started, observe(at(1), route=(100, 0)), {"acceptance": False})
    assert failed.status.failed_checks == 1 and failed.status.canary_weight == 0 and not failed.routes
    assert "Halt podinfo.test advancement pre-rollout check acceptance failed HTTP 403" in [
        e.message for e in failed.events
    ]
    passed = run(spec, failed.status, observe(at(2), route=(100, 0)))
    assert passed.status.canary_weight == 20
    assert "Pre-rollout check acceptance passed" in [e.message for e in passed.events]


def test_failing_rollout_hook_is_a_failed_check_even_when_metrics_pass() -> None:
    spec = spec_with({"name": "load-test"}, threshold=2)
    at_20 = status(Phase.PROGRESSING, canary_weight=20)
    obs = observe(at(1), route=(80, 20), checks=(passing(), passing("request-duration", 120)))
    asked: list[WebhookType] = []
    once = run(spec, at_20, obs, {"load-test": False}, asked)
    assert asked == [WebhookType.ROLLOUT]
    assert once.status.failed_checks == 1 and once.status.canary_weight == 20
    obs2 = observe(at(2), route=(80, 20), checks=obs.checks)
    twice = run(spec, once.status, obs2, {"load-test": False})
    assert twice.status.phase is Phase.FAILED
    assert twice.status.last_failed_revision is not None
    assert "external check load-test failed" in (twice.status.last_failed_revision.message or "")


# ------------------------------------------------------------------ confirm-traffic-increase


def test_closed_traffic_increase_gate_holds_the_weight_without_failed_checks() -> None:
    spec = spec_with({"name": "step-gate", "type": "confirm-traffic-increase"})
    at_20 = status(Phase.PROGRESSING, canary_weight=20)
    checks = (passing(), passing("request-duration", 120))
    asked: list[WebhookType] = []
    held = run(spec, at_20, observe(at(1), route=(80, 20), checks=checks), {"step-gate": False}, asked)
    assert asked == [WebhookType.CONFIRM_TRAFFIC_INCREASE]
    assert held.status.canary_weight == 20 and held.status.failed_checks == 0
    assert held.status.phase is Phase.PROGRESSING and not held.routes
    assert held.status.gate is not None and held.status.gate.type is WebhookType.CONFIRM_TRAFFIC_INCREASE
    opened = run(spec, held.status, observe(at(2), route=(80, 20), checks=checks))
    assert opened.status.canary_weight == 40 and opened.status.gate is None


def test_failing_checks_do_not_ask_the_traffic_increase_gate() -> None:
    spec = spec_with({"name": "step-gate", "type": "confirm-traffic-increase"})
    at_20 = status(Phase.PROGRESSING, canary_weight=20)
    asked: list[WebhookType] = []
    run(spec, at_20, observe(at(1), route=(80, 20), checks=(passing(value=50.0),)), asked=asked)
    assert asked == []


# ------------------------------------------------------------------ confirm-promotion


def test_closed_promotion_gate_waits_and_keeps_analysing() -> None:
    spec = spec_with({"name": "promotion", "type": "confirm-promotion"})
    at_max = status(Phase.PROGRESSING, canary_weight=40)
    checks = (passing(), passing("request-duration", 120))
    held = run(spec, at_max, observe(at(1), route=(60, 40), checks=checks), {"promotion": False})
    assert held.status.phase is Phase.WAITING_PROMOTION
    assert not any(isinstance(a, PromoteToPrimary) for a in held.actions)
    assert "Halt podinfo.test advancement waiting for promotion approval promotion (HTTP 403)" in [
        e.message for e in held.events
    ]
    # Still analysed while waiting: a failing check counts.
    bad = run(spec, held.status, observe(at(2), route=(60, 40), checks=(passing(value=50.0),)))
    assert bad.status.phase is Phase.WAITING_PROMOTION and bad.status.failed_checks == 1
    opened = run(spec, bad.status, observe(at(3), route=(60, 40), checks=checks))
    assert opened.status.phase is Phase.PROMOTING
    assert PromoteToPrimary(revision=NEW) in opened.actions


def test_iterations_ask_the_promotion_gate_after_the_last_iteration() -> None:
    spec = make_spec(
        {
            "interval": "1m",
            "iterations": 2,
            "webhooks": [{"name": "promotion", "type": "confirm-promotion", "url": GATE_URL}],
        }
    )
    done = status(Phase.PROGRESSING, iterations=2)
    checks = (passing(), passing("request-duration", 120))
    held = run(spec, done, observe(at(1), route=(100, 0), checks=checks), {"promotion": False})
    assert held.status.phase is Phase.WAITING_PROMOTION


# ------------------------------------------------------------------ rollback and post-rollout


@pytest.mark.parametrize("phase", [Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.WAITING])
def test_a_rollback_hook_answering_2xx_rolls_back(phase: Phase) -> None:
    spec = spec_with(
        {"name": "rollback-gate", "type": "rollback"}, {"name": "approval", "type": "confirm-rollout"}
    )
    weight = 0 if phase is Phase.WAITING else 20
    during = status(phase, canary_weight=weight)
    closed = {"approval": False}
    decision = run(
        spec, during, observe(at(1), route=(100 - weight, weight)), {"rollback-gate": True, **closed}
    )
    assert decision.status.phase is Phase.FAILED
    assert "Rolling back podinfo.test manual webhook invoked" in [e.message for e in decision.events]
    quiet = run(
        spec, during, observe(at(1), route=(100 - weight, weight)), {"rollback-gate": False, **closed}
    )
    assert quiet.status.phase is phase


def test_post_rollout_hooks_learn_success_and_failure() -> None:
    spec = spec_with({"name": "notify", "type": "post-rollout"})
    finalising = status(Phase.FINALISING)
    succeeded = run(spec, finalising, observe(at(1), route=(100, 0)))
    assert succeeded.status.phase is Phase.SUCCEEDED
    assert CallWebhooks(WebhookType.POST_ROLLOUT, Phase.SUCCEEDED) in succeeded.actions
    failing_at_threshold = status(Phase.PROGRESSING, canary_weight=20, failed_checks=4)
    failed = run(spec, failing_at_threshold, observe(at(1), route=(80, 20), checks=(passing(value=50.0),)))
    assert failed.status.phase is Phase.FAILED
    assert CallWebhooks(WebhookType.POST_ROLLOUT, Phase.FAILED) in failed.actions


def test_no_webhooks_means_no_questions() -> None:
    spec = make_spec()
    decision = decide(spec, SUCCEEDED, new_revision())
    assert decision.asks == frozenset() and decision.status.phase is Phase.PROGRESSING


def test_gate_state_survives_a_restart_through_the_status_alone() -> None:
    """A restarted operator reads the gate (and its since) from the status it wrote."""
    spec = spec_with({"name": "step-gate", "type": "confirm-traffic-increase", "maxWait": "3m"})
    at_20 = status(Phase.PROGRESSING, canary_weight=20)
    checks = (passing(), passing("request-duration", 120))
    held = run(spec, at_20, observe(at(1), route=(80, 20), checks=checks), {"step-gate": False})
    reread = CanaryStatus.model_validate(held.status.to_dict())
    later = run(
        spec, reread, observe(at(1) + 3 * MINUTE, route=(80, 20), checks=checks), {"step-gate": False}
    )
    assert later.status.phase is Phase.FAILED
