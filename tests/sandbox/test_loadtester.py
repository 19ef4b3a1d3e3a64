"""Flagger's loadtester on the sandbox, called as Flagger calls it: ``http://flagger-loadtester.test/``.

Status codes and bodies are those of Flagger's pkg/loadtester/server.go; commands really run
(``hey`` in-process or through the ``hey`` on the commands' PATH, curl, kubectl, bash) and their
traffic goes through the sandbox proxy, where Prometheus sees it as mesh traffic.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from podinfo_cluster import NS, PRIMARY_VERSION, podinfo_cluster
from waiting import eventually

from canary.sandbox.loadtester import (
    HeyUsageError,
    LoadTester,
    decode_payload,
    hey_command,
    parse_go_duration,
    parse_hey,
)
from canary.sandbox.sandbox import SandboxThread

LOADTESTER = f"http://flagger-loadtester.{NS}"


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxThread]:
    with podinfo_cluster() as running:
        yield running


def payload(name: str = "podinfo", **metadata: str) -> dict[str, Any]:
    """Flagger's webhook payload."""
    body: dict[str, Any] = {"name": name, "namespace": NS, "phase": "Progressing", "checksum": "6d5f7c8b"}
    if metadata:
        body["metadata"] = metadata
    return body


def call(sb: SandboxThread, path: str, body: Any = None, *, timeout: float = 30) -> requests.Response:
    """POST to the loadtester by its in-cluster URL, as the operator does."""
    data = body if isinstance(body, bytes) else None
    return requests.post(
        LOADTESTER + path,
        json=None if data is not None else body,
        data=data,
        proxies={"http": sb.proxy_url},
        timeout=timeout,
    )


def answer(resp: requests.Response) -> tuple[int, str]:
    return resp.status_code, resp.text


# ---------------------------------------------------------------------------- parsing (no processes)


def test_hey_command_line() -> None:
    args = hey_command("hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/")
    assert args is not None
    opts = parse_hey(args)
    assert (opts.duration, opts.rate, opts.workers, opts.method) == (60.0, 10.0, 2, "GET")
    assert opts.url == "http://podinfo-canary.test:9898/"
    args = hey_command("hey -z 1m -q 10 -c 2 -m POST -d '{test: 2}' http://podinfo-canary.test:9898/echo")
    assert args is not None
    opts = parse_hey(args)
    assert (opts.method, opts.body, opts.url) == (
        "POST",
        b"{test: 2}",
        "http://podinfo-canary.test:9898/echo",
    )
    opts = parse_hey(
        ["-n=20", "--c", "4", "-H", "X-Canary: insider", "-host", "app.example.com", "-h2", "http://a/"]
    )
    assert (opts.requests, opts.workers, opts.duration) == (20, 4, 0.0)
    assert ("X-Canary", "insider") in opts.headers and ("Host", "app.example.com") in opts.headers
    assert ("Content-Type", "text/html") in opts.headers  # hey's default -T
    for bad in (
        ["-n", "1", "-c", "2", "http://a/"],
        ["-z", "1x", "http://a/"],
        ["-bogus", "http://a/"],
        ["-c", "2"],
    ):
        with pytest.raises(HeyUsageError):
            parse_hey(bad)
    for shell in (
        "hey http://a/ | tee out",
        "hey -z 1m http://a/ && curl http://b/",
        "curl http://a/",
        "hey $URL",
    ):
        assert hey_command(shell) is None, shell
    assert parse_go_duration("1m30s") == 90.0 and parse_go_duration("500ms") == 0.5
    assert parse_go_duration("1.5h") == 5400.0


def test_payload_decodes_like_go() -> None:
    decoded = decode_payload(
        b'{"Name": "podinfo", "NAMESPACE": "test", "extra": 1, "metadata": {"cmd": "x"}}'
    )
    assert (decoded.canary, dict(decoded.metadata)) == ("podinfo.test", {"cmd": "x"})
    assert decode_payload(b"null").canary == "."
    for bad in (b"", b"not json", b"[]", b'{"name": 1}', b'{"metadata": {"n": 1}}'):
        with pytest.raises(ValueError):
            decode_payload(bad)


