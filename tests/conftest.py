"""Fixtures shared by every test package.

``prometheus``: a real Prometheus (``canary.sandbox.prometheus.PrometheusProcess``) on a free port,
scraping every second; add targets with ``prometheus.add_target("127.0.0.1:PORT", {"label": "v"})``
(file_sd: Prometheus applies target changes within ~5-10 s). `make install` installs the binary;
a missing one fails the test rather than skipping it.
Packages may override it with their own fixture of the same name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

# Imported before any test starts threads: CPython 3.11.7 can fail to compile a module first imported
# while other threads compile ("AST constructor recursion depth mismatch"); hypothesis's plugin does so.
import hypothesis  # noqa: F401
import pytest

from canary.sandbox.prometheus import PROMETHEUS_BIN, PrometheusProcess


@pytest.fixture
def prometheus() -> Iterator[PrometheusProcess]:
    assert os.path.exists(PROMETHEUS_BIN), f"{PROMETHEUS_BIN} missing: run `make install`"
    with PrometheusProcess() as prom:
        yield prom
