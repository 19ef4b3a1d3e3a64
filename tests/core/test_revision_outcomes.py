"""Which revision was promoted and which failed, recorded so CI never reads a previous release's result."""

from __future__ import annotations

from core_helpers import NEW, STABLE, at, failing, make_spec, observe, passing, status

from canary.api.models import ConditionStatus, Phase, Revision
from canary.core import decide
from canary.core.simulate import simulate

SPEC = make_spec()
IMAGE = "ghcr.io/podinfo:6.1"  # what core_helpers.observe reports for the target


def _progressing(**fields: object) -> dict[str, object]:
    return {"revision": Revision(hash=NEW, image=IMAGE), **fields}


def test_a_rollback_records_the_failed_revision_with_the_failing_check() -> None:
    before = status(Phase.PROGRESSING, canary_weight=40, failed_checks=4, **_progressing())
    after = decide(SPEC, before, observe(at(1), checks=(failing(),))).status
    failed = after.last_failed_revision
    assert failed is not None
    assert (failed.hash, failed.image) == (NEW, IMAGE)
    assert failed.message == "request-success-rate 91.30 < 99 (5 failed checks)"
    progressing = after.condition("Progressing")
    assert progressing is not None
    assert (progressing.status, progressing.reason) == (ConditionStatus.FALSE, "Failed")


def test_a_promotion_records_the_promoted_revision_and_keeps_the_last_failure() -> None:
    earlier_failure = decide(
        SPEC,
        status(Phase.PROGRESSING, canary_weight=40, failed_checks=4, **_progressing()),
        observe(at(1), checks=(failing(),)),
    ).status.last_failed_revision
    before = status(Phase.FINALISING, **_progressing(last_failed_revision=earlier_failure))
    after = decide(SPEC, before, observe(at(1))).status
    assert after.phase is Phase.SUCCEEDED
    promoted = after.last_promoted_revision
    assert promoted is not None and (promoted.hash, promoted.image) == (NEW, IMAGE)
    assert after.last_failed_revision == earlier_failure
    progressing = after.condition("Progressing")
    assert progressing is not None
    assert (progressing.status, progressing.reason) == (ConditionStatus.FALSE, "Succeeded")


def test_progressing_is_true_while_a_revision_is_in_flight() -> None:
    started = decide(SPEC, status(Phase.SUCCEEDED, last_applied_spec=STABLE), observe(at(5))).status
    condition = started.condition("Progressing")
    assert started.phase is Phase.PROGRESSING
    assert condition is not None and (condition.status, condition.reason) == (
        ConditionStatus.TRUE,
        "Progressing",
    )


def test_a_whole_release_leaves_only_the_new_revision_as_promoted() -> None:
    decisions = simulate(
        SPEC,
        lambda tick: observe(tick.now, checks=(passing(), passing("request-duration", 120))),
        40,
        start=at(0),
        status=status(Phase.SUCCEEDED, last_applied_spec=STABLE),
        until=lambda d: d.status.phase is Phase.SUCCEEDED and d.status.last_promoted_spec == NEW,
    )
    final = decisions[-1].status
    assert final.last_promoted_revision is not None and final.last_promoted_revision.hash == NEW
    assert final.last_failed_revision is None
