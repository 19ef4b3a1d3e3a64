"""kopf logs in with the credentials our own clients use, whatever form the kubeconfig gives them."""

from __future__ import annotations

from pathlib import Path

import yaml

from canary.kube import load_configuration
from canary.operator.login import connection_info


def kubeconfig(tmp_path: Path, user: dict[str, str]) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))  # fmt: skip
    return str(path)


def test_a_token_only_kubeconfig_gives_kopf_the_bearer_token(tmp_path: Path) -> None:
    info = connection_info(load_configuration(kubeconfig(tmp_path, {"token": "sa-token-123"})))
    assert (info.scheme, info.token) == ("Bearer", "sa-token-123")
    assert info.server == "https://127.0.0.1:6443"


def test_no_credentials_give_kopf_none(tmp_path: Path) -> None:
    info = connection_info(load_configuration(kubeconfig(tmp_path, {})))
    assert (info.scheme, info.token) == (None, None)
