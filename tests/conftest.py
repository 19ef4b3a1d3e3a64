"""Fixtures shared by every test package.

``prometheus``: a real Prometheus (``canary.sandbox.prometheus.PrometheusProcess``) on a free port,
scraping every second; add targets with ``prometheus.add_target("127.0.0.1:PORT", {"label": "v"})``
(file_sd: Prometheus applies target changes within ~5-10 s). Skipped when the binary is missing.
Packages may override it with their own fixture of the same name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from canary.sandbox.prometheus import PROMETHEUS_BIN, PrometheusProcess


@pytest.fixture
def prometheus() -> Iterator[PrometheusProcess]:
    if not os.path.exists(PROMETHEUS_BIN):
        pytest.skip("prometheus binary not installed")
    with PrometheusProcess() as prom:
        yield prom
