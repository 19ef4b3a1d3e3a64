"""RBAC in the emulator, as a ServiceAccount sees it: kube's rule matching, scopes and 403 texts.

Every check is what the caller gets back (status code, Status message), never internal state, except
for the permission usage record, which is an in-process API by design.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Http, thing

from canary.sandbox.apiserver import ApiServerThread, Permission
from canary.sandbox.sandbox import sandbox_crds

RBAC = "/apis/rbac.authorization.k8s.io/v1"
SA_NS, SA_NAME = "canary-system", "canary-operator"
USER = f"system:serviceaccount:{SA_NS}:{SA_NAME}"
CANARY_CRD = next(c for c in sandbox_crds() if c["metadata"]["name"] == "canaries.canary.dev")
CANARIES = "/apis/canary.dev/v1alpha1/namespaces/test/canaries"
THINGS = "/apis/test.canary.dev/v1/namespaces/test/things"


def role(name: str, *rules: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    kind = "Role" if namespace else "ClusterRole"
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "rules": list(rules),
    }


def rule(verbs: str, groups: str, resources: str, names: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "verbs": verbs.split(","),
        "apiGroups": groups.split(","),
        "resources": resources.split(","),
    }
    if names:
        out["resourceNames"] = names.split(",")
    return out


def binding(
    name: str, ref_kind: str, ref_name: str, *subjects: dict[str, Any], namespace: str | None = None
) -> dict[str, Any]:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    subs = list(subjects) or [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NS}]
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref_name},
            "subjects": subs}  # fmt: skip


class Admin:
    """The admin's raw client plus helpers to grant the operator's ServiceAccount things."""

    def __init__(self, http: Http) -> None:
        self.http = http

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.http.post(path, body)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def role(self, name: str, *rules: dict[str, Any], namespace: str | None = None) -> None:
        path = f"{RBAC}/namespaces/{namespace}/roles" if namespace else f"{RBAC}/clusterroles"
        self.create(path, role(name, *rules, namespace=namespace))

    def bind(
        self, name: str, ref_kind: str, ref_name: str, *subjects: dict[str, Any], namespace: str | None = None
    ) -> None:
        path = f"{RBAC}/namespaces/{namespace}/rolebindings" if namespace else f"{RBAC}/clusterrolebindings"
        self.create(path, binding(name, ref_kind, ref_name, *subjects, namespace=namespace))


@pytest.fixture
def admin(http: Http, thing_crd: dict[str, Any]) -> Admin:
    a = Admin(http)
    for ns in (SA_NS, "test", "other"):
        a.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    a.create(f"/api/v1/namespaces/{SA_NS}/serviceaccounts", {"metadata": {"name": SA_NAME}})
    a.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CANARY_CRD)
    return a


@pytest.fixture
def op(api_server: ApiServerThread, admin: Admin) -> Http:
    """The operator's ServiceAccount, through a token from the TokenRequest API."""
    return Http(api_server.url, api_server.service_account_token(SA_NS, SA_NAME))


def forbidden(resp: Any) -> str:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Forbidden", 403)
    return str(body["message"])


def test_no_grant_is_forbidden_with_kube_messages(op: Http) -> None:
    resp = op.get("/api/v1/namespaces/test/pods")
    assert forbidden(resp) == (
        f'pods is forbidden: User "{USER}" cannot list resource "pods" in API group "" in the namespace "test"'
    )
    assert resp.json()["details"] == {"kind": "pods"}
    resp = op.get("/apis/apps/v1/deployments")
    assert forbidden(resp) == (
        f'deployments.apps is forbidden: User "{USER}" cannot list resource "deployments" in API group "apps" '
        "at the cluster scope"
    )
    assert resp.json()["details"] == {"group": "apps", "kind": "deployments"}
    resp = op.patch(f"{CANARIES}/podinfo/status", {"status": {}})
    assert forbidden(resp) == (
        f'canaries.canary.dev "podinfo" is forbidden: User "{USER}" cannot patch resource "canaries/status" '
        'in API group "canary.dev" in the namespace "test"'
    )
    assert resp.json()["details"] == {"name": "podinfo", "group": "canary.dev", "kind": "canaries"}
    resp = op.get("/metrics")
    assert forbidden(resp) == f'forbidden: User "{USER}" cannot get path "/metrics"'
    assert resp.json()["details"] == {}
    assert forbidden(op.get("/api/v1/namespaces/test/configmaps?watch=true")).endswith(
        'cannot watch resource "configmaps" in API group "" in the namespace "test"'
    )
    assert forbidden(op.delete("/api/v1/namespaces/test/configmaps")).startswith(
        f'configmaps is forbidden: User "{USER}" cannot deletecollection resource "configmaps"'
    )


