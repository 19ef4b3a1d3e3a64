"""kopf's login: the same credentials our own clients use, so both reach the same cluster."""

from __future__ import annotations

from typing import Any

import kopf
from kubernetes import client

from canary.kube import load_configuration
from canary.operator.config import OperatorConfig


def login(*, memo: Any, **_: Any) -> kopf.ConnectionInfo:
    """In-cluster, else --kubeconfig, else $KUBECONFIG: one way to find a cluster."""
    config: OperatorConfig = memo["config"]
    return connection_info(load_configuration(config.kubeconfig))


def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """The same credentials in kopf's terms, so kopf's watches and our clients reach the same cluster."""
    # The client keeps a kubeconfig's token under "BearerToken" (older releases: "authorization"),
    # with or without its "Bearer" prefix; in-cluster, this call also re-reads a rotated token file.
    authorization = configuration.get_api_key_with_prefix("BearerToken", alias="authorization") or ""
    scheme, _, token = authorization.rpartition(" ")
    if token and not scheme:
        scheme = "Bearer"
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert or None,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        username=configuration.username or None,
        password=configuration.password or None,
        certificate_path=configuration.cert_file or None,
        private_key_path=configuration.key_file or None,
    )
