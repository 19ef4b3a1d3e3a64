"""CRD schema validation, defaults, pruning/strict fields, CEL rules, and Table output."""

from __future__ import annotations

from typing import Any

from conftest import Http

THINGS = "/apis/test.canary.dev/v1/namespaces/default/things"


def thing(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "test.canary.dev/v1", "kind": "Thing", "metadata": {"name": name}, "spec": spec}


def test_schema_violation_is_422_with_field_path(http: Http, thing_crd: dict[str, Any]) -> None:
    resp = http.post(THINGS, thing("a", weight=200, maxWeight=300))
    body = resp.json()
    assert resp.status_code == 422 and body["reason"] == "Invalid"
    assert body["message"] == (
        'Thing.test.canary.dev "a" is invalid: spec.weight: Invalid value: 200: '
        "spec.weight in body should be less than or equal to 100"
    )
    assert body["details"]["causes"][0]["field"] == "spec.weight"


def test_enum_type_and_int_or_string(http: Http, thing_crd: dict[str, Any]) -> None:
    body = http.post(THINGS, thing("a", mode="medium")).json()
    assert 'spec.mode: Unsupported value: "medium": supported values: "fast", "slow"' in body["message"]
    assert http.post(THINGS, thing("b", port=True)).status_code == 422
    assert http.post(THINGS, thing("c", port=8080, note=None)).status_code == 201
    assert http.post(THINGS, thing("d", port="http")).status_code == 201


def test_defaults_applied(http: Http, thing_crd: dict[str, Any]) -> None:
    spec = http.post(THINGS, thing("a")).json()["spec"]
    assert spec == {"weight": 10, "maxWeight": 100, "mode": "slow"}


def test_unknown_field_strict_rejected_warn_pruned(http: Http, thing_crd: dict[str, Any]) -> None:
    strict = http.post(f"{THINGS}?fieldValidation=Strict", thing("a", foo=1))
    assert strict.status_code == 400
    assert 'strict decoding error: unknown field "spec.foo"' in strict.json()["message"]
    warn = http.post(f"{THINGS}?fieldValidation=Warn", thing("a", foo=1, extra={"kept": 1}))
    assert warn.status_code == 201 and "foo" not in warn.json()["spec"]
    assert warn.json()["spec"]["extra"] == {"kept": 1}
    assert 'unknown field \\"spec.foo\\"' in warn.headers["Warning"] or "spec.foo" in warn.headers["Warning"]


def test_builtin_unknown_top_level_field_strict(http: Http) -> None:
    resp = http.post("/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
                     {"metadata": {"name": "c", "bogus": 1}, "dta": {}})  # fmt: skip
    assert resp.status_code == 400 and 'unknown field "dta"' in resp.json()["message"]


def test_cel_rules(http: Http, thing_crd: dict[str, Any]) -> None:
    body = http.post(THINGS, thing("a", a="x", b="y")).json()
    assert body["code"] == 422 and 'spec: Invalid value: "object": a and b are exclusive' in body["message"]
    body = http.post(THINGS, thing("b", weight=60, maxWeight=50)).json()
    assert "failed rule: self.weight <= self.maxWeight" in body["message"]
    assert http.post(THINGS, thing("c", a="x", weight=50, maxWeight=50)).status_code == 201


def test_validation_on_patch(http: Http, thing_crd: dict[str, Any]) -> None:
    http.post(THINGS, thing("a"))
    assert http.patch(f"{THINGS}/a", {"spec": {"weight": -1}}).status_code == 422
    assert http.get(f"{THINGS}/a").json()["spec"]["weight"] == 10


TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def test_table_output_with_printer_columns(http: Http, thing_crd: dict[str, Any]) -> None:
    http.post(THINGS, thing("a", weight=30))
    http.patch(f"{THINGS}/a/status", {"status": {"phase": "Progressing"}})
    table = http.get(THINGS, headers={"Accept": TABLE}).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Phase", "Weight", "Created", "Age"]
    cells = table["rows"][0]["cells"]
    assert cells[:3] == ["a", "Progressing", 30] and cells[3].endswith("s")
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    full = http.get(f"{THINGS}?includeObject=Object", headers={"Accept": TABLE}).json()
    assert full["rows"][0]["object"]["spec"]["weight"] == 30


def test_builtin_tables(http: Http) -> None:
    table = http.get("/api/v1/namespaces/default/services", headers={"Accept": TABLE}).json()
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Type",
        "Cluster-IP",
        "External-IP",
        "Port(s)",
    ]
    assert table["rows"][0]["cells"][:5] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