def test_status_subresource_and_main_resource_are_separate_grants(admin: Admin, op: Http) -> None:
    admin.role(
        "status-writer", rule("get,patch,update", "test.canary.dev", "things/status"), namespace="test"
    )
    admin.bind("status-writer", "Role", "status-writer", namespace="test")
    admin.create(THINGS, thing("a", weight=1))
    assert op.patch(f"{THINGS}/a/status", {"status": {"phase": "Ready"}}).status_code == 200
    assert forbidden(op.patch(f"{THINGS}/a", {"spec": {"weight": 2}})) == (
        f'things.test.canary.dev "a" is forbidden: User "{USER}" cannot patch resource "things" '
        'in API group "test.canary.dev" in the namespace "test"'
    )
    assert forbidden(op.get(f"{THINGS}/a")).endswith(
        'cannot get resource "things" in API group "test.canary.dev" in the namespace "test"'
    )

    admin.role("spec-writer", rule("get,patch", "test.canary.dev", "things"), namespace="test")
    admin.bind("spec-writer", "Role", "spec-writer", namespace="test")
    assert op.patch(f"{THINGS}/a", {"spec": {"weight": 2}}).status_code == 200
    admin.http.delete(f"{RBAC}/namespaces/test/rolebindings/status-writer")
    assert 'cannot patch resource "things/status"' in forbidden(
        op.patch(f"{THINGS}/a/status", {"status": {}})
    )


