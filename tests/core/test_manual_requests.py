"""promote / abort / retry, asked for through annotations naming the revision they are meant for."""

from __future__ import annotations

from dataclasses import replace

from core_helpers import NEW, NEWER, STABLE, at, failing, make_spec, observe, status

from canary.api.models import Phase
from canary.core import PromoteToPrimary, ScaleTarget, SetRoute, decide

SPEC = make_spec()


def test_promote_skips_the_remaining_steps_of_that_revision() -> None:
    before = status(Phase.PROGRESSING, canary_weight=20)
    decision = decide(SPEC, before, replace(observe(at(0.2)), requests={"promote": f"{NEW}@1"}))
    assert decision.status.phase is Phase.PROMOTING
    assert PromoteToPrimary(revision=NEW) in decision.actions and SetRoute(100, 0) in decision.actions
    assert decision.status.handled_requests == {"promote": f"{NEW}@1"}
    assert "on request" in decision.events[0].message


def test_a_request_for_another_revision_or_already_handled_does_nothing() -> None:
    before = status(Phase.PROGRESSING, canary_weight=20)
    stale = decide(SPEC, before, replace(observe(at(0.2)), requests={"promote": NEWER}))
    assert stale.status.phase is Phase.PROGRESSING and not any(
        isinstance(a, PromoteToPrimary) for a in stale.actions
    )
    handled = before.model_copy(update={"handled_requests": {"abort": NEW}})
    again = decide(SPEC, handled, replace(observe(at(0.2)), requests={"abort": NEW}))
    assert again.status.phase is Phase.PROGRESSING


def test_promote_waits_for_a_ready_canary() -> None:
    before = status(Phase.PROGRESSING, canary_weight=20)
    decision = decide(SPEC, before, replace(observe(at(0.2), target_ready=False), requests={"promote": NEW}))
    assert not any(isinstance(a, PromoteToPrimary) for a in decision.actions)
    assert decision.status.handled_requests is None, "still pending: acts once the canary is ready"


def test_abort_rolls_back_now() -> None:
    before = status(Phase.PROGRESSING, canary_weight=40)
    decision = decide(SPEC, before, replace(observe(at(0.2)), requests={"abort": f"{NEW}@x"}))
    assert decision.status.phase is Phase.FAILED
    assert SetRoute(100, 0) in decision.actions and ScaleTarget(to_zero=True) in decision.actions
    failed = decision.status.last_failed_revision
    assert failed is not None and failed.message == "aborted on request (canary.dev/abort)"


def test_retry_analyses_the_failed_revision_again_once() -> None:
    failed = decide(
        SPEC,
        status(Phase.PROGRESSING, canary_weight=40, failed_checks=4),
        observe(at(1), checks=(failing(),)),
    ).status
    assert failed.phase is Phase.FAILED
    retried = decide(SPEC, failed, replace(observe(at(2)), requests={"retry": f"{NEW}@1"}))
    assert retried.status.phase is Phase.PROGRESSING
    assert ScaleTarget(to_zero=False) in retried.actions
    assert (retried.status.failed_checks, retried.status.canary_weight) == (0, 0)
    # Failing again with the annotation still there does not retry a second time.
    again_failed = retried.status.model_copy(update={"phase": Phase.FAILED})
    idle = decide(SPEC, again_failed, replace(observe(at(3)), requests={"retry": f"{NEW}@1"}))
    assert idle.status.phase is Phase.FAILED
    assert decide(
        SPEC, again_failed, replace(observe(at(3)), requests={"retry": f"{NEW}@2"})
    ).status.phase is (Phase.PROGRESSING)


def test_retry_of_a_settled_success_does_nothing() -> None:
    settled = status(Phase.SUCCEEDED, last_applied_spec=STABLE)
    decision = decide(SPEC, settled, replace(observe(at(1), revision=STABLE), requests={"retry": STABLE}))
    assert decision.status.phase is Phase.SUCCEEDED
