"""Routing objects as built for a canary: the real Gateway API schema, client models, router selection."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml
from edges_helpers import make_canary
from kubernetes import client
from reference_data import HTTPROUTE_CRD

from canary.kube import KubeClients
from canary.routers.base import LayeredRouter, UnsupportedProviderError, service_names
from canary.routers.factory import router_for
from canary.routers.gatewayapi import GatewayAPIRouter, build_httproute, route_weights, with_weights
from canary.routers.kubernetes import KubernetesRouter, build_service
from canary.targets.base import UnsupportedTargetError
from canary.targets.factory import target_for


def _schema(version: str) -> dict[str, Any]:
    crd = yaml.safe_load(HTTPROUTE_CRD.read_text())
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"no {version} in {HTTPROUTE_CRD}")


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_httproute_validates_against_gateway_api_schema(version: str) -> None:
    canary = make_canary(
        service={
            "port": 9898,
            "gatewayRefs": [
                {"name": "public-gateway", "namespace": "istio-ingress", "sectionName": "https", "port": 443},
                {"name": "internal", "group": "gateway.networking.k8s.io", "kind": "Gateway"},
            ],
            "hosts": ["app.example.com", "*.example.org"],
        }
    )
    route = build_httproute(canary, 80, 20, version=version)
    jsonschema.validate(route, _schema(version))
    assert route["apiVersion"] == f"gateway.networking.k8s.io/{version}"
    assert route["metadata"]["name"] == "podinfo"
    assert route["spec"]["parentRefs"][0] == {
        "name": "public-gateway",
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "namespace": "istio-ingress",
        "sectionName": "https",
        "port": 443,
    }
    assert route["spec"]["hostnames"] == ["app.example.com", "*.example.org"]
    assert route["spec"]["rules"] == [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [
                {"group": "", "kind": "Service", "name": "podinfo-primary", "port": 9898, "weight": 80},
                {"group": "", "kind": "Service", "name": "podinfo-canary", "port": 9898, "weight": 20},
            ],
        }
    ]


def test_generated_routing_objects_tell_flux_to_keep_its_hands_off() -> None:
    """Flagger's router filterMetadata: Flux must not revert the weights and selectors it does not own;
    the user's annotations are kept, Flux's own bookkeeping keys are not copied."""
    hands_off = {
        "kustomize.toolkit.fluxcd.io/reconcile": "disabled",
        "helm.toolkit.fluxcd.io/driftDetection": "disabled",
    }
    canary = make_canary(
        service={
            "port": 9898,
            "gatewayRefs": [{"name": "public-gateway", "namespace": "istio-ingress"}],
            "apex": {"annotations": {"team": "web", "kustomize.toolkit.fluxcd.io/checksum": "abc"}},
        }
    )
    route = build_httproute(canary)
    assert route["metadata"]["annotations"] == {"team": "web", **hands_off}
    service = build_service(canary, "podinfo-canary", ("app", "podinfo"), None)
    assert service["metadata"]["annotations"] == hands_off


def test_schema_catches_a_broken_route() -> None:
    """Guard that the schema check has teeth: a weight above the API's limit is rejected."""
    route = build_httproute(make_canary())
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = 2_000_000
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(route, _schema("v1"))


def test_weights_are_read_and_rewritten_without_touching_the_rest() -> None:
    route = build_httproute(make_canary())
    route["spec"]["rules"][0]["filters"] = [
        {"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": []}}
    ]
    assert route_weights(route, "podinfo-primary", "podinfo-canary") == (100, 0)
    updated = with_weights(route, "podinfo-primary", "podinfo-canary", 70, 30)
    assert route_weights(updated, "podinfo-primary", "podinfo-canary") == (70, 30)
    assert updated["spec"]["rules"][0]["filters"] == route["spec"]["rules"][0]["filters"]
    assert route_weights(route, "podinfo-primary", "podinfo-canary") == (100, 0), "input must not be mutated"


