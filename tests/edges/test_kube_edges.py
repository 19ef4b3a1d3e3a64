"""Targets and routers against the Kubernetes API emulator (real HTTP, real resourceVersions)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from edges_helpers import NAMESPACE, canary_body, deployment_body
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from canary.api.models import Canary
from canary.kube import KubeClients, call_json, read_optional
from canary.routers.factory import router_for
from canary.routers.gatewayapi import GATEWAY_API_GROUP, GatewayAPIRouter
from canary.targets.base import TargetError
from canary.targets.factory import target_for


def _create_canary(kube: KubeClients, **spec: Any) -> Canary:
    stored = call_json(
        kube.custom.create_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        NAMESPACE,
        "canaries",
        canary_body(**spec),
    )
    return Canary.from_body(stored)


def _deployment(kube: KubeClients, name: str) -> dict[str, Any] | None:
    return read_optional(kube.apps.read_namespaced_deployment, name, NAMESPACE)


def _route(kube: KubeClients, name: str = "podinfo") -> dict[str, Any]:
    return call_json(
        kube.custom.get_namespaced_custom_object, GATEWAY_API_GROUP, "v1", NAMESPACE, "httproutes", name
    )


def _weights(route: dict[str, Any]) -> dict[str, int]:
    return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}


def test_initialize_creates_primary_services_and_route(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(replicas=2))
    canary = _create_canary(kube)
    owner = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "Canary",
        "name": "podinfo",
        "uid": canary.metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    target = target_for(canary, kube)
    router = router_for(canary, kube, target.pod_selector)
    for _ in range(2):  # idempotent
        target.initialize(canary)
        router.reconcile(canary)

    primary = _deployment(kube, "podinfo-primary")
    assert primary is not None
    assert primary["metadata"]["ownerReferences"] == [owner]
    assert primary["spec"]["replicas"] == 2
    assert primary["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert primary["spec"]["template"]["metadata"]["labels"] == {"app": "podinfo-primary"}

    selectors = {}
    for name in ("podinfo", "podinfo-primary", "podinfo-canary"):
        service = call_json(kube.core.read_namespaced_service, name, NAMESPACE)
        assert service["metadata"]["ownerReferences"] == [owner]
        assert service["spec"]["ports"][0]["port"] == 9898
        selectors[name] = service["spec"]["selector"]
    assert selectors == {
        "podinfo": {"app": "podinfo-primary"},
        "podinfo-primary": {"app": "podinfo-primary"},
        "podinfo-canary": {"app": "podinfo"},
    }

    route = _route(kube)
    assert route["metadata"]["ownerReferences"] == [owner]
    assert route["spec"]["hostnames"] == ["app.example.com"]
    assert _weights(route) == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert router.get_routes(canary) == (100, 0)


def test_set_routes_is_stored_and_survives_reconcile(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body())
    canary = _create_canary(kube)
    router = router_for(canary, kube, target_for(canary, kube).pod_selector)
    router.reconcile(canary)
    router.set_routes(canary, 80, 20)
    assert _weights(_route(kube)) == {"podinfo-primary": 80, "podinfo-canary": 20}
    assert router.get_routes(canary) == (80, 20)
    version = _route(kube)["metadata"]["resourceVersion"]
    router.reconcile(canary)  # unchanged spec: no write, weights kept
    assert _route(kube)["metadata"]["resourceVersion"] == version
    assert router.get_routes(canary) == (80, 20)


def test_reconcile_leaves_server_defaults_alone(kube: KubeClients) -> None:
    """Fields the API server or another controller filled in do not make every reconcile rewrite the route."""
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body())
    canary = _create_canary(kube)
    router = router_for(canary, kube, target_for(canary, kube).pod_selector)
    router.reconcile(canary)
    route = _route(kube)
    route["spec"]["rules"][0]["timeouts"] = {"request": "10s"}
    stored = call_json(
        kube.custom.replace_namespaced_custom_object,
        GATEWAY_API_GROUP,
        "v1",
        NAMESPACE,
        "httproutes",
        "podinfo",
        route,
    )
    router.reconcile(canary)
    assert _route(kube)["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


def test_reconcile_updates_drifted_service_and_route(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body())
    canary = _create_canary(kube)
    router = router_for(canary, kube, target_for(canary, kube).pod_selector)
    router.reconcile(canary)
    router.set_routes(canary, 60, 40)
    service = call_json(kube.core.read_namespaced_service, "podinfo", NAMESPACE)
    service["spec"]["selector"] = {"app": "something-else"}
    call_json(kube.core.replace_namespaced_service, "podinfo", NAMESPACE, service)
    route = _route(kube)
    route["spec"]["hostnames"] = ["drifted.example.com"]
    call_json(
        kube.custom.replace_namespaced_custom_object,
        GATEWAY_API_GROUP,
        "v1",
        NAMESPACE,
        "httproutes",
        "podinfo",
        route,
    )
    router.reconcile(canary)
    assert call_json(kube.core.read_namespaced_service, "podinfo", NAMESPACE)["spec"]["selector"] == {
        "app": "podinfo-primary"
    }
    assert _route(kube)["spec"]["hostnames"] == ["app.example.com"]
    assert router.get_routes(canary) == (60, 40), "reconcile keeps the weights it found"


def test_promote_copies_image_and_scale_to_zero(kube: KubeClients) -> None:
    call_json(
        kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(image="podinfo:6.0.0", replicas=3)
    )
    canary = _create_canary(kube)
    target = target_for(canary, kube)
    target.initialize(canary)
    before = target.observe(canary).revision

    deployment = _deployment(kube, "podinfo")
    assert deployment is not None
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "podinfo:6.0.1"
    call_json(kube.apps.replace_namespaced_deployment, "podinfo", NAMESPACE, deployment)
    after = target.observe(canary).revision
    assert before is not None and after is not None
    assert after.hash != before.hash and after.image == "podinfo:6.0.1"

    target.promote(canary, after.hash)
    primary = _deployment(kube, "podinfo-primary")
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:6.0.1"
    assert primary["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}

    target.scale_to_zero(canary)
    scaled = _deployment(kube, "podinfo")
    assert scaled is not None and scaled["spec"]["replicas"] == 0
    target.scale_up(canary)
    restored = _deployment(kube, "podinfo")
    assert restored is not None and restored["spec"]["replicas"] == 3, "restored from the primary's replicas"


def test_observe_reports_missing_and_rollout_progress(kube: KubeClients) -> None:
    canary = _create_canary(kube)
    target = target_for(canary, kube)
    observation = target.observe(canary)
    assert observation.revision is None
    assert observation.target.message == "deployment podinfo.test not found"
    assert not observation.primary.exists
    with pytest.raises(TargetError, match=r"deployment podinfo\.test not found"):
        target.initialize(canary)

    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(replicas=1))
    target.initialize(canary)
    status = {
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 0}
    }
    call_json(kube.apps.patch_namespaced_deployment_status, "podinfo", NAMESPACE, status)
    observation = target.observe(canary)
    assert observation.target.exists and not observation.target.ready
    assert (
        observation.target.message == "waiting for rollout to finish: 0 of 1 updated replicas are available"
    )

    status["status"]["availableReplicas"] = 1
    for name in ("podinfo", "podinfo-primary"):
        call_json(kube.apps.patch_namespaced_deployment_status, name, NAMESPACE, status)
    observation = target.observe(canary)
    assert observation.target.ready and observation.primary.ready


def test_hpa_is_cloned_for_the_primary(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(replicas=0))
    hpa = {
        "metadata": {"name": "podinfo", "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "minReplicas": 2,
            "maxReplicas": 4,
        },
    }
    call_json(kube.autoscaling.create_namespaced_horizontal_pod_autoscaler, NAMESPACE, hpa)
    canary = _create_canary(
        kube,
        autoscalerRef={"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "podinfo"},
    )
    target_for(canary, kube).initialize(canary)
    primary_hpa = call_json(
        kube.autoscaling.read_namespaced_horizontal_pod_autoscaler, "podinfo-primary", NAMESPACE
    )
    assert primary_hpa["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
    primary = _deployment(kube, "podinfo-primary")
    assert primary is not None and primary["spec"]["replicas"] == 2, "HPA minimum when the target has none"


def test_promotion_syncs_the_primary_hpa_and_survives_a_deleted_one(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(replicas=0))
    call_json(kube.autoscaling.create_namespaced_horizontal_pod_autoscaler, NAMESPACE, _hpa("podinfo"))
    canary = _create_canary(
        kube,
        autoscalerRef={"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "podinfo"},
    )
    target = target_for(canary, kube)
    target.initialize(canary)
    call_json(
        kube.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
        "podinfo",
        NAMESPACE,
        {"spec": {"maxReplicas": 6}},
    )
    revision = target.observe(canary).revision
    assert revision is not None
    target.promote(canary, revision.hash)
    read = kube.autoscaling.read_namespaced_horizontal_pod_autoscaler
    assert call_json(read, "podinfo-primary", NAMESPACE)["spec"]["maxReplicas"] == 6

    call_json(kube.autoscaling.delete_namespaced_horizontal_pod_autoscaler, "podinfo", NAMESPACE)
    target.promote(canary, revision.hash)  # does not raise: the primary keeps its HPA
    assert call_json(read, "podinfo-primary", NAMESPACE)["spec"]["maxReplicas"] == 6


def _hpa(name: str, kind: str = "Deployment", target: str = "podinfo") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
            "minReplicas": 2,
            "maxReplicas": 4,
        },
    }


def test_observe_names_hpas_the_canary_does_not_reference(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(replicas=2))
    for hpa in (
        _hpa("podinfo"),
        _hpa("other", target="frontend"),
        _hpa("same-name-statefulset", kind="StatefulSet"),
    ):
        call_json(kube.autoscaling.create_namespaced_horizontal_pod_autoscaler, NAMESPACE, hpa)
    call_json(kube.core.create_namespace, {"metadata": {"name": "elsewhere"}})
    call_json(
        kube.autoscaling.create_namespaced_horizontal_pod_autoscaler,
        "elsewhere",
        {**_hpa("podinfo-elsewhere"), "metadata": {"name": "podinfo-elsewhere", "namespace": "elsewhere"}},
    )

    unreferenced = _create_canary(kube)
    assert target_for(unreferenced, kube).observe(unreferenced).unreferenced_autoscalers == ("podinfo",)

    call_json(
        kube.custom.delete_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        NAMESPACE,
        "canaries",
        "podinfo",
    )
    referenced = _create_canary(
        kube,
        autoscalerRef={"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "podinfo"},
    )
    assert target_for(referenced, kube).observe(referenced).unreferenced_autoscalers == ()


class _ForbiddenAutoscaling:
    """Stands in for AutoscalingV2Api when the operator may not list HPAs (RBAC)."""

    def list_namespaced_horizontal_pod_autoscaler(self, *args: Any, **kwargs: Any) -> Any:
        raise ApiException(status=403, reason="Forbidden")


def test_observe_treats_forbidden_hpa_listing_as_none(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(replicas=2))
    canary = _create_canary(kube)
    clients = dataclasses.replace(kube, autoscaling=_ForbiddenAutoscaling())  # type: ignore[arg-type]
    observation = target_for(canary, clients).observe(canary)
    assert observation.unreferenced_autoscalers == ()
    assert observation.target.exists


class _RacingCustomObjects:
    """Proxy whose first replace lets another writer change the route between our read and our write."""

    def __init__(self, real: client.CustomObjectsApi, other_writer: KubeClients) -> None:
        self._real = real
        self._other = other_writer
        self.replace_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def replace_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        self.replace_calls += 1
        if self.replace_calls == 1:
            patch = {"metadata": {"labels": {"touched-by": "someone-else"}}}
            self._other.custom.patch_namespaced_custom_object(
                GATEWAY_API_GROUP, "v1", NAMESPACE, "httproutes", "podinfo", patch
            )
        return self._real.replace_namespaced_custom_object(*args, **kwargs)


def test_conflicting_write_is_retried_on_top_of_the_new_version(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body())
    canary = _create_canary(kube)
    router_for(canary, kube, target_for(canary, kube).pod_selector).reconcile(canary)

    racing = _RacingCustomObjects(kube.custom, kube)
    clients = dataclasses.replace(kube, custom=racing)  # type: ignore[arg-type]
    GatewayAPIRouter(clients).set_routes(canary, 70, 30)

    assert racing.replace_calls == 2, "first write answered 409, second succeeded"
    route = _route(kube)
    assert _weights(route) == {"podinfo-primary": 70, "podinfo-canary": 30}
    assert route["metadata"]["labels"]["touched-by"] == "someone-else", (
        "the concurrent change was not overwritten"
    )


def test_stale_resource_version_is_rejected_by_the_server(kube: KubeClients) -> None:
    """Guard for the test above: the emulator really answers 409 on a stale resourceVersion."""
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body())
    stale = _deployment(kube, "podinfo")
    assert stale is not None
    call_json(kube.apps.patch_namespaced_deployment, "podinfo", NAMESPACE, {"spec": {"replicas": 5}})
    with pytest.raises(client.ApiException) as info:
        call_json(kube.apps.replace_namespaced_deployment, "podinfo", NAMESPACE, stale)
    assert info.value.status == 409


def test_finalize_gives_the_target_the_primary_replicas(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(replicas=3))
    canary = _create_canary(kube, revertOnDeletion=True)
    target = target_for(canary, kube)
    target.initialize(canary)
    target.scale_to_zero(canary)
    target.finalize(canary)
    reverted = _deployment(kube, "podinfo")
    assert reverted is not None and reverted["spec"]["replicas"] == 3
