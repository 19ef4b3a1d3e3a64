"""`canary status NAME [--watch]`: one Canary's phase, weight, checks and Events in the terminal.

Installed as `canary status`; the same view backs `canary demo`. It reads only the Canary and its
Events through the API, so it shows exactly what `kubectl` users could see, only arranged.
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "status",
        help="show a Canary's progress (phase, weight, checks, events)",
        description="Show a Canary's phase, weight, metric checks and recent Events; --watch to follow it.",
    )
    parser.add_argument("name", help="the Canary's name")
    parser.add_argument(
        "-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)"
    )
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG, then in-cluster)")
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument("-w", "--watch", action="store_true", help="keep refreshing until interrupted")
    parser.add_argument("--interval", type=float, default=1.0, help="refresh interval with --watch (seconds)")


def run(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException
    from rich.console import Console
    from rich.live import Live

    from canary.cli.kubeconfig import clients_and_namespace
    from canary.cli.view import render_canary

    console = Console()
    clients, namespace = clients_and_namespace(args.kubeconfig, args.context, args.namespace)

    def snapshot() -> Any:
        body: dict[str, Any] = clients.custom.get_namespaced_custom_object(  # type: ignore[assignment]
            "canary.dev", "v1alpha1", namespace, "canaries", args.name
        )
        listing = clients.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={args.name},involvedObject.kind=Canary"
        )
        events = [clients.api.sanitize_for_serialization(e) for e in listing.items]
        events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        return render_canary(body, events)

    try:
        if not args.watch:
            console.print(snapshot())
            return 0
        with Live(snapshot(), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(args.interval)
                live.update(snapshot())
    except ApiException as exc:
        console.print(f"[red]canary {namespace}/{args.name}: {exc.status} {exc.reason}[/]")
        return 1
    except KeyboardInterrupt:
        return 0
