"""Flagger manifests must convert by changing only apiVersion (the project's core promise)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml
from apitest_support import (
    EXAMPLES,
    api_server_errors,
    convert,
    flagger_crds,
    load_example,
    served_schema,
)

from canary.api import AlertProvider, Canary, MetricTemplate, unsupported_fields
from canary.api.crdgen import alertprovider_crd, canary_crd, metrictemplate_crd

# Example -> the accepted-but-not-implemented fields the operator must warn about.
EXPECTED_UNSUPPORTED: dict[str, list[str]] = {
    "istio-canary.yaml": [
        "spec.service.gateways",
        "spec.service.match",
        "spec.service.rewrite",
        "spec.service.retries",
        "spec.service.headers",
        "spec.service.corsPolicy",
        "spec.service.trafficPolicy",
    ],
    "gatewayapi-canary.yaml": [],
    "nginx-canary.yaml": [
        "spec.ingressRef",
        "spec.autoscalerRef.primaryScalerReplicas",
    ],
    "contour-stepweights.yaml": [
        "spec.service.timeout",
        "spec.service.retries",
    ],
    "istio-ab-testing.yaml": [
        "spec.service.gateways",
        "spec.analysis.match",
    ],
    "kubernetes-bluegreen.yaml": [],
    "istio-mirroring-session.yaml": [
        "spec.targetRef.kind",
        "spec.service.trafficPolicy",
        "spec.analysis.mirror",
        "spec.analysis.mirrorWeight",
        "spec.analysis.sessionAffinity",
    ],
}

CANARY_EXAMPLES = sorted(EXPECTED_UNSUPPORTED)


def test_every_example_file_is_covered() -> None:
    files = {p.name for p in EXAMPLES.glob("*.yaml")} - {"metrictemplates.yaml", "alertproviders.yaml"}
    assert files == set(EXPECTED_UNSUPPORTED)


@pytest.mark.parametrize("name", CANARY_EXAMPLES)
def test_example_is_a_valid_flagger_canary(name: str) -> None:
    """Guards the fixtures themselves: they must be real Flagger manifests."""
    jsonschema.Draft7Validator(served_schema(flagger_crds()["Canary"])).validate(load_example(name))


@pytest.mark.parametrize("name", CANARY_EXAMPLES)
def test_flagger_canary_converts_by_changing_api_version_only(name: str) -> None:
    obj = convert(load_example(name))
    assert api_server_errors(canary_crd(), obj) == []
    canary = Canary.from_body(obj)
    assert canary.name == obj["metadata"]["name"]
    assert unsupported_fields(canary.spec) == EXPECTED_UNSUPPORTED[name]
    # Same answer from the raw mapping (the operator may call it before parsing).
    assert unsupported_fields(obj["spec"]) == EXPECTED_UNSUPPORTED[name]


@pytest.mark.parametrize("name", CANARY_EXAMPLES)
def test_round_trip_preserves_the_manifest(name: str) -> None:
    """Dumping must give back what the user wrote plus only our schema defaults."""
    obj = convert(load_example(name))
    dumped = Canary.from_body(obj).to_dict()
    _assert_subset(obj, dumped)


def _assert_subset(expected: Any, actual: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} lost"
            _assert_subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _assert_subset(e, a, f"{path}[{i}]")
    else:
        assert expected == actual, path


def test_metric_templates_convert() -> None:
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "metrictemplates.yaml").read_text()) if d]
    assert len(docs) == 4
    flagger_schema = served_schema(flagger_crds()["MetricTemplate"])
    for doc in docs:
        jsonschema.Draft7Validator(flagger_schema).validate(doc)
        obj = convert(doc)
        assert api_server_errors(metrictemplate_crd(), obj) == []
        template = MetricTemplate.from_body(obj)
        assert template.spec.query == doc["spec"]["query"]
        _assert_subset(obj, template.to_dict())


def test_alert_providers_convert() -> None:
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "alertproviders.yaml").read_text()) if d]
    flagger_schema = served_schema(flagger_crds()["AlertProvider"])
    flagger_types = flagger_schema["properties"]["spec"]["properties"]["type"]["enum"]
    ours = served_schema(alertprovider_crd())["properties"]["spec"]["properties"]["type"]["enum"]
    assert set(flagger_types) == {d["spec"]["type"] for d in docs}
    assert set(ours) - set(flagger_types) == {"webhook"}
    for doc in docs:
        jsonschema.Draft7Validator(flagger_schema).validate(doc)
        obj = convert(doc)
        assert api_server_errors(alertprovider_crd(), obj) == []
        provider = AlertProvider.from_body(obj)
        assert provider.spec.type == doc["spec"]["type"]
        _assert_subset(obj, provider.to_dict())


def test_alert_provider_needs_an_address_or_a_secret() -> None:
    """Flagger's oneOf (type+address | type+secretRef), as a CEL rule and in the model."""
    obj = convert({"apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider", "metadata": {"name": "x"}})
    obj["spec"] = {"type": "slack", "channel": "general"}
    assert api_server_errors(alertprovider_crd(), obj) == [
        "spec: address or secretRef is required: the webhook address comes from one of them"
    ]
    with pytest.raises(ValueError, match="address or secretRef is required"):
        AlertProvider.from_body(obj)


def _paths(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every property path of a schema (list items as [], map values as {})."""
    out: dict[str, dict[str, Any]] = {}
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        out[path] = sub
        out.update(_paths(sub, path))
        if isinstance(sub.get("items"), dict):
            out.update(_paths(sub["items"], f"{path}[]"))
        if isinstance(sub.get("additionalProperties"), dict):
            out.update(_paths(sub["additionalProperties"], f"{path}{{}}"))
    return out


@pytest.mark.parametrize(
    ("kind", "ours"),
    [("Canary", canary_crd), ("MetricTemplate", metrictemplate_crd), ("AlertProvider", alertprovider_crd)],
)
def test_every_flagger_field_is_accepted(kind: str, ours: Any) -> None:
    """Each Flagger property path exists in our schema, or sits under an opaque object."""
    theirs = _paths(served_schema(flagger_crds()[kind]))
    mine = _paths(served_schema(ours()))
    opaque = [p for p, s in mine.items() if s.get("x-kubernetes-preserve-unknown-fields")]
    missing = [
        p
        for p in theirs
        if p not in mine and not any(p.startswith(o + ".") or p.startswith(o + "[") for o in opaque)
    ]
    assert missing == []


def test_flagger_enums_are_accepted() -> None:
    """Enum values Flagger accepts are accepted by us too (we may accept more)."""
    theirs = _paths(served_schema(flagger_crds()["Canary"]))
    mine = _paths(served_schema(canary_crd()))
    for path, sub in theirs.items():
        if "enum" in sub and path in mine and "enum" in mine[path]:
            extra = (
                set(sub["enum"]) - set(mine[path]["enum"]) - {""}
                if path == "status.phase"
                else set(sub["enum"]) - set(mine[path]["enum"])
            )
            assert not extra, (path, extra)


def test_printer_columns_match_flagger() -> None:
    def cols(crd: dict[str, Any]) -> list[tuple[str, str, int]]:
        return [
            (c["name"], c["jsonPath"], c.get("priority", 0))
            for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]
        ]

    assert cols(canary_crd()) == cols(flagger_crds()["Canary"])
    assert cols(metrictemplate_crd()) == cols(flagger_crds()["MetricTemplate"])
    # Flagger's one AlertProvider column; the channel only with -o wide.
    assert [c for c in cols(alertprovider_crd()) if c[2] == 0] == cols(flagger_crds()["AlertProvider"])
