"""Operator configuration: everything the handlers need that is not in a Canary resource."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from canary.metrics.addresses import allow_entry_error
from canary.routers.factory import DEFAULT_PROVIDER
from canary.targets.workload import SELECTOR_LABELS

Logger = logging.Logger | logging.LoggerAdapter[Any]
"""What kopf hands handlers as `logger`."""

DEFAULT_PROMETHEUS_URL = "http://prometheus.istio-system:9090"


@dataclasses.dataclass(frozen=True)
class OperatorConfig:
    """Set once at start-up from the command line; handed to handlers through kopf's memo."""

    kubeconfig: str | None = None
    """Path of a kubeconfig; None means in-cluster config, then $KUBECONFIG, then ~/.kube/config."""

    prometheus_url: str = DEFAULT_PROMETHEUS_URL
    """Metrics server used when a Canary names none (`spec.metricsServer`) and a template names no address."""

    default_provider: str = DEFAULT_PROVIDER
    """Router used when a Canary has no `spec.provider` (Flagger's `-mesh-provider`)."""

    min_tick_seconds: float = 0.5
    """Floor on how often one Canary is reconciled, so a misconfigured interval cannot spin the operator."""

    max_tick_seconds: float = 30.0
    """Ceiling between reconciliations while waiting, so a target change is noticed promptly."""

    metrics_address_allow: tuple[str, ...] = ()
    """Allow-list of metrics provider addresses (`--metrics-address-allow`, or
    `$CANARY_METRICS_ADDRESS_ALLOW`); empty means any address.  Each entry is an
    `http(s)://` prefix or a regular expression matching the whole address (see
    :class:`canary.metrics.addresses.AddressPolicy`).  A MetricTemplate `provider.address` or
    Canary `spec.metricsServer` outside it is never contacted (the metric is an ERROR);
    `prometheus_url` is always allowed."""

    cluster_name: str | None = None
    """Named in alerts as their ``Cluster`` field (Flagger's `-cluster-name`), so one channel can
    serve several clusters."""

    webhook_url_allow: tuple[str, ...] = ()
    """Allow-list of webhook URLs (`--webhook-url-allow`, or `$CANARY_WEBHOOK_URL_ALLOW`); empty
    means any URL. Same entry syntax as `metrics_address_allow`; a hook outside it is never
    called and answers as a failure (a gate holds, a test fails)."""

    selector_labels: tuple[str, ...] = SELECTOR_LABELS
    """Pod labels that may select a target, first match wins (Flagger's `-selector-labels`)."""

    include_label_prefixes: tuple[str, ...] = ()
    """Prefixes of the target's metadata labels copied onto `<target>-primary` (`*`: all), as
    Flagger's `-include-label-prefix`; by default only the selector label is set."""

    def __post_init__(self) -> None:
        """An unusable allow-list entry is a start-up error, not a per-tick one."""
        for entry in (*self.metrics_address_allow, *self.webhook_url_allow):
            error = allow_entry_error(entry)
            if error is not None:
                raise ValueError(error)
