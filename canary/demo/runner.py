"""The demo's script: sandbox up, operator up, a good release, a bad release, a summary.

The demo talks to the sandbox only through the Kubernetes API (the real `kubernetes` client) and runs
the operator as a separate process with `canary operator`, exactly as a user would on a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.live import Live
from rich.table import Table

from canary.api.models import GROUP, PLURAL, VERSION
from canary.cli.view import render_canary
from canary.demo import manifests
from canary.kube import KubeClients, load_clients


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    interval: str = "2s"
    timeout: float = 180.0
    rps: float = 50.0
    plain: bool = False


@dataclasses.dataclass
class ReleaseResult:
    title: str
    image: str
    expected_phase: str
    phase: str = "-"
    primary_image: str = "-"
    route: str = "-"
    seconds: float = 0.0
    last_message: str = ""

    @property
    def as_expected(self) -> bool:
        return self.phase == self.expected_phase


class DemoCluster:
    """The demo's view of the cluster: a few typed calls over the kubernetes client."""

    def __init__(self, clients: KubeClients) -> None:
        self.clients = clients

    def get_canary(self) -> dict[str, Any]:
        obj = self.clients.custom.get_namespaced_custom_object(
            GROUP, VERSION, manifests.NAMESPACE, PLURAL, manifests.APP
        )
        return cast(dict[str, Any], obj)

    def events(self) -> list[dict[str, Any]]:
        listing = self.clients.core.list_namespaced_event(
            manifests.NAMESPACE,
            field_selector=f"involvedObject.name={manifests.APP},involvedObject.kind=Canary",
        )
        items = [self.clients.api.sanitize_for_serialization(event) for event in listing.items]
        items.sort(key=lambda e: (e.get("lastTimestamp") or e.get("eventTime") or "", e["metadata"]["name"]))
        return items

    def primary_image(self) -> str:
        primary = self.clients.apps.read_namespaced_deployment(
            f"{manifests.APP}-primary", manifests.NAMESPACE
        )
        pod_spec = primary.spec.template.spec if primary.spec else None
        return str(pod_spec.containers[0].image) if pod_spec else "-"

    def route(self) -> str:
        route = cast(
            dict[str, Any],
            self.clients.custom.get_namespaced_custom_object(
                "gateway.networking.k8s.io", "v1", manifests.NAMESPACE, "httproutes", manifests.APP
            ),
        )
        refs = route["spec"]["rules"][0]["backendRefs"]
        weights = {ref["name"]: ref.get("weight", 1) for ref in refs}
        return f"{weights.get(f'{manifests.APP}-primary', 0)}/{weights.get(f'{manifests.APP}-canary', 0)}"

    def set_image(self, image: str) -> None:
        patch = {"spec": {"template": {"spec": {"containers": [{"name": manifests.APP, "image": image}]}}}}
        self.clients.apps.patch_namespaced_deployment(manifests.APP, manifests.NAMESPACE, patch)

    def install(self, interval: str) -> None:
        namespace: Any = manifests.namespace()  # the client accepts plain dicts as bodies
        deployment: Any = manifests.deployment()
        self.clients.core.create_namespace(namespace)
        self.clients.apps.create_namespaced_deployment(manifests.NAMESPACE, deployment)
        self.clients.custom.create_namespaced_custom_object(
            GROUP, VERSION, manifests.NAMESPACE, PLURAL, manifests.canary(interval=interval)
        )


