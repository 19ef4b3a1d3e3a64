"""`canary operator`: run the kopf operator against the current kubeconfig or in-cluster config."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from canary.metrics.addresses import ALLOW_ENV_VAR, allow_entry_error, split_allow_env
from canary.operator.config import DEFAULT_PROMETHEUS_URL
from canary.operator.leader import DEFAULT_LEASE_NAME, ElectionTimings
from canary.operator.logs import LOG_FORMATS, LOG_LEVELS
from canary.operator.probes import DEFAULT_METRICS_PORT
from canary.routers.factory import DEFAULT_PROVIDER, SUPPORTED_PROVIDERS
from canary.targets.workload import SELECTOR_LABELS
from canary.webhooks.client import WEBHOOK_ALLOW_ENV_VAR


def _allow_entry(value: str) -> str:
    """argparse type of --metrics-address-allow: a usable prefix or regular expression."""
    error = allow_entry_error(value)
    if error is not None:
        raise argparse.ArgumentTypeError(error)
    return value


def _label_list(value: str) -> tuple[str, ...]:
    """argparse type of a comma-separated list (Flagger's flag syntax); empty entries dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "operator",
        help="run the canary operator",
        description="Run the canary operator (kopf) against the current kubeconfig or in-cluster config.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable; glob patterns as kopf accepts them)",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch Canaries in all namespaces (default)"
    )
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster, then $KUBECONFIG)")
    parser.add_argument(
        "--prometheus-url",
        default=DEFAULT_PROMETHEUS_URL,
        help="Prometheus used when a Canary and its MetricTemplates name none (default: %(default)s)",
    )
    parser.add_argument(
        "--metrics-address-allow",
        action="append",
        metavar="REGEX_OR_PREFIX",
        type=_allow_entry,
        default=None,
        help=(
            "query metrics providers (MetricTemplate provider.address, Canary spec.metricsServer) only at "
            "addresses matching this http(s):// prefix or regular expression (full match); repeatable; "
            f"default: ${ALLOW_ENV_VAR} (whitespace-separated), else any address. "
            "--prometheus-url is always allowed"
        ),
    )
    parser.add_argument(
        "--webhook-url-allow",
        action="append",
        metavar="REGEX_OR_PREFIX",
        type=_allow_entry,
        default=None,
        help=(
            "call Canary webhooks only at URLs matching this http(s):// prefix or regular expression "
            f"(full match); repeatable; default: ${WEBHOOK_ALLOW_ENV_VAR} (whitespace-separated), else any "
            "URL. A hook outside the list is not called and counts as closed (a gate holds, a test fails)"
        ),
    )
    parser.add_argument(
        "--cluster-name",
        metavar="NAME",
        help="name of this cluster in alerts (Flagger's -cluster-name); default: none",
    )
    parser.add_argument(
        "--selector-labels",
        type=_label_list,
        default=SELECTOR_LABELS,
        metavar="LABELS",
        help="comma-separated pod labels that may select a target, first match wins "
        "(Flagger's -selector-labels; default: %(default)s)",
    )
    parser.add_argument(
        "--include-label-prefix",
        type=_label_list,
        default=(),
        metavar="PREFIXES",
        help="comma-separated prefixes of the target's metadata labels copied onto its -primary "
        "('*' for all; Flagger's -include-label-prefix; default: none, only the selector label)",
    )
    parser.add_argument(
        "--provider",
        default=DEFAULT_PROVIDER,
        choices=SUPPORTED_PROVIDERS,
        help="router for Canaries without spec.provider, like Flagger's -mesh-provider (default: %(default)s)",
    )
    serving = parser.add_argument_group("metrics, probes and logs")
    serving.add_argument(
        "--metrics-port",
        metavar="PORT",
        type=_port,
        default=DEFAULT_METRICS_PORT,
        help="serve /metrics, /healthz and /readyz on this port; 0 picks a free one (default: %(default)s)",
    )
    serving.add_argument(
        "--metrics-bind-address",
        metavar="HOST",
        default="0.0.0.0",
        help="address the metrics port listens on (default: %(default)s)",
    )
    serving.add_argument("--log-format", choices=LOG_FORMATS, default="text", help="(default: %(default)s)")
    serving.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="(default: %(default)s)")
    serving.add_argument("-v", "--verbose", action="store_true", help="same as --log-level debug")
    election = parser.add_argument_group(
        "high availability",
        "Run several replicas with --leader-elect: the one holding a coordination.k8s.io Lease runs the "
        "controllers, the others stand by and take over within the lease duration if it dies.",
    )
    election.add_argument("--leader-elect", action="store_true", help="take part in leader election")
    election.add_argument(
        "--leader-election-namespace",
        metavar="NS",
        default=None,
        help="namespace of the Lease (default: $POD_NAMESPACE, else the in-cluster namespace, else default)",
    )
    election.add_argument(
        "--leader-election-id",
        metavar="NAME",
        default=DEFAULT_LEASE_NAME,
        help="Lease name (default: %(default)s)",
    )
    defaults = ElectionTimings()
    for flag, value, what in (
        (
            "lease-duration",
            defaults.lease_duration,
            "how long a standby waits before taking a Lease not renewed",
        ),
        (
            "renew-deadline",
            defaults.renew_deadline,
            "how long the leader keeps trying to renew before it stops",
        ),
        ("retry-period", defaults.retry_period, "time between tries to acquire or renew"),
    ):
        election.add_argument(
            f"--leader-election-{flag}",
            metavar="SECONDS",
            type=_seconds,
            default=value,
            help=f"{what} (default: %(default)ss)",
        )


def run(args: argparse.Namespace) -> int:
    from canary.operator.config import OperatorConfig
    from canary.operator.runner import LeaderElection, RunOptions, run_operator

    allow = tuple(args.metrics_address_allow or split_allow_env(os.environ.get(ALLOW_ENV_VAR)))
    try:
        config = OperatorConfig(
            kubeconfig=args.kubeconfig,
            prometheus_url=args.prometheus_url,
            default_provider=args.provider,
            metrics_address_allow=allow,
            cluster_name=args.cluster_name,
            selector_labels=args.selector_labels,
            include_label_prefixes=args.include_label_prefix,
            webhook_url_allow=tuple(
                args.webhook_url_allow or split_allow_env(os.environ.get(WEBHOOK_ALLOW_ENV_VAR))
            ),
        )
    except ValueError as exc:
        print(f"canary operator: {exc}", file=sys.stderr)
        return 2
    election = None
    if args.leader_elect:
        try:
            timings = ElectionTimings(
                args.leader_election_lease_duration,
                args.leader_election_renew_deadline,
                args.leader_election_retry_period,
            )
        except ValueError as exc:
            print(f"canary operator: {exc}", file=sys.stderr)
            return 2
        election = LeaderElection(
            namespace=args.leader_election_namespace or _own_namespace(),
            name=args.leader_election_id,
            timings=timings,
        )
    options = RunOptions(
        namespaces=tuple(args.namespace),
        metrics_host=args.metrics_bind_address,
        metrics_port=args.metrics_port,
        log_format=args.log_format,
        log_level="debug" if args.verbose else args.log_level,
        leader_election=election,
    )
    return run_operator(config, options)


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port")
    return port


def _seconds(value: str) -> float:
    seconds = float(value)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return seconds


#: Where a pod finds its own namespace (the ServiceAccount token volume).
IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _own_namespace() -> str:
    """The Lease's default namespace: the operator's own, as client-go's in-cluster config finds it."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open(IN_CLUSTER_NAMESPACE_FILE) as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"
