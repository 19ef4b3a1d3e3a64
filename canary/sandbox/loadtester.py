"""Flagger's loadtester for the sandbox: same API, status codes and task semantics, bounded.

The sandbox runs one instance; its proxy answers ``http://flagger-loadtester.<any namespace>/``
with it, so Flagger's example webhooks work unchanged. As in ``pkg/loadtester`` of Flagger:

- ``POST /`` takes Flagger's webhook payload ``{name, namespace, phase, checksum, metadata}``.
  ``metadata.type`` ``cmd`` (the default) runs ``metadata.cmd`` in the background and answers
  ``202`` at once; a command already running for the same canary is not started twice (this is
  how a ``rollout`` webhook called every interval keeps one ``hey`` running). ``bash`` runs
  ``bash -c CMD`` and waits: ``200`` (with the output when ``returnCmdOutput`` is true), or ``500``
  with ``command CMD failed: OUTPUT: exit status N``. ``kubectl``, ``helm`` and ``helmv3`` run
  that binary (the sandbox's kubeconfig is ``KUBECONFIG``). No metadata, no ``cmd``, or another
  type: ``400``.
- ``/gate/approve`` ``200``, ``/gate/halt`` ``403``; ``/gate/check`` is ``200 Approved`` once
  ``/gate/open`` was called for the same canary (``name.namespace``) and ``403 Forbidden`` until
  then or after ``/gate/close``; ``/rollback/check|open|close`` likewise, kept apart. Open and
  close answer ``202``; a body that is not the payload, ``400``.
- ``/healthz`` ``200 OK``; ``/metrics`` a few counters.

Commands see the proxy's environment (curl, wget and Python clients resolve cluster names) and a
``hey`` on ``PATH``: a plain ``hey ...`` command runs in-process (:func:`run_hey`, the same flags),
inside a shell command it is ``python -m canary.sandbox.loadtester hey``. Everything is bounded: a
task's timeout (default 10 minutes), ``hey -z`` at most as long, ``hey`` at most
:data:`MAX_HEY_WORKERS` workers and :data:`MAX_HEY_RPS` requests per second in all, output kept up
to 1 MiB, and ``stop()`` kills whatever still runs.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from .serving import serve

log = logging.getLogger(__name__)

TASK_TIMEOUT = 600.0  # seconds; Flagger's loadtester defaults to 1h (-timeout)
MAX_HEY_DURATION = 600.0
MAX_HEY_WORKERS = 100
MAX_HEY_RPS = 200.0  # all workers of one hey together, whatever -q says (the sandbox shares a laptop)
MAX_HEY_REQUESTS = 1_000_000
MAX_OUTPUT = 1 << 20
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SHELL_TYPES = {"cmd": "sh", "bash": "bash"}
BINARY_TYPES = {"kubectl": "kubectl", "helm": "helm", "helmv3": "helm"}


# ---------------------------------------------------------------------------- payload


class PayloadError(ValueError):
    """The body is not a CanaryWebhookPayload (Flagger answers 400 with an empty body)."""


@dataclass(frozen=True)
class Payload:
    """Flagger's ``CanaryWebhookPayload``."""

    name: str = ""
    namespace: str = ""
    phase: str = ""
    checksum: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def canary(self) -> str:
        return f"{self.name}.{self.namespace}"


def decode_payload(body: bytes) -> Payload:
    """Like Go's ``json.Unmarshal`` into the payload struct: keys match case-insensitively, unknown
    keys are ignored, ``null`` leaves a field empty, a value of another type is an error."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise PayloadError(f"decoding the request body failed: {exc}") from exc
    if doc is None:
        return Payload()
    if not isinstance(doc, dict):
        raise PayloadError("decoding the request body failed: not an object")
    fields: dict[str, Any] = {}
    for key, value in doc.items():
        name = key.lower()
        if name in ("name", "namespace", "phase", "checksum") and value is not None:
            if not isinstance(value, str):
                raise PayloadError(f"decoding the request body failed: {key} is not a string")
            fields[name] = value
        elif name == "metadata" and value is not None:
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise PayloadError("decoding the request body failed: metadata is not a map of strings")
            fields["metadata"] = dict(value)
    return Payload(**fields)


def parse_bool(text: str) -> bool | None:
    """Go's ``strconv.ParseBool`` (None: not a boolean)."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


# ---------------------------------------------------------------------------- hey


