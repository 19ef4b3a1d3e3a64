"""`canary get` / `kubectl canary get` against the operator: the table shows what the status says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import Cluster, canary

from canary.demo.manifests import GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
HEADER = ["NAME", "PHASE", "WEIGHT", "REVISION", "LAST PROMOTED", "CHECKS", "AGE"]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    """A command as a user runs it, with the venv's bin on PATH (where kubectl finds the plugin)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, env=env)


def rows(proc: subprocess.CompletedProcess[str], *, all_namespaces: bool = False) -> list[dict[str, str]]:
    """The table as dicts by column (cells hold no spaces; LAST PROMOTED is one header of two words)."""
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = ["NAMESPACE", *HEADER] if all_namespaces else HEADER
    assert lines[0].replace("LAST PROMOTED", "LAST_PROMOTED").split() == [
        h.replace(" ", "_") for h in header
    ], lines[0]
    return [dict(zip(header, line.split(), strict=True)) for line in lines[1:]]


def shown(status: dict[str, Any]) -> tuple[str, str]:
    return str(status.get("phase")), str(int(status.get("canaryWeight") or 0))


def test_get_shows_phase_weight_revision_and_checks(cluster: Cluster) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace, interval="5s"))
    cluster.wait_phase("Initialized", 60)

    settled = rows(run("canary", "get", "-n", cluster.namespace, "--kubeconfig", cluster.kubeconfig))
    assert [(r["NAME"], r["PHASE"], r["WEIGHT"]) for r in settled] == [("podinfo", "Initialized", "0")]
    assert settled[0]["LAST PROMOTED"] == STABLE_IMAGE

    cluster.set_image(GOOD_IMAGE)
    before = cluster.wait_for(
        "a step with checks", lambda s: int(s.get("canaryWeight") or 0) > 0 and bool(s.get("checks")), 60
    )
    table = rows(run("canary", "get", "podinfo", "-n", cluster.namespace, "--kubeconfig", cluster.kubeconfig))
    after = cluster.status()
    (row,) = table
    assert (row["PHASE"], row["WEIGHT"]) in {shown(before), shown(after)}, (row, before, after)
    assert row["REVISION"] == GOOD_IMAGE
    assert row["LAST PROMOTED"] == STABLE_IMAGE
    assert "request-success-rate=" in row["CHECKS"] and "(" in row["CHECKS"], row


def test_kubectl_canary_get_all_namespaces_lists_it_with_its_namespace(cluster: Cluster) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace))
    cluster.wait_phase("Initialized", 60)
    listed = rows(
        run("kubectl", "canary", "get", "-A", "--kubeconfig", cluster.kubeconfig), all_namespaces=True
    )
    ours = [r for r in listed if r["NAMESPACE"] == cluster.namespace]
    assert [(r["NAME"], r["PHASE"], r["WEIGHT"]) for r in ours] == [("podinfo", "Initialized", "0")], listed
    keys = [(r["NAMESPACE"], r["NAME"]) for r in listed]
    assert keys == sorted(keys)


def test_kubectl_finds_the_plugin_for_help() -> None:
    helped = run("kubectl", "canary", "--help")
    assert helped.returncode == 0, helped.stderr
    assert all(verb in helped.stdout for verb in ("status", "wait", "get", "validate"))
