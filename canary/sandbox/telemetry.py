"""Istio-compatible request telemetry, so PromQL written for a real mesh works on the sandbox.

Series and labels follow Istio's standard metrics as reported by the destination sidecar:
``istio_requests_total`` and ``istio_request_duration_milliseconds`` (default buckets).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

#: Istio's default buckets for istio_request_duration_milliseconds.
ISTIO_BUCKETS = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
)
SOURCE_WORKLOAD = "loadgen"
SOURCE_NAMESPACE = "sandbox"


@dataclass(frozen=True)
class Destination:
    """Who answered: the Deployment (or ``unknown``) behind a Service."""

    workload: str
    namespace: str
    service: str

    def labels(self) -> str:
        fqdn = f"{self.service}.{self.namespace}.svc.cluster.local"
        return (
            f'reporter="destination",source_workload="{SOURCE_WORKLOAD}",source_workload_namespace="{SOURCE_NAMESPACE}",'
            f'destination_workload="{self.workload}",destination_workload_namespace="{self.namespace}",'
            f'destination_service="{fqdn}",destination_service_name="{self.service}",'
            f'destination_service_namespace="{self.namespace}",request_protocol="http"'
        )


def _order(item: tuple[tuple[Destination, int], object]) -> tuple[str, int]:
    return item[0][0].labels(), item[0][1]


def _le(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


class IstioTelemetry:
    """Counters and latency histograms per (destination, response code), like Istio's."""

    def __init__(self) -> None:
        self.requests: dict[tuple[Destination, int], int] = defaultdict(int)
        self.buckets: dict[tuple[Destination, int], list[int]] = {}
        self.sums: dict[tuple[Destination, int], float] = defaultdict(float)

    def observe(self, dest: Destination, code: int, millis: float) -> None:
        key = (dest, code)
        self.requests[key] += 1
        counts = self.buckets.setdefault(key, [0] * (len(ISTIO_BUCKETS) + 1))
        for i, bound in enumerate(ISTIO_BUCKETS):
            if millis <= bound:
                counts[i] += 1
        counts[-1] += 1
        self.sums[key] += millis

    def counts(self, namespace: str | None = None) -> dict[str, dict[int, int]]:
        """``workload -> code -> requests`` (for tests and the debug endpoint)."""
        out: dict[str, dict[int, int]] = defaultdict(dict)
        for (dest, code), n in self.requests.items():
            if namespace is None or dest.namespace == namespace:
                out[dest.workload][code] = out[dest.workload].get(code, 0) + n
        return dict(out)

    def render(self) -> str:
        out = [
            "# HELP istio_requests_total Requests (sandbox data plane).",
            "# TYPE istio_requests_total counter",
        ]
        for (dest, code), n in sorted(self.requests.items(), key=_order):
            out.append(f'istio_requests_total{{{dest.labels()},response_code="{code}"}} {n}')
        out += [
            "# HELP istio_request_duration_milliseconds Request duration (sandbox data plane).",
            "# TYPE istio_request_duration_milliseconds histogram",
        ]
        for (dest, code), counts in sorted(self.buckets.items(), key=_order):
            labels = f'{dest.labels()},response_code="{code}"'

            bounds = [*(_le(b) for b in ISTIO_BUCKETS), "+Inf"]
            out += [
                f'istio_request_duration_milliseconds_bucket{{{labels},le="{le}"}} {n}'
                for le, n in zip(bounds, counts, strict=True)
            ]
            out.append(f"istio_request_duration_milliseconds_sum{{{labels}}} {self.sums[(dest, code)]}")
            out.append(f"istio_request_duration_milliseconds_count{{{labels}}} {counts[-1]}")
        return "\n".join(out) + "\n"
