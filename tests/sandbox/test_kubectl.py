"""The real ``kubectl`` against the emulator: apply, get (server-side tables), wait, delete."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TEST_CRD, Http
from reference_data import REFERENCE_CRD_FILES
from waiting import eventually

from canary.sandbox.apiserver import ApiServerThread

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    def run(
        *args: str, stdin: str | None = None, timeout: float = 20, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, f"{args}: {proc.stderr}"
            assert "warning" not in proc.stderr.lower(), proc.stderr
        return proc

    return run


def _yaml(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs)


def _thing(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "test.canary.dev/v1", "kind": "Thing", "metadata": {"name": name}, "spec": spec}


def test_apply_crd_then_object_and_get(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=_yaml(TEST_CRD))
    out = kubectl("apply", "-f", "-", stdin=_yaml(_thing("a", weight=30))).stdout
    assert "thing.test.canary.dev/a created" in out
    table = kubectl("get", "things").stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "WEIGHT", "CREATED", "AGE"]
    assert table[1].split()[:2] == ["a", "30"]
    assert kubectl("get", "th", "a", "-o", "yaml").stdout.count("weight: 30") == 1
    assert "thing.test.canary.dev/a" in kubectl("get", "all").stdout
    assert "unchanged" in kubectl("apply", "-f", "-", stdin=_yaml(_thing("a", weight=30))).stdout


def test_apply_rejects_invalid_and_unknown_fields(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=_yaml(TEST_CRD))
    bad = kubectl("apply", "-f", "-", stdin=_yaml(_thing("a", weight=200, maxWeight=300)), check=False)
    assert bad.returncode != 0 and "spec.weight in body should be less than or equal to 100" in bad.stderr
    unknown = kubectl("apply", "-f", "-", stdin=_yaml(_thing("a", foo=1)), check=False)
    assert unknown.returncode != 0 and 'strict decoding error: unknown field "spec.foo"' in unknown.stderr


def test_create_namespace_and_delete(kubectl: Kubectl, http: Http) -> None:
    assert "namespace/team created" in kubectl("create", "namespace", "team").stdout
    kubectl("create", "configmap", "cm", "-n", "team", "--from-literal=a=b")
    assert http.get("/api/v1/namespaces/team/configmaps/cm").json()["data"] == {"a": "b"}
    assert 'configmap "cm" deleted' in kubectl("delete", "configmap", "cm", "-n", "team").stdout
    kubectl("delete", "namespace", "team")
    assert http.get("/api/v1/namespaces/team").status_code == 404


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1", "ports": [{"containerPort": 80}]},
                                    {"name": "side", "image": "side:1"}]},
        },
    },
}  # fmt: skip
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]}}  # fmt: skip


def test_apply_builtins_and_strategic_reapply(kubectl: Kubectl, http: Http) -> None:
    kubectl("apply", "-f", "-", stdin=_yaml(DEPLOYMENT, SERVICE))
    changed = yaml.safe_load(yaml.safe_dump(DEPLOYMENT))
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2"
    assert (
        "deployment.apps/web configured" in kubectl("apply", "-f", "-", stdin=_yaml(changed, SERVICE)).stdout
    )
    dep = http.get("/apis/apps/v1/namespaces/default/deployments/web").json()
    assert [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["web:2", "side:1"]
    assert dep["metadata"]["generation"] == 2
    rows = kubectl("get", "deploy,svc").stdout
    assert "deployment.apps/web   0/2" in rows and "service/web" in rows and "80/TCP" in rows


def test_reference_crds_register_and_accept_objects(kubectl: Kubectl, http: Http) -> None:
    for path in REFERENCE_CRD_FILES:
        kubectl("apply", "-f", str(path))
    objects = [
        {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "podinfo"},
         "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                  "service": {"port": 9898},
                  "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10}}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "podinfo"},
         "spec": {"parentRefs": [{"name": "gw"}],
                  "rules": [{"backendRefs": [{"name": "primary", "port": 80, "weight": 90},
                                             {"name": "canary", "port": 80, "weight": 10}]}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "podinfo"},
         "spec": {"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "primary"}, "weight": 100}]}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "podinfo"},
         "spec": {"host": "podinfo"}},
    ]  # fmt: skip
    kubectl("apply", "-f", "-", stdin=_yaml(*objects))
    route = http.get("/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/podinfo").json()
    assert route["spec"]["rules"][0]["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/"}}
    ]  # schema default
    assert "podinfo" in kubectl("get", "canaries,httproutes,virtualservices,destinationrules").stdout
    bad_route = yaml.safe_load(yaml.safe_dump(objects[1]))
    bad_route["metadata"]["name"] = "bad"
    bad_route["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "no-slash"}}]
    proc = kubectl("apply", "-f", "-", stdin=_yaml(bad_route), check=False)
    assert proc.returncode != 0 and "is invalid" in proc.stderr


def test_wait_for_condition(kubectl: Kubectl, http: Http, api_server: ApiServerThread) -> None:
    kubectl("apply", "-f", "-", stdin=_yaml(TEST_CRD))
    kubectl("apply", "-f", "-", stdin=_yaml(_thing("a"), _thing("b")))
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    things = "/apis/test.canary.dev/v1/namespaces/default/things"
    result: dict[str, Any] = {}

    def wait(name: str, timeout: str) -> None:
        result[name] = kubectl(
            "wait", "--for=condition=Ready", f"thing/{name}", f"--timeout={timeout}", check=False
        )
        result[name + "_at"] = time.monotonic()

    # the condition on another object must not satisfy the wait
    waiter = threading.Thread(target=wait, args=("a", "2s"))
    waiter.start()
    eventually(
        "kubectl watching things",
        lambda: api_server.call(api_server.store.watcher_count, "things.test.canary.dev") > 0,
    )
    http.patch(f"{things}/b/status", ready)
    waiter.join(timeout=15)
    assert result["a"].returncode != 0 and "timed out" in result["a"].stderr

    waiter = threading.Thread(target=wait, args=("a", "10s"))
    waiter.start()
    eventually(
        "kubectl watching things",
        lambda: api_server.call(api_server.store.watcher_count, "things.test.canary.dev") > 0,
    )
    set_at = time.monotonic()
    http.patch(f"{things}/a/status", ready)
    waiter.join(timeout=15)
    assert result["a"].returncode == 0, result["a"].stderr
    assert result["a_at"] - set_at < 1.0
