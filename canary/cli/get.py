"""`canary get [NAME] [-n NS | -A]`: a table of Canaries, like `kubectl argo rollouts list`.

Columns: NAMESPACE (with ``-A``), NAME, PHASE, WEIGHT, REVISION (the image under analysis, else
its pod-template hash), LAST PROMOTED (the image the primary runs), CHECKS (``name=value(verdict)``
per metric check) and AGE, sorted by namespace and name. Plain text, kubectl's column spacing;
the phase is coloured only on a terminal (and never with ``NO_COLOR``). Exit 0, or 1 with the
API server's message when it refuses (not found, forbidden, unreachable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO, cast

from canary.api.duration import human_duration

OK, REFUSED = 0, 1

COLUMNS = ("NAME", "PHASE", "WEIGHT", "REVISION", "LAST PROMOTED", "CHECKS", "AGE")
PADDING = 3  # kubectl's tabwriter padding
_ANSI = {"green": "32", "red": "31", "yellow": "33", "cyan": "36", "magenta": "35"}
PHASE_COLOURS = {
    "Succeeded": "green",
    "Initialized": "green",
    "Failed": "red",
    "Progressing": "yellow",
    "Promoting": "cyan",
    "Finalising": "cyan",
    "Waiting": "magenta",
    "WaitingPromotion": "magenta",
}


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "get",
        help="list Canaries: phase, weight, revision, last promoted, checks, age",
        description=(
            "List the Canaries of a namespace (or of all with -A), or one by NAME: phase, canary "
            "weight, revision under analysis, last promoted image, last metric checks and age."
        ),
    )
    parser.add_argument("name", nargs="?", help="only this Canary")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)"
    )
    where.add_argument(
        "-A", "--all-namespaces", action="store_true", help="list the Canaries of every namespace"
    )
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG, then in-cluster)")
    parser.add_argument("--context", help="kubeconfig context to use")


def run(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    from canary.api.models import GROUP, PLURAL, VERSION
    from canary.cli.kubeconfig import clients_and_namespace

    if args.name and args.all_namespaces:
        print("canary get: a Canary cannot be named across all namespaces (-A)", file=sys.stderr)
        return REFUSED
    try:
        clients, namespace = clients_and_namespace(args.kubeconfig, args.context, args.namespace)
    except (ConfigException, OSError) as exc:
        print(f"canary get: kubeconfig: {exc}", file=sys.stderr)
        return REFUSED
    custom = clients.custom
    items: list[dict[str, Any]]
    try:
        if args.name:
            one = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, args.name)
            items = [cast(dict[str, Any], one)]
        elif args.all_namespaces:
            listing = cast(dict[str, Any], custom.list_cluster_custom_object(GROUP, VERSION, PLURAL))
            items = list(listing.get("items") or [])
        else:
            listing = cast(
                dict[str, Any], custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
            )
            items = list(listing.get("items") or [])
    except ApiException as exc:
        hint = "" if args.name or exc.status != 404 else f" (is the {GROUP} CRD installed?)"
        print(f"canary get: {api_message(exc)}{hint}", file=sys.stderr)
        return REFUSED
    except HTTPError as exc:
        print(f"canary get: cannot reach the API server: {exc}", file=sys.stderr)
        return REFUSED
    if not items:
        where = "any namespace" if args.all_namespaces else f"{namespace} namespace"
        print(f"No canaries found in {where}.", file=sys.stderr)
        return OK
    sys.stdout.write(table(items, all_namespaces=args.all_namespaces, colour=_colour_wanted(sys.stdout)))
    return OK


def api_message(exc: Any) -> str:
    """The refusal as kubectl words it: the Status message and its reason."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return f"{body['message']} ({body.get('reason') or exc.reason})"
    return f"{exc.status} {exc.reason}".strip()


def _colour_wanted(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def row(body: Mapping[str, Any], now: datetime | None = None) -> list[str]:
    """One Canary's cells, in COLUMNS order."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    revision = status.get("revision") or {}
    promoted = status.get("lastPromotedRevision") or {}
    return [
        str(meta.get("name") or ""),
        str(status.get("phase") or "-"),
        str(int(status.get("canaryWeight") or 0)),
        str(revision.get("image") or revision.get("hash") or "-"),
        str(promoted.get("image") or promoted.get("hash") or "-"),
        checks_cell(status.get("checks") or []),
        age(meta.get("creationTimestamp"), now),
    ]


def checks_cell(checks: Sequence[Mapping[str, Any]]) -> str:
    """``request-success-rate=99.52(Successful),request-duration=-(Error)``; ``-`` without checks."""
    cells = []
    for check in checks:
        value = check.get("value")
        shown = f"{float(value):.2f}" if isinstance(value, int | float) else "-"
        cells.append(f"{check.get('name')}={shown}({check.get('verdict') or '-'})")
    return ",".join(cells) or "-"


def table(
    items: Sequence[Mapping[str, Any]],
    *,
    all_namespaces: bool = False,
    colour: bool = False,
    now: datetime | None = None,
) -> str:
    """The whole table as text, sorted by namespace/name, columns aligned as kubectl aligns them."""
    ordered = sorted(
        items,
        key=lambda b: (
            str((b.get("metadata") or {}).get("namespace")),
            str((b.get("metadata") or {}).get("name")),
        ),
    )
    header = ["NAMESPACE", *COLUMNS] if all_namespaces else list(COLUMNS)
    rows = []
    for body in ordered:
        cells = row(body, now)
        rows.append(
            [str((body.get("metadata") or {}).get("namespace") or ""), *cells] if all_namespaces else cells
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    phase_at = header.index("PHASE")
    lines = []
    for number, cells in enumerate([header, *rows]):
        padded = [cell.ljust(widths[i]) if i < len(cells) - 1 else cell for i, cell in enumerate(cells)]
        code = _ANSI.get(PHASE_COLOURS.get(cells[phase_at], "")) if colour and number else None
        if code:
            padded[phase_at] = (
                f"\x1b[{code}m{cells[phase_at]}\x1b[0m" + padded[phase_at][len(cells[phase_at]) :]
            )
        lines.append((" " * PADDING).join(padded).rstrip())
    return "\n".join(lines) + "\n"


def age(timestamp: Any, now: datetime | None = None) -> str:
    """kubectl's AGE of an RFC 3339 timestamp (``45s``, ``3m2s``, ``5h``, ``12d``), ``<unknown>`` if absent."""
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return human_duration(((now or datetime.now(UTC)) - then).total_seconds())