def test_wildcards_and_star_slash_subresource(admin: Admin, op: Http) -> None:
    admin.role("status-everything", {"verbs": ["patch"], "apiGroups": ["*"], "resources": ["*/status"]})
    admin.bind("status-everything", "ClusterRole", "status-everything")
    admin.create(THINGS, thing("a", weight=1))
    assert op.patch(f"{THINGS}/a/status", {"status": {"phase": "Ready"}}).status_code == 200
    forbidden(op.patch(f"{THINGS}/a", {"spec": {"weight": 2}}))
    forbidden(op.patch("/api/v1/namespaces/test/configmaps/x", {}))

    admin.role("everything", {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, namespace="test")
    admin.bind("everything", "Role", "everything", namespace="test")
    assert op.get("/api/v1/namespaces/test/configmaps").status_code == 200
    assert op.get("/apis/apps/v1/namespaces/test/deployments").status_code == 200
    assert op.patch(f"{THINGS}/a", {"spec": {"weight": 2}}).status_code == 200
    assert 'in the namespace "other"' in forbidden(op.get("/api/v1/namespaces/other/configmaps"))


def test_resource_names_constrain_only_named_requests(admin: Admin, op: Http) -> None:
    for name in ("allowed", "other"):
        admin.create("/api/v1/namespaces/test/configmaps", {"metadata": {"name": name}})
    admin.role(
        "one-cm", rule("get,list,watch,update,delete,create", "", "configmaps", "allowed"), namespace="test"
    )
    admin.bind("one-cm", "Role", "one-cm", namespace="test")
    assert op.get("/api/v1/namespaces/test/configmaps/allowed").status_code == 200
    assert forbidden(op.get("/api/v1/namespaces/test/configmaps/other")) == (
        f'configmaps "other" is forbidden: User "{USER}" cannot get resource "configmaps" in API group "" '
        'in the namespace "test"'
    )
    forbidden(op.get("/api/v1/namespaces/test/configmaps"))  # list carries no name
    forbidden(
        op.post("/api/v1/namespaces/test/configmaps", {"metadata": {"name": "allowed"}})
    )  # nor does create
    forbidden(op.delete("/api/v1/namespaces/test/configmaps"))  # nor deletecollection
    listed = op.get("/api/v1/namespaces/test/configmaps?fieldSelector=metadata.name%3Dallowed")
    assert listed.status_code == 200, listed.text  # a metadata.name field selector names the object
    assert [i["metadata"]["name"] for i in listed.json()["items"]] == ["allowed"]
    assert op.delete("/api/v1/namespaces/test/configmaps/allowed").status_code == 200


def test_cluster_and_namespace_scope(admin: Admin, op: Http) -> None:
    admin.role("cm-reader", rule("get,list,watch", "", "configmaps"))
    admin.role("ns-reader", rule("get,list", "", "namespaces"))
    admin.bind("cm-reader", "ClusterRole", "cm-reader", namespace="test")  # a RoleBinding to a ClusterRole
    admin.bind("ns-reader", "ClusterRole", "ns-reader", namespace="test")
    assert op.get("/api/v1/namespaces/test/configmaps").status_code == 200
    assert 'in the namespace "other"' in forbidden(op.get("/api/v1/namespaces/other/configmaps"))
    assert forbidden(op.get("/api/v1/configmaps")) == (
        f'configmaps is forbidden: User "{USER}" cannot list resource "configmaps" in API group "" at the cluster scope'
    )
    assert "at the cluster scope" in forbidden(op.get("/api/v1/namespaces"))
    # the namespace object itself is "in" its namespace, as kube's RequestInfo has it
    assert op.get("/api/v1/namespaces/test").status_code == 200
    forbidden(op.get("/api/v1/namespaces/other"))

    admin.bind("cm-reader-everywhere", "ClusterRole", "cm-reader")
    assert op.get("/api/v1/configmaps").status_code == 200
    assert op.get("/api/v1/namespaces/other/configmaps").status_code == 200
    assert op.get("/api/v1/configmaps?watch=true&timeoutSeconds=1").status_code == 200


def test_role_binding_to_role_of_another_namespace_grants_nothing_there(admin: Admin, op: Http) -> None:
    admin.role("cm", rule("list", "", "configmaps"), namespace="other")
    admin.bind("cm", "Role", "cm", namespace="test")  # refers to Role test/cm, which does not exist
    forbidden(op.get("/api/v1/namespaces/test/configmaps"))
    forbidden(op.get("/api/v1/namespaces/other/configmaps"))


@pytest.mark.parametrize(
    "subject",
    [
        {"kind": "Group", "name": f"system:serviceaccounts:{SA_NS}"},
        {"kind": "Group", "name": "system:serviceaccounts"},
        {"kind": "Group", "name": "system:authenticated"},
        {"kind": "User", "name": USER},
        {"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NS},
    ],
)
def test_subjects_that_match_a_service_account(admin: Admin, op: Http, subject: dict[str, Any]) -> None:
    admin.role("cm", rule("list", "", "configmaps"), namespace="test")
    admin.bind("cm", "Role", "cm", subject, namespace="test")
    assert op.get("/api/v1/namespaces/test/configmaps").status_code == 200


@pytest.mark.parametrize(
    "subject",
    [
        {"kind": "Group", "name": "system:serviceaccounts:test"},
        {"kind": "User", "name": SA_NAME},
        {"kind": "ServiceAccount", "name": SA_NAME},  # in a RoleBinding: the binding's namespace, test
        {"kind": "ServiceAccount", "name": "someone-else", "namespace": SA_NS},
    ],
)
def test_subjects_that_do_not(admin: Admin, op: Http, subject: dict[str, Any]) -> None:
    admin.role("cm", rule("list", "", "configmaps"), namespace="test")
    admin.bind("cm", "Role", "cm", subject, namespace="test")
    forbidden(op.get("/api/v1/namespaces/test/configmaps"))


def test_authenticated_users_get_discovery_and_self_review(op: Http) -> None:
    for path in ("/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/healthz", "/openapi/v3"):
        assert op.get(path).status_code == 200, path
    review = {"spec": {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "test"}}}
    resp = op.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
    assert resp.status_code == 201, resp.text
    assert resp.json()["status"] == {"allowed": False}


def test_self_subject_access_review_names_the_granting_binding(admin: Admin, op: Http) -> None:
    admin.role("cm", rule("get", "", "pods"), rule("list", "", "configmaps"), namespace="test")
    admin.bind("cm-binding", "Role", "cm", namespace="test")
    review = {"spec": {"resourceAttributes": {"verb": "list", "resource": "configmaps", "namespace": "test"}}}
    status = op.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review).json()["status"]
    assert status == {
        "allowed": True,
        "reason": f'RBAC: allowed by RoleBinding "cm-binding/test" of Role "cm" to ServiceAccount "{SA_NAME}/{SA_NS}"',
    }


