"""`canary status NAME --watch` in a real terminal (tmux): it renders, then follows the Canary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Http
from waiting import eventually

from canary.api.crdgen import canary_crd

TMUX = shutil.which("tmux") or "/usr/bin/tmux"
CANARIES = "/apis/canary.dev/v1alpha1/namespaces/default/canaries"


@pytest.fixture
def session() -> Iterator[str]:
    assert os.path.exists(TMUX), f"{TMUX} missing: run `make install`"
    name = f"canary-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run([TMUX, "kill-session", "-t", name], capture_output=True, check=False)


def screen(session: str) -> str:
    return subprocess.run(
        [TMUX, "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=True
    ).stdout


def test_watch_renders_and_follows_status_changes(http: Http, kubeconfig: Path, session: str) -> None:
    assert (
        http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", canary_crd()).status_code == 201
    )
    body = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": "podinfo"},
        "spec": {
            "provider": "kubernetes",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "analysis": {"interval": "1m", "iterations": 3},
        },
    }
    created = eventually(
        "the CRD served", lambda: http.post(CANARIES, body), lambda r: r.status_code == 201, 10
    )
    assert created.status_code == 201, created.text
    status = {
        "status": {"phase": "Progressing", "canaryWeight": 0, "iterations": 1, "message": "iteration 1/3"}
    }
    assert http.patch(f"{CANARIES}/podinfo/status", status).status_code == 200

    command = [str(Path(sys.executable).parent / "canary"), "status", "podinfo", "-n", "default"]
    command += ["--kubeconfig", str(kubeconfig), "--watch", "--interval", "0.3"]
    subprocess.run(
        [TMUX, "new-session", "-d", "-s", session, "-x", "140", "-y", "45", " ".join(command)], check=True
    )
    shown = eventually("the first frame", lambda: screen(session), lambda s: "Progressing" in s, 20)
    assert "podinfo" in shown and "iteration 1/3" in shown, shown

    status = {"status": {"phase": "Succeeded", "iterations": 0, "message": "Promotion completed!"}}
    assert http.patch(f"{CANARIES}/podinfo/status", status).status_code == 200
    followed = eventually("the update", lambda: screen(session), lambda s: "Succeeded" in s, 20)
    assert "Promotion completed!" in followed, followed
