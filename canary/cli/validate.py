"""`canary validate FILE...`: check Canary, MetricTemplate and AlertProvider manifests offline.

Run it before `kubectl apply`; no cluster is needed. Each ``canary.dev/v1alpha1`` document runs
through what a cluster with the project's CRDs would do on ``kubectl apply`` (strict field
validation, the generated OpenAPI schema and its CEL rules, ``metadata`` checks — the API
emulator's admission code, on CRDs generated from the models), then through the operator's
pydantic models. One line per error::

    FILE:DOC_INDEX kind/name: field.path: message

(``DOC_INDEX`` counts the YAML documents of the file from 0). A Canary also gets one ``warning``
line per field that is accepted but not acted on yet (``unsupported_fields``); warnings do not fail.
A ``flagger.app/v1beta1`` document of those kinds is an error with the hint to change its
``apiVersion`` (it is checked as the converted document too); other kinds are skipped. FILE may be
``-`` (stdin) or a directory (its ``*.yaml``, ``*.yml`` and ``*.json`` files, not recursively).
Exit 0 when no document has an error, 1 otherwise.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OK, INVALID = 0, 1

API_VERSION = "canary.dev/v1alpha1"
FLAGGER_API_VERSION = "flagger.app/v1beta1"
KINDS = ("Canary", "MetricTemplate", "AlertProvider")
SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


@dataclass(frozen=True)
class Finding:
    """One line of output: an error (or a warning) at a kube field path of one document."""

    field: str
    message: str
    warning: bool = False

    def line(self, where: str) -> str:
        text = f"warning: {self.message}" if self.warning else self.message
        return f"{where}: {self.field}: {text}" if self.field else f"{where}: {text}"


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check Canary/MetricTemplate/AlertProvider manifests offline (schema, CEL rules, models)",
        description=(
            "Check canary.dev/v1alpha1 Canary, MetricTemplate and AlertProvider manifests without a "
            "cluster, as the API server and the operator would: one line 'FILE:DOC kind/name: field: "
            "message' per error, a warning per field accepted but not implemented. Exit 0 valid, 1 any "
            "error."
        ),
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="manifest files, directories (not recursive) or - for stdin"
    )


def _emit(line: str) -> None:
    """Print a line; once stdout is closed (``canary validate ... | head``) keep checking quietly."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run(args: argparse.Namespace) -> int:
    errors = warnings = documents = 0
    for name, text in _sources(args.files):
        if text is None:
            _emit(f"{name}: cannot read: not a readable file or directory")
            errors += 1
            continue
        for index, doc, problem in _documents(text):
            if problem is not None:
                _emit(f"{name}:{index}: {problem}")
                errors += 1
                continue
            findings = check_document(doc)
            if findings is None:
                continue
            documents += 1
            where = f"{name}:{index} {describe(doc)}"
            for finding in findings:
                _emit(finding.line(where))
                warnings += finding.warning
                errors += not finding.warning
    print(
        f"canary validate: {documents} document(s) checked, {errors} error(s), {warnings} warning(s)",
        file=sys.stderr,
    )
    return INVALID if errors else OK


def _sources(paths: list[str]) -> Iterator[tuple[str, str | None]]:
    """(display name, text or None when unreadable) for each file, directory entry or stdin."""
    for raw in paths:
        if raw == STDIN:
            yield STDIN, sys.stdin.read()
            continue
        path = Path(raw)
        if path.is_dir():
            for entry in sorted(path.iterdir()):
                if entry.is_file() and entry.suffix in SUFFIXES:
                    yield str(entry), _read(entry)
            continue
        yield raw, _read(path)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _documents(text: str) -> Iterator[tuple[int, Any, str | None]]:
    """(index, document, None), or (index, None, the YAML error) for a document that does not parse."""
    import yaml

    index = 0  # the document being parsed when an error stops the stream
    try:
        for doc in yaml.safe_load_all(text):
            yield index, doc, None
            index += 1
    except yaml.YAMLError as exc:
        yield index, None, "invalid YAML: " + " ".join(str(exc).split())


