"""promote, abort, retry, pause and resume from the CLI, as a person at a terminal uses them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import Cluster, canary

from canary.demo.manifests import BAD_IMAGE, GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration


def kubectl_canary(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        ["kubectl", "canary", *args, "podinfo", "-n", cluster.namespace, "--kubeconfig", cluster.kubeconfig],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _bootstrap(cluster: Cluster, **overrides: object) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace, **overrides))  # type: ignore[arg-type]
    cluster.wait_phase("Initialized", 60)


def test_promote_skips_the_remaining_steps(cluster: Cluster) -> None:
    # A slow analysis (10 steps of 10 s, then promotion steps) that a promotion request cuts short.
    _bootstrap(cluster, interval="10s", step_weight=5, max_weight=50)
    refused = kubectl_canary(cluster, "promote")
    assert refused.returncode == 1 and "nothing to promote" in refused.stderr
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_phase("Progressing", 15)
    done = kubectl_canary(cluster, "promote")
    assert done.returncode == 0, done.stderr
    status = cluster.wait_phase("Succeeded", 60)
    assert cluster.image_of("podinfo-primary") == GOOD_IMAGE
    assert status["canaryWeight"] == 0 and "promote" in (status.get("handledRequests") or {})
    assert not any("canary weight 15" in m for m in cluster.event_messages()), (
        "the remaining steps were skipped"
    )
    cluster.wait_event("on request")


def test_abort_then_retry_then_pause_and_resume(cluster: Cluster) -> None:
    _bootstrap(cluster, interval="3s", threshold=5)
    cluster.set_image(BAD_IMAGE)
    cluster.wait_for("analysis under way", lambda s: s.get("canaryWeight", 0) > 0, 30)
    assert kubectl_canary(cluster, "abort").returncode == 0
    failed = cluster.wait_phase("Failed", 30)
    assert failed["lastFailedRevision"]["message"] == "aborted on request (canary.dev/abort)"
    assert failed["failedChecks"] < 5, "rolled back by the request, not by the checks"
    assert cluster.image_of("podinfo-primary") == STABLE_IMAGE

    assert kubectl_canary(cluster, "retry").returncode == 0
    cluster.wait_phase("Progressing", 15)
    retried = cluster.wait_phase("Failed", 90)
    assert "request-success-rate" in retried["lastFailedRevision"]["message"], (
        "the retry ran the checks again"
    )

    assert kubectl_canary(cluster, "pause").returncode == 0
    assert cluster.canary()["spec"]["suspend"] is True
    cluster.wait_for("suspended", lambda s: "suspended" in str(s.get("message")), 30)
    assert kubectl_canary(cluster, "resume").returncode == 0
    assert cluster.canary()["spec"]["suspend"] is False
