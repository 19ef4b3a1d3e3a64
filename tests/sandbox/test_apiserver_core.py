"""Conformance of the emulator's core semantics, one test per behaviour."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Http
from kubernetes import client
from kubernetes.client.rest import ApiException

from canary.sandbox.apiserver import ApiServerThread

THINGS = "/apis/test.canary.dev/v1/namespaces/default/things"


def thing(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "test.canary.dev/v1", "kind": "Thing", "metadata": {"name": name}, "spec": spec}


def test_discovery_lists_builtins_and_version(http: Http) -> None:
    assert http.get("/version").json()["major"] == "1"
    core = {r["name"] for r in http.get("/api/v1").json()["resources"]}
    assert {"namespaces", "services", "configmaps", "secrets", "events", "pods", "services/status"} <= core
    apps = http.get("/apis/apps/v1").json()["resources"]
    scale = next(r for r in apps if r["name"] == "deployments/scale")
    assert scale["kind"] == "Scale" and scale["group"] == "autoscaling"
    groups = {g["name"] for g in http.get("/apis").json()["groups"]}
    assert {"apps", "autoscaling", "networking.k8s.io", "apiextensions.k8s.io"} <= groups


def test_crd_registration_shows_in_discovery_and_unregisters(http: Http, thing_crd: dict[str, Any]) -> None:
    conds = {c["type"]: c["status"] for c in thing_crd["status"]["conditions"]}
    assert conds == {"Established": "True", "NamesAccepted": "True"}
    res = {r["name"]: r for r in http.get("/apis/test.canary.dev/v1").json()["resources"]}
    assert res["things"]["shortNames"] == ["th"] and res["things"]["categories"] == ["all"]
    assert res["things"]["namespaced"] is True and "things/status" in res
    assert http.get("/apis/test.canary.dev").json()["preferredVersion"]["version"] == "v1"
    assert http.post(THINGS, thing("a")).status_code == 201
    assert http.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.test.canary.dev").ok
    assert http.get("/apis/test.canary.dev/v1").status_code == 404
    assert http.get(THINGS).status_code == 404


def test_metadata_bookkeeping_and_already_exists(k8s: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(k8s)
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    assert cm.metadata.uid and cm.metadata.creation_timestamp and int(cm.metadata.resource_version) > 0
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    assert err.value.status == 409 and '"AlreadyExists"' in str(err.value.body)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("nope", "default")
    assert err.value.status == 404


def test_generate_name(http: Http) -> None:
    resp = http.post("/api/v1/namespaces/default/configmaps", {"metadata": {"generateName": "job-"}})
    name = resp.json()["metadata"]["name"]
    assert resp.status_code == 201 and name.startswith("job-") and len(name) == len("job-") + 5


def test_create_in_missing_namespace_is_404_and_namespace_create_works(k8s: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(k8s)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("ghost", {"metadata": {"name": "c"}})
    assert err.value.status == 404
    core.create_namespace({"metadata": {"name": "ghost"}})
    assert (
        core.create_namespaced_config_map("ghost", {"metadata": {"name": "c"}}).metadata.namespace == "ghost"
    )


def test_stale_resource_version_conflicts_on_put_and_patch(k8s: client.ApiClient, http: Http) -> None:
    core: Any = client.CoreV1Api(k8s)
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    stale = cm.metadata.resource_version
    cm.data = {"a": "2"}
    core.replace_namespaced_config_map("c", "default", cm)
    cm.data = {"a": "3"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", "default", cm)
    assert err.value.status == 409 and '"Conflict"' in str(err.value.body)
    resp = http.patch(
        "/api/v1/namespaces/default/configmaps/c",
        {"metadata": {"resourceVersion": stale}, "data": {"a": "4"}},
    )
    assert resp.status_code == 409 and resp.json()["reason"] == "Conflict"
    assert core.read_namespaced_config_map("c", "default").data == {"a": "2"}


def test_json_patch_test_op_fresh_ok_stale_422(http: Http) -> None:
    rv = http.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}}).json()["metadata"][
        "resourceVersion"
    ]
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
           {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]}]  # fmt: skip
    ok = http.patch("/api/v1/namespaces/default/configmaps/c", ops, "application/json-patch+json")
    assert ok.status_code == 200 and ok.json()["metadata"]["finalizers"] == ["x/y"]
    stale = http.patch("/api/v1/namespaces/default/configmaps/c", ops, "application/json-patch+json")
    assert stale.status_code == 422 and stale.json()["kind"] == "Status"


def test_status_isolation_both_ways(http: Http, thing_crd: dict[str, Any]) -> None:
    created = http.post(THINGS, {**thing("a", weight=5), "status": {"phase": "ignored"}}).json()
    assert "status" not in created
    main = http.patch(f"{THINGS}/a", {"spec": {"weight": 6}, "status": {"phase": "nope"}}).json()
    assert main["spec"]["weight"] == 6 and "status" not in main
    st = http.patch(f"{THINGS}/a/status", {"spec": {"weight": 99}, "status": {"phase": "Ready"}}).json()
    assert st["status"] == {"phase": "Ready"} and st["spec"]["weight"] == 6
    body = http.get(f"{THINGS}/a").json()
    body["status"]["phase"] = "Changed"
    assert http.put(f"{THINGS}/a", body).json()["status"]["phase"] == "Ready"


def test_generation_bumps_only_on_spec_change(http: Http, thing_crd: dict[str, Any]) -> None:
    assert http.post(THINGS, thing("a", weight=5)).json()["metadata"]["generation"] == 1
    labelled = http.patch(f"{THINGS}/a", {"metadata": {"labels": {"x": "y"}}}).json()
    assert labelled["metadata"]["generation"] == 1
    assert http.patch(f"{THINGS}/a/status", {"status": {"phase": "P"}}).json()["metadata"]["generation"] == 1
    assert http.patch(f"{THINGS}/a", {"spec": {"weight": 7}}).json()["metadata"]["generation"] == 2


def test_finalizers_delay_deletion_until_cleared(http: Http) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    http.post(path, {"metadata": {"name": "c", "finalizers": ["test/hold"]}})
    deleting = http.delete(f"{path}/c").json()
    assert deleting["metadata"]["deletionTimestamp"]
    assert http.get(f"{path}/c").ok
    http.patch(f"{path}/c", {"metadata": {"finalizers": None}})
    assert http.get(f"{path}/c").status_code == 404


def test_owner_references_gc_is_transitive(api_server: ApiServerThread, http: Http) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    uid = http.post(path, {"metadata": {"name": "root"}}).json()["metadata"]["uid"]

    def child(name: str, owner_uid: str) -> str:
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": owner_uid}
        return str(
            http.post(path, {"metadata": {"name": name, "ownerReferences": [ref]}}).json()["metadata"]["uid"]
        )

    grandchild_owner = child("child", uid)
    child("grandchild", grandchild_owner)
    watch = http.get(
        f"{path}?watch=true&fieldSelector=metadata.name=grandchild&resourceVersion="
        + http.get(path).json()["metadata"]["resourceVersion"],
        stream=True,
    )
    http.delete(f"{path}/root")
    line = next(watch.iter_lines())
    assert b'"DELETED"' in line
    names = {i["metadata"]["name"] for i in http.get(path).json()["items"]}
    assert not names & {"root", "child", "grandchild"}


def test_apply_patch_yaml_creates_then_merges(http: Http, thing_crd: dict[str, Any]) -> None:
    doc = "apiVersion: test.canary.dev/v1\nkind: Thing\nmetadata:\n  name: a\nspec:\n  weight: 3\n"
    ctype = "application/apply-patch+yaml"
    created = http.patch(f"{THINGS}/a?fieldManager=t", doc, ctype)
    assert created.status_code == 201 and created.json()["spec"]["weight"] == 3
    merged = http.patch(f"{THINGS}/a?fieldManager=t", doc.replace("weight: 3", "mode: fast"), ctype).json()
    assert merged["spec"]["weight"] == 3 and merged["spec"]["mode"] == "fast"


def test_strategic_merge_patch_merges_containers_by_name(k8s: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(k8s)
    containers = [
        {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
        {"name": "side", "image": "s:1"},
    ]
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": containers}}},
    })  # fmt: skip
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}}}}
    dep = apps.patch_namespaced_deployment("d", "default", patch)  # python client sends strategic merge
    got = {c.name: (c.image, c.env) for c in dep.spec.template.spec.containers}
    assert got["app"][0] == "a:2" and got["app"][1][0].value == "1" and got["side"][0] == "s:1"
    assert dep.metadata.generation == 2


def test_scale_subresource_and_service_cluster_ip(k8s: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(k8s)
    core: Any = client.CoreV1Api(k8s)
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    })  # fmt: skip
    apps.patch_namespaced_deployment_scale("d", "default", {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment_scale("d", "default").spec.replicas == 4
    svc = core.create_namespaced_service(
        "default", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    )
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.type == "ClusterIP"


def test_events_accepted(k8s: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(k8s)
    core.create_namespaced_event("default", {
        "metadata": {"generateName": "x-"}, "involvedObject": {"kind": "Thing", "name": "a", "namespace": "default"},
        "reason": "Logging", "message": "hello", "type": "Normal", "source": {"component": "kopf"},
    })  # fmt: skip
    events = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=a,reason=Logging"
    ).items
    assert [e.message for e in events] == ["hello"]


def test_error_is_status_object(http: Http) -> None:
    body = http.get("/api/v1/namespaces/default/configmaps/missing").json()
    assert body["kind"] == "Status" and body["code"] == 404 and body["reason"] == "NotFound"
    assert body["details"]["name"] == "missing"


@pytest.mark.parametrize("token", ["Infinity", "NaN", "-Infinity"])
def test_non_json_numbers_are_refused_like_a_real_server(http: Http, token: str) -> None:
    """Python's json writes Infinity/NaN for float('inf')/nan; Go's decoder (kube-apiserver) refuses them."""
    head = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n", "annotations": {"x": '
    raw = head + token + "}}}"
    answer = http.post("/api/v1/namespaces/default/configmaps", raw)
    assert answer.status_code == 400, answer.text
    assert "the body of the request was in an unknown format" in answer.json()["message"]
