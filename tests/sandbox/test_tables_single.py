"""Single-object GETs honour ``Accept: ...as=Table`` like list GETs: ``kubectl get canary/NAME`` prints columns."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Http
from reference_data import FLAGGER_CRDS

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"  # fmt: skip
CANARIES = "/apis/flagger.app/v1beta1/namespaces/default/canaries"
CANARY: dict[str, Any] = {
    "apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "podinfo"},
    "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
             "service": {"port": 9898},
             "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10}},
}  # fmt: skip
STATUS = {"phase": "Progressing", "canaryWeight": 20, "failedChecks": 1, "lastTransitionTime": "2026-01-02T03:04:05Z"}  # fmt: skip
DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "web:1"}, {"name": "side", "image": "side:1"}]}}},
}  # fmt: skip
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}  # fmt: skip


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=20)
        if check:
            assert proc.returncode == 0, f"{args}: {proc.stderr}"
            assert "warning" not in proc.stderr.lower(), proc.stderr
        return proc

    return run


@pytest.fixture
def canary(kubectl: Kubectl, http: Http) -> dict[str, Any]:
    """The Flagger CRDs applied, a Canary created, its status written through the status subresource."""
    kubectl("apply", "-f", str(FLAGGER_CRDS))
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(CANARY))
    resp = http.patch(f"{CANARIES}/podinfo/status", {"status": STATUS})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _table(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines()]


def _records(stdout: str) -> list[dict[str, str]]:
    """Rows keyed by header, cut at the header's column offsets (a nil cell prints as blanks)."""
    header, *lines = stdout.splitlines()
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [{header[a:b].strip(): line[a:b].strip() for a, b in bounds} for line in lines]


@pytest.mark.parametrize(
    "args", [("canary/podinfo",), ("canaries", "podinfo"), ("canaries.flagger.app/podinfo",)]
)
def test_kubectl_get_one_canary_prints_crd_columns(
    kubectl: Kubectl, canary: dict[str, Any], args: tuple[str, ...]
) -> None:
    rows = _table(kubectl("get", *args).stdout)
    assert rows[0] == ["NAME", "STATUS", "WEIGHT", "LASTTRANSITIONTIME", "AGE"]
    assert len(rows) == 2
    assert rows[1][:4] == ["podinfo", "Progressing", "20", "2026-01-02T03:04:05Z"]
    assert rows[1][4].endswith("s")  # a fresh AGE, e.g. ``1s``


def test_kubectl_get_one_canary_wide_and_matches_list(kubectl: Kubectl, canary: dict[str, Any]) -> None:
    wide = _table(kubectl("get", "canary", "podinfo", "-o", "wide").stdout)
    assert wide[0] == ["NAME", "STATUS", "WEIGHT", "SUSPENDED", "FAILEDCHECKS", "INTERVAL", "MIRROR",
                       "STEPWEIGHT", "STEPWEIGHTS", "MAXWEIGHT", "LASTTRANSITIONTIME", "AGE"]  # fmt: skip
    (row,) = _records(kubectl("get", "canary", "podinfo", "-o", "wide").stdout)
    assert (row["NAME"], row["STATUS"], row["WEIGHT"], row["FAILEDCHECKS"]) == (
        "podinfo",
        "Progressing",
        "20",
        "1",
    )
    assert (row["INTERVAL"], row["STEPWEIGHT"], row["MAXWEIGHT"]) == ("1m", "10", "50")
    assert row["SUSPENDED"] == row["MIRROR"] == row["STEPWEIGHTS"] == ""  # unset: a nil cell, blank
    assert row["LASTTRANSITIONTIME"] == "2026-01-02T03:04:05Z"
    (listed,) = _records(kubectl("get", "canaries", "-o", "wide").stdout)
    assert {k: v for k, v in listed.items() if k != "AGE"} == {k: v for k, v in row.items() if k != "AGE"}


