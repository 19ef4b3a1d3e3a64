"""`canary get`: the table of Canaries, against the API emulator (no operator: statuses are written here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiextensionsV1Api

from canary.api.crdgen import all_crds
from canary.api.duration import human_duration
from canary.api.models import GROUP, PLURAL, VERSION
from canary.cli.get import age, checks_cell, table
from canary.cli.main import main
from canary.kube import KubeClients, load_clients
from canary.sandbox.apiserver import ApiServerThread

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def body(namespace: str, name: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2024-05-01T11:56:55Z"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "analysis": {"interval": "10s", "stepWeight": 10, "maxWeight": 50},
        },
        **({"status": status} if status is not None else {}),
    }


PROGRESSING = {
    "phase": "Progressing",
    "canaryWeight": 20,
    "revision": {"hash": "6d4f8c9b7", "image": "ghcr.io/stefanprodan/podinfo:6.0.1"},
    "lastPromotedRevision": {"hash": "5c8d7f6a1", "image": "ghcr.io/stefanprodan/podinfo:6.0.0"},
    "checks": [
        {"name": "request-success-rate", "verdict": "Successful", "value": 99.5},
        {"name": "request-duration", "verdict": "Error", "value": None},
    ],
}


def test_table_columns_and_cells() -> None:
    text = table([body("test", "podinfo", PROGRESSING), body("test", "api")], now=NOW)
    header, first, second = text.splitlines()
    assert header.split() == ["NAME", "PHASE", "WEIGHT", "REVISION", "LAST", "PROMOTED", "CHECKS", "AGE"]
    assert first.split() == ["api", "-", "0", "-", "-", "-", "3m5s"], "sorted by name"
    assert second.split() == [
        "podinfo",
        "Progressing",
        "20",
        "ghcr.io/stefanprodan/podinfo:6.0.1",
        "ghcr.io/stefanprodan/podinfo:6.0.0",
        "request-success-rate=99.50(Successful),request-duration=-(Error)",
        "3m5s",
    ]
    # Columns are aligned: every cell starts where its header does, three spaces after the widest cell.
    for column in ("PHASE", "WEIGHT", "AGE"):
        at = header.index(column)
        assert first[at - 3 : at] == "   " and first[at] != " " and second[at] != " "
    assert "\x1b" not in text


def test_revision_falls_back_to_the_hash_and_all_namespaces_sorts_by_namespace() -> None:
    status = {
        "phase": "Initialized",
        "revision": {"hash": "5c8d7f6a1"},
        "lastPromotedRevision": {"hash": "5c8"},
    }
    text = table([body("b", "web", status), body("a", "web")], all_namespaces=True, now=NOW)
    lines = [line.split() for line in text.splitlines()]
    assert lines[0][:2] == ["NAMESPACE", "NAME"]
    assert [line[0] for line in lines[1:]] == ["a", "b"]
    assert lines[2][:6] == ["b", "web", "Initialized", "0", "5c8d7f6a1", "5c8"]


def test_phase_is_coloured_only_when_asked_and_alignment_survives() -> None:
    plain = table([body("t", "podinfo", PROGRESSING)], now=NOW).splitlines()
    coloured = table([body("t", "podinfo", PROGRESSING)], colour=True, now=NOW).splitlines()
    assert coloured[0] == plain[0], "the header is never coloured"
    assert "\x1b[33mProgressing\x1b[0m" in coloured[1]
    assert coloured[1].replace("\x1b[33m", "").replace("\x1b[0m", "") == plain[1]


def test_checks_and_age_formats() -> None:
    assert checks_cell([]) == "-"
    assert checks_cell([{"name": "x", "verdict": "Failed", "value": 3}]) == "x=3.00(Failed)"
    assert [human_duration(s) for s in (0, 119, 120, 185, 600, 3 * 3600 + 60, 30 * 3600, 3 * 86400)] == [
        "0s",
        "119s",
        "2m",
        "3m5s",
        "10m",
        "3h1m",
        "30h",
        "3d",
    ]
    assert age(None) == "<unknown>"
    assert age("2024-05-01T11:00:00Z", NOW) == "60m"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, KubeClients]]:
    kubeconfig = tmp_path_factory.mktemp("get") / "kubeconfig.yaml"
    with ApiServerThread(history_size=64) as server:
        server.write_kubeconfig(kubeconfig, namespace="team-a")
        clients = load_clients(str(kubeconfig))
        extensions = ApiextensionsV1Api(clients.api)
        for crd in all_crds():
            extensions.create_custom_resource_definition(crd, _preload_content=False)
        for namespace in ("team-a", "team-b"):
            clients.core.create_namespace(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        for namespace, name, status in (
            ("team-a", "podinfo", PROGRESSING),
            ("team-a", "api", None),
            ("team-b", "web", {"phase": "Succeeded", "canaryWeight": 0}),
        ):
            obj = body(namespace, name)
            del obj["metadata"]["creationTimestamp"]
            clients.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)
            if status is not None:
                clients.custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, {"status": status}
                )
        yield str(kubeconfig), clients


def get(capsys: pytest.CaptureFixture[str], kubeconfig: str, *args: str) -> tuple[int, list[str], str]:
    code = main(["get", "--kubeconfig", kubeconfig, *args])
    out, err = capsys.readouterr()
    return code, [line.split() for line in out.splitlines()], err


def test_get_lists_the_context_namespace(
    api: tuple[str, KubeClients], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = get(capsys, api[0])
    assert code == 0
    assert [r[0] for r in rows] == ["NAME", "api", "podinfo"]
    assert rows[2][1:3] == ["Progressing", "20"]
    assert rows[2][-1].endswith("s"), "a fresh object's age is in seconds"


def test_get_one_by_name_in_another_namespace(
    api: tuple[str, KubeClients], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = get(capsys, api[0], "web", "-n", "team-b")
    assert code == 0
    assert rows[1][:5] == ["web", "Succeeded", "0", "-", "-"]


def test_get_all_namespaces(api: tuple[str, KubeClients], capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, _ = get(capsys, api[0], "-A")
    assert code == 0
    assert [r[:2] for r in rows] == [
        ["NAMESPACE", "NAME"],
        ["team-a", "api"],
        ["team-a", "podinfo"],
        ["team-b", "web"],
    ]


def test_get_refusals_exit_1_with_the_server_message(
    api: tuple[str, KubeClients], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, err = get(capsys, api[0], "absent")
    assert (code, rows) == (1, [])
    assert err == 'canary get: canaries.canary.dev "absent" not found (NotFound)\n'
    code, rows, err = get(capsys, api[0], "web", "-A")
    assert code == 1 and "across all namespaces" in err


def test_get_empty_namespace_says_so(
    api: tuple[str, KubeClients], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, err = get(capsys, api[0], "-n", "empty")
    assert (code, rows) == (0, [])
    assert err == "No canaries found in empty namespace.\n"


def test_get_unreachable_server_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    code, _, err = get(capsys, str(kubeconfig))
    assert code == 1 and err.startswith("canary get: cannot reach the API server"), err


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_finds_the_plugin_on_path(api: tuple[str, KubeClients]) -> None:
    """`kubectl canary ...` runs the installed `kubectl-canary` found on PATH, --help included."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    helped = subprocess.run(
        ["kubectl", "canary", "--help"], capture_output=True, text=True, timeout=60, env=env
    )
    assert helped.returncode == 0, helped.stderr
    for verb in ("status", "wait", "get", "validate"):
        assert verb in helped.stdout
    listed = subprocess.run(
        ["kubectl", "canary", "get", "-A", "--kubeconfig", api[0]],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:2] for line in listed.stdout.splitlines()][1:] == [
        ["team-a", "api"],
        ["team-a", "podinfo"],
        ["team-b", "web"],
    ]
