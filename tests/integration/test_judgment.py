"""The judge, minimum samples and revision-scoped windows, end to end on the sandbox.

The real operator measures the sandbox's real Prometheus; the sandbox answers 50% 5xx for image
tags ending in ``-bad``. What a user sees is asserted: phase, failed checks, Events, the judge's
status, and each check's window and samples.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from harness import Cluster, canary

from canary.api.duration import duration_seconds
from canary.demo.manifests import BAD_IMAGE, GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration

BOOTSTRAP_TIMEOUT = 60.0
RELEASE_TIMEOUT = 120.0


def bootstrap(cluster: Cluster, body: dict[str, Any]) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(body)
    cluster.wait_phase("Initialized", BOOTSTRAP_TIMEOUT)


def with_analysis(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body["spec"]["analysis"].update(fields)
    return body


def test_judge_rolls_back_a_bad_release_before_the_threshold_mode_could(cluster: Cluster) -> None:
    """With a 30 s interval and threshold 2, checks alone need a minute after the first step;
    the judge looks every 2 s and rolls back before the first check is even due."""
    interval = 30.0
    body = with_analysis(
        canary(cluster.namespace, interval="30s", threshold=2, metric_interval="30s"),
        judge={"interval": "2s"},
    )
    bootstrap(cluster, body)
    cluster.set_image(BAD_IMAGE)
    cluster.wait_for("traffic on the canary", lambda s: s.get("canaryWeight", 0) > 0, interval + 30)
    shifted = time.monotonic()
    status = cluster.wait_phase("Failed", interval + 30)
    decided = time.monotonic() - shifted
    print(f"judge rolled back {decided:.1f}s after traffic reached the canary (interval {interval:g}s)")
    assert decided < interval, "rolled back before the first check was due"
    assert status["failedChecks"] == 0, "no threshold check had to fail"
    judge = status["judge"]
    assert judge["verdict"] == "Regression", judge
    assert "canary error ratio" in judge["message"], judge
    assert status["lastFailedRevision"]["message"].startswith("judge: canary error ratio")
    assert cluster.route_weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert cluster.image_of("podinfo-primary") == STABLE_IMAGE
    messages = cluster.wait_event("the judge found a regression")
    assert any(m.startswith("Canary failed!") for m in messages), messages


def test_judge_promotes_a_good_release(cluster: Cluster) -> None:
    body = with_analysis(canary(cluster.namespace), judge={})
    bootstrap(cluster, body)
    cluster.set_image(GOOD_IMAGE)
    status = cluster.wait_phase("Succeeded", RELEASE_TIMEOUT)
    assert cluster.image_of("podinfo-primary") == GOOD_IMAGE
    assert status["judge"]["verdict"] != "Regression", status["judge"]
    assert status["judge"]["errors"]["canaryRequests"] > 0, "the judge saw the canary's traffic"


def test_quiet_traffic_waits_for_samples_instead_of_failing(cluster: Cluster) -> None:
    """minSamples above what one interval brings: checks are Inconclusive (never a failed check)
    and the window grows until it holds enough requests; then the release goes on."""
    body = canary(cluster.namespace, interval="3s", threshold=1)
    for metric in body["spec"]["analysis"]["metrics"]:
        metric["minSamples"] = 120
    bootstrap(cluster, body)
    cluster.set_image(GOOD_IMAGE)
    waiting = cluster.wait_for(
        "an Inconclusive check waiting for samples",
        lambda s: any(
            c.get("verdict") == "Inconclusive" and c.get("minSamples") == 120 for c in s.get("checks", [])
        ),
        RELEASE_TIMEOUT,
    )
    short = next(c for c in waiting["checks"] if c["verdict"] == "Inconclusive")
    assert short["samples"] < 120 and "of 120 samples" in short["message"], short
    assert waiting["failedChecks"] == 0
    status = cluster.wait_phase("Succeeded", RELEASE_TIMEOUT)
    assert status["failedChecks"] == 0, "threshold 1: a single counted failure would have rolled it back"
    judged = {c["name"]: c for c in status["checks"]}
    assert all(c["samples"] >= 120 for c in judged.values()), judged
    assert any("of 120 samples" in m for m in cluster.event_messages())


def test_a_release_right_after_another_is_judged_on_its_own_traffic(cluster: Cluster) -> None:
    """The metric window (10s) is longer than the step (3s): it is cut to the step, so the bad
    release's first check sees only its own 5xx, not the good release's traffic before it."""
    bootstrap(cluster, canary(cluster.namespace, interval="3s", metric_interval="10s"))
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_phase("Succeeded", RELEASE_TIMEOUT)
    cluster.set_image(BAD_IMAGE)
    first = cluster.wait_for(
        "the bad release's first check",
        lambda s: (s.get("revision") or {}).get("image") == BAD_IMAGE and bool(s.get("checks")),
        RELEASE_TIMEOUT,
    )
    rate = next(c for c in first["checks"] if c["name"] == "request-success-rate")
    assert rate["verdict"] == "Failed", rate
    assert rate["scope"] == "Revision", rate
    window = duration_seconds(rate["window"])
    assert window <= 5, f"the window is cut to the step, not the metric's 10s: {rate}"
    cluster.wait_phase("Failed", RELEASE_TIMEOUT)
