"""Promotion guards, the primary's revision stamp and revertOnDeletion, against the API emulator."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from edges_helpers import NAMESPACE, canary_body, deployment_body, make_canary
from kubernetes import client

from canary.api.models import Canary
from canary.kube import KubeClients, MissingUidError, call_json, owner_reference, read_optional
from canary.routers.base import LayeredRouter
from canary.routers.factory import router_for
from canary.routers.gatewayapi import GATEWAY_API_GROUP, GatewayAPIRouter
from canary.routers.kubernetes import KubernetesRouter
from canary.targets.base import StaleRevisionError, TargetError
from canary.targets.deployment import DeploymentTarget
from canary.targets.factory import target_for
from canary.targets.workload import REVISION_ANNOTATION, pod_template_hash, without_flux_keys


def _create_canary(kube: KubeClients, phase: str | None = None, **spec: Any) -> Canary:
    stored = call_json(
        kube.custom.create_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        NAMESPACE,
        "canaries",
        canary_body(**spec),
    )
    if phase is not None:
        stored["status"] = {"phase": phase}
    return Canary.from_body(stored)


def _deployment(kube: KubeClients, name: str) -> dict[str, Any]:
    found = read_optional(kube.apps.read_namespaced_deployment, name, NAMESPACE)
    assert found is not None, name
    return found


def _route(kube: KubeClients) -> dict[str, Any] | None:
    return read_optional(
        kube.custom.get_namespaced_custom_object, GATEWAY_API_GROUP, "v1", NAMESPACE, "httproutes", "podinfo"
    )


def _set_image(kube: KubeClients, image: str) -> str:
    deployment = _deployment(kube, "podinfo")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = image
    stored = call_json(kube.apps.replace_namespaced_deployment, "podinfo", NAMESPACE, deployment)
    return pod_template_hash(stored["spec"]["template"])


def _image(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


# ---------------------------------------------------------------------------- revision stamp and promotion


def test_primary_is_stamped_with_the_revision_on_initialize_and_promote(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(image="podinfo:1"))
    canary = _create_canary(kube)
    target = target_for(canary, kube)
    assert target.observe(canary).primary_revision is None, "no primary yet"
    target.initialize(canary)
    first = target.observe(canary)
    assert first.revision is not None and first.primary_revision == first.revision.hash
    primary = _deployment(kube, "podinfo-primary")
    assert primary["metadata"]["annotations"][REVISION_ANNOTATION] == first.revision.hash
    assert REVISION_ANNOTATION not in (primary["spec"]["template"]["metadata"].get("annotations") or {})

    second = _set_image(kube, "podinfo:2")
    assert target.observe(canary).primary_revision == first.revision.hash, "not promoted yet"
    target.promote(canary, second)
    primary = _deployment(kube, "podinfo-primary")
    assert _image(primary) == "podinfo:2"
    assert primary["metadata"]["annotations"][REVISION_ANNOTATION] == second
    assert REVISION_ANNOTATION not in (primary["spec"]["template"]["metadata"].get("annotations") or {})
    assert target.observe(canary).primary_revision == second


def test_promote_refuses_a_template_that_was_not_analysed(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(image="podinfo:1"))
    canary = _create_canary(kube)
    target = target_for(canary, kube)
    target.initialize(canary)
    analysed = _set_image(kube, "podinfo:2")
    _set_image(kube, "podinfo:3")  # pushed after the analysis finished
    with pytest.raises(StaleRevisionError, match="changed since analysis"):
        target.promote(canary, analysed)
    assert _image(_deployment(kube, "podinfo-primary")) == "podinfo:1", "nothing reached the primary"


class _RacingApps:
    """AppsV1Api proxy: during the first primary write, the target changes and the primary is bumped (409)."""

    def __init__(self, real: client.AppsV1Api, kube: KubeClients) -> None:
        self._real = real
        self._kube = kube
        self.replace_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def replace_namespaced_deployment(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.replace_calls += 1
        if self.replace_calls == 1:
            _set_image(self._kube, "podinfo:3")
            patch = {"metadata": {"labels": {"touched-by": "someone-else"}}}
            self._kube.apps.patch_namespaced_deployment(name, NAMESPACE, patch)
        return self._real.replace_namespaced_deployment(name, *args, **kwargs)


def test_promote_rechecks_the_revision_on_every_conflict_retry(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(image="podinfo:1"))
    canary = _create_canary(kube)
    target_for(canary, kube).initialize(canary)
    analysed = _set_image(kube, "podinfo:2")
    racing = _RacingApps(kube.apps, kube)
    clients = dataclasses.replace(kube, apps=racing)  # type: ignore[arg-type]
    with pytest.raises(StaleRevisionError):
        DeploymentTarget(clients).promote(canary, analysed)
    assert racing.replace_calls == 1, "first write lost the race (409); the retry saw the new template"
    assert _image(_deployment(kube, "podinfo-primary")) == "podinfo:1"


# ---------------------------------------------------------------------------- routers


def test_routers_say_whether_they_split_traffic() -> None:
    offline = KubeClients.from_api_client(client.ApiClient(client.Configuration()))
    selector = DeploymentTarget(offline).pod_selector
    assert router_for(make_canary(provider="kubernetes"), offline, selector).splits_traffic is False
    layered = router_for(make_canary(provider="gatewayapi:v1"), offline, selector)
    assert isinstance(layered, LayeredRouter) and layered.splits_traffic is True
    assert GatewayAPIRouter(offline).splits_traffic is True


# ---------------------------------------------------------------------------- revertOnDeletion


def _failed_release(kube: KubeClients, phase: str) -> tuple[Canary, DeploymentTarget, Any]:
    """podinfo:1 promoted (primary, 3 replicas), podinfo:2 analysed and rolled back (target at zero)."""
    call_json(
        kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(image="podinfo:1", replicas=3)
    )
    canary = _create_canary(kube, phase=phase, revertOnDeletion=True)
    target = DeploymentTarget(kube)
    router = router_for(canary, kube, target.pod_selector)
    target.initialize(canary)
    router.reconcile(canary)
    _set_image(kube, "podinfo:2")
    router.set_routes(canary, 60, 40)
    target.scale_to_zero(canary)
    return canary, target, router


def test_finalize_after_a_failed_release_gives_traffic_back_to_the_primarys_version(
    kube: KubeClients,
) -> None:
    canary, target, router = _failed_release(kube, "Failed")
    primary = _deployment(kube, "podinfo-primary")

    target.finalize(canary)
    router.finalize(canary)

    restored = _deployment(kube, "podinfo")
    assert _image(restored) == "podinfo:1", "the failed template is gone"
    assert restored["spec"]["replicas"] == 3
    assert restored["spec"]["template"]["metadata"]["labels"] == {"app": "podinfo"}
    assert restored["spec"]["template"]["spec"] == primary["spec"]["template"]["spec"]
    assert restored["spec"]["selector"] == {"matchLabels": {"app": "podinfo"}}

    apex = call_json(kube.core.read_namespaced_service, "podinfo", NAMESPACE)
    assert apex["spec"]["selector"] == {"app": "podinfo"}
    assert not any(ref.get("kind") == "Canary" for ref in apex["metadata"].get("ownerReferences") or [])

    route = _route(kube)
    assert route is not None
    assert not any(ref.get("kind") == "Canary" for ref in route["metadata"].get("ownerReferences") or [])
    (rule,) = route["spec"]["rules"]
    assert [(ref["name"], ref["weight"], ref["port"]) for ref in rule["backendRefs"]] == [
        ("podinfo", 100, 9898)
    ]

    version = route["metadata"]["resourceVersion"], apex["metadata"]["resourceVersion"]
    target.finalize(canary)  # idempotent: a retried finalizer writes nothing
    router.finalize(canary)
    assert (_route(kube) or {})["metadata"]["resourceVersion"] == version[0]
    assert (
        call_json(kube.core.read_namespaced_service, "podinfo", NAMESPACE)["metadata"]["resourceVersion"]
        == version[1]
    )


def test_finalize_after_success_keeps_the_targets_template(kube: KubeClients) -> None:
    canary, target, _ = _failed_release(kube, "Succeeded")
    target.finalize(canary)
    restored = _deployment(kube, "podinfo")
    assert _image(restored) == "podinfo:2", "Succeeded: the target's template is the promoted one"
    assert restored["spec"]["replicas"] == 3


def test_finalize_keeps_a_user_owned_apex_service_metadata(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body())
    user_apex = {
        "metadata": {"name": "podinfo", "labels": {"owner": "me"}},
        "spec": {"selector": {"app": "podinfo"}, "ports": [{"name": "http", "port": 9898}]},
    }
    call_json(kube.core.create_namespaced_service, NAMESPACE, user_apex)
    canary = _create_canary(kube, provider="kubernetes", revertOnDeletion=True)
    router = router_for(canary, kube, target_for(canary, kube).pod_selector)
    router.reconcile(canary)
    assert call_json(kube.core.read_namespaced_service, "podinfo", NAMESPACE)["spec"]["selector"] == {
        "app": "podinfo-primary"
    }
    router.finalize(canary)
    apex = call_json(kube.core.read_namespaced_service, "podinfo", NAMESPACE)
    assert apex["spec"]["selector"] == {"app": "podinfo"}
    assert apex["metadata"]["labels"] == {"owner": "me"}


def test_finalize_is_quiet_when_everything_is_already_gone(kube: KubeClients) -> None:
    """``kubectl delete -f app.yaml`` or a namespace deletion: the Deployment may go first."""
    canary, target, router = _failed_release(kube, "Progressing")
    for name in ("podinfo", "podinfo-primary"):
        call_json(kube.apps.delete_namespaced_deployment, name, NAMESPACE)
    target.finalize(canary)
    router.finalize(canary)  # the Services layer cannot read the target's selector: leaves the apex alone
    for name in ("podinfo", "podinfo-primary", "podinfo-canary"):
        call_json(kube.core.delete_namespaced_service, name, NAMESPACE)
    call_json(
        kube.custom.delete_namespaced_custom_object,
        GATEWAY_API_GROUP,
        "v1",
        NAMESPACE,
        "httproutes",
        "podinfo",
    )
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body())
    router.finalize(canary)  # target back, but no Service or route to revert
    assert isinstance(router, LayeredRouter) and isinstance(router.services, KubernetesRouter)


def test_finalize_without_primary_scales_the_target_up(kube: KubeClients) -> None:
    call_json(kube.apps.create_namespaced_deployment, NAMESPACE, deployment_body(replicas=0))
    canary = _create_canary(kube, revertOnDeletion=True)
    DeploymentTarget(kube).finalize(canary)
    assert _deployment(kube, "podinfo")["spec"]["replicas"] == 1


# ---------------------------------------------------------------------------- small helpers


def test_owner_reference_needs_a_uid() -> None:
    body = canary_body()
    del body["metadata"]["uid"]
    with pytest.raises(MissingUidError, match=r"canary podinfo\.test has no metadata\.uid"):
        owner_reference(Canary.from_body(body))


def test_flux_keys_are_dropped_by_one_helper() -> None:
    assert without_flux_keys({"kustomize.toolkit.fluxcd.io/name": "x", "app": "a"}) == {"app": "a"}
    assert without_flux_keys(None) == {}


# ---------------------------------------------------------------------------- a deleted primary


def test_deleted_primary_is_restored_from_the_promoted_backup_not_the_target(kube: KubeClients) -> None:
    """Mid-analysis the target runs an unvalidated template: the primary must come back as promoted."""
    canary, target, _ = _failed_release(kube, "Progressing")
    promoted = _deployment(kube, "podinfo-primary")
    revision = promoted["metadata"]["annotations"][REVISION_ANNOTATION]
    call_json(kube.apps.delete_namespaced_deployment, "podinfo-primary", NAMESPACE)

    target.restore_primary(canary, revision)

    restored = _deployment(kube, "podinfo-primary")
    assert _image(restored) == "podinfo:1", "never the target's podinfo:2"
    assert restored["metadata"]["annotations"][REVISION_ANNOTATION] == revision
    assert restored["spec"]["selector"] == promoted["spec"]["selector"]
    assert restored["metadata"]["ownerReferences"] == [owner_reference(canary)]


def test_deleted_primary_without_a_source_of_its_revision_is_refused(kube: KubeClients) -> None:
    canary, target, _ = _failed_release(kube, "Progressing")
    for name in ("podinfo-primary",):
        call_json(kube.apps.delete_namespaced_deployment, name, NAMESPACE)
    call_json(kube.core.delete_namespaced_config_map, "podinfo-primary-promoted", NAMESPACE)
    with pytest.raises(TargetError, match=r"no template of the promoted revision .* is left"):
        target.restore_primary(canary, "some-old-revision")
    assert read_optional(kube.apps.read_namespaced_deployment, "podinfo-primary", NAMESPACE) is None


def test_revert_on_deletion_without_primary_uses_the_promoted_backup(kube: KubeClients) -> None:
    canary, target, _ = _failed_release(kube, "Failed")
    call_json(kube.apps.delete_namespaced_deployment, "podinfo-primary", NAMESPACE)
    target.finalize(canary)
    restored = _deployment(kube, "podinfo")
    assert _image(restored) == "podinfo:1", "the failed template must not be left serving"
    assert restored["spec"]["replicas"] == 3
