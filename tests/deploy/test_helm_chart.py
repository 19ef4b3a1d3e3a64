"""charts/canary: `helm lint` and `helm template` with the defaults and with each toggle; the rendered
objects pass the Kubernetes 1.32 schemas (strict) and the operator's flags parse with its own parser."""

from __future__ import annotations

import functools
import json
import tarfile
from pathlib import Path

import pytest
import yaml
from deploy_support import (
    CHART,
    CRDS,
    DEPLOY,
    Manifest,
    find,
    helm,
    helm_template,
    is_builtin,
    kustomize,
    load_all,
    normalized_rules,
    one,
    operator_container,
    parse_operator_args,
    rules_of,
    schema_errors,
)

TOGGLES = {
    "defaults": (),
    "watch-namespaces": ("watchNamespaces={team-a,team-b}",),
    "no-leader-election": ("leaderElection.enabled=false", "replicas=1"),
    "monitoring": ("serviceMonitor.enabled=true", "podMonitor.enabled=true", "prometheusRule.enabled=true"),
    "no-rbac": ("rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=platform-operator"),
    "no-crds": ("crds.install=false",),
    "scheduling": (
        "nodeSelector.kubernetes\\.io/os=linux",
        "tolerations[0].key=dedicated,tolerations[0].operator=Exists,tolerations[0].effect=NoSchedule",
        '--set-json=affinity={"nodeAffinity":{}}',
        "clusterName=prod-eu",
        "metricsAddressAllow={http://prometheus.monitoring:9090}",
        "webhookUrlAllow={http://loadtester.test/}",
        "image.tag=0.2.0",
    ),
}


@functools.cache
def render(toggle: str) -> tuple[Manifest, ...]:
    return tuple(helm_template(*TOGGLES[toggle]))


def _helm_args(values: tuple[str, ...]) -> list[str]:
    args: list[str] = []
    for value in values:
        args += [value] if value.startswith("--") else ["--set", value]
    return args


@pytest.mark.parametrize("toggle", sorted(TOGGLES))
def test_helm_lint(toggle: str) -> None:
    result = helm("lint", "--strict", str(CHART), *_helm_args(TOGGLES[toggle]))
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("toggle", sorted(TOGGLES))
def test_rendered_objects_pass_the_kubernetes_schema(toggle: str) -> None:
    objects = render(toggle)
    errors = [e for o in objects if is_builtin(o) and (e := schema_errors(o))]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("toggle", sorted(TOGGLES))
def test_rendered_args_parse_with_the_operator_parser(toggle: str) -> None:
    parse_operator_args(operator_container(render(toggle))["args"])


def test_defaults_match_deploy() -> None:
    """The chart's defaults install what deploy/ does: same objects, names, flags and pod spec."""
    chart = render("defaults")
    kust = kustomize(DEPLOY)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in chart) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in kust if o["kind"] != "Namespace"
    )
    chart_container, kust_container = operator_container(chart), operator_container(kust)
    assert chart_container == kust_container
    chart_pod = one(chart, "Deployment")["spec"]["template"]["spec"]
    kust_pod = one(kust, "Deployment")["spec"]["template"]["spec"]
    for key in (
        "securityContext",
        "serviceAccountName",
        "automountServiceAccountToken",
        "terminationGracePeriodSeconds",
    ):
        assert chart_pod[key] == kust_pod[key], key
    assert one(chart, "Deployment")["spec"]["replicas"] == 2
    chart_service, kust_service = one(chart, "Service"), one(kust, "Service")
    assert chart_service["metadata"]["name"] == kust_service["metadata"]["name"] == "canary-operator-metrics"
    assert chart_service["spec"]["ports"] == kust_service["spec"]["ports"]
    assert chart_service["spec"]["selector"] == one(chart, "Deployment")["spec"]["selector"]["matchLabels"]


def test_crds_are_crds_dir_with_keep_policy() -> None:
    crds = {o["metadata"]["name"]: o for o in find(render("defaults"), "CustomResourceDefinition")}
    expected = [yaml.safe_load(p.read_text()) for p in sorted(CRDS.glob("canary.dev_*.yaml"))]
    assert sorted(crds) == sorted(c["metadata"]["name"] for c in expected)
    for crd in expected:
        rendered = crds[crd["metadata"]["name"]]
        assert rendered["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
        assert rendered == crd
    assert not find(render("no-crds"), "CustomResourceDefinition")
    kept = helm_template("crds.keep=false")
    assert all("annotations" not in c["metadata"] for c in find(kept, "CustomResourceDefinition"))


def test_watch_namespaces_use_roles() -> None:
    objects = render("watch-namespaces")
    assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding")
    roles = {o["metadata"]["namespace"]: o for o in find(objects, "Role", "canary-operator")}
    bindings = {o["metadata"]["namespace"]: o for o in find(objects, "RoleBinding", "canary-operator")}
    assert sorted(roles) == sorted(bindings) == ["team-a", "team-b"]
    for binding in bindings.values():
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "canary-operator", "namespace": "canary-system"}
        ]
    args = parse_operator_args(operator_container(objects)["args"])
    assert args.namespace == ["team-a", "team-b"]