def test_services_select_like_flagger_and_round_trip_through_client_models() -> None:
    canary = make_canary(
        provider="kubernetes",
        service={"port": 80, "targetPort": "http", "portName": "web", "name": "frontend"},
    )
    apex, primary, canary_svc = service_names(canary)
    assert (apex, primary, canary_svc) == ("frontend", "frontend-primary", "frontend-canary")
    built = {
        name: build_service(canary, name, ("app", value), None)
        for name, value in ((apex, "podinfo-primary"), (primary, "podinfo-primary"), (canary_svc, "podinfo"))
    }
    assert built[apex]["spec"]["selector"] == {"app": "podinfo-primary"}
    assert built[canary_svc]["spec"]["selector"] == {"app": "podinfo"}
    assert built[apex]["metadata"]["labels"] == {"app": "frontend"}
    assert built[apex]["spec"]["ports"] == [
        {"name": "web", "protocol": "TCP", "port": 80, "targetPort": "http"}
    ]
    api = client.ApiClient()
    for body in built.values():
        model = api._ApiClient__deserialize(json.loads(json.dumps(body)), "V1Service")  # type: ignore[attr-defined]
        assert isinstance(model, client.V1Service)
        assert api.sanitize_for_serialization(model) == body


def test_target_port_defaults_to_port() -> None:
    canary = make_canary(provider="kubernetes", service={"port": 9898})
    assert (
        build_service(canary, "podinfo", ("app", "podinfo"), None)["spec"]["ports"][0]["targetPort"] == 9898
    )


def _router(canary: Any) -> Any:
    clients = _offline_clients()
    return router_for(canary, clients, target_for(canary, clients).pod_selector)


def _offline_clients() -> KubeClients:
    return KubeClients.from_api_client(client.ApiClient(client.Configuration(host="http://127.0.0.1:9")))


@pytest.mark.parametrize(
    ("provider", "version"), [("gatewayapi:v1", "v1"), ("gatewayapi:v1beta1", "v1beta1")]
)
def test_factory_layers_gateway_api_over_services(provider: str, version: str) -> None:
    router = _router(make_canary(provider=provider))
    assert isinstance(router, LayeredRouter)
    assert isinstance(router.services, KubernetesRouter)
    assert isinstance(router.traffic, GatewayAPIRouter)


def test_factory_kubernetes_provider_is_services_only() -> None:
    router = _router(make_canary(provider="kubernetes"))
    assert isinstance(router, KubernetesRouter)
    assert router.get_routes(make_canary()) == (100, 0)


def test_factory_rejects_unsupported_provider_listing_supported_ones() -> None:
    with pytest.raises(
        UnsupportedProviderError,
        match=r"provider 'linkerd' is not supported yet \(supported: kubernetes, gatewayapi",
    ):
        _router(make_canary(provider="linkerd"))


def test_daemonset_target_is_a_clear_error() -> None:
    canary = make_canary(targetRef={"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent"})
    with pytest.raises(UnsupportedTargetError, match="targetRef kind DaemonSet is not supported yet"):
        target_for(canary, _offline_clients())


def test_port_discovery_exposes_every_other_container_port_like_flagger() -> None:
    """service.portDiscovery: the target's other container ports join the main one on all three
    Services (named, else tcp-<container>-<index>); mesh sidecars and the main port are skipped."""
    from canary.targets.workload import discovered_ports

    canary = make_canary(
        provider="kubernetes", service={"port": 9898, "targetPort": "http", "portDiscovery": True}
    )
    containers = [
        {
            "name": "podinfo",
            "ports": [{"name": "http", "containerPort": 9898}, {"name": "grpc", "containerPort": 9999}],
        },
        {"name": "metrics", "ports": [{"containerPort": 9797}]},
        {"name": "istio-proxy", "ports": [{"name": "http-envoy-prom", "containerPort": 15090}]},
    ]
    service = canary.spec.service
    assert service is not None
    found = discovered_ports(service, containers)
    assert found == {"grpc": 9999, "tcp-metrics-0": 9797}
    built = build_service(canary, "podinfo-canary", ("app", "podinfo"), None, found)
    assert built["spec"]["ports"] == [
        {"name": "http", "protocol": "TCP", "port": 9898, "targetPort": "http"},
        {"name": "grpc", "protocol": "TCP", "port": 9999, "targetPort": 9999},
        {"name": "tcp-metrics-0", "protocol": "TCP", "port": 9797, "targetPort": 9797},
    ]
    api = client.ApiClient()
    model = api._ApiClient__deserialize(json.loads(json.dumps(built)), "V1Service")  # type: ignore[attr-defined]
    assert api.sanitize_for_serialization(model) == built
