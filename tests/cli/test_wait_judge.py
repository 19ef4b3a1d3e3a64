"""`canary wait` judges only the revision it waits for, never the previous release's outcome."""

from __future__ import annotations

from canary.api.models import CanaryStatus, Phase, RevisionOutcome
from canary.cli.wait import FAILED, PROMOTED, Wanted, judge

OLD = RevisionOutcome(
    hash="old", image="app:1", time="2026-01-01T12:00:00Z", message="promoted after analysis"
)
NEW_FAILED = RevisionOutcome(
    hash="new",
    image="app:2",
    time="2026-01-01T12:05:00Z",
    message="request-success-rate 45.16 < 99 (2 failed checks)",
)
NEW_PROMOTED = RevisionOutcome(hash="new", image="app:2", time="2026-01-01T12:09:00Z")


def _status(phase: Phase, **fields: object) -> CanaryStatus:
    return CanaryStatus.model_validate({"phase": phase, **fields})


def test_right_after_set_image_the_previous_promotion_is_not_an_answer() -> None:
    assert judge(_status(Phase.SUCCEEDED, last_promoted_revision=OLD), Wanted(revision="new")) is None
    assert judge(_status(Phase.SUCCEEDED, last_promoted_revision=OLD), Wanted(image="app:2")) is None


def test_nothing_is_judged_while_the_revision_is_in_flight() -> None:
    status = _status(Phase.PROGRESSING, last_promoted_revision=OLD, last_failed_revision=NEW_FAILED)
    assert judge(status, Wanted(revision="new")) is None, "a retried revision is judged by its new run"


def test_failed_revision_exits_1_with_the_failing_check() -> None:
    verdict = judge(
        _status(Phase.FAILED, last_promoted_revision=OLD, last_failed_revision=NEW_FAILED), Wanted("new")
    )
    assert verdict is not None and verdict.code == FAILED
    assert verdict.message == "revision new failed: request-success-rate 45.16 < 99 (2 failed checks)"


def test_promoted_after_an_earlier_failure_of_the_same_revision_exits_0() -> None:
    status = _status(Phase.SUCCEEDED, last_promoted_revision=NEW_PROMOTED, last_failed_revision=NEW_FAILED)
    verdict = judge(status, Wanted(image="app:2"))
    assert verdict is not None and verdict.code == PROMOTED


def test_failure_of_the_waited_revision_after_its_older_promotion_exits_1() -> None:
    again = RevisionOutcome(hash="old", image="app:1", time="2026-01-01T13:00:00Z", message="deadline")
    status = _status(Phase.FAILED, last_promoted_revision=OLD, last_failed_revision=again)
    verdict = judge(status, Wanted(revision="old"))
    assert verdict is not None and verdict.code == FAILED