class HeyUsageError(ValueError):
    """Flags hey would refuse (it prints the usage and exits 1)."""


_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` (``1m``, ``1m30s``, ``500ms``, ``0``) in seconds."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _GO_DURATION.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise HeyUsageError(f'invalid duration "{text}"')
    return -total if text.startswith("-") else total


@dataclass
class HeyOptions:
    """What ``hey [flags] URL`` asks for (rakyll/hey's flags and defaults)."""

    url: str
    requests: int = 200  # -n
    workers: int = 50  # -c
    rate: float = 0.0  # -q, per worker; 0: unlimited
    duration: float = 0.0  # -z; when set, -n is ignored
    method: str = "GET"  # -m
    headers: list[tuple[str, str]] = field(default_factory=list)  # -H, -A, -T, -U, -a, -host
    body: bytes | None = None  # -d, -D
    timeout: float = 20.0  # -t, seconds; 0: none
    proxy: str | None = None  # -x host:port
    disable_keepalive: bool = False
    disable_redirects: bool = False


_HEY_VALUE_FLAGS = {"n", "c", "q", "z", "m", "H", "t", "A", "d", "D", "T", "U", "a", "x", "host", "o", "cpus"}
_HEY_BOOL_FLAGS = {"h2", "disable-compression", "disable-keepalive", "disable-redirects"}
_HEY_HEADER = re.compile(r"^([\w-]+):\s*(.+)")


def _go_int(flag: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise HeyUsageError(f'invalid value "{text}" for flag -{flag}') from None


def parse_hey(args: Sequence[str]) -> HeyOptions:
    """Parse hey's command line (Go ``flag`` rules: ``-f v``, ``-f=v``, ``--f``; flags end at the URL)."""
    values: list[tuple[str, str]] = []
    bools: set[str] = set()
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] not in ("-", "--"):
        arg = rest.pop(0)
        name, eq, value = arg.lstrip("-").partition("=")
        if name in _HEY_BOOL_FLAGS:
            if not eq or parse_bool(value):
                bools.add(name)
        elif name in _HEY_VALUE_FLAGS:
            if not eq:
                if not rest:
                    raise HeyUsageError(f"flag needs an argument: -{name}")
                value = rest.pop(0)
            values.append((name, value))
        else:
            raise HeyUsageError(f"flag provided but not defined: -{name}")
    if rest[:1] == ["--"]:
        rest.pop(0)
    if not rest:
        raise HeyUsageError("usage: hey [options...] <url>")
    opts = HeyOptions(url=rest[0], disable_keepalive="disable-keepalive" in bools)
    opts.disable_redirects = "disable-redirects" in bools
    content_type, user_agent, accept, auth, host = "text/html", "hey/0.0.1", "", "", ""
    for name, value in values:
        if name == "n":
            opts.requests = _go_int(name, value)
        elif name == "c":
            opts.workers = _go_int(name, value)
        elif name == "q":
            try:
                opts.rate = float(value)
            except ValueError:
                raise HeyUsageError(f'invalid value "{value}" for flag -q') from None
        elif name == "z":
            opts.duration = parse_go_duration(value)
        elif name == "m":
            opts.method = value.upper()
        elif name == "H":
            match = _HEY_HEADER.match(value)
            if match is None:
                raise HeyUsageError(f"could not parse the provided input; input = {value}")
            opts.headers.append((match.group(1), match.group(2)))
        elif name == "t":
            opts.timeout = float(_go_int(name, value))
        elif name == "d":
            opts.body = value.encode()
        elif name == "D":
            try:
                opts.body = Path(value).read_bytes()
            except OSError as exc:
                raise HeyUsageError(str(exc)) from None
        elif name == "T":
            content_type = value
        elif name == "U":
            user_agent = value
        elif name == "A":
            accept = value
        elif name == "a":
            if ":" not in value:
                raise HeyUsageError(f"could not parse the provided input; input = {value}")
            auth = value
        elif name == "x":
            opts.proxy = value if "://" in value else f"http://{value}"
        elif name == "host":
            host = value
    if opts.duration > 0:
        opts.requests = MAX_HEY_REQUESTS
    if opts.requests <= 0 or opts.workers <= 0:
        raise HeyUsageError("-n and -c cannot be smaller than 1.")
    if opts.duration <= 0 and opts.requests < opts.workers:
        raise HeyUsageError("-n cannot be less than -c.")
    if URL(opts.url).scheme not in ("http", "https"):
        raise HeyUsageError(f"invalid url: {opts.url}")
    opts.headers[:0] = [("Content-Type", content_type), ("User-Agent", user_agent)]
    if accept:
        opts.headers.append(("Accept", accept))
    if auth:
        opts.headers.append(("Authorization", "Basic " + base64.b64encode(auth.encode()).decode()))
    if host:
        opts.headers.append(("Host", host))
    return opts


def hey_command(command: str) -> list[str] | None:
    """The arguments of a command that is just ``hey ...`` (no pipes, lists, redirections, expansions)."""
    if any(c in command for c in "$`\n"):
        return None
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:
        return None
    if not words or os.path.basename(words[0]) != "hey":
        return None
    if any(set(w) <= set("();<>|&") for w in words):
        return None
    return words[1:]


