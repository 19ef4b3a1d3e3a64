"""Pure rules of the Deployment target: revision hash, primary labels, primary manifest, readiness."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from edges_helpers import NAMESPACE, deployment_body, make_canary, with_status
from kubernetes import client

from canary.kube import owner_reference
from canary.targets.deployment import build_primary_deployment, build_primary_hpa, promoted_primary
from canary.targets.workload import (
    SelectorLabelError,
    deployment_readiness,
    pod_template_hash,
    primary_labels,
    primary_pod_spec,
    selector_label,
)


def _reordered(value: object) -> object:
    """The same JSON with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def test_hash_is_stable_under_key_order_and_changes_with_image() -> None:
    template = deployment_body()["spec"]["template"]
    assert pod_template_hash(template) == pod_template_hash(_reordered(template))  # type: ignore[arg-type]
    changed = copy.deepcopy(template)
    changed["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.1"
    assert pod_template_hash(changed) != pod_template_hash(template)


def test_hash_ignores_operator_owned_annotations_and_flux_labels() -> None:
    template = deployment_body()["spec"]["template"]
    stamped = copy.deepcopy(template)
    stamped["metadata"]["annotations"]["flagger-id"] = "5b4c5ff4-0000"
    stamped["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] = "apps"
    assert pod_template_hash(stamped) == pod_template_hash(template)
    user_annotation = copy.deepcopy(template)
    user_annotation["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = "2026-01-01T00:00:00Z"
    assert pod_template_hash(user_annotation) != pod_template_hash(template)


@pytest.mark.parametrize("label", ["app", "name", "app.kubernetes.io/name"])
def test_selector_label_rewritten_to_primary(label: str) -> None:
    target = deployment_body()
    target["spec"]["selector"]["matchLabels"] = {label: "podinfo"}
    target["spec"]["template"]["metadata"]["labels"] = {label: "podinfo", "version": "v1"}
    assert selector_label(target) == (label, "podinfo")
    primary = build_primary_deployment(target, {"kind": "Canary"}, replicas=2)
    assert primary["spec"]["selector"] == {"matchLabels": {label: "podinfo-primary"}}
    assert primary["spec"]["template"]["metadata"]["labels"] == {label: "podinfo-primary", "version": "v1"}


def test_selector_without_known_label_is_a_clear_error() -> None:
    target = deployment_body()
    target["spec"]["selector"]["matchLabels"] = {"component": "web"}
    with pytest.raises(
        SelectorLabelError, match=r"podinfo\.test spec\.selector\.matchLabels must contain one of"
    ):
        selector_label(target)


def test_selector_value_too_long_for_the_primary_is_a_clear_error() -> None:
    """``<value>-primary`` is a label value too: 56 characters or more can never work."""
    target = deployment_body()
    target["spec"]["selector"]["matchLabels"] = {"app": "a" * 56}
    with pytest.raises(SelectorLabelError, match=r"would exceed 63 characters \(shorten it to 55\)"):
        selector_label(target)
    target["spec"]["selector"]["matchLabels"] = {"app": "a" * 55}
    assert selector_label(target) == ("app", "a" * 55)


def test_primary_labels_drop_flux_and_replace_selector_value() -> None:
    labels = {"app": "podinfo", "kustomize.toolkit.fluxcd.io/name": "x", "tier": "web"}
    assert primary_labels(labels, "app", "podinfo-primary") == {"app": "podinfo-primary", "tier": "web"}


def test_affinity_pointing_at_target_is_pointed_at_primary() -> None:
    pod_spec: dict[str, Any] = {
        "containers": [{"name": "c", "image": "i"}],
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {"app": "podinfo"}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {
                    "matchExpressions": [{"key": "app", "operator": "In", "values": ["podinfo"]}]
                },
            }
        ],
    }
    result = primary_pod_spec(pod_spec, "app", "podinfo")
    anti = result["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["labelSelector"]["matchLabels"] == {"app": "podinfo-primary"}
    assert result["topologySpreadConstraints"][0]["labelSelector"]["matchExpressions"][0]["values"] == [
        "podinfo-primary"
    ]
    assert pod_spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0][
        "labelSelector"
    ]["matchLabels"] == {"app": "podinfo"}, "input must not be mutated"


def test_primary_deployment_manifest_round_trips_through_client_models() -> None:
    canary = make_canary()
    primary = build_primary_deployment(deployment_body(), owner_reference(canary), replicas=2)
    assert primary["metadata"]["name"] == "podinfo-primary"
    assert primary["metadata"]["namespace"] == NAMESPACE
    assert primary["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "canary.dev/v1alpha1",
            "kind": "Canary",
            "name": "podinfo",
            "uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert primary["spec"]["progressDeadlineSeconds"] == 60
    api = client.ApiClient()
    model = api._ApiClient__deserialize(json.loads(json.dumps(primary)), "V1Deployment")  # type: ignore[attr-defined]
    assert isinstance(model, client.V1Deployment)
    assert api.sanitize_for_serialization(model) == primary


def test_promotion_copies_template_and_keeps_primary_selector() -> None:
    target = deployment_body(image="podinfo:6.0.1", replicas=3)
    primary = build_primary_deployment(deployment_body(image="podinfo:6.0.0"), {"kind": "Canary"}, replicas=2)
    primary["metadata"]["resourceVersion"] = "42"
    promoted = promoted_primary(primary, target, copy_replicas=True)
    assert promoted["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:6.0.1"
    assert promoted["spec"]["template"]["metadata"]["labels"]["app"] == "podinfo-primary"
    assert promoted["spec"]["selector"] == primary["spec"]["selector"]
    assert promoted["spec"]["replicas"] == 3
    assert promoted["metadata"]["resourceVersion"] == "42"
    assert promoted_primary(primary, target, copy_replicas=False)["spec"]["replicas"] == 2


def test_primary_hpa_targets_primary_deployment() -> None:
    hpa: dict[str, Any] = {
        "metadata": {"name": "podinfo", "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "minReplicas": 2,
            "maxReplicas": 4,
        },
    }
    primary = build_primary_hpa(hpa, "podinfo-primary", {"kind": "Canary"})
    assert primary["metadata"]["name"] == "podinfo-primary"
    assert primary["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "podinfo", "input must not be mutated"


@pytest.mark.parametrize(
    ("status", "ready", "message", "stuck"),
    [
        ({"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}, True, "", False),
        (
            {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 0},
            False,
            "waiting for rollout to finish: 0 of 1 updated replicas are available",
            False,
        ),
        (
            {"replicas": 1, "updatedReplicas": 0},
            False,
            "waiting for rollout to finish: 0 out of 1 new replicas have been updated",
            False,
        ),
        (
            {"replicas": 2, "updatedReplicas": 1, "availableReplicas": 1},
            False,
            "waiting for rollout to finish: 1 old replicas are pending termination",
            False,
        ),
        (
            {
                "conditions": [
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ]
            },
            False,
            "deployment 'podinfo' exceeded its progress deadline",
            True,
        ),
        (
            {"generation": 2},
            False,
            "waiting for rollout to finish: observed deployment generation less than desired generation",
            False,
        ),
    ],
)
def test_readiness_like_flagger(status: dict[str, object], ready: bool, message: str, stuck: bool) -> None:
    deployment = with_status(deployment_body(replicas=1), **status)
    result = deployment_readiness(deployment)
    assert (result.ready, result.message, result.stuck) == (ready, message, stuck)


def test_ready_threshold_allows_partial_availability() -> None:
    deployment = with_status(deployment_body(replicas=4), replicas=4, updatedReplicas=4, availableReplicas=2)
    assert deployment_readiness(deployment, 50).ready
    assert (
        deployment_readiness(deployment, 100).message
        == "waiting for rollout to finish: 2 of 4 updated replicas are available"
    )


def test_operator_flags_choose_selector_labels_and_labels_copied_to_the_primary() -> None:
    """`--selector-labels` and `--include-label-prefix` (Flagger's flags, same syntax) reach the target."""
    from canary.cli.main import build_parser

    args = build_parser().parse_args(
        [
            "operator",
            "--selector-labels",
            "app.kubernetes.io/name, app",
            "--include-label-prefix",
            "team,app.kubernetes.io",
        ]
    )
    assert args.selector_labels == ("app.kubernetes.io/name", "app")
    assert args.include_label_prefix == ("team", "app.kubernetes.io")
    defaults = build_parser().parse_args(["operator"])
    assert defaults.selector_labels == ("app", "name", "app.kubernetes.io/name")
    assert defaults.include_label_prefix == ()

    target = deployment_body()
    target["metadata"]["labels"] = {
        "team": "web",
        "app.kubernetes.io/part-of": "shop",
        "kustomize.toolkit.fluxcd.io/name": "apps",
        "cost-center": "42",
    }
    owner = owner_reference(make_canary())
    primary = build_primary_deployment(target, owner, 1, args.selector_labels, args.include_label_prefix)
    assert primary["metadata"]["labels"] == {
        "team": "web",
        "app.kubernetes.io/part-of": "shop",
        "app": "podinfo-primary",
    }
    plain = build_primary_deployment(target, owner, 1)
    assert plain["metadata"]["labels"] == {"app": "podinfo-primary"}, (
        "Flagger's default: only the selector label"
    )
