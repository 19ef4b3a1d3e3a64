"""Structural-schema handling for CRDs: pruning, defaulting, OpenAPI validation, CEL rules; strict
field checks for built-ins (top-level and metadata fields); and, after defaulting, the checks kube's
registry strategies make (:func:`validate_object`: ``metadata`` per kind in ``objectmeta``, the specs
of the built-ins the project writes in ``specs``).

Messages follow kube-apiserver's forms so kubectl output reads the same:
``spec.x: Invalid value: 200: spec.x in body should be less than or equal to 100`` and
``strict decoding error: unknown field "spec.foo"``.  ``format`` is not enforced (kube only checks a
few well-known formats and real manifests rarely trip them).
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from . import cel, objectmeta, specs
from .errors import ApiError, bad_request, invalid
from .registry import META_FIELDS, ResourceType

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Path = list[str | int]

_PASSTHROUGH = (
    "type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "minProperties",
    "maxProperties", "required",
)  # fmt: skip


def path_str(path: Path) -> str:
    """kube field path: ``spec.items[0].name`` (no leading dot)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def to_jsonschema(schema: Obj) -> Obj:
    """Translate an OpenAPI v3 structural schema (with x-kubernetes-* extensions) to draft-4 JSON Schema."""
    out: Obj = {k: copy.deepcopy(schema[k]) for k in _PASSTHROUGH if k in schema}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in schema:
        out["properties"] = {k: to_jsonschema(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = to_jsonschema(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        out["items"] = to_jsonschema(schema["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            out.setdefault(key, [])
            out[key] = out[key] + [to_jsonschema(s) for s in schema[key]]
    if "not" in schema:
        out["not"] = to_jsonschema(schema["not"])
    if schema.get("x-kubernetes-embedded-resource"):
        out.pop("required", None)
    return out


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(to_jsonschema(json.loads(schema_json)))


def _render(value: Any) -> str:
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def _cause(err: ValidationError) -> dict[str, str]:
    path: Path = [*err.absolute_path]
    value = err.instance
    kw, arg = err.validator, err.validator_value
    if kw == "required":
        missing = err.message.split("'")[1] if "'" in err.message else ""
        return {
            "field": path_str([*path, missing]),
            "message": "Required value",
            "reason": "FieldValueRequired",
        }
    where = path_str(path)
    rendered = _render(value)
    if kw == "enum":
        supported = ", ".join(_render(v) for v in (arg if isinstance(arg, list) else []))
        msg = f"Unsupported value: {rendered}: supported values: {supported}"
        return {"field": where, "message": msg, "reason": "FieldValueNotSupported"}
    text = {
        "maximum": f"should be less than or equal to {arg}",
        "minimum": f"should be greater than or equal to {arg}",
        "maxLength": f"may not be longer than {arg}",
        "minLength": f"should be at least {arg} chars long",
        "maxItems": f"must have at most {arg} items",
        "minItems": f"should have at least {arg} items",
        "pattern": f"should match '{arg}'",
        "multipleOf": f"should be a multiple of {arg}",
    }.get(str(kw))
    if (
        kw in ("maximum", "minimum")
        and isinstance(err.schema, dict)
        and err.schema.get("exclusive" + str(kw).capitalize())
    ):
        text = f"should be {'less' if kw == 'maximum' else 'greater'} than {arg}"
    if kw == "type" or (kw == "anyOf" and "integer" in json.dumps(arg)):
        types = arg if isinstance(arg, list) else [arg]
        if kw == "anyOf":
            types = ["integer", "string"]
        actual = {
            dict: "object",
            list: "array",
            str: "string",
            bool: "boolean",
            int: "integer",
            float: "number",
        }
        got = actual.get(type(value), "null")
        text = f"must be of type {'/'.join(str(t) for t in types if t != 'null')}: {json.dumps(got)}"
        rendered = json.dumps(got)
    if text is None:
        text = err.message
    return {
        "field": where,
        "message": f"Invalid value: {rendered}: {where} in body {text}",
        "reason": "FieldValueInvalid",
    }


# ------------------------------------------------------------------ pruning / unknown fields
def prune(value: Any, schema: Obj, path: Path, unknown: list[str], *, root: bool = False) -> Any:
    """Remove fields the schema does not declare (unless preserved), recording their paths."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        embedded = schema.get("x-kubernetes-embedded-resource", False)
        for key in list(value):
            sub = [*path, key]
            if (root or embedded) and key in ("apiVersion", "kind"):
                continue
            if (root or embedded) and key == "metadata":
                if isinstance(value[key], dict):
                    for mk in list(value[key]):
                        if mk not in META_FIELDS:
                            unknown.append(path_str([*sub, mk]))
                            del value[key][mk]
                continue
            if key in props:
                value[key] = prune(value[key], props[key], sub, unknown)
            elif isinstance(addl, dict):
                value[key] = prune(value[key], addl, sub, unknown)
            elif addl is True or preserve:
                continue
            else:
                unknown.append(path_str(sub))
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            value[i] = prune(item, schema["items"], [*path, i], unknown)
    return value


def apply_defaults(value: Any, schema: Obj) -> Any:
    """Fill schema ``default``s for absent properties, recursively, as the apiserver does on write."""
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(value[key], sub)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for key in value:
                if key not in (schema.get("properties") or {}):
                    value[key] = apply_defaults(value[key], addl)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(v, schema["items"]) for v in value]
    return value


def _cel_causes(value: Any, schema: Obj, path: Path, out: list[dict[str, str]]) -> None:
    if value is None:
        return
    for rule in schema.get("x-kubernetes-validations") or []:
        expr = rule.get("rule", "")
        if "oldSelf" in expr:
            continue  # transition rules need the old object; not modelled
        try:
            ok = cel.evaluate(expr, value)
        except cel.Unsupported as exc:
            log.info("skipping unsupported CEL rule %r: %s", expr, exc)
            continue
        except cel.EvalError as exc:
            log.debug("CEL rule %r errored (treated as passing): %s", expr, exc)
            continue
        if ok is False:
            where = path_str(path)
            field_path = rule.get("fieldPath")
            if field_path:
                where = (where + field_path) if where else field_path.lstrip(".")
            message = rule.get("message") or f"failed rule: {expr}"
            out.append(
                {
                    "field": where,
                    "message": f"Invalid value: {_render(value)}: {message}",
                    "reason": "FieldValueInvalid",
                }
            )
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                _cel_causes(item, props[key], [*path, key], out)
            elif isinstance(addl, dict):
                _cel_causes(item, addl, [*path, key], out)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _cel_causes(item, schema["items"], [*path, i], out)


def _strict_error(rt: ResourceType, version: str, unknown: list[str], mode: str) -> list[str]:
    """Raise for Strict; return ``Warning`` header texts for Warn; nothing for Ignore."""
    if not unknown:
        return []
    texts = [f'unknown field "{u}"' for u in unknown]
    if mode == "Strict":
        detail = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        raise bad_request(
            f'{rt.kind} in version "{version}" cannot be handled as a {rt.kind}: strict decoding error: {detail}'
        )
    return texts if mode == "Warn" else []


def admit(rt: ResourceType, version: str, obj: Obj, field_validation: str) -> list[str]:
    """Prune/default/validate ``obj`` in place; raise ApiError; return warnings for the response."""
    mode = field_validation or "Warn"
    if mode not in ("Strict", "Warn", "Ignore"):
        raise bad_request(f"fieldValidation must be one of Strict, Warn, Ignore; got {mode!r}")
    if not rt.crd:
        unknown = [k for k in obj if rt.top_fields is not None and k not in rt.top_fields]
        for k in unknown:
            del obj[k]
        meta = obj.get("metadata") or {}
        for mk in [k for k in meta if k not in META_FIELDS]:
            unknown.append(f"metadata.{mk}")
            del meta[mk]
        return _strict_error(rt, version, unknown, mode)
    schema = rt.schemas.get(version)
    if schema is None:
        return []
    unknown = []
    prune(obj, schema, [], unknown, root=True)
    warnings = _strict_error(rt, version, unknown, mode)
    apply_defaults(obj, schema)
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    body_schema = {
        **schema,
        "properties": {
            k: v
            for k, v in (schema.get("properties") or {}).items()
            if k not in ("apiVersion", "kind", "metadata")
        },
    }
    body_schema["required"] = [
        r for r in schema.get("required", []) if r not in ("apiVersion", "kind", "metadata")
    ]
    validator = _validator(json.dumps(body_schema, sort_keys=True))
    causes = [
        _cause(e)
        for e in sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    ]
    _cel_causes(body, body_schema, [], causes)
    if causes:
        name = (obj.get("metadata") or {}).get("name", "")
        raise invalid(rt.kind, rt.group, name, causes)
    return warnings


def validate_crd(crd: Obj) -> None:
    """Reject CRDs kube would refuse outright (missing names/group/versions)."""
    spec = crd.get("spec") or {}
    causes: list[dict[str, str]] = []
    for field in ("group", "names", "versions"):
        if not spec.get(field):
            causes.append(
                {"field": f"spec.{field}", "message": "Required value", "reason": "FieldValueRequired"}
            )
    names = spec.get("names") or {}
    for field in ("plural", "kind"):
        if spec.get("names") and not names.get(field):
            causes.append(
                {"field": f"spec.names.{field}", "message": "Required value", "reason": "FieldValueRequired"}
            )
    name = (crd.get("metadata") or {}).get("name", "")
    if not causes and name != f"{names['plural']}.{spec['group']}":
        causes.append(
            {
                "field": "metadata.name",
                "message": f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                "reason": "FieldValueInvalid",
            }
        )
    if causes:
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes)


def validate_object(rt: ResourceType, obj: Obj, old: Obj | None, subresource: str | None = None) -> None:
    """Raise kube's 422 for what its ``Validate``/``ValidateUpdate`` would refuse (run after defaulting).

    ``old`` is None on create.  A status write checks the status only: kube copies the rest from the
    stored object, which passed these checks when it was written.
    """
    if subresource == "status":
        status_rule = specs.STATUS_RULES.get(rt.rkey)
        causes = status_rule(obj) if status_rule else []
    else:
        causes = objectmeta.meta_causes(rt, obj, create=old is None)
        spec_rule = specs.SPEC_RULES.get(rt.rkey)
        if spec_rule is not None:
            causes += spec_rule(obj, old)
    if causes:
        raise invalid(rt.kind, rt.group, (obj.get("metadata") or {}).get("name", ""), causes)


__all__ = ["ApiError", "admit", "apply_defaults", "path_str", "prune", "validate_crd", "validate_object"]
