"""deploy/: `kubectl kustomize` builds, every object passes the Kubernetes 1.32 schemas (strict), and the
operator's flags parse with its own parser."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

import pytest
import yaml
from deploy_support import (
    CRDS,
    DEPLOY,
    REPO,
    Manifest,
    expand_env,
    find,
    is_builtin,
    kustomize,
    normalized_rules,
    one,
    operator_container,
    parse_operator_args,
    rules_of,
    schema_errors,
)

from canary.api.crdgen import all_crds, crd_filename

IMAGE = "ghcr.io/canary-dev/canary:0.1.0"
POD_LABELS = {"app.kubernetes.io/name": "canary", "app.kubernetes.io/component": "operator"}


@functools.cache
def build(path: str) -> tuple[Manifest, ...]:
    return tuple(kustomize(DEPLOY / path))


@pytest.mark.parametrize("overlay", [".", "namespaced", "monitoring"])
def test_every_builtin_object_passes_the_kubernetes_schema(overlay: str) -> None:
    objects = build(overlay)
    assert objects
    errors = [e for o in objects if is_builtin(o) and (e := schema_errors(o))]
    assert not errors, "\n".join(errors)


def test_cluster_wide_install_contents() -> None:
    objects = build(".")
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert kinds == sorted(
        [
            ("CustomResourceDefinition", "alertproviders.canary.dev"),
            ("CustomResourceDefinition", "canaries.canary.dev"),
            ("CustomResourceDefinition", "metrictemplates.canary.dev"),
            ("Namespace", "canary-system"),
            ("ServiceAccount", "canary-operator"),
            ("ClusterRole", "canary-operator"),
            ("ClusterRoleBinding", "canary-operator"),
            ("Role", "canary-operator-leader-election"),
            ("RoleBinding", "canary-operator-leader-election"),
            ("Deployment", "canary-operator"),
            ("PodDisruptionBudget", "canary-operator"),
            ("Service", "canary-operator-metrics"),
        ]
    )
    for obj in objects:
        if obj["kind"] not in ("CustomResourceDefinition", "Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "canary-system", obj["metadata"]


def test_crds_are_the_generated_ones() -> None:
    """deploy/ installs exactly what `make crds` generates (crds/kustomization.yaml lists every file)."""
    listed = yaml.safe_load((CRDS / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(crd_filename(c) for c in all_crds())
    built = {o["metadata"]["name"]: o for o in find(build("."), "CustomResourceDefinition")}
    for crd in all_crds():
        assert built[crd["metadata"]["name"]] == crd


def test_deployment_runs_the_operator_safely() -> None:
    objects = build(".")
    deployment = one(objects, "Deployment", "canary-operator")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = operator_container(objects)
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"] == POD_LABELS == spec["template"]["metadata"]["labels"]
    assert pod["serviceAccountName"] == "canary-operator"
    assert pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["image"] == IMAGE
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "volumeMounts" not in container, "the operator writes nothing to disk"
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["ports"] == [{"name": "http-metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_deployment_args_parse_with_the_operator_parser() -> None:
    container = operator_container(build("."))
    assert "command" not in container, "the image's entrypoint is `canary operator`"
    args = parse_operator_args(container["args"])
    assert args.namespace == []
    assert args.leader_elect is True
    assert args.leader_election_id == "canary-operator"
    assert args.leader_election_namespace is None  # $POD_NAMESPACE
    assert (
        args.leader_election_lease_duration,
        args.leader_election_renew_deadline,
        args.leader_election_retry_period,
    ) == (15, 10, 2)
    assert args.metrics_port == 8080
    assert args.metrics_bind_address == "0.0.0.0"
    assert args.prometheus_url == "http://prometheus.istio-system:9090"
    assert args.provider == "gatewayapi"
    assert (args.log_format, args.log_level) == ("json", "info")


def test_a_misspelt_flag_fails_the_parser() -> None:
    with pytest.raises(AssertionError, match="does not parse"):
        parse_operator_args(["--leader-elect", "--leader-election-lease-duraton=15"])


def test_metrics_service_selects_the_operator_pods() -> None:
    objects = build(".")
    service = one(objects, "Service", "canary-operator-metrics")
    assert service["spec"]["selector"] == POD_LABELS
    assert service["spec"]["ports"] == [
        {"name": "http-metrics", "port": 8080, "targetPort": "http-metrics", "protocol": "TCP"}
    ]


def test_bindings_name_the_service_account() -> None:
    objects = build(".")
    subject = {"kind": "ServiceAccount", "name": "canary-operator", "namespace": "canary-system"}
    for kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        for binding in find(objects, kind):
            assert binding["subjects"] == [subject]
            assert one(objects, role_kind, binding["roleRef"]["name"])


def test_leader_election_role_covers_leases_only() -> None:
    objects = build(".")
    role = one(objects, "Role", "canary-operator-leader-election")
    assert role["metadata"]["namespace"] == "canary-system"
    assert normalized_rules(role["rules"]) == {
        ("coordination.k8s.io", "leases", verb) for verb in ("get", "create", "update")
    }
    assert not any(g == "coordination.k8s.io" for g, _, _ in normalized_rules(rules_of(objects)))


def test_cluster_role_grants_what_the_operator_calls() -> None:
    grants = normalized_rules(rules_of(build(".")))
    for needed in [
        ("canary.dev", "canaries", "watch"),
        ("canary.dev", "canaries", "patch"),
        ("canary.dev", "canaries/status", "patch"),
        ("canary.dev", "metrictemplates", "get"),
        ("canary.dev", "alertproviders", "get"),
        ("apps", "deployments", "watch"),
        ("apps", "deployments", "create"),
        ("apps", "deployments", "update"),
        ("apps", "deployments", "patch"),
        ("autoscaling", "horizontalpodautoscalers", "list"),
        ("", "services", "create"),
        ("", "configmaps", "create"),
        ("", "secrets", "get"),
        ("", "events", "create"),
        ("gateway.networking.k8s.io", "httproutes", "update"),
    ]:
        assert needed in grants, needed
    # Never more than reading Secrets; delete only where an ownerReference is set (OwnerReferences-
    # PermissionEnforcement); never wildcards or privilege escalation. Sufficiency and minimality are
    # proven against the sandbox's RBAC in tests/integration/test_install.py.
    assert {v for g, r, v in grants if r == "secrets"} == {"get"}
    assert {r for _, r, v in grants if v == "delete"} == {
        "deployments", "horizontalpodautoscalers", "services", "configmaps", "httproutes"
    }  # fmt: skip
    assert not {v for _, _, v in grants} & {"deletecollection", "*", "escalate", "bind", "impersonate"}


def test_namespaced_overlay_uses_a_role_in_the_watched_namespace() -> None:
    objects = build("namespaced")
    assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding")
    assert not find(objects, "ConfigMap"), "watch-namespace.yaml is build-time only"
    role = one(objects, "Role", "canary-operator")
    binding = one(objects, "RoleBinding", "canary-operator")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "canary"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "canary-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "canary-operator", "namespace": "canary-system"}
    ]
    # The same grants as the ClusterRole, less the cluster-scoped CRD watch.
    cluster = normalized_rules(rules_of(build(".")))
    assert normalized_rules(role["rules"]) == {g for g in cluster if g[0] != "apiextensions.k8s.io"}
    # Leader election is unchanged.
    assert one(objects, "Role", "canary-operator-leader-election")["metadata"]["namespace"] == "canary-system"
    container = operator_container(objects)
    args = parse_operator_args(expand_env(container["args"], container))
    assert args.namespace == ["canary"]
    assert args.leader_elect is True


def _copy_tree(tmp_path: Path) -> Path:
    shutil.copytree(DEPLOY, tmp_path / "deploy", ignore=shutil.ignore_patterns("README.md"))
    shutil.copytree(CRDS, tmp_path / "crds")
    return tmp_path / "deploy"


def test_namespaced_overlay_namespace_is_set_in_one_place(tmp_path: Path) -> None:
    deploy = _copy_tree(tmp_path)
    source = deploy / "namespaced" / "watch-namespace.yaml"
    source.write_text(source.read_text().replace("namespace: canary\n", "namespace: team-a\n"))
    objects = kustomize(deploy / "namespaced")
    assert {o["metadata"]["namespace"] for o in find(objects, "Role") + find(objects, "RoleBinding")} == {
        "team-a",
        "canary-system",
    }
    assert one(objects, "Role", "canary-operator")["metadata"]["namespace"] == "team-a"
    container = operator_container(objects)
    assert parse_operator_args(expand_env(container["args"], container)).namespace == ["team-a"]


def test_image_override_in_an_overlay(tmp_path: Path) -> None:
    """The documented override: `images:` (or `kustomize edit set image`) in your own kustomization."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(DEPLOY, overlay)],
                "images": [
                    {
                        "name": "ghcr.io/canary-dev/canary",
                        "newName": "registry.example.com/canary",
                        "newTag": "0.2.0",
                    }
                ],
            }
        )
    )
    assert operator_container(kustomize(overlay))["image"] == "registry.example.com/canary:0.2.0"