def test_kubectl_get_one_deployment_and_service(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([DEPLOYMENT, SERVICE]))
    deploy = _table(kubectl("get", "deploy/web").stdout)
    assert deploy[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploy[1][:4] == ["web", "0/3", "0", "0"] and len(deploy) == 2
    wide = _table(kubectl("get", "deployment", "web", "-o", "wide").stdout)
    assert wide[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES"]
    assert wide[1][-2:] == ["web,side", "web:1,side:1"]
    svc = _table(kubectl("get", "svc", "web").stdout)
    assert svc[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1][:2] == ["web", "ClusterIP"] and svc[1][2].startswith("10.96.")
    assert svc[1][3:5] == ["<none>", "80/TCP"]
    scale = _table(kubectl("get", "deploy", "web", "--subresource=scale").stdout)
    assert scale[0] == ["NAME", "DESIRED", "AVAILABLE", "AGE"] and scale[1][:3] == ["web", "3", "0"]


def test_kubectl_get_one_missing_is_not_found(kubectl: Kubectl, canary: dict[str, Any]) -> None:
    proc = kubectl("get", "canary/absent", check=False)
    assert proc.returncode != 0
    assert 'canaries.flagger.app "absent" not found' in proc.stderr


def test_raw_get_one_as_table(http: Http, canary: dict[str, Any]) -> None:
    resp = http.get(f"{CANARIES}/podinfo", headers={"Accept": TABLE})
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    table = resp.json()
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert table["metadata"]["resourceVersion"] == canary["metadata"]["resourceVersion"]
    columns = [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns[:4] == [("Name", "string", 0), ("Status", "string", 0), ("Weight", "string", 0),
                           ("Suspended", "boolean", 1)]  # fmt: skip
    assert columns[-2:] == [("LastTransitionTime", "string", 0), ("Age", "string", 0)]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert len(table["rows"]) == 1
    row = table["rows"][0]
    assert row["cells"][:3] == ["podinfo", "Progressing", "20"] and len(row["cells"]) == len(columns)
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["apiVersion"] == "meta.k8s.io/v1"
    assert row["object"]["metadata"]["name"] == "podinfo"
    assert row["object"]["metadata"]["uid"] == canary["metadata"]["uid"]
    assert "spec" not in row["object"]


def test_raw_get_one_as_table_include_object(http: Http, canary: dict[str, Any]) -> None:
    full = http.get(f"{CANARIES}/podinfo?includeObject=Object", headers={"Accept": TABLE}).json()
    obj = full["rows"][0]["object"]
    assert (obj["kind"], obj["apiVersion"]) == ("Canary", "flagger.app/v1beta1")
    assert obj["spec"]["service"] == {"port": 9898} and obj["status"]["phase"] == "Progressing"
    none = http.get(f"{CANARIES}/podinfo?includeObject=None", headers={"Accept": TABLE}).json()
    assert "object" not in none["rows"][0] and none["rows"][0]["cells"][0] == "podinfo"
    bad = http.get(f"{CANARIES}/podinfo?includeObject=Everything", headers={"Accept": TABLE})
    assert bad.status_code == 400 and bad.json()["reason"] == "BadRequest"
    assert 'includeObject: Unsupported value: "Everything"' in bad.json()["message"]
    plain = http.get(f"{CANARIES}/podinfo", headers={"Accept": "application/json"}).json()
    assert plain["kind"] == "Canary" and plain["status"] == canary["status"]


def test_raw_get_one_as_table_not_found_stays_status(http: Http, canary: dict[str, Any]) -> None:
    resp = http.get(f"{CANARIES}/absent?includeObject=Everything", headers={"Accept": TABLE})
    assert resp.status_code == 404
    body = resp.json()
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        "NotFound",
        404,
    )
    assert body["details"]["name"] == "absent"


def test_raw_get_builtin_and_status_subresource_as_table(http: Http, canary: dict[str, Any]) -> None:
    ns = http.get("/api/v1/namespaces/default", headers={"Accept": TABLE}).json()
    assert [c["name"] for c in ns["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert ns["rows"][0]["cells"][:2] == ["default", "Active"]
    status = http.get(f"{CANARIES}/podinfo/status", headers={"Accept": TABLE}).json()
    assert status["kind"] == "Table" and status["rows"][0]["cells"][:2] == ["podinfo", "Progressing"]
