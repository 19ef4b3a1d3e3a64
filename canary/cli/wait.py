"""`canary wait NAME [--image IMAGE | --revision HASH] [--timeout 10m]`: block CI until *its* release settles.

Exit codes: 0 the revision was promoted, 1 it failed (one line says why: the failing check and
value), 2 timeout, 3 the Canary or its target does not exist. Without ``--image``/``--revision``
it waits for the target Deployment's current pod template, so it is correct right after
``kubectl apply`` or ``kubectl set image``: the previous release's outcome belongs to another
revision and is never mistaken for this one's.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

from canary.api.models import GROUP, PLURAL, VERSION, CanaryStatus, Phase, RevisionOutcome

PROMOTED, FAILED, TIMED_OUT, MISSING = 0, 1, 2, 3
POLL_SECONDS = 0.5

#: Phases after which the outcome records are final for the revision under analysis.
_SETTLED = frozenset({Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED})


@dataclass(frozen=True)
class Wanted:
    """The release to wait for: a pod-template hash, or an image (first container's)."""

    revision: str | None = None
    image: str | None = None

    def matches(self, outcome: RevisionOutcome | None) -> bool:
        if outcome is None:
            return False
        if self.revision is not None:
            return outcome.hash == self.revision
        return self.image is not None and outcome.image == self.image

    def describe(self) -> str:
        return f"revision {self.revision}" if self.revision is not None else f"image {self.image}"


@dataclass(frozen=True)
class Verdict:
    code: int
    message: str


def judge(status: CanaryStatus, wanted: Wanted) -> Verdict | None:
    """The outcome for ``wanted`` as the status records it, or None while it is not settled.

    A revision still (or again) under analysis is never judged by an older record of it, and
    nothing is judged before the operator has picked the revision up.
    """
    if status.phase not in _SETTLED:
        return None
    promoted, failed = status.last_promoted_revision, status.last_failed_revision
    if wanted.matches(promoted) and (not wanted.matches(failed) or _newer(promoted, failed)):
        return Verdict(PROMOTED, f"{wanted.describe()} promoted")
    if wanted.matches(failed) and status.phase is Phase.FAILED:
        assert failed is not None
        return Verdict(FAILED, f"{wanted.describe()} failed: {failed.message or 'rolled back'}")
    return None


def _newer(a: RevisionOutcome | None, b: RevisionOutcome | None) -> bool:
    return a is not None and b is not None and (a.time or "") >= (b.time or "")


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "wait",
        help="wait until a release is promoted (exit 0) or rolled back (exit 1)",
        description=(
            "Wait for the Canary's release of the target's current pod template (or of --image or "
            "--revision). Exit 0 promoted, 1 failed (with the reason), 2 timeout, 3 Canary or target missing."
        ),
    )
    parser.add_argument("name", help="the Canary's name")
    parser.add_argument(
        "-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)"
    )
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster, then $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context to use")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--image", help="wait for the release of this image (the first container's)")
    which.add_argument("--revision", help="wait for the release of this pod-template hash")
    parser.add_argument("--timeout", default="10m", help="give up after this long (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException

    from canary.api.duration import duration_seconds
    from canary.cli.kubeconfig import clients_and_namespace
    from canary.targets.workload import pod_template_hash

    try:
        timeout = duration_seconds(args.timeout)
    except ValueError as exc:
        print(f"canary wait: --timeout: {exc}", file=sys.stderr)
        return TIMED_OUT
    clients, namespace = clients_and_namespace(args.kubeconfig, args.context, args.namespace)
    deadline = time.monotonic() + timeout
    where = f"canary {namespace}/{args.name}"

    def read_canary() -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = clients.custom.get_namespaced_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, namespace, PLURAL, args.name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return body

    body = read_canary()
    if body is None:
        print(f"{where}: not found", file=sys.stderr)
        return MISSING
    wanted = Wanted(revision=args.revision, image=args.image)
    if args.revision is None and args.image is None:
        target_name = str(((body.get("spec") or {}).get("targetRef") or {}).get("name") or "")
        try:
            target = clients.api.sanitize_for_serialization(
                clients.apps.read_namespaced_deployment(target_name, namespace)
            )
        except ApiException as exc:
            if exc.status == 404:
                print(f"{where}: target deployment {target_name} not found", file=sys.stderr)
                return MISSING
            raise
        wanted = Wanted(revision=pod_template_hash(target["spec"]["template"]))
    while True:
        verdict = judge(CanaryStatus.model_validate(body.get("status") or {}), wanted)
        if verdict is not None:
            print(f"{where}: {verdict.message}", file=sys.stdout if verdict.code == PROMOTED else sys.stderr)
            return verdict.code
        if time.monotonic() >= deadline:
            status = body.get("status") or {}
            phase = status.get("phase") or "unknown"
            gate = status.get("gate") or {}
            held = f"; held by gate {gate.get('name')} ({gate.get('type')})" if gate else ""
            print(
                f"{where}: timed out after {args.timeout} waiting for {wanted.describe()} (phase {phase}{held})",
                file=sys.stderr,
            )
            return TIMED_OUT
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
        refreshed = read_canary()
        if refreshed is None:
            print(f"{where}: deleted while waiting", file=sys.stderr)
            return MISSING
        body = refreshed
