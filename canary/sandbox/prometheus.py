"""A real Prometheus (``/usr/bin/prometheus``) on 127.0.0.1 for the sandbox and the tests.

Scrapes every second; targets come from a ``file_sd`` JSON file re-read every second, so
:meth:`PrometheusProcess.add_target` / :meth:`set_targets` need no reload. Storage lives in a temp
dir (or under ``workdir``) removed on stop. Use ``async start()/stop()`` or ``with`` (sync).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from .processes import die_with_parent, terminate_sync

PROMETHEUS_BIN = shutil.which("prometheus") or "/usr/bin/prometheus"

CONFIG = """\
global:
  scrape_interval: {interval}
  scrape_timeout: {interval}
  evaluation_interval: {interval}
scrape_configs:
  - job_name: sandbox
    file_sd_configs:
      - files: ['{targets}']
        refresh_interval: 1s
"""


def free_port() -> int:
    """A port nothing listens on right now (Prometheus cannot bind port 0 and tell us)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusProcess:
    """One Prometheus child process; ``url`` is valid once started."""

    def __init__(
        self,
        port: int = 0,
        *,
        workdir: Path | None = None,
        scrape_interval: str = "1s",
        binary: str = PROMETHEUS_BIN,
        ready_timeout: float = 30.0,
    ) -> None:
        self.port = port
        self.binary = binary
        self.scrape_interval = scrape_interval
        self.ready_timeout = ready_timeout
        self._own_dir = workdir is None
        self.dir = (
            Path(tempfile.mkdtemp(prefix="canary-prom-")) if workdir is None else Path(workdir) / "prometheus"
        )
        self.targets_file = self.dir / "targets.json"
        self._groups: dict[str, dict[str, dict[str, str]]] = {}  # group -> host:port -> labels
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    # ------------------------------------------------------------------ targets
    def add_target(self, host_port: str, labels: Mapping[str, str] | None = None) -> None:
        """Scrape ``host_port`` (``/metrics``) from now on, with extra target labels."""
        self._groups.setdefault("", {})[host_port] = dict(labels or {})
        self._write_targets()

    def remove_target(self, host_port: str) -> None:
        self._groups.get("", {}).pop(host_port, None)
        self._write_targets()

    def set_targets(self, group: str, targets: Mapping[str, Mapping[str, str]]) -> None:
        """Replace the targets of ``group`` (``host:port -> labels``); other groups stay."""
        self._groups[group] = {host_port: dict(labels) for host_port, labels in targets.items()}
        self._write_targets()

    def _write_targets(self) -> None:
        groups = [
            {"targets": [host_port], "labels": labels}
            for targets in self._groups.values()
            for host_port, labels in targets.items()
        ]
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups))
        os.replace(tmp, self.targets_file)  # atomic: Prometheus never reads half a file

    # ------------------------------------------------------------------ lifecycle
    def start_sync(self) -> str:
        self._spawn()
        try:
            self._wait_ready()
        except BaseException:
            self.stop_sync()
            raise
        return self.url

    def _spawn(self) -> None:
        if not os.path.exists(self.binary):
            raise FileNotFoundError(f"prometheus binary not found: {self.binary}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_targets()
        config = self.dir / "prometheus.yml"
        config.write_text(CONFIG.format(interval=self.scrape_interval, targets=self.targets_file))
        self.port = self.port or free_port()
        with open(self.dir / "prometheus.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    "--storage.tsdb.retention.time=1h",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.url = f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        """One readiness probe; raises if the process died."""
        assert self.process is not None
        if self.process.poll() is not None:
            log = (self.dir / "prometheus.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"prometheus exited with {self.process.returncode}: {log}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"prometheus not ready after {self.ready_timeout}s")
            time.sleep(0.05)

    def stop_sync(self) -> None:
        if self.process is not None:
            terminate_sync(self.process, timeout=5.0)
            self.process = None
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    async def start(self) -> str:
        """Spawns on the calling thread (PDEATHSIG is per thread), waits for readiness off-loop."""
        self._spawn()
        try:  # one short probe per thread hop, so cancelling start() returns at once
            deadline = time.monotonic() + self.ready_timeout
            while not await asyncio.to_thread(self._ready):
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"prometheus not ready after {self.ready_timeout}s")
                await asyncio.sleep(0.05)
        except BaseException:
            await self.stop()
            raise
        return self.url

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)

    def __enter__(self) -> PrometheusProcess:
        self.start_sync()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_sync()

    async def __aenter__(self) -> PrometheusProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ queries
    def query_sync(self, query: str) -> list[dict[str, Any]]:
        """Instant query; returns ``data.result`` (ValueError for a query Prometheus rejects)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (400, 422):
                raise ValueError(f"bad query {query!r}: {exc.read().decode(errors='replace')}") from exc
            raise
        if body.get("status") != "success":
            raise RuntimeError(f"query {query!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def query(self, query: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.query_sync, query)

    def wait_for_series_sync(
        self, query: str, timeout: float = 30.0, poll: float = 0.25
    ) -> list[dict[str, Any]]:
        """Poll ``query`` until it returns at least one series; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = self.query_sync(query)
                if result:
                    return result
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no series for {query!r} after {timeout}s")
            time.sleep(poll)

    async def wait_for_series(
        self, query: str, timeout: float = 30.0, poll: float = 0.25
    ) -> list[dict[str, Any]]:
        """Async :meth:`wait_for_series_sync`; cancellable between queries."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = await self.query(query)
                if result:
                    return result
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no series for {query!r} after {timeout}s")
            await asyncio.sleep(poll)
