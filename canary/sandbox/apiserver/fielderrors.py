"""Causes shaped like apimachinery's ``field.Error``: the ``details.causes`` entries of a 422.

kubectl prints ``<field>: <message>`` from these and clients match on ``reason``, so the message
bodies follow ``field.Error.ErrorBody``: ``Invalid value: "Foo_bar": <detail>`` (strings quoted as
Go's ``%q``, numbers bare, maps and lists as compact JSON), ``Required value``, ``Duplicate value:
"x"``, ``Unsupported value: "x": supported values: "a", "b"``, ``Too long: may not be more than N
bytes``, ``Forbidden: <detail>``.
"""

from __future__ import annotations

import json
from typing import Any

Cause = dict[str, str]


def render(value: Any) -> str:
    """A bad value as ``ErrorBody`` prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _cause(field: str, reason: str, body: str, detail: str = "") -> Cause:
    return {"field": field, "reason": reason, "message": f"{body}: {detail}" if detail else body}


def invalid(field: str, value: Any, detail: str) -> Cause:
    return _cause(field, "FieldValueInvalid", f"Invalid value: {render(value)}", detail)


def required(field: str, detail: str = "") -> Cause:
    return _cause(field, "FieldValueRequired", "Required value", detail)


def duplicate(field: str, value: Any) -> Cause:
    return _cause(field, "FieldValueDuplicate", f"Duplicate value: {render(value)}")


def not_supported(field: str, value: Any, supported: list[str]) -> Cause:
    listed = ", ".join(render(s) for s in supported)
    return _cause(
        field, "FieldValueNotSupported", f"Unsupported value: {render(value)}", f"supported values: {listed}"
    )


def too_long(field: str, limit: int) -> Cause:
    return _cause(field, "FieldValueTooLong", "Too long", f"may not be more than {limit} bytes")


def forbidden(field: str, detail: str) -> Cause:
    return _cause(field, "FieldValueForbidden", "Forbidden", detail)


def each_invalid(field: str, value: Any, complaints: list[str]) -> list[Cause]:
    """One ``Invalid value`` cause per complaint, as kube loops over a format check's messages."""
    return [invalid(field, value, text) for text in complaints]
