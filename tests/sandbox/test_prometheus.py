"""PrometheusProcess: starts, becomes ready, scrapes a file_sd target, stops and cleans up."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from canary.sandbox.prometheus import PrometheusProcess


class _Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"# TYPE sandbox_test_value gauge\nsandbox_test_value 42\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def exporter() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_scrapes_a_target_and_cleans_up(exporter: str) -> None:
    prom = PrometheusProcess()
    with prom:
        assert prom.process is not None and prom.process.poll() is None
        pid, workdir = prom.process.pid, prom.dir
        prom.add_target(exporter, {"role": "test"})
        started = time.monotonic()
        result = prom.wait_for_series_sync('sandbox_test_value{role="test"}', timeout=20)
        print(f"first sample after {time.monotonic() - started:.1f}s")
        assert result[0]["value"][1] == "42"
        with pytest.raises(ValueError):
            prom.query_sync("sum(")
    assert not workdir.exists()
    assert not os.path.exists(f"/proc/{pid}") or _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


async def test_async_api_and_shared_fixture(prometheus: PrometheusProcess, exporter: str) -> None:
    """The ``prometheus`` fixture from tests/conftest.py, used through the async helpers."""
    prometheus.add_target(exporter)
    assert '"' + exporter + '"' in prometheus.targets_file.read_text()
    result = await prometheus.wait_for_series("vector(7)", timeout=5)
    assert result[0]["value"][1] == "7"
    with pytest.raises(ValueError):
        await prometheus.query("rate(")
