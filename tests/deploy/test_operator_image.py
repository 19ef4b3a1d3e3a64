"""The operator image. No container engine runs here, so the Dockerfile is checked statically, and what
its stages do is done for real: build the wheel from the files the build context holds, install it
without test extras into a fresh venv, then run its entrypoint: `canary operator --help`, and the
operator itself against the sandbox's API server until it is ready."""

from __future__ import annotations

import fnmatch
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from deploy_support import REPO
from waiting import eventually

from canary.sandbox.apiserver import ApiServerThread

DOCKERFILE = REPO / "Dockerfile"
TEST_ONLY = ("pytest", "mypy", "ruff", "hypothesis", "kubernetes_validate")


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (INSTRUCTION, arguments), continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    result: list[list[tuple[str, str]]] = [[]]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            result.append([])
        result[-1].append((instruction, rest.strip()))
    return result[1:]


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def args_of(stage: list[tuple[str, str]], instruction: str) -> list[str]:
    return [rest for ins, rest in stage if ins == instruction]


def test_multi_stage_with_a_slim_final_stage() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    builder = all_stages[0]
    assert any("pip wheel --no-deps" in run for run in args_of(builder, "RUN"))
    base = args_of(final_stage(), "FROM")[0]
    arg_defaults = dict(line.split("=", 1) for line in args_of(stages_prelude(), "ARG") if "=" in line)
    image = arg_defaults.get(base.strip("${}"), base)
    assert image.startswith("python:3.12-slim"), image


def stages_prelude() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text()
    prelude = text.split("\nFROM ", 1)[0]
    return [
        (line.split(" ", 1)[0].upper(), line.split(" ", 1)[1])
        for line in prelude.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_final_stage_runs_the_operator_as_non_root() -> None:
    stage = final_stage()
    users = args_of(stage, "USER")
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root UID (runAsNonRoot checks it)"
    last_user = max(i for i, (ins, _) in enumerate(stage) if ins == "USER")
    assert not any(ins == "RUN" for ins, _ in stage[last_user:]), "nothing runs as root after USER"
    assert args_of(stage, "ENTRYPOINT") == ['["canary", "operator"]']
    assert "8080" in " ".join(args_of(stage, "EXPOSE")).split()
    env = " ".join(args_of(stage, "ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env


def test_final_stage_has_no_build_tools_or_test_extras() -> None:
    stage = final_stage()
    runs = " ".join(args_of(stage, "RUN"))
    for forbidden in ("apt-get", "apk ", "gcc", "build-essential", "make ", "[test]", "pip wheel"):
        assert forbidden not in runs, forbidden
    assert "--only-binary=:all:" in runs, "runtime dependencies as wheels, never compiled in the image"
    copies = args_of(stage, "COPY")
    assert copies and all(c.startswith("--from=") for c in copies), "the final stage copies the wheel only"


def test_build_context_holds_what_the_builder_copies() -> None:
    ignore = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert ignore[0] == "*"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for copy in args_of(stages()[0], "COPY"):
        sources = shlex.split(copy)[:-1]
        copied |= {s.rstrip("/") for s in sources if not s.startswith("--")}
    assert copied <= allowed, copied - allowed
    for name in copied:
        assert (REPO / name).exists(), name
    assert not any(fnmatch.fnmatch("tests", pattern) for pattern in allowed)


@pytest.mark.slow
def test_wheel_installs_and_starts_without_test_extras(tmp_path: Path) -> None:
    """What the two stages do: `pip wheel --no-deps` of the build context, then `pip install` of the
    wheel into a fresh environment (runtime dependencies only, from pip's cache or PyPI)."""
    context = tmp_path / "context"
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, context / name)
    shutil.copytree(
        REPO / "canary", context / "canary", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )

    def run(*args: str | Path, timeout: float = 180) -> str:
        proc = subprocess.run(
            [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
        )
        assert proc.returncode == 0, (
            f"{args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        return proc.stdout

    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", wheels, context)
    (wheel,) = wheels.glob("canary-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)

    help_text = run(venv / "bin" / "canary", "operator", "--help", timeout=60)
    for flag in ("--leader-elect", "--metrics-port", "--namespace", "--log-format"):
        assert flag in help_text, flag
    run(venv / "bin" / "python", "-c", "import canary.operator.runner", timeout=60)
    installed = run(venv / "bin" / "python", "-m", "pip", "list", "--format=freeze").lower()
    for name in TEST_ONLY:
        assert f"\n{name.replace('_', '-')}==" not in f"\n{installed}", (
            f"{name} installed without test extras"
        )
    # The package data the operator needs at run time came along.
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "canary" / "py.typed").exists()
    assert_entrypoint_starts_the_operator(venv / "bin" / "canary", tmp_path)


def assert_entrypoint_starts_the_operator(entrypoint: Path, workdir: Path) -> None:
    """The image's ENTRYPOINT, from the installed wheel (run outside the checkout), against the sandbox's
    API server: it serves its probes, turns ready once kopf runs, exports metrics and stops on SIGINT."""
    with ApiServerThread() as server:
        kubeconfig = workdir / "kubeconfig"
        server.write_kubeconfig(kubeconfig)
        subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-k", str(REPO / "crds")],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
        port = free_port()
        log = workdir / "operator.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(entrypoint), "operator", "--kubeconfig", str(kubeconfig), "--metrics-bind-address",
                 "127.0.0.1", "--metrics-port", str(port), "--log-format", "json"],
                cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            eventually(
                f"/readyz answers 200 (log: {log})",
                lambda: http_status(port, "/readyz"),
                lambda c: c == 200,
                60,
            )
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                assert b"flagger_info{" in response.read()
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(30)
        assert code == 0, log.read_text()[-3000:]
        assert '"message": "serving /metrics' in log.read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0
