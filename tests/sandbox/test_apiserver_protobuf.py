"""kubectl's typed ``create`` commands post protobuf: decoded faithfully, or refused whole (never lossy)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Http

from canary.sandbox.apiserver import ApiServerThread, protobuf
from canary.sandbox.apiserver.errors import ApiError

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
PROTOBUF = "application/vnd.kubernetes.protobuf"


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        if check:
            assert proc.returncode == 0, f"{args}: {proc.stderr}"
        return proc

    return run


@pytest.fixture
def bodies(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every protobuf body the server decodes (the server thread shares this process)."""
    seen: list[bytes] = []
    decode = protobuf.decode

    def spy(body: bytes) -> dict[str, Any]:
        seen.append(body)
        return decode(body)

    monkeypatch.setattr(protobuf, "decode", spy)
    return seen


def _prune(value: Any) -> Any:
    """Drop what JSON and protobuf legitimately disagree on: nulls, empty structs, creationTimestamp."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items() if k != "creationTimestamp"}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


# ---------------------------------------------------------------- a minimal encoder for hand-made bodies
def _key(num: int, wire: int) -> bytes:
    return _uvarint(num << 3 | wire)


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _ld(num: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _key(num, 2) + _uvarint(len(data)) + data


def _vi(num: int, value: int) -> bytes:
    return _key(num, 0) + _uvarint(value)


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return (
        protobuf.MAGIC + _ld(1, _ld(1, api_version) + _ld(2, kind)) + _ld(2, raw) + _ld(3, b"") + _ld(4, b"")
    )


# ---------------------------------------------------------------- kubectl end to end
def test_create_deployment_keeps_spec_and_set_image_works(kubectl: Kubectl, bodies: list[bytes]) -> None:
    assert (
        "deployment.apps/x created"
        in kubectl("create", "deployment", "x", "--image=nginx:1.2", "--replicas=2").stdout
    )
    assert bodies, "kubectl create deployment is expected to send protobuf"
    dep = json.loads(kubectl("get", "deployment", "x", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["selector"] == {"matchLabels": {"app": "x"}}
    assert dep["spec"]["template"]["metadata"]["labels"] == {"app": "x"}
    assert [(c["name"], c["image"]) for c in dep["spec"]["template"]["spec"]["containers"]] == [
        ("nginx", "nginx:1.2")
    ]
    kubectl("set", "image", "deployment/x", "nginx=nginx:1.3")
    dep = json.loads(kubectl("get", "deployment", "x", "-o", "json").stdout)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.3"
    assert dep["spec"]["replicas"] == 2
    kubectl("scale", "deployment/x", "--replicas=0")
    assert json.loads(kubectl("get", "deployment", "x", "-o", "json").stdout)["spec"]["replicas"] == 0


def test_create_service_keeps_ports_selector_type(kubectl: Kubectl) -> None:
    kubectl("create", "service", "nodeport", "web", "--tcp=80:8080", "--tcp=443:web-tls")
    svc = json.loads(kubectl("get", "service", "web", "-o", "json").stdout)
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["selector"] == {"app": "web"}
    ports = [(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in svc["spec"]["ports"]]
    assert ports == [("80-8080", 80, 8080, "TCP"), ("443-web-tls", 443, "web-tls", "TCP")]


CREATES = [
    ["namespace", "ns1"],
    ["configmap", "cm1", "--from-literal=a=b", "--from-literal=c=d"],
    ["secret", "generic", "s1", "--from-literal=a=b", "--type=Opaque"],
    ["serviceaccount", "sa1"],
    ["deployment", "d1", "--image=nginx:1.2", "--image=busybox", "--replicas=0", "--port=80"],
    ["deployment", "d2", "--image=nginx:1.2", "--", "sh", "-c", "sleep 1"],
    ["service", "clusterip", "s1", "--tcp=80:8080"],
    ["service", "clusterip", "headless", "--clusterip=None"],
    ["service", "nodeport", "s2", "--tcp=80:8080", "--node-port=30080"],
    ["service", "loadbalancer", "s3", "--tcp=80:8080"],
    ["service", "externalname", "s4", "--external-name=example.com"],
]


@pytest.mark.parametrize("args", CREATES, ids=lambda a: "-".join(a[:2]))
def test_protobuf_decodes_like_clients_json(kubectl: Kubectl, bodies: list[bytes], args: list[str]) -> None:
    """What we decode from kubectl's protobuf equals what kubectl itself prints as JSON for the same object."""
    cut = args.index("--") if "--" in args else len(args)
    dry_run = [*args[:cut], "--dry-run=client", "-o", "json", *args[cut:]]
    expected = json.loads(kubectl("create", *dry_run).stdout)
    kubectl("create", *args)
    assert len(bodies) == 1
    assert _prune(protobuf.decode(bodies[0])) == _prune(expected)