# ---------------------------------------------------------------------------- gates


def test_static_gates_and_healthz(sb: SandboxThread) -> None:
    assert answer(call(sb, "/gate/approve", payload())) == (200, "OK")
    assert answer(call(sb, "/gate/halt", payload())) == (403, "Forbidden")
    assert answer(requests.get(f"{LOADTESTER}/healthz", proxies={"http": sb.proxy_url}, timeout=10)) == (
        200,
        "OK",
    )


def test_manual_gate_per_canary(sb: SandboxThread) -> None:
    assert answer(call(sb, "/gate/check", payload())) == (403, "Forbidden")  # closed until opened
    assert answer(call(sb, "/gate/open", payload())) == (202, "")
    assert answer(call(sb, "/gate/check", payload())) == (200, "Approved")
    assert answer(call(sb, "/gate/check", payload("other"))) == (403, "Forbidden")  # keyed by name.namespace
    assert answer(call(sb, "/rollback/check", payload())) == (403, "Forbidden")  # a separate gate
    assert answer(call(sb, "/gate/close", payload())) == (202, "")
    assert answer(call(sb, "/gate/check", payload())) == (403, "Forbidden")


def test_manual_rollback(sb: SandboxThread) -> None:
    assert answer(call(sb, "/rollback/open", payload("rolled"))) == (202, "")
    assert answer(call(sb, "/rollback/check", payload("rolled"))) == (200, "Approved")
    assert answer(call(sb, "/gate/check", payload("rolled"))) == (403, "Forbidden")
    assert answer(call(sb, "/rollback/close", payload("rolled"))) == (202, "")
    assert answer(call(sb, "/rollback/check", payload("rolled"))) == (403, "Forbidden")


def test_requests_flagger_refuses(sb: SandboxThread) -> None:
    assert call(sb, "/gate/check", b"not json").status_code == 400
    assert call(sb, "/gate/open", b'{"name": 7}').status_code == 400
    assert answer(call(sb, "/", payload())) == (400, "metadata not found in payload")
    assert answer(call(sb, "/", payload(type="cmd"))) == (400, "cmd not found in metadata")
    assert answer(call(sb, "/", payload(type="nope", cmd="true"))) == (400, "unknown task type nope")


# ---------------------------------------------------------------------------- commands


def test_hey_load_reaches_prometheus_as_mesh_traffic(sb: SandboxThread) -> None:
    """Flagger's rollout webhook: answered at once, one hey per canary however often it is called."""
    command = f"hey -z 5s -q 10 -c 2 http://podinfo-canary.{NS}:9898/"
    started = time.monotonic()
    assert answer(call(sb, "/", payload(type="cmd", cmd=command))) == (202, "")
    assert time.monotonic() - started < 2.0  # not blocking
    assert answer(call(sb, "/", payload(cmd=command))) == (202, "")  # type defaults to cmd
    loadtester = sb.loadtester
    assert list(loadtester.running) == [f"podinfo.{NS}{command}"]  # the second call joined the first
    promql = (
        f'sum(istio_requests_total{{destination_workload_namespace="{NS}",destination_workload="podinfo",'
        f'destination_service_name="podinfo-canary",response_code="200"}})'
    )
    eventually(
        "hey's requests in Prometheus",
        lambda: sb.prometheus.query_sync(promql),
        lambda result: bool(result) and float(result[0]["value"][1]) >= 40,
        timeout=30,
        interval=0.5,
    )
    [result] = eventually(
        "hey to finish",
        lambda: [r for r in list(loadtester.results) if r.command == command],
        timeout=15,
        interval=0.2,
    )
    assert result.ok and "Status code distribution:\n  [200]\t" in result.output
    responses = int(result.output.split("[200]\t")[1].split()[0])
    assert 70 <= responses <= 110  # 2 workers x 10 rps x 5 s


def test_bash_curl_through_cluster_dns(sb: SandboxThread) -> None:
    """Flagger's acceptance-test webhook style: blocking, the output on request."""
    command = f"curl -sd 'test' http://podinfo-canary.{NS}:9898/token | grep token"
    resp = call(sb, "/", payload(type="bash", cmd=command, returnCmdOutput="true"))
    assert resp.status_code == 200 and '"token": "' in resp.text and '"expires_at": ' in resp.text
    assert answer(call(sb, "/", payload(type="bash", cmd=command))) == (200, "")


