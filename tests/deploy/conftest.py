"""tests/deploy: the install manifests, the chart, the alerts, the dashboard and the wheel."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes tens of seconds (builds and installs the wheel); run by default"
    )