def test_rbac_validation_like_kube(admin: Admin) -> None:
    http = admin.http

    def invalid(path: str, body: dict[str, Any]) -> str:
        resp = http.post(path, body)
        assert resp.status_code == 422, resp.text
        return str(resp.json()["message"])

    assert invalid(
        f"{RBAC}/namespaces/test/roles",
        role("r", {"verbs": ["get"], "nonResourceURLs": ["/metrics"]}, namespace="test"),
    ) == (
        'Role.rbac.authorization.k8s.io "r" is invalid: rules[0].nonResourceURLs: Invalid value: []string{"/metrics"}: '
        "namespaced rules cannot apply to non-resource URLs"
    )
    assert invalid(f"{RBAC}/clusterroles", role("r", {"apiGroups": [""], "resources": ["pods"]})) == (
        'ClusterRole.rbac.authorization.k8s.io "r" is invalid: rules[0].verbs: Required value: verbs must contain at least one value'
    )
    assert "rules[0].apiGroups: Required value: resource rules must supply at least one api group" in invalid(
        f"{RBAC}/clusterroles", role("r", {"verbs": ["get"], "resources": ["pods"]})
    )
    http.post(f"{RBAC}/clusterroles", role("metrics", {"verbs": ["get"], "nonResourceURLs": ["/metrics"]}))
    crb = binding("b", "Role", "view")
    assert invalid(f"{RBAC}/clusterrolebindings", crb) == (
        'ClusterRoleBinding.rbac.authorization.k8s.io "b" is invalid: roleRef.kind: Unsupported value: "Role": '
        'supported values: "ClusterRole"'
    )
    crb = binding("b", "ClusterRole", "view", {"kind": "ServiceAccount", "name": "x"})
    assert invalid(f"{RBAC}/clusterrolebindings", crb).endswith("subjects[0].namespace: Required value")
    crb = binding("b", "ClusterRole", "view", {"kind": "Robot", "name": "x"})
    assert 'subjects[0].kind: Unsupported value: "Robot"' in invalid(f"{RBAC}/clusterrolebindings", crb)
    no_ref = binding("b", "ClusterRole", "view")
    del no_ref["roleRef"]
    assert "roleRef.name: Required value" in invalid(f"{RBAC}/clusterrolebindings", no_ref)

    rb = admin.create(f"{RBAC}/namespaces/test/rolebindings",
                      binding("rb", "ClusterRole", "view", {"kind": "User", "name": "jane"}, namespace="test"))  # fmt: skip
    assert rb["subjects"] == [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}]
    resp = http.patch(f"{RBAC}/namespaces/test/rolebindings/rb", {"roleRef": {"name": "edit"}})
    assert resp.status_code == 422, resp.text
    assert resp.json()["message"] == (
        'RoleBinding.rbac.authorization.k8s.io "rb" is invalid: roleRef: Invalid value: '
        'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef'
    )
    resp = http.patch(
        f"{RBAC}/namespaces/test/rolebindings/rb", {"subjects": [{"kind": "Group", "name": "devs"}]}
    )
    assert resp.status_code == 200, resp.text  # subjects may change
    colon = role("system:canary:reader", rule("get", "", "pods"))
    assert http.post(f"{RBAC}/clusterroles", colon).status_code == 201  # RBAC names are path segments


def test_owner_references_permission_enforcement(admin: Admin, op: Http) -> None:
    owner = {
        "apiVersion": "test.canary.dev/v1",
        "kind": "Thing",
        "name": "a",
        "uid": "1234",
        "controller": True,
    }
    cm = {"metadata": {"name": "child", "ownerReferences": [{**owner, "blockOwnerDeletion": True}]}}
    admin.role("cm-writer", rule("create,get", "", "configmaps"), namespace="test")
    admin.bind("cm-writer", "Role", "cm-writer", namespace="test")
    assert forbidden(op.post("/api/v1/namespaces/test/configmaps", cm)) == (
        'configmaps "child" is forbidden: cannot set an ownerRef on a resource you can\'t delete: , <nil>'
    )
    admin.role("cm-deleter", rule("delete", "", "configmaps"), namespace="test")
    admin.bind("cm-deleter", "Role", "cm-deleter", namespace="test")
    assert forbidden(op.post("/api/v1/namespaces/test/configmaps", cm)) == (
        'configmaps "child" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource '
        "you can't set finalizers on: , <nil>"
    )
    plain = {"metadata": {"name": "plain", "ownerReferences": [owner]}}
    assert (
        op.post("/api/v1/namespaces/test/configmaps", plain).status_code == 201
    )  # not blocking: delete suffices
    admin.role("finalizers", rule("update", "test.canary.dev", "things/finalizers"), namespace="test")
    admin.bind("finalizers", "Role", "finalizers", namespace="test")
    assert op.post("/api/v1/namespaces/test/configmaps", cm).status_code == 201


