"""Test helpers: validate objects against a CRD the way a strict API server would.

Kubernetes prunes or (with strict field validation) rejects unknown fields, nulls are not
accepted unless ``nullable``, and CEL rules run on top of the OpenAPI checks. jsonschema knows
none of that, so :func:`strict_schema` rewrites the schema and :func:`cel_errors` evaluates the
rules with the API emulator's CEL interpreter.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from reference_data import FLAGGER_CRDS

from canary.sandbox.apiserver import cel

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = Path(__file__).resolve().parent / "flagger_examples"

Schema = dict[str, Any]


def served_schema(crd: dict[str, Any]) -> Schema:
    """openAPIV3Schema of the served (first) version."""
    schema: Schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def flagger_crds() -> dict[str, dict[str, Any]]:
    """Flagger's reference CRDs by kind."""
    docs = list(yaml.safe_load_all(FLAGGER_CRDS.read_text()))
    return {d["spec"]["names"]["kind"]: d for d in docs if d}


def strict_schema(schema: Schema) -> Schema:
    """Add ``additionalProperties: false`` where Kubernetes would reject unknown fields."""
    out = copy.deepcopy(schema)

    def visit(node: Schema) -> None:
        if node.get("nullable"):
            node["type"] = [node["type"], "null"]
        if "properties" in node:
            for sub in node["properties"].values():
                visit(sub)
            if not node.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in node:
                node["additionalProperties"] = False
        if isinstance(node.get("items"), dict):
            visit(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            visit(node["additionalProperties"])

    visit(out)
    return out


def cel_errors(schema: Schema, instance: Any, path: str = "") -> list[str]:
    """Messages of every failing ``x-kubernetes-validations`` rule, with the field path.

    Rules run on every node (objects, lists and scalars) with the API emulator's CEL interpreter.
    Stricter than a server in one way: a rule that errors at runtime or uses CEL the interpreter
    does not know fails the test, so every rule must be total on schema-valid input.
    """
    errors: list[str] = []
    for check in schema.get("x-kubernetes-validations", []):
        try:
            ok = cel.evaluate(check["rule"], instance)
        except (cel.EvalError, cel.Unsupported) as exc:
            raise AssertionError(f"CEL rule {check['rule']!r} at {path or '<root>'} failed: {exc}") from exc
        if ok is not True:
            where = path + check.get("fieldPath", "") if path else check.get("fieldPath", "").lstrip(".")
            errors.append(f"{where or '<root>'}: {check['message']}")
    if isinstance(instance, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in instance:
                errors += cel_errors(sub, instance[name], f"{path}.{name}" if path else name)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in instance.items():
                errors += cel_errors(extra, value, f"{path}.{key}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(instance):
            errors += cel_errors(schema["items"], item, f"{path}[{i}]")
    return errors


def api_server_errors(crd: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """Every error a strict API server would report for obj (OpenAPI first, then CEL)."""
    schema = served_schema(crd)
    validator = jsonschema.Draft7Validator(strict_schema(schema))
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    return errors or cel_errors(schema, obj)


def load_example(name: str) -> dict[str, Any]:
    """One Flagger documentation-style manifest from flagger_examples/."""
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return data


def convert(obj: dict[str, Any]) -> dict[str, Any]:
    """Flagger -> canary: the only change a user has to make."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "canary.dev/v1alpha1"
    return out
