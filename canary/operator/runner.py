"""Start the operator process: probes and metrics first, then (once it leads) kopf with explicit settings.

Order of a replica's life: the HTTP endpoint starts (``/healthz``, ``/readyz``, ``/metrics``);
with leader election it stands by until it holds the Lease; then kopf runs the handlers until
a signal, or until the Lease is lost, which ends the process with exit code 1 so its pod
restarts as a candidate (client-go's ``OnStoppedLeading``). A clean stop releases the Lease.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
from collections.abc import Sequence

import kopf

from canary.operator.config import OperatorConfig
from canary.operator.leader import DEFAULT_LEASE_NAME, ElectionTimings, LeaderElector
from canary.operator.logs import configure_logging
from canary.operator.probes import DEFAULT_METRICS_PORT, ProbeServer, Readiness
from canary.operator.recorder import Recorder

FINALIZER = "canary.dev/finalizer"
ANNOTATION_PREFIX = "canary.dev"
#: Events say who reported them (``kubectl get events -o wide``'s SOURCE).
REPORTING_COMPONENT = "canary"
#: After a signal, or the Lease lost, kopf gets this long to stop its handlers.
STOP_TIMEOUT_SECONDS = 30.0
#: Exit code of a replica that lost the Lease: its pod restarts as a candidate.
EXIT_LOST_LEADERSHIP = 1

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LeaderElection:
    """Where the Lease is and who this replica is (``--leader-elect`` and its options)."""

    namespace: str
    name: str = DEFAULT_LEASE_NAME
    identity: str = ""
    timings: ElectionTimings = dataclasses.field(default_factory=ElectionTimings)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How the process runs, as opposed to what it does (:class:`OperatorConfig`)."""

    namespaces: Sequence[str] = ()
    metrics_host: str = "0.0.0.0"
    metrics_port: int = DEFAULT_METRICS_PORT
    log_format: str = "text"
    log_level: str = "info"
    leader_election: LeaderElection | None = None


def identity() -> str:
    """This replica's name in the Lease and in Events: the pod's name, else host and pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def configure(settings: kopf.OperatorSettings, *, instance: str, namespaces: Sequence[str] = ()) -> None:
    """kopf settings made explicit: our finalizer and annotation names, Event source, fast API retries.

    kopf's scanning (watching all CRDs and Namespaces to follow changes) is off unless a namespace
    is a glob pattern: the Canary CRDs ship with the operator, and least privilege means no
    cluster-wide read of CRDs or Namespaces it does not need.
    """
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # kopf's own log lines do not become Events; ours are explicit
    settings.posting.reporting_component = REPORTING_COMPONENT
    settings.posting.reporting_instance = instance
    settings.peering.standalone = True  # one active replica is the Lease's job, not kopf's peering
    settings.scanning.disabled = not any(set("*?[!") & set(ns) for ns in namespaces)
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 90
    settings.networking.request_timeout = 30
    settings.background.cancellation_polling = 1
    settings.background.instant_exit_timeout = 0.1


def run_operator(config: OperatorConfig, options: RunOptions = RunOptions()) -> int:
    """Run until SIGINT/SIGTERM (exit 0) or until the Lease is lost (exit 1)."""
    configure_logging(options.log_format, options.log_level)
    if config.kubeconfig:
        # kopf's default login (via the kubernetes client) and our own clients both read this.
        os.environ["KUBECONFIG"] = config.kubeconfig
    return asyncio.run(_serve(config, options))


async def _serve(config: OperatorConfig, options: RunOptions) -> int:
    from canary import __version__

    recorder = Recorder()
    recorder.info.labels(__version__, config.default_provider).set(1)
    probes = ProbeServer(recorder, options.metrics_host, options.metrics_port)
    port = await probes.start()
    logger.info("serving /metrics, /healthz and /readyz on %s:%d", options.metrics_host, port)
    stopping = asyncio.Event()
    _on_signals(stopping.set)
    try:
        elector = None
        if options.leader_election is not None:
            elector = _elector(config, options.leader_election)
            probes.readiness = Readiness.STANDBY
            if not await elector.acquire(stopping):
                return 0
        recorder.leader.set(1)
        return await _lead(config, options, recorder, probes, elector, stopping)
    finally:
        recorder.leader.set(0)
        probes.readiness = Readiness.STOPPING
        await probes.stop()


async def _lead(
    config: OperatorConfig,
    options: RunOptions,
    recorder: Recorder,
    probes: ProbeServer,
    elector: LeaderElector | None,
    stopping: asyncio.Event,
) -> int:
    """Run kopf until it stops or the Lease is lost; release the Lease on a clean stop."""
    from canary.operator.handlers import build_registry, operator_memo

    settings = kopf.OperatorSettings()
    configure(settings, instance=elector.identity if elector else identity(), namespaces=options.namespaces)
    ready = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=build_registry(),
            settings=settings,
            clusterwide=not options.namespaces,
            namespaces=options.namespaces,
            standalone=True,
            stop_flag=stopping,
            ready_flag=ready,
            memo=operator_memo(config, recorder),
        )
    )
    watching = asyncio.create_task(_mark_ready(ready, probes))
    holding = asyncio.create_task(elector.hold(stopping)) if elector else None
    try:
        await asyncio.wait(
            {t for t in (operator, holding) if t is not None}, return_when=asyncio.FIRST_COMPLETED
        )
        lost = holding is not None and holding.done() and not holding.result()
        stopping.set()  # kopf stops on it; a holding loop ends on it
        try:
            await asyncio.wait_for(asyncio.shield(operator), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.error("kopf did not stop within %.0fs; exiting anyway", STOP_TIMEOUT_SECONDS)
        if lost:
            return EXIT_LOST_LEADERSHIP
        if elector is not None:
            await asyncio.to_thread(elector.release)
        return 0
    finally:
        for task in (watching, holding, operator):
            if task is not None and not task.done():
                task.cancel()


async def _mark_ready(ready: asyncio.Event, probes: ProbeServer) -> None:
    """kopf raises its ready flag once its startup is done and its watchers are released."""
    await ready.wait()
    probes.readiness = Readiness.LEADING


def _elector(config: OperatorConfig, election: LeaderElection) -> LeaderElector:
    from canary.kube import load_clients

    return LeaderElector(
        load_clients(config.kubeconfig),
        election.namespace,
        election.name,
        election.identity or identity(),
        election.timings,
    )


def _on_signals(stop: object) -> None:
    """SIGINT/SIGTERM stop a standby replica; once kopf runs, its own handlers take over (same effect)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)  # type: ignore[arg-type]


__all__ = ["LeaderElection", "RunOptions", "configure", "identity", "run_operator"]
