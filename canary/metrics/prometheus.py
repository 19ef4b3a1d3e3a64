"""Prometheus metrics provider (Flagger's ``PrometheusProvider``) on ``prometheus_api_client``.

Retries are left to the caller (:class:`canary.metrics.base.MetricCheck` bounds them with
tenacity); the HTTP session itself never retries, so a stopped Prometheus fails fast.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from canary.metrics.base import MetricsQueryError, VectorSample

__all__ = ["ONLINE_QUERY", "PrometheusProvider", "parse_result"]

#: Flagger's liveness query.
ONLINE_QUERY = "vector(1)"

_WHITESPACE = re.compile(r"\s+")


def _to_float(raw: Any) -> float | None:
    value = float(raw)
    return None if math.isnan(value) else value


def parse_result(result: Any) -> list[VectorSample]:
    """Samples of an instant query's ``data.result`` (vector or scalar); NaN values dropped."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        value = _to_float(result[1])  # scalar: [timestamp, "value"]
        return [] if value is None else [VectorSample({}, value)]
    samples: list[VectorSample] = []
    for series in result or []:
        if "values" in series:
            raise MetricsQueryError("query returned a range vector; use an instant query", retryable=False)
        value = _to_float(series["value"][1])
        if value is not None:
            samples.append(VectorSample(dict(series.get("metric") or {}), value))
    return samples


class PrometheusProvider:
    """Implements :class:`canary.metrics.base.MetricsProvider` for Prometheus' HTTP API."""

    def __init__(
        self,
        address: str,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        insecure_skip_verify: bool = False,
        timeout: float = 5,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.address = address.rstrip("/")
        all_headers = dict(headers or {})
        if bearer_token:
            all_headers["Authorization"] = f"Bearer {bearer_token}"
        self._timeout = timeout
        self._client = PrometheusConnect(
            url=self.address,
            headers=all_headers or None,
            disable_ssl=insecure_skip_verify,
            retry=Retry(total=0, connect=0, read=0, redirect=0, status=0),
            auth=None if bearer_token else basic_auth,
            timeout=timeout,  # requests accepts float seconds
        )

    def __repr__(self) -> str:
        return f"PrometheusProvider({self.address!r})"

    def run_vector(self, query: str) -> list[VectorSample]:
        """All samples of an instant query (whitespace collapsed, as Flagger sends it)."""
        compact = _WHITESPACE.sub(" ", query).strip()
        try:
            result = self._client.custom_query(compact, timeout=self._timeout)
        except PrometheusApiClientException as exc:
            # 4xx is a bad query: asking again gives the same answer.
            retryable = not re.search(r"HTTP Status Code 4\d\d", str(exc))
            raise MetricsQueryError(f"prometheus {self.address}: {exc}", retryable=retryable) from exc
        except requests.RequestException as exc:
            raise MetricsQueryError(f"prometheus {self.address} unreachable: {exc}") from exc
        return parse_result(result)

    def run_query(self, query: str) -> float | None:
        """The query's value; None when it returned no (non-NaN) sample.

        Several series are an error (not retried): Flagger silently takes the last one, which
        depends on the order Prometheus happens to return them in.  Aggregate in the query
        (``sum(...)``) to get a single number.
        """
        samples = self.run_vector(query)
        if len(samples) > 1:
            raise MetricsQueryError(
                f"query returned {len(samples)} series; a check needs one (aggregate it, e.g. with sum())",
                retryable=False,
            )
        return samples[0].value if samples else None

    def is_online(self) -> bool:
        """True when Prometheus answers ``vector(1)`` with 1."""
        try:
            return self.run_query(ONLINE_QUERY) == 1.0
        except MetricsQueryError:
            return False
