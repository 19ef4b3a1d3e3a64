"""The documented install, on the sandbox: `kubectl apply -k deploy/`, then the operator as its pod runs it.

The operator runs with the command line of the shipped Deployment's container and a token of the
shipped ServiceAccount, against an API server that enforces RBAC. A rollout that touches every
kind of object the operator writes or reads (HPA, MetricTemplate, AlertProvider with a Secret,
deletion) proves the shipped roles are sufficient; the emulator's record of what the operator
used proves they are minimal. Sandbox only: a real cluster keeps no such record.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import REPO_ROOT, Cluster, OperatorProcess, canary, namespace_for
from test_webhook_calls import Receiver

from canary.api.models import GROUP, VERSION
from canary.demo.manifests import BAD_IMAGE, GOOD_IMAGE, STABLE_IMAGE

pytestmark = [
    pytest.mark.integration,
    # `make e2e` (a real cluster) has no record of the permissions used, which these tests judge.
    pytest.mark.skipif(os.environ.get("CANARY_E2E") == "1", reason="needs the sandbox's permission record"),
]

SYSTEM_NAMESPACE = "canary-system"
SERVICE_ACCOUNT = "canary-operator"
OPERATOR_USER = f"system:serviceaccount:{SYSTEM_NAMESPACE}:{SERVICE_ACCOUNT}"


def on_sandbox(sandbox: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Read the emulator's state on its own loop (its record changes while requests arrive)."""

    async def run() -> Any:
        return fn(*args, **kwargs)

    return sandbox.call(run())


@pytest.fixture(scope="module")
def installed(sandbox: Any, kubeconfig: str) -> Iterator[list[dict[str, Any]]]:
    """`kubectl apply -k deploy/` as the README says; the objects it declared."""
    assert sandbox is not None, "the sandbox runs unless CANARY_E2E=1 (then this module is skipped)"
    built = subprocess.run(
        ["kubectl", "kustomize", str(REPO_ROOT / "deploy")], capture_output=True, text=True, check=True
    )
    objects = [o for o in yaml.safe_load_all(built.stdout) if o]
    applied = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "apply", "-k", str(REPO_ROOT / "deploy")],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    yield objects
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", SYSTEM_NAMESPACE, "delete", "deployment",
                    "canary-operator", "--wait=false"], capture_output=True, timeout=60)  # fmt: skip


@pytest.fixture(scope="module")
def shipped_operator(
    installed: list[dict[str, Any]],
    operator: OperatorProcess,
    sandbox: Any,
    kubeconfig: str,
    prometheus_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator as the shipped Deployment runs it, with the shipped ServiceAccount's token."""
    operator.stop()  # the session's admin operator steps aside; the next `cluster` fixture restarts it
    workdir = tmp_path_factory.mktemp("shipped-operator")
    token_kubeconfig = sandbox.service_account_kubeconfig(
        SYSTEM_NAMESPACE, SERVICE_ACCOUNT, workdir / "kubeconfig"
    )
    deployment = Cluster(kubeconfig, SYSTEM_NAMESPACE).deployment("canary-operator")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {**sandbox.proxy_env(), "POD_NAME": "canary-operator-7d9f-test", "POD_NAMESPACE": SYSTEM_NAMESPACE}
    shipped = OperatorProcess(
        str(token_kubeconfig), prometheus_url, workdir / "operator.log", env, args=container["args"]
    )
    shipped.start()
    try:
        Cluster(kubeconfig, SYSTEM_NAMESPACE).eventually(
            "the shipped operator ready", lambda: shipped.probe("/readyz"), lambda code: code == 200, 60
        )
        yield shipped
    finally:
        print(f"--- shipped operator log (tail) ---\n{shipped.log_tail(40)}")
        shipped.stop()


def test_apply_k_creates_every_object(installed: list[dict[str, Any]], kubeconfig: str) -> None:
    cluster = Cluster(kubeconfig, SYSTEM_NAMESPACE)
    for obj in installed:
        kind, name = obj["kind"], obj["metadata"]["name"]
        namespace = obj["metadata"].get("namespace")
        args = [
            "get",
            f"{kind.lower()}.{obj['apiVersion'].split('/')[0]}" if "/" in obj["apiVersion"] else kind.lower(),
            name,
        ]
        result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *(["-n", namespace] if namespace else []), *args, "-o", "name"],
                                capture_output=True, text=True, timeout=30)  # fmt: skip
        assert result.returncode == 0, f"{kind}/{name}: {result.stderr}"
    assert (
        cluster.deployment("canary-operator")["spec"]["template"]["spec"]["serviceAccountName"]
        == SERVICE_ACCOUNT
    )


