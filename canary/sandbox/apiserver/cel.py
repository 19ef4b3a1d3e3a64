"""A small CEL interpreter for CRD ``x-kubernetes-validations`` rules.

Supported: literals (int, double, string, bool, null, lists, maps), ``self`` and field access,
indexing, ``has()``, ``! - * / % + -``, comparisons, ``in``, ``&& || ?:``, ``size()``, ``duration()``,
``int() string() double() type()`` (and the type names ``int string double bool list map null_type``
to compare with), string methods ``startsWith endsWith contains matches lowerAscii upperAscii``,
Kubernetes' list function ``isSorted()``, and the macros ``all exists exists_one filter map``.  Anything else raises :class:`Unsupported`
(the caller skips the rule and logs); runtime errors raise :class:`EvalError`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from collections.abc import Callable
from typing import Any

Node = tuple[Any, ...]


class Unsupported(Exception):
    """The rule uses CEL we do not implement."""


class EvalError(Exception):
    """The rule failed at runtime (missing field, type mismatch…)."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[uU]?)
      | (?P<str>[rR]?"(?:[^"\\]|\\.)*"|[rR]?'(?:[^'\\]|\\.)*')
      | (?P<op>\|\||&&|==|!=|<=|>=|[-+*/%<>!?:.,()\[\]{}])
      | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def _unquote(raw: str) -> str:
    if raw[0] in "rR":
        return raw[2:-1]
    body = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _tokenize(src: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    src = src.strip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise Unsupported(f"cannot tokenize at {src[pos : pos + 10]!r}")
        pos = m.end()
        if m.group("num") is not None:
            text = m.group("num").rstrip("uU")
            tokens.append(("lit", float(text) if "." in text or "e" in text.lower() else int(text)))
        elif m.group("str") is not None:
            tokens.append(("lit", _unquote(m.group("str"))))
        elif m.group("op") is not None:
            tokens.append(("op", m.group("op")))
        else:
            word = m.group("id")
            consts = {"true": True, "false": False, "null": None}
            tokens.append(("lit", consts[word]) if word in consts else ("id", word))
    tokens.append(("end", None))
    return tokens


class _Parser:
    """Recursive descent over CEL's precedence levels, producing tuple ASTs."""

    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.i = 0

    def peek(self, value: str | None = None) -> bool:
        kind, tok = self.toks[self.i]
        return kind == "op" and (value is None or tok == value)

    def take(self, value: str) -> None:
        if not self.peek(value):
            raise Unsupported(f"expected {value!r} at token {self.toks[self.i]}")
        self.i += 1

    def parse(self) -> Node:
        node = self.cond()
        if self.toks[self.i][0] != "end":
            raise Unsupported(f"trailing input at {self.toks[self.i]}")
        return node

    def cond(self) -> Node:
        node = self.binary(0)
        if self.peek("?"):
            self.i += 1
            then = self.cond()
            self.take(":")
            return ("cond", node, then, self.cond())
        return node

    LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("==", "!=", "<", "<=", ">", ">=", "in"),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> Node:
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while True:
            kind, tok = self.toks[self.i]
            if (kind == "op" or (kind == "id" and tok == "in")) and tok in self.LEVELS[level]:
                self.i += 1
                node = ("bin", tok, node, self.binary(level + 1))
            else:
                return node

    def unary(self) -> Node:
        if self.peek("!"):
            self.i += 1
            return ("not", self.unary())
        if self.peek("-"):
            self.i += 1
            return ("neg", self.unary())
        return self.member()

    def args(self) -> list[Node]:
        out: list[Node] = []
        self.take("(")
        while not self.peek(")"):
            out.append(self.cond())
            if not self.peek(")"):
                self.take(",")
        self.take(")")
        return out

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.peek("."):
                self.i += 1
                kind, name = self.toks[self.i]
                if kind != "id":
                    raise Unsupported("expected field name")
                self.i += 1
                node = ("call", name, node, self.args()) if self.peek("(") else ("field", node, name)
            elif self.peek("["):
                self.i += 1
                index = self.cond()
                self.take("]")
                node = ("index", node, index)
            else:
                return node

    def primary(self) -> Node:
        kind, tok = self.toks[self.i]
        self.i += 1
        if kind == "lit":
            return ("lit", tok)
        if kind == "id":
            if self.peek("("):
                return ("call", tok, None, self.args())
            return ("var", tok)
        if tok == "(":
            node = self.cond()
            self.take(")")
            return node
        if tok == "[":
            items: list[Node] = []
            while not self.peek("]"):
                items.append(self.cond())
                if not self.peek("]"):
                    self.take(",")
            self.take("]")
            return ("list", items)
        if tok == "{":
            pairs: list[tuple[Node, Node]] = []
            while not self.peek("}"):
                key = self.cond()
                self.take(":")
                pairs.append((key, self.cond()))
                if not self.peek("}"):
                    self.take(",")
            self.take("}")
            return ("map", pairs)
        raise Unsupported(f"unexpected token {tok!r}")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: Any) -> float:
    """Go duration string -> seconds."""
    if not isinstance(text, str):
        raise EvalError("duration() needs a string")
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    parts = _DURATION.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise EvalError(f"invalid duration {text!r}")
    return sign * sum(float(n) * _UNITS[u] for n, u in parts)


@dataclasses.dataclass(frozen=True)
class CelType:
    """A CEL type value (``type(self) == int``); equal only to the same type, never to a string."""

    name: str


_TYPE_NAMES = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type"})