def test_cmd_curl_runs_in_the_background(sb: SandboxThread) -> None:
    command = f"curl -sf -o /dev/null -w '%{{http_code}}' http://podinfo-primary.{NS}.svc.cluster.local:9898/"
    assert answer(call(sb, "/", payload(cmd=command, logCmdOutput="true"))) == (202, "")
    [result] = eventually(
        "the command to finish",
        lambda: [r for r in list(sb.loadtester.results) if r.command == command],
        timeout=20,
        interval=0.1,
    )
    assert (result.ok, result.output) == (True, "200")


def test_hey_kubectl_and_prometheus_inside_shell_commands(sb: SandboxThread) -> None:
    hey = f"hey -n 6 -c 2 http://podinfo-primary.{NS}:9898/ | grep -A1 'Status code'"
    resp = call(sb, "/", payload(type="bash", cmd=hey, returnCmdOutput="true"))
    assert answer(resp) == (200, "Status code distribution:\n  [200]\t6 responses\n")
    resp = call(sb, "/", payload(type="kubectl", cmd=f"get deployments -n {NS} -o name", returnCmdOutput="1"))
    assert answer(resp) == (200, "deployment.apps/podinfo\ndeployment.apps/podinfo-primary\n")
    query = (
        "curl -s http://prometheus.monitoring:9090/api/v1/query --data-urlencode query=up | grep -c success"
    )
    assert answer(call(sb, "/", payload(type="bash", cmd=query, returnCmdOutput="true"))) == (200, "1\n")
    primary = f"{sys.executable} -c \"import requests; print(requests.get('http://podinfo.{NS}:9898/').json()['version'])\""
    resp = call(sb, "/", payload(type="bash", cmd=primary, returnCmdOutput="true"))
    assert answer(resp) == (200, f"{PRIMARY_VERSION}\n")


def test_failing_commands_answer_500_with_the_output(sb: SandboxThread) -> None:
    assert answer(call(sb, "/", payload(type="bash", cmd="false"))) == (
        500,
        "command false failed: : exit status 1",
    )
    command = f"curl -sS -f http://nope.{NS}:9898/"
    status, text = answer(call(sb, "/", payload(type="bash", cmd=command)))
    assert status == 500 and text.startswith(f"command {command} failed: curl: (22) ")
    assert text.endswith(": exit status 22")
    status, text = answer(call(sb, "/", payload(type="helm", cmd="ls")))
    assert (status, text) == (500, 'command ls failed: : exec: "helm": executable file not found in $PATH')
    # a background command's failure is only logged (Flagger answered 202 already)
    assert answer(call(sb, "/", payload(cmd="exit 3"))) == (202, "")
    [result] = eventually(
        "the failure to be recorded",
        lambda: [r for r in list(sb.loadtester.results) if r.command == "exit 3"],
        timeout=10,
        interval=0.1,
    )
    assert (result.ok, result.error) == (False, "exit status 3")


# ---------------------------------------------------------------------------- bounds (no sandbox)


async def test_timeout_and_stop_kill_commands(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    async with LoadTester(timeout=1.0) as tester, aiohttp.ClientSession() as session:
        started = time.monotonic()
        body = {"name": "slow", "namespace": NS, "metadata": {"type": "bash", "cmd": "sleep 30"}}
        async with session.post(tester.url, json=body) as resp:
            assert (resp.status, await resp.text()) == (500, "command sleep 30 failed: : signal: killed")
        assert time.monotonic() - started < 10

        tester.timeout = 60.0
        body["metadata"] = {"cmd": f"echo $$ > {pidfile}; exec sleep 60"}
        async with session.post(tester.url, json=body) as resp:
            assert resp.status == 202
        for _ in range(200):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            await asyncio.sleep(0.05)
        pid = int(pidfile.read_text())
        os.kill(pid, 0)  # running
    # stop() killed it and reaped it
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not tester.running