def test_leader_election_off() -> None:
    objects = render("no-leader-election")
    args = parse_operator_args(operator_container(objects)["args"])
    assert args.leader_elect is False
    assert not find(objects, "Role") and not find(objects, "RoleBinding")
    assert one(objects, "Deployment")["spec"]["replicas"] == 1
    assert not find(objects, "PodDisruptionBudget")
    args_on = parse_operator_args(
        operator_container(helm_template("leaderElection.leaseDuration=30"))["args"]
    )
    assert args_on.leader_elect is True
    assert args_on.leader_election_lease_duration == 30


def test_monitoring_toggles() -> None:
    objects = render("monitoring")
    monitor = one(objects, "ServiceMonitor", "canary-operator")
    pod_monitor = one(objects, "PodMonitor", "canary-operator")
    service = one(objects, "Service", "canary-operator-metrics")
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["spec"]["endpoints"][0]["port"] == "http-metrics"
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "http-metrics"
    rule = one(objects, "PrometheusRule", "canary-operator")
    deploy_rule = one(kustomize(DEPLOY / "monitoring"), "PrometheusRule")
    assert rule["spec"] == deploy_rule["spec"]
    assert not {"ServiceMonitor", "PodMonitor", "PrometheusRule"} & {o["kind"] for o in render("defaults")}


def test_prometheus_rule_follows_the_scrape_job() -> None:
    """The CanaryOperatorDown alert names the job Prometheus gives the operator's targets."""

    def down_expr(*values: str) -> str:
        rule = one(helm_template("prometheusRule.enabled=true", *values, release="ops"), "PrometheusRule")
        return next(
            r["expr"]
            for g in rule["spec"]["groups"]
            for r in g["rules"]
            if r.get("alert") == "CanaryOperatorDown"
        )

    assert 'job="ops-canary-operator-metrics"' in down_expr("serviceMonitor.enabled=true")
    assert 'job="canary-system/ops-canary-operator"' in down_expr("podMonitor.enabled=true")


def test_no_rbac_and_existing_service_account() -> None:
    objects = render("no-rbac")
    assert not {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"} & {
        o["kind"] for o in objects
    }
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "platform-operator"


def test_scheduling_and_flags() -> None:
    objects = render("scheduling")
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["affinity"] == {"nodeAffinity": {}}
    container = operator_container(objects)
    assert container["image"] == "ghcr.io/canary-dev/canary:0.2.0"
    args = parse_operator_args(container["args"])
    assert args.cluster_name == "prod-eu"
    assert args.metrics_address_allow == ["http://prometheus.monitoring:9090"]
    assert args.webhook_url_allow == ["http://loadtester.test/"]


def test_release_name_sets_the_names() -> None:
    objects = helm_template(release="ops", namespace="platform")
    assert one(objects, "Deployment")["metadata"] == {
        **one(objects, "Deployment")["metadata"],
        "name": "ops-canary-operator",
        "namespace": "platform",
    }
    binding = one(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "ops-canary-operator", "namespace": "platform"}
    ]
    assert one(objects, "Role")["metadata"]["namespace"] == "platform"


@pytest.mark.parametrize(
    "bad",
    [
        "logFormat=xml",
        "logLevel=trace",
        "provider=istio",
        "replicas=0",
        "leaderElection.leaseDuration=-1",
        "image.pullPolicy=Sometimes",
    ],
)
def test_values_schema_rejects(bad: str) -> None:
    result = helm("template", "canary", str(CHART), "--set", bad, check=False)
    assert result.returncode != 0, f"{bad} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr


def test_values_schema_is_json() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"])


def test_rbac_rules_same_in_chart_and_deploy() -> None:
    """RBAC parity: chart (cluster-wide and namespaced) and kustomize (deploy/, deploy/namespaced)."""
    assert normalized_rules(rules_of(render("defaults"))) == normalized_rules(rules_of(kustomize(DEPLOY)))
    kust_role = one(kustomize(DEPLOY / "namespaced"), "Role", "canary-operator")
    for chart_role in find(render("watch-namespaces"), "Role", "canary-operator"):
        assert normalized_rules(chart_role["rules"]) == normalized_rules(kust_role["rules"])
    lease = "canary-operator-leader-election"
    assert normalized_rules(one(render("defaults"), "Role", lease)["rules"]) == normalized_rules(
        one(kustomize(DEPLOY), "Role", lease)["rules"]
    )


def test_packaged_chart_carries_the_linked_files(tmp_path: Path) -> None:
    """`helm package` stores what files/crds and files/prometheusrule.yaml link to."""
    helm("package", str(CHART), "--destination", str(tmp_path))
    (package,) = tmp_path.glob("canary-*.tgz")
    with tarfile.open(package) as tar:
        names = tar.getnames()
    assert "canary/files/crds/canary.dev_canaries.yaml" in names
    assert "canary/files/crds/kustomization.yaml" not in names
    rendered = load_all(
        helm(
            "template", "canary", str(package), "-n", "canary-system", "--set", "prometheusRule.enabled=true"
        ).stdout
    )
    assert len(find(rendered, "CustomResourceDefinition")) == 3
    assert one(rendered, "PrometheusRule")["spec"] == one(render("monitoring"), "PrometheusRule")["spec"]
