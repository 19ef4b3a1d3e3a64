"""Measure all of a Canary's metrics for one analysis step (the operator's single entry point).

Checks run concurrently in worker threads (the providers are blocking HTTP clients), so a
slow or dead Prometheus costs one check budget per step
(:data:`canary.metrics.base.CHECK_BUDGET_SECONDS`), not one per metric.  The threads come from
a pool of their own (:data:`METRIC_WORKERS`), not asyncio's default executor, so checks waiting
on a slow Prometheus never hold up other Canaries' Kubernetes calls.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from canary.api.models import Canary
from canary.core.observations import Measurement, WindowSamples
from canary.kube import KubeClients
from canary.metrics.addresses import AddressPolicy
from canary.metrics.base import MetricCheck
from canary.metrics.factory import metric_check_for

__all__ = ["METRIC_WORKERS", "measure_checks", "measure_checks_sync", "measure_samples"]

METRIC_WORKERS = 16
"""Metric checks running at the same time, over all Canaries (more wait for a free thread)."""

_EXECUTOR = ThreadPoolExecutor(max_workers=METRIC_WORKERS, thread_name_prefix="canary-metrics")


def measure_checks_sync(
    canary: Canary,
    check: MetricCheck,
    windows: Mapping[str, int] | None = None,
    at: datetime | None = None,
) -> tuple[Measurement, ...]:
    """Every metric of the Canary, in spec order, one after the other (for callers without a loop)."""
    when = at.timestamp() if at is not None else None
    return tuple(
        check.measure(canary, metric, (windows or {}).get(metric.name), when)
        for metric in canary.spec.analysis.metrics or []
    )


async def measure_checks(
    canary: Canary,
    clients: KubeClients,
    default_address: str,
    *,
    metrics_address_allow: Sequence[str] = (),
    windows: Mapping[str, int] | None = None,
    at: datetime | None = None,
) -> tuple[Measurement, ...]:
    """Every metric of the Canary, in spec order; never raises for provider trouble (provider ERROR measurements instead).

    ``default_address`` is the operator's Prometheus; ``spec.metricsServer`` and a template's
    ``provider.address`` take precedence over it.  ``metrics_address_allow`` is the operator's
    allow-list (:class:`~canary.metrics.addresses.AddressPolicy`; empty = any address): other
    addresses are not contacted and their metrics are ERRORs; ``default_address`` is always allowed.
    ``windows`` (metric name -> seconds) and ``at`` come from the core's
    :func:`~canary.core.machine.measurement_plan`: every query is evaluated at ``at``.
    """
    policy = AddressPolicy.of(metrics_address_allow, always=(default_address,))
    check = metric_check_for(canary, clients, default_address, policy)
    metrics = canary.spec.analysis.metrics or []
    loop = asyncio.get_running_loop()
    outcomes = await asyncio.gather(
        *(
            loop.run_in_executor(
                _EXECUTOR,
                functools.partial(check.measure, canary, metric, (windows or {}).get(metric.name), _unix(at)),
            )
            for metric in metrics
        )
    )
    return tuple(outcomes)


async def measure_samples(
    canary: Canary,
    clients: KubeClients,
    default_address: str,
    windows: Sequence[int],
    at: datetime,
    *,
    metrics_address_allow: Sequence[str] = (),
) -> dict[float, WindowSamples]:
    """Both revisions' raw counts over each window (seconds) ending at ``at``; never raises.

    They come from the Canary's metrics server (``spec.metricsServer``, else the operator's).
    """
    if not windows:
        return {}
    policy = AddressPolicy.of(metrics_address_allow, always=(default_address,))
    check = metric_check_for(canary, clients, default_address, policy)
    loop = asyncio.get_running_loop()
    answers = await asyncio.gather(
        *(
            loop.run_in_executor(_EXECUTOR, functools.partial(check.samples, canary, window, _unix(at)))
            for window in windows
        )
    )
    return {answer.window_seconds: answer for answer in answers}


def _unix(at: datetime | None) -> float | None:
    return at.timestamp() if at is not None else None
