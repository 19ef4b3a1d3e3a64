"""Every verb picks its namespace as kubectl does: -n, else the context's, else default."""

from __future__ import annotations

from pathlib import Path

import yaml

from canary.cli.kubeconfig import clients_and_namespace


def _kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "config"
    cluster = {"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}
    user = {"name": "u", "user": {"token": "t"}}
    contexts = [
        {"name": "team", "context": {"cluster": "c", "user": "u", "namespace": "payments"}},
        {"name": "bare", "context": {"cluster": "c", "user": "u"}},
    ]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [user],
        "contexts": contexts,
    }
    path.write_text(yaml.safe_dump({**config, "current-context": "team"}))
    return str(path)


def test_namespace_comes_from_the_flag_then_the_context_then_default(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path)
    assert clients_and_namespace(kubeconfig, None, None)[1] == "payments"
    assert clients_and_namespace(kubeconfig, None, "web")[1] == "web"
    assert clients_and_namespace(kubeconfig, "bare", None)[1] == "default"
    clients, _ = clients_and_namespace(kubeconfig, "bare", None)
    assert clients.api.configuration.host == "http://127.0.0.1:1"
