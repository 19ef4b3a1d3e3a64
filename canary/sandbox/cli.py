"""`canary sandbox`: a local cluster (API emulator, workloads, traffic, Prometheus) in the foreground.

Writes the kubeconfig once everything is ready, prints one ``sandbox ready: …`` line followed by
``export HTTP_PROXY=…`` lines (the proxy that serves in-cluster URLs such as
``http://podinfo-canary.test:9898/``, for a shell's ``eval``), and runs until SIGINT/SIGTERM, then
stops every child process before exiting 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shlex
import signal
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sandbox",
        help="run a local sandbox cluster (API emulator, simulated workloads, traffic, Prometheus)",
        description=__doc__,
    )
    parser.add_argument("--kubeconfig", required=True, type=Path, help="where to write the kubeconfig")
    parser.add_argument("--port", type=int, default=0, help="API server port (0: a free one)")
    parser.add_argument("--prometheus-port", type=int, default=0, help="Prometheus port (0: a free one)")
    parser.add_argument("--dataplane-port", type=int, default=0, help="traffic /metrics port (0: a free one)")
    parser.add_argument("--rps", type=float, default=50.0, help="total synthetic requests per second")
    parser.add_argument(
        "--ready-delay", type=float, default=1.0, help="seconds a new pod takes to become ready"
    )
    parser.add_argument(
        "--service", action="append", default=[], metavar="NS/NAME", help="also send traffic to this Service"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep logs and Prometheus data here (default: a temp dir)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


async def serve(args: argparse.Namespace) -> None:
    from .sandbox import Sandbox

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    services = [
        (s.split("/", 1)[0], s.split("/", 1)[1]) if "/" in s else ("default", s) for s in args.service
    ]
    sandbox = Sandbox(
        api_port=args.port,
        prometheus_port=args.prometheus_port,
        dataplane_port=args.dataplane_port,
        rps=args.rps,
        ready_delay=args.ready_delay,
        services=services,
        workdir=args.workdir,
        kubeconfig_path=args.kubeconfig,
    )
    starting = asyncio.create_task(sandbox.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():  # interrupted while starting: Sandbox.start cleans up on cancel
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return
    try:
        starting.result()
        print(
            f"sandbox ready: kubeconfig={args.kubeconfig} api={sandbox.api_url} "
            f"prometheus={sandbox.prometheus_url} metrics={sandbox.dataplane.metrics_url}",
            flush=True,
        )
        for name, value in sandbox.proxy_env().items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        await stopping
    finally:
        stopping.cancel()
        await sandbox.stop()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(args))
    except Exception as exc:
        print(f"canary sandbox: {exc}", file=sys.stderr)
        return 1
    return 0