def test_monitoring_objects_point_at_the_metrics_service() -> None:
    objects = build("monitoring")
    assert sorted(o["kind"] for o in objects) == ["PrometheusRule", "ServiceMonitor"]
    for obj in objects:
        assert obj["apiVersion"] == "monitoring.coreos.com/v1"
        assert obj["metadata"]["namespace"] == "canary-system"
    monitor = one(objects, "ServiceMonitor")
    service = one(build("."), "Service", "canary-operator-metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["canary-system"]}
    ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in ports
        assert endpoint["path"] == "/metrics"
    rule = one(objects, "PrometheusRule")
    assert set(rule["spec"]) == {"groups"}
    for group in rule["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules"}
        for r in group["rules"]:
            assert set(r) <= {"alert", "record", "expr", "for", "labels", "annotations"}
            assert r["labels"]["severity"] in ("warning", "critical")
            assert r["annotations"]["summary"]


def test_repo_has_no_stray_kustomize_inputs() -> None:
    """Every YAML file under deploy/ is used by some kustomization (so none is forgotten)."""
    referenced: set[Path] = set()
    for kustomization in DEPLOY.rglob("kustomization.yaml"):
        doc = yaml.safe_load(kustomization.read_text())
        referenced.add(kustomization)
        for entry in doc.get("resources", []):
            referenced.add((kustomization.parent / entry).resolve())
    stray = [p for p in DEPLOY.rglob("*.yaml") if p.resolve() not in referenced]
    assert not stray, [str(p.relative_to(REPO)) for p in stray]
