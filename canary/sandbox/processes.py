"""Child processes that cannot outlive the sandbox: own process group, SIGTERM then SIGKILL.

Each child gets a new session (so a terminal's Ctrl-C reaches only the sandbox, which then stops
the children in order) and, on Linux, ``PR_SET_PDEATHSIG`` so a SIGKILLed sandbox leaves no orphans.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGTERM us when the spawning thread's process dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _output(log_path: Path | None) -> IO[Any] | int:
    return open(log_path, "ab") if log_path is not None else subprocess.DEVNULL


async def spawn(
    argv: Sequence[str],
    *,
    log_path: Path | None = None,
    stdout_pipe: bool = False,
    env: Mapping[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """Start ``argv`` in its own process group; stderr (and stdout unless piped) go to ``log_path``."""
    out = _output(log_path)
    try:
        preexec: Callable[[], None] | None = die_with_parent if os.name == "posix" else None
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else out,
            stderr=out,
            start_new_session=True,
            preexec_fn=preexec,
            env=dict(env) if env is not None else None,
        )
    finally:
        if not isinstance(out, int):
            out.close()


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def terminate(proc: asyncio.subprocess.Process, timeout: float = 3.0) -> int | None:
    """SIGTERM the process group, SIGKILL it after ``timeout``; returns the exit code."""
    if proc.returncode is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            # Bounded too: a child whose exit is never reported must not hang the sandbox's loop.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), timeout)
    _signal_group(proc.pid, signal.SIGKILL)  # stragglers the leader left behind, if any
    return proc.returncode


def terminate_sync(proc: subprocess.Popen[bytes], timeout: float = 3.0) -> int | None:
    """:func:`terminate` for ``subprocess.Popen`` children."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    _signal_group(proc.pid, signal.SIGKILL)
    return proc.returncode