# ---------------------------------------------------------------- refusals: whole object, clear message
def test_unsupported_kind_is_refused_and_nothing_stored(
    kubectl: Kubectl, api_server: ApiServerThread
) -> None:
    proc = kubectl("create", "ingress", "ing", "--rule=foo.com/bar=svc:80", check=False)
    assert proc.returncode != 0
    assert "cannot decode protobuf for networking.k8s.io/v1 Ingress" in proc.stderr
    assert "kubectl apply -f" in proc.stderr
    assert api_server.store.get("ingresses.networking.k8s.io", "default", "ing") is None


def _deployment(extra_pod_spec: bytes = b"") -> bytes:
    pod_spec = _ld(2, _ld(1, "c") + _ld(2, "nginx")) + extra_pod_spec
    labels = _ld(1, _ld(11, _ld(1, "app") + _ld(2, "x")))  # template metadata.labels: app=x
    spec = _vi(1, 2) + _ld(2, _ld(1, _ld(1, "app") + _ld(2, "x"))) + _ld(3, labels + _ld(2, pod_spec))
    return _envelope("apps/v1", "Deployment", _ld(1, _ld(1, "x")) + _ld(2, spec))


def test_unknown_field_is_refused_and_nothing_stored(http: Http, api_server: ApiServerThread) -> None:
    volume = _ld(1, _ld(1, "data"))  # PodSpec.volumes (#1) is not modelled
    resp = http.post("/apis/apps/v1/namespaces/default/deployments", _deployment(volume), ctype=PROTOBUF)
    assert resp.status_code == 415, resp.text
    assert "apps/v1 Deployment field spec.template.spec#1" in resp.json()["message"]
    assert api_server.store.get("deployments.apps", "default", "x") is None
    # without the unknown field the same body decodes completely
    ok = http.post("/apis/apps/v1/namespaces/default/deployments", _deployment(), ctype=PROTOBUF)
    assert ok.status_code == 201, ok.text
    stored = api_server.store.get("deployments.apps", "default", "x")
    assert stored is not None and stored["spec"]["template"]["spec"]["containers"] == [
        {"name": "c", "image": "nginx"}
    ]
    assert stored["spec"]["replicas"] == 2 and stored["spec"]["selector"] == {"matchLabels": {"app": "x"}}


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (_ld(3, _vi(1, 1)), "field status"),  # non-empty status
        (_ld(1, _ld(17, b"\x0a\x01m")), "field metadata#17"),  # managedFields
        (_ld(2, _key(8, 5) + b"\0\0\0\0"), "field spec#8: unsupported wire type 5"),
        (_ld(2, b"\x0a\x05ab"), "truncated"),
    ],
)
def test_decode_refuses_what_it_cannot_represent(raw: bytes, where: str) -> None:
    with pytest.raises(ApiError) as info:
        protobuf.decode(_envelope("apps/v1", "Deployment", raw))
    assert info.value.code == 415
    assert where in str(info.value.status()["message"])


def test_decode_pointer_zero_and_intorstring() -> None:
    rolling = _ld(2, _ld(1, _vi(1, 0) + _vi(2, 0)) + _ld(2, _vi(1, 1) + _ld(3, "25%")))
    raw = _ld(2, _vi(1, 0) + _ld(4, _ld(1, "RollingUpdate") + rolling) + _vi(5, 0))
    obj = protobuf.decode(_envelope("apps/v1", "Deployment", raw))
    assert obj["spec"] == {
        "replicas": 0,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
    }