@contextlib.asynccontextmanager
async def operator_process(
    kubeconfig: str, prometheus_url: str, log_path: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[None]:
    """`canary operator` as a child process, stopped with SIGINT like a user's Ctrl-C; ``env`` is added
    to ours (the sandbox's proxy_env(), so in-cluster URLs resolve as in a pod)."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "canary",
                "operator",
                "--kubeconfig",
                kubeconfig,
                "--prometheus-url",
                prometheus_url,
                "--metrics-bind-address",
                "127.0.0.1",
                "--metrics-port",
                "0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        try:
            yield
        finally:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(process.wait, 15)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 5)


class Screen:
    """Either a live rich view or plain lines (for CI logs and `--plain`)."""

    def __init__(self, console: Console, plain: bool) -> None:
        self.console = console
        self.plain = plain
        self._live: Live | None = None
        self._last_line = ""

    def __enter__(self) -> Screen:
        if not self.plain:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def show(self, canary: Mapping[str, Any], events: list[dict[str, Any]]) -> None:
        if self._live is not None:
            self._live.update(render_canary(canary, events))
            return
        status = canary.get("status") or {}
        checks = ", ".join(
            f"{c.get('name')}={c.get('value') if c.get('value') is None else round(c['value'], 2)}"
            f" ({c.get('verdict')})"
            for c in status.get("checks") or []
        )
        line = (
            f"phase={status.get('phase')} weight={status.get('canaryWeight', 0)} "
            f"failedChecks={status.get('failedChecks', 0)} {checks}"
        )
        if line != self._last_line:
            self.console.print(f"  {line}")
            self._last_line = line


async def wait_for_phase(
    cluster: DemoCluster, screen: Screen, phases: set[str], timeout: float, generation_image: str | None
) -> dict[str, Any]:
    """Refresh the view until the Canary reaches one of `phases` for the release under way."""
    deadline = time.monotonic() + timeout
    canary: dict[str, Any] = {}
    while time.monotonic() < deadline:
        canary = await asyncio.to_thread(cluster.get_canary)
        events = await asyncio.to_thread(cluster.events)
        screen.show(canary, events)
        status = canary.get("status") or {}
        revision_image = (status.get("revision") or {}).get("image")
        if status.get("phase") in phases and (generation_image is None or revision_image == generation_image):
            return canary
        await asyncio.sleep(0.5)
    return canary


async def release(
    cluster: DemoCluster, console: Console, options: DemoOptions, result: ReleaseResult
) -> ReleaseResult:
    console.rule(f"[bold]{result.title}[/]: {result.image}")
    started = time.monotonic()
    await asyncio.to_thread(cluster.set_image, result.image)
    with Screen(console, options.plain) as screen:
        canary = await wait_for_phase(
            cluster, screen, {"Succeeded", "Failed"}, options.timeout, generation_image=result.image
        )
    status = canary.get("status") or {}
    result.seconds = time.monotonic() - started
    result.phase = str(status.get("phase"))
    result.last_message = str(status.get("message", ""))
    result.primary_image = await asyncio.to_thread(cluster.primary_image)
    result.route = await asyncio.to_thread(cluster.route)
    return result


def _tag(image: str) -> str:
    return image.rsplit(":", 1)[-1]


def summary(console: Console, results: list[ReleaseResult]) -> None:
    table = Table(title="canary demo summary")
    for column in ("release", "tag", "expected", "outcome", "primary runs", "route p/c", "took"):
        table.add_column(column, no_wrap=True)
    for r in results:
        style = "green" if r.as_expected else "red"
        table.add_row(
            r.title,
            _tag(r.image),
            r.expected_phase,
            f"[{style}]{r.phase}[/]",
            _tag(r.primary_image),
            r.route,
            f"{r.seconds:.1f}s",
        )
    console.print(table)


async def run_demo(options: DemoOptions) -> int:
    from canary.sandbox.sandbox import Sandbox

    # Logs and CI are not terminals: give them a width that fits the summary instead of rich's 80.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    workdir = Path(tempfile.mkdtemp(prefix="canary-demo-"))
    console.print(f"[bold]canary demo[/] (work dir {workdir})")
    console.print(
        "Starting the sandbox: API emulator, workload simulator, traffic at "
        f"{options.rps:g} rps, real Prometheus …"
    )
    async with Sandbox(rps=options.rps, workdir=workdir) as sandbox:
        kubeconfig = str(sandbox.kubeconfig_path)
        console.print(
            f"  kubeconfig: {kubeconfig}   (try: kubectl --kubeconfig {kubeconfig} get canaries -A)"
        )
        console.print(f"  prometheus: {sandbox.prometheus_url}")
        os.environ["KUBECONFIG"] = kubeconfig
        cluster = DemoCluster(load_clients(kubeconfig))
        log_path = workdir / "operator.log"
        console.print(f"Starting the operator (`canary operator`), log: {log_path}")
        async with operator_process(kubeconfig, sandbox.prometheus_url, log_path, sandbox.proxy_env()):
            await asyncio.to_thread(cluster.install, options.interval)
            console.rule("[bold]Bootstrap[/]: podinfo 6.7.0 becomes the primary")
            with Screen(console, options.plain) as screen:
                canary = await wait_for_phase(cluster, screen, {"Initialized"}, options.timeout, None)
            if (canary.get("status") or {}).get("phase") != "Initialized":
                console.print(f"[red]the Canary was not initialized; see {log_path}[/]")
                return 1
            results = [
                await release(
                    cluster,
                    console,
                    options,
                    ReleaseResult("good release", manifests.GOOD_IMAGE, "Succeeded"),
                ),
                await release(
                    cluster, console, options, ReleaseResult("bad release", manifests.BAD_IMAGE, "Failed")
                ),
            ]
    summary(console, results)
    ok = all(r.as_expected for r in results) and results[1].primary_image == manifests.GOOD_IMAGE
    console.print(
        "[bold green]demo passed[/]" if ok else f"[bold red]demo failed[/]; operator log: {log_path}"
    )
    return 0 if ok else 1
