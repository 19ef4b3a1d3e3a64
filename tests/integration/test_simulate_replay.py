"""`canary simulate` replays a live release from the sandbox Prometheus's history and agrees with it.

A release runs for real (the operator, the sandbox's traffic, its Prometheus); once it has ended,
`canary simulate` gets the same Canary manifest (from a file, and by name from the cluster) and the
history from when the operator detected the new revision until now, and must reach the outcome
the operator reached, for the same reason.

The start given to `--from` is the moment the new revision was detected such that the first step
falls where the live one did: ``status.analysisStartedAt`` (when the live first step routed
traffic) minus one interval, since simulate takes that first step one interval after ``--from``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import Cluster, canary

from canary.api.duration import duration_seconds
from canary.api.models import parse_time
from canary.demo.manifests import BAD_IMAGE, GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration

CANARY_BIN = Path(sys.executable).parent / "canary"
BOOTSTRAP_TIMEOUT = 60.0
RELEASE_TIMEOUT = 90.0


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(
        [str(CANARY_BIN), "simulate", *args], capture_output=True, text=True, timeout=60, check=False
    )
    print(f"canary simulate: exit {done.returncode} in {time.monotonic() - started:.1f}s")
    print(done.stdout, done.stderr, sep="\n")
    return done


def release(cluster: Cluster, image: str, final_phase: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bootstrap, release ``image`` live until ``final_phase``; the manifest and the final status."""
    body = canary(cluster.namespace)
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(body)
    cluster.wait_phase("Initialized", BOOTSTRAP_TIMEOUT)
    cluster.set_image(image)
    status = cluster.wait_phase(final_phase, RELEASE_TIMEOUT)
    return body, status


def replay_window(body: dict[str, Any], status: dict[str, Any]) -> list[str]:
    started = status.get("analysisStartedAt")
    assert started, f"the live analysis recorded no start: {status}"
    interval = timedelta(seconds=duration_seconds(body["spec"]["analysis"]["interval"]))
    detected = parse_time(started) - interval
    return ["--from", detected.isoformat(), "--to", str(time.time())]


def test_replay_of_a_rolled_back_release_rolls_back(
    cluster: Cluster, prometheus_url: str, kubeconfig: str, tmp_path: Path
) -> None:
    body, status = release(cluster, BAD_IMAGE, "Failed")
    live_reason = status["lastFailedRevision"]["message"]
    assert "request-success-rate" in live_reason, status
    manifest = tmp_path / "canary.yaml"
    manifest.write_text(yaml.safe_dump(body))
    window = replay_window(body, status)

    done = simulate("-f", str(manifest), "--prometheus", prometheus_url, *window)
    assert done.returncode == 0, done.stderr
    outcome = [line for line in done.stdout.splitlines() if line.startswith("outcome: ")]
    assert len(outcome) == 1 and outcome[0].startswith("outcome: rolled back at "), done.stdout
    assert "request-success-rate" in outcome[0] and "2 failed checks" in outcome[0], (outcome, live_reason)

    # The same Canary read by name from the cluster, as JSON.
    by_name = simulate(
        "podinfo",
        "-n",
        cluster.namespace,
        "--kubeconfig",
        kubeconfig,
        "--prometheus",
        prometheus_url,
        *window,
        "--json",
    )
    assert by_name.returncode == 0, by_name.stderr
    result = json.loads(by_name.stdout)
    assert result["outcome"]["result"] == "rolled back", result["outcome"]
    assert result["canary"] == f"podinfo.{cluster.namespace}"
    failed = [c for step in result["steps"] for c in step["checks"] if c["verdict"] == "Failed"]
    assert failed and all(c["name"] == "request-success-rate" and c["value"] < 99 for c in failed), failed


def test_replay_of_a_promoted_release_promotes(cluster: Cluster, prometheus_url: str, tmp_path: Path) -> None:
    body, status = release(cluster, GOOD_IMAGE, "Succeeded")
    manifest = tmp_path / "canary.yaml"
    manifest.write_text(yaml.safe_dump(body))

    done = simulate(
        "-f", str(manifest), "--prometheus", prometheus_url, *replay_window(body, status), "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"]["result"] == "promoted", result["outcome"]
    weights = [step["canaryWeight"] for step in result["steps"]]
    assert 25 in weights and 50 in weights, weights
