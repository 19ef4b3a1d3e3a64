"""Rendering and checking the install manifests: kustomize (deploy/), the Helm chart (charts/canary),
the Kubernetes schemas (kubernetes-validate, strict), promtool, and the operator's own argparse parser.

The tools are real: kubectl's embedded kustomize, Helm from `make install` (scripts/install-helm.sh)
and Debian's promtool (scripts/system-deps.sh). A missing one fails the test rather than skipping it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = REPO / "charts" / "canary"
CRDS = REPO / "crds"

#: The Kubernetes version whose schemas the manifests are validated against.
KUBERNETES_VERSION = "1.32.0"

#: API groups kubernetes-validate has no schema for (the prometheus-operator's).
NON_BUILTIN_GROUPS = ("monitoring.coreos.com",)

Manifest = dict[str, Any]


def tool(name: str) -> str:
    """The path of a command-line tool: the venv's bin first (helm), then .tools/bin, then PATH."""
    for candidate in (
        Path(sys.executable).parent / name,
        REPO / ".venv" / "bin" / name,
        REPO / ".tools" / "bin" / name,
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    assert found, f"{name} not found: run `make install`"
    return found


def run(
    args: Sequence[str], *, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert proc.returncode == 0, (
            f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def load_all(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(path: Path) -> list[Manifest]:
    """`kubectl kustomize PATH`: the objects `kubectl apply -k PATH` would apply."""
    return load_all(run([tool("kubectl"), "kustomize", str(path)]).stdout)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([tool("helm"), *args], check=check)


def helm_template(*values: str, release: str = "canary", namespace: str = "canary-system") -> list[Manifest]:
    """`helm template` of the chart with ``--set``-style values ("key=value"); ``-f``/``--set-json``
    pairs may be passed as "--set-json=key=json"."""
    args = ["template", release, str(CHART), "--namespace", namespace]
    for value in values:
        args += [value] if value.startswith("--") else ["--set", value]
    return load_all(helm(*args).stdout)


def find(objects: Iterable[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def is_builtin(obj: Manifest) -> bool:
    return obj["apiVersion"].split("/")[0] not in NON_BUILTIN_GROUPS


def schema_errors(obj: Manifest) -> str | None:
    """Validate a built-in object against the Kubernetes schemas (strict: unknown fields fail)."""
    import kubernetes_validate  # type: ignore[import-untyped]

    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.path)
        return f"{obj['kind']}/{obj['metadata'].get('name')}: {path}: {exc.message}"
    return None


def operator_container(objects: Iterable[Manifest], name: str = "canary-operator") -> Manifest:
    deployment = one(objects, "Deployment", name)
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "operator")


def expand_env(args: Sequence[str], container: Manifest) -> list[str]:
    """Expand $(VAR) as the kubelet does, from the container's literal env values."""
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return [
        re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in args
    ]


def parse_operator_args(args: Sequence[str]) -> argparse.Namespace:
    """Parse a container's args (after the image's `canary operator` entrypoint) with the operator's
    own parser: a misspelt or removed flag fails here."""
    from canary.operator.cli import add_parser

    parser = argparse.ArgumentParser(prog="canary", exit_on_error=False)
    add_parser(parser.add_subparsers(dest="command", required=True))
    try:
        return parser.parse_args(["operator", *args])
    except SystemExit as exc:  # argparse exits on unknown flags even with exit_on_error=False
        raise AssertionError(f"`canary operator {' '.join(args)}` does not parse (exit {exc.code})") from exc


def rules_of(objects: Iterable[Manifest], kind: str = "ClusterRole") -> list[Manifest]:
    return [r for o in find(objects, kind) for r in o["rules"]]


def normalized_rules(rules: Iterable[Manifest]) -> set[tuple[str, str, str]]:
    """Rules as a set of (apiGroup, resource, verb) grants, whatever their grouping."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def promtool(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([tool("promtool"), *args], cwd=cwd, check=check)


_PROMQL_WORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a lexical approximation good for our exprs):
    identifiers outside strings, label matchers, ranges and grouping clauses that are not functions."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(on|by|ignoring|without|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        start, end = match.span()
        if start and (expr[start - 1].isdigit() or expr[start - 1] == "."):
            continue  # a number's suffix (1e3, 5m)
        if re.match(r"\s*\(", expr[end:]):
            continue  # a function
        if match.group() not in _PROMQL_WORDS:
            names.add(match.group())
    return names
