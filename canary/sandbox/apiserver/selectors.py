"""``labelSelector`` / ``fieldSelector`` parsing and matching, with kube's grammar."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``( )`` of set-based terms."""
    terms, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t.strip() for t in terms if t.strip()]


def _label_term(term: str) -> Predicate:
    m = _SET_RE.match(term)
    if m:
        key, op, raw = m.group(1), m.group(2), m.group(3)
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    for op in ("!=", "==", "="):
        if op in term:
            key, _, value = (s.strip() for s in term.partition(op))
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if term.startswith("!"):
        key = term[1:].strip()
        return lambda labels: key not in labels
    if re.match(r"^[A-Za-z0-9_.\-/]+$", term):
        return lambda labels: term in labels
    raise bad_request(f"unable to parse requirement: invalid label selector term {term!r}")


def label_selector(selector: str | None) -> Predicate:
    """Compile a label selector (equality and set-based) into an object predicate."""
    if not selector:
        return lambda obj: True
    preds = [_label_term(t) for t in _split_terms(selector)]

    def match(obj: Obj) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(p(labels) for p in preds)

    return match


def _field_value(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _field_term(path: str, value: str, negate: bool) -> Predicate:
    return lambda obj: (_field_value(obj, path) == value) != negate


def field_selector(selector: str | None) -> Predicate:
    """Compile a field selector; any dotted path works (kube allows only a per-kind subset)."""
    if not selector:
        return lambda obj: True
    preds: list[Predicate] = []
    for term in _split_terms(selector):
        for op in ("!=", "==", "="):
            if op in term:
                path, _, value = (s.strip() for s in term.partition(op))
                negate = op == "!="
                preds.append(_field_term(path, value, negate))
                break
        else:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
    return lambda obj: all(p(obj) for p in preds)


def combined(label: str | None, field: str | None) -> Predicate:
    """Both selectors at once, as list and watch apply them together."""
    lp, fp = label_selector(label), field_selector(field)
    return lambda obj: lp(obj) and fp(obj)
