"""The generated CRDs: fresh, structural, self-consistent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from apitest_support import REPO, served_schema

from canary.api.crdgen import HEADER, all_crds, crd_filename, dump_crd, main

CRDS = all_crds()
IDS = [c["metadata"]["name"] for c in CRDS]

# Keys a structural schema may use (apiextensions v1 JSONSchemaProps we rely on).
ALLOWED_KEYS = {
    "description", "type", "format", "nullable", "enum", "default", "minimum", "maximum",
    "minLength", "maxLength", "minItems", "maxItems", "pattern", "required", "items",
    "properties", "additionalProperties", "anyOf", "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-validations",
}  # fmt: skip


def structural_violations(node: dict[str, Any], path: str = "") -> list[str]:
    """The main structural-schema rules of apiextensions.k8s.io/v1."""
    problems: list[str] = []
    here = path or "<root>"
    unknown = set(node) - ALLOWED_KEYS
    if unknown:
        problems.append(f"{here}: keys not allowed {sorted(unknown)}")
    if "type" not in node and not (
        node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    ):
        problems.append(f"{here}: missing type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{here}: properties and additionalProperties together")
    if node.get("additionalProperties") is False:
        problems.append(f"{here}: additionalProperties: false is forbidden")
    if "anyOf" in node:
        if not node.get("x-kubernetes-int-or-string"):
            problems.append(f"{here}: anyOf only allowed for int-or-string here")
        elif node["anyOf"] != [{"type": "integer"}, {"type": "string"}]:
            problems.append(f"{here}: int-or-string anyOf must be exactly integer|string")
    if node.get("x-kubernetes-int-or-string") and "type" in node:
        problems.append(f"{here}: int-or-string must not set type")
    if "enum" in node and node.get("type") == "string":
        problems += [f"{here}: enum value {v!r} not a string" for v in node["enum"] if not isinstance(v, str)]
    if node.get("type") == "array" and "items" not in node:
        problems.append(f"{here}: array without items")
    for name, sub in node.get("properties", {}).items():
        problems += structural_violations(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        problems += structural_violations(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        problems += structural_violations(node["additionalProperties"], f"{path}{{}}")
    if "default" in node:
        try:
            jsonschema.Draft7Validator(node).validate(node["default"])
        except jsonschema.ValidationError as exc:
            problems.append(f"{here}: default does not validate: {exc.message}")
    return problems


@pytest.mark.parametrize("crd", CRDS, ids=IDS)
def test_crd_files_are_not_stale(crd: dict[str, Any]) -> None:
    path = REPO / "crds" / crd_filename(crd)
    assert path.read_text(encoding="utf-8") == dump_crd(crd), (
        f"{path} is stale: run `python -m canary.api.crdgen crds`"
    )


@pytest.mark.parametrize("crd", CRDS, ids=IDS)
def test_crd_files_parse_back(crd: dict[str, Any]) -> None:
    text = (REPO / "crds" / crd_filename(crd)).read_text(encoding="utf-8")
    assert text.startswith(HEADER)
    assert yaml.safe_load(text) == crd


@pytest.mark.parametrize("crd", CRDS, ids=IDS)
def test_schema_is_structural(crd: dict[str, Any]) -> None:
    schema = served_schema(crd)
    assert structural_violations(schema) == []
    assert "$ref" not in yaml.safe_dump(schema)
    assert schema["properties"]["metadata"] == {"type": "object"}


@pytest.mark.parametrize("crd", CRDS, ids=IDS)
def test_schema_is_valid_json_schema(crd: dict[str, Any]) -> None:
    jsonschema.Draft7Validator.check_schema(served_schema(crd))


def test_structural_checker_catches_violations() -> None:
    bad = {
        "type": "object",
        "properties": {
            "a": {"description": "no type"},
            "b": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
            "c": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "d": {"$ref": "#/$defs/X", "type": "object"},
        },
    }
    found = "\n".join(structural_violations(bad))
    for needle in (".a: missing type", ".b: properties and additionalProperties", ".c: anyOf", ".d: keys"):
        assert needle in found


def test_crd_names() -> None:
    canary, template, alert_provider = CRDS
    assert canary["metadata"]["name"] == "canaries.canary.dev"
    assert canary["spec"]["names"]["shortNames"] == ["cn"]
    assert canary["spec"]["names"]["categories"] == ["all"]
    assert canary["spec"]["versions"][0]["subresources"] == {"status": {}}
    assert template["metadata"]["name"] == "metrictemplates.canary.dev"
    assert alert_provider["metadata"]["name"] == "alertproviders.canary.dev"
    assert alert_provider["spec"]["names"]["shortNames"] == ["ap"]


def test_schema_defaults_and_rules() -> None:
    spec = served_schema(CRDS[0])["properties"]["spec"]
    analysis = spec["properties"]["analysis"]
    assert analysis["properties"]["interval"]["default"] == "1m"
    assert analysis["properties"]["threshold"]["default"] == 5
    assert analysis["properties"]["maxWeight"]["maximum"] == 100
    assert spec["properties"]["progressDeadlineSeconds"]["default"] == 600
    assert spec["properties"]["service"]["properties"]["targetPort"]["x-kubernetes-int-or-string"] is True
    rules = {r["rule"] for r in analysis["x-kubernetes-validations"]}
    assert "!(has(self.stepWeight) && has(self.stepWeights))" in rules
    # Unknown fields are rejected at spec level: no preserve-unknown there or on analysis.
    assert "x-kubernetes-preserve-unknown-fields" not in spec
    assert "x-kubernetes-preserve-unknown-fields" not in analysis


def test_cli_writes_files(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "canary.dev_alertproviders.yaml",
        "canary.dev_canaries.yaml",
        "canary.dev_metrictemplates.yaml",
    ]