def describe(doc: dict[str, Any]) -> str:
    """``kind/name`` as kubectl prints an object."""
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return f"{doc.get('kind')}/{name or '<unnamed>'}"


def check_document(doc: Any) -> list[Finding] | None:
    """The errors and warnings of one document, or None when it is not one this command checks."""
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
        return None
    api_version = doc.get("apiVersion")
    findings: list[Finding] = []
    if api_version == FLAGGER_API_VERSION:
        findings.append(
            Finding(
                "apiVersion", f"{FLAGGER_API_VERSION} is Flagger's API: change apiVersion to {API_VERSION}"
            )
        )
        doc = {**doc, "apiVersion": API_VERSION}
    elif api_version != API_VERSION:
        return None
    return findings + check_manifest(doc)


def check_manifest(doc: dict[str, Any]) -> list[Finding]:
    """Admission (unknown fields, schema, CEL, metadata), then the models' rules, then warnings."""
    from canary.api.models import unsupported_fields

    found = _admission(doc)
    found += [f for f in _model_findings(doc) if not any(_related(f.field, e.field) for e in found)]
    spec = doc.get("spec")
    if doc["kind"] == "Canary" and isinstance(spec, dict):
        found += [
            Finding(
                path, "accepted but not implemented yet (the operator reports it as UnsupportedFields)", True
            )
            for path in unsupported_fields(spec)
        ]
    return found


def _admission(doc: dict[str, Any]) -> list[Finding]:
    """What ``kubectl apply`` (strict field validation) would get from a cluster with our CRDs."""
    from canary.sandbox.apiserver.validation import ApiError, admit, prune, validate_object

    resource = _resource_types()[doc["kind"]]
    schema = resource.schemas[resource.versions[0]]
    obj = copy.deepcopy(doc)
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}
    unknown: list[str] = []
    prune(obj, schema, [], unknown, root=True)
    found = [Finding(path, f'unknown field "{path}"') for path in unknown]
    for check in (
        lambda: admit(resource, resource.versions[0], obj, "Ignore"),  # defaults, schema, CEL rules
        lambda: validate_object(resource, obj, None),  # metadata, as on create
    ):
        try:
            check()
        except ApiError as exc:
            causes = exc.details.get("causes") or [{"field": "", "message": exc.message}]
            found += [Finding(str(c.get("field") or ""), str(c.get("message") or "")) for c in causes]
    return found


_TYPES: dict[str, Any] = {}


def _resource_types() -> dict[str, Any]:
    """Kind -> the emulator's ResourceType for the CRDs generated from the models (built once)."""
    if not _TYPES:
        from canary.api.crdgen import all_crds
        from canary.sandbox.apiserver.registry import crd_to_type

        for crd in all_crds():
            resource = crd_to_type(crd)
            _TYPES[resource.kind] = resource
    return _TYPES


def _model_findings(doc: dict[str, Any]) -> list[Finding]:
    """The operator's pydantic models on the document, each error at its kube field path."""
    from pydantic import ValidationError

    from canary.api.models import AlertProvider, Canary, MetricTemplate

    models: dict[str, type[Canary | MetricTemplate | AlertProvider]] = {
        "Canary": Canary,
        "MetricTemplate": MetricTemplate,
        "AlertProvider": AlertProvider,
    }
    model = models[doc["kind"]]
    try:
        model.from_body(doc)
    except ValidationError as exc:
        return [
            Finding(kube_path(tuple(e["loc"])), re.sub(r"^Value error, ", "", e["msg"])) for e in exc.errors()
        ]
    return []


def kube_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a kube field path (``spec.analysis.stepWeights[1]``); the
    union-member and validator tags pydantic inserts (``int``, ``function-after[...]``) are dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", part) and part not in ("int", "str", "float", "bool"):
            out += ("." if out else "") + part
    return out


def _related(a: str, b: str) -> bool:
    """One path is the other or encloses it: the same problem, already reported by admission."""
    if not a or not b:
        return True
    short, long = sorted((a, b), key=len)
    return long == short or long.startswith((short + ".", short + "["))
