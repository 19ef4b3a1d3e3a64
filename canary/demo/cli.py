"""`canary demo`: start the sandbox and the operator, then a good release and a bad one, shown live."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="a promotion and a rollback on the local sandbox, shown live",
        description=(
            "Start a local sandbox cluster (API emulator, simulated workloads, traffic, real Prometheus) and "
            "the operator, deploy a demo app with a Canary, roll out a good release to promotion and a bad "
            "release to rollback. Exits 0 when both outcomes are as expected."
        ),
    )
    parser.add_argument("--interval", default="2s", help="analysis interval of the demo Canary")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds allowed for each release")
    parser.add_argument("--rps", type=float, default=50.0, help="synthetic requests per second")
    parser.add_argument("--plain", action="store_true", help="print lines instead of a live view")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from canary.demo.runner import DemoOptions, run_demo

    options = DemoOptions(interval=args.interval, timeout=args.timeout, rps=args.rps, plain=args.plain)
    return asyncio.run(run_demo(options))
