"""`canary operator`: run the kopf operator against the current kubeconfig or in-cluster config."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from canary.metrics.addresses import ALLOW_ENV_VAR, allow_entry_error, split_allow_env
from canary.operator.config import DEFAULT_PROMETHEUS_URL
from canary.routers.factory import DEFAULT_PROVIDER, SUPPORTED_PROVIDERS
from canary.webhooks.client import WEBHOOK_ALLOW_ENV_VAR


def _allow_entry(value: str) -> str:
    """argparse type of --metrics-address-allow: a usable prefix or regular expression."""
    error = allow_entry_error(value)
    if error is not None:
        raise argparse.ArgumentTypeError(error)
    return value


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
        "--provider",
        default=DEFAULT_PROVIDER,
        choices=SUPPORTED_PROVIDERS,
        help="router for Canaries without spec.provider, like Flagger's -mesh-provider (default: %(default)s)",
    )
    parser.add_argument(
        "--peering",
        metavar="NAME",
        help="coordinate with other replicas through this KopfPeering object (HA); default: standalone",
    )
    parser.add_argument(
        "--liveness", metavar="URL", help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def run(args: argparse.Namespace) -> int:
    from canary.operator.config import OperatorConfig
    from canary.operator.runner import run_operator

    allow = tuple(args.metrics_address_allow or split_allow_env(os.environ.get(ALLOW_ENV_VAR)))
    try:
        config = OperatorConfig(
            kubeconfig=args.kubeconfig,
            prometheus_url=args.prometheus_url,
            default_provider=args.provider,
            metrics_address_allow=allow,
            cluster_name=args.cluster_name,
            webhook_url_allow=tuple(
                args.webhook_url_allow or split_allow_env(os.environ.get(WEBHOOK_ALLOW_ENV_VAR))
            ),
        )
    except ValueError as exc:
        print(f"canary operator: {exc}", file=sys.stderr)
        return 2
    return run_operator(
        config,
        namespaces=tuple(args.namespace),
        peering_name=args.peering,
        liveness_endpoint=args.liveness,
        verbose=args.verbose,
    )