def _type_of(v: Any) -> CelType:
    if v is None:
        return CelType("null_type")
    if isinstance(v, bool):
        return CelType("bool")
    if isinstance(v, int):
        return CelType("int")
    if isinstance(v, float):
        return CelType("double")
    if isinstance(v, str):
        return CelType("string")
    if isinstance(v, bytes):
        return CelType("bytes")
    if isinstance(v, list):
        return CelType("list")
    if isinstance(v, dict):
        return CelType("map")
    raise EvalError(f"type() of {type(v).__name__}")


def _is_sorted(v: Any) -> bool:
    if not isinstance(v, list):
        raise EvalError(f"isSorted() of {type(v).__name__}")
    return all(a <= b for a, b in itertools.pairwise(v))


def _size(v: Any) -> int:
    if isinstance(v, str | list | dict | bytes):
        return len(v)
    raise EvalError(f"size() of {type(v).__name__}")


_MACROS = frozenset({"all", "exists", "exists_one", "filter", "map"})


class _Eval:
    def __init__(self, env: dict[str, Any]) -> None:
        self.env = env

    def run(self, node: Node) -> Any:
        op = node[0]
        if op == "lit":
            return node[1]
        if op == "var":
            if node[1] not in self.env:
                if node[1] in _TYPE_NAMES:
                    return CelType(node[1])
                raise Unsupported(f"unknown identifier {node[1]!r}")
            return self.env[node[1]]
        if op == "list":
            return [self.run(n) for n in node[1]]
        if op == "map":
            return {self.run(k): self.run(v) for k, v in node[1]}
        if op == "field":
            base = self.run(node[1])
            if not isinstance(base, dict) or node[2] not in base:
                raise EvalError(f"no such key: {node[2]}")
            return base[node[2]]
        if op == "index":
            base, idx = self.run(node[1]), self.run(node[2])
            try:
                return base[idx]
            except (KeyError, IndexError, TypeError) as exc:
                raise EvalError(f"bad index {idx!r}") from exc
        if op == "not":
            return not self._bool(self.run(node[1]))
        if op == "neg":
            return -self.run(node[1])
        if op == "cond":
            return self.run(node[2]) if self._bool(self.run(node[1])) else self.run(node[3])
        if op == "bin":
            return self.binop(node[1], node[2], node[3])
        if op == "call":
            return self.call(node[1], node[2], node[3])
        raise Unsupported(op)

    @staticmethod
    def _bool(v: Any) -> bool:
        if not isinstance(v, bool):
            raise EvalError("expected bool")
        return v

    def binop(self, op: str, left: Node, right: Node) -> Any:
        if op in ("&&", "||"):
            # CEL's commutative short-circuit: an error on one side is absorbed by a decisive other side
            decisive = op == "||"
            try:
                lv = self._bool(self.run(left))
            except EvalError:
                if self._bool(self.run(right)) == decisive:
                    return decisive
                raise
            if lv == decisive:
                return decisive
            return self._bool(self.run(right))
        a, b = self.run(left), self.run(right)
        try:
            if op == "in":
                return a in b
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "/":
                return a // b if isinstance(a, int) and isinstance(b, int) else a / b
            if op == "%":
                return a % b
            return {
                "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b,
                "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
            }[op]()  # fmt: skip
        except (TypeError, ZeroDivisionError) as exc:
            raise EvalError(str(exc)) from exc

    def call(self, name: str, target: Node | None, args: list[Node]) -> Any:
        if name == "has" and target is None:
            if len(args) != 1 or args[0][0] != "field":
                raise Unsupported("has() needs a field selection")
            base = self.run(args[0][1])
            return isinstance(base, dict) and args[0][2] in base
        if name in _MACROS and target is not None:
            return self.macro(name, self.run(target), args)
        values = [self.run(a) for a in args]
        if target is not None:
            values.insert(0, self.run(target))
        fn = _FUNCTIONS.get(name)
        if fn is None:
            raise Unsupported(f"function {name}()")
        try:
            return fn(*values)
        except (TypeError, ValueError, re.error) as exc:
            raise EvalError(f"{name}(): {exc}") from exc

    def macro(self, name: str, coll: Any, args: list[Node]) -> Any:
        if len(args) != 2 or args[0][0] != "var":
            raise Unsupported(f"{name}() form")
        var, body = args[0][1], args[1]
        items = list(coll) if isinstance(coll, list | dict) else None
        if items is None:
            raise EvalError(f"{name}() over {type(coll).__name__}")

        def f(item: Any) -> Any:
            return _Eval({**self.env, var: item}).run(body)

        if name == "all":
            return all(self._bool(f(i)) for i in items)
        if name == "exists":
            return any(self._bool(f(i)) for i in items)
        if name == "exists_one":
            return sum(1 for i in items if self._bool(f(i))) == 1
        if name == "filter":
            return [i for i in items if self._bool(f(i))]
        return [f(i) for i in items]


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "size": _size,
    "duration": _duration,
    "int": int,
    "double": float,
    "string": str,
    "startsWith": lambda s, p: s.startswith(p),
    "endsWith": lambda s, p: s.endswith(p),
    "contains": lambda s, p: p in s,
    "matches": lambda s, p: re.search(p, s) is not None,
    "lowerAscii": lambda s: s.lower(),
    "upperAscii": lambda s: s.upper(),
    "type": _type_of,
    "isSorted": _is_sorted,
}


@functools.lru_cache(maxsize=1024)
def compile_rule(rule: str) -> Node:
    """Parse once per distinct rule text."""
    return _Parser(rule).parse()


def evaluate(rule: str, self_value: Any) -> Any:
    """Evaluate ``rule`` with ``self`` bound; raises Unsupported or EvalError."""
    return _Eval({"self": self_value}).run(compile_rule(rule))
