"""Alerts from a running operator: a release's alert-worthy Events reach each AlertProvider it admits."""

from __future__ import annotations

from typing import Any

import pytest
from harness import Cluster, canary
from test_webhook_calls import Receiver

from canary.api.models import GROUP, VERSION
from canary.demo.manifests import BAD_IMAGE, GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration


def provider(cluster: Cluster, name: str, address: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AlertProvider",
        "metadata": {"name": name, "namespace": cluster.namespace},
        "spec": {"type": "webhook", "address": address},
    }
    cluster.clients.custom.create_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "alertproviders", body
    )


def test_alerts_follow_the_release_filtered_by_severity(cluster: Cluster) -> None:
    receiver = Receiver()
    receiver.thread.start()
    try:
        provider(cluster, "everything", f"{receiver.url}/info")
        provider(cluster, "on-call", f"{receiver.url}/error")
        cluster.create_deployment(STABLE_IMAGE)
        spec: dict[str, Any] = canary(cluster.namespace, interval="2s", threshold=2)
        spec["spec"]["analysis"]["alerts"] = [
            {"name": "team", "severity": "info", "providerRef": {"name": "everything"}},
            {"name": "pager", "severity": "error", "providerRef": {"name": "on-call"}},
        ]
        cluster.create_canary(spec)
        cluster.wait_phase("Initialized", 60)
        cluster.set_image(GOOD_IMAGE)
        cluster.wait_phase("Succeeded", 90)
        cluster.set_image(BAD_IMAGE)
        cluster.wait_phase("Failed", 90)

        def messages(path: str) -> list[str]:
            return [str(body.get("message")) for body in receiver.bodies(path)]

        cluster.eventually(
            "the rollback alert on both providers",
            lambda: (messages("/info"), messages("/error")),
            lambda seen: (
                any("Rolling back" in m for m in seen[0]) and any("Rolling back" in m for m in seen[1])
            ),
            20,
        )
        info, error = messages("/info"), messages("/error")
        assert any(m.startswith("Initialization done!") for m in info), info
        assert any(m.startswith("New revision detected!") for m in info), info
        assert any(m.startswith("Promotion completed!") for m in info), info
        assert all(body["severity"] == "error" for body in receiver.bodies("/error")), error
        assert not any(m.startswith(("New revision", "Promotion completed")) for m in error), error
        assert receiver.bodies("/error")[0]["namespace"] == cluster.namespace
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
