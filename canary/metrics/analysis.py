"""Measure all of a Canary's metrics for one analysis step (the operator's single entry point).

Checks run concurrently in worker threads (the providers are blocking HTTP clients), so a
slow or dead Prometheus costs one retry budget per step, not one per metric.
"""

from __future__ import annotations

import asyncio

from canary.api.models import Canary
from canary.core.observations import Measurement
from canary.kube import KubeClients
from canary.metrics.base import MetricCheck
from canary.metrics.factory import metric_check_for

__all__ = ["measure_checks", "measure_checks_sync"]


def measure_checks_sync(canary: Canary, check: MetricCheck) -> tuple[Measurement, ...]:
    """Every metric of the Canary, in spec order, one after the other (for callers without a loop)."""
    return tuple(check.measure(canary, metric) for metric in canary.spec.analysis.metrics or [])


async def measure_checks(
    canary: Canary, clients: KubeClients, default_address: str
) -> tuple[Measurement, ...]:
    """Every metric of the Canary, in spec order; never raises for provider trouble (provider ERROR measurements instead).

    ``default_address`` is the operator's Prometheus; ``spec.metricsServer`` and a template's
    ``provider.address`` take precedence over it.
    """
    check = metric_check_for(canary, clients, default_address)
    metrics = canary.spec.analysis.metrics or []
    outcomes = await asyncio.gather(*(asyncio.to_thread(check.measure, canary, metric) for metric in metrics))
    return tuple(outcomes)