def test_usage_record_and_grants(api_server: ApiServerThread, admin: Admin, op: Http) -> None:
    admin.role(
        "operator", rule("get,list,watch", "", "configmaps"), rule("create", "", "events"), namespace="test"
    )
    admin.bind("operator", "Role", "operator", namespace="test")
    admin.create("/api/v1/namespaces/test/configmaps", {"metadata": {"name": "c"}})
    for _ in range(3):
        assert op.get("/api/v1/namespaces/test/configmaps/c").status_code == 200
    forbidden(op.patch(f"{CANARIES}/podinfo/status", {"status": {}}))
    server = api_server.server
    used = {
        (a.verb, a.api_group, a.resource, a.namespace, a.name, a.allowed)
        for a in server.permissions_used(USER)
    }
    assert ("get", "", "configmaps", "test", "c", True) in used
    assert ("patch", "canary.dev", "canaries/status", "test", "podinfo", False) in used
    denied = server.permissions_used(USER, allowed=False)
    assert {(a.verb, a.resource) for a in denied} == {("patch", "canaries/status")}
    got = next(a for a in server.permissions_used(USER) if a.verb == "get" and a.resource == "configmaps")
    assert server.access_log.counts[got] == 3  # deduplicated, counted
    grant = server.grant_for(got)
    assert grant is not None
    assert (grant.binding_kind, grant.binding, grant.binding_namespace, grant.role_kind, grant.role, grant.rule) == (
        "RoleBinding", "operator", "test", "Role", "operator", 0,
    )  # fmt: skip
    assert server.granted(USER) == {
        Permission("get", "", "configmaps"), Permission("list", "", "configmaps"),
        Permission("watch", "", "configmaps"), Permission("create", "", "events"),
    }  # fmt: skip
    assert server.unused_grants(USER) == {
        Permission("list", "", "configmaps"), Permission("watch", "", "configmaps"), Permission("create", "", "events"),
    }  # fmt: skip
    assert not any(a.user == "system:admin" for a in server.access_log.counts)  # admins are not recorded


def test_impersonation_needs_the_impersonate_verb(
    api_server: ApiServerThread, admin: Admin, op: Http
) -> None:
    as_jane = {"Impersonate-User": "jane"}
    assert forbidden(op.get("/api/v1/namespaces/test/configmaps", headers=as_jane)) == (
        f'users "jane" is forbidden: User "{USER}" cannot impersonate resource "users" in API group "" at the cluster scope'
    )
    admin.role("cm", rule("list", "", "configmaps"), namespace="test")
    admin.bind("jane", "Role", "cm", {"kind": "User", "name": "jane"}, namespace="test")
    assert admin.http.get("/api/v1/namespaces/test/configmaps", headers=as_jane).status_code == 200
    assert 'User "jane" cannot list' in forbidden(
        admin.http.get("/api/v1/namespaces/other/configmaps", headers=as_jane)
    )


# ---------------------------------------------------------------------------- kubectl


def _kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(kubeconfig.parent / "cache"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_kubectl_tables_for_rbac(kubeconfig: Path, admin: Admin) -> None:
    kubectl_admin = kubeconfig
    docs = [
        role("pod-reader", rule("get,list", "", "pods"), namespace="test"),
        role("view", rule("get,list,watch", "*", "*")),
        binding("readers", "ClusterRole", "view", {"kind": "Group", "name": "devs"}, namespace="test"),
        binding("view-all", "ClusterRole", "view", {"kind": "User", "name": "jane"}),
    ]
    proc = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubectl_admin), "apply", "-f", "-"],
        input=yaml.safe_dump_all(docs), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = _kubectl(kubectl_admin, "get", "clusterrole,role", "-n", "test").stdout.splitlines()
    assert out[0].split() == ["NAME", "CREATED", "AT"]
    assert out[1].split()[0] == "clusterrole.rbac.authorization.k8s.io/view"
    assert out[4].split()[0] == "role.rbac.authorization.k8s.io/pod-reader"
    out = _kubectl(kubectl_admin, "get", "rolebindings", "-n", "test").stdout.splitlines()
    assert out[0].split() == ["NAME", "ROLE", "AGE"]
    assert out[1].split()[:2] == ["readers", "ClusterRole/view"]
    wide = _kubectl(kubectl_admin, "get", "clusterrolebinding", "view-all", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert wide[1].split()[:2] == ["view-all", "ClusterRole/view"] and wide[1].split()[-1] == "jane"
