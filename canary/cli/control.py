"""`canary promote|abort|retry|pause|resume NAME`: manual control, recorded on the Canary itself.

promote, abort and retry set the annotation ``canary.dev/<verb>`` to the revision they are meant
for (``<hash>@<time>``), so the same request works from GitOps (commit the annotation) and from
the CLI, acts once, and never touches a later revision; the operator decides when it applies.
pause and resume set ``spec.suspend`` (Flagger's field). Exit 0 when recorded, 1 when the Canary
is not in a state the verb applies to (with the reason), 3 when it does not exist.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from canary.api.models import (
    GROUP,
    PLURAL,
    REQUEST_ABORT,
    REQUEST_PROMOTE,
    REQUEST_RETRY,
    VERSION,
    CanaryStatus,
    Phase,
    request_annotation,
)

OK, REFUSED, MISSING = 0, 1, 3

_ANALYSING = frozenset({Phase.PROGRESSING, Phase.WAITING, Phase.WAITING_PROMOTION})
_HELP = {
    "promote": "promote the revision under analysis now, skipping its remaining steps",
    "abort": "roll the revision under analysis back now",
    "retry": "analyse the last failed revision again, without changing the pod template",
    "pause": "suspend the Canary (spec.suspend: true)",
    "resume": "resume a suspended Canary (spec.suspend: false)",
}


def add_parser(subparsers: Any) -> None:
    for verb, text in _HELP.items():
        parser: argparse.ArgumentParser = subparsers.add_parser(
            verb, help=text, description=text[0].upper() + text[1:] + "."
        )
        parser.add_argument("name", help="the Canary's name")
        parser.add_argument(
            "-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)"
        )
        parser.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG, then in-cluster)")
        parser.add_argument("--context", help="kubeconfig context to use")


def request_for(verb: str, status: CanaryStatus) -> tuple[str | None, str]:
    """The revision a request is meant for and a note, or (None, why it does not apply)."""
    phase = status.phase
    if verb in (REQUEST_PROMOTE, REQUEST_ABORT):
        if phase not in _ANALYSING or not status.last_applied_spec:
            return (
                None,
                f"nothing to {verb}: phase is {phase.value if phase else 'unknown'}, no revision under analysis",
            )
        return status.last_applied_spec, f"revision {status.last_applied_spec}"
    failed = status.last_failed_revision
    if phase is not Phase.FAILED or failed is None or failed.hash != status.last_applied_spec:
        return None, f"nothing to retry: phase is {phase.value if phase else 'unknown'}, no failed revision"
    return failed.hash, f"revision {failed.hash} ({failed.image or 'image unknown'})"


def run(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException

    from canary.cli.kubeconfig import clients_and_namespace

    clients, namespace = clients_and_namespace(args.kubeconfig, args.context, args.namespace)
    where = f"canary {namespace}/{args.name}"
    try:
        body: dict[str, Any] = clients.custom.get_namespaced_custom_object(  # type: ignore[assignment]
            GROUP, VERSION, namespace, PLURAL, args.name
        )
    except ApiException as exc:
        if exc.status == 404:
            print(f"{where}: not found", file=sys.stderr)
            return MISSING
        raise
    verb = args.command
    if verb in ("pause", "resume"):
        patch: dict[str, Any] = {"spec": {"suspend": verb == "pause"}}
        note = "suspended" if verb == "pause" else "resumed"
    else:
        assert verb in (REQUEST_PROMOTE, REQUEST_ABORT, REQUEST_RETRY)
        revision, note = request_for(verb, CanaryStatus.model_validate(body.get("status") or {}))
        if revision is None:
            print(f"{where}: {note}", file=sys.stderr)
            return REFUSED
        nonce = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        patch = {"metadata": {"annotations": {request_annotation(verb): f"{revision}@{nonce}"}}}
        note = f"{verb} requested for {note}"
    clients.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, args.name, patch)
    print(f"{where}: {note}")
    return OK
