"""The operator reacts to its Deployments at once, not at the next analysis interval.

With a 30 s interval, a new revision must leave the settled phase, and a deleted primary must be
recreated, within a few seconds: the Deployments are watched and wake their Canary's daemon.
"""

from __future__ import annotations

import time

import pytest
from harness import Cluster, canary

from canary.demo.manifests import GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration

LONG_INTERVAL = "30s"
#: Far below the interval; generous for a loaded 2-core machine.
REACTION_TIMEOUT = 10.0


def _bootstrap(cluster: Cluster) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace, interval=LONG_INTERVAL))
    cluster.wait_phase("Initialized", 60)


def test_a_new_revision_is_picked_up_within_seconds(cluster: Cluster) -> None:
    _bootstrap(cluster)
    started = time.monotonic()
    cluster.set_image(GOOD_IMAGE)
    status = cluster.wait_for(
        "the new revision under analysis",
        lambda s: s.get("phase") == "Progressing" and (s.get("revision") or {}).get("image") == GOOD_IMAGE,
        REACTION_TIMEOUT,
    )
    assert time.monotonic() - started < REACTION_TIMEOUT
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "Progressing")


def test_a_deleted_primary_is_recreated_within_seconds(cluster: Cluster) -> None:
    _bootstrap(cluster)
    cluster.clients.apps.delete_namespaced_deployment("podinfo-primary", cluster.namespace)
    cluster.eventually(
        "podinfo-primary recreated",
        lambda: cluster.image_of("podinfo-primary"),
        lambda image: image == STABLE_IMAGE,
        REACTION_TIMEOUT,
    )
