"""The one app every sandbox Deployment runs (a sandbox cannot run container images).

``python -m canary.sandbox.demoapp --port N --version TAG --error-rate F --latency-ms M`` serves
any path with ``{"version", "hostname"}`` (``POST /token`` with podinfo's ``{"token", "expires_at"}``); a fraction ``error-rate`` is answered 500 and latency is
log-normal around the median ``latency-ms``. ``/healthz`` and ``/metrics`` (hand-written Prometheus
text: ``http_requests_total``, ``http_request_duration_seconds``) are never delayed nor failed.
With ``--port 0`` it binds a free port; the first stdout line is ``READY port=N`` either way.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import signal
import socket
import sys
import time
from collections import defaultdict
from collections.abc import Sequence

from aiohttp import web

#: prometheus_client's default histogram buckets (seconds).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
LATENCY_SIGMA = 0.25  # log-normal spread: p99 ~ 1.8x the median
MAX_PATHS = 20  # path label cardinality cap; further paths are counted as "other"


class Metrics:
    """Counters and a histogram, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = defaultdict(float)

    def path_label(self, path: str) -> str:
        if path in self.buckets or len(self.buckets) < MAX_PATHS:
            return path
        return "other"

    def observe(self, path: str, code: int, seconds: float) -> None:
        label = self.path_label(path)
        self.requests[(str(code), label)] += 1
        counts = self.buckets.setdefault(label, [0] * (len(BUCKETS) + 1))
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[-1] += 1
        self.sums[label] += seconds

    def render(self) -> str:
        out = ["# HELP http_requests_total Requests served.", "# TYPE http_requests_total counter"]
        out += [
            f'http_requests_total{{code="{c}",path="{p}"}} {n}' for (c, p), n in sorted(self.requests.items())
        ]
        out += [
            "# HELP http_request_duration_seconds Request latency.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for path, counts in sorted(self.buckets.items()):
            bounds = [*(repr(b) for b in BUCKETS), "+Inf"]
            out += [
                f'http_request_duration_seconds_bucket{{path="{path}",le="{le}"}} {n}'
                for le, n in zip(bounds, counts, strict=True)
            ]
            out.append(f'http_request_duration_seconds_sum{{path="{path}"}} {self.sums[path]}')
            out.append(f'http_request_duration_seconds_count{{path="{path}"}} {counts[-1]}')
        return "\n".join(out) + "\n"


def make_app(version: str, error_rate: float, latency_ms: float, name: str) -> web.Application:
    metrics = Metrics()
    hostname = f"{name}-{os.getpid()}"

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": version})

    async def prometheus(request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    async def serve(request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        started = loop.time()
        if latency_ms > 0:
            await asyncio.sleep(random.lognormvariate(math.log(latency_ms / 1000.0), LATENCY_SIGMA))
        code = 500 if random.random() < error_rate else 200
        body: dict[str, str | int] = {"version": version, "hostname": hostname}
        if request.method == "POST" and request.path == "/token" and code == 200:
            # podinfo's /token: what Flagger's acceptance-test examples grep for.
            body = {"token": f"{hostname}-{int(time.time())}", "expires_at": int(time.time()) + 60}
        if code != 200:
            body["error"] = "injected failure"
        metrics.observe(request.path, code, loop.time() - started)
        return web.json_response(body, status=code)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    app.router.add_route("*", "/{tail:.*}", serve)
    return app


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Exit when the sandbox that started us is gone (no orphans even after a SIGKILL)."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            stop.set()
        await asyncio.sleep(1.0)


async def serve_forever(args: argparse.Namespace) -> None:
    app = make_app(args.version, args.error_rate, args.latency_ms, args.name)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    site = web.SockSite(runner, sock)
    await site.start()
    print(f"READY port={sock.getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_watch_parent(args.parent_pid, stop)) if args.parent_pid else None
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    await runner.cleanup()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m canary.sandbox.demoapp",
        description="The sandbox's demo app: answers with its version, fails and lags on demand.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--version", default="latest", help="reported in every answer (the image tag)")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests answered 500")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="median latency")
    parser.add_argument("--name", default="demoapp", help="prefix of the reported hostname")
    parser.add_argument(
        "--parent-pid", type=int, default=0, help="exit when this process is no longer our parent"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(serve_forever(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
