"""`canary wait` / `kubectl canary wait` as a CI job runs it: right after `kubectl set image`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import Cluster, canary

from canary.demo.manifests import BAD_IMAGE, GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration

WAIT_TIMEOUT = 120.0


def canary_wait(
    cluster: Cluster, *args: str, timeout: float = WAIT_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """The kubectl plugin, found by the real kubectl on PATH, as a CI job would call it."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        ["kubectl", "canary", "wait", *args, "--kubeconfig", cluster.kubeconfig],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        env=env,
    )


def _bootstrap(cluster: Cluster) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace))
    cluster.wait_phase("Initialized", 60)


def test_wait_right_after_set_image_returns_that_release_outcome(cluster: Cluster) -> None:
    _bootstrap(cluster)
    cluster.set_image(GOOD_IMAGE)
    promoted = canary_wait(cluster, "podinfo", "-n", cluster.namespace, "--timeout", "2m")
    assert promoted.returncode == 0, promoted.stderr
    assert cluster.image_of("podinfo-primary") == GOOD_IMAGE, "exit 0 only once the primary runs it"
    assert cluster.status()["phase"] == "Succeeded"

    cluster.set_image(BAD_IMAGE)
    failed = canary_wait(cluster, "podinfo", "-n", cluster.namespace, "--image", BAD_IMAGE, "--timeout", "2m")
    assert failed.returncode == 1, (failed.stdout, failed.stderr)
    assert "request-success-rate" in failed.stderr and "< 99" in failed.stderr, failed.stderr
    assert cluster.image_of("podinfo-primary") == GOOD_IMAGE


def test_wait_exit_codes_for_missing_objects_and_timeout(cluster: Cluster) -> None:
    missing = canary_wait(cluster, "absent", "-n", cluster.namespace, "--timeout", "5s")
    assert missing.returncode == 3 and "not found" in missing.stderr
    _bootstrap(cluster)
    timed_out = canary_wait(
        cluster, "podinfo", "-n", cluster.namespace, "--image", "never:1", "--timeout", "2s"
    )
    assert timed_out.returncode == 2 and "timed out after 2s" in timed_out.stderr, timed_out.stderr
    settled = canary_wait(cluster, "podinfo", "-n", cluster.namespace, "--timeout", "5s")
    assert settled.returncode == 0, "the current template is the promoted one"