@dataclass
class HeyReport:
    """hey's summary: status codes, errors, latency."""

    url: str
    seconds: float = 0.0
    codes: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    latency_sum: float = 0.0
    fastest: float = float("inf")
    slowest: float = 0.0

    @property
    def responses(self) -> int:
        return sum(self.codes.values())

    def summary(self) -> str:
        done = self.responses + sum(self.errors.values())
        lines = [
            "",
            "Summary:",
            f"  Total:\t{self.seconds:.4f} secs",
            f"  Slowest:\t{self.slowest if done else 0.0:.4f} secs",
            f"  Fastest:\t{self.fastest if done else 0.0:.4f} secs",
            f"  Average:\t{self.latency_sum / done if done else 0.0:.4f} secs",
            f"  Requests/sec:\t{done / self.seconds if self.seconds else 0.0:.4f}",
            "",
            "Status code distribution:",
            *(f"  [{code}]\t{n} responses" for code, n in sorted(self.codes.items())),
        ]
        if self.errors:
            lines += ["", "Error distribution:", *(f"  [{n}]\t{e}" for e, n in self.errors.most_common())]
        return "\n".join(lines) + "\n"


async def run_hey(
    opts: HeyOptions,
    *,
    proxy: str | None = None,
    trust_env: bool = False,
    max_rps: float = MAX_HEY_RPS,
    max_duration: float = MAX_HEY_DURATION,
) -> HeyReport:
    """Send hey's load: ``workers`` loops, each at most ``rate`` requests per second, for ``duration``
    (or ``requests // workers`` each), through ``proxy`` unless the host is local; bounded by
    :data:`MAX_HEY_WORKERS`, ``max_rps`` in all and ``max_duration``."""
    report = HeyReport(opts.url)
    workers = min(opts.workers, MAX_HEY_WORKERS)
    interval = max(1.0 / opts.rate if opts.rate > 0 else 0.0, workers / max_rps if max_rps > 0 else 0.0)
    per_worker = min(opts.requests, MAX_HEY_REQUESTS) // workers
    host = URL(opts.url).host or ""
    via = opts.proxy or (None if host in LOCAL_HOSTS else proxy)
    loop = asyncio.get_running_loop()
    started = loop.time()
    limit = min(opts.duration, max_duration) if opts.duration > 0 else max_duration
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=workers, force_close=opts.disable_keepalive),
        timeout=aiohttp.ClientTimeout(total=opts.timeout or None),
        skip_auto_headers=("User-Agent", "Content-Type"),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=trust_env and via is None,
    )

    async def one() -> None:
        sent = loop.time()
        try:
            async with session.request(
                opts.method,
                opts.url,
                headers=opts.headers,
                data=opts.body,
                proxy=via,
                allow_redirects=not opts.disable_redirects,
            ) as resp:
                await resp.read()
                report.codes[resp.status] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            report.errors[f"{opts.method} {opts.url}: {type(exc).__name__} {exc}".strip()] += 1
        took = loop.time() - sent
        report.latency_sum += took
        report.fastest, report.slowest = min(report.fastest, took), max(report.slowest, took)

    async def worker() -> None:
        due = loop.time()
        for _ in range(per_worker):
            if interval:
                due += interval  # like hey's time.Tick: the first request after one interval
                await asyncio.sleep(max(0.0, due - loop.time()))
            await one()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        await asyncio.wait(tasks, timeout=limit)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
    report.seconds = loop.time() - started
    return report