def secret(cluster: Cluster, name: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    cluster.clients.core.create_namespaced_secret(
        cluster.namespace, {"metadata": {"name": name}, "data": encoded}
    )


def custom(cluster: Cluster, plural: str, body: dict[str, Any]) -> None:
    cluster.clients.custom.create_namespaced_custom_object(GROUP, VERSION, cluster.namespace, plural, body)


def hpa(cluster: Cluster) -> None:
    cluster.clients.autoscaling.create_namespaced_horizontal_pod_autoscaler(cluster.namespace, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "podinfo"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                 "minReplicas": 1, "maxReplicas": 4,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]},
    })  # fmt: skip


def test_shipped_rbac_is_sufficient_and_minimal(
    shipped_operator: OperatorProcess, sandbox: Any, kubeconfig: str, prometheus_url: str
) -> None:
    receiver = Receiver()
    receiver.thread.start()
    try:
        with namespace_for(kubeconfig, "it-install-least-privilege") as cluster:
            secret(cluster, "alerts", {"address": f"{receiver.url}/alerts"})
            custom(cluster, "alertproviders", {"metadata": {"name": "team"},
                                               "spec": {"type": "webhook", "secretRef": {"name": "alerts"}}})  # fmt: skip
            custom(cluster, "metrictemplates", {"metadata": {"name": "up"}, "spec": {
                "provider": {"type": "prometheus", "address": prometheus_url}, "query": "count(up == 1)"}})  # fmt: skip
            cluster.create_deployment(STABLE_IMAGE)
            hpa(cluster)
            body = canary(cluster.namespace, interval="3s", step_weight=25, max_weight=50)
            body["spec"]["analysis"]["metrics"].append(
                {"name": "up", "templateRef": {"name": "up"}, "thresholdRange": {"min": 1}}
            )
            body["spec"]["analysis"]["alerts"] = [
                {"name": "team", "severity": "info", "providerRef": {"name": "team"}}
            ]
            cluster.create_canary(body)
            cluster.wait_phase("Initialized", 60)
            # An HPA the Canary does not name is found (a list) and reported.
            cluster.wait_for("an AutoscalerNotReferenced warning",
                             lambda s: any(c["type"] == "AutoscalerNotReferenced" for c in s.get("conditions", [])), 30)  # fmt: skip
            ref = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "podinfo"}
            cluster.clients.custom.patch_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, "canaries", "podinfo", {"spec": {"autoscalerRef": ref}}
            )
            # A hand-edited Service is put back.
            cluster.kubectl(
                "patch",
                "service",
                "podinfo-canary",
                "-p",
                '{"spec":{"selector":{"app":"edited"}}}',
                check=True,
            )
            cluster.eventually("the canary Service's selector restored",
                               lambda: cluster.clients.core.read_namespaced_service("podinfo-canary", cluster.namespace).spec.selector,
                               lambda selector: selector == {"app": "podinfo"}, 30)  # fmt: skip
            cluster.set_image(GOOD_IMAGE)
            cluster.wait_phase("Succeeded", 90)
            assert cluster.image_of("podinfo-primary") == GOOD_IMAGE
            primary_hpa = cluster.clients.autoscaling.read_namespaced_horizontal_pod_autoscaler
            assert primary_hpa("podinfo-primary", cluster.namespace).spec.max_replicas == 4
            # A changed HPA reaches the primary's at the next promotion.
            cluster.clients.autoscaling.patch_namespaced_horizontal_pod_autoscaler(
                "podinfo", cluster.namespace, {"spec": {"maxReplicas": 6}}
            )
            cluster.set_image(STABLE_IMAGE)
            cluster.wait_for("the second release promoted",
                             lambda s: s.get("phase") == "Succeeded" and s.get("lastPromotedSpec") == s.get("lastAppliedSpec")
                             and cluster.image_of("podinfo-primary") == STABLE_IMAGE, 90)  # fmt: skip
            assert primary_hpa("podinfo-primary", cluster.namespace).spec.max_replicas == 6
            cluster.set_image(BAD_IMAGE)
            status = cluster.wait_phase("Failed", 90)
            assert cluster.image_of("podinfo-primary") == STABLE_IMAGE
            assert status["canaryWeight"] == 0
            cluster.wait_event("Rolling back")
            cluster.eventually(
                "the alert, sent with the Secret's address", lambda: receiver.bodies("/alerts"), bool, 20
            )
            cluster.kubectl("delete", "canary", "podinfo", "--timeout=60s", check=True)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()

    denied = on_sandbox(sandbox, sandbox.api.permissions_used, OPERATOR_USER, allowed=False)
    assert not denied, "requests the shipped roles refused:\n" + "\n".join(sorted(map(str, denied)))
    unused = on_sandbox(sandbox, sandbox.api.unused_grants, OPERATOR_USER)
    assert not unused, "granted but never used (least privilege):\n" + "\n".join(sorted(map(str, unused)))


