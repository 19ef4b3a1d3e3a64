"""Built-in objects the real kube-apiserver refuses are refused here too: 422, field path, kube's words.

Names over 63 characters, names that are not DNS labels/subdomains, bad label keys and values,
Deployments without containers or with a selector that misses the template, bad Service ports and
HPA bounds; on create, PUT and every patch type (the patched result is what is validated), seen
through the real ``kubectl`` and the ``kubernetes`` client as a user would see them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Http
from kubernetes import client
from kubernetes.client.rest import ApiException

from canary.sandbox.apiserver import ApiServerThread

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

DNS1123_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
TOO_LONG_63 = "must be no more than 63 characters"

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
SERVICES = "/api/v1/namespaces/default/services"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
HPAS = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=20)
        if check:
            assert proc.returncode == 0, f"{args}: {proc.stderr}"
        return proc

    return run


def _apply(kubectl: Kubectl, *docs: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs), check=False)


def deployment(name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        },
    }
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": body}


def service(name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def configmap(name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}}


def causes(resp: Any) -> list[tuple[str, str]]:
    """``(field, message)`` of a 422 (a requests response or an ApiException)."""
    body = json.loads(resp.body) if isinstance(resp, ApiException) else resp.json()
    status = resp.status if isinstance(resp, ApiException) else resp.status_code
    assert status == 422 and body["kind"] == "Status" and body["reason"] == "Invalid", body
    return [(c["field"], c["message"]) for c in body["details"]["causes"]]


# ------------------------------------------------------------------ names, via kubectl and the client
def test_kubectl_refuses_service_name_of_64_characters(kubectl: Kubectl, k8s: client.ApiClient) -> None:
    name = "p" * 56 + "-primary"  # the <name>-primary Service of a 56-character target
    assert len(name) == 64
    proc = _apply(kubectl, service(name))
    assert proc.returncode != 0
    assert (
        f'The Service "{name}" is invalid: metadata.name: Invalid value: "{name}": {TOO_LONG_63}'
        in proc.stderr
    )
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(k8s).create_namespaced_service("default", service(name))
    assert causes(info.value) == [("metadata.name", f'Invalid value: "{name}": {TOO_LONG_63}')]
    assert kubectl("get", "services", "-o", "name").stdout.split() == ["service/kubernetes"]
    # 63 characters is fine, as on a real cluster
    assert "service/" + name[1:] + " created" in _apply(kubectl, service(name[1:])).stdout


def test_kubectl_refuses_foo_bar_names_with_each_kinds_rule(kubectl: Kubectl) -> None:
    proc = _apply(kubectl, deployment("Foo_bar"))
    assert proc.returncode != 0
    expected = (
        f'The Deployment "Foo_bar" is invalid: metadata.name: Invalid value: "Foo_bar": {DNS1123_SUBDOMAIN}'
    )
    assert expected in proc.stderr
    proc = kubectl("create", "namespace", "Foo_bar", check=False)
    assert proc.returncode != 0 and f'metadata.name: Invalid value: "Foo_bar": {DNS1123_LABEL}' in proc.stderr
    # Services are DNS-1035 labels: no leading digit; Namespaces may not contain dots
    proc = _apply(kubectl, service("1web"))
    assert proc.returncode != 0 and f'metadata.name: Invalid value: "1web": {DNS1035_LABEL}' in proc.stderr
    proc = kubectl("create", "namespace", "team.a", check=False)
    assert 'metadata.name: Invalid value: "team.a": must not contain dots' in proc.stderr
    # ...while a ConfigMap (a subdomain) may have dots and up to 253 characters
    long_name = ".".join(["a" * 63] * 4)[:253]
    assert _apply(kubectl, configmap("team.a"), configmap(long_name)).returncode == 0


def test_python_client_sees_422_for_bad_names(k8s: client.ApiClient, http: Http) -> None:
    core = client.CoreV1Api(k8s)
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("default", configmap("Foo_bar"))
    assert causes(info.value) == [("metadata.name", f'Invalid value: "Foo_bar": {DNS1123_SUBDOMAIN}')]
    with pytest.raises(ApiException) as info:
        core.create_namespace({"metadata": {"name": "x" * 64}})
    assert causes(info.value) == [("metadata.name", f'Invalid value: "{"x" * 64}": {TOO_LONG_63}')]
    with pytest.raises(ApiException) as info:
        client.AppsV1Api(k8s).create_namespaced_deployment("default", deployment("a" * 254))
    assert causes(info.value)[0] == (
        "metadata.name",
        f'Invalid value: "{"a" * 254}": must be no more than 253 characters',
    )
    assert http.get(f"{CONFIGMAPS}/Foo_bar").status_code == 404


def test_generate_name_is_checked_as_a_prefix_and_truncated(http: Http) -> None:
    ok = http.post(CONFIGMAPS, {"metadata": {"generateName": "job-"}})
    assert ok.status_code == 201 and ok.json()["metadata"]["name"].startswith("job-")
    long = http.post(CONFIGMAPS, {"metadata": {"generateName": "x" * 80}})  # kube keeps 58, adds 5
    assert long.status_code == 201 and len(long.json()["metadata"]["name"]) == 63
    bad = causes(http.post(CONFIGMAPS, {"metadata": {"generateName": "Job-"}}))
    assert bad[0][0] == "metadata.generateName" and bad[0][1].startswith('Invalid value: "Job-": a lowercase')
    assert bad[1][0] == "metadata.name"


def test_custom_resources_are_dns_subdomains(http: Http, thing_crd: dict[str, Any]) -> None:
    path = "/apis/test.canary.dev/v1/namespaces/default/things"
    body = {"apiVersion": "test.canary.dev/v1", "kind": "Thing", "metadata": {"name": "Foo_bar"}}
    resp = http.post(path, body)
    assert resp.json()["message"] == (
        f'Thing.test.canary.dev "Foo_bar" is invalid: metadata.name: Invalid value: "Foo_bar": {DNS1123_SUBDOMAIN}'
    )
    body["metadata"]["name"] = "foo.bar"
    assert http.post(path, body).status_code == 201


def test_core_events_keep_their_looser_names(k8s: client.ApiClient) -> None:
    event = {"metadata": {"name": "Web.17A"}, "involvedObject": {"kind": "Pod", "name": "web"}, "reason": "X"}
    assert client.CoreV1Api(k8s).create_namespaced_event("default", event).metadata.name == "Web.17A"


# ------------------------------------------------------------------ labels and annotations
def test_label_value_of_64_characters(kubectl: Kubectl, k8s: client.ApiClient) -> None:
    value = "v" * 64
    proc = _apply(kubectl, configmap("cm", labels={"app": value}))
    assert proc.returncode != 0
    assert (
        f'The ConfigMap "cm" is invalid: metadata.labels: Invalid value: "{value}": {TOO_LONG_63}'
        in proc.stderr
    )
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(k8s).create_namespaced_config_map("default", configmap("cm", labels={"app": "-x"}))
    assert causes(info.value) == [("metadata.labels", f'Invalid value: "-x": {LABEL_VALUE}')]
    assert _apply(kubectl, configmap("cm", labels={"app": "v" * 63, "empty": ""})).returncode == 0


def test_label_and_annotation_keys_are_qualified_names(http: Http) -> None:
    found = causes(http.post(CONFIGMAPS, configmap("cm", labels={"a/b/c": "x", "example.com/": "y"})))
    assert ("metadata.labels", 'Invalid value: "example.com/": name part must be non-empty') in found
    assert any(
        f == "metadata.labels" and m.startswith('Invalid value: "a/b/c": a qualified name ') for f, m in found
    )
    prefix = causes(http.post(CONFIGMAPS, configmap("cm", labels={"Example.com/app": "x"})))
    assert prefix[0][1].startswith(
        'Invalid value: "Example.com/app": prefix part a lowercase RFC 1123 subdomain'
    )
    name = causes(http.post(CONFIGMAPS, configmap("cm", annotations={"k" * 64: "x"})))
    assert name == [("metadata.annotations", f'Invalid value: "{"k" * 64}": name part {TOO_LONG_63}')]
    big = causes(http.post(CONFIGMAPS, configmap("cm", annotations={"a": "x" * (256 * 1024)})))
    assert big == [("metadata.annotations", "Too long: may not be more than 262144 bytes")]
    ok = configmap(
        "cm", labels={"app.kubernetes.io/name": "web"}, annotations={"Example.com/Note": "x" * 1000}
    )
    assert http.post(CONFIGMAPS, ok).status_code == 201


# ------------------------------------------------------------------ Deployments
def test_deployment_without_containers(kubectl: Kubectl, k8s: client.ApiClient) -> None:
    bare = deployment(template={"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}})
    proc = _apply(kubectl, bare)
    assert proc.returncode != 0
    assert 'The Deployment "web" is invalid: spec.template.spec.containers: Required value' in proc.stderr
    with pytest.raises(ApiException) as info:
        client.AppsV1Api(k8s).create_namespaced_deployment("default", bare)
    assert causes(info.value) == [("spec.template.spec.containers", "Required value")]


def test_deployment_selector_must_match_template(kubectl: Kubectl, k8s: client.ApiClient) -> None:
    other = deployment(selector={"matchLabels": {"app": "other"}})
    proc = _apply(kubectl, other)
    assert proc.returncode != 0
    assert (
        'The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value: {"app":"web"}: '
        "`selector` does not match template `labels`"
    ) in proc.stderr
    with pytest.raises(ApiException) as info:
        client.AppsV1Api(k8s).create_namespaced_deployment("default", other)
    assert causes(info.value) == [
        (
            "spec.template.metadata.labels",
            'Invalid value: {"app":"web"}: `selector` does not match template `labels`',
        )
    ]
    expressions = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}
    assert _apply(kubectl, deployment(selector=expressions)).returncode == 0


def test_deployment_selector_required_and_not_empty(http: Http) -> None:
    missing = deployment()
    del missing["spec"]["selector"]
    assert causes(http.post(DEPLOYMENTS, missing)) == [
        ("spec.selector", "Required value"),
        (
            "spec.template.metadata.labels",
            'Invalid value: {"app":"web"}: `selector` does not match template `labels`',
        ),
    ]
    empty = causes(http.post(DEPLOYMENTS, deployment(selector={})))
    assert empty == [("spec.selector", "Invalid value: {}: empty selector is invalid for deployment")]


def test_deployment_containers_replicas_and_ports(http: Http) -> None:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "containers": [
                {"name": "Web_1", "image": "web:1", "ports": [{"containerPort": 70000}]},
                {"name": "side"},
                {"name": "side", "image": "side:1"},
            ]
        },
    }
    found = causes(http.post(DEPLOYMENTS, deployment(replicas=-1, template=template)))
    assert found == [
        ("spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
        ("spec.template.spec.containers[0].name", f'Invalid value: "Web_1": {DNS1123_LABEL}'),
        (
            "spec.template.spec.containers[0].ports[0].containerPort",
            "Invalid value: 70000: must be between 1 and 65535, inclusive",
        ),
        ("spec.template.spec.containers[1].image", "Required value"),
        ("spec.template.spec.containers[2].name", 'Duplicate value: "side"'),
    ]


def test_deployment_update_and_every_patch_validate_the_result(http: Http, kubectl: Kubectl) -> None:
    assert http.post(DEPLOYMENTS, deployment()).status_code == 201
    url = f"{DEPLOYMENTS}/web"
    merge = http.patch(url, {"spec": {"template": {"spec": {"containers": None}}}})
    assert causes(merge) == [("spec.template.spec.containers", "Required value")]
    json_patch = http.patch(
        url, [{"op": "replace", "path": "/spec/replicas", "value": -2}], ctype="application/json-patch+json"
    )
    assert causes(json_patch) == [("spec.replicas", "Invalid value: -2: must be greater than or equal to 0")]
    strategic = http.patch(
        url,
        {"spec": {"template": {"metadata": {"labels": {"app": "api"}}}}},
        ctype="application/strategic-merge-patch+json",
    )
    assert causes(strategic)[0][0] == "spec.template.metadata.labels"
    put = http.get(url).json()
    put["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    assert causes(http.put(url, put)) == [("spec.template.spec.containers[0].image", "Required value")]
    put = http.get(url).json()
    put["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    put["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    assert causes(http.put(url, put)) == [
        ("spec.selector", 'Invalid value: {"matchLabels":{"app":"web","tier":"x"}}: field is immutable')
    ]
    proc = kubectl(
        "patch", "deployment", "web", "-p", '{"metadata":{"labels":{"tier":"Front_"}}}', check=False
    )
    assert proc.returncode != 0 and 'metadata.labels: Invalid value: "Front_"' in proc.stderr
    stored = http.get(url).json()
    assert stored["metadata"]["generation"] == 1 and stored["spec"]["replicas"] == 1
    assert http.patch(url, {"spec": {"replicas": 3}}).status_code == 200


def test_scale_and_status_writes(http: Http) -> None:
    http.post(DEPLOYMENTS, deployment())
    url = f"{DEPLOYMENTS}/web"
    scale = http.patch(f"{url}/scale", {"spec": {"replicas": -1}})
    assert scale.status_code == 422 and scale.json()["message"] == (
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    )
    bad = http.patch(f"{url}/status", {"status": {"replicas": 1, "availableReplicas": -1}})
    assert causes(bad) == [
        ("status.availableReplicas", "Invalid value: -1: must be greater than or equal to 0")
    ]
    ok = http.patch(f"{url}/status", {"status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 1}})
    assert ok.status_code == 200 and ok.json()["status"]["availableReplicas"] == 1


# ------------------------------------------------------------------ Services and HPAs
def test_service_ports_and_selector(kubectl: Kubectl, http: Http) -> None:
    proc = _apply(kubectl, service(ports=[{"port": 0}]))
    assert proc.returncode != 0
    assert "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive" in proc.stderr
    found = causes(
        http.post(
            SERVICES,
            service(
                ports=[{"port": 80, "targetPort": "HTTP"}, {"port": 65536, "protocol": "ICMP"}],
                selector={"app": "v" * 64},
            ),
        )
    )
    assert found == [
        ("spec.ports[0].name", "Required value"),
        (
            "spec.ports[0].targetPort",
            'Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
        ),
        ("spec.ports[0].targetPort", 'Invalid value: "HTTP": must contain at least one letter (a-z)'),
        ("spec.ports[1].name", "Required value"),
        ("spec.ports[1].port", "Invalid value: 65536: must be between 1 and 65535, inclusive"),
        ("spec.ports[1].protocol", 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'),
        (
            "spec.ports[1].targetPort",
            "Invalid value: 65536: must be between 1 and 65535, inclusive",
        ),  # defaulted
        ("spec.selector", f'Invalid value: "{"v" * 64}": {TOO_LONG_63}'),
    ]
    assert causes(http.post(SERVICES, service(ports=[]))) == [("spec.ports", "Required value")]
    assert http.post(SERVICES, service("headless", ports=[], clusterIP="None")).status_code == 201
    two = [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "metrics", "port": 9090}]
    assert http.post(SERVICES, service(ports=two)).status_code == 201


def test_refused_service_holds_no_cluster_ip(api_server: ApiServerThread, http: Http) -> None:
    before = set(api_server.server.handlers.cluster_ips)
    assert http.post(SERVICES, service("Bad")).status_code == 422
    assert api_server.server.handlers.cluster_ips == before


def test_hpa_replica_bounds(http: Http) -> None:
    def hpa(**spec: Any) -> dict[str, Any]:
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
        return {"metadata": {"name": "web"}, "spec": {"scaleTargetRef": ref, **spec}}

    assert causes(http.post(HPAS, hpa(maxReplicas=0))) == [
        ("spec.maxReplicas", "Invalid value: 0: must be greater than 0")
    ]
    assert causes(http.post(HPAS, hpa(minReplicas=5, maxReplicas=3))) == [
        ("spec.maxReplicas", "Invalid value: 3: must be greater than or equal to `minReplicas`")
    ]
    assert causes(http.post(HPAS, hpa(minReplicas=0, maxReplicas=3)))[0] == (
        "spec.minReplicas",
        "Invalid value: 0: must be greater than or equal to 1",
    )
    assert http.post(HPAS, hpa(minReplicas=2, maxReplicas=2)).status_code == 201
    assert causes(http.patch(f"{HPAS}/web", {"spec": {"maxReplicas": 1}}))[0][0] == "spec.maxReplicas"
