"""Render ``{{ name }}``-style placeholders in PromQL without letting values change the query's shape.

Placeholders: ``{{ name }}``, ``{{ namespace }}``, ``{{ target }}``, ``{{ service }}``,
``{{ interval }}`` and ``{{ variables.X }}`` (spaces inside the braces optional).  An unknown
placeholder is an error, as with Flagger's ``missingkey=error``.

The escaping rule depends on where the placeholder sits, found by scanning the template with
PromQL's own quoting rules:

* inside a ``"..."`` or ``'...'`` string literal, the value is inserted as string-literal
  *content*: backslash, the enclosing quote and control characters are escaped, so no value
  can end the literal (``x"} or vector(1) #`` stays one label value).  The other quote is left
  as is: PromQL only accepts an escaped quote inside a literal delimited by that same quote
  (``"it\\'s"`` is a parse error, "unknown escape sequence").  Regex metacharacters are left
  alone: in an ``=~`` matcher the author may want them, and they cannot leave the string;
* inside a raw `````...````` literal nothing can be escaped, so a value containing a backtick
  or a control character is rejected;
* outside any literal (e.g. ``[{{ interval }}]``, ``> {{ variables.limit }}``) the value must be
  a single inert token: a duration or a decimal number.  An identifier is rejected there, since
  it would be a metric selector, a function or a keyword (``up`` turns ``vector(1) > X`` into
  another query).  The resource keys (name, namespace, target, service) may also be DNS names,
  which is all Kubernetes lets them be; the built-in queries only use them inside label-value
  literals.  ``Inf``, ``NaN`` and PromQL keywords are rejected in every spelling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "QueryContext",
    "TemplateError",
    "escape_string_content",
    "render_query",
]


class TemplateError(ValueError):
    """The template names an unknown placeholder, or a value is unsafe where it is placed."""


@dataclass(frozen=True)
class QueryContext:
    """Values a query template may refer to (Flagger's ``MetricTemplateModel``)."""

    name: str
    namespace: str
    target: str
    service: str
    interval: str
    variables: Mapping[str, str] = field(default_factory=dict)


_PLACEHOLDER = re.compile(r"\{\{\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)?)\s*\}\}")

_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

_RESOURCE_NAMES = frozenset({"name", "namespace", "target", "service"})

#: Words the PromQL lexer treats specially (keywords, aggregators, number literals): never
#: allowed as a bare value, whatever their case (the lexer lower-cases keywords).
_RESERVED_WORDS = frozenset(
    {
        "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left",
        "group_right", "bool", "offset", "start", "end", "inf", "nan", "sum", "avg", "count",
        "min", "max", "group", "stddev", "stdvar", "topk", "bottomk", "count_values", "quantile",
        "limitk", "limit_ratio",
    }
)  # fmt: skip

_STRING_ESCAPES = {
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def escape_string_content(value: str, quote: str = '"') -> str:
    """Escape a value for use between ``quote`` characters (``"`` or ``'``) in PromQL.

    Only backslash, the enclosing quote and control characters are escaped: PromQL rejects an
    escaped quote of the other kind ("unknown escape sequence").
    """
    if quote not in ('"', "'"):
        raise ValueError(f"quote must be ' or \", got {quote!r}")
    out: list[str] = []
    for char in value:
        if char == quote:
            out.append("\\" + char)
        elif char in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def _lookup(key: str, context: QueryContext) -> str:
    if key.startswith("variables."):
        variable = key.partition(".")[2]
        if variable not in context.variables:
            known = ", ".join(sorted(context.variables)) or "none"
            raise TemplateError(f"template variable {variable!r} is not set (set: {known})")
        return str(context.variables[variable])
    if key in _RESOURCE_NAMES or key == "interval":
        value: str = getattr(context, key)
        return value
    raise TemplateError(
        f"unknown placeholder {{{{ {key} }}}}: use name, namespace, target, service, interval or variables.NAME"
    )


def _bare_value(key: str, value: str) -> str:
    """A value placed outside any string literal must be one token that cannot start an expression."""
    if value.lower() in _RESERVED_WORDS:
        raise TemplateError(
            f"value {value!r} of {{{{ {key} }}}} is a PromQL keyword or special number and is used "
            "outside a string literal; quote the placeholder in the template"
        )
    if _DURATION.fullmatch(value) or _NUMBER.fullmatch(value):
        return value
    if key in _RESOURCE_NAMES and _DNS_NAME.fullmatch(value):
        return value
    allowed = "a duration, a number or a DNS name" if key in _RESOURCE_NAMES else "a duration or a number"
    raise TemplateError(
        f"value {value!r} of {{{{ {key} }}}} is used outside a string literal, where only {allowed} "
        "is allowed; quote the placeholder in the template"
    )


def _raw_string_value(key: str, value: str) -> str:
    if "`" in value or any(ord(c) < 0x20 for c in value):
        raise TemplateError(
            f"value of {{{{ {key} }}}} contains a backtick or control character and is used inside a "
            "raw `...` string, where it cannot be escaped; use a double-quoted string in the template"
        )
    return value


def render_query(template: str, context: QueryContext) -> str:
    """Substitute placeholders, escaping each value for the PromQL context it lands in."""
    out: list[str] = []
    quote: str | None = None  # the quote character of the literal we are in, if any
    i = 0
    while i < len(template):
        char = template[i]
        if template.startswith("{{", i):
            match = _PLACEHOLDER.match(template, i)
            if match is None:
                raise TemplateError(f"malformed placeholder at offset {i}: {template[i : i + 30]!r}")
            key = match.group("key")
            value = _lookup(key, context)
            if quote == '"' or quote == "'":
                out.append(escape_string_content(value, quote))
            elif quote == "`":
                out.append(_raw_string_value(key, value))
            else:
                out.append(_bare_value(key, value))
            i = match.end()
            continue
        if quote is None and char == "#":  # comment: copied verbatim, quotes in it mean nothing
            end = template.find("\n", i)
            end = len(template) if end < 0 else end
            out.append(template[i:end])
            i = end
            continue
        out.append(char)
        if quote is None:
            if char in "\"'`":
                quote = char
        elif char == "\\" and quote != "`" and i + 1 < len(template):
            out.append(template[i + 1])  # escaped character: never closes the literal
            i += 1
        elif char == quote:
            quote = None
        i += 1
    if quote is not None:
        raise TemplateError(f"unterminated {quote} string literal in query template")
    return "".join(out)
