"""One way for tests to await a condition: poll with a deadline, fail saying what was awaited.

Used wherever a test waits for something another process or thread makes true; a bare sleep would
either waste time or flake.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    what: str,
    probe: Callable[[], T],
    done: Callable[[T], bool] = bool,
    timeout: float = 10.0,
    interval: float = 0.05,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `probe()` until `done(value)`; return that value or fail with the last one seen.

    Exceptions of the `ignore` types raised by `probe` count as "not yet" (an object not created yet).
    """
    deadline = time.monotonic() + timeout
    value: T | None = None
    while True:
        try:
            value = probe()
            if done(value):
                return value
        except ignore:
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last seen: {value!r}")
        time.sleep(interval)
