"""Deleting a Canary mid-analysis, end to end: what is left serving, and that deletion completes.

Without `revertOnDeletion` the target, which may run a revision that never passed, is parked at
zero replicas; with it the target gets the primary's validated template and replicas and the
HTTPRoute sends everything to the apex Service, so traffic keeps flowing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from harness import APP, Cluster, Prometheus, canary, delta, total
from kubernetes.client.exceptions import ApiException

from canary.api.models import GROUP, PLURAL, VERSION
from canary.demo.manifests import GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration

PRIMARY = f"{APP}-primary"


def start_release(cluster: Cluster, **canary_args: Any) -> None:
    """Bootstrap, then a new image analysed up to a weight above zero."""
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(
        canary(cluster.namespace, interval="2s", step_weight=20, max_weight=60, **canary_args)
    )
    cluster.wait_phase("Initialized", 60)
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_for(
        "weight > 0", lambda s: s.get("phase") == "Progressing" and s.get("canaryWeight", 0) >= 20, 40
    )
    assert cluster.route_weights()[f"{APP}-canary"] > 0


def delete_canary(cluster: Cluster) -> None:
    """`kubectl delete canary` returns once the finalizer ran and the object is gone."""
    result = cluster.kubectl("delete", "canary", APP, "--wait=true", "--timeout=60s", timeout=75)
    assert result.returncode == 0, result.stderr

    def gone() -> bool:
        try:
            cluster.clients.custom.get_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, PLURAL, APP
            )
        except ApiException as exc:
            return exc.status == 404
        return False

    Cluster.eventually("the Canary gone", gone, bool, 30)


def test_deletion_without_revert_parks_the_unvalidated_target(cluster: Cluster) -> None:
    start_release(cluster)
    delete_canary(cluster)
    cluster.eventually("the target scaled to zero", lambda: cluster.replicas_of(APP), lambda n: n == 0, 30)
    assert cluster.image_of(APP) == GOOD_IMAGE, "the target keeps its template, it is only parked"


def test_deletion_with_revert_gives_target_the_validated_revision(
    cluster: Cluster, prometheus: Prometheus
) -> None:
    start_release(cluster, revertOnDeletion=True)
    primary_replicas = cluster.replicas_of(PRIMARY)
    before = prometheus.served()
    delete_canary(cluster)

    cluster.eventually(
        "the target on the primary's image", lambda: cluster.image_of(APP), lambda i: i == STABLE_IMAGE, 30
    )
    assert cluster.replicas_of(APP) == primary_replicas
    cluster.eventually(
        "the route sending all traffic to the apex Service",
        lambda: [(b["name"], b.get("weight", 1)) for b in cluster.route()["spec"]["rules"][0]["backendRefs"]],
        lambda refs: refs == [(APP, 100)],
        30,
    )

    def deployments() -> set[str]:
        listing = cluster.clients.apps.list_namespaced_deployment(cluster.namespace)
        return {str(d.metadata.name) for d in listing.items if d.metadata is not None}

    cluster.eventually("the primary garbage-collected", deployments, lambda names: names == {APP}, 30)

    # Traffic keeps flowing through the apex Service to the restored target, all of it 2xx.
    settled = prometheus.served()

    def served_since() -> float:
        return total(delta(settled, prometheus.served()), workload=APP, service=APP, codes="2")

    Cluster.eventually("2xx from the target via the apex Service", served_since, lambda n: n >= 10, 40)
    after = delta(settled, prometheus.served(not_before=time.time() + 1))
    assert total(after, codes="5") == 0, f"5xx after the deletion settled: {after}"
    during = delta(before, prometheus.served())
    print(f"served from the deletion on: {during}")
    assert total(during, codes="5") == 0, f"5xx while the deletion was reverting the target: {during}"