def hey_main(argv: Sequence[str]) -> int:
    """``hey`` for shell commands: proxies from the environment, summary on stdout."""
    try:
        opts = parse_hey(argv)
    except HeyUsageError as exc:
        print(exc, file=sys.stderr)
        return 1
    report = asyncio.run(run_hey(opts, trust_env=True))
    print(report.summary(), end="")
    return 0


# ---------------------------------------------------------------------------- the service


@dataclass
class TaskResult:
    """One finished command: ``ok`` is a zero exit (a hey run is always ok, as hey exits 0)."""

    canary: str
    command: str
    ok: bool
    output: str
    error: str = ""
    seconds: float = 0.0


class LoadTester:
    """The loadtester's HTTP API on 127.0.0.1; ``start()`` returns its url."""

    def __init__(
        self,
        *,
        proxy_url: str | None = None,
        env: Mapping[str, str] | None = None,
        port: int = 0,
        timeout: float = TASK_TIMEOUT,
        namespace_regexp: str | None = None,
        history: int = 100,
    ) -> None:
        self.proxy_url = proxy_url
        self.env = dict(env or {})
        self.port = port
        self.timeout = timeout
        self.namespace_regexp = re.compile(namespace_regexp) if namespace_regexp else None
        self.url = ""
        self.gates: dict[str, bool] = {}  # "name.namespace" / "rollback.name.namespace" -> open
        self.running: dict[str, asyncio.Task[TaskResult]] = {}  # canary + command -> task
        self.results: collections.deque[TaskResult] = collections.deque(maxlen=history)
        self.executed = 0
        self._blocking: set[asyncio.Task[Any]] = set()
        self._bin: Path | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self._bin = Path(tempfile.mkdtemp(prefix="canary-loadtester-"))
        shim = self._bin / "hey"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m canary.sandbox.loadtester hey "$@"\n')
        shim.chmod(0o755)
        app = web.Application()
        app.router.add_route("*", "/healthz", self._healthz)
        app.router.add_route("*", "/metrics", self._metrics)
        app.router.add_route("*", "/gate/approve", self._approve)
        app.router.add_route("*", "/gate/halt", self._halt)
        for prefix, key in (("/gate", ""), ("/rollback", "rollback.")):
            app.router.add_route("*", f"{prefix}/check", self._gate_handler(key, "check"))
            app.router.add_route("*", f"{prefix}/open", self._gate_handler(key, "open"))
            app.router.add_route("*", f"{prefix}/close", self._gate_handler(key, "close"))
        app.router.add_route("*", "/{tail:.*}", self._new_task)  # Go's mux: "/" takes every other path
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        self.port = await serve(self._runner, self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        return self.url

    async def stop(self) -> None:
        tasks = [*self.running.values(), *self._blocking]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.running.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._bin is not None:
            shutil.rmtree(self._bin, ignore_errors=True)
            self._bin = None

    async def __aenter__(self) -> LoadTester:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ handlers
    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def _approve(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def _halt(self, request: web.Request) -> web.Response:
        return web.Response(status=403, text="Forbidden")

    async def _metrics(self, request: web.Request) -> web.Response:
        text = (
            "# TYPE loadtester_tasks_total counter\n"
            f"loadtester_tasks_total {self.executed}\n"
            "# TYPE loadtester_tasks_running gauge\n"
            f"loadtester_tasks_running {len(self.running)}\n"
        )
        return web.Response(text=text, content_type="text/plain")

    async def _payload(self, request: web.Request) -> Payload | web.Response:
        try:
            payload = decode_payload(await request.read())
        except PayloadError as exc:
            log.warning("loadtester: %s", exc)
            return web.Response(status=400)
        if self.namespace_regexp is not None and not self.namespace_regexp.search(payload.namespace):
            return web.Response(status=403, text="Forbidden")
        return payload

    def _gate_handler(self, prefix: str, action: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            payload = await self._payload(request)
            if isinstance(payload, web.Response):
                return payload
            key = prefix + payload.canary
            if action == "check":
                approved = self.gates.setdefault(key, False)
                log.info("loadtester: %s check: approved %s", key, approved)
                return (
                    web.Response(text="Approved") if approved else web.Response(status=403, text="Forbidden")
                )
            self.gates[key] = action == "open"
            log.info("loadtester: %s %s %sed", key, "rollback" if prefix else "gate", action)
            return web.Response(status=202)

        return handle

    async def _new_task(self, request: web.Request) -> web.Response:
        payload = await self._payload(request)
        if isinstance(payload, web.Response):
            return payload
        metadata = payload.metadata
        if not metadata:
            return web.Response(status=400, text="metadata not found in payload")
        typ = metadata.get("type", "cmd")
        return_output = parse_bool(metadata.get("returnCmdOutput", "")) is True
        if typ in BINARY_TYPES or typ == "bash":
            command = metadata.get("cmd", "")
            log.info("loadtester: canary %s: %s command %s", payload.canary, typ, command)
            task = asyncio.create_task(self._run(payload.canary, command, typ, log_output=True))
            self._blocking.add(task)  # stop() cancels it; the request handler waits for it
            task.add_done_callback(self._blocking.discard)
            result = await task
            if not result.ok:
                return web.Response(
                    status=500, text=f"command {command} failed: {result.output}: {result.error}"
                )
            return web.Response(text=result.output if return_output else "")
        if typ != "cmd":
            return web.Response(status=400, text=f"unknown task type {typ}")
        if "cmd" not in metadata:
            return web.Response(status=400, text="cmd not found in metadata")
        command = metadata["cmd"]
        key = payload.canary + command
        if key in self.running:
            log.info("loadtester: canary %s: command skipped %s is already running", payload.canary, command)
        else:
            log_output = parse_bool(metadata.get("logCmdOutput", "")) is True
            task = asyncio.create_task(self._run(payload.canary, command, typ, log_output=log_output))
            self.running[key] = task
            task.add_done_callback(lambda _: self.running.pop(key, None))
        return web.Response(status=202)

    # ------------------------------------------------------------------ tasks
    async def _run(self, canary: str, command: str, typ: str, *, log_output: bool) -> TaskResult:
        self.executed += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        log.info("loadtester: canary %s: task starting %s", canary, command)
        hey_args = hey_command(command) if typ == "cmd" else None
        if hey_args is not None:
            result = await self._hey(canary, command, hey_args)
        elif typ in BINARY_TYPES:
            binary = BINARY_TYPES[typ]
            if shutil.which(binary, path=self._environment()["PATH"]) is None:
                error = f'exec: "{binary}": executable file not found in $PATH'
                result = TaskResult(canary, command, False, "", error)
            else:
                result = await self._exec(canary, command, [binary, *command.split()])
        else:
            result = await self._exec(canary, command, [SHELL_TYPES[typ], "-c", command])
        result.seconds = loop.time() - started
        if not result.ok:
            log.error(
                "loadtester: canary %s: command failed %s %s %s", canary, command, result.error, result.output
            )
        else:
            if log_output:
                log.info("loadtester: canary %s: %s", canary, result.output)
            log.info("loadtester: canary %s: command finished %s", canary, command)
        self.results.append(result)
        return result

    async def _hey(self, canary: str, command: str, args: list[str]) -> TaskResult:
        try:
            opts = parse_hey(args)
        except HeyUsageError as exc:
            return TaskResult(canary, command, False, str(exc), "exit status 1")
        report = await run_hey(opts, proxy=self.proxy_url, max_duration=self.timeout)
        return TaskResult(canary, command, True, report.summary())

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        path = env.get("PATH") or os.defpath
        if self._bin is not None:
            path = f"{self._bin}{os.pathsep}{path}"
        env["PATH"] = path
        return env

    async def _exec(self, canary: str, command: str, argv: list[str]) -> TaskResult:
        """Run ``argv`` in its own process group: output (stdout and stderr) up to MAX_OUTPUT, killed
        with its children at the timeout or when cancelled."""
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self._environment(),
            start_new_session=True,
        )
        chunks: list[bytes] = []

        async def collect() -> None:
            assert proc.stdout is not None
            size = 0
            while chunk := await proc.stdout.read(65536):
                if size < MAX_OUTPUT:
                    chunks.append(chunk[: MAX_OUTPUT - size])
                size += len(chunk)
            await proc.wait()

        killed = False
        try:
            await asyncio.wait_for(collect(), self.timeout)
        except TimeoutError:
            killed = True
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 5)
        output = b"".join(chunks).decode(errors="replace")
        code = proc.returncode
        if killed or (code is not None and code < 0):
            return TaskResult(canary, command, False, output, "signal: killed")
        if code != 0:
            return TaskResult(canary, command, False, output, f"exit status {code}")
        return TaskResult(canary, command, True, output)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["hey"]:
        return hey_main(args[1:])
    print("usage: python -m canary.sandbox.loadtester hey [options...] <url>", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
