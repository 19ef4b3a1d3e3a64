"""Start kopf with explicit settings and the canary handlers."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

import kopf

from canary.operator.config import OperatorConfig

FINALIZER = "canary.dev/finalizer"
ANNOTATION_PREFIX = "canary.dev"


def configure(settings: kopf.OperatorSettings, *, standalone: bool) -> None:
    """kopf settings made explicit: our finalizer and annotation names, prompt events, fast API retries."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # kopf's own log lines do not become Events; ours are explicit
    settings.peering.standalone = standalone
    settings.peering.mandatory = not standalone
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 90
    settings.networking.request_timeout = 30
    settings.background.cancellation_polling = 1
    settings.background.instant_exit_timeout = 0.1


_QUIET = frozenset({"Handler 'wake' succeeded.", "Handler 'wake-on-request' succeeded."})


class _QuietWakeups(logging.Filter):
    """kopf logs every event handler's success; the Deployment wake-up would flood the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in _QUIET


def run_operator(
    config: OperatorConfig,
    *,
    namespaces: Sequence[str] = (),
    peering_name: str | None = None,
    liveness_endpoint: str | None = None,
    verbose: bool = False,
) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit code."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("kopf.objects").addFilter(_QuietWakeups())
    if config.kubeconfig:
        # kopf's default login (via the kubernetes client) and our own clients both read this.
        os.environ["KUBECONFIG"] = config.kubeconfig
    from canary.operator.handlers import build_registry, operator_memo

    registry = build_registry()
    settings = kopf.OperatorSettings()
    configure(settings, standalone=peering_name is None)
    asyncio.run(
        kopf.operator(
            registry=registry,
            settings=settings,
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=peering_name is None,
            peering_name=peering_name,
            liveness_endpoint=liveness_endpoint,
            memo=operator_memo(config),
        )
    )
    return 0