def test_a_permission_removed_by_hand_is_a_condition_and_an_event(
    shipped_operator: OperatorProcess, kubeconfig: str
) -> None:
    roles = Cluster(kubeconfig, SYSTEM_NAMESPACE)
    original = json.loads(
        roles.kubectl("get", "clusterrole", "canary-operator", "-o", "json", check=True).stdout
    )
    path = Path(shipped_operator.log_path).with_name("clusterrole.json")

    def replace_rules(rules: list[dict[str, Any]]) -> None:
        role = {
            **original,
            "metadata": {"name": "canary-operator", "labels": original["metadata"].get("labels", {})},
        }
        path.write_text(json.dumps({**role, "rules": rules}))
        roles.kubectl("replace", "-f", str(path), check=True)

    replace_rules([r for r in original["rules"] if "httproutes" not in r.get("resources", [])])
    try:
        with namespace_for(kubeconfig, "it-install-removed-permission") as cluster:
            cluster.create_deployment(STABLE_IMAGE)
            cluster.create_canary(canary(cluster.namespace))
            status = cluster.wait_for(
                "a ReconcileError condition",
                lambda s: any(
                    c["type"] == "ReconcileError" and c["status"] == "True" for c in s.get("conditions", [])
                ),
                60,
            )
            message = next(c["message"] for c in status["conditions"] if c["type"] == "ReconcileError")
            assert "permission denied (check the operator's RBAC)" in message, message
            assert f'User "{OPERATOR_USER}" cannot' in message and 'resource "httproutes"' in message, message
            cluster.wait_event_reason("ReconcileError")
            assert shipped_operator.process is not None and shipped_operator.process.poll() is None, (
                "no crash loop"
            )
    finally:
        replace_rules(original["rules"])


def kubelet_args(container: dict[str, Any]) -> list[str]:
    """The container's args with ``$(VAR)`` expanded from its literal env values, as the kubelet does."""
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return [
        re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), arg)
        for arg in container.get("args", [])
    ]


def test_the_namespaced_overlay_runs_on_a_role_alone(
    shipped_operator: OperatorProcess, sandbox: Any, kubeconfig: str, prometheus_url: str, tmp_path: Path
) -> None:
    """`kubectl apply -k deploy/namespaced/`: the operator watches one namespace with a Role, no ClusterRole."""
    shipped_operator.stop()
    admin = Cluster(kubeconfig, SYSTEM_NAMESPACE)
    admin.kubectl(
        "delete", "clusterrolebinding", "canary-operator", check=True
    )  # what the overlay leaves out
    before = on_sandbox(sandbox, sandbox.api.permissions_used, OPERATOR_USER, allowed=False)
    try:
        with namespace_for(kubeconfig, "canary") as cluster:  # the overlay's default watched namespace
            applied = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "apply", "-k", str(REPO_ROOT / "deploy" / "namespaced")],
                                     capture_output=True, text=True, timeout=60)  # fmt: skip
            assert applied.returncode == 0, applied.stderr
            container = admin.deployment("canary-operator")["spec"]["template"]["spec"]["containers"][0]
            args = kubelet_args(container)
            assert "--namespace=canary" in args
            token_kubeconfig = sandbox.service_account_kubeconfig(
                SYSTEM_NAMESPACE, SERVICE_ACCOUNT, tmp_path / "kubeconfig"
            )
            env = {
                **sandbox.proxy_env(),
                "POD_NAME": "canary-operator-ns-test",
                "POD_NAMESPACE": SYSTEM_NAMESPACE,
            }
            namespaced = OperatorProcess(
                str(token_kubeconfig), prometheus_url, tmp_path / "operator.log", env, args=args
            )
            namespaced.start()
            try:
                cluster.create_deployment(STABLE_IMAGE)
                cluster.create_canary(canary(cluster.namespace, interval="3s", step_weight=50, max_weight=50))
                cluster.wait_phase("Initialized", 60)
                cluster.set_image(GOOD_IMAGE)
                cluster.wait_phase("Succeeded", 90)
                assert cluster.image_of("podinfo-primary") == GOOD_IMAGE
                cluster.kubectl("delete", "canary", "podinfo", "--timeout=60s", check=True)
            finally:
                print(f"--- namespaced operator log (tail) ---\n{namespaced.log_tail(30)}")
                namespaced.stop()
        denied = on_sandbox(sandbox, sandbox.api.permissions_used, OPERATOR_USER, allowed=False) - before
        assert not denied, "requests the namespaced Role refused:\n" + "\n".join(sorted(map(str, denied)))
    finally:
        restored = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "apply", "-k", str(REPO_ROOT / "deploy")],
                                  capture_output=True, text=True, timeout=60)  # fmt: skip
        assert restored.returncode == 0, restored.stderr
