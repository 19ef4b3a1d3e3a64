"""`canary sandbox` as a user runs it: a subprocess, a ready line, kubectl, Ctrl-C, nothing left behind."""

from __future__ import annotations

import json
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "hello", "namespace": "default"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "hello"}},
        "template": {
            "metadata": {"labels": {"app": "hello"}},
            "spec": {"containers": [{"name": "app", "image": "x/hello:1.2.3"}]},
        },
    },
}


def children(pid: int) -> list[int]:
    """Live direct children of ``pid`` (demo apps and Prometheus run in their own sessions)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no output from `canary sandbox` within {timeout}s")
    return proc.stdout.readline()


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_canary_sandbox_command(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "canary",
            "sandbox",
            "--kubeconfig",
            str(kubeconfig),
            "--rps",
            "20",
            "--ready-delay",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = read_line(proc, 60)
        assert line.startswith("sandbox ready: kubeconfig="), line
        assert kubeconfig.exists()
        assert "default" in kubectl(kubeconfig, "get", "namespaces", "-o", "name")
        kubectl(kubeconfig, "create", "-f", "-", stdin=json.dumps(DEPLOYMENT))
        deadline = time.monotonic() + 20
        while (
            kubectl(kubeconfig, "get", "deployment", "hello", "-o", "jsonpath={.status.availableReplicas}")
            != "1"
        ):
            assert time.monotonic() < deadline, "deployment never became available"
            time.sleep(0.1)
        assert "Running" in kubectl(kubeconfig, "get", "pods", "-l", "app=hello")
        crds = kubectl(kubeconfig, "get", "crd", "-o", "name")
        assert "httproutes.gateway.networking.k8s.io" in crds
        pids = children(proc.pid)
        assert len(pids) == 2, pids  # prometheus + the demo app
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert not [p for p in pids if alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_interrupt_while_starting(tmp_path: Path) -> None:
    """Ctrl-C before the ready line: exit 0 promptly, no kubeconfig, no children left."""
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "canary", "sandbox", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (pids := children(proc.pid)):  # Prometheus spawned: start is under way
            assert time.monotonic() < deadline and proc.poll() is None, "sandbox never spawned Prometheus"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert not kubeconfig.exists()
        assert not [p for p in pids if alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
