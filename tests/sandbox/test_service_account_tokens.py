"""Authentication in the emulator: the admin kubeconfig, TokenRequest tokens, anonymous requests, 401s,
and the real kubectl's ``create token`` and ``auth can-i`` against it."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Http

from canary.sandbox.apiserver import ApiServerThread
from canary.sandbox.sandbox import SandboxThread

NS, SA = "team", "deployer"
TOKENS = f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}/token"
UNAUTHORIZED = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
    "reason": "Unauthorized", "code": 401,
}  # fmt: skip
USER = f"system:serviceaccount:{NS}:{SA}"


@pytest.fixture
def sa(http: Http) -> dict[str, Any]:
    assert http.post("/api/v1/namespaces", {"metadata": {"name": NS}}).status_code == 201
    resp = http.post(f"/api/v1/namespaces/{NS}/serviceaccounts", {"metadata": {"name": SA}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def request_token(http: Http, **spec: Any) -> Any:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    return http.post(TOKENS, body)


def test_admin_kubeconfig_carries_the_admin_token(api_server: ApiServerThread) -> None:
    config = api_server.kubeconfig()
    user = config["users"][0]["user"]
    assert user["token"] == api_server.admin_token  # and an x509 identity (CN=system:admin, O=system:masters)
    assert user.keys() == {"token", "client-certificate-data", "client-key-data"}
    assert config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    other = api_server.kubeconfig("x", token="abc")
    assert other["users"][0]["user"] == {"token": "abc"}
    assert other["contexts"][0]["context"]["namespace"] == "x"
    assert api_server.kubeconfig(token="")["users"][0]["user"] == {}


def test_token_request(http: Http, sa: dict[str, Any]) -> None:
    resp = request_token(http, audiences=["canary"], expirationSeconds=7200)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["kind"], body["apiVersion"]) == ("TokenRequest", "authentication.k8s.io/v1")
    assert body["spec"]["audiences"] == ["canary"] and body["spec"]["expirationSeconds"] == 7200
    expires = datetime.datetime.fromisoformat(body["status"]["expirationTimestamp"])
    left = (expires - datetime.datetime.now(datetime.UTC)).total_seconds()
    assert 7100 < left <= 7200
    default = request_token(http).json()
    assert default["spec"]["expirationSeconds"] == 3600 and default["spec"]["audiences"]
    as_sa = Http(http.url, body["status"]["token"])
    resp = as_sa.get(f"/api/v1/namespaces/{NS}/pods")
    assert resp.status_code == 403
    assert resp.json()["message"] == (
        f'pods is forbidden: User "{USER}" cannot list resource "pods" in API group "" in the namespace "{NS}"'
    )


def test_token_request_refusals(http: Http, sa: dict[str, Any]) -> None:
    short = request_token(http, expirationSeconds=599)
    assert short.status_code == 422
    assert short.json()["message"] == (
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: '
        "may not specify a duration less than 10 minutes"
    )
    assert request_token(http, expirationSeconds=600).status_code == 201
    missing = http.post(f"/api/v1/namespaces/{NS}/serviceaccounts/ghost/token", {"spec": {}})
    assert missing.status_code == 404
    assert missing.json()["message"] == 'serviceaccounts "ghost" not found'
    assert http.get(TOKENS).status_code == 405


def test_token_subresource_is_in_discovery(http: Http) -> None:
    resources = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert resources["serviceaccounts/token"]["verbs"] == ["create"]
    assert resources["serviceaccounts/token"]["kind"] == "TokenRequest"


def test_tokens_of_one_sa_cannot_mint_tokens_without_the_grant(http: Http, sa: dict[str, Any]) -> None:
    as_sa = Http(http.url, request_token(http).json()["status"]["token"])
    resp = as_sa.post(f"/api/v1/namespaces/{NS}/serviceaccounts/other/token", {"spec": {}})
    assert resp.status_code == 403
    assert resp.json()["message"] == (
        f'serviceaccounts "other" is forbidden: User "{USER}" cannot create resource "serviceaccounts/token" '
        f'in API group "" in the namespace "{NS}"'
    )


def test_bad_expired_and_orphaned_tokens_are_401(
    api_server: ApiServerThread, http: Http, sa: dict[str, Any]
) -> None:
    bad = Http(http.url, "not-a-token").get("/api/v1/namespaces")
    assert (bad.status_code, bad.json()) == (401, UNAUTHORIZED)
    token = request_token(http).json()["status"]["token"]
    as_sa = Http(http.url, token)
    assert as_sa.get("/api").status_code == 200
    api_server.call(api_server.server.handlers.authn.expire, token)
    expired = as_sa.get("/api")
    assert (expired.status_code, expired.json()) == (401, UNAUTHORIZED)

    token = request_token(http).json()["status"]["token"]
    as_sa = Http(http.url, token)
    assert as_sa.get("/api").status_code == 200
    assert http.delete(f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}").status_code == 200
    assert as_sa.get("/api").status_code == 401
    http.post(f"/api/v1/namespaces/{NS}/serviceaccounts", {"metadata": {"name": SA}})
    assert as_sa.get("/api").status_code == 401  # bound to the deleted ServiceAccount's uid


def test_anonymous_requests(http: Http) -> None:
    anonymous = Http(http.url)
    for path in ("/healthz", "/livez", "/readyz", "/version"):
        assert anonymous.get(path).status_code == 200, path
    for path, message in (
        ("/api", 'forbidden: User "system:anonymous" cannot get path "/api"'),
        ("/metrics", 'forbidden: User "system:anonymous" cannot get path "/metrics"'),
        ("/api/v1/namespaces", 'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" '
                               'in API group "" at the cluster scope'),
    ):  # fmt: skip
        resp = anonymous.get(path)
        assert (resp.status_code, resp.json()["message"]) == (403, message)


# ---------------------------------------------------------------------------- the real kubectl


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(kubeconfig.parent / "cache"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check:
        assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc


def test_kubectl_create_token_and_use_it(
    api_server: ApiServerThread, kubeconfig: Path, sa: dict[str, Any]
) -> None:
    token = kubectl(kubeconfig, "create", "token", SA, "-n", NS).stdout.strip()
    assert token and "\n" not in token
    # `--token` needs a kubeconfig without the admin's client certificate: kube tries x509 first
    bare = kubeconfig.parent / "bare.yaml"
    api_server.write_kubeconfig(bare, token="")
    denied = kubectl(bare, "--token", token, "get", "pods", "-n", NS, check=False)
    assert denied.returncode == 1
    assert denied.stderr.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "{USER}" cannot list resource "pods" '
        f'in API group "" in the namespace "{NS}"'
    )
    assert (
        kubectl(bare, "auth", "can-i", "list", "pods", "-n", NS, "--token", token, check=False).stdout
        == "no\n"
    )
    kubectl(kubeconfig, "create", "role", "pod-reader", "-n", NS, "--verb=get,list,watch", "--resource=pods")
    kubectl(
        kubeconfig,
        "create",
        "rolebinding",
        "deployer",
        "-n",
        NS,
        "--role=pod-reader",
        f"--serviceaccount={NS}:{SA}",
    )
    assert kubectl(bare, "auth", "can-i", "list", "pods", "-n", NS, "--token", token).stdout == "yes\n"
    assert (
        kubectl(bare, "--token", token, "get", "pods", "-n", NS).stderr.strip()
        == f"No resources found in {NS} namespace."
    )
    other = kubectl(bare, "auth", "can-i", "list", "pods", "-n", "default", "--token", token, check=False)
    assert (other.returncode, other.stdout) == (1, "no\n")
    assert (
        kubectl(bare, "auth", "can-i", "delete", "pods", "-n", NS, "--token", token, check=False).stdout
        == "no\n"
    )
    as_sa = ["--as", USER, "auth", "can-i", "watch", "pods", "-n", NS]
    assert kubectl(kubeconfig, *as_sa).stdout == "yes\n"
    assert kubectl(kubeconfig, "auth", "can-i", "create", "pods", "-n", NS).stdout == "yes\n"  # the admin


def test_kubectl_create_token_refusals(kubeconfig: Path, sa: dict[str, Any]) -> None:
    short = kubectl(kubeconfig, "create", "token", SA, "-n", NS, "--duration=1m", check=False)
    assert short.returncode == 1
    assert short.stderr.strip() == (
        'error: failed to create token: TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: '
        "Invalid value: 60: may not specify a duration less than 10 minutes"
    )
    missing = kubectl(kubeconfig, "create", "token", "ghost", "-n", NS, check=False)
    assert missing.stderr.strip() == 'error: failed to create token: serviceaccounts "ghost" not found'
    bad = kubeconfig.parent / "bad.yaml"
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"][0]["user"] = {"token": "bogus"}
    bad.write_text(yaml.safe_dump(config))
    unauthorized = kubectl(bad, "get", "namespaces", check=False)
    assert unauthorized.stderr.splitlines()[-1] == (  # what kubectl says to a real kube-apiserver's 401
        "error: You must be logged in to the server (the server has asked for the client to provide credentials)"
    )


def test_sandbox_thread_service_account_kubeconfig_and_usage_record(tmp_path: Path) -> None:
    """The whole sandbox in-process: run kubectl as a ServiceAccount, then read what it used."""
    with SandboxThread(rps=0.0, wait_for_scrape=False, namespaces=("default", NS)) as sb:
        kubectl(sb.kubeconfig_path, "create", "serviceaccount", SA, "-n", NS)
        kubectl(sb.kubeconfig_path, "create", "role", "cm", "-n", NS, "--verb=list", "--resource=configmaps")
        kubectl(
            sb.kubeconfig_path,
            "create",
            "rolebinding",
            "cm",
            "-n",
            NS,
            "--role=cm",
            f"--serviceaccount={NS}:{SA}",
        )
        path = sb.service_account_kubeconfig(NS, SA, tmp_path / "sa.yaml")
        assert kubectl(path, "get", "configmaps").stderr.strip() == f"No resources found in {NS} namespace."
        denied = kubectl(path, "get", "secrets", check=False)
        assert 'cannot list resource "secrets"' in denied.stderr
        used = {(a.verb, a.resource, a.namespace, a.allowed) for a in sb.api.permissions_used(USER)}
        assert {("list", "configmaps", NS, True), ("list", "secrets", NS, False)} <= used
        assert {(p.verb, p.resource) for p in sb.api.granted(USER)} == {("list", "configmaps")}
